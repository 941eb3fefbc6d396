"""A host's serial line in cocotb: 8N1 frames bit by bit on a design's UART pins, and a
byte transport on them for the synchronous ``gen.hostlink.HostLinkDriver``.

``UartModel`` drives the device's receive pin from a queue of bytes and decodes every
frame on its transmit pin into another, in background tasks, so the device is never held
off (as on a real line). ``BridgeTransport`` gives the driver ``write``, ``read`` and
``send_break`` that block its thread (started with ``cocotb.task.bridge``) while the
simulation runs.
"""

import cocotb
from cocotb.queue import Queue
from cocotb.task import resume
from cocotb.triggers import FallingEdge, SimTimeoutError, Timer, with_timeout

__all__ = ["send_frame", "recv_frame", "UartModel", "BridgeTransport", "BREAK"]

BREAK = object()            # in the send queue: hold the line low for two frames


async def send_frame(line, byte, *, bit_ns, stop=1):
    """Drive one frame of ``byte`` on ``line``, ``bit_ns`` per bit (with ``stop=0``, a
    framing error); the line is left high."""
    for bit in [0, *((byte >> i) & 1 for i in range(8)), stop]:
        line.value = bit
        await Timer(bit_ns, "ns")
    line.value = 1


async def recv_frame(line, *, bit_ns):
    """Wait for a frame on ``line`` and return its byte, sampling each bit at its centre;
    a start bit that does not last or a low stop bit fails. Returns from the middle of the
    stop bit, so that the next start bit is not missed."""
    await FallingEdge(line)
    await Timer(bit_ns / 2, "ns")
    assert line.value == 0, "start bit too short"
    byte = 0
    for i in range(8):
        await Timer(bit_ns, "ns")
        byte |= int(line.value) << i
    await Timer(bit_ns, "ns")
    assert line.value == 1, f"stop bit of 0x{byte:02x} is low"
    return byte


class UartModel:
    """The host end of a serial line on pins ``rx`` (the device's input) and ``tx`` (its
    output), at ``bit_ns`` per bit; the host's bits last ``1 + skew`` times as long, as a
    host whose baud rate is off would send them.

    ``write`` queues bytes (or ``BREAK``); ``read`` waits for received bytes. Frames from
    the device are decoded from the start, whether anyone reads them or not.
    """

    def __init__(self, rx, tx, *, bit_ns, skew=0.0):
        self._rx, self._tx, self._bit_ns = rx, tx, bit_ns
        self._send_ns = round(bit_ns * (1 + skew), 3)     # whole picoseconds
        self._to_device, self._from_device = Queue(), Queue()
        self.sent = self.received = 0
        rx.value = 1
        self._tasks = [cocotb.start_soon(self._sender()), cocotb.start_soon(self._receiver())]

    async def _sender(self):
        while True:
            item = await self._to_device.get()
            if item is BREAK:
                self._rx.value = 0
                await Timer(20 * self._bit_ns, "ns")
                self._rx.value = 1
                await Timer(self._bit_ns, "ns")
            else:
                await send_frame(self._rx, item, bit_ns=self._send_ns)
                self.sent += 1

    async def _receiver(self):
        while True:
            self._from_device.put_nowait(await recv_frame(self._tx, bit_ns=self._bit_ns))
            self.received += 1

    def write(self, data):
        for item in data:
            self._to_device.put_nowait(item)

    async def read(self, n, *, timeout_ns):
        """Up to ``n`` bytes: at least one, unless none arrives within ``timeout_ns``
        (then ``b""``); then what else has arrived, without waiting."""
        try:
            first = await with_timeout(self._from_device.get(), timeout_ns, "ns")
        except SimTimeoutError:
            return b""
        out = [first]
        while len(out) < n and not self._from_device.empty():
            out.append(self._from_device.get_nowait())
        return bytes(out)

    def idle(self):
        """Nothing is left to send (the last frame may still be on the line)."""
        return self._to_device.empty()

    def stop(self):
        for task in self._tasks:
            task.cancel()


class BridgeTransport:
    """``HostLinkDriver``'s transport on a :class:`UartModel`, for a driver that runs in a
    thread started with ``cocotb.task.bridge``: each call blocks the thread while the
    simulation runs. A read gives up after ``timeout_ns`` of simulated time without a byte,
    as a serial port opened with a timeout does."""

    def __init__(self, uart, *, timeout_ns):
        self._uart, self._timeout_ns = uart, timeout_ns

    async def _write(self, data):
        self._uart.write(data)

    async def _read(self, n):
        return await self._uart.read(n, timeout_ns=self._timeout_ns)

    async def _break(self):
        self._uart.write([BREAK])

    def write(self, data):
        resume(self._write)(bytes(data))

    def read(self, n):
        return resume(self._read)(n)

    def send_break(self):
        resume(self._break)()
