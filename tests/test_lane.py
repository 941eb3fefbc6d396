"""The psum lane (Amaranth simulator): its round-robin arbiter against a direct model,
and the read-back of passes queued behind a held readout."""

import pytest
from amaranth import Module, Signal, signed

from gen.config import preset
from hw.lane import PsumLane, round_robin

from .sim import run_sim, seeded_rng


@pytest.mark.parametrize("n", [1, 2, 3, 8, 12])
def test_round_robin(request, n):
    seed, rng = seeded_rng(request.node.name)
    m = Module()
    reqs = [Signal(name=f"req_{i}") for i in range(n)]
    grant, any_ = round_robin(m, "rr", reqs)

    async def bench(ctx):
        last = 0            # the model: as if requester 0 had been granted at reset
        for cycle in range(2000):
            want = [rng.random() < 0.4 for _ in range(n)]
            for sig, w in zip(reqs, want, strict=True):
                ctx.set(sig, w)
            after = [i for i in range(n) if want[i] and i > last]
            first = [i for i in range(n) if want[i]]
            expect = (after or first or [None])[0]
            assert ctx.get(any_) == (expect is not None), f"seed={seed} cycle {cycle}"
            if expect is not None:
                assert ctx.get(grant) == expect, \
                    f"seed={seed} cycle {cycle}: requests {want} after {last}"
                last = expect
            await ctx.tick()
    run_sim(m, bench)


@pytest.mark.parametrize("queued", [1, 2, 3])
def test_passes_queued_while_the_readout_owns_the_reads(request, queued):
    """A chain's bottom reads back every pass queued behind the first (``again``), however
    many queue while the readout holds the lane's read ports (``rd_own``): a bottom PE
    can finish pass after pass without its reads. Each pass reads the values the chain's
    top wrote in the pass before, and no more."""
    seed, rng = seeded_rng(request.node.name)
    cfg = preset("tiny")
    R, fp = cfg.rows, 3
    lane = PsumLane(config=cfg, shape=signed(24))
    bottom = lane.r[R - 1]

    async def write_pass(ctx, values):
        for v in values:
            ctx.set(lane.w[0].valid, 1)
            ctx.set(lane.w[0].payload, v)
            await ctx.tick().until(lane.w[0].ready)
        ctx.set(lane.w[0].valid, 0)

    async def read_pass(ctx):
        got = []
        ctx.set(bottom.ready, 1)
        for _ in range(200):
            if len(got) == fp:
                break
            if ctx.get(bottom.valid):
                got.append(ctx.get(bottom.payload))
            await ctx.tick()
        ctx.set(bottom.ready, 0)
        return got

    async def bench(ctx):
        # One chain down the column: top row 0, bottom row R - 1, entries from 0.
        ctx.set(lane.top, 1)
        ctx.set(lane.bottom, 1 << (R - 1))
        for y in range(R):
            ctx.set(lane.base[y], 0)
        ctx.set(lane.fp, fp)
        await ctx.tick()
        ctx.set(lane.start, 1)                       # pass 0: no accumulation
        await ctx.tick()
        ctx.set(lane.start, 0)
        ctx.set(lane.busy, 1)
        last = [rng.randint(-1000, 999) for _ in range(fp)]
        await write_pass(ctx, last)
        ctx.set(lane.rd_own, 1)                      # the readout holds the reads
        ctx.set(lane.acc, 1)
        for _ in range(queued):                      # passes 1..queued queue behind
            ctx.set(lane.again, 1)
            await ctx.tick()
            ctx.set(lane.again, 0)
            await ctx.tick()
        for _ in range(5):
            assert not ctx.get(bottom.valid), f"seed={seed}: read while rd_own"
            await ctx.tick()
        ctx.set(lane.rd_own, 0)
        for k in range(queued):
            got = await read_pass(ctx)
            assert got == last, f"seed={seed}: pass {k + 1} read {got}, expected {last}"
            last = [rng.randint(-1000, 999) for _ in range(fp)]
            await write_pass(ctx, last)
        # Every queued pass has read its values: what the last pass wrote stays.
        assert await read_pass(ctx) == [], f"seed={seed}: read past the queued passes"
    run_sim(lane, bench)
