"""AlexNet CONV1-5 on the generated row-stationary accelerator, beside Eyeriss's Table V.

For each preset, the five layers (batch 1, random data in the configured widths) run one
after another in one Verilator simulation of the whole accelerator with no idle or stall
cycles on the streams; every output is compared bit for bit with the golden model. Per
layer it reports the mapping, the parts the host split it into, busy cycles, MAC
utilization against all PEs (Eyeriss Table V: 76/68/84/83/89% of 168 PEs), the mapping's
own bound, active PEs, accesses per level and simulation wall time; then the simulator's
speed. Writes ``alexnet.md``, ``alexnet.json`` and ``alexnet.png`` into ``--out``.

Usage: python scripts/bench_alexnet.py [--preset NAME ...] [--layers CONV1 ...] [--out DIR]
       python scripts/bench_alexnet.py --merge A/alexnet.json B/alexnet.json --out DIR
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from gen.config import preset
from gen.mapper import ALEXNET, EYERISS_ACTIVE_PES
from tb.accel_run import echo_progress, random_layer_data, run_layers

# Eyeriss JSSC 2017, Table V: MAC utilization of the 168 PEs per AlexNet layer (batch 4).
EYERISS_UTILIZATION = {"CONV1": 0.76, "CONV2": 0.68, "CONV3": 0.84, "CONV4": 0.83,
                       "CONV5": 0.89}


def run_preset(name, layers, out, seed):
    cfg = preset(name)
    rng = np.random.default_rng(seed)
    cases = []
    for lname in layers:
        layer = ALEXNET[lname]
        x, w, bias = random_layer_data(layer, cfg, rng, zeros=0.0)
        cases.append({"layer": layer, "x": x, "w": w, "bias": bias})
    build = out / "sim" / name
    log = out / f"sim-{name}.log"
    total = sum(c["layer"].macs for c in cases)
    print(f"{name}: {', '.join(layers)} ({total / 1e6:.0f}M MACs); generating, building and "
          f"simulating under Verilator (log: {log}) ...", flush=True)
    t0 = time.monotonic()
    with echo_progress(log, prefix=f"  {name}: "):
        results = run_layers(cfg, cases, sim="verilator", build_dir=build, seed=seed,
                             pressure=0.0, log_file=log)
    wall = time.monotonic() - t0
    rows = []
    for lname, res in zip(layers, results, strict=True):
        st = res.stats()
        st["shape"] = st.pop("layer")
        rows.append({"preset": name, "layer": lname, **st,
                     "bit_exact": bool(res.mismatches.size == 0),
                     "eyeriss_utilization": EYERISS_UTILIZATION[lname],
                     "eyeriss_active_pes": EYERISS_ACTIVE_PES[lname]})
    cycles = sum(r["cycles"] for r in rows)
    sim_s = sum(r["sim_wall_s"] for r in rows)
    speed = {"preset": name, "total_wall_s": round(wall, 1), "sim_wall_s": round(sim_s, 1),
             "busy_cycles": cycles, "cycles_per_s": round(cycles / sim_s) if sim_s else 0}
    return rows, speed


def table(rows, speeds):
    lines = ["| preset | layer | parts | mapping | cycles | utilization | bound | Eyeriss "
             "Table V | active PEs (Eyeriss) | GLB reads | psum lane r/w | inter-PE psums | "
             "words in/out | sim s | bit-exact |",
             "|" + " --- |" * 15]
    for r in rows:
        a = r["accesses"]
        lines.append(
            f"| {r['preset']} | {r['layer']} | {r['parts']} | {r['mapping']} | {r['cycles']} "
            f"| {r['mac_utilization']:.1%} | {r['est_utilization']:.1%} | "
            f"{r['eyeriss_utilization']:.0%} | {r['active_pes']} ({r['eyeriss_active_pes']}) "
            f"| {a['glb_reads']} | {a['psum_lane_reads']}/{a['psum_lane_writes']} | "
            f"{a['inter_pe_psum']} | {a['words_in']}/{a['words_out']} | "
            f"{r['sim_wall_s']:.0f} | {'yes' if r['bit_exact'] else 'NO'} |")
    lines += ["", "| preset | busy cycles | simulation s | cycles/s | total s (incl. build) |",
              "| --- | --- | --- | --- | --- |"]
    for s in speeds:
        lines.append(f"| {s['preset']} | {s['busy_cycles']} | {s['sim_wall_s']} | "
                     f"{s['cycles_per_s']} | {s['total_wall_s']} |")
    return "\n".join(lines) + "\n"


def plot(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = list(dict.fromkeys(r["layer"] for r in rows))
    presets = list(dict.fromkeys(r["preset"] for r in rows))
    width = 0.8 / (len(presets) + 2)
    fig, ax = plt.subplots(figsize=(10, 4))
    xs = np.arange(len(layers))
    ax.bar(xs, [EYERISS_UTILIZATION[name] * 100 for name in layers], width,
           label="Eyeriss Table V")
    for i, p in enumerate(presets):
        by = {r["layer"]: r for r in rows if r["preset"] == p}
        ax.bar(xs + (i + 1) * width, [by[name]["mac_utilization"] * 100 for name in layers],
               width, label=f"rowloom {p} (RTL)")
    first = {r["layer"]: r for r in rows if r["preset"] == presets[0]}
    ax.bar(xs + (len(presets) + 1) * width,
           [first[name]["est_utilization"] * 100 for name in layers], width,
           label="mapping bound", color="lightgray")
    ax.axhline(90, color="k", lw=0.8, ls="--", label="goal 90%")
    ax.set_xticks(xs + width * (len(presets) + 1) / 2, layers)
    ax.set_ylabel("MAC utilization of all PEs (%)")
    ax.set_ylim(0, 100)
    ax.set_title("AlexNet CONV layers, batch 1, 12 x 14 PEs")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1))
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", nargs="+", default=["eyeriss", "eyeriss-int8"])
    ap.add_argument("--layers", nargs="+", default=list(ALEXNET), choices=list(ALEXNET))
    ap.add_argument("--out", type=Path, default=Path("build/bench"))
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--merge", type=Path, nargs="+", metavar="JSON",
                    help="no simulation: merge earlier runs' alexnet.json files into one "
                         "table and plot in --out")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    rows, speeds = [], []
    for path in args.merge or []:
        earlier = json.loads(path.read_text())
        rows += earlier["rows"]
        speeds += earlier["speed"]
    for name in [] if args.merge else args.preset:
        r, s = run_preset(name, args.layers, args.out, args.seed)
        rows += r
        speeds.append(s)
        print(table(r, [s]), flush=True)
    (args.out / "alexnet.json").write_text(json.dumps({"rows": rows, "speed": speeds},
                                                      indent=2) + "\n")
    (args.out / "alexnet.md").write_text(table(rows, speeds))
    plot(rows, args.out / "alexnet.png")
    print(f"wrote {args.out / 'alexnet.md'}, alexnet.json and alexnet.png")
    return 0 if all(r["bit_exact"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
