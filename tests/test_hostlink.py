# amaranth: UnusedElaboratable=no
"""The UART host link: values and messages on the host side; the link hardware against a
stand-in accelerator (every command and message, credit, errors and resynchronisation);
and the whole path bit by bit, the driver talking over a simulated serial line to
``HostLinkTop`` with the tiny accelerator, checked against the golden model."""

import dataclasses
from collections import deque
from types import SimpleNamespace

import numpy as np
import pytest
from amaranth.back import verilog
from amaranth.sim import Simulator

from gen.config import preset
from gen.driver import compile_layer
from gen.hostlink import (MAX_ITEMS, Counters, Credit, DeviceError, Done, HostLinkDriver,
                          HostLinkError, Info, MessageReader, Out, encode_counters,
                          encode_load, encode_ping, encode_start, encode_weights, encode_write,
                          pack_values, unpack_values)
from hw.accel import BIAS_DATA, Accelerator
from hw.hostlink import Cmd, Error, HostLink, HostLinkTop, LinkFormat, Msg, info_values
from tb.accel_run import expected_output, random_layer, random_layer_data

from .sim import assert_bit_exact, seeded_rng
from .test_uart import PERIOD, line_recv, line_send

TINY = preset("tiny")
CONFIGS = {
    "tiny": TINY,
    # Unsigned inputs wider than a byte, 3-bit weights, 5-byte counters, zero skipping.
    "u12-w3-skip": dataclasses.replace(TINY, act_width=12, act_signed=False, wgt_width=3,
                                       counter_width=40, zero_skip=True),
    # Both operands unsigned, so outputs are unsigned too.
    "unsigned": dataclasses.replace(TINY, act_signed=False, wgt_signed=False, beat=2),
}
BREAK = object()        # in a port's queue: a framing error instead of a byte


# -- host side alone ---------------------------------------------------------------------------

def test_pack_round_trip(request):
    seed, rng = seeded_rng(request.node.name)
    for _ in range(300):
        width, signed = rng.randrange(2, 65), rng.random() < 0.5
        nbytes = (width + 7) // 8 + rng.randrange(2)
        lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
        values = [lo, hi, 0, *(rng.randint(lo, hi) for _ in range(5))]
        data = pack_values(values, width=width, signed=signed, nbytes=nbytes)
        assert len(data) == nbytes * len(values)
        assert unpack_values(data, nbytes=nbytes, signed=signed) == values, (seed, width)
        for bad in (lo - 1, hi + 1):
            with pytest.raises(ValueError, match="does not fit"):
                pack_values([bad], width=width, signed=signed, nbytes=nbytes)


def test_encoders_check_and_split():
    with pytest.raises(ValueError, match="register address"):
        encode_write([(BIAS_DATA + 1, 0)], TINY)
    with pytest.raises(ValueError, match="beat"):
        encode_weights([[0] * (TINY.beat + 1)], TINY)
    with pytest.raises(ValueError, match="does not fit"):
        encode_load([TINY.act_range[1] + 1], TINY)
    # More beats than one command carries: a full command, then the rest.
    f = LinkFormat.of(TINY)
    data = encode_weights([[1] * TINY.beat] * (MAX_ITEMS + 3), TINY)
    second = 3 + MAX_ITEMS * f.item_bytes(Cmd.WEIGHTS)
    assert data[:3] == bytes([Cmd.WEIGHTS.value]) + MAX_ITEMS.to_bytes(2, "little")
    assert data[second:second + 3] == bytes([Cmd.WEIGHTS.value, 3, 0])
    assert len(data) == second + 3 + 3 * f.item_bytes(Cmd.WEIGHTS)


def test_reader_in_pieces(request):
    """Messages as docs/hostlink.md lays them out, fed in random pieces; the reader never
    asks for bytes past the message it is reading."""
    seed, rng = seeded_rng(request.node.name)
    f = LinkFormat.of(TINY)
    out = [-1, 5, -(1 << (TINY.acc_bits - 1))]
    counters = {name: rng.randrange(1 << TINY.counter_width) for name in f.counters}
    stream = [
        (bytes([Msg.CREDIT.value, 0x34, 0x12]), Credit(0x1234)),
        (bytes([Msg.OUT.value, len(out)])
         + pack_values(out, width=TINY.acc_bits, signed=True, nbytes=f.acc_bytes),
         Out(tuple(out))),
        (bytes([Msg.DONE.value]), Done()),
        (bytes([Msg.COUNTERS.value]) + b"".join(
            v.to_bytes(f.counter_bytes, "little") for v in counters.values()), None),
        (bytes([Msg.ERROR.value, Error.BUSY.value, Cmd.START.value]),
         DeviceError(Error.BUSY, Cmd.START.value)),
    ]
    reader = MessageReader(TINY)
    for raw, expect in stream:
        at = 0
        while (msg := reader.next()) is None:
            n = rng.randint(1, reader.needed())
            assert at + reader.needed() <= len(raw), seed
            reader.feed(raw[at:at + n])
            at += n
        assert at == len(raw)
        assert msg == (expect if expect is not None else Counters(counters)), seed
    reader.feed(b"\x42")
    with pytest.raises(HostLinkError, match="0x42"):
        reader.next()


def test_parameters_checked():
    for bad in (8, 4097, 32.0):
        with pytest.raises(ValueError, match="rx_depth"):
            HostLink(config=TINY, rx_depth=bad)
        with pytest.raises(ValueError, match="rx_depth"):
            HostLinkTop(config=TINY, divisor=8, rx_depth=bad)
    with pytest.raises(ValueError, match="divisor"):
        HostLinkTop(config=TINY, divisor=2)


# -- simulated transports ----------------------------------------------------------------------
# These testbenches run until the test drops the simulator, so they wait with plain awaits
# only: a testbench left inside ``until`` or ``repeat`` fails when it is garbage-collected.

async def ticks(ctx, n):
    for _ in range(n):
        await ctx.tick()


async def put(ctx, stream, payload):
    """Transfer ``payload`` into ``stream``."""
    ctx.set(stream.valid, 1)
    ctx.set(stream.payload, payload)
    while not (await ctx.tick().sample(stream.ready))[2]:
        pass
    ctx.set(stream.valid, 0)


class SimPort:
    """A host's byte transport backed by a simulation of ``dut``: ``write`` queues bytes for
    the device, ``read(n)`` runs the simulation until ``n`` bytes have come back, and
    ``send_break`` queues a framing error. Testbenches added with ``add`` carry the bytes."""

    def __init__(self, dut, *, max_cycles):
        self.sim = Simulator(dut)
        self.sim.add_clock(PERIOD)
        self.to_device, self.from_device = deque(), deque()
        self.cycles, self.max_cycles = 0, max_cycles

        async def count(ctx):
            while True:
                await ctx.tick()
                self.cycles += 1
        self.add(count)

    def add(self, *testbenches):
        for tb in testbenches:
            self.sim.add_testbench(tb, background=True)

    def write(self, data):
        self.to_device.extend(data)

    def send_break(self):
        self.to_device.append(BREAK)

    def read(self, n):
        while len(self.from_device) < n:
            if self.cycles > self.max_cycles:
                raise AssertionError(f"no reply within {self.max_cycles} cycles")
            self.sim.advance()
        return bytes(self.from_device.popleft() for _ in range(n))


def stream_port(link, rng, *, max_cycles=200_000, gap=8, stall=0.3):
    """A port on ``HostLink``'s byte streams: bytes go in with random gaps of up to ``gap``
    cycles, and a byte the receive FIFO cannot take fails the test, as it would be lost on
    a serial line; bytes come out under random backpressure."""
    port = SimPort(link, max_cycles=max_cycles)

    async def feed(ctx):
        while True:
            if not port.to_device:
                await ctx.tick()
                continue
            item = port.to_device.popleft()
            await ticks(ctx, rng.randrange(gap) + 1)
            if item is BREAK:
                await ticks(ctx, 20)            # a break lasts at least a frame
                ctx.set(link.rx_error, 1)
                await ctx.tick()
                ctx.set(link.rx_error, 0)
                continue
            assert ctx.get(link.rx.ready), "receive FIFO full: the host overran its credit"
            await put(ctx, link.rx, item)

    async def drain(ctx):
        while True:
            _, _, valid, ready, payload = await ctx.tick().sample(link.tx.valid, link.tx.ready,
                                                                  link.tx.payload)
            if valid and ready:
                port.from_device.append(payload)
            ctx.set(link.tx.ready, rng.random() >= stall)

    port.add(feed, drain)
    return port


def uart_port(top, divisor, *, max_cycles):
    """A port on ``HostLinkTop``'s pins: an 8N1 line model at ``divisor`` cycles per bit,
    whose edges fall between clock edges; a break holds the line low for two frames."""
    port = SimPort(top, max_cycles=max_cycles)

    async def send(ctx):
        await ctx.delay(PERIOD / 2)
        while True:
            if not port.to_device:
                await ctx.delay(PERIOD)
                continue
            item = port.to_device.popleft()
            if item is BREAK:
                ctx.set(top.uart_rx, 0)
                await ctx.delay(20 * divisor * PERIOD)
                ctx.set(top.uart_rx, 1)
                await ctx.delay(divisor * PERIOD)
                continue
            await line_send(ctx, top.uart_rx, item, divisor=divisor)

    async def recv(ctx):
        while True:
            port.from_device.append(await line_recv(ctx, top.uart_tx, divisor=divisor))

    port.add(send, recv)
    return port


class AccelStub:
    """Stands in for the accelerator on ``link.acc``. While idle it takes ``cfg`` and
    ``act_in`` items (ready is ``~busy``, as on the accelerator). On ``start`` it runs:
    busy, it takes ``weights`` beats with random stalls and sends the beats of ``outs``
    spread over the run, then drops busy and pulses done. Its counters hold random values."""

    def __init__(self, link, config, rng):
        self.acc, self.rng, self.beat = link.acc, rng, config.beat
        self.cfg, self.act, self.wgt = [], [], []
        self.weights, self.outs = 0, []         # what the next run takes and sends
        self.busy, self.taken, self.runs = False, 0, 0
        self.counters = {name: rng.randrange(1 << config.counter_width)
                         for name in Accelerator.counter_names(config)}

    def testbenches(self):
        return [self._sinks, self._wgt_sink, self._run]

    async def _sinks(self, ctx):
        acc = self.acc
        for name, value in self.counters.items():
            ctx.set(getattr(acc, name), value)
        while True:
            _, _, cv, cr, cp, av, ar, ap = await ctx.tick().sample(
                acc.cfg.valid, acc.cfg.ready, acc.cfg.payload,
                acc.act_in.valid, acc.act_in.ready, acc.act_in.payload)
            if cv and cr:
                self.cfg.append((cp.addr, cp.data))
            if av and ar:
                self.act.append([ap[i] for i in range(self.beat)])
            ctx.set(acc.cfg.ready, not self.busy)
            ctx.set(acc.act_in.ready, not self.busy)

    async def _wgt_sink(self, ctx):
        acc = self.acc
        while True:
            _, _, v, r, p = await ctx.tick().sample(acc.wgt_in.valid, acc.wgt_in.ready,
                                                    acc.wgt_in.payload)
            if v and r:
                self.wgt.append([p[i] for i in range(self.beat)])
                self.taken += 1
            ctx.set(acc.wgt_in.ready, self.busy and self.taken < self.weights
                    and self.rng.random() >= 0.3)

    async def _run(self, ctx):
        acc = self.acc
        ctx.set(acc.cfg.ready, 1)
        ctx.set(acc.act_in.ready, 1)
        while True:
            while not (await ctx.tick().sample(acc.start))[2]:
                pass
            self.busy, self.taken = True, 0
            self.runs += 1
            ctx.set(acc.busy, 1)
            for k, beat in enumerate(self.outs):
                while self.taken < k * self.weights // len(self.outs):
                    await ctx.tick()
                while self.rng.random() < 0.3:
                    await ctx.tick()
                await put(ctx, acc.out, {"data": beat + [0] * (self.beat - len(beat)),
                                         "n": len(beat)})
            while self.taken < self.weights:
                await ctx.tick()
            self.busy = False
            ctx.set(acc.busy, 0)
            ctx.set(acc.done, 1)
            await ctx.tick()
            ctx.set(acc.done, 0)


def random_beats(rng, count, beat, width, signed):
    lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
    return [[rng.choice([lo, hi, rng.randint(lo, hi)]) for _ in range(beat)]
            for _ in range(count)]


def read_until(port, reader, kind):
    """Messages from the device up to and including the first ``kind``."""
    msgs = []
    while not msgs or not isinstance(msgs[-1], kind):
        while (msg := reader.next()) is None:
            reader.feed(port.read(reader.needed()))
        msgs.append(msg)
    return msgs


def linked(request, config=TINY, rx_depth=32):
    seed, rng = seeded_rng(request.node.name)
    link = HostLink(config=config, rx_depth=rx_depth)
    stub = AccelStub(link, config, rng)
    port = stream_port(link, rng)
    port.add(*stub.testbenches())
    return seed, rng, stub, port, HostLinkDriver(port, config)


# -- the link against the stand-in accelerator -------------------------------------------------

@pytest.mark.parametrize("name", list(CONFIGS))
def test_link_round_trip(request, name):
    """Everything the driver sends arrives on the accelerator's ports as it was, and
    everything the accelerator sends arrives at the driver, with the smallest receive FIFO
    (credit runs out all the time) and weights and outputs crossing during the run."""
    config = CONFIGS[name]
    seed, rng, stub, port, drv = linked(request, config, rx_depth=16)
    assert drv.connect() == info_values(config, 16)
    f = LinkFormat.of(config)
    lo, hi = -(1 << (f.reg_bits - 1)), (1 << (f.reg_bits - 1)) - 1
    for _ in range(2):      # two runs: the link is ready for the next after DONE
        stub.cfg, stub.act, stub.wgt = [], [], []
        glb = [rng.randint(*config.act_range) for _ in range(rng.randrange(1, 30))]
        part = SimpleNamespace(
            cfg=[(rng.randint(0, BIAS_DATA), rng.choice([lo, hi, rng.randint(lo, hi)]))
                 for _ in range(rng.randrange(1, 12))],
            glb=glb,
            weights=random_beats(rng, rng.randrange(1, 25), config.beat, config.wgt_width,
                                 config.wgt_signed))
        stub.weights = len(part.weights)
        stub.outs = [beat[:rng.randint(1, config.beat)] for beat in random_beats(
            rng, rng.randrange(1, 12), config.beat, config.acc_bits, config.acc_signed)]
        values = drv.run_part(part)
        assert stub.cfg == part.cfg, f"seed={seed}"
        padded = glb + [0] * (-len(glb) % config.beat)
        assert stub.act == [padded[i:i + config.beat] for i in range(0, len(padded),
                                                                     config.beat)], seed
        assert stub.wgt == part.weights, f"seed={seed}"
        assert values == [v for beat in stub.outs for v in beat], f"seed={seed}"
        assert drv.read_counters() == stub.counters, f"seed={seed}"
    assert stub.runs == 2


@pytest.mark.parametrize("other, field", [
    (CONFIGS["unsigned"], "beat"),
    (dataclasses.replace(TINY, glb_kib=4), "config_id"),
], ids=["beat", "glb"])
def test_connect_refuses_other_design(request, other, field):
    """A driver for another configuration refuses the device, naming the first field that
    differs (a difference INFO has no field for shows in the configuration's CRC)."""
    seed, rng, stub, port, _ = linked(request)
    with pytest.raises(HostLinkError, match=f"reports {field} = "):
        HostLinkDriver(port, other).connect()
    assert HostLinkDriver(port, TINY).connect() == info_values(TINY, 32)


def test_unknown_command_resync(request):
    """An unknown command byte is answered with ERROR; the bytes after it are ignored
    (a WRITE, a START, a COUNTERS) up to a PING, which is answered with INFO."""
    seed, rng, stub, port, drv = linked(request)
    drv.connect()
    commands = {c.value for c in Cmd}
    bad = rng.choice([b for b in range(256) if b not in commands])
    reader = MessageReader(TINY)
    port.write(bytes([bad]) + encode_write([(3, -5)], TINY) + encode_start()
               + encode_counters() + encode_ping(0x3C))
    msgs = [m for m in read_until(port, reader, Info) if not isinstance(m, Credit)]
    assert msgs == [DeviceError(Error.COMMAND, bad), Info(0x3C, info_values(TINY, 32))], seed
    assert stub.cfg == [] and stub.runs == 0
    # In step again: commands work.
    drv.connect()
    drv.write_registers([(3, -5)])
    assert drv.read_counters() == stub.counters
    assert stub.cfg == [(3, -5)]


def test_framing_error_resync(request):
    """A framing error in the middle of a WRITE abandons it: the items before it were
    written, the rest and everything after is ignored up to a PING. The driver's resync
    does exactly that (a break, then a PING)."""
    seed, rng, stub, port, drv = linked(request)
    drv.connect()
    f = LinkFormat.of(TINY)
    write = encode_write([(1, 7), (2, 9)], TINY)
    cut = 3 + f.item_bytes(Cmd.WRITE) + 2           # the first item and 2 bytes of the next
    port.write(write[:cut])
    port.send_break()
    port.write(write[cut:] + encode_counters() + encode_ping(0x51))
    reader = MessageReader(TINY)
    msgs = [m for m in read_until(port, reader, Info) if not isinstance(m, Credit)]
    assert msgs == [DeviceError(Error.FRAMING, 0), Info(0x51, info_values(TINY, 32))], seed
    assert stub.cfg == [(1, 7)]
    # A host that lost track of the device (here: halfway through a LOAD) recovers.
    port.write(encode_load([1] * 40, TINY)[:17])
    drv.resync()
    assert drv.read_counters() == stub.counters


def test_busy_and_idle_errors(request):
    """During a run, WRITE, LOAD, START and COUNTERS are refused (their data ignored) and
    the link stays in step; WEIGHTS outside a run, or beyond what the run takes, is
    refused too. DONE comes after the run's last output beat."""
    seed, rng, stub, port, drv = linked(request)
    drv.connect()
    stub.weights = 3
    stub.outs = random_beats(rng, 4, TINY.beat, TINY.acc_bits, True)
    beats = random_beats(rng, 4, TINY.beat, TINY.wgt_width, True)
    port.write(encode_weights(beats[:1], TINY) + encode_start()
               + encode_write([(1, 2)], TINY) + encode_load([3] * TINY.beat, TINY)
               + encode_counters() + encode_start()
               + encode_weights(beats[:3], TINY) + encode_weights(beats[3:], TINY))
    reader = MessageReader(TINY)
    msgs = read_until(port, reader, Done)
    assert [list(m.values) for m in msgs if isinstance(m, Out)] == stub.outs, seed
    # The surplus beat is refused when the run ends, so its ERROR may follow DONE.
    if sum(isinstance(m, DeviceError) for m in msgs) < 6:
        msgs += read_until(port, reader, DeviceError)
    errors = [m for m in msgs if isinstance(m, DeviceError)]
    assert errors == [DeviceError(Error.IDLE, Cmd.WEIGHTS.value)] + [
        DeviceError(Error.BUSY, c.value) for c in (Cmd.WRITE, Cmd.LOAD, Cmd.COUNTERS,
                                                   Cmd.START)] + [
        DeviceError(Error.IDLE, Cmd.WEIGHTS.value)], seed
    assert stub.cfg == [] and stub.act == [] and stub.wgt == beats[:3] and stub.runs == 1
    drv.connect()
    assert drv.read_counters() == stub.counters


# -- the whole path ----------------------------------------------------------------------------

def test_end_to_end_tiny(request):
    """The driver runs a small random CONV layer (at most 60 outputs, so that the bytes at
    4 cycles per bit keep the test short) over a simulated serial line on ``HostLinkTop``
    for the tiny preset; every output matches the golden model and the counters describe
    the run."""
    seed, _ = seeded_rng(request.node.name)
    rng = np.random.default_rng(seed)
    divisor = 4
    top = HostLinkTop(config=TINY, divisor=divisor, rx_depth=64)
    port = uart_port(top, divisor, max_cycles=500_000)
    drv = HostLinkDriver(port, TINY)
    assert drv.connect() == info_values(TINY, 64)
    while (layer := random_layer(TINY, rng, max_c=2, max_m=3, max_hw=6)).n * layer.m \
            * layer.e * layer.f > 60:
        pass
    shift = None if rng.random() < 0.5 else int(rng.integers(0, 6))
    relu = bool(rng.random() < 0.5)
    x, w, bias = random_layer_data(layer, TINY, rng)
    prog = compile_layer(layer, TINY, x, w, bias, shift=shift, relu=relu)
    result = drv.run(prog)
    expect = expected_output(layer, TINY, x, w, bias, shift=shift, relu=relu)
    assert_bit_exact(result.out, expect, seed, layer)
    c, B = result.counters, TINY.beat
    assert set(c) == set(Accelerator.counter_names(TINY))
    assert c["words_out"] == result.beats
    glb_beats = sum(-(-len(p.glb) // B) for p in prog.parts)
    assert c["glb_writes"] == glb_beats * B
    assert c["words_in"] == glb_beats + sum(len(p.weights) for p in prog.parts)
    assert c["macs"] + c["gated"] >= layer.macs
    assert 0 < c["cycles"] < port.cycles
    print(f"{layer}: {port.cycles} cycles at {divisor} cycles per bit")


def test_top_converts_to_verilog():
    text = verilog.convert(HostLinkTop(config=TINY, divisor=4), name="hostlink_tiny")
    for port in ("uart_rx", "uart_tx", "busy", "clk", "rst"):
        assert f"input {port}" in text or f"output {port}" in text, port
