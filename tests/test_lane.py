"""The psum lane's round-robin arbiter against a direct model (Amaranth simulator)."""

import pytest
from amaranth import Module, Signal

from hw.lane import round_robin

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
