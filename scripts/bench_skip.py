"""Zero skipping: speedup against input density on AlexNet-shaped layers (issue 4).

For a preset, the same layers and inputs run on two generated designs, the preset as it
is and the preset with ``zero_skip``, each in one Verilator simulation with no idle or
stall cycles on the streams; every output of both is compared bit for bit with the golden
model. Layers are AlexNet CONV1-5 with their shapes, strides, padding and channels, and
their filter counts divided by ``--scale`` (to keep the simulations short). Dividing the
filters leaves every filter fold as it is in the full layer (the full layer runs
``--scale`` times as many of them); dividing the channels would shorten each fold's
passes and overstate the per-fold costs that do not shrink with density (weight fills,
psum readout).
Inputs:

- uniform: each activation non-zero with probability d (independently), for every d in
  ``--densities``;
- ReLU-like: a smooth random field per channel, shifted so that the zero fraction Eyeriss
  measured for the layer's input (CONV2-5: 39, 73, 79, 78%) falls below zero, then ReLU
  and rounding: zeros come in blobs, as after a real ReLU.

Per case: dense and zero-skip cycles, speedup, the ideal 1/d (d measured on the input
tensor), speedup x d (1.0 is ideal), values seen and zeros skipped by the PEs' encoders,
the PE-cycles PEs waited for others, and how busy the psum-lane ports in use were (the
share of cycles each wrote, or read, a partial sum, on average over the columns' banks
that hold chains). Then the area cost: both designs synthesized by
yosys for ``--area-target`` (cells by block, per PE and in total; ``--area-preset`` picks a
smaller preset when the benchmark's is slow to synthesize). Writes ``skip.md``,
``skip.json`` and ``skip.png`` into ``--out``.

Goals (issue 4): speedup >= 0.9/d at d = 0.75, 0.5, 0.25; >= 1.37x at the Eyeriss-measured
sparsities.

Usage: python scripts/bench_skip.py [--preset NAME] [--scale K] [--layers CONV2 ...]
                                    [--densities 1 0.5 ...] [--out DIR]
"""

import argparse
import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from gen.config import preset
from gen.mapper import ALEXNET, Layer
from tb.accel_run import echo_progress, run_layers

# Eyeriss (Chen, Krishna, Emer and Sze, JSSC 2017): zero fraction of the input
# activations of AlexNet CONV2-5 after ReLU.
EYERISS_ZEROS = {"CONV2": 0.39, "CONV3": 0.73, "CONV4": 0.79, "CONV5": 0.78}
DENSITIES = (1.0, 0.75, 0.5, 0.25, 0.1, 0.01, 0.0)


def scaled(layer, k):
    return dataclasses.replace(layer, m=max(1, layer.m // k))


def uniform_input(layer, cfg, density, rng):
    lo, hi = cfg.act_range
    x = rng.integers(1, hi + 1, size=(layer.n, layer.c, layer.h, layer.w))
    x *= rng.choice([-1, 1], size=x.shape) if lo < 0 else 1
    x[rng.random(x.shape) >= density] = 0
    return x


def relu_like_input(layer, cfg, zeros, rng):
    """Smooth field (sum of shifted noise over a 5 x 5 neighbourhood) per channel, its
    ``zeros`` quantile moved to 0, ReLU, scaled into the activation range."""
    n, c, h, w = layer.n, layer.c, layer.h, layer.w
    noise = rng.standard_normal((n, c, h + 4, w + 4))
    field = sum(noise[:, :, i:i + h, j:j + w] for i in range(5) for j in range(5))
    field -= np.quantile(field, zeros)
    hi = cfg.act_range[1]
    x = np.ceil(np.maximum(field, 0) / field.max() * hi).astype(np.int64)
    return np.clip(x, 0, hi)


def cases_for(layers, cfg, densities, rng):
    cases = []
    for name in layers:
        layer = layers[name]
        lo, hi = cfg.wgt_range
        w = rng.integers(lo, hi + 1, size=(layer.m, layer.c, layer.r, layer.s))
        bias = rng.integers(-1000, 1000, size=layer.m)
        for d in densities:
            cases.append({"layer": layer, "x": uniform_input(layer, cfg, d, rng), "w": w,
                          "bias": bias, "input": "uniform", "lname": name})
        if name in EYERISS_ZEROS:
            cases.append({"layer": layer, "w": w, "bias": bias, "input": "ReLU-like",
                          "lname": name,
                          "x": relu_like_input(layer, cfg, EYERISS_ZEROS[name], rng)})
    return cases


def run(cfg, cases, out, seed):
    build = out / "sim" / cfg.name
    log = out / f"sim-{cfg.name}.log"
    print(f"{cfg.name}: {len(cases)} cases; generating, building and simulating under "
          f"Verilator (log: {log}) ...", flush=True)
    t0 = time.monotonic()
    sim_cases = [{k: c[k] for k in ("layer", "x", "w", "bias")} | {"relu": True, "shift": 7}
                 for c in cases]
    with echo_progress(log, prefix=f"  {cfg.name}: "):
        results = run_layers(cfg, sim_cases, sim="verilator", build_dir=build, seed=seed,
                             pressure=0.0, log_file=log)
    return results, time.monotonic() - t0


def lane_ports(mapping, cfg):
    """Write (or read) ports per column that the mapping's chains use."""
    return min(cfg.lane_banks, mapping.chains_per_column) if mapping.lane_spread else 1


def table(rows):
    lines = ["| layer (filters / scale) | input | density d | dense cycles | skip cycles | "
             "speedup | ideal 1/d | speedup x d | values seen | zeros skipped | "
             "PE waits / PE-cycles | psum-lane ports busy | bit-exact |",
             "|" + " --- |" * 13]
    for r in rows:
        ideal = f"{1 / r['density']:.2f}" if r["density"] else "inf"
        lines.append(
            f"| {r['layer']} | {r['input']} | {r['density']:.3f} | {r['dense_cycles']} | "
            f"{r['skip_cycles']} | {r['speedup']:.2f}x | {ideal} | "
            f"{r['speedup'] * r['density']:.2f} | {r['seen']} | {r['skipped']} | "
            f"{r['wait_fraction']:.1%} | {r['lane_port']:.0%} | "
            f"{'yes' if r['bit_exact'] else 'NO'} |")
    return "\n".join(lines) + "\n"


def area_cost(cfg, target, out):
    """Both designs of ``cfg`` (as it is and with ``zero_skip``) synthesized for
    ``target``: their totals, blocks and per-PE resources."""
    from gen.area import synthesize
    result = {"preset": cfg.name, "target": target}
    for key, design in (("dense", cfg),
                        ("skip", dataclasses.replace(cfg, zero_skip=True,
                                                     name=f"{cfg.name}-zs"))):
        print(f"area of {design.name} on {target} ...", flush=True)
        rep = synthesize(design, target, work_dir=out / "area" / f"{design.name}-{target}",
                         log=lambda *a: None)
        result[key] = {k: rep[k] for k in ("total", "blocks", "per_pe", "synth_s")}
    return result


def area_table(area):
    dense, skip = area["dense"], area["skip"]
    kinds = [k for k in ("lut", "carry", "ff", "lutram", "mux", "dsp", "bram", "gate")
             if k in dense["total"] or k in skip["total"]]
    lines = [f"Area, {area['preset']} on {area['target']} (yosys cells):", "",
             "| cells | " + " | ".join(kinds) + " |", "|" + " --- |" * (len(kinds) + 1)]
    for label, getter in (("total, dense", lambda r: r["total"]),
                          ("total, zero skip", lambda r: r["total"]),
                          ("array block (buses, serializers or encoders + queues), dense",
                           lambda r: r["blocks"]["array"]),
                          ("array block, zero skip", lambda r: r["blocks"]["array"]),
                          ("per PE module, dense", lambda r: r["per_pe"]),
                          ("per PE module, zero skip", lambda r: r["per_pe"])):
        rep = skip if "skip" in label else dense
        lines.append(f"| {label} | " + " | ".join(
            f"{getter(rep).get(k, 0):,}" for k in kinds) + " |")
    cost = [f"{(skip['total'].get(k, 0) / dense['total'][k] - 1):+.1%}"
            if dense["total"].get(k) else "-" for k in kinds]
    lines.append("| zero-skip cost (total) | " + " | ".join(cost) + " |")
    return "\n".join(lines) + "\n"


def plot(rows, path, title):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 4.5))
    ds = np.linspace(0.08, 1.0, 100)
    ax.plot(ds, 1 / ds, "k-", lw=1, label="ideal 1/d")
    ax.plot(ds, 0.9 / ds, "k--", lw=0.8, label="goal 0.9/d")
    for lname in dict.fromkeys(r["lname"] for r in rows):
        pts = sorted((r["density"], r["speedup"]) for r in rows
                     if r["lname"] == lname and r["input"] == "uniform" and r["density"] >= 0.08)
        line, = ax.plot(*zip(*pts, strict=True), "o-", ms=4, label=f"{lname} uniform")
        relu = [(r["density"], r["speedup"]) for r in rows
                if r["lname"] == lname and r["input"] == "ReLU-like"]
        if relu:
            ax.plot(*zip(*relu, strict=True), "*", ms=12, color=line.get_color(),
                    label=f"{lname} ReLU-like")
    ax.set_xlabel("input density d (non-zero fraction)")
    ax.set_ylabel("speedup (dense cycles / zero-skip cycles)")
    ax.set_ylim(0, 13)
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="eyeriss-int8")
    ap.add_argument("--scale", type=int, default=8,
                    help="divide AlexNet's filter counts by this (default 8)")
    ap.add_argument("--layers", nargs="+", default=["CONV2", "CONV3", "CONV4", "CONV5"],
                    choices=list(ALEXNET))
    ap.add_argument("--densities", type=float, nargs="+", default=list(DENSITIES))
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="change a config field of both designs (repeatable), e.g. "
                         "psum_spad=48")
    ap.add_argument("--area-target", default="ecp5",
                    choices=("generic", "ice40", "ecp5", "xilinx", "none"),
                    help="yosys target of the area comparison (default ecp5; none skips it)")
    ap.add_argument("--area-preset", help="preset of the area comparison (default --preset)")
    ap.add_argument("--seed", type=int, default=4)
    ap.add_argument("--out", type=Path, default=Path("build/bench"))
    args = ap.parse_args()
    if args.scale < 1 or not all(0 <= d <= 1 for d in args.densities):
        ap.error("--scale must be at least 1 and densities in 0..1")
    args.out.mkdir(parents=True, exist_ok=True)
    print(f"seed={args.seed}")
    base = preset(args.preset)
    for item in args.set:
        field, _, value = item.partition("=")
        try:
            base = dataclasses.replace(base, **{field: json.loads(value)})
        except (TypeError, ValueError) as exc:
            ap.error(f"--set {item}: {exc}")
    skip = dataclasses.replace(base, zero_skip=True, name=f"{base.name}-zs")
    layers = {name: scaled(ALEXNET[name], args.scale) for name in args.layers}
    cases = cases_for(layers, base, args.densities, np.random.default_rng(args.seed))
    dense_res, dense_wall = run(base, cases, args.out, args.seed)
    skip_res, skip_wall = run(skip, cases, args.out, args.seed)
    rows = []
    for case, dr, sr in zip(cases, dense_res, skip_res, strict=True):
        layer: Layer = case["layer"]
        x = case["x"]
        zs = sr.stats()["zero_skip"]
        busy = sr.counters["cycles"] * skip.pes
        rows.append({
            "layer": f"{case['lname']} ({layer.c}x{layer.h}x{layer.w} -> {layer.m})",
            "lname": case["lname"], "input": case["input"],
            "density": float(np.count_nonzero(x) / x.size),
            "dense_cycles": dr.counters["cycles"], "skip_cycles": sr.counters["cycles"],
            "speedup": dr.counters["cycles"] / sr.counters["cycles"],
            "seen": zs["values_seen"], "skipped": zs["zeros_skipped"],
            "waits": zs["wait_pe_cycles"], "wait_fraction": zs["wait_pe_cycles"] / busy,
            # Psum-lane ports in use: one write and one read port per bank, the chains of a
            # column spread over min(banks, chains) banks when they fit (else packed).
            "lane_port": max(sr.counters["lane_reads"], sr.counters["lane_writes"])
            / (sr.counters["cycles"] * skip.cols * lane_ports(sr.program.mapping, skip)),
            # The skip design's mapper may pick another p (gen.mapper: weights of the next
            # pass beside the current ones).
            "mapping": {"dense": dr.stats()["mapping"], "skip": sr.stats()["mapping"]},
            "bit_exact": bool(dr.mismatches.size == 0 and sr.mismatches.size == 0),
        })
    text = table(rows)
    area = None
    if args.area_target != "none":
        area = area_cost(preset(args.area_preset) if args.area_preset else base,
                         args.area_target, args.out)
        text += "\n" + area_table(area)
    print(text)
    info = {"preset": base.name, "scale": args.scale, "seed": args.seed,
            "wall_s": {"dense": round(dense_wall, 1), "skip": round(skip_wall, 1)}}
    (args.out / "skip.json").write_text(json.dumps({"info": info, "rows": rows,
                                                    "area": area}, indent=2) + "\n")
    (args.out / "skip.md").write_text(
        f"Zero skipping on {base.name} (filters / {args.scale}), seed {args.seed}\n\n" + text)
    plot(rows, args.out / "skip.png",
         f"Zero skipping on {base.name}: AlexNet-shaped layers (filters / {args.scale})")
    print(f"wrote {args.out / 'skip.md'}, skip.json, skip.png")
    if not all(r["bit_exact"] for r in rows):
        print("MISMATCH: some outputs differ from the golden model", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
