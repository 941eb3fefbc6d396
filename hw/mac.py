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

    A sum is the total of ``a * b`` over the cycles with ``en`` high, up to and including
    a cycle with ``last`` high; the next sum starts after it. ``sum`` shows, :attr:`latency`
    cycles after each cycle, the total of the current sum through that cycle, so the
    finished sum is on it :attr:`latency` cycles after its ``last`` cycle. The accumulator
    returns to zero as a sum ends (and on reset), so no operand is masked to start a sum,
    and with ``product_reg`` a cycle that takes no product loads zero into the product
    register, so none is masked to skip one either: on FPGAs both are the flip-flops'
    synchronous resets. (Without ``product_reg`` the product is masked.)

    With ``zero_gate``, an enabled cycle whose ``a`` is zero is counted in ``gated``
    instead of ``macs``, and the multiplier's result is not taken: the product register
    loads zero instead (which the product is too). Zero gating is thus a count here; the
    cycle is spent either way.

    Parameters
    ----------
    a_width, b_width : int
        Operand widths, 2 to 32 bits. ``a`` is the activation, ``b`` the weight.
    a_signed, b_signed : bool
        Operand signedness.
    reduction : int
        Largest number of products in one sum; sets the default ``acc_width``.
    acc_width : int or None
        Accumulator width; ``None`` picks the narrowest exact width for ``reduction``.
        A narrower value than that raises ``ValueError``.
    product_reg : bool
        Register the product before accumulation (one cycle of latency).
    zero_gate : bool
        Count the products whose activation is zero in ``gated``, not ``macs``.
    counter_width : int
        Width of the ``macs`` and ``gated`` counters (they wrap); 0 leaves them out.

    Members
    -------
    a : In(a_width)
    b : In(b_width)
    en : In(1)
        Accumulate ``a * b`` this cycle.
    last : In(1)
        This cycle ends the sum.
    sum : Out(acc_width)
        Signed unless both operands are unsigned.
    macs : Out(counter_width)
        Products accumulated since reset (absent when ``counter_width`` is 0).
    gated : Out(counter_width)
        Enabled cycles skipped because ``a`` was zero (always 0 without ``zero_gate``).
    """

    def __init__(self, *, a_width, b_width, a_signed=True, b_signed=True, reduction=1,
                 acc_width=None, product_reg=True, zero_gate=False,
                 counter_width=32):
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
            "last":  In(1),
            "sum":   Out(self._acc_shape),
            **({"macs": Out(counter_width), "gated": Out(counter_width)}
               if self._counters else {}),
        })

    @property
    def latency(self):
        """Cycles from operands at the inputs to their effect on ``sum``."""
        return int(self._product_reg)

    @property
    def acc_shape(self):
        return self._acc_shape

    def elaborate(self, platform):
        m = Module()

        a, b, en, last_in = self.a, self.b, self.en, self.last

        gate = Signal()
        if self._zero_gate:
            m.d.comb += gate.eq(a == 0)
        take = en & ~gate
        if self._counters:
            m.d.sync += [
                self.macs.eq(self.macs + take),
                self.gated.eq(self.gated + (en & gate)),
            ]

        product = a * b
        if self._product_reg:
            # Zero, not a held value, when nothing is taken: then the accumulator adds the
            # register unmasked. This and the accumulator's return to zero are synchronous
            # resets, which FPGA flip-flops have for free. (iCE40's SB_MAC16 then keeps
            # the register out of the DSP: more flip-flops there, fewer LUTs.)
            addend = Signal.like(product)
            last = Signal()
            m.d.sync += [addend.eq(Mux(take, product, 0)), last.eq(last_in)]
        else:
            addend, last = Mux(take, product, 0), last_in

        acc = Signal(self._acc_shape)
        m.d.comb += self.sum.eq(acc + addend)
        m.d.sync += acc.eq(Mux(last, 0, self.sum))
        return m
