# amaranth: UnusedElaboratable=no
# (the signature tests build PEs that are never elaborated)
import dataclasses

import pytest

from gen.config import preset
from hw.pe import PE1D
from tb.pe_jobs import (CFG_KEYS, pe_job_expect, pe_job_fits, pe_job_streams,
                        random_pe_jobs)

from .sim import run_sim, seeded_rng, stream_get, stream_put

TINY = preset("tiny")
VARIANTS = {
    "tiny": TINY,
    "comb-product": dataclasses.replace(TINY, product_reg=False, zero_gate=False),
    # Registered multiplier operands (the ULX3S design): the spads' synchronous read
    # ports, two cycles to each write-back (one without the product register).
    "operand-reg": dataclasses.replace(TINY, operand_reg=True),
    "operand-reg-comb-product": dataclasses.replace(TINY, operand_reg=True,
                                                    product_reg=False),
    "uint-act": dataclasses.replace(TINY, act_signed=False, act_width=4, wgt_width=6),
    # psum_in taken only while the output register is empty (the UP5K design).
    "drain-cut": dataclasses.replace(TINY, drain_cut=True, operand_reg=True),
    # Smallest legal ifmap spad: the window never has a spare slot to prefetch into.
    "tight-spad": dataclasses.replace(TINY, ifmap_spad=5, filter_spad=5, psum_spad=4),
    # One psum entry: each sum must drain before the next one may start.
    "one-psum": dataclasses.replace(TINY, psum_spad=1),
    # Eyeriss's PE: 16-bit operands, spads 224/12/24, filters up to 11 wide.
    "eyeriss": preset("eyeriss"),
}


SKIP = dataclasses.replace(TINY, zero_skip=True)
VARIANTS.update({
    "skip": SKIP,
    "skip-comb-product": dataclasses.replace(VARIANTS["comb-product"], zero_skip=True),
    "skip-operand-reg": dataclasses.replace(VARIANTS["operand-reg"], zero_skip=True),
    "skip-drain-cut": dataclasses.replace(VARIANTS["drain-cut"], zero_skip=True),
    "skip-operand-reg-comb-product": dataclasses.replace(
        VARIANTS["operand-reg-comb-product"], zero_skip=True),
    "skip-tight-spad": dataclasses.replace(VARIANTS["tight-spad"], zero_skip=True,
                                           skip_slack=0),
    "skip-one-psum": dataclasses.replace(VARIANTS["one-psum"], zero_skip=True, skip_slack=0),
    "skip-eyeriss": dataclasses.replace(VARIANTS["eyeriss"], zero_skip=True),
})
DENSITIES = (0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 1.0)


def run_pe_jobs(cfg, jobs, *, seed, rng, idle, stall, monitor=None, queue=False):
    """Run ``jobs`` back to back on a PE built for ``cfg``, with random idle cycles on the
    inputs and backpressure on ``psum_out``; check every output and the counters.
    ``monitor(dut)``, if given, makes a background testbench that watches the PE. With
    ``queue``, each job after the first is started while the one before runs (jobs of
    one shape), as soon as no run is queued."""
    dut = PE1D(config=cfg)
    got = []
    counters = []

    async def control(ctx):
        for job in jobs:
            if queue:
                await ctx.tick().until(~dut.queued)
            ctx.set(dut.cfg, {k: job[k] for k in CFG_KEYS})
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            if not queue:
                await ctx.tick().until(dut.done)
        while len(counters) < len(jobs):
            await ctx.tick()

    async def dones(ctx):
        async for _clk, _rst, done, macs, gated in ctx.tick().sample(
                dut.done, dut.macs, dut.gated):
            if done:
                counters.append((macs, gated))

    async def feed_wgt(ctx):
        for job in jobs:
            for v in pe_job_streams(job)[0]:
                await stream_put(ctx, dut.wgt, v, rng=rng, idle=idle)

    async def feed_act(ctx):
        for job in jobs:
            for v in pe_job_streams(job, cfg.zero_skip and cfg.beat)[1]:
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

    # A psum_out transfer offered and not taken stays offered, with the same value. With
    # drain_cut, psum_in is taken only while psum_out offers nothing.
    held, broken, cut = [None], [], []

    async def hold(ctx):
        async for _clk, _rst, valid, ready, payload, in_ready in ctx.tick().sample(
                dut.psum_out.valid, dut.psum_out.ready, dut.psum_out.payload,
                dut.psum_in.ready):
            if held[0] is not None and (not valid or payload != held[0]):
                broken.append((held[0], valid, payload))
            held[0] = payload if valid and not ready else None
            if cfg.drain_cut and in_ready and valid:
                cut.append(payload)

    run_sim(dut, control, feed_wgt, feed_act, feed_psum, collect,
            background=[count, dones, hold] + ([monitor(dut)] if monitor else []))
    assert not broken, f"seed={seed}: psum_out changed while not taken: {broken[:3]}"
    assert not cut, f"seed={seed}: psum_in ready beside a valid psum_out (drain_cut)"
    assert len(got) == len(jobs)
    fire = skip = macs = gated = 0
    for i, (job, out, cnt) in enumerate(zip(jobs, got, counters, strict=True)):
        assert out == job["expect"], f"seed={seed} job {i}: {job}"
        if cfg.zero_skip:
            # Only non-zero products issue, plus one zero product per empty window.
            nz, empty = job["macs"] - job["zeros"], job["empty"]
            fire, skip = fire + nz, skip + empty
            macs += nz + (0 if cfg.zero_gate else empty)
            gated += empty if cfg.zero_gate else 0
        else:
            gz = job["zeros"] if cfg.zero_gate else 0
            macs, gated = macs + job["macs"] - gz, gated + gz
            fire, skip = macs, gated
        assert cnt == (macs, gated), f"seed={seed} job {i} counters"
    assert tuple(pulses) == (fire, skip), f"seed={seed}: fire/skip pulses"


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("idle,stall", [(0.0, 0.0), (0.5, 0.5), (0.0, 0.9)],
                         ids=["free", "random", "slow-sink"])
def test_pe_random_jobs(request, variant, idle, stall):
    cfg = VARIANTS[variant]
    seed, rng = seeded_rng(request.node.name)
    jobs = random_pe_jobs(rng, cfg, 12)
    run_pe_jobs(cfg, jobs, seed=seed, rng=rng, idle=idle, stall=stall)


@pytest.mark.parametrize("density", DENSITIES)
@pytest.mark.parametrize("variant", ["skip", "skip-tight-spad", "tiny"])
def test_pe_densities(request, variant, density):
    cfg = VARIANTS[variant]
    seed, rng = seeded_rng(request.node.name)
    jobs = random_pe_jobs(rng, cfg, 10, density=density)
    run_pe_jobs(cfg, jobs, seed=seed, rng=rng, idle=0.3, stall=0.3)


# Structured inputs: (shape, act[c][i] pattern as a function of (c, i, n_in)).
PATTERNS = {
    "all-zero": lambda c, i, n: 0,
    "final-zero": lambda c, i, n: 0 if i == n - 1 else 3,
    "final-only": lambda c, i, n: 5 if (i == n - 1 and c == 0) else 0,
    "single": lambda c, i, n: -7 if (i == n // 2 and c == 0) else 0,
    "first-only": lambda c, i, n: 9 if (i == 0 and c == 0) else 0,
    "zero-rows": lambda c, i, n: 0 if c % 2 else (i % 3) - 1,
    "runs": lambda c, i, n: 0 if (i // 4) % 2 else i + c + 1,
}
PATTERN_SHAPES = [
    dict(s=3, f=6, u=1, p=2, q=2, psum_en=True),
    dict(s=1, f=5, u=3, p=1, q=2, psum_en=False),     # stride > filter: values between windows
    dict(s=2, f=4, u=4, p=3, q=1, psum_en=True),
    dict(s=5, f=1, u=1, p=1, q=1, psum_en=False),
    dict(s=4, f=7, u=2, p=2, q=1, psum_en=False),
]


@pytest.mark.parametrize("pattern", list(PATTERNS))
@pytest.mark.parametrize("variant", ["skip", "skip-tight-spad"])
def test_pe_skip_patterns(request, variant, pattern):
    cfg = VARIANTS[variant]
    seed, rng = seeded_rng(request.node.name)
    shapes = [sh for sh in PATTERN_SHAPES if pe_job_fits(cfg, sh)]
    jobs = random_pe_jobs(rng, cfg, len(shapes), shapes=shapes)
    fn = PATTERNS[pattern]
    for job in jobs:
        n = len(job["act"][0])
        job["act"] = [[fn(c, i, n) for i in range(n)] for c in range(job["q"])]
        job["expect"] = pe_job_expect(job)
        u, s, f, p = job["u"], job["s"], job["f"], job["p"]
        job["zeros"] = p * sum(row[i * u + j] == 0 for row in job["act"]
                               for i in range(f) for j in range(s))
        job["empty"] = p * sum(all(row[i * u + j] == 0 for row in job["act"]
                                   for j in range(s)) for i in range(f))
    run_pe_jobs(cfg, jobs, seed=seed, rng=rng, idle=0.3, stall=0.3)


def test_counters_can_be_left_out():
    cfg = preset("tiny")
    assert "macs" in PE1D(config=cfg).signature.members
    assert {"macs", "gated"}.isdisjoint(PE1D(config=cfg, counters=False).signature.members)


@pytest.mark.parametrize("variant", ["tiny", "skip", "one-psum", "skip-tight-spad",
                                     "operand-reg", "drain-cut", "skip-drain-cut"])
@pytest.mark.parametrize("stall", [0.0, 0.9], ids=["free", "slow-sink"])
def test_pe_runs_queued_job(request, variant, stall):
    """A start while busy queues another run of the job with its own ``psum_en``; it
    begins two cycles after the current run's last product has issued (``busy`` stays high),
    while that run's sums still drain, and every run's outputs are exact. A start while
    a run is queued is not lost: the testbench waits for ``queued`` to fall before it
    starts the next. The overlap is checked behind a slow sink: with a free sink a run's
    last sums are out before the next run's first product issues (the run ends the cycle
    after its last product's conditions are registered, and a zero-skip PE must first
    take and look past the next run's entries)."""
    cfg = VARIANTS[variant]
    seed, rng = seeded_rng(request.node.name)
    shape = next(sh for sh in (dict(s=3, f=5, u=1, p=2, q=2), dict(s=2, f=5, u=1, p=1, q=2))
                 if pe_job_fits(cfg, dict(sh, psum_en=True)))
    jobs = random_pe_jobs(rng, cfg, 6, shapes=[dict(shape, psum_en=False),
                                               dict(shape, psum_en=True)])
    per_run = jobs[0]["f"] * jobs[0]["p"]
    seen = {"queued": 0, "idle_between": 0, "overlap": 0}

    def monitor(dut):
        async def watch(ctx):
            runs = outs = 0
            async for _clk, _rst, queued, busy, done, issue, out in ctx.tick().sample(
                    dut.queued, dut.busy, dut.done, dut.fire | dut.skip,
                    dut.psum_out.valid & dut.psum_out.ready):
                seen["queued"] += queued
                # A product of a later run while an earlier run's sums are still out.
                seen["overlap"] += issue and outs < runs * per_run
                runs += done
                outs += out
                if 0 < runs < len(jobs) and not busy:
                    seen["idle_between"] += 1
        return watch

    run_pe_jobs(cfg, jobs, seed=seed, rng=rng, idle=0.0, stall=stall, monitor=monitor,
                queue=True)
    assert seen["queued"] > 0 and seen["idle_between"] == 0, (seed, seen)
    if stall:
        assert seen["overlap"] > 0, (seed, seen)


@pytest.mark.parametrize("slack", [0, 5])
def test_skip_slack_holds_more_sums(request, slack):
    """A zero-skip PE holds ``psum_spad + skip_slack`` finished sums, besides the one in
    its output register, before it waits for the PE above: with the output never taken
    and every activation non-zero, ``held`` rises after exactly that many sums of
    ``q * S`` products each, and no product issues while it is high."""
    cfg = dataclasses.replace(SKIP, psum_spad=4, skip_slack=slack)
    seed, rng = seeded_rng(request.node.name)
    job, = random_pe_jobs(rng, cfg, 1, shapes=[dict(s=2, f=8, u=1, p=2, q=2, psum_en=False)],
                          density=1.0)
    dut = PE1D(config=cfg)
    seen = {"products": None, "after": 0}

    async def control(ctx):
        ctx.set(dut.cfg, {k: job[k] for k in CFG_KEYS})
        ctx.set(dut.start, 1)
        await ctx.tick()
        ctx.set(dut.start, 0)
        products = 0
        for _ in range(400):
            issue, held = ctx.get(dut.fire | dut.skip), ctx.get(dut.held)
            if held and seen["products"] is None:
                seen["products"] = products
            if seen["products"] is not None:
                seen["after"] += issue
            products += issue
            await ctx.tick()

    def feeder(port, values):
        async def feed(ctx):   # background: it may be cut off mid-stream
            i = 0
            ctx.set(port.valid, 1)
            ctx.set(port.payload, values[0])
            async for _clk, _rst, ready in ctx.tick().sample(port.ready):
                i += ready
                ctx.set(port.valid, i < len(values))
                if i < len(values):
                    ctx.set(port.payload, values[i])
        return feed

    wgt, act = pe_job_streams(job, cfg.beat)
    run_sim(dut, control, background=[feeder(dut.wgt, wgt), feeder(dut.act, act)])
    assert seen["products"] == (4 + slack + 1) * job["qs"], (seed, seen)
    assert seen["after"] == 0, (seed, seen)


@pytest.mark.parametrize("variant", ["tiny", "eyeriss", "skip"])
def test_pe_loads_next_job_weights_while_computing(request, variant):
    """The filter spad is a ring: with room for two jobs' weights, the whole of the next
    job's weights goes in while the current job computes, so the next job never waits for
    its filters, whether the weights arrive before or after it starts."""
    cfg = VARIANTS[variant]
    seed, rng = seeded_rng(request.node.name)
    shape = dict(s=2, f=6, u=1, p=2, q=2, psum_en=False)
    jobs = random_pe_jobs(rng, cfg, 3, shapes=[shape])
    pqs = jobs[0]["pqs"]
    assert 2 * pqs <= cfg.filter_spad
    taken, done_at = [], []

    def monitor(dut):
        async def watch(ctx):
            cycle = 0
            async for _clk, _rst, take, done in ctx.tick().sample(
                    dut.wgt.valid & dut.wgt.ready, dut.done):
                cycle += 1
                if take:
                    taken.append(cycle)
                if done:
                    done_at.append(cycle)
        return watch

    run_pe_jobs(cfg, jobs, seed=seed, rng=rng, idle=0.0, stall=0.0, monitor=monitor)
    # Jobs 2 and 3's weights are all in before job 1 (resp. 2) is done.
    for j in (1, 2):
        assert taken[(j + 1) * pqs - 1] < done_at[j - 1], (seed, taken, done_at)
