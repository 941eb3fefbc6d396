"""cocotb drivers for Amaranth ``lib.stream`` interfaces (``<name>__valid/ready/payload``).

A transfer happens on a rising clock edge where ``valid`` and ``ready`` are both high. The
drivers sample both in the read-only phase before each edge and drive new values just
after it, which behaves the same under Icarus and Verilator. A source never drops
``valid`` before its transfer and never changes the payload while ``valid`` is high.

With random idle cycles or stalls the drivers decide every cycle. Without them they sleep
until something can happen (data queued, the other side's ``valid`` or ``ready`` rising),
so Python is not woken on every clock of a long simulation.
"""

import random
from collections import deque

import cocotb
from cocotb.triggers import Event, ReadOnly, RisingEdge

__all__ = ["StreamSource", "StreamSink", "StreamMonitor", "pack", "unpack"]


def pack(values, width):
    """Pack ``values`` into one integer, element 0 in the least significant bits."""
    mask = (1 << width) - 1
    word = 0
    for i, v in enumerate(values):
        word |= (int(v) & mask) << (i * width)
    return word


def unpack(word, width, count, signed):
    """Inverse of :func:`pack`."""
    mask = (1 << width) - 1
    out = []
    for i in range(count):
        v = (word >> (i * width)) & mask
        if signed and v >> (width - 1):
            v -= 1 << width
        out.append(v)
    return out


class _Port:
    def __init__(self, dut, name, clock):
        self.clock = clock
        self.valid = getattr(dut, f"{name}__valid")
        self.ready = getattr(dut, f"{name}__ready")
        self.payload = getattr(dut, f"{name}__payload")
        self.name = name


class StreamSource(_Port):
    """Drives a stream from a queue of integer payloads.

    Parameters
    ----------
    idle : float
        Probability of leaving the stream idle for a cycle before each new beat.
    rng : random.Random
        Source of the idle pattern, so a seeded test replays exactly.
    """

    def __init__(self, dut, name, clock, *, idle=0.0, rng=None):
        super().__init__(dut, name, clock)
        self.idle = idle
        self.rng = rng or random.Random(0)
        self.sent = 0
        self._queue = deque()
        self._empty = Event()
        self._empty.set()
        self._queued = Event()
        self.valid.value = 0
        self._task = cocotb.start_soon(self._run())

    def send(self, payloads):
        """Queue ``payloads`` (integers) for transfer."""
        self._queue.extend(int(p) for p in payloads)
        if self._queue:
            self._empty.clear()
            self._queued.set()

    async def wait_sent(self):
        """Return once every queued payload has been transferred."""
        await self._empty.wait()

    def stop(self):
        self._task.cancel()
        self.valid.value = 0

    async def _run(self):
        driving = False
        while True:
            if not self.idle and not driving and not self._queue:
                self._queued.clear()
                await self._queued.wait()
                await RisingEdge(self.clock)
                self.payload.value = self._queue[0]
                self.valid.value = 1
                driving = True
            await ReadOnly()
            fired = driving and bool(self.ready.value)
            if not self.idle and driving and not fired:
                await RisingEdge(self.ready)
                continue
            await RisingEdge(self.clock)
            if fired:
                self._queue.popleft()
                self.sent += 1
                driving = False
                if not self._queue:
                    self._empty.set()
            if driving:
                continue
            if self._queue and not self.rng.random() < self.idle:
                self.payload.value = self._queue[0]
                self.valid.value = 1
                driving = True
            else:
                self.valid.value = 0


class StreamSink(_Port):
    """Accepts transfers from a stream, holding ``ready`` low at random cycles.

    Parameters
    ----------
    stall : float
        Probability of holding ``ready`` low in a cycle (backpressure).
    signed : bool
        Read payloads as signed integers.
    callback : callable or None
        Called with each payload as it arrives; payloads are also kept in ``received``.
    """

    def __init__(self, dut, name, clock, *, stall=0.0, rng=None, signed=False, callback=None):
        super().__init__(dut, name, clock)
        self.stall = stall
        self.rng = rng or random.Random(0)
        self.signed = signed
        self.callback = callback
        self.received = []
        self.ready.value = 0
        self._task = cocotb.start_soon(self._run())

    def stop(self):
        self._task.cancel()
        self.ready.value = 0

    async def _run(self):
        readying = False
        while True:
            await ReadOnly()
            value = None
            if readying and not self.stall and not self.valid.value:
                await RisingEdge(self.valid)
                continue
            if readying and self.valid.value:
                value = (self.payload.value.to_signed() if self.signed
                         else self.payload.value.to_unsigned())
            await RisingEdge(self.clock)
            if value is not None:
                self.received.append(value)
                if self.callback is not None:
                    self.callback(value)
            readying = not self.rng.random() < self.stall
            self.ready.value = int(readying)


class StreamMonitor(_Port):
    """Records every transfer on a stream without driving it."""

    def __init__(self, dut, name, clock, *, signed=False, callback=None):
        super().__init__(dut, name, clock)
        self.signed = signed
        self.callback = callback
        self.transfers = []
        self._task = cocotb.start_soon(self._run())

    def stop(self):
        self._task.cancel()

    async def _run(self):
        while True:
            await ReadOnly()
            value = None
            if self.valid.value and self.ready.value:
                value = (self.payload.value.to_signed() if self.signed
                         else self.payload.value.to_unsigned())
            await RisingEdge(self.clock)
            if value is not None:
                self.transfers.append(value)
                if self.callback is not None:
                    self.callback(value)
