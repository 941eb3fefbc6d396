"""EIE load efficiency against activation-queue depth (EIE, ISCA 2016, Figure 11).

A random ``--rows x --cols`` layer at ``--density`` (weights pruned by magnitude, 4-bit
codebook by k-means, 4-bit relative indices) is compressed for eie-64's 64 PEs; for each
queue depth the engine is generated with eie-64's widths and the memories this layer
needs, and ``--vectors`` random inputs (``--act-density`` of them non-zero, as after ReLU)
run through it under Verilator with no idle or stall cycles on the streams. Every output
is compared bit for bit with the golden model. Per depth it reports cycles, starvation
bubbles, load efficiency (1 - bubbles / PE-cycles of compute), entries per PE-cycle and
broadcast stalls. Writes ``eie.md``, ``eie.json`` and ``eie.png`` into ``--out``.

Goal (issue 5): at least 95% load efficiency at depth 8; EIE reports about half the
cycles idle at depth 1 and diminishing returns past 8.

Usage: python scripts/bench_eie.py [--rows R] [--cols C] [--density D] [--depths 1 2 ...]
                                   [--out DIR]
"""

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from gen.compress import compress
from gen.eie_config import eie_preset
from tb.accel_run import echo_progress
from tb.eie_run import run_model


def design_for(layer, depth, pes):
    """eie-64's widths with memories sized for ``layer`` (so generation and simulation
    stay proportional to the layer) and the given queue depth."""
    base = eie_preset("eie-64")
    need = max(int(np.asarray(c).size) for c in layer.codes)
    return dataclasses.replace(base, name=f"eie-bench-q{depth}", pes=pes, queue_depth=depth,
                               max_rows=layer.rows, max_cols=layer.cols, max_layers=1,
                               spmat_depth=max(need, 1), ptr_depth=layer.cols + 1)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=4096)
    ap.add_argument("--cols", type=int, default=4096)
    ap.add_argument("--density", type=float, default=0.1, help="weight density (0.1)")
    ap.add_argument("--act-density", type=float, default=0.5,
                    help="share of non-zero input activations (0.5)")
    ap.add_argument("--pes", type=int, default=64)
    ap.add_argument("--depths", type=int, nargs="+", default=[1, 2, 4, 8, 16, 32])
    ap.add_argument("--vectors", type=int, default=1)
    ap.add_argument("--seed", type=int, default=2016)
    ap.add_argument("--out", type=Path, default=Path("build/bench"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"seed={args.seed}")
    rng = np.random.default_rng(args.seed)
    w = rng.standard_normal((args.rows, args.cols))
    t0 = time.monotonic()
    layer = compress(w, pes=args.pes, density=args.density)
    print(f"layer {args.rows} x {args.cols} at {layer.density:.1%} density: {layer.entries} "
          f"entries ({layer.padding} padding) over {args.pes} PEs, compressed in "
          f"{time.monotonic() - t0:.1f} s", flush=True)
    acts = rng.integers(-2000, 2000, size=(args.vectors, args.cols))
    acts[rng.random(acts.shape) >= args.act_density] = 0

    rows = []
    for depth in args.depths:
        cfg = design_for(layer, depth, args.pes)
        build = args.out / "sim" / cfg.name
        log = args.out / f"sim-{cfg.name}.log"
        print(f"depth {depth}: generating, building and simulating under Verilator "
              f"(log: {log}) ...", flush=True)
        t0 = time.monotonic()
        with echo_progress(log, prefix=f"  depth {depth}: "):
            res = run_model(cfg, [layer], acts, relu=[False], shift=[None], sim="verilator",
                            build_dir=build, seed=args.seed, pressure=0.0, log_file=log)
        st = res.stats()
        st.update(depth=depth, bit_exact=bool(res.mismatches.size == 0),
                  wall_s=round(time.monotonic() - t0, 1))
        rows.append(st)
        print(f"  {st['cycles']} cycles, load efficiency {st['load_efficiency']:.1%}, "
              f"{st['pe_utilization']:.1%} of PE-cycles on an entry, "
              f"{st['broadcast_stalls']} broadcast stalls, bit-exact: {st['bit_exact']}, "
              f"{st['wall_s']} s", flush=True)

    info = {"rows": args.rows, "cols": args.cols, "weight_density": layer.density,
            "act_density": args.act_density, "pes": args.pes, "entries": layer.entries,
            "padding": layer.padding, "vectors": args.vectors, "seed": args.seed}
    (args.out / "eie.json").write_text(json.dumps({"layer": info, "depths": rows}, indent=2)
                                       + "\n")
    lines = ["# EIE load efficiency against queue depth\n",
             f"Layer {args.rows} x {args.cols}, weights {layer.density:.1%} dense "
             f"({layer.entries} entries incl. {layer.padding} padding), inputs "
             f"{args.act_density:.0%} non-zero, {args.pes} PEs, {args.vectors} vector(s), "
             f"Verilator, seed {args.seed}. Load efficiency = 1 - starvation bubbles / "
             f"(compute cycles x PEs).\n",
             "| queue depth | cycles | compute cycles | load efficiency | entries per "
             "PE-cycle | broadcast stalls | bit-exact |",
             "| ---: | ---: | ---: | ---: | ---: | ---: | :---: |"]
    for r in rows:
        lines.append(f"| {r['depth']} | {r['cycles']} | {r['compute_cycles']} | "
                     f"{r['load_efficiency']:.1%} | {r['pe_utilization']:.1%} | "
                     f"{r['broadcast_stalls']} | {'yes' if r['bit_exact'] else 'NO'} |")
    (args.out / "eie.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    try:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot")
    else:
        fig, ax = plt.subplots(figsize=(6, 3.5))
        depths = [r["depth"] for r in rows]
        ax.plot(depths, [100 * r["load_efficiency"] for r in rows], "o-",
                label="load efficiency")
        ax.plot(depths, [100 * r["pe_utilization"] for r in rows], "s--",
                label="entries per PE-cycle")
        ax.axhline(95, color="grey", lw=0.8, ls=":", label="goal at depth 8 (95%)")
        ax.set_xscale("log", base=2)
        ax.set_xticks(depths, [str(d) for d in depths])
        ax.set_xlabel("activation queue depth")
        ax.set_ylabel("%")
        ax.set_ylim(0, 100)
        ax.set_title(f"EIE, {args.pes} PEs, {args.rows} x {args.cols} at "
                     f"{layer.density:.0%}")
        ax.legend(loc="lower right", fontsize=8)
        fig.tight_layout()
        fig.savefig(args.out / "eie.png", dpi=120)
        print(f"wrote {args.out / 'eie.png'}")
    return 0 if all(r["bit_exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
