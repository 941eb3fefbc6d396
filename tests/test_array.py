"""The PE array, pass by pass, against the golden conv2d (Amaranth simulator)."""

import dataclasses

import numpy as np
import pytest

from gen.config import preset
from gen.mapper import Layer, map_layer
from hw.array import PEArray
from hw.pe import pe_job
from tb.array_plan import pass_packets, plan_strip
from tb.golden import conv2d

from .sim import run_sim, seeded_rng, stream_put

TINY = preset("tiny")

LAYERS = {
    # name: (layer, config)
    "3x3-pad": (Layer(c=2, h=6, w=6, m=3, r=3, s=3, stride=1, pad=1), TINY),
    "stride2-nonsquare": (Layer(c=3, h=7, w=8, m=4, r=2, s=3, stride=2, pad=0), TINY),
    "1x1": (Layer(c=5, h=4, w=5, m=4, r=1, s=1), TINY),
    "c1-m1-batch2": (Layer(n=2, c=1, h=5, w=5, m=1, r=2, s=2, stride=1, pad=1), TINY),
    "segmented": (Layer(c=2, h=9, w=6, m=2, r=1, s=2, stride=1), TINY),
    "no-gate-comb": (Layer(c=2, h=6, w=6, m=2, r=3, s=3, stride=1, pad=2),
                     dataclasses.replace(TINY, zero_gate=False, product_reg=False,
                                         lane_banks=1)),
    "bus-stage": (Layer(c=3, h=7, w=8, m=4, r=2, s=3, stride=2, pad=1),
                  dataclasses.replace(TINY, bus_stage=True)),
    # The up5k options: registered spad reads, no psum handshake along a chain, and a lane
    # queue of one.
    "operand-reg-drain-cut": (Layer(c=3, h=6, w=7, m=3, r=3, s=2, stride=1, pad=1),
                              dataclasses.replace(TINY, operand_reg=True, drain_cut=True,
                                                  lane_queue=1)),
}


def _mac_slots(layer, mapping, chains, values):
    """MACs one pass issues, and how many of them have a zero activation."""
    U, S, q = layer.stride, layer.s, mapping.q
    slots = zeros = 0
    for ch in chains:
        for rr in range(layer.r):
            row = values[ch.ee * U + rr]
            for f in range(layer.f):
                for s in range(S):
                    for c in range(q):
                        slots += mapping.p
                        zeros += mapping.p * (row[(f * U + s) * q + c] == 0)
    return slots, zeros


def run_layer(cfg, layer, x, w, *, rng, idle=0.0):
    """Drive ``layer`` through the array with the reference schedule; return N x M x E x F
    outputs read back from the psum lanes, and the array's counters."""
    mapping = map_layer(layer, cfg)
    dut = PEArray(config=cfg)
    schedule = []           # (strip writes, job, filt packets, ifm packets, readout) per pass
    for n in range(layer.n):
        for e0 in range(0, layer.e, mapping.e):
            writes, chains, rows = plan_strip(mapping, cfg, e0)
            for ff in range(mapping.filter_folds):
                for cf in range(mapping.channel_folds):
                    filt, ifm, values = pass_packets(mapping, cfg, x, w, n=n, e0=e0,
                                                     rows_in_strip=rows, ff=ff, cf=cf)
                    slots, zeros = _mac_slots(layer, mapping, chains, values)
                    job = pe_job(s=layer.s, f=layer.f, u=layer.stride, p=mapping.p,
                                 q=mapping.q, psum_en=0)
                    del job["psum_en"]
                    job.update(acc=int(cf > 0), fp=layer.f * mapping.p)
                    last = cf == mapping.channel_folds - 1
                    schedule.append(dict(writes=writes if (ff, cf) == (0, 0) else [],
                                         job=job, filt=filt, ifm=ifm, slots=slots,
                                         zeros=zeros,
                                         readout=(n, e0, ff, chains) if last else None))
    out = np.zeros((layer.n, layer.m, layer.e, layer.f), dtype=np.int64)
    started = [-1]
    counters = {}

    async def control(ctx):
        for k, step in enumerate(schedule):
            for wr in step["writes"]:
                await stream_put(ctx, dut.cfg, wr)
            ctx.set(dut.job, step["job"])
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            started[0] = k
            await ctx.tick().until(dut.done)
            if step["readout"] is None:
                continue
            n, e0, ff, chains = step["readout"]
            p = mapping.p
            reads = [(ch.x, mapping.lane_base(ch.slot) + f * p + kk,
                      ((ff * mapping.t + ch.g) * p + kk, e0 + ch.ee, f))
                     for ch in chains for f in range(layer.f) for kk in range(p)]
            # The readout pipeline (two stages) moves on the cycles with rd_en: reads
            # issue back to back with random pauses, and rd_data must hold meanwhile.
            ctx.set(dut.rd_own, 1)
            stages = [None, None]
            while reads or any(stages):
                en = rng.random() >= idle
                if en:
                    col, addr, dest = reads.pop(0) if reads else (0, 0, None)
                    ctx.set(dut.rd_col, col)
                    ctx.set(dut.rd_addr, addr)
                    stages = [dest, stages[0]]
                ctx.set(dut.rd_en, en)
                held = [ctx.get(d) for d in dut.rd_data]
                await ctx.tick()
                if not en:
                    assert [ctx.get(d) for d in dut.rd_data] == held, \
                        "rd_data changed without rd_en"
                elif stages[1] is not None and stages[1][0] < layer.m:
                    m_, e, f = stages[1]
                    out[n, m_, e, f] = ctx.get(dut.rd_data[0])
            ctx.set(dut.rd_en, 0)
            ctx.set(dut.rd_own, 0)
        for name in ("macs", "gated", "pe_busy", "lane_reads", "lane_writes", "psum_hops"):
            counters[name] = ctx.get(getattr(dut, name))

    def feeder(port, key):
        async def bench(ctx):
            for k, step in enumerate(schedule):
                while started[0] < k:
                    await ctx.tick()
                for packet in step[key]:
                    await stream_put(ctx, port, packet, rng=rng, idle=idle)
        return bench

    run_sim(dut, control, feeder(dut.filt, "filt"), feeder(dut.ifm, "ifm"),
            max_cycles=400_000)
    counters["slots"] = sum(step["slots"] for step in schedule)
    counters["zeros"] = sum(step["zeros"] for step in schedule)
    return out, counters, mapping


@pytest.mark.parametrize("name", list(LAYERS))
def test_array_layer(request, name):
    seed, rng = seeded_rng(request.node.name)
    layer, cfg = LAYERS[name]
    nrng = np.random.default_rng(seed)
    alo, ahi = cfg.act_range
    wlo, whi = cfg.wgt_range
    x = nrng.integers(alo, ahi + 1, size=(layer.n, layer.c, layer.h, layer.w))
    x[nrng.random(x.shape) < 0.3] = 0          # some zeros for the gating counters
    w = nrng.integers(wlo, whi + 1, size=(layer.m, layer.c, layer.r, layer.s))
    out, counters, mapping = run_layer(cfg, layer, x.tolist(), w.tolist(), rng=rng,
                                       idle=0.2)
    expect = conv2d(x, w, stride=layer.stride, padding=layer.pad)
    bad = np.argwhere(out != expect)
    assert bad.size == 0, (f"seed={seed} {mapping.summary()}: first mismatch at "
                           f"{tuple(bad[0])}: got {out[tuple(bad[0])]}, "
                           f"expected {expect[tuple(bad[0])]}")
    # Every MAC the schedule issues is performed or zero-gated exactly once.
    gated = counters["zeros"] if cfg.zero_gate else 0
    assert (counters["macs"], counters["gated"]) == (counters["slots"] - gated, gated), \
        f"seed={seed}: {counters}"
