# amaranth: UnusedElaboratable=no
# (the signature tests build PEs that are never elaborated)
import dataclasses

import pytest

from gen.config import preset
from hw.pe import PE1D
from tb.pe_jobs import CFG_KEYS, pe_job_streams, random_pe_jobs

from .sim import run_sim, seeded_rng, stream_get, stream_put

TINY = preset("tiny")
VARIANTS = {
    "tiny": TINY,
    "comb-product": dataclasses.replace(TINY, product_reg=False, zero_gate=False),
    "uint-act": dataclasses.replace(TINY, act_signed=False, act_width=4, wgt_width=6),
    # Smallest legal ifmap spad: the window never has a spare slot to prefetch into.
    "tight-spad": dataclasses.replace(TINY, ifmap_spad=5, filter_spad=5, psum_spad=4),
    # One psum entry: each sum must drain before the next one may start.
    "one-psum": dataclasses.replace(TINY, psum_spad=1),
    # Eyeriss's PE: 16-bit operands, spads 224/12/24, filters up to 11 wide.
    "eyeriss": preset("eyeriss"),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("idle,stall", [(0.0, 0.0), (0.5, 0.5), (0.0, 0.9)],
                         ids=["free", "random", "slow-sink"])
def test_pe_random_jobs(request, variant, idle, stall):
    cfg = VARIANTS[variant]
    seed, rng = seeded_rng(request.node.name)
    jobs = random_pe_jobs(rng, cfg, 12)
    dut = PE1D(config=cfg)
    got = []
    counters = []

    async def control(ctx):
        for job in jobs:
            ctx.set(dut.cfg, {k: job[k] for k in CFG_KEYS})
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            await ctx.tick().until(dut.done)
            counters.append((ctx.get(dut.macs), ctx.get(dut.gated)))

    async def feed_wgt(ctx):
        for job in jobs:
            for v in pe_job_streams(job)[0]:
                await stream_put(ctx, dut.wgt, v, rng=rng, idle=idle)

    async def feed_act(ctx):
        for job in jobs:
            for v in pe_job_streams(job)[1]:
                await stream_put(ctx, dut.act, v, rng=rng, idle=idle)

    async def feed_psum(ctx):
        for job in jobs:
            for v in job["psum"]:
                await stream_put(ctx, dut.psum_in, v, rng=rng, idle=idle)

    async def collect(ctx):
        for job in jobs:
            got.append([await stream_get(ctx, dut.psum_out, rng=rng, stall=stall)
                        for _ in range(job["f"] * job["p"])])

    pulses = [0, 0]

    async def count(ctx):
        async for _clk, _rst, fire, skip in ctx.tick().sample(dut.fire, dut.skip):
            pulses[0] += fire
            pulses[1] += skip

    run_sim(dut, control, feed_wgt, feed_act, feed_psum, collect, background=[count])
    assert len(got) == len(jobs)
    macs = gated = 0
    for i, (job, out, cnt) in enumerate(zip(jobs, got, counters, strict=True)):
        assert out == job["expect"], f"seed={seed} job {i}: {job}"
        gz = job["zeros"] if cfg.zero_gate else 0
        macs, gated = macs + job["macs"] - gz, gated + gz
        assert cnt == (macs, gated), f"seed={seed} job {i} counters"
    assert tuple(pulses) == (macs, gated), f"seed={seed}: fire/skip pulses"


def test_counters_can_be_left_out():
    cfg = preset("tiny")
    assert "macs" in PE1D(config=cfg).signature.members
    assert {"macs", "gated"}.isdisjoint(PE1D(config=cfg, counters=False).signature.members)
