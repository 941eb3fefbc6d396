"""The one configuration object of a generated rowloom design, its presets and JSON form.

Everything that sizes hardware (widths, scratchpad depths, array shape, largest run-time
layer dimensions) is a field of :class:`Config`; everything computed from those fields is
a property. Hardware, generator, testbenches and scripts read this object or the JSON
manifest written from it, and never re-derive a width themselves.
"""

import dataclasses
import json
import re
from dataclasses import dataclass, fields

from hw.mac import acc_width_for, int_bounds

__all__ = ["Config", "ConfigError", "PRESETS", "preset", "load_config"]


class ConfigError(ValueError):
    """An invalid configuration; the message is one line naming field, value and range."""

    def __init__(self, field, value, allowed):
        self.field = field
        super().__init__(f"{field} = {value!r} is invalid; allowed: {allowed}")


# field name -> (lowest, highest) for the integer fields; checked in this order.
_INT_RANGES = {
    "rows":          (1, 64),
    "cols":          (1, 64),
    "act_width":     (2, 32),
    "wgt_width":     (2, 32),
    "out_width":     (2, 32),
    "counter_width": (16, 64),
    "filter_spad":   (1, 4096),
    "ifmap_spad":    (1, 4096),
    "psum_spad":     (1, 4096),
    "max_n":         (1, 1 << 16),
    "max_c":         (1, 1 << 16),
    "max_m":         (1, 1 << 16),
    "max_h":         (1, 1 << 16),
    "max_w":         (1, 1 << 16),
    "max_r":         (1, 64),
    "max_s":         (1, 64),
    "max_stride":    (1, 16),
    "max_pad":       (0, 16),
    "psum_lane":     (1, 1 << 16),
    "lane_banks":    (1, 64),
    "lane_queue":    (1, 16),
    "glb_kib":       (1, 4096),
    "glb_banks":     (1, 64),
    "beat":          (1, 16),
    "skip_queue":    (1, 64),
    "skip_slack":    (0, 4096),
}
_BOOL_FIELDS = ("act_signed", "wgt_signed", "product_reg", "operand_reg", "zero_gate",
                "zero_skip", "bus_stage", "drain_cut")


def check_fields(obj, int_ranges, bool_fields=()):
    """Check the name, boolean and integer fields of a config dataclass ``obj``."""
    if not isinstance(obj.name, str) or not re.fullmatch(r"[A-Za-z][A-Za-z0-9_-]*", obj.name):
        raise ConfigError("name", obj.name, "a letter, then letters, digits, '_' or '-'")
    for name in bool_fields:
        value = getattr(obj, name)
        if not isinstance(value, bool):
            raise ConfigError(name, value, "true or false")
    for name, (lo, hi) in int_ranges.items():
        value = getattr(obj, name)
        if not isinstance(value, int) or isinstance(value, bool) or not lo <= value <= hi:
            raise ConfigError(name, value, f"an integer in {lo}..{hi}")


def known_fields(cls, data):
    """``data`` checked to be a dict of ``cls``'s fields."""
    if not isinstance(data, dict):
        raise ConfigError("config", type(data).__name__, "a JSON object of config fields")
    known = {f.name for f in fields(cls)}
    for key in data:
        if key not in known:
            raise ConfigError(key, data[key], f"no such field; fields are {sorted(known)}")
    return data


@dataclass(frozen=True, kw_only=True)
class Config:
    """A rowloom design point. Construct it to validate it; invalid values raise
    :class:`ConfigError`.

    Parameters
    ----------
    name : str
        Preset or user name; also the prefix of the generated top-level module.
    rows, cols : int
        PE array shape.
    act_width, wgt_width : int
        Activation and weight widths, 2 to 32 bits.
    act_signed, wgt_signed : bool
        Operand signedness.
    out_width : int
        Width of requantized outputs (ReLU, shift, saturate).
    acc_width : int or None
        Accumulator and partial-sum width; ``None`` derives the narrowest exact width for
        the largest reduction ``max_c * max_r * max_s``.
    product_reg : bool
        Pipeline register between multiplier and accumulator.
    operand_reg : bool
        The multiplier's operands come from registers: the filter and ifmap spads'
        synchronous read ports (block RAM on iCE40, which has no LUT RAM; LUT RAM and
        flip-flops on ECP5), or, for a zero-skip PE's activation, a register after its
        spad. The spad read and the multiply are then in different cycles (for Fmax;
        a cycle more per sum's write-back).
    zero_gate : bool
        Count a product whose activation is zero as gated, not as a MAC; the MAC does
        not take it from the multiplier (the cycle is spent either way).
    counter_width : int
        Width of performance counters.
    filter_spad, ifmap_spad, psum_spad : int
        Per-PE scratchpad depths in entries.
    max_n, max_c, max_m, max_h, max_w, max_r, max_s, max_stride, max_pad : int
        Largest run-time layer values the design accepts (batch, channels, filters, input
        height and width, filter height and width, stride, padding).
    psum_lane : int
        Partial-sum buffer entries per array column (the psums of that column's chains
        between channel folds).
    lane_banks : int
        Memories each column's psum lane is split into, ``psum_lane / lane_banks`` entries
        each (a power of two when more than one), each with its own write and read port:
        chains placed in different banks move their psums in parallel.
    lane_queue : int
        Psums each lane row reads ahead for the bottom PE of its chain, the read in flight
        included. 3 lets a chain read a psum per cycle (the bank's read takes a cycle);
        1 allows a read every third cycle, which bounds an accumulating pass at
        ``3 * F * p`` cycles: enough for dense passes with ``q * S >= 3``, not for zero
        skipping at low density.
    glb_kib, glb_banks : int
        Global buffer size in KiB and number of banks.
    beat : int
        Values per transfer on the top-level data streams.
    bus_stage : bool
        A two-packet buffer per array row in the filter and input multicast buses
        (``hw.noc.MulticastBus``'s ``row_stage``): a packet waits only for the rows it
        goes to, and each row's receivers take it from the row's buffer, so no
        handshake crosses the whole array in one cycle (for Fmax), at the cost of
        ``2 x rows`` packets of registers per bus and a cycle more on each bus.
    drain_cut : bool
        A PE takes a partial sum from ``psum_in`` (and drains a finished sum) only while
        its output register is empty, so its ``psum_in.ready`` does not follow its
        ``psum_out.ready``: no handshake runs down a psum chain, or from a chain's top
        through the psum lane back to its bottom, in one cycle (for Fmax). A PE then
        drains at most a sum every other cycle, which slows only windows of one
        product (``q * S == 1``).
    zero_skip : bool
        Skip zero activations in time, not only in power: each PE's input passes a
        zero-skip encoder and a queue, and the PE spends cycles only on non-zero values
        (``docs/zero-skip.md``).
    skip_queue : int
        Depth of each PE's queue of non-zero values (with ``zero_skip``); 16 fits one
        LUT-RAM column on ECP5 and gains 2-3% over 4 at densities 0.25-0.5.
    skip_slack : int
        Psum-spad entries each PE has beyond ``psum_spad`` with ``zero_skip`` (the
        mapping still keeps ``p <= psum_spad``): finished sums a PE may hold while the PE
        above, whose sparse windows took longer, catches up, so the PEs of a psum chain
        drift apart by that many sums instead of waiting for each other.
    """

    name:          str = "custom"
    rows:          int = 3
    cols:          int = 4
    act_width:     int = 8
    wgt_width:     int = 8
    act_signed:    bool = True
    wgt_signed:    bool = True
    out_width:     int = 8
    acc_width:     int | None = None
    product_reg:   bool = True
    operand_reg:   bool = False
    zero_gate:     bool = True
    counter_width: int = 32
    filter_spad:   int = 32
    ifmap_spad:    int = 12
    psum_spad:     int = 24
    max_n:         int = 4
    max_c:         int = 16
    max_m:         int = 16
    max_h:         int = 32
    max_w:         int = 32
    max_r:         int = 5
    max_s:         int = 5
    max_stride:    int = 4
    max_pad:       int = 2
    psum_lane:     int = 128
    lane_banks:    int = 1
    lane_queue:    int = 3
    glb_kib:       int = 8
    glb_banks:     int = 2
    beat:          int = 4
    bus_stage:     bool = False
    drain_cut:     bool = False
    zero_skip:     bool = False
    skip_queue:    int = 16
    skip_slack:    int = 24

    def __post_init__(self):
        check_fields(self, _INT_RANGES, _BOOL_FIELDS)
        need = self.acc_width_min
        if self.acc_width is not None:
            value = self.acc_width
            if not isinstance(value, int) or isinstance(value, bool) or not need <= value <= 128:
                raise ConfigError("acc_width", value,
                                  f"an integer in {need}..128 (max_c * max_r * max_s = "
                                  f"{self.reduction} products need {need} bits), or null")
        if self.filter_spad < self.max_s:
            raise ConfigError("filter_spad", self.filter_spad,
                              f">= max_s = {self.max_s} (one filter row)")
        if self.ifmap_spad < max(self.max_s, self.max_stride):
            raise ConfigError("ifmap_spad", self.ifmap_spad,
                              f">= max(max_s, max_stride) = {max(self.max_s, self.max_stride)}"
                              " (one sliding window)")
        if self.beat & (self.beat - 1):
            raise ConfigError("beat", self.beat, "a power of two (1, 2, 4, 8 or 16)")
        if self.psum_lane < self.psum_spad:
            raise ConfigError("psum_lane", self.psum_lane,
                              f">= psum_spad = {self.psum_spad} (one pixel of p filters)")
        if self.lane_banks > 1:
            depth = self.psum_lane // self.lane_banks
            if depth * self.lane_banks != self.psum_lane or depth & (depth - 1) \
                    or depth < self.psum_spad:
                raise ConfigError("lane_banks", self.lane_banks,
                                  f"a divisor of psum_lane = {self.psum_lane} leaving a "
                                  f"power-of-two bank depth >= psum_spad = {self.psum_spad}")
        if self.max_r > self.max_h + 2 * self.max_pad:
            raise ConfigError("max_r", self.max_r,
                              f"<= max_h + 2 * max_pad = {self.max_h + 2 * self.max_pad}")
        if self.max_s > self.max_w + 2 * self.max_pad:
            raise ConfigError("max_s", self.max_s,
                              f"<= max_w + 2 * max_pad = {self.max_w + 2 * self.max_pad}")

    # -- derived values ---------------------------------------------------------------------

    @property
    def reduction(self):
        """Largest number of products summed into one output."""
        return self.max_c * self.max_r * self.max_s

    @property
    def acc_width_min(self):
        return acc_width_for(a_width=self.act_width, a_signed=self.act_signed,
                             b_width=self.wgt_width, b_signed=self.wgt_signed,
                             reduction=self.reduction)

    @property
    def acc_bits(self):
        """Accumulator width in effect (``acc_width`` or the derived minimum)."""
        return self.acc_width if self.acc_width is not None else self.acc_width_min

    @property
    def acc_signed(self):
        return self.act_signed or self.wgt_signed

    @property
    def max_f(self):
        """Widest output row: ``max_w`` with ``max_pad`` on both sides, ``S = U = 1``."""
        return self.max_w + 2 * self.max_pad

    @property
    def max_nq(self):
        """Most input values of one PE job: ``n_in * q <= max_f * ifmap_spad``."""
        return self.max_f * self.ifmap_spad

    @property
    def pes(self):
        return self.rows * self.cols

    @property
    def act_range(self):
        return int_bounds(self.act_width, self.act_signed)

    @property
    def wgt_range(self):
        return int_bounds(self.wgt_width, self.wgt_signed)

    @property
    def top_name(self):
        return f"rowloom_{self.name}".replace("-", "_")

    def derived(self):
        """Derived values, as written into the manifest and the C header."""
        return {
            "reduction":     self.reduction,
            "acc_width_min": self.acc_width_min,
            "acc_bits":      self.acc_bits,
            "acc_signed":    self.acc_signed,
            "pes":           self.pes,
            "max_f":         self.max_f,
            "act_min":       self.act_range[0],
            "act_max":       self.act_range[1],
            "wgt_min":       self.wgt_range[0],
            "wgt_max":       self.wgt_range[1],
        }

    # -- JSON -------------------------------------------------------------------------------

    def to_dict(self):
        return dataclasses.asdict(self)

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data):
        return cls(**known_fields(cls, data))

    @classmethod
    def from_json(cls, text):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError("config", f"line {exc.lineno} col {exc.colno}",
                              f"valid JSON ({exc.msg})") from None
        return cls.from_dict(data)


def _eyeriss(name, width):
    # Eyeriss (JSSC 2017): 12 x 14 PEs, spads 224/12/24 entries, 108 KB global buffer in
    # 27 banks, 64-bit off-chip data bus; limits cover AlexNet CONV1-5 at batch 4. The psum
    # lanes (ours) hold two folds of AlexNet CONV1 and CONV3-5, so one is read out while
    # the next computes, in two banks of 1,024 (two chains of a column move psums at once;
    # four banks took 21-22 % more LUTs on ECP5 for 32-61 of AlexNet's 4.5 M cycles,
    # docs/area.md).
    return Config(name=name, rows=12, cols=14, act_width=width, wgt_width=width,
                  out_width=width, filter_spad=224, ifmap_spad=12, psum_spad=24,
                  max_n=4, max_c=384, max_m=384, max_h=227, max_w=227, max_r=11, max_s=11,
                  max_stride=4, max_pad=2, psum_lane=2048, lane_banks=2, glb_kib=108,
                  glb_banks=27,
                  beat=64 // width)


PRESETS = {
    # Small enough for every RTL test in CI; int8 like most edge inference.
    "tiny": Config(name="tiny", rows=3, cols=4, filter_spad=16, ifmap_spad=8, psum_spad=16,
                   max_n=4, max_c=8, max_m=8, max_h=16, max_w=16, max_r=5, max_s=5,
                   max_stride=4, max_pad=2, psum_lane=128, lane_banks=2, glb_kib=8,
                   glb_banks=2, beat=4),
    # Fits an iCE40 UP5K (iCEBreaker) with the UART host link: three rows for 3 x 3 filters,
    # one column, scratchpads for two channels of two 3-wide filters (docs/boards.md).
    # iCE40 has no LUT RAM: with registered operands the filter spad is read synchronously
    # and sits in block RAM (~400 logic cells fewer); the psum spads are flip-flops, so
    # two psums, not four, and the lane reads one psum ahead, not three (+230 LUT4, +150
    # FF; its dense passes do not need them). No psum handshake runs along a chain.
    "up5k": Config(name="up5k", rows=3, cols=1, filter_spad=12, ifmap_spad=6, psum_spad=2,
                   max_n=1, max_c=8, max_m=8, max_h=16, max_w=16, max_r=3, max_s=3,
                   max_stride=2, max_pad=1, psum_lane=256, glb_kib=2, glb_banks=1, beat=1,
                   lane_queue=1, counter_width=24, operand_reg=True, drain_cut=True),
    "eyeriss": _eyeriss("eyeriss", 16),
    "eyeriss-int8": _eyeriss("eyeriss-int8", 8),
}


def preset(name):
    """The preset called ``name``; :class:`ConfigError` names the choices otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError("preset", name, ", ".join(sorted(PRESETS))) from None


def load_config(path):
    """Read a JSON config file; unreadable files raise :class:`ConfigError` as well."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("config", str(path), f"a readable JSON file ({exc})") from None
    return Config.from_json(text)
