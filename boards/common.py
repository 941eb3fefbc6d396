"""What every board top shares: the serial-line divisor for a clock and a baud rate,
``BoardCore`` (the logic a board runs) and ``BoardTop`` (that logic on the pins of an
amaranth-boards platform). The board modules (``boards.icebreaker``, ``boards.ulx3s``,
``boards.arty_a7``) subclass ``BoardTop`` with their platform, pins and default design;
docs/boards.md.
"""

from amaranth import Elaboratable, Module, ResetInserter, Signal
from amaranth.lib import io
from amaranth.lib.cdc import FFSynchronizer
from amaranth.lib.wiring import In

from gen.config import Config
from hw.hostlink import HostLinkTop, check_rx_depth

__all__ = ["MIN_DIVISOR", "BAUD_TOLERANCE", "baud_divisor", "BoardCore", "BoardTop"]

MIN_DIVISOR = 4             # clock cycles per bit the UART needs at least (hw.uart)
BAUD_TOLERANCE = 0.02       # the UART receives a sender up to about 2.5 % off (docs/hostlink.md)


def baud_divisor(clock_hz, baud, *, tolerance=BAUD_TOLERANCE):
    """Clock cycles per bit for ``baud`` on a ``clock_hz`` clock: the nearest integer, which
    must be at least ``MIN_DIVISOR`` and give a rate within ``tolerance`` of ``baud``;
    ``ValueError`` otherwise."""
    if not isinstance(baud, int) or isinstance(baud, bool) or baud <= 0:
        raise ValueError(f"baud must be a positive integer, not {baud!r}")
    mhz = f"{clock_hz / 1e6:g} MHz"
    divisor = round(clock_hz / baud)
    if divisor < MIN_DIVISOR:
        raise ValueError(f"baud {baud} is too fast for a {mhz} clock: the UART needs at least "
                         f"{MIN_DIVISOR} clock cycles per bit (at most "
                         f"{int(clock_hz // MIN_DIVISOR)} baud)")
    error = clock_hz / divisor / baud - 1
    if abs(error) > tolerance:
        raise ValueError(f"baud {baud} cannot be made from a {mhz} clock: {mhz} / {divisor} = "
                         f"{clock_hz / divisor:.0f} baud is {error:+.1%} off (at most "
                         f"{tolerance:.0%} allowed)")
    return divisor


class BoardCore(HostLinkTop):
    """The logic of a board top: ``hw.hostlink.HostLinkTop`` for ``config``, which a
    button resets.

    The clock and the power-on reset come from the board (``sync`` domain). While
    ``reset`` is held, after a two-flop synchronizer, the link and the accelerator are held
    in reset: a run stops, the receive FIFO empties and the counters restart from zero.

    Parameters
    ----------
    config : gen.config.Config
    divisor : int
        Clock cycles per bit of the serial line.
    rx_depth : int
        Receive FIFO depth of the link, in bytes.

    Members
    -------
    uart_rx : In(1, init=1)
        Serial data from the host (8N1), asynchronous.
    uart_tx : Out(1, init=1)
        Serial data to the host.
    busy : Out(1)
        A run is in progress (for a LED).
    reset : In(1)
        Reset button, active high, asynchronous.
    """

    def __init__(self, *, config, divisor, rx_depth=512):
        super().__init__(config=config, divisor=divisor, rx_depth=rx_depth,
                         extra={"reset": In(1)})

    def elaborate(self, platform):
        m = Module()
        held = Signal()
        m.submodules.reset_sync = FFSynchronizer(self.reset, held)
        m.submodules.link = ResetInserter(held)(super().elaborate(platform))
        return m


class BoardTop(Elaboratable):
    """The accelerator behind a UART host link on an FPGA board: elaborate it through its
    platform (``platform.build(top)``, ``boards.flow``).

    The design runs on the platform's default clock, and the platform's power-on reset (and
    reset input, if the board has one) resets it. The serial line is the platform's
    ``uart`` resource, ``busy`` lights the LED ``led`` and the button ``button`` (if any)
    resets the design while pressed.

    A board module sets the class attributes: ``name`` (as ``rowloom board --board`` takes
    it), ``title``, ``platform_class`` (an amaranth-boards platform), ``target`` and
    ``device`` (the ``gen.area`` target and device the design must fit), ``led``, ``button``
    (resource name and number), ``synth_opts`` and ``pnr_opts`` (options of the platform's
    yosys ``synth_<family>`` and of nextpnr), ``synth_only`` (for a family without an open
    place-and-route tool: the yosys command the open flow synthesizes with, and stops
    after) and ``default_config``.

    Parameters
    ----------
    config : gen.config.Config or None
        The design; ``None`` takes the board's ``default_config()``.
    baud : int
        Serial line rate; the divisor is the nearest integer to clock / baud, which must be
        within ``BAUD_TOLERANCE`` of it (``ValueError`` otherwise).
    rx_depth : int
        Receive FIFO depth of the link, in bytes.
    """

    name = title = platform_class = target = device = None
    led = ("led", 0)
    button = None
    synth_opts = ""
    pnr_opts = ""
    synth_only = None

    @classmethod
    def default_config(cls):
        raise NotImplementedError(f"{cls.__name__} names no default configuration")

    @classmethod
    def divisor_for(cls, baud):
        """The divisor for ``baud`` on the board's clock (:func:`baud_divisor`)."""
        return baud_divisor(cls.platform_class().default_clk_frequency, baud)

    def __init__(self, *, config=None, baud=115200, rx_depth=512):
        config = self.default_config() if config is None else config
        if not isinstance(config, Config):
            raise TypeError(f"config must be a row-stationary Config, not {config!r}")
        self._config = config
        self._clock_hz = self.platform_class().default_clk_frequency
        self._baud = baud
        self._divisor = self.divisor_for(baud)
        check_rx_depth(rx_depth)
        self._rx_depth = rx_depth

    @property
    def config(self):
        return self._config

    @property
    def clock_hz(self):
        """The platform's default clock, which the design runs on."""
        return self._clock_hz

    @property
    def baud(self):
        return self._baud

    @property
    def divisor(self):
        return self._divisor

    @property
    def rx_depth(self):
        return self._rx_depth

    @property
    def place_and_route(self):
        """Whether the open flow places, routes and packs a bitstream."""
        return self.synth_only is None

    @property
    def actual_baud(self):
        """The rate the design runs its serial line at (clock / divisor)."""
        return self._clock_hz / self._divisor

    def elaborate(self, platform):
        if not isinstance(platform, self.platform_class):
            raise TypeError(f"{type(self).__name__} elaborates on {self.platform_class.__name__}"
                            f", not {platform!r}; simulate boards.common.BoardCore instead")
        m = Module()
        m.submodules.core = core = BoardCore(config=self._config, divisor=self._divisor,
                                             rx_depth=self._rx_depth)
        uart = platform.request("uart", 0, dir="-")
        m.submodules.rx_pin = rx = io.Buffer("i", uart.rx)
        m.submodules.tx_pin = tx = io.Buffer("o", uart.tx)
        m.submodules.led_pin = led = io.Buffer("o", platform.request(*self.led, dir="-"))
        m.d.comb += [core.uart_rx.eq(rx.i), tx.o.eq(core.uart_tx), led.o.eq(core.busy)]
        if self.button is not None:
            m.submodules.button_pin = button = io.Buffer(
                "i", platform.request(*self.button, dir="-"))
            m.d.comb += core.reset.eq(button.i)
        return m
