"""Whole layers on the generated accelerator Verilog, under Icarus and Verilator."""

import os
import random

import numpy as np
import pytest

from gen.config import preset
from gen.mapper import Layer
from tb.accel_run import random_layer_data, run_layer
from tb.run import SIMULATORS

LAYERS = {
    "3x3-pad-requant": (Layer(c=3, h=7, w=6, m=5, r=3, s=3, stride=1, pad=1), 5, True),
    "stride2-raw-batch2": (Layer(n=2, c=2, h=8, w=7, m=3, r=2, s=3, stride=2, pad=2),
                           None, False),
}


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("name", list(LAYERS))
def test_accel_rtl(build_dir, sim, name):
    cfg = preset("tiny")
    layer, shift, relu = LAYERS[name]
    seed = int(os.environ.get("ROWLOOM_SEED") or random.randrange(1 << 31))
    print(f"data seed={seed} (replay with ROWLOOM_SEED={seed})")
    x, w, bias = random_layer_data(layer, cfg, np.random.default_rng(seed), zeros=0.4,
                                   bias_limit=3000)
    res = run_layer(layer, cfg, x, w, bias, shift=shift, relu=relu, sim=sim,
                    build_dir=build_dir, seed=seed, pressure=0.3)
    bad = res.mismatches
    assert bad.size == 0, (f"seed={seed}: {len(bad)} mismatches, first at {tuple(bad[0])}: "
                           f"got {res.out[tuple(bad[0])]}, expected {res.expect[tuple(bad[0])]}")
    stats = res.stats()
    assert res.counters["macs"] + res.counters["gated"] >= layer.macs
    assert 0 < stats["mac_utilization"] <= 1
