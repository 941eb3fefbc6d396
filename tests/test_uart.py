# amaranth: UnusedElaboratable=no
"""The 8N1 UART receiver and transmitter against a model of the serial line."""

from itertools import pairwise

import pytest
from amaranth import Module

from hw.uart import UARTRx, UARTTx

from .sim import run_sim, seeded_rng

PERIOD = 1e-6       # run_sim's clock
DIVISORS = [4, 5, 8, 13]


async def line_send(ctx, line, byte, *, divisor, skew=0.0, stop=1):
    """Drive one frame of ``byte`` on ``line`` at ``divisor * (1 + skew)`` clock periods per
    bit (with ``stop=0``, a framing error); the line is left high."""
    bit_time = divisor * PERIOD * (1 + skew)
    for bit in [0, *((byte >> i) & 1 for i in range(8)), stop]:
        ctx.set(line, bit)
        await ctx.delay(bit_time)
    ctx.set(line, 1)


async def line_recv(ctx, line, *, divisor, on_start=None):
    """Wait for a frame on ``line`` and return its byte, sampling each bit at its centre;
    fails on a start bit that does not last or a low stop bit. Returns from the middle of
    the stop bit, so the next frame's start is not missed. ``on_start()`` is called at the
    falling edge."""
    await ctx.negedge(line)
    if on_start is not None:
        on_start()
    await ctx.delay(divisor * PERIOD / 2)
    assert ctx.get(line) == 0, "start bit too short"
    byte = 0
    for i in range(8):
        await ctx.delay(divisor * PERIOD)
        byte |= ctx.get(line) << i
    await ctx.delay(divisor * PERIOD)
    assert ctx.get(line) == 1, f"stop bit of 0x{byte:02x} is low"
    return byte


def _collect(rx, got, errors):
    """Testbench taking every byte from ``rx.o`` and counting ``error`` pulses."""
    async def sink(ctx):
        ctx.set(rx.o.ready, 1)
        async for _, _, valid, payload, error in ctx.tick().sample(rx.o.valid, rx.o.payload,
                                                                    rx.error):
            if valid:
                got.append(payload)
            errors[0] += error
    return sink


@pytest.mark.parametrize("skew", [-0.015, 0.0, 0.015], ids=["fast", "exact", "slow"])
@pytest.mark.parametrize("divisor", DIVISORS)
def test_rx(request, divisor, skew):
    """Random bytes in back-to-back frames from a sender whose bit time is off by ``skew``,
    with its edges anywhere within a clock period."""
    seed, rng = seeded_rng(request.node.name)
    dut = UARTRx(divisor=divisor)
    sent = [rng.randrange(256) for _ in range(40)]
    got, errors = [], [0]

    async def sender(ctx):
        await ctx.delay(rng.random() * 7 * PERIOD)
        for byte in sent:
            await line_send(ctx, dut.rx, byte, divisor=divisor, skew=skew)
        await ctx.tick().repeat(2 * divisor)

    run_sim(dut, sender, background=[_collect(dut, got, errors)])
    assert got == sent, f"seed={seed}"
    assert errors[0] == 0


@pytest.mark.parametrize("divisor", DIVISORS)
def test_tx(request, divisor):
    """Random bytes with random gaps come out as frames; a byte offered while a frame is
    sent starts right after its stop bit, ``10 * divisor`` cycles after that frame's start."""
    seed, rng = seeded_rng(request.node.name)
    dut = UARTTx(divisor=divisor)
    sent = [rng.randrange(256) for _ in range(40)]
    gaps = [rng.choice([0, 0, 0, rng.randrange(12 * divisor, 20 * divisor)]) for _ in sent]
    got, starts, cycles = [], [], [0]

    async def count(ctx):
        async for _ in ctx.tick():
            cycles[0] += 1

    async def source(ctx):
        for byte, gap in zip(sent, gaps, strict=True):
            await ctx.tick().repeat(gap + 1)
            ctx.set(dut.i.valid, 1)
            ctx.set(dut.i.payload, byte)
            await ctx.tick().until(dut.i.ready)
            ctx.set(dut.i.valid, 0)

    async def line(ctx):
        assert ctx.get(dut.tx) == 1
        while len(got) < len(sent):
            got.append(await line_recv(ctx, dut.tx, divisor=divisor,
                                       on_start=lambda: starts.append(cycles[0])))

    run_sim(dut, source, line, background=[count])
    assert got == sent, f"seed={seed}"
    spacing = [b - a for a, b in pairwise(starts)]
    assert all(s == 10 * divisor for s, gap in zip(spacing, gaps[1:], strict=True) if gap == 0), \
        f"seed={seed}: frames offered back to back are not: {spacing}"
    assert all(s > 10 * divisor for s, gap in zip(spacing, gaps[1:], strict=True) if gap), \
        f"seed={seed}: {spacing}"


@pytest.mark.parametrize("divisor", DIVISORS)
def test_loopback(request, divisor):
    """Transmitter into receiver: random bytes, mostly back to back."""
    seed, rng = seeded_rng(request.node.name)
    m = Module()
    m.submodules.tx = tx = UARTTx(divisor=divisor)
    m.submodules.rx = rx = UARTRx(divisor=divisor)
    m.d.comb += rx.rx.eq(tx.tx)
    sent = [rng.randrange(256) for _ in range(60)]
    got, errors = [], [0]

    async def source(ctx):
        for byte in sent:
            while rng.random() < 0.2:
                await ctx.tick().repeat(rng.randrange(1, 4 * divisor))
            ctx.set(tx.i.valid, 1)
            ctx.set(tx.i.payload, byte)
            await ctx.tick().until(tx.i.ready)
            ctx.set(tx.i.valid, 0)
        await ctx.tick().repeat(12 * divisor)

    run_sim(m, source, background=[_collect(rx, got, errors)])
    assert got == sent, f"seed={seed}"
    assert errors[0] == 0


@pytest.mark.parametrize("divisor", [4, 8])
def test_rx_framing_error_and_break(request, divisor):
    """A low stop bit drops its byte and counts a framing error, and so does a break (the
    line low for many frames), once; the frames after each are received once the line has
    been high."""
    seed, rng = seeded_rng(request.node.name)
    dut = UARTRx(divisor=divisor)
    good = [rng.randrange(256) for _ in range(3)]
    got, errors = [], [0]

    async def sender(ctx):
        await line_send(ctx, dut.rx, good[0], divisor=divisor)
        await line_send(ctx, dut.rx, rng.randrange(256), divisor=divisor, stop=0)
        await ctx.delay(divisor * PERIOD)     # a start bit needs a high line before it
        await line_send(ctx, dut.rx, good[1], divisor=divisor)
        ctx.set(dut.rx, 0)
        await ctx.delay(25 * divisor * PERIOD)
        ctx.set(dut.rx, 1)
        await ctx.delay(divisor * PERIOD)
        await line_send(ctx, dut.rx, good[2], divisor=divisor)
        await ctx.tick().repeat(2 * divisor)
        assert ctx.get(dut.frame_errors) == 2
        assert ctx.get(dut.overruns) == 0

    run_sim(dut, sender, background=[_collect(dut, got, errors)])
    assert got == good, f"seed={seed}"
    assert errors[0] == 2


def test_rx_glitch_is_not_a_start_bit():
    """A low pulse shorter than half a bit is ignored."""
    divisor = 8
    dut = UARTRx(divisor=divisor)
    got, errors = [], [0]

    async def sender(ctx):
        await ctx.delay(PERIOD / 2)
        ctx.set(dut.rx, 0)
        await ctx.delay(2 * PERIOD)
        ctx.set(dut.rx, 1)
        await ctx.delay(20 * divisor * PERIOD)
        await line_send(ctx, dut.rx, 0x5A, divisor=divisor)
        await ctx.tick().repeat(2 * divisor)

    run_sim(dut, sender, background=[_collect(dut, got, errors)])
    assert got == [0x5A]
    assert errors[0] == 0


def test_rx_overrun():
    """A byte that completes while the previous one is not yet taken is dropped and
    counted; the held byte is not disturbed."""
    divisor = 4
    dut = UARTRx(divisor=divisor)

    async def bench(ctx):
        for byte in (0x11, 0x22, 0x33):
            await line_send(ctx, dut.rx, byte, divisor=divisor)
        await ctx.tick().repeat(divisor)
        assert ctx.get(dut.o.valid) == 1 and ctx.get(dut.o.payload) == 0x11
        assert ctx.get(dut.overruns) == 2
        ctx.set(dut.o.ready, 1)
        await ctx.tick()
        assert ctx.get(dut.o.valid) == 0
        assert ctx.get(dut.frame_errors) == 0

    run_sim(dut, bench)


@pytest.mark.parametrize("cls", [UARTRx, UARTTx])
def test_divisor_checked(cls):
    with pytest.raises(ValueError, match="divisor must be in 4"):
        cls(divisor=3)
    for bad in (4.0, True, "8"):
        with pytest.raises(TypeError, match="divisor must be an integer"):
            cls(divisor=bad)
    assert cls(divisor=4).divisor == 4
