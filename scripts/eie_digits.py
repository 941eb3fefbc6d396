"""A digits MLP on the generated EIE engine: float, integer-model and RTL accuracy.

Trains a 64-32-10 ReLU MLP on scikit-learn's bundled digits (no download), prunes and
compresses both layers for the design (``tb/digits.py``), runs every test image through
the engine's Verilog under Verilator (both layers on chip, the hidden layer never leaving
it), and reports the accuracy of the float network, of the exact integer model of the
compressed network, and of the RTL, which must equal the integer model's: every output is
also compared bit for bit with the golden model. Writes ``digits.md`` and ``digits.json``
into ``--out``.

Usage: python scripts/eie_digits.py [--preset eie-tiny] [--density D1 D2] [--limit N]
                                    [--out DIR]
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from gen.eie_config import eie_preset
from tb.accel_run import echo_progress
from tb.digits import build_model, load_split
from tb.eie_run import run_model


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--preset", default="eie-tiny")
    ap.add_argument("--density", type=float, nargs=2, default=[0.5, 0.5],
                    metavar=("D1", "D2"), help="weights kept in layers 1 and 2 (0.5 0.5)")
    ap.add_argument("--limit", type=int, help="run only the first N test images on the RTL")
    ap.add_argument("--sim", choices=("icarus", "verilator"), default="verilator")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=Path("build/bench"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    cfg = eie_preset(args.preset)
    x_train, x_test, y_train, y_test = load_split(args.seed)
    model = build_model(x_train, y_train, pes=cfg.pes, density=tuple(args.density),
                        act_width=cfg.act_width, code_width=cfg.code_width, seed=args.seed)
    x_rtl, y_rtl = x_test[:args.limit], y_test[:args.limit]
    float_acc = float(np.mean(model.predict_float(x_test) == y_test))
    int_pred = model.predict_int(x_rtl)
    print(f"{len(x_train)} training and {len(x_test)} test images; float accuracy "
          f"{float_acc:.2%}; integer model {np.mean(int_pred == y_rtl):.2%} on the "
          f"{len(x_rtl)} images run on the RTL", flush=True)
    for k, layer in enumerate(model.layers):
        print(f"layer {k + 1}: {layer.rows} x {layer.cols}, {layer.density:.1%} dense, "
              f"{layer.entries} entries, frac bits {layer.frac_bits}, "
              f"{layer.storage_bits()['ratio']:.2f}x smaller than dense 16-bit", flush=True)
    log = args.out / "sim-digits.log"
    print(f"running {len(x_rtl)} images through {cfg.top_name} under {args.sim} "
          f"(log: {log}) ...", flush=True)
    t0 = time.monotonic()
    with echo_progress(log):
        res = run_model(cfg, model.layers, model.inputs(x_rtl), relu=model.relu,
                        shift=model.shift, sim=args.sim, build_dir=args.out / "sim" / "digits",
                        seed=args.seed, pressure=0.0, log_file=log)
    wall = time.monotonic() - t0
    rtl_pred = np.argmax(res.out, axis=1)
    st = res.stats()
    result = {
        "preset": cfg.name, "train": len(x_train), "test": len(x_test), "rtl_images": len(x_rtl),
        "density": args.density, "float_accuracy": float_acc,
        "int_accuracy": float(np.mean(int_pred == y_rtl)),
        "rtl_accuracy": float(np.mean(rtl_pred == y_rtl)),
        "rtl_equals_int": bool(np.array_equal(rtl_pred, int_pred)),
        "bit_exact": bool(res.mismatches.size == 0),
        "layers": [{"rows": layer.rows, "cols": layer.cols, "density": layer.density,
                    "entries": layer.entries, "padding": layer.padding,
                    "frac_bits": layer.frac_bits, "ratio": layer.storage_bits()["ratio"]}
                   for layer in model.layers],
        "shift": model.shift, "cycles_per_image": st["cycles_per_vector"],
        "load_efficiency": st["load_efficiency"], "wall_s": round(wall, 1),
    }
    (args.out / "digits.json").write_text(json.dumps(result, indent=2) + "\n")
    lines = [
        "# Digits MLP on the EIE engine\n",
        f"64-32-10 ReLU MLP, scikit-learn digits ({len(x_train)} train / {len(x_test)} test), "
        f"weights kept {args.density[0]:.0%} / {args.density[1]:.0%}, 4-bit codebooks, "
        f"{cfg.name} ({cfg.pes} PEs) under {args.sim}.\n",
        "| model | accuracy |", "| --- | ---: |",
        f"| float (scikit-learn) | {float_acc:.2%} |",
        f"| integer model of the compressed network | {result['int_accuracy']:.2%} |",
        f"| RTL ({len(x_rtl)} images) | {result['rtl_accuracy']:.2%} |",
        "",
        f"RTL predictions equal the integer model's: {result['rtl_equals_int']}; every "
        f"output bit-exact: {result['bit_exact']}; {st['cycles_per_vector']:.0f} cycles per "
        f"image (both layers, load of the input excluded), load efficiency "
        f"{st['load_efficiency']:.1%}.",
    ]
    (args.out / "digits.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0 if result["rtl_equals_int"] and result["bit_exact"] else 1


if __name__ == "__main__":
    sys.exit(main())
