"""Host side of the UART host link (``hw.hostlink``, docs/hostlink.md): command encoders, a
reader that splits the device's bytes into messages, and ``HostLinkDriver``, which runs a
``gen.driver.Program`` on the accelerator behind ``hw.hostlink.HostLinkTop`` over any byte
transport.

A transport is anything with ``write(bytes)`` and ``read(n) -> bytes`` that returns at most
``n`` bytes and ``b""`` only when it gives up waiting, such as a ``serial.Serial`` opened
with a timeout (pyserial is not a dependency of rowloom).
"""

from dataclasses import dataclass

from hw.accel import BIAS_DATA
from hw.hostlink import INFO_FIELDS, Cmd, Error, LinkFormat, Msg, info_values

__all__ = ["HostLinkError", "pack_values", "unpack_values", "encode_ping", "encode_write",
           "encode_load", "encode_start", "encode_weights", "encode_counters", "Info",
           "Credit", "Out", "Done", "Counters", "DeviceError", "MessageReader", "RunResult",
           "HostLinkDriver"]

MAX_ITEMS = 0xFFFF      # items per WRITE, LOAD or WEIGHTS command


class HostLinkError(RuntimeError):
    """The device reported an error, sent something unexpected, or stopped answering."""


# -- values and commands ---------------------------------------------------------------------

def pack_values(values, *, width, signed, nbytes):
    """``values`` as ``nbytes`` little-endian two's-complement bytes each; a value outside
    ``width`` bits of the given signedness raises ``ValueError``."""
    lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
    mask = (1 << (8 * nbytes)) - 1
    out = bytearray()
    for v in values:
        v = int(v)
        if not lo <= v <= hi:
            raise ValueError(f"{v} does not fit {'' if signed else 'un'}signed {width} bits")
        out += (v & mask).to_bytes(nbytes, "little")
    return bytes(out)


def unpack_values(data, *, nbytes, signed):
    """The values of ``nbytes`` bytes each in ``data``, as :func:`pack_values` wrote them."""
    return [int.from_bytes(data[i:i + nbytes], "little", signed=signed)
            for i in range(0, len(data), nbytes)]


def _commands(cmd, items):
    """``cmd`` with ``items`` (encoded), split into commands of at most ``MAX_ITEMS``."""
    out = bytearray()
    for i in range(0, len(items), MAX_ITEMS):
        chunk = items[i:i + MAX_ITEMS]
        out += bytes([cmd.value]) + len(chunk).to_bytes(2, "little") + b"".join(chunk)
    return bytes(out)


def encode_ping(nonce):
    return bytes([Cmd.PING.value, nonce])


def encode_start():
    return bytes([Cmd.START.value])


def encode_counters():
    return bytes([Cmd.COUNTERS.value])


def encode_write(pairs, config):
    """WRITE commands for register and bias writes ``(addr, data)`` (``gen.driver`` order)."""
    f = LinkFormat.of(config)
    items = []
    for addr, value in pairs:
        if not 0 <= addr <= BIAS_DATA:
            raise ValueError(f"register address {addr} is outside 0..{BIAS_DATA}")
        items.append(bytes([addr]) + pack_values([value], width=f.reg_bits, signed=True,
                                                 nbytes=f.reg_bytes))
    return _commands(Cmd.WRITE, items)


def _beats(cmd, beats, config, width, signed, nbytes):
    items = []
    for beat in beats:
        if len(beat) != config.beat:
            raise ValueError(f"a beat has {len(beat)} values, not beat = {config.beat}")
        items.append(pack_values(beat, width=width, signed=signed, nbytes=nbytes))
    return _commands(cmd, items)


def encode_load(values, config):
    """LOAD commands for input values in global-buffer order (the last beat zero-padded)."""
    B = config.beat
    values = list(values) + [0] * (-len(values) % B)
    return _beats(Cmd.LOAD, [values[i:i + B] for i in range(0, len(values), B)], config,
                  config.act_width, config.act_signed, LinkFormat.of(config).act_bytes)


def encode_weights(beats, config):
    """WEIGHTS commands for weight beats of ``beat`` values each."""
    return _beats(Cmd.WEIGHTS, beats, config, config.wgt_width, config.wgt_signed,
                  LinkFormat.of(config).wgt_bytes)


# -- messages ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Info:
    nonce:  int
    fields: dict        # by INFO_FIELDS name


@dataclass(frozen=True)
class Credit:
    n: int


@dataclass(frozen=True)
class Out:
    values: tuple


@dataclass(frozen=True)
class Done:
    pass


@dataclass(frozen=True)
class Counters:
    values: dict        # by counter name


@dataclass(frozen=True)
class DeviceError:
    code: object        # an ``Error``, or the raw code if unknown
    arg:  int


class MessageReader:
    """Splits the device's bytes into messages for the design ``config``.

    ``feed`` bytes in any pieces; ``next`` returns the next whole message or None;
    ``needed`` is how many more bytes the next message needs at least, so a reader of a
    blocking transport never asks for more than the device has sent.
    """

    def __init__(self, config):
        self._f = LinkFormat.of(config)
        self._acc_signed = config.acc_signed
        self._buf = bytearray()

    def feed(self, data):
        self._buf += data

    def _length(self):
        """Length of the message at the head of the buffer, or None if not yet known."""
        f, buf = self._f, self._buf
        if not buf:
            return None
        try:
            kind = Msg(buf[0])
        except ValueError:
            raise HostLinkError(f"0x{buf[0]:02x} from the device is not a message type: the "
                                f"link is out of step (resync)") from None
        if kind is Msg.OUT:
            return 2 + buf[1] * f.acc_bytes if len(buf) > 1 else None
        return {Msg.INFO: f.info_bytes, Msg.CREDIT: 3, Msg.DONE: 1,
                Msg.COUNTERS: 1 + len(f.counters) * f.counter_bytes, Msg.ERROR: 3}[kind]

    def needed(self):
        n = self._length()
        return 1 if n is None else max(1, n - len(self._buf))

    def next(self):
        n = self._length()
        if n is None or len(self._buf) < n:
            return None
        body, kind, f = bytes(self._buf[1:n]), Msg(self._buf[0]), self._f
        del self._buf[:n]
        if kind is Msg.INFO:
            fields, at = {}, 1
            for name, size in INFO_FIELDS:
                fields[name] = int.from_bytes(body[at:at + size], "little")
                at += size
            return Info(nonce=body[0], fields=fields)
        if kind is Msg.CREDIT:
            return Credit(int.from_bytes(body, "little"))
        if kind is Msg.OUT:
            return Out(tuple(unpack_values(body[1:], nbytes=f.acc_bytes,
                                           signed=self._acc_signed)))
        if kind is Msg.DONE:
            return Done()
        if kind is Msg.COUNTERS:
            return Counters(dict(zip(f.counters, unpack_values(body, nbytes=f.counter_bytes,
                                                                signed=False), strict=True)))
        try:
            code = Error(body[0])
        except ValueError:
            code = body[0]
        return DeviceError(code=code, arg=body[1])


# -- driver --------------------------------------------------------------------------------------

@dataclass
class RunResult:
    """Outputs of a program (N x M x E x F, ``Program.decode``), the accelerator's counters
    over the run (modulo ``2 ** counter_width``) and the number of output beats."""

    out:      object
    counters: dict
    beats:    int


class HostLinkDriver:
    """Runs programs for ``config`` on a device behind a host link, over ``transport``.

    The driver keeps to the device's credit: it sends while it has credit and otherwise
    reads and handles one message, so weight beats go out while output beats come back.
    ERROR messages raise :class:`HostLinkError`, as does a transport read that returns
    nothing.
    """

    def __init__(self, transport, config):
        self._t = transport
        self._config = config
        self._reader = MessageReader(config)
        self._credit = 0
        self._nonce = 0
        self.info = None            # INFO fields, after connect()
        self._values, self._beats, self._done, self._counters = [], 0, False, None

    # -- link -----------------------------------------------------------------------------------

    def connect(self):
        """PING the device and check its INFO against ``config``; the device must be at a
        command boundary or searching for a PING (see ``resync``). Bytes before the INFO
        reply (stale messages) are skipped. Returns the INFO fields."""
        self._nonce = (self._nonce + 1) & 0xFF
        self._t.write(encode_ping(self._nonce))
        want = bytes([Msg.INFO.value, self._nonce])
        seen = b""
        while seen[-2:] != want:
            seen = seen[-1:] + self._read(1)
        reader = MessageReader(self._config)
        reader.feed(want)
        while (info := reader.next()) is None:
            reader.feed(self._read(reader.needed()))
        fields = info.fields
        expect = info_values(self._config, rx_depth=fields["rx_depth"])
        for name, value in expect.items():
            if fields[name] != value:
                raise HostLinkError(f"the device reports {name} = {fields[name]}, the "
                                    f"configuration {self._config.name!r} has {value}")
        self._reader = MessageReader(self._config)
        self._credit = fields["rx_depth"]
        self.info = fields
        return fields

    def resync(self):
        """Bring the device back to a command boundary from any state: a break (if the
        transport has ``send_break``, as pyserial's ports do) makes it abandon the command
        in progress; then ``connect``."""
        if hasattr(self._t, "send_break"):
            self._t.send_break()
        return self.connect()

    def _read(self, n):
        data = self._t.read(n)
        if not data:
            raise HostLinkError("the device sent nothing (the transport timed out)")
        return data

    def _next_message(self):
        while (msg := self._reader.next()) is None:
            self._reader.feed(self._read(self._reader.needed()))
        return msg

    def _handle(self, msg):
        if isinstance(msg, Credit):
            self._credit += msg.n
            if self._credit > self.info["rx_depth"]:
                raise HostLinkError(f"credit {self._credit} exceeds the receive FIFO "
                                    f"({self.info['rx_depth']} bytes)")
        elif isinstance(msg, Out):
            self._values.extend(msg.values)
            self._beats += 1
        elif isinstance(msg, Done):
            self._done = True
        elif isinstance(msg, Counters):
            self._counters = msg.values
        elif isinstance(msg, DeviceError):
            name = msg.code.name if isinstance(msg.code, Error) else msg.code
            raise HostLinkError(f"device error {name} (argument 0x{msg.arg:02x})")
        else:
            raise HostLinkError(f"unexpected message {msg}")

    def _exchange(self, data, until=lambda: True):
        """Send ``data`` within credit, handling messages, until all is sent and ``until()``."""
        if self.info is None:
            self.connect()
        pos = 0
        while pos < len(data) or not until():
            if pos < len(data) and self._credit > 0:
                n = min(self._credit, len(data) - pos)
                self._t.write(data[pos:pos + n])
                pos += n
                self._credit -= n
            else:
                self._handle(self._next_message())

    # -- commands -------------------------------------------------------------------------------

    def write_registers(self, pairs):
        self._exchange(encode_write(pairs, self._config))

    def load_input(self, values):
        self._exchange(encode_load(values, self._config))

    def read_counters(self):
        """The accelerator's counters since reset, by name."""
        self._counters = None
        self._exchange(encode_counters(), until=lambda: self._counters is not None)
        return self._counters

    def run_part(self, part):
        """Load, start and feed one ``gen.driver.Part``; returns its output values in stream
        order once the device reports DONE."""
        self.write_registers(part.cfg)
        self.load_input(part.glb)
        self._values, self._done = [], False
        self._exchange(encode_start() + encode_weights(part.weights, self._config),
                       until=lambda: self._done)
        return self._values

    def run(self, program):
        """Run every part of a ``gen.driver.Program``; returns a :class:`RunResult`."""
        before = self.read_counters()
        self._beats, values = 0, []
        for part in program.parts:
            values += self.run_part(part)
        after = self.read_counters()
        mod = 1 << self._config.counter_width
        return RunResult(out=program.decode(values),
                         counters={k: (after[k] - before[k]) % mod for k in after},
                         beats=self._beats)
