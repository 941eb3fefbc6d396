"""The EIE engine (PEs, broadcast, controller) on compressed layers, in the Amaranth
simulator; every output compared bit for bit with the golden model."""

import dataclasses

import numpy as np
import pytest

from gen.compress import compress
from gen.config import ConfigError
from gen.eie_config import EIE_PRESETS, EieConfig
from gen.eie_driver import compile_model, vector_writes
from hw.eie import EieEngine
from tb.eie_cases import NAMED_CASES, active_entries, named_case, random_case, sparse_ints
from tb.eie_golden import forward

from .sim import run_sim, seeded_rng, stream_get, stream_put

# 8-bit, 2-bit relative indices (gaps over 3 rows need padding), 12 rows per PE.
SMALL = EieConfig(name="small", pes=4, queue_depth=2, act_width=8, code_width=8,
                  index_bits=2, max_rows=48, max_cols=40, max_layers=2, spmat_depth=512,
                  ptr_depth=128)


def run_engine(cfg, case, *, rng, stall=0.3):
    """Load the case's model, run each vector; return (outputs, counters after each run,
    per-PE busy cycles at the end)."""
    dut = EieEngine(config=cfg)
    prog = compile_model(cfg, case.layers, relu=case.relu, shift=case.shift)
    mask = (1 << dut.cmd.payload.data.shape().width) - 1
    outs, counters, busy = [], [], []

    async def write(ctx, rows):
        for sel, pe, addr, value in rows.tolist():
            await stream_put(ctx, dut.cmd, {"sel": sel, "pe": pe, "addr": addr,
                                            "data": value & mask}, rng=rng, idle=0.2)

    async def host(ctx):
        await write(ctx, prog.writes)
        for a in case.vectors:
            await write(ctx, vector_writes(cfg, prog, a))
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            outs.append(np.array([await stream_get(ctx, dut.out, rng=rng, stall=stall)
                                  for _ in range(prog.rows)], dtype=np.int64))
            await ctx.tick().until(dut.done)
            counters.append({name: ctx.get(getattr(dut, name)) for name in dut.COUNTERS})
        for k in range(cfg.pes):
            ctx.set(dut.stat_pe, k)
            await ctx.delay(1e-9)
            busy.append(ctx.get(dut.stat_busy))

    run_sim(dut, host, max_cycles=100_000)
    return outs, counters, busy


def check(cfg, case, *, rng, stall=0.3):
    """Run ``case`` and check outputs and counters; return the counters after each run."""
    outs, counters, busy = run_engine(cfg, case, rng=rng, stall=stall)
    prev = dict.fromkeys(EieEngine.COUNTERS, 0)
    total_pe = np.zeros(cfg.pes, dtype=np.int64)
    for a, got, cnt in zip(case.vectors, outs, counters, strict=True):
        want = forward(case.layers, a, relu=case.relu, shift=case.shift,
                       act_width=cfg.act_width)
        assert np.array_equal(got, want), f"a={a.tolist()}\ngot  {got}\nwant {want}"
        delta = {k: cnt[k] - prev[k] for k in cnt}
        prev = cnt
        if len(case.layers) > 1:
            continue            # later layers' inputs come from the hardware
        entries, pad, per_pe = active_entries(case.layers[0], a)
        assert delta["broadcasts"] == np.count_nonzero(a)
        assert delta["entries"] == entries
        assert delta["padding"] == pad
        assert delta["starved"] <= delta["compute"] * cfg.pes - entries
        total_pe += per_pe
    if len(case.layers) == 1:
        assert busy == total_pe.tolist()
    return counters


@pytest.mark.parametrize("density", [0.01, 0.1, 0.5, 1.0])
@pytest.mark.parametrize("pes", [1, 4, 8])
def test_random_layers(request, pes, density):
    seed, prng = seeded_rng(request.node.name)
    cfg = dataclasses.replace(SMALL, pes=pes)
    check(cfg, random_case(cfg, np.random.default_rng(seed), density), rng=prng)


@pytest.mark.parametrize("name", NAMED_CASES)
def test_named_cases(request, name):
    seed, prng = seeded_rng(request.node.name)
    cfg = dataclasses.replace(SMALL, queue_depth=1) if "queues" in name else SMALL
    case = named_case(name, cfg, np.random.default_rng(seed))
    assert case is not None, f"{name} must be expressible on the test design"
    counters = check(cfg, case, rng=prng, stall=0.0 if "same-row" in name else 0.3)
    if "gap" in name and name != "gap-Z":
        assert case.layers[0].padding > 0
    if "queues" in name:
        assert counters[-1]["stalls"] > 0 and counters[-1]["starved"] > 0


def test_driver_rejects_what_does_not_fit():
    rng = np.random.default_rng(7)
    layer = compress(sparse_ints(rng, (8, 8), 0.5), pes=4, code_width=8, index_bits=2)
    with pytest.raises(ValueError, match="PEs"):
        compile_model(dataclasses.replace(SMALL, pes=8), [layer], relu=[0], shift=[None])
    with pytest.raises(ValueError, match="shift of layer 0"):
        compile_model(SMALL, [layer], relu=[0], shift=[99])
    with pytest.raises(ValueError, match="max_rows"):
        compile_model(dataclasses.replace(SMALL, max_rows=4), [layer], relu=[0],
                      shift=[None])
    with pytest.raises(ValueError, match="layers"):
        compile_model(dataclasses.replace(SMALL, max_layers=1), [layer, layer],
                      relu=[0, 0], shift=[0, None])
    with pytest.raises(ValueError, match="indices"):
        compile_model(dataclasses.replace(SMALL, index_bits=4), [layer], relu=[0],
                      shift=[None])
    prog = compile_model(SMALL, [layer], relu=[0], shift=[None])
    with pytest.raises(ValueError, match="8 bits"):
        vector_writes(SMALL, prog, np.full(8, 300))


def test_config_checks():
    assert EIE_PRESETS["eie-64"].pes == 64 and EIE_PRESETS["eie-64"].queue_depth == 8
    for change, field in (({"pes": 6}, "pes"), ({"ptr_depth": 10}, "ptr_depth"),
                          ({"acc_width": 8}, "acc_width"), ({"queue_depth": 0}, "queue_depth")):
        with pytest.raises(ConfigError, match=field):
            dataclasses.replace(SMALL, **change)
    assert EieConfig.from_dict(SMALL.to_dict()) == SMALL

