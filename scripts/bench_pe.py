"""1-D PE benchmark: cycles and MAC utilization of fixed job shapes on the generated RTL.

Runs each shape under Verilator with no idle or stall cycles on the streams (the PE is the
only limit), and reports per shape the MACs, the cycles from ``start`` to ``done``, the
utilization MACs / cycles, and the simulator's speed. Writes ``pe.md`` and ``pe.json``.

Usage: python scripts/bench_pe.py [--preset NAME] [--sim verilator|icarus] [--out DIR]
"""

import argparse
import json
import time
from pathlib import Path

from gen.config import preset
from tb.run import run_bench


def shapes_for(cfg):
    """Row shapes like those of AlexNet-style layers, cut to fit ``cfg``'s scratchpads:
    (S, U) pairs with the most channels ``q`` the ifmap spad holds and the most filters
    ``p`` the filter and psum spads hold."""
    out = []
    for s, u in ((3, 1), (5, 1), (5, 4), (1, 1), (1, 2)):
        s, u = min(s, cfg.max_s), min(u, cfg.max_stride)
        q = max(1, cfg.ifmap_spad // max(s, u))
        p = max(1, min(cfg.psum_spad, cfg.filter_spad // (q * s)))
        out.append({"s": s, "u": u, "f": min(16, cfg.max_f), "p": p, "q": q, "psum_en": True})
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--sim", default="verilator", choices=("verilator", "icarus"))
    ap.add_argument("--out", type=Path, default=Path("build/bench"))
    ap.add_argument("--repeat", type=int, default=20, help="jobs per shape (default 20)")
    args = ap.parse_args()

    cfg = preset(args.preset)
    rows = []
    (args.out / "sim").mkdir(parents=True, exist_ok=True)
    for shape in shapes_for(cfg):
        t0 = time.monotonic()
        report = run_bench(cfg, bench="pe_bench", top="pe", sim=args.sim,
                           log_file=args.out / "sim" / f"{args.sim}.log",
                           build_dir=args.out / "sim" / args.sim,
                           env={"ROWLOOM_JOBS": args.repeat, "ROWLOOM_PRESSURE": 0,
                                "ROWLOOM_SHAPES": json.dumps([shape])})
        wall = time.monotonic() - t0
        macs = sum(report["job_macs"])
        cycles = sum(report["job_cycles"])
        rows.append({**shape, "jobs": report["jobs"], "macs_per_job": report["job_macs"][0],
                     "cycles_per_job": cycles / report["jobs"], "utilization": macs / cycles,
                     "outputs_checked": report["outputs_checked"], "wall_s": wall})
        print(f"S={shape['s']} U={shape['u']} F={shape['f']} p={shape['p']} q={shape['q']}: "
              f"{macs} MACs in {cycles} cycles, utilization {macs / cycles:.1%}", flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    lines = [f"# 1-D PE on `{args.preset}` under {args.sim}, no stream stalls", "",
             "| S | U | F | p | q | MACs/job | cycles/job | utilization | outputs checked |",
             "| - | - | - | - | - | - | - | - | - |"]
    for r in rows:
        lines.append(f"| {r['s']} | {r['u']} | {r['f']} | {r['p']} | {r['q']} | "
                     f"{r['macs_per_job']} | "
                     f"{r['cycles_per_job']:.1f} | {r['utilization']:.1%} | "
                     f"{r['outputs_checked']} |")
    lines += ["", "Utilization is MACs / cycles from start to done. The act stream carries one "
              "value per cycle,", "so a job needing more than one new input per MAC "
              "(U > p * S) is input-bound at p * S / U."]
    text = "\n".join(lines) + "\n"
    (args.out / "pe.md").write_text(text)
    (args.out / "pe.json").write_text(json.dumps(rows, indent=2) + "\n")
    print()
    print(text)


if __name__ == "__main__":
    main()
