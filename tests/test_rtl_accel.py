"""Whole layers on the generated accelerator Verilog, under Icarus and Verilator."""

import dataclasses
import os
import random

import numpy as np
import pytest

from boards.ulx3s import ULX3S_CONFIG
from gen.config import preset
from gen.mapper import Layer
from gen.driver import compile_layer
from gen.mapper import MappingError
from tb.accel_run import (random_config, random_layer, random_layer_data, run_layer,
                          run_layers)
from tb.run import SIMULATORS

from .sim import assert_bit_exact

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
    assert_bit_exact(res.out, res.expect, seed)
    stats = res.stats()
    assert res.counters["macs"] + res.counters["gated"] >= layer.macs
    assert 0 < stats["mac_utilization"] <= 1


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
def test_random_layers_rtl(build_dir, sim):
    """Random shapes (stride 1-4, padding 0-2, non-square filters, C and M not multiples
    of the array, batch 1-2), one simulation, random backpressure on every stream."""
    cfg = preset("tiny")
    seed = int(os.environ.get("ROWLOOM_SEED") or random.randrange(1 << 31))
    print(f"data seed={seed} (replay with ROWLOOM_SEED={seed})")
    rng = np.random.default_rng(seed)
    cases = []
    for _ in range(5):
        layer = random_layer(cfg, rng, max_c=5, max_m=6, max_hw=10)
        x, w, bias = random_layer_data(layer, cfg, rng, zeros=0.3, bias_limit=3000)
        shift = int(rng.integers(0, 8)) if rng.random() < 0.5 else None
        cases.append({"layer": layer, "x": x, "w": w, "bias": bias, "shift": shift,
                      "relu": bool(rng.random() < 0.5)})
    results = run_layers(cfg, cases, sim=sim, build_dir=build_dir, seed=seed, pressure=0.3)
    for case, res in zip(cases, results, strict=True):
        assert_bit_exact(res.out, res.expect, seed, case["layer"])
        assert res.counters["macs"] + res.counters["gated"] >= case["layer"].macs


@pytest.mark.rtl
def test_accel_rtl_without_backpressure(build_dir):
    """The stream drivers' event-driven path (no idle cycles, no stalls), as benchmarks
    and ``rowloom conv`` run it."""
    cfg = preset("tiny")
    layer, shift, relu = LAYERS["3x3-pad-requant"]
    seed = int(os.environ.get("ROWLOOM_SEED") or random.randrange(1 << 31))
    x, w, bias = random_layer_data(layer, cfg, np.random.default_rng(seed))
    res = run_layer(layer, cfg, x, w, bias, shift=shift, relu=relu, sim="verilator",
                    build_dir=build_dir, seed=seed, pressure=0.0)
    assert_bit_exact(res.out, res.expect, seed)
    assert res.counters["words_out"] == res.report["beats_out"]


@pytest.mark.rtl
def test_accel_rtl_ulx3s_pipelining(build_dir):
    """Row-staged multicast buses, registered multiplier operands and the psum handshake
    kept within a PE (``bus_stage``, ``operand_reg``, ``drain_cut``, as the ULX3S design
    has them) in the generated Verilog, with backpressure on every stream."""
    cfg = dataclasses.replace(preset("tiny"), bus_stage=True, operand_reg=True,
                              drain_cut=True)
    layer, shift, relu = LAYERS["stride2-raw-batch2"]
    seed = int(os.environ.get("ROWLOOM_SEED") or random.randrange(1 << 31))
    print(f"data seed={seed} (replay with ROWLOOM_SEED={seed})")
    x, w, bias = random_layer_data(layer, cfg, np.random.default_rng(seed), zeros=0.4)
    res = run_layer(layer, cfg, x, w, bias, shift=shift, relu=relu, sim="icarus",
                    build_dir=build_dir, seed=seed, pressure=0.3)
    assert_bit_exact(res.out, res.expect, seed)


@pytest.mark.rtl
@pytest.mark.slow
@pytest.mark.parametrize("zero_skip", [False, True], ids=["dense", "zero-skip"])
def test_random_layers_ulx3s_rtl(build_dir, zero_skip):
    """Random layers over the whole of the ULX3S design's limits (8 x 8 PEs; C and M up
    to 64, H and W up to 32, filters up to 5 x 5, stride 1-2, padding 0-2, batch 1-2,
    inputs larger than the global buffer run in parts), dense and with zero skipping, in
    one Verilator simulation each, with random backpressure on every stream."""
    cfg = ULX3S_CONFIG
    if zero_skip:
        cfg = dataclasses.replace(cfg, zero_skip=True, name="ulx3s-zs")
    seed = int(os.environ.get("ROWLOOM_SEED") or random.randrange(1 << 31))
    print(f"data seed={seed} (replay with ROWLOOM_SEED={seed})")
    rng = np.random.default_rng(seed)
    cases = []
    while len(cases) < 12:
        layer = random_layer(cfg, rng)
        if layer.macs > 2_000_000:          # keeps the simulation to a few minutes
            continue
        x, w, bias = random_layer_data(layer, cfg, rng, zeros=float(rng.choice([0, 0.5, 0.9])),
                                       bias_limit=5000)
        shift = int(rng.integers(0, 12)) if rng.random() < 0.5 else None
        cases.append({"layer": layer, "x": x, "w": w, "bias": bias, "shift": shift,
                      "relu": bool(rng.random() < 0.5)})
    results = run_layers(cfg, cases, sim="verilator", build_dir=build_dir, seed=seed,
                         pressure=0.2)
    for case, res in zip(cases, results, strict=True):
        assert_bit_exact(res.out, res.expect, seed, case["layer"])
        c = res.counters
        if zero_skip:       # skipped zeros are neither performed nor gated
            assert 0 < c["seen"] and 0 <= c["skipped"] <= c["seen"], (case["layer"], c)
        else:
            assert c["macs"] + c["gated"] >= case["layer"].macs, (case["layer"], c)


def _random_designs(count, seed):
    """``count`` random designs, each with three random layers it accepts (random data,
    zero fractions 0-1, bias in the accumulator's range, ReLU, shift or raw)."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        cfg = random_config(rng, name=f"random{i}")
        cases = []
        while len(cases) < 3:
            layer = random_layer(cfg, rng, max_c=6, max_m=6, max_hw=10)
            x, w, bias = random_layer_data(layer, cfg, rng,
                                           zeros=float(rng.choice([0, 0.3, 0.7, 1.0])))
            if not cfg.acc_signed:
                bias = np.abs(bias)
            shift = int(rng.integers(0, 10)) if rng.random() < 0.6 else None
            relu = bool(rng.integers(0, 2))
            try:
                compile_layer(layer, cfg, x, w, bias, shift=shift, relu=relu)
            except (ValueError, MappingError):
                continue                # beyond this design's buffers: draw another
            cases.append({"layer": layer, "x": x, "w": w, "bias": bias, "shift": shift,
                          "relu": relu})
        yield cfg, cases


@pytest.mark.rtl
@pytest.mark.parametrize("count", [pytest.param(2, id="2"),
                                   pytest.param(12, id="12", marks=pytest.mark.slow)])
def test_random_designs_rtl(build_dir, count):
    """Random configurations (every option, widths, spads, lanes, beat) with random
    layers on each, under Verilator with random backpressure: the options' combinations,
    not only the presets', must be bit-exact (this found raw outputs wrapping)."""
    seed = int(os.environ.get("ROWLOOM_SEED") or random.randrange(1 << 31))
    print(f"seed={seed} (replay with ROWLOOM_SEED={seed})")
    for i, (cfg, cases) in enumerate(_random_designs(count, seed)):
        print(cfg)
        results = run_layers(cfg, cases, sim="verilator", build_dir=build_dir / f"d{i}",
                             seed=seed, pressure=0.2)
        for case, res in zip(cases, results, strict=True):
            assert_bit_exact(res.out, res.expect, seed, f"design {i}, {case['layer']}")
