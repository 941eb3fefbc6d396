"""Whole layers on the generated accelerator Verilog, under Icarus and Verilator."""

import numpy as np
import pytest

from gen.config import preset
from gen.mapper import Layer
from tb.accel_run import run_layer
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
    seed = int(np.random.SeedSequence().entropy % (1 << 31))
    print(f"data seed={seed}")
    rng = np.random.default_rng(seed)
    x = rng.integers(cfg.act_range[0], cfg.act_range[1] + 1,
                     size=(layer.n, layer.c, layer.h, layer.w))
    x[rng.random(x.shape) < 0.4] = 0
    w = rng.integers(cfg.wgt_range[0], cfg.wgt_range[1] + 1,
                     size=(layer.m, layer.c, layer.r, layer.s))
    bias = rng.integers(-3000, 3000, size=layer.m)
    res = run_layer(layer, cfg, x, w, bias, shift=shift, relu=relu, sim=sim,
                    build_dir=build_dir, seed=seed, pressure=0.3)
    bad = res.mismatches
    assert bad.size == 0, (f"seed={seed}: {len(bad)} mismatches, first at {tuple(bad[0])}: "
                           f"got {res.out[tuple(bad[0])]}, expected {res.expect[tuple(bad[0])]}")
    stats = res.stats()
    assert res.counters["macs"] + res.counters["gated"] >= layer.macs
    assert 0 < stats["mac_utilization"] <= 1
