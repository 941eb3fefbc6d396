"""Multiply-accumulate unit with optional product register and zero gating."""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

__all__ = ["MAC", "int_bounds", "bits_for_range", "acc_width_for"]


def int_bounds(width, is_signed):
    """Inclusive ``(lo, hi)`` range of a ``width``-bit integer."""
    if is_signed:
        return -(1 << (width - 1)), (1 << (width - 1)) - 1
    return 0, (1 << width) - 1


def bits_for_range(lo, hi, is_signed):
    """Fewest bits of a (signed or unsigned) integer that hold every value in ``[lo, hi]``."""
    width = 1
    while True:
        wlo, whi = int_bounds(width, is_signed)
        if wlo <= lo and hi <= whi:
            return width
        width += 1


def acc_width_for(*, a_width, a_signed, b_width, b_signed, reduction):
    """Accumulator width that holds any sum of ``reduction`` products ``a * b`` exactly.

    The bound is computed from the operand ranges, so for example a signed 8 x 8 product
    needs 16 bits only because of ``-128 * -128``.
    """
    alo, ahi = int_bounds(a_width, a_signed)
    blo, bhi = int_bounds(b_width, b_signed)
    corners = (alo * blo, alo * bhi, ahi * blo, ahi * bhi)
    return bits_for_range(reduction * min(corners), reduction * max(corners),
                          a_signed or b_signed)


def _check_int(name, value, lo, hi):
    if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
        raise ValueError(f"{name} must be an integer in {lo}..{hi}, not {value!r}")


class MAC(wiring.Component):
    """Multiply-accumulate unit.

    ``acc`` is the sum of ``a * b`` over every cycle with ``en`` high since the last cycle
    with ``clear`` high (a cycle with both starts a new sum with its own product). Inputs
    take effect on ``acc`` exactly :attr:`latency` cycles later. ``acc`` has no reset:
    assert ``clear`` before the first sum.

    With ``zero_gate``, an enabled cycle whose ``a`` is zero does not load the product
    register (so the multiplier's result does not toggle it) and adds nothing; it is
    counted in ``gated`` instead of ``macs``.

    Parameters
    ----------
    a_width, b_width : int
        Operand widths, 2 to 32 bits. ``a`` is the activation, ``b`` the weight.
    a_signed, b_signed : bool
        Operand signedness.
    reduction : int
        Largest number of products summed between clears; sets the default ``acc_width``.
    acc_width : int or None
        Accumulator width; ``None`` picks the narrowest exact width for ``reduction``.
        A narrower value than that raises ``ValueError``.
    product_reg : bool
        Register the product before accumulation (latency 2 instead of 1).
    zero_gate : bool
        Skip multiplies whose activation is zero and count them.
    counter_width : int
        Width of the ``macs`` and ``gated`` counters (they wrap); 0 leaves them out.

    Members
    -------
    a : In(a_width)
    b : In(b_width)
    en : In(1)
        Accumulate ``a * b`` this cycle.
    clear : In(1)
        Start a new sum this cycle.
    acc : Out(acc_width)
        Signed unless both operands are unsigned.
    macs : Out(counter_width)
        Products accumulated since reset (absent when ``counter_width`` is 0).
    gated : Out(counter_width)
        Enabled cycles skipped because ``a`` was zero (always 0 without ``zero_gate``).
    """

    def __init__(self, *, a_width, b_width, a_signed=True, b_signed=True, reduction=1,
                 acc_width=None, product_reg=True, zero_gate=False, counter_width=32):
        _check_int("a_width", a_width, 2, 32)
        _check_int("b_width", b_width, 2, 32)
        _check_int("reduction", reduction, 1, 1 << 40)
        _check_int("counter_width", counter_width, 0, 64)
        self._counters = counter_width > 0
        need = acc_width_for(a_width=a_width, a_signed=bool(a_signed), b_width=b_width,
                             b_signed=bool(b_signed), reduction=reduction)
        if acc_width is None:
            acc_width = need
        _check_int("acc_width", acc_width, need, 128)
        self._a_shape = signed(a_width) if a_signed else unsigned(a_width)
        self._b_shape = signed(b_width) if b_signed else unsigned(b_width)
        self._acc_shape = (signed if (a_signed or b_signed) else unsigned)(acc_width)
        self._product_reg = bool(product_reg)
        self._zero_gate = bool(zero_gate)
        super().__init__({
            "a":     In(self._a_shape),
            "b":     In(self._b_shape),
            "en":    In(1),
            "clear": In(1),
            "acc":   Out(self._acc_shape),
            **({"macs": Out(counter_width), "gated": Out(counter_width)}
               if self._counters else {}),
        })

    @property
    def latency(self):
        """Cycles from operands at the inputs to their effect on ``acc``."""
        return 2 if self._product_reg else 1

    @property
    def acc_shape(self):
        return self._acc_shape

    def elaborate(self, platform):
        m = Module()

        gate = Signal()
        if self._zero_gate:
            m.d.comb += gate.eq(self.a == 0)
        take = self.en & ~gate
        if self._counters:
            m.d.sync += [
                self.macs.eq(self.macs + take),
                self.gated.eq(self.gated + (self.en & gate)),
            ]

        product = self.a * self.b
        if self._product_reg:
            # Datapath registers carry no reset so that synthesis can pack them into DSPs.
            s1_prod  = Signal.like(product, reset_less=True)
            s1_take  = Signal()
            s1_clear = Signal()
            with m.If(take):
                m.d.sync += s1_prod.eq(product)
            m.d.sync += [
                s1_take.eq(take),
                s1_clear.eq(self.clear),
            ]
            addend, clear = Mux(s1_take, s1_prod, 0), s1_clear
        else:
            addend, clear = Mux(take, product, 0), self.clear

        acc = Signal(self._acc_shape, reset_less=True)
        m.d.sync += acc.eq(Mux(clear, 0, acc) + addend)
        m.d.comb += self.acc.eq(acc)
        return m
