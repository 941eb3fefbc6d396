"""Synthesize every preset for every target and write the area table (``make synth``).

For each preset and target it runs ``gen.area.synthesize`` and writes
``<out>/<preset>-<target>.json``, then ``<out>/synth.md`` with one row per design point:
resources in total and per PE, and whether the design fits the target's default device.
``--update-baselines`` stores the totals in ``tests/baselines/synth.json``, which the tests
under the ``synth`` marker compare new results with.

Usage: python scripts/synth_all.py [--preset NAME ...] [--target T ...] [--out DIR]
                                   [--update-baselines]
"""

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from gen.area import TARGETS, device_for, fit, synthesize  # noqa: E402
from gen.config import PRESETS  # noqa: E402

BASELINES = Path(__file__).resolve().parent.parent / "tests" / "baselines" / "synth.json"


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", nargs="+", default=list(PRESETS), choices=list(PRESETS))
    ap.add_argument("--target", nargs="+", default=list(TARGETS), choices=TARGETS)
    ap.add_argument("--out", type=Path, default=Path("build/synth"))
    ap.add_argument("--update-baselines", action="store_true",
                    help=f"store the totals in {BASELINES.relative_to(BASELINES.parents[2])}")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows, base = [], {}
    if BASELINES.exists():
        base = json.loads(BASELINES.read_text())
    for name in args.preset:
        for target in args.target:
            t0 = time.monotonic()
            print(f"== {name} on {target}", flush=True)
            report = synthesize(PRESETS[name], target, work_dir=args.out / f"{name}-{target}",
                                log=lambda msg: print("  " + msg, flush=True))
            dev = device_for(target)
            over = fit(report, dev) if dev else {}
            report["device"] = dev.name if dev else None
            report["fits"] = None if dev is None else not over
            (args.out / f"{name}-{target}.json").write_text(json.dumps(report, indent=1))
            total = ", ".join(f"{k} {v:,}" for k, v in report["total"].items())
            per_pe = ", ".join(f"{k} {v:g}" for k, v in report["per_pe"].items())
            fits = ("-" if dev is None else "yes" if not over else
                    "no: " + ", ".join(f"{k} {u:,}/{a:,}" for k, (u, a) in over.items()))
            extra = (f"; {report['gate_equivalents']:,} GE, {report['memory_bits']:,} "
                     "memory bits" if target == "generic" else "")
            rows.append(f"| {name} | {target} | {total}{extra} | {per_pe} | "
                        f"{report['device'] or '-'} | {fits} | {report['synth_s']} |")
            base[f"{name}/{target}"] = report["total"]
            print(f"  {total}{extra} ({time.monotonic() - t0:.0f} s)", flush=True)
    md = ["| preset | target | total | per PE | device | fits | yosys s |",
          "| --- | --- | --- | --- | --- | --- | --- |", *rows]
    (args.out / "synth.md").write_text("\n".join(md) + "\n")
    print("\n".join(md))
    if args.update_baselines:
        BASELINES.parent.mkdir(parents=True, exist_ok=True)
        BASELINES.write_text(json.dumps(dict(sorted(base.items())), indent=1) + "\n")
        print(f"wrote {BASELINES}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
