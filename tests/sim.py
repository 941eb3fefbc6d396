"""Test helpers: run an Amaranth-simulator testbench, move stream data, seed a random
generator, and compare outputs bit for bit."""

import contextlib
import os
import random

import numpy as np
from amaranth.sim import Simulator

__all__ = ["run_sim", "stream_put", "stream_get", "seeded_rng", "assert_bit_exact"]


def seeded_rng(request_name, base=None):
    """A ``random.Random`` whose seed is printed, so a failing case can be replayed.

    The seed is ``ROWLOOM_SEED`` from the environment if set, else derived from the test
    name, so every case is reproducible without the variable too.
    """
    seed = int(os.environ.get("ROWLOOM_SEED", base if base is not None else
                              sum(map(ord, request_name)) * 7919 % (1 << 31)))
    print(f"seed={seed} (replay with ROWLOOM_SEED={seed})")
    return seed, random.Random(seed)


def run_sim(dut, *testbenches, background=(), max_cycles=200_000, vcd=None):
    """Simulate ``dut`` with a 1 MHz clock on ``sync`` until every testbench returns.

    ``background`` testbenches (monitors) run alongside without keeping the simulation
    alive.

    The run fails after ``max_cycles`` cycles, so a design that deadlocks fails its test
    instead of hanging it. ``WAVES=1`` writes ``waves.vcd``.
    """
    sim = Simulator(dut)
    sim.add_clock(1e-6)
    for tb in testbenches:
        sim.add_testbench(tb)
    for tb in background:
        sim.add_testbench(tb, background=True)

    cycles = 0

    async def count(ctx):
        nonlocal cycles
        async for _ in ctx.tick():
            cycles += 1
    sim.add_testbench(count, background=True)

    if vcd is None and os.environ.get("WAVES") == "1":
        vcd = "waves.vcd"
    with sim.write_vcd(vcd) if vcd else contextlib.nullcontext():
        while sim.advance():
            if cycles > max_cycles:
                raise AssertionError(f"simulation did not finish within {max_cycles} cycles")


async def stream_put(ctx, stream, payload, *, rng=None, idle=0.0):
    """Transfer ``payload`` into ``stream``, first leaving it idle for random cycles."""
    while rng is not None and rng.random() < idle:
        await ctx.tick()
    ctx.set(stream.valid, 1)
    ctx.set(stream.payload, payload)
    await ctx.tick().until(stream.ready)
    ctx.set(stream.valid, 0)


async def stream_get(ctx, stream, *, rng=None, stall=0.0):
    """Take one payload from ``stream``, first holding ready low for random cycles."""
    while rng is not None and rng.random() < stall:
        await ctx.tick()
    ctx.set(stream.ready, 1)
    payload, = await ctx.tick().sample(stream.payload).until(stream.valid)
    ctx.set(stream.ready, 0)
    return payload


def assert_bit_exact(got, expect, seed, what=""):
    """``got`` equal to ``expect`` everywhere; else fail naming the seed, ``what``, how many
    values differ and the first of them. The shapes must be equal (no broadcasting)."""
    assert got.shape == expect.shape, f"seed={seed} {what}: shape {got.shape}, expected {expect.shape}"
    bad = np.argwhere(got != expect)
    if bad.size:
        first = tuple(int(i) for i in bad[0])
        raise AssertionError(f"seed={seed} {what}: {len(bad)} mismatches, first at {first}: "
                             f"got {got[first]}, expected {expect[first]}")
