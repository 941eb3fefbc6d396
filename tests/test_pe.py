import dataclasses

import pytest

from gen.config import preset
from hw.pe import PE1D
from tb.pe_jobs import random_pe_jobs

from .sim import run_sim, seeded_rng, stream_get, stream_put

TINY = preset("tiny")
VARIANTS = {
    "tiny": TINY,
    "comb-product": dataclasses.replace(TINY, product_reg=False, zero_gate=False),
    "uint-act": dataclasses.replace(TINY, act_signed=False, act_width=4, wgt_width=6),
    # Smallest legal ifmap spad: the window never has a spare slot to prefetch into.
    "tight-spad": dataclasses.replace(TINY, ifmap_spad=5, filter_spad=5, psum_spad=4),
}


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("pressure", [0.0, 0.5])
def test_pe_random_jobs(request, variant, pressure):
    cfg = VARIANTS[variant]
    seed, rng = seeded_rng(request.node.name)
    jobs = random_pe_jobs(rng, cfg, 12)
    dut = PE1D(config=cfg)
    got = []
    counters = []

    async def control(ctx):
        for job in jobs:
            ctx.set(dut.cfg, {k: job[k] for k in ("s", "f", "u", "q", "psum_en")})
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            await ctx.tick().until(dut.done)
            counters.append((ctx.get(dut.macs), ctx.get(dut.gated)))

    async def feed_wgt(ctx):
        for job in jobs:
            for row in job["wgt"]:
                for v in row:
                    await stream_put(ctx, dut.wgt, v, rng=rng, idle=pressure)

    async def feed_act(ctx):
        for job in jobs:
            for row in job["act"]:
                for v in row:
                    await stream_put(ctx, dut.act, v, rng=rng, idle=pressure)

    async def feed_psum(ctx):
        for job in jobs:
            for v in job["psum"]:
                await stream_put(ctx, dut.psum_in, v, rng=rng, idle=pressure)

    async def collect(ctx):
        for job in jobs:
            got.append([await stream_get(ctx, dut.psum_out, rng=rng, stall=pressure)
                        for _ in range(job["f"])])

    run_sim(dut, control, feed_wgt, feed_act, feed_psum, collect)
    assert len(got) == len(jobs)
    macs = gated = 0
    for i, (job, out, cnt) in enumerate(zip(jobs, got, counters, strict=True)):
        assert out == job["expect"], f"seed={seed} job {i}: {job}"
        gz = job["zeros"] if cfg.zero_gate else 0
        macs, gated = macs + job["macs"] - gz, gated + gz
        assert cnt == (macs, gated), f"seed={seed} job {i} counters"
