"""The whole accelerator (controller + array) on layers, in the Amaranth simulator."""

import dataclasses

import numpy as np
import pytest

from gen.config import preset
from gen.driver import compile_layer
from gen.mapper import Layer
from hw.accel import Accelerator
from hw.array import CfgKind
from tb.array_plan import plan_strip
from tb.accel_run import expected_output, random_layer_data
from tb.golden import conv2d, int_range, requantize

from .sim import run_sim, seeded_rng, stream_get, stream_put

TINY = preset("tiny")
UP5K = preset("up5k")
# A 1 KiB global buffer (1024 values), so that small layers need splitting into parts.
SMALL_GLB = dataclasses.replace(TINY, glb_kib=1)

CASES = {
    # name: (layer, config, shift, relu)
    "3x3-pad-requant": (Layer(c=2, h=6, w=6, m=3, r=3, s=3, stride=1, pad=1), TINY, 4, True),
    "stride2-raw": (Layer(c=3, h=7, w=8, m=4, r=2, s=3, stride=2, pad=0), TINY, None, False),
    "1x1-copies": (Layer(c=5, h=4, w=5, m=4, r=1, s=1), TINY, 3, False),
    "batch2-c1-m1": (Layer(n=2, c=1, h=5, w=5, m=1, r=2, s=2, stride=1, pad=1), TINY,
                     None, True),
    "segmented": (Layer(c=2, h=9, w=6, m=2, r=1, s=2, stride=1), TINY, 2, False),
    "stride2-pad2-batch2": (Layer(n=2, c=2, h=8, w=7, m=3, r=2, s=3, stride=2, pad=2),
                            TINY, None, False),
    "stride3-pad2": (Layer(c=2, h=9, w=7, m=3, r=3, s=2, stride=3, pad=2),
                     dataclasses.replace(TINY, zero_gate=False, product_reg=False,
                                         lane_banks=1), 1, True),
    # Strides past the filter's height: the generator jumps the rows no PE reads.
    "stride4-r1": (Layer(c=3, h=13, w=9, m=3, r=1, s=2, stride=4, pad=1), TINY, 2, False),
    "stride3-r2": (Layer(c=2, h=11, w=7, m=4, r=2, s=3, stride=3, pad=2), TINY, None, True),
    # Lane banks: three 1x1 chains per column spread over four banks; one chain whose
    # F * p = 128 psums fill the whole lane, across both banks.
    "1x1-four-banks": (Layer(c=8, h=4, w=6, m=8, r=1, s=1), dataclasses.replace(
                       TINY, lane_banks=4), None, True),
    "lane-span": (Layer(c=2, h=5, w=16, m=8, r=3, s=1), TINY, None, False),
    # Row-staged buses: a multicast packet reaches the rows it goes to out of step.
    "bus-stage": (Layer(c=3, h=7, w=8, m=4, r=3, s=3, stride=1, pad=1),
                  dataclasses.replace(TINY, bus_stage=True), 2, True),
    "operand-reg": (Layer(c=2, h=6, w=7, m=3, r=2, s=3, stride=1, pad=1),
                    dataclasses.replace(TINY, operand_reg=True, bus_stage=True), None, False),
    # Queued passes: one psum per chain (F * p = 1) over four channel folds, so a bottom
    # starting the next pass must wait for its chain's top to write the psum it reads.
    "chain-hazard": (Layer(c=8, h=3, w=3, m=1, r=3, s=3), TINY, None, False),
    # Parts: row slices with halos (top/bottom padding on the edge slices only), and
    # groups of whole images.
    "split-rows-pad2": (Layer(c=4, h=20, w=16, m=3, r=3, s=3, stride=1, pad=2), SMALL_GLB,
                        None, False),
    "split-rows-stride2": (Layer(c=3, h=30, w=16, m=2, r=3, s=3, stride=2, pad=1),
                           SMALL_GLB, 3, True),
    "split-batch": (Layer(n=3, c=2, h=14, w=14, m=2, r=3, s=3, stride=1, pad=1), SMALL_GLB,
                    None, False),
    # At up5k's limits (its registers and counters are only as wide as they need): every
    # dimension at its largest but the stride, 2048 input values, the whole buffer.
    "up5k-limits": (Layer(c=8, h=16, w=16, m=8, r=3, s=3, stride=2, pad=1), UP5K, 6, True),
}


def _strip_config(writes):
    """What a strip's array configuration sets: every row's bus IDs, every active PE's
    role (inactive PEs' other fields do not matter)."""
    rows = [(w["kind"], w["y"], w["id"]) for w in writes if w["kind"] != CfgKind.PE]
    pes = {(w["y"], w["x"]): tuple(w["pe"][k] for k in ROLE) for w in writes
           if w["kind"] == CfgKind.PE and w["pe"]["active"]}
    return rows, pes


ROLE = ("filt_col", "ifm_col", "top", "bottom", "base")


def expected_config(prog, cfg):
    """The array configuration of every strip of every part, from the reference schedule
    (``tb.array_plan.plan_strip``: lane bases from ``Mapping.lane_base``)."""
    out = []
    for part in prog.parts:
        for _ in range(part.layer.n):
            for e0 in range(0, part.layer.e, part.mapping.e):
                out.append(_strip_config(plan_strip(part.mapping, cfg, e0)[0]))
    return out


def run_program(cfg, prog, *, rng, idle=0.0, stall=0.0):
    """Run ``prog`` on the accelerator; returns the outputs, the counters (and
    ``beats_seen``, ``config``: the array configuration writes of each strip,
    ``queued_passes``: passes the controller queued in the busy array,
    ``readout_overlap``: cycles the readout owned the lanes while the array computed)."""
    dut = Accelerator(config=cfg)
    B = cfg.beat
    values, counters, beats = [], {}, [0]
    strips = []

    queued, overlap = [0], [0]

    async def config_monitor(ctx):
        arr = dut.array
        acfg = arr.cfg
        writes_per_strip = cfg.rows * (2 + cfg.cols)   # two row IDs, then the row's PEs
        writes = []
        async for _, _, valid, ready, payload, start, busy, rd_own in ctx.tick().sample(
                acfg.valid, acfg.ready, acfg.payload, arr.start, arr.busy, arr.rd_own):
            queued[0] += start and busy
            overlap[0] += busy and rd_own
            if valid and ready:
                p = payload
                writes.append({"kind": p.kind, "y": p.y, "x": p.x, "id": p.id,
                               "pe": {k: getattr(p.pe, k) for k in (*ROLE, "active")}})
                if len(writes) == writes_per_strip:
                    strips.append(_strip_config(writes))
                    writes = []

    started = [0]

    async def control(ctx):
        for part in prog.parts:
            for addr, data in part.cfg:
                await stream_put(ctx, dut.cfg, {"addr": addr, "data": data})
            glb = part.glb + [0] * (-len(part.glb) % B)
            for i in range(0, len(glb), B):
                await stream_put(ctx, dut.act_in, glb[i:i + B], rng=rng, idle=idle)
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            started[0] += 1
            await ctx.tick().until(dut.done)
        for name in Accelerator.counter_names(cfg):
            counters[name] = ctx.get(getattr(dut, name))

    async def weights(ctx):
        for i, part in enumerate(prog.parts):
            while started[0] <= i:
                await ctx.tick()
            for beat in part.weights:
                await stream_put(ctx, dut.wgt_in, beat, rng=rng, idle=idle)

    async def outputs(ctx):
        while len(values) < len(prog.out_order):
            beat = await stream_get(ctx, dut.out, rng=rng, stall=stall)
            values.extend(beat["data"][:beat["n"]])
            beats[0] += 1

    run_sim(dut, control, weights, outputs, background=[config_monitor], max_cycles=500_000)
    counters["beats_seen"] = beats[0]
    counters["config"] = strips
    counters["queued_passes"] = queued[0]
    counters["readout_overlap"] = overlap[0]
    return prog.decode(values), counters


# The zero-skip run of the largest case is the longest of these; it runs in make test-full.
SLOW_CASES = {("up5k-limits", True)}


@pytest.mark.parametrize("name, zero_skip", [
    pytest.param(name, zs, id=f"{name}-{'skip' if zs else 'dense'}",
                 marks=[pytest.mark.slow] if (name, zs) in SLOW_CASES else [])
    for name in CASES for zs in (False, True)])
def test_accelerator_layer(request, name, zero_skip):
    seed, rng = seeded_rng(request.node.name)
    layer, cfg, shift, relu = CASES[name]
    cfg = dataclasses.replace(cfg, zero_skip=zero_skip)
    x, w, bias = random_layer_data(layer, cfg, np.random.default_rng(seed))
    prog = compile_layer(layer, cfg, x, w, bias, shift=shift, relu=relu)
    got, counters = run_program(cfg, prog, rng=rng, idle=0.2, stall=0.3)
    expect = expected_output(layer, cfg, x, w, bias, shift=shift, relu=relu)
    bad = np.argwhere(got != expect)
    assert bad.size == 0, (f"seed={seed} {len(prog.parts)} parts, {prog.mapping.summary()}: "
                           f"{len(bad)} mismatches, "
                           f"first at {tuple(bad[0])}: got {got[tuple(bad[0])]}, "
                           f"expected {expect[tuple(bad[0])]}")
    # Each MAC of the layer is done or gated at least once (more where folds pad filters
    # or channels); every output beat is counted; the input is loaded once.
    if not zero_skip:
        assert counters["macs"] + counters["gated"] >= layer.macs, counters
    assert counters["words_out"] == counters["beats_seen"], counters
    assert counters["glb_writes"] == sum(-(-len(p.glb) // cfg.beat) * cfg.beat
                                         for p in prog.parts), counters
    if zero_skip:
        assert 0 < counters["skipped"] < counters["seen"], counters
    # The controller's strip walk configures the array as the reference schedule does.
    assert counters["config"] == expected_config(prog, cfg)
    if name == "chain-hazard":      # the case is there to queue passes
        assert counters["queued_passes"] > 0, counters
    # A fold is read out while the next computes only when the lanes hold both; the
    # next filter fold of a strip starts at once (a strip reconfigures the array first).
    mp = prog.mapping
    if not mp.lane_halves:
        assert counters["readout_overlap"] == 0, counters
    elif mp.filter_folds > 1:
        assert counters["readout_overlap"] > 0, counters


@pytest.mark.parametrize("zeros", [0.0, 0.6, 1.0])
def test_skip_counts_as_dense(request, zeros):
    """Zero skipping performs exactly the non-zero products that the dense design performs
    (``macs``, zero gating on), over the same input values, in fewer cycles when there are
    zeros to skip."""
    seed, rng = seeded_rng(request.node.name)
    layer = Layer(c=3, h=8, w=8, m=4, r=3, s=3, stride=1, pad=1)
    runs = {}
    for zero_skip in (False, True):
        cfg = dataclasses.replace(TINY, zero_skip=zero_skip)
        x, w, bias = random_layer_data(layer, cfg, np.random.default_rng(seed), zeros=zeros)
        prog = compile_layer(layer, cfg, x, w, bias, shift=3, relu=True)
        got, counters = run_program(cfg, prog, rng=rng)
        expect = requantize(conv2d(x, w, bias, stride=1, padding=1), shift=3, relu=True,
                            out_width=cfg.out_width)
        assert (got == expect).all(), f"seed={seed} zero_skip={zero_skip}"
        runs[zero_skip] = counters
    dense, skip = runs[False], runs[True]
    assert skip["macs"] == dense["macs"], (seed, dense, skip)
    assert skip["seen"] - skip["skipped"] > 0 or zeros == 1.0
    if zeros == 1.0:
        assert skip["macs"] == 0 and skip["skipped"] == skip["seen"] > 0
    if zeros > 0:
        assert skip["cycles"] < dense["cycles"], (dense["cycles"], skip["cycles"])


def test_lane_banks_let_chains_write_in_parallel(request):
    """Three 1 x 1 chains per column, each finishing a psum every cycle (q = S = 1): with
    one lane bank they take turns at its write port; spread over four banks (the driver's
    ``spread`` placement, walked by the controller) they do not, so the same work takes
    fewer cycles for the same lane traffic and the same outputs."""
    seed, _ = seeded_rng(request.node.name)
    layer = Layer(c=1, h=4, w=6, m=6, r=1, s=1)
    runs = {}
    for banks in (1, 4):
        cfg = dataclasses.replace(TINY, psum_spad=2, lane_banks=banks)
        x, w, bias = random_layer_data(layer, cfg, np.random.default_rng(seed))
        prog = compile_layer(layer, cfg, x, w, bias)
        assert prog.mapping.t == 3 and prog.mapping.lane_spread == (banks > 1)
        got, runs[banks] = run_program(cfg, prog, rng=np.random.default_rng(seed))
        assert (got == conv2d(x, w, bias)).all(), f"seed={seed} lane_banks={banks}"
    one, four = runs[1], runs[4]
    assert four["lane_writes"] == one["lane_writes"] > 0
    assert four["cycles"] < one["cycles"], (one["cycles"], four["cycles"])


@pytest.mark.parametrize("relu", [False, True])
def test_raw_outputs_saturate_to_the_accumulator(request, relu):
    """Without requantization an output is the accumulator plus the bias. Each spans the
    accumulator's range, so a bias near its end carries a large sum past it: the output
    saturates to the range (it used to wrap, found by random configurations: 1024 came
    out as -1024 from 11-bit accumulators)."""
    seed, rng = seeded_rng(request.node.name)
    cfg = TINY
    lo, hi = int_range(cfg.acc_bits, cfg.acc_signed)
    layer = Layer(c=cfg.max_c, h=3, w=5, m=4, r=3, s=5)
    x = np.full((1, layer.c, 3, 5), cfg.act_range[0])
    w = np.zeros((4, layer.c, 3, 5), dtype=np.int64)
    w[0] = w[2] = cfg.wgt_range[0]              # the largest sum
    w[1] = cfg.wgt_range[1]                     # the most negative one
    bias = np.array([hi, lo, -hi, hi])
    prog = compile_layer(layer, cfg, x, w, bias, relu=relu)
    got, _ = run_program(cfg, prog, rng=rng, idle=0.2, stall=0.3)
    exact = conv2d(x, w, bias).ravel()
    assert exact[0] > hi and exact[1] < lo and lo <= exact[2] <= hi and exact[3] == hi
    mid = max(exact[2], 0) if relu else exact[2]
    assert got.ravel().tolist() == [hi, 0 if relu else lo, mid, hi], f"seed={seed}"
    assert np.array_equal(got, expected_output(layer, cfg, x, w, bias, relu=relu))
