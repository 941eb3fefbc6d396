"""Write a random CONV layer's inputs for `make demo`: x.npy, w.npy, b.npy in a folder.

Usage: python scripts/demo_layer.py DIR [--preset tiny] [--seed S]
"""

import argparse
from pathlib import Path

import numpy as np

from gen.config import preset


def main():
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("out", type=Path)
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--seed", type=int, default=2016)
    args = ap.parse_args()
    cfg = preset(args.preset)
    rng = np.random.default_rng(args.seed)
    # An AlexNet-CONV3-like layer scaled to the preset: 3x3 filters, padding 1.
    n, c, h, w, m = 1, min(cfg.max_c, 8), min(cfg.max_h, 12), min(cfg.max_w, 12), min(cfg.max_m, 8)
    x = rng.integers(cfg.act_range[0], cfg.act_range[1] + 1, size=(n, c, h, w))
    x[rng.random(x.shape) < 0.4] = 0          # ReLU-like sparsity for the gating counters
    wt = rng.integers(cfg.wgt_range[0], cfg.wgt_range[1] + 1, size=(m, c, 3, 3))
    b = rng.integers(-2000, 2000, size=m)
    args.out.mkdir(parents=True, exist_ok=True)
    for name, arr in (("x", x), ("w", wt), ("b", b)):
        np.save(args.out / f"{name}.npy", arr)
    print(f"wrote {args.out}/x.npy {x.shape}, w.npy {wt.shape}, b.npy {b.shape}")


if __name__ == "__main__":
    main()
