"""Zero skipping on the generated accelerator Verilog, under Icarus and Verilator: random
densities and structured zero patterns, random backpressure on every stream, every output
bit-exact against the golden model."""

import dataclasses
import os
import random

import numpy as np
import pytest

from gen.config import preset
from gen.mapper import Layer
from tb.accel_run import random_layer_data, run_layers
from tb.run import SIMULATORS

from .sim import assert_bit_exact

CFG = dataclasses.replace(preset("tiny"), zero_skip=True, name="tiny-zs")
DENSITIES = (0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 1.0)
# Two strips of output rows (e = 4 of E = 8), stride 1, padding 1.
STRIPS = Layer(c=3, h=8, w=9, m=4, r=3, s=3, stride=1, pad=1)


def _with_density(x, density, rng):
    x = x.copy()
    x[x == 0] = 1                      # only the mask below decides what is zero
    x[rng.random(x.shape) >= density] = 0
    return x


def _runs_across_boundaries(x, rng):
    """Zero runs that cross the end of input rows and of the strips' input rows."""
    x = _with_density(x, 1.0, rng)
    flat = x.reshape(-1)
    n, c, h, w = x.shape
    row_ends = [((ni * c + ci) * h + hi + 1) * w for ni in range(n) for ci in range(c)
                for hi in range(h)]
    for end in row_ends[::2]:
        lo = max(0, end - int(rng.integers(1, w)))
        flat[lo:end + int(rng.integers(1, 2 * w))] = 0
    return x


def _cases(rng):
    cases = []
    for d in DENSITIES:
        layer = STRIPS if d in (0.25, 0.75) else Layer(c=2, h=6, w=7, m=3, r=3, s=2,
                                                       stride=int(rng.integers(1, 3)), pad=1)
        x, w, bias = random_layer_data(layer, CFG, rng, zeros=0.0, bias_limit=3000)
        cases.append((f"density {d}", {"layer": layer, "x": _with_density(x, d, rng),
                                       "w": w, "bias": bias, "shift": 4, "relu": True}))
    x, w, bias = random_layer_data(STRIPS, CFG, rng, zeros=0.0, bias_limit=3000)
    patterns = {
        "all-zero tensor": np.zeros_like(x),
        "all-zero rows": _with_density(x, 1.0, rng) * (np.arange(STRIPS.h) % 3 != 1)[:, None],
        "zero runs across rows and strips": _runs_across_boundaries(x, rng),
        "final zero": np.where(np.arange(x.size).reshape(x.shape) == x.size - 1, 0,
                               _with_density(x, 1.0, rng)),
        "single non-zero": np.where(np.arange(x.size).reshape(x.shape) == x.size // 2, -5, 0),
    }
    for name, xp in patterns.items():
        cases.append((name, {"layer": STRIPS, "x": xp, "w": w, "bias": bias, "shift": None,
                             "relu": False}))
    # Stride larger than the filter: values between windows.
    layer = Layer(c=2, h=7, w=9, m=2, r=1, s=1, stride=3, pad=0)
    x, w, bias = random_layer_data(layer, CFG, rng, zeros=0.5, bias_limit=3000)
    cases.append(("stride 3, 1x1", {"layer": layer, "x": x, "w": w, "bias": bias}))
    return cases


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
def test_zero_skip_rtl(build_dir, sim):
    seed = int(os.environ.get("ROWLOOM_SEED") or random.randrange(1 << 31))
    print(f"data seed={seed} (replay with ROWLOOM_SEED={seed})")
    cases = _cases(np.random.default_rng(seed))
    results = run_layers(CFG, [c for _, c in cases], sim=sim, build_dir=build_dir, seed=seed,
                         pressure=0.3)
    for (name, case), res in zip(cases, results, strict=True):
        assert_bit_exact(res.out, res.expect, seed, name)
        c = res.counters
        assert 0 < c["seen"] and 0 <= c["skipped"] <= c["seen"], (name, c)
        if not case["x"].any():
            assert c["macs"] == 0 and c["skipped"] == c["seen"], (name, c)
        else:
            assert c["macs"] > 0 and c["skipped"] < c["seen"], (name, c)
