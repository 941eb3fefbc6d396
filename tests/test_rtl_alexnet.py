"""AlexNet-shaped layers on generated Verilog: scaled down in the default suite, the real
CONV1-5 on ``eyeriss`` under the ``slow`` marker."""

import dataclasses
import os
import random

import numpy as np
import pytest

from gen.config import preset
from gen.mapper import ALEXNET, Layer
from tb.accel_run import random_layer_data, run_layers
from tb.run import SIMULATORS

from .sim import assert_bit_exact

# An Eyeriss-style design cut to 11 x 4 PEs and a 4 KiB buffer: AlexNet's filter shapes
# (11 x 11 at stride 4, 5 x 5 padded by 2, 3 x 3 padded by 1) on fewer channels and
# pixels. The scaled CONV1 input does not fit the buffer, so it runs in parts.
MINI = dataclasses.replace(preset("eyeriss-int8"), name="alexnet_mini", rows=11, cols=4,
                           max_n=1, max_c=16, max_m=16, max_h=40, max_w=40, psum_lane=256,
                           glb_kib=4, glb_banks=4)
MINI_LAYERS = {
    "CONV1": Layer(name="CONV1", c=3, h=39, w=39, m=8, r=11, s=11, stride=4, pad=0),
    "CONV2": Layer(name="CONV2", c=8, h=9, w=9, m=8, r=5, s=5, stride=1, pad=2),
    "CONV3": Layer(name="CONV3", c=8, h=6, w=6, m=12, r=3, s=3, stride=1, pad=1),
    "CONV5": Layer(name="CONV5", c=12, h=6, w=6, m=8, r=3, s=3, stride=1, pad=1),
}


def _cases(config, layers, seed):
    rng = np.random.default_rng(seed)
    cases = []
    for layer in layers:
        x, w, bias = random_layer_data(layer, config, rng, zeros=0.4)
        cases.append({"layer": layer, "x": x, "w": w, "bias": bias, "shift": 7,
                      "relu": True})
    return cases


def _check(results, cases, seed):
    for case, res in zip(cases, results, strict=True):
        name = case["layer"].name
        assert_bit_exact(res.out, res.expect, seed, name)
        assert res.counters["macs"] + res.counters["gated"] >= case["layer"].macs, name


# Icarus takes two minutes over these four layers; the random-layer tests cover it in the
# default suite, and this one runs it under ``slow``.
@pytest.mark.rtl
@pytest.mark.parametrize("sim", [pytest.param(s, marks=pytest.mark.slow) if s == "icarus"
                                 else s for s in SIMULATORS])
def test_alexnet_shaped_layers(build_dir, sim):
    seed = int(os.environ.get("ROWLOOM_SEED") or random.randrange(1 << 31))
    print(f"data seed={seed} (replay with ROWLOOM_SEED={seed})")
    cases = _cases(MINI, MINI_LAYERS.values(), seed)
    results = run_layers(MINI, cases, sim=sim, build_dir=build_dir, seed=seed, pressure=0.2)
    assert len(results[0].program.parts) > 1, "the scaled CONV1 should need parts"
    _check(results, cases, seed)


@pytest.mark.slow
@pytest.mark.rtl
def test_alexnet_on_eyeriss(build_dir):
    """Full AlexNet CONV1-5, batch 1, on the 12 x 14 design under Verilator (about 14
    minutes, 10 of them simulation, beside another such run; ``make bench`` runs the same
    and reports)."""
    cfg = preset("eyeriss")
    seed = int(os.environ.get("ROWLOOM_SEED") or random.randrange(1 << 31))
    print(f"data seed={seed} (replay with ROWLOOM_SEED={seed})")
    cases = _cases(cfg, ALEXNET.values(), seed)
    results = run_layers(cfg, cases, sim="verilator", build_dir=build_dir, seed=seed,
                         pressure=0.0)
    _check(results, cases, seed)
