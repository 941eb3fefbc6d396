"""The zero-skip encoder (hw/skip.py) in the Amaranth simulator."""

import dataclasses

import pytest

from gen.config import preset
from hw.skip import ZeroSkipEncoder
from tb.pe_jobs import skip_entries

from .sim import run_sim, seeded_rng, stream_get, stream_put

TINY = dataclasses.replace(preset("tiny"), zero_skip=True)
DENSITIES = (0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 1.0)


def random_jobs(rng, cfg, density, count=6):
    lo, hi = cfg.act_range
    jobs = []
    for _ in range(count):
        n = rng.randint(1, 40)
        jobs.append([(rng.choice([lo, hi, rng.randint(lo, hi)]) or 1)
                     if rng.random() < density else 0 for _ in range(n)])
    return jobs


def beats_of(values, beat, rng):
    """A job's values in beats of random sizes (full beats but for the last one, as the
    array's input generator sends them, or random short ones)."""
    out, i = [], 0
    while i < len(values):
        n = min(len(values) - i, beat if rng.random() < 0.5 else rng.randint(1, beat))
        out.append(values[i:i + n])
        i += n
    return out


def run_encoder(cfg, jobs, rng, *, idle, stall):
    dut = ZeroSkipEncoder(config=cfg)
    B = cfg.beat
    got, cycles, counts = [], [0], {"taken": 0, "values": 0, "zeros": 0}
    plans = [beats_of(job, B, rng) for job in jobs]
    entries = [skip_entries(job, B, [len(b) for b in beats])
               for job, beats in zip(jobs, plans, strict=True)]

    async def feed(ctx):
        left = 0                        # entries of the jobs fed so far
        for job, beats, job_entries in zip(jobs, plans, entries, strict=True):
            ctx.set(dut.nq, len(job))
            for b in beats:
                await stream_put(ctx, dut.i, {"data": b + [0] * (B - len(b)), "n": len(b)},
                                 rng=rng, idle=idle)
            # The next job's nq may change only once this job's last entry has left.
            left += len(job_entries)
            while len(got) < left:
                await ctx.tick()

    async def collect(ctx):
        while len(got) < sum(map(len, entries)):
            e = await stream_get(ctx, dut.o, rng=rng, stall=stall)
            got.append({"value": e.value, "idx": e.idx, "upto": e.upto})

    async def monitor(ctx):
        async for _clk, _rst, taken, values, zeros in ctx.tick().sample(
                dut.taken, dut.values, dut.zeros):
            cycles[0] += 1
            if taken:
                counts["taken"] += 1
                counts["values"] += values
                counts["zeros"] += zeros

    run_sim(dut, feed, collect, background=[monitor])
    return got, [e for es in entries for e in es], plans, counts, cycles[0]


@pytest.mark.parametrize("density", DENSITIES)
@pytest.mark.parametrize("beat", [1, 4, 8])
def test_encoder_entries(request, beat, density):
    cfg = dataclasses.replace(TINY, beat=beat)
    seed, rng = seeded_rng(request.node.name)
    jobs = random_jobs(rng, cfg, density)
    got, expect, plans, counts, _ = run_encoder(cfg, jobs, rng, idle=0.3, stall=0.3)
    assert got == expect, f"seed={seed}"
    assert counts == {"taken": sum(map(len, plans)),
                      "values": sum(map(len, jobs)),
                      "zeros": sum(v == 0 for job in jobs for v in job)}, f"seed={seed}"


@pytest.mark.parametrize("density", [0.0, 0.3, 1.0])
def test_encoder_rate(request, density):
    """Without backpressure a beat takes one cycle per non-zero value it holds, and one if
    none: the entries, marks included, leave at one per cycle."""
    # (The bound is exact but for the feeder's cycle between jobs.)
    cfg = TINY
    seed, rng = seeded_rng(request.node.name)
    jobs = [[0] * 23 + [5], [3] * 9, [0] * 16]
    jobs += random_jobs(rng, cfg, density)
    got, expect, plans, counts, dut_cycles = run_encoder(cfg, jobs, rng, idle=0.0, stall=0.0)
    assert got == expect, f"seed={seed}"
    need = sum(max(1, sum(v != 0 for v in b)) for beats in plans for b in beats)
    # The feeder's handshakes cost one cycle per job boundary at most.
    assert need <= dut_cycles <= need + 3 * len(jobs) + 4, (seed, need, dut_cycles)
