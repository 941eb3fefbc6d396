"""8N1 UART receiver and transmitter with byte streams, for the host link
(``hw.hostlink``, docs/hostlink.md).

A frame is a low start bit, eight data bits least significant first and a high stop bit;
the line idles high. Both directions run at ``divisor`` clock cycles per bit, fixed when
the design is generated.
"""

from amaranth import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In, Out

__all__ = ["UARTRx", "UARTTx", "check_divisor"]


def check_divisor(divisor):
    """``TypeError``/``ValueError`` unless ``divisor`` is a clock-cycles-per-bit count the
    UART supports."""
    if not isinstance(divisor, int) or isinstance(divisor, bool):
        raise TypeError(f"divisor must be an integer, not {divisor!r}")
    if not 4 <= divisor <= 1 << 24:
        raise ValueError(f"divisor must be in 4..{1 << 24} clock cycles per bit, "
                         f"not {divisor!r}")


class UARTRx(wiring.Component):
    """Receives 8N1 frames from an asynchronous serial line.

    The line passes a two-flop synchronizer. A falling edge starts a frame; half a bit
    later the start bit must still be low, or the edge was a glitch and is ignored. Data
    and stop bits are sampled at their centres, and the receiver is ready for the next start
    bit from the middle of the stop bit on, so a sender up to a few per cent fast (or slow)
    is received. A low stop bit (a framing error, or a break) drops the byte, pulses
    ``error`` and waits for the line to go high before looking for a start bit again.

    A line cannot be held off, so ``o`` holds each byte only until the next one is
    complete: a byte that arrives while the previous one is still not taken is dropped and
    counted in ``overruns``.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (clock frequency / baud rate), at least 4.

    Members
    -------
    rx : In(1, init=1)
        The serial line, asynchronous to the clock.
    o : Out(stream.Signature(8))
        Received bytes.
    error : Out(1)
        One-cycle pulse for each frame with a low stop bit.
    frame_errors, overruns : Out(16)
        Counts since reset (wrapping).
    """

    def __init__(self, *, divisor):
        check_divisor(divisor)
        self._divisor = divisor
        super().__init__({
            "rx":           In(1, init=1),
            "o":            Out(stream.Signature(8)),
            "error":        Out(1),
            "frame_errors": Out(16),
            "overruns":     Out(16),
        })

    @property
    def divisor(self):
        return self._divisor

    def elaborate(self, platform):
        D = self._divisor
        m = Module()
        line = Signal(init=1)
        m.submodules.sync = FFSynchronizer(self.rx, line, init=1, stages=2)

        timer = Signal(range(D))        # cycles to the next sample point
        bit = Signal(range(8))
        shreg = Signal(8)
        tick = timer == 0
        with m.If(~tick):
            m.d.sync += timer.eq(timer - 1)

        with m.If(self.o.ready):
            m.d.sync += self.o.valid.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(~line):
                    # The edge lies in the last cycle; the start bit's centre is D/2 away.
                    m.d.sync += timer.eq(D // 2 - 1)
                    m.next = "START"
            with m.State("START"):
                with m.If(tick):
                    with m.If(line):
                        m.next = "IDLE"         # a glitch, not a start bit
                    with m.Else():
                        m.d.sync += [timer.eq(D - 1), bit.eq(0)]
                        m.next = "DATA"
            with m.State("DATA"):
                with m.If(tick):
                    m.d.sync += [shreg.eq(Cat(shreg[1:], line)), timer.eq(D - 1),
                                 bit.eq(bit + 1)]
                    with m.If(bit == 7):
                        m.next = "STOP"
            with m.State("STOP"):
                with m.If(tick):
                    with m.If(line):
                        with m.If(self.o.valid & ~self.o.ready):
                            m.d.sync += self.overruns.eq(self.overruns + 1)
                        with m.Else():
                            m.d.sync += [self.o.payload.eq(shreg), self.o.valid.eq(1)]
                        m.next = "IDLE"
                    with m.Else():
                        m.d.comb += self.error.eq(1)
                        m.d.sync += self.frame_errors.eq(self.frame_errors + 1)
                        m.next = "BREAK"
            with m.State("BREAK"):
                with m.If(line):
                    m.next = "IDLE"
        return m


class UARTTx(wiring.Component):
    """Sends each byte of ``i`` as an 8N1 frame; the line idles high.

    A byte offered while the previous frame is in its last cycle is taken at once, so a
    stream that is always valid produces frames back to back, ``10 * divisor`` cycles
    apart.

    Parameters
    ----------
    divisor : int
        Clock cycles per bit (clock frequency / baud rate), at least 4.

    Members
    -------
    i : In(stream.Signature(8))
    tx : Out(1, init=1)
        The serial line, driven from a flip-flop.
    """

    def __init__(self, *, divisor):
        check_divisor(divisor)
        self._divisor = divisor
        super().__init__({
            "i":  In(stream.Signature(8)),
            "tx": Out(1, init=1),
        })

    @property
    def divisor(self):
        return self._divisor

    def elaborate(self, platform):
        D = self._divisor
        m = Module()
        frame = Signal(10, init=(1 << 10) - 1)  # bits still to send, the current one at 0
        left = Signal(range(11))                # bits of the frame still to send
        timer = Signal(range(D))
        tick = timer == 0
        m.d.comb += [
            self.tx.eq(frame[0]),
            self.i.ready.eq((left == 0) | ((left == 1) & tick)),
        ]
        with m.If(self.i.valid & self.i.ready):
            m.d.sync += [frame.eq(Cat(0, self.i.payload, 1)), left.eq(10), timer.eq(D - 1)]
        with m.Elif(left != 0):
            with m.If(tick):
                m.d.sync += [frame.eq(Cat(frame[1:], 1)), left.eq(left - 1),
                             timer.eq(D - 1)]
            with m.Else():
                m.d.sync += timer.eq(timer - 1)
        return m
