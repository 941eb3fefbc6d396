"""UART host link: the byte protocol that loads, runs and reads an ``hw.accel.Accelerator``
from a host over a serial line (docs/hostlink.md; the host side is ``gen.hostlink``).

``HostLink`` sits between the UART's byte streams and the accelerator's ports. It takes
commands from a receive FIFO (register writes, input beats, start, weight beats, counter
reads, ping) and answers with messages (information, credit, output beats, done,
counters, errors). A serial line cannot be held off, so the host sends only as many bytes
as the link has granted it room for in the FIFO. ``HostLinkTop`` puts a UART, the link and
the accelerator together behind two pins.
"""

import zlib
from dataclasses import dataclass

from amaranth import Array, Cat, Const, Module, Mux, Signal, Value
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.fifo import SyncFIFOBuffered
from amaranth.lib.wiring import In, Out

from .accel import Accelerator, accel_signature
from .uart import UARTRx, UARTTx, check_divisor

__all__ = ["VERSION", "Cmd", "Msg", "Error", "INFO_FIELDS", "LinkFormat", "info_values",
           "config_id", "check_rx_depth", "HostLink", "HostLinkTop"]

VERSION = 1


class Cmd(enum.Enum, shape=8):
    """Command bytes, host to device."""
    WRITE    = 0x01     # u16 count, then count x (u8 addr, reg_bytes data)
    LOAD     = 0x02     # u16 count, then count input beats
    START    = 0x03
    WEIGHTS  = 0x04     # u16 count, then count weight beats
    COUNTERS = 0x05
    PING     = 0xA5     # u8 nonce; also ends the search for a command after an error


class Msg(enum.Enum, shape=8):
    """Message type bytes, device to host."""
    INFO     = 0x80     # u8 nonce, then INFO_FIELDS
    CREDIT   = 0x81     # u16 bytes freed in the receive FIFO
    OUT      = 0x82     # u8 n, then n values of acc_bytes
    DONE     = 0x83
    COUNTERS = 0x84     # every counter, counter_bytes each
    ERROR    = 0x85     # u8 code (Error), u8 argument


class Error(enum.Enum, shape=8):
    """Error codes; the argument byte is the command byte, or 0 for ``FRAMING``."""
    COMMAND = 1         # not a command byte; the link then ignores bytes up to a PING
    FRAMING = 2         # a byte was lost on the line; the command in progress is abandoned
                        # and the link ignores bytes up to a PING
    BUSY    = 3         # WRITE, LOAD, START or COUNTERS during a run: ignored (with its data)
    IDLE    = 4         # WEIGHTS beats outside a run: ignored


# INFO message body after the nonce: (field, bytes), little-endian.
INFO_FIELDS = (
    ("version", 1), ("rows", 1), ("cols", 1), ("beat", 1), ("act_width", 1),
    ("wgt_width", 1), ("out_width", 1), ("acc_bits", 1), ("counter_width", 1), ("flags", 1),
    ("counters", 1), ("rx_depth", 2), ("config_id", 4),
)
FLAG_ACT_SIGNED, FLAG_WGT_SIGNED, FLAG_ZERO_SKIP = 1, 2, 4


def _nbytes(bits):
    return (bits + 7) // 8


def _reg_bits(config):
    return max(33, config.acc_bits)


@dataclass(frozen=True)
class LinkFormat:
    """Whole bytes per value of each kind the link for a design carries."""

    beat:          int
    reg_bits:      int      # register data: signed, max(33, acc_bits) bits
    reg_bytes:     int
    act_bytes:     int
    wgt_bytes:     int
    acc_bytes:     int      # output values, extended as acc_signed says
    counter_bytes: int
    counters:      tuple    # counter names, in COUNTERS message order

    @classmethod
    def of(cls, config):
        return cls(beat=config.beat, reg_bits=_reg_bits(config),
                   reg_bytes=_nbytes(_reg_bits(config)),
                   act_bytes=_nbytes(config.act_width), wgt_bytes=_nbytes(config.wgt_width),
                   acc_bytes=_nbytes(config.acc_bits),
                   counter_bytes=_nbytes(config.counter_width),
                   counters=Accelerator.counter_names(config))

    def item_bytes(self, cmd):
        """Bytes of one item of a WRITE, LOAD or WEIGHTS command."""
        return {Cmd.WRITE: 1 + self.reg_bytes, Cmd.LOAD: self.beat * self.act_bytes,
                Cmd.WEIGHTS: self.beat * self.wgt_bytes}[cmd]

    @property
    def info_bytes(self):
        return 2 + sum(n for _, n in INFO_FIELDS)


def config_id(config):
    """CRC-32 of the configuration's JSON form: equal for equal configurations."""
    return zlib.crc32(config.to_json().encode())


def info_values(config, rx_depth):
    """What an INFO message of a link for ``config`` reports, by ``INFO_FIELDS`` name."""
    c = config
    flags = ((FLAG_ACT_SIGNED if c.act_signed else 0) | (FLAG_WGT_SIGNED if c.wgt_signed else 0)
             | (FLAG_ZERO_SKIP if c.zero_skip else 0))
    return {"version": VERSION, "rows": c.rows, "cols": c.cols, "beat": c.beat,
            "act_width": c.act_width, "wgt_width": c.wgt_width, "out_width": c.out_width,
            "acc_bits": c.acc_bits, "counter_width": c.counter_width, "flags": flags,
            "counters": len(Accelerator.counter_names(c)), "rx_depth": rx_depth,
            "config_id": config_id(c)}


def check_rx_depth(rx_depth):
    """``ValueError`` unless ``rx_depth`` is a receive FIFO depth the link supports."""
    if not isinstance(rx_depth, int) or isinstance(rx_depth, bool) or not 16 <= rx_depth <= 4096:
        raise ValueError(f"rx_depth must be an integer in 16..4096, not {rx_depth!r}")


def _le_bytes(m, value, n, name):
    """The ``n`` bytes of ``value`` (extended as its signedness says), least first."""
    wide = Signal(8 * n, name=name)
    m.d.comb += wide.eq(value)
    return [wide[8 * k:8 * k + 8] for k in range(n)]


class HostLink(wiring.Component):
    """Runs the host-link protocol (docs/hostlink.md) for an accelerator generated for
    ``config``.

    Received bytes go into a FIFO of ``rx_depth`` bytes. The host starts with
    ``rx_depth`` bytes of credit (after a PING, once its INFO reply arrives), spends one
    per byte sent and regains them from CREDIT messages, which the link sends whenever at
    least ``rx_depth // 4`` bytes have left the FIFO since the last one; a host that keeps
    to its credit never overflows the FIFO. Commands are taken one at a time. WRITE and LOAD
    items go to ``cfg`` and ``act_in``; WEIGHTS beats go to ``wgt_in`` while the
    accelerator is busy (its run pulls them pass by pass), so weights and outputs flow at
    the same time. Messages go out whole, one after another: CREDIT first, then replies
    to commands, then DONE, then output beats, each beat as one OUT message with its ``n``
    valid values; DONE follows the run's last OUT. ``wgt_in.valid`` falls without a
    transfer only when ``busy`` falls, when the accelerator has finished its run and a beat
    is surplus.

    An unknown command byte or a framing error (``rx_error``) is answered with ERROR and
    the link drops bytes until a PING, which it answers with INFO as usual.

    Parameters
    ----------
    config : gen.config.Config
    rx_depth : int
        Receive FIFO depth in bytes, 16 to 4096 (512 fills one iCE40 block RAM).

    Members
    -------
    rx : In(stream.Signature(8))
        Bytes from the UART receiver; ``ready`` is low only if the host overran its credit.
    rx_error : In(1)
        The receiver's framing-error pulse.
    tx : Out(stream.Signature(8))
        Bytes for the UART transmitter.
    acc : In(accel_signature(config))
        The accelerator's ports, master side: ``wiring.connect(m, link.acc, accel)``.
    """

    def __init__(self, *, config, rx_depth=512):
        check_rx_depth(rx_depth)
        self._config = config
        self._rx_depth = rx_depth
        self._format = LinkFormat.of(config)
        super().__init__({
            "rx":       In(stream.Signature(8)),
            "rx_error": In(1),
            "tx":       Out(stream.Signature(8)),
            "acc":      In(accel_signature(config)),
        })

    @property
    def config(self):
        return self._config

    @property
    def rx_depth(self):
        return self._rx_depth

    @property
    def format(self):
        return self._format

    def elaborate(self, platform):
        c, f = self._config, self._format
        B, acc = c.beat, self.acc
        m = Module()

        # -- receive FIFO and credit ---------------------------------------------------------
        m.submodules.fifo = fifo = SyncFIFOBuffered(width=8, depth=self._rx_depth)
        m.d.comb += [fifo.w_data.eq(self.rx.payload), fifo.w_en.eq(self.rx.valid),
                     self.rx.ready.eq(fifo.w_rdy)]
        byte, take = fifo.r_data, Signal()
        m.d.comb += fifo.r_en.eq(take)
        freed = Signal(16)              # bytes taken from the FIFO since the last CREDIT
        grant = Signal(16)
        grant_now, credit_reset = Signal(), Signal()
        with m.If(credit_reset):
            m.d.sync += freed.eq(0)     # the INFO reply to a PING restores the full credit
        with m.Elif(grant_now):
            m.d.sync += freed.eq(take)
        with m.Else():
            m.d.sync += freed.eq(freed + take)

        # -- command parser --------------------------------------------------------------------
        sizes = {cmd: f.item_bytes(cmd) for cmd in (Cmd.WRITE, Cmd.LOAD, Cmd.WEIGHTS)}
        nmax = max(sizes.values())
        cmd = Signal(Cmd, init=Cmd.WRITE)
        count = Signal(16)              # items left
        idx = Signal(range(nmax))       # byte within the item
        buf = Signal(data.ArrayLayout(8, nmax))     # the item's bytes, the last at the top
        drop = Signal()                 # WRITE or LOAD during a run: items are discarded
        dropped = Signal()              # a WEIGHTS beat arrived outside a run
        sent = Signal()                 # the accelerator took the item being forwarded
        frame_err = Signal()
        nonce = Signal(8)
        rep_pending = Signal()          # a reply waits for (or is in) the transmitter
        rep_kind = Signal(Msg, init=Msg.INFO)
        rep_code = Signal(Error, init=Error.COMMAND)
        rep_arg = Signal(8)

        def item(n):
            return [buf[nmax - n + k] for k in range(n)]

        w = item(sizes[Cmd.WRITE])
        m.d.comb += [acc.cfg.payload.addr.eq(w[0]), acc.cfg.payload.data.eq(Cat(*w[1:]))]
        for port, n, per in ((acc.act_in, sizes[Cmd.LOAD], f.act_bytes),
                             (acc.wgt_in, sizes[Cmd.WEIGHTS], f.wgt_bytes)):
            b = item(n)
            m.d.comb += [port.payload[i].eq(Cat(*b[i * per:(i + 1) * per])) for i in range(B)]

        def reply(kind, code=Error.COMMAND, arg=0, then="CMD"):
            m.d.sync += [rep_pending.eq(1), rep_kind.eq(kind), rep_code.eq(code),
                         rep_arg.eq(arg)]
            m.next = f"REPLY_{then}"

        def receive():
            """Condition of taking a byte; a pending framing error abandons the command."""
            with m.If(frame_err):
                m.d.sync += frame_err.eq(0)
                reply(Msg.ERROR, Error.FRAMING, then="HUNT")
            m.d.comb += take.eq(~frame_err & fifo.r_rdy)
            return take

        with m.FSM(name="parse"):
            with m.State("CMD"):
                with m.If(receive()):
                    with m.Switch(byte):
                        with m.Case(Cmd.PING):
                            m.next = "NONCE"
                        with m.Case(Cmd.WRITE, Cmd.LOAD, Cmd.WEIGHTS):
                            m.d.sync += cmd.eq(byte)
                            m.next = "COUNT_LO"
                        with m.Case(Cmd.START):
                            with m.If(acc.busy):
                                reply(Msg.ERROR, Error.BUSY, byte)
                            with m.Else():
                                m.next = "START"
                        with m.Case(Cmd.COUNTERS):
                            # Read while idle, when no counter moves during the message.
                            with m.If(acc.busy):
                                reply(Msg.ERROR, Error.BUSY, byte)
                            with m.Else():
                                reply(Msg.COUNTERS)
                        with m.Default():
                            reply(Msg.ERROR, Error.COMMAND, byte, then="HUNT")
            with m.State("START"):
                # A cycle of its own: the start comes from the state register, not from
                # the receive FIFO's output, and the next command sees the run busy.
                m.d.comb += acc.start.eq(1)
                m.next = "CMD"
            with m.State("NONCE"):
                with m.If(receive()):
                    m.d.comb += credit_reset.eq(1)
                    m.d.sync += nonce.eq(byte)
                    reply(Msg.INFO)
            with m.State("COUNT_LO"):
                with m.If(receive()):
                    m.d.sync += count[:8].eq(byte)
                    m.next = "COUNT_HI"
            with m.State("COUNT_HI"):
                with m.If(receive()):
                    m.d.sync += [count[8:].eq(byte), idx.eq(0), dropped.eq(0),
                                 drop.eq(acc.busy & (cmd != Cmd.WEIGHTS))]
                    m.next = "ITEM"
                    with m.If(Cat(count[:8], byte) == 0):
                        m.next = "CMD"
            with m.State("ITEM"):
                with m.If(receive()):
                    m.d.sync += buf.eq(Cat(buf.as_value()[8:], byte))
                    last = Mux(cmd == Cmd.WRITE, sizes[Cmd.WRITE] - 1,
                               Mux(cmd == Cmd.LOAD, sizes[Cmd.LOAD] - 1,
                                   sizes[Cmd.WEIGHTS] - 1))
                    with m.If(idx == last):
                        m.d.sync += idx.eq(0)
                        m.next = "FORWARD"
                    with m.Else():
                        m.d.sync += idx.eq(idx + 1)
            with m.State("FORWARD"):
                # The item goes out until a transfer (`sent`); the parser moves on the
                # cycle after it, so no accelerator `ready` reaches the parser's state.
                item_done = Signal()
                surplus = (cmd == Cmd.WEIGHTS) & ~acc.busy & ~sent
                for kind, port, valid in ((Cmd.WRITE, acc.cfg, ~drop),
                                          (Cmd.LOAD, acc.act_in, ~drop),
                                          (Cmd.WEIGHTS, acc.wgt_in, acc.busy)):
                    with m.If(cmd == kind):
                        m.d.comb += port.valid.eq(valid & ~sent)
                        with m.If(port.valid & port.ready):
                            m.d.sync += sent.eq(1)
                m.d.comb += item_done.eq(sent | surplus | (drop & (cmd != Cmd.WEIGHTS)))
                with m.If(item_done):
                    m.d.sync += [count.eq(count - 1), dropped.eq(dropped | surplus),
                                 sent.eq(0)]
                    with m.If(count != 1):
                        m.next = "ITEM"
                    with m.Elif(drop):
                        reply(Msg.ERROR, Error.BUSY, cmd)
                    with m.Elif(dropped | surplus):
                        reply(Msg.ERROR, Error.IDLE, cmd)
                    with m.Else():
                        m.next = "CMD"
            with m.State("HUNT"):
                with m.If(receive() & (byte == Cmd.PING)):
                    m.next = "NONCE"
            with m.State("REPLY_CMD"):
                with m.If(~rep_pending):
                    m.next = "CMD"
            with m.State("REPLY_HUNT"):
                with m.If(~rep_pending):
                    m.next = "HUNT"
        with m.If(self.rx_error):
            m.d.sync += frame_err.eq(1)

        # -- message sender: one whole message at a time -----------------------------------
        out = acc.out
        n_out = out.payload.n
        msgs = {
            Msg.CREDIT:   ([grant[:8], grant[8:]], 3),
            Msg.INFO:     ([nonce, *(Const(b, 8) for b in self._info_body())], f.info_bytes),
            Msg.COUNTERS: ([b for name in f.counters
                            for b in _le_bytes(m, getattr(acc, name), f.counter_bytes,
                                               f"tx_{name}")],
                           1 + len(f.counters) * f.counter_bytes),
            Msg.ERROR:    ([rep_code, rep_arg], 3),
            Msg.DONE:     ([], 1),
            Msg.OUT:      ([n_out, *(b for i in range(B)
                                     for b in _le_bytes(m, out.payload.data[i], f.acc_bytes,
                                                        f"tx_out_{i}"))],
                           2 + n_out * f.acc_bytes),
        }
        longest = max(1 + len(body) for body, _ in msgs.values())
        kind = Signal(Msg, init=Msg.INFO)
        pos = Signal(range(longest))
        done_pending = Signal()
        last = Signal()
        # An OUT message's beat is taken the cycle after its last byte (`out_ack`), from a
        # register, so the serializer's position does not run into the readout's stall.
        out_ack = Signal()
        m.d.sync += out_ack.eq(0)
        m.d.comb += out.ready.eq(out_ack)
        with m.FSM(name="send"):
            with m.State("IDLE"):
                with m.If(freed >= self._rx_depth // 4):
                    m.d.comb += grant_now.eq(1)
                    m.d.sync += [grant.eq(freed), kind.eq(Msg.CREDIT)]
                    m.next = "SEND"
                with m.Elif(rep_pending):
                    m.d.sync += kind.eq(rep_kind)
                    m.next = "SEND"
                with m.Elif(done_pending):
                    m.d.sync += kind.eq(Msg.DONE)
                    m.next = "SEND"
                with m.Elif(out.valid & ~out_ack):
                    m.d.sync += kind.eq(Msg.OUT)
                    m.next = "SEND"
            with m.State("SEND"):
                m.d.comb += self.tx.valid.eq(1)
                with m.Switch(kind):
                    for k, (body, length) in msgs.items():
                        with m.Case(k):
                            frame = Array(Value.cast(b) for b in [Const(k.value, 8), *body])
                            m.d.comb += [self.tx.payload.eq(frame[pos]),
                                         last.eq(pos == length - 1)]
                with m.If(self.tx.ready):
                    m.d.sync += pos.eq(pos + 1)
                    with m.If(last):
                        m.d.sync += pos.eq(0)
                        m.next = "IDLE"
                        with m.Switch(kind):
                            with m.Case(Msg.INFO, Msg.COUNTERS, Msg.ERROR):
                                m.d.sync += rep_pending.eq(0)
                            with m.Case(Msg.DONE):
                                m.d.sync += done_pending.eq(0)
                            with m.Case(Msg.OUT):
                                m.d.sync += out_ack.eq(1)
        with m.If(acc.done):
            m.d.sync += done_pending.eq(1)
        return m

    def _info_body(self):
        """INFO bytes after the nonce."""
        values = info_values(self._config, self._rx_depth)
        return b"".join(values[name].to_bytes(n, "little") for name, n in INFO_FIELDS)


class HostLinkTop(wiring.Component):
    """The accelerator for ``config`` behind a UART host link: what a board top wraps.

    Parameters
    ----------
    config : gen.config.Config
    divisor : int
        Clock cycles per bit of the serial line (clock frequency / baud rate), at least 4.
    rx_depth : int
        Receive FIFO depth of the link, in bytes.
    extra : dict
        More ports, for a subclass that wraps the link (``boards.common.BoardCore``).

    Members
    -------
    uart_rx : In(1, init=1)
        Serial data from the host (8N1).
    uart_tx : Out(1, init=1)
        Serial data to the host.
    busy : Out(1)
        A run is in progress (for an LED).
    """

    def __init__(self, *, config, divisor, rx_depth=512, extra=None):
        check_divisor(divisor)
        check_rx_depth(rx_depth)
        self._config, self._divisor, self._rx_depth = config, divisor, rx_depth
        super().__init__({
            "uart_rx": In(1, init=1),
            "uart_tx": Out(1, init=1),
            "busy":    Out(1),
            **(extra or {}),
        })

    @property
    def config(self):
        return self._config

    def elaborate(self, platform):
        m = Module()
        m.submodules.uart_rx = urx = UARTRx(divisor=self._divisor)
        m.submodules.uart_tx = utx = UARTTx(divisor=self._divisor)
        m.submodules.link = link = HostLink(config=self._config, rx_depth=self._rx_depth)
        m.submodules.accel = accel = Accelerator(config=self._config)
        wiring.connect(m, urx.o, link.rx)
        wiring.connect(m, link.tx, utx.i)
        wiring.connect(m, link.acc, accel)
        m.d.comb += [urx.rx.eq(self.uart_rx), self.uart_tx.eq(utx.tx),
                     link.rx_error.eq(urx.error), self.busy.eq(accel.busy)]
        return m
