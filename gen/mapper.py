"""Row-stationary mapping: place a CONV layer on a generated PE array (Eyeriss, JSSC 2017).

A logical PE set of ``R x E`` PEs computes one 2-D convolution: PE ``(r, e)`` holds filter
row ``r`` and input row ``e * U + r`` and makes output row ``e``; the ``R`` PEs of a column
add their partial sums. The mapper fits that set to the physical ``rows x cols`` array:

- a set wider than the array is split into ``segments`` stacked vertically when they fit
  (AlexNet CONV2: 5 x 27 becomes two 5 x 14 strips on 10 rows), else strip-mined in time
  into ``e_folds`` passes of ``e`` output rows (CONV1: 55 rows in passes of 14);
- the array then holds ``sets_v x sets_h`` copies of the placed set, which work on ``t``
  groups of filters (Eyeriss's ``r``, copies on channel groups, is always 1 here);
- each PE interleaves ``p`` filters and ``q`` channels, within its scratchpads:
  ``p * q * S <= filter_spad``, ``q * max(S, U) <= ifmap_spad``, ``p <= psum_spad``.

The mapper is plain Python, as in Eyeriss; the hardware's own control runs the loops.
"""

from dataclasses import dataclass, field
from math import ceil

from .config import Config

__all__ = ["Layer", "Mapping", "MappingError", "map_layer", "check_limits", "ALEXNET", "EYERISS_ACTIVE_PES"]


class MappingError(ValueError):
    """A layer that cannot run on the design; the message names the limit exceeded."""


@dataclass(frozen=True, kw_only=True)
class Layer:
    """A CONV layer: batch ``n``, ``c`` input channels of ``h x w``, ``m`` filters of
    ``c x r x s``, stride ``stride``, zero padding ``pad`` (the Eyeriss papers' names).

    ``pad_top`` and ``pad_bottom`` (default ``pad``) set the rows of zeros above and below
    the input separately; the host driver uses them for the row slices of a layer too big
    for the global buffer (``gen.driver.plan_parts``). ``pad`` is always the column
    padding."""

    n:      int = 1
    c:      int
    h:      int
    w:      int
    m:      int
    r:      int
    s:      int
    stride: int = 1
    pad:    int = 0
    name:   str = ""
    pad_top:    int | None = None
    pad_bottom: int | None = None

    def __post_init__(self):
        for key in ("n", "c", "h", "w", "m", "r", "s", "stride"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"layer {key} must be a positive integer, not {value!r}")
        for key in ("pad_top", "pad_bottom"):
            if getattr(self, key) is None:
                object.__setattr__(self, key, self.pad)
        for key in ("pad", "pad_top", "pad_bottom"):
            value = getattr(self, key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"layer {key} must be a non-negative integer, not {value!r}")
        if self.e < 1 or self.f < 1:
            raise ValueError(f"layer {self.r}x{self.s} filter does not fit the {self.h}x{self.w}"
                             f" input padded by {self.pad}")

    @property
    def e(self):
        return (self.h + self.pad_top + self.pad_bottom - self.r) // self.stride + 1

    @property
    def f(self):
        return (self.w + 2 * self.pad - self.s) // self.stride + 1

    @property
    def macs(self):
        return self.n * self.m * self.e * self.f * self.c * self.r * self.s


# AlexNet CONV1-5 as the Eyeriss papers use them; the grouped layers
# are given per filter, with the channels one filter sees.
ALEXNET = {
    "CONV1": Layer(name="CONV1", c=3,   h=227, w=227, m=96,  r=11, s=11, stride=4, pad=0),
    "CONV2": Layer(name="CONV2", c=48,  h=27,  w=27,  m=256, r=5,  s=5,  stride=1, pad=2),
    "CONV3": Layer(name="CONV3", c=256, h=13,  w=13,  m=384, r=3,  s=3,  stride=1, pad=1),
    "CONV4": Layer(name="CONV4", c=192, h=13,  w=13,  m=384, r=3,  s=3,  stride=1, pad=1),
    "CONV5": Layer(name="CONV5", c=192, h=13,  w=13,  m=256, r=3,  s=3,  stride=1, pad=1),
}
# Eyeriss JSSC 2017, Table III: active PEs of 168 per AlexNet layer.
EYERISS_ACTIVE_PES = {"CONV1": 154, "CONV2": 135, "CONV3": 156, "CONV4": 156, "CONV5": 156}


@dataclass(frozen=True)
class Mapping:
    """Where and how a layer runs on the array (see the module docstring)."""

    layer:    Layer
    config:   Config = field(repr=False)
    e:        int      # output rows per pass, over all segments
    segments: int      # vertical strips a set is split into
    e_folds:  int      # passes over the output rows
    sets_v:   int      # copies of the placed set, vertically
    sets_h:   int      # and horizontally
    t:        int      # copies on different filter groups
    r:        int      # copies on different channel groups
    p:        int      # filters interleaved per PE
    q:        int      # channels interleaved per PE

    @property
    def set_rows(self):
        return self.layer.r * self.segments

    @property
    def set_cols(self):
        return ceil(self.e / self.segments)

    @property
    def active_pes(self):
        """PEs busy in a full-width pass."""
        return self.r * self.t * self.layer.r * self.e

    @property
    def filter_folds(self):
        return ceil(self.layer.m / (self.p * self.t))

    @property
    def channel_folds(self):
        return ceil(self.layer.c / (self.q * self.r))

    @property
    def chains_per_column(self):
        """Psum chains sharing each array column's lane."""
        return self.sets_v * self.segments

    @property
    def lane_spread(self):
        """Whether the column's chains are spread over the lane's banks: chain ``i`` in
        bank ``i % lane_banks``, so that up to ``lane_banks`` chains move psums at once.
        Needs more than one chain per column, and every bank to hold its chains' ``F * p``
        psums; otherwise the chains are packed one after another (``lane_base``). A lone
        chain gains nothing from the banks, and packed it may take half of the whole lane
        (:meth:`lane_halves`) where half a bank would be too small (AlexNet CONV1 at
        p = 8: 440 psums, against banks of 512 were a lane of 2,048 in four banks)."""
        c, fp = self.config, self.layer.f * self.p
        banks, chains = c.lane_banks, self.chains_per_column
        return banks > 1 and chains > 1 and ceil(chains / banks) * fp <= c.psum_lane // banks

    @property
    def lane_halves(self):
        """Whether the chains' psums (:meth:`lane_base`) fit in half of the lanes: the
        lower half of every bank when spread over the banks, the lower half of the lane
        when packed. Then consecutive filter folds or strips use the two halves in turn,
        and one is read out while the next computes (``hw.array.PEArray.half_bit``)."""
        c, fp = self.config, self.layer.f * self.p
        if self.lane_spread:
            half = c.psum_lane // c.lane_banks // 2
            return ceil(self.chains_per_column / c.lane_banks) * fp <= half
        return c.psum_lane >= 2 and self.chains_per_column * fp <= c.psum_lane // 2

    def lane_base(self, slot):
        """Lane address of the first psum of chain ``slot`` (``v * segments + sg``)."""
        c, fp = self.config, self.layer.f * self.p
        if self.lane_spread:
            banks = c.lane_banks
            return slot % banks * (c.psum_lane // banks) + slot // banks * fp
        return slot * fp

    @property
    def est_cycles(self):
        """Cycles at one MAC per PE per cycle: every pass runs ``F * p * q * S`` MACs per
        PE, for each strip of output rows and each filter and channel fold."""
        L = self.layer
        return (L.n * self.e_folds * self.filter_folds * self.channel_folds
                * L.f * self.p * self.q * L.s)

    @property
    def est_utilization(self):
        """Estimated MACs / (cycles x all PEs)."""
        return self.layer.macs / (self.est_cycles * self.config.pes)

    def summary(self):
        return (f"e={self.e} segments={self.segments} e_folds={self.e_folds} "
                f"sets={self.sets_v}x{self.sets_h} t={self.t} r={self.r} p={self.p} "
                f"q={self.q} active={self.active_pes}")


def _named(layer):
    return f"layer {layer.name}" if layer.name else "layer"


def check_limits(layer, config, *, splittable=True):
    """:class:`MappingError` naming the first generated limit ``layer`` exceeds. With
    ``splittable=False``, the batch and input height are not checked: the host driver
    splits a layer along them (``gen.driver.plan_parts``)."""
    checks = [("batch n", layer.n, "max_n", config.max_n),
              ("channels c", layer.c, "max_c", config.max_c),
              ("filters m", layer.m, "max_m", config.max_m),
              ("input height h", layer.h, "max_h", config.max_h),
              ("input width w", layer.w, "max_w", config.max_w),
              ("filter height r", layer.r, "max_r", config.max_r),
              ("filter width s", layer.s, "max_s", config.max_s),
              ("stride", layer.stride, "max_stride", config.max_stride),
              ("padding", max(layer.pad, layer.pad_top, layer.pad_bottom), "max_pad",
               config.max_pad),
              ("filter height r", layer.r, "rows", config.rows)]
    if not splittable:
        checks = [c for c in checks if c[2] not in ("max_n", "max_h")]
    for what, value, limit, bound in checks:
        if value > bound:
            raise MappingError(f"{_named(layer)} {what} = {value} exceeds the design's "
                               f"{limit} = {bound}")
    if max(layer.s, layer.stride) > config.ifmap_spad:
        raise MappingError(f"{_named(layer)} window max(S, U) = "
                           f"{max(layer.s, layer.stride)} exceeds ifmap_spad = "
                           f"{config.ifmap_spad}")


def _least_waste(total, limit, copies):
    """The ``k <= limit`` that wastes fewest slots covering ``total`` with ``k * copies``
    per fold (largest such ``k`` on ties)."""
    best = None
    for k in range(1, max(1, min(limit, total)) + 1):
        waste = ceil(total / (k * copies)) * k * copies - total
        if best is None or waste <= best[0]:
            best = (waste, k)
    return best[1]


def _place(layer, config, e, e_folds, segments):
    """The mapping for one placement of the set, or None if it does not fit."""
    set_rows, set_cols = layer.r * segments, ceil(e / segments)
    if set_rows > config.rows or set_cols > config.cols:
        return None
    # Each column's psum lane holds F * p psums for every chain (vertical copy x segment)
    # of the column: no more copies than the lane holds at p = 1.
    sets_v = min(config.rows // set_rows, config.psum_lane // (segments * layer.f))
    sets_h = config.cols // set_cols
    if sets_v < 1:
        return None
    copies = sets_v * sets_h
    q_max = min(layer.c, config.ifmap_spad // max(layer.s, layer.stride),
                config.filter_spad // layer.s)
    q = _least_waste(layer.c, q_max, 1)
    p_max = min(layer.m, config.psum_spad, config.filter_spad // (q * layer.s),
                config.psum_lane // (sets_v * segments * layer.f))
    # Copies work on different filter groups. (Copies on channel groups, Eyeriss's r,
    # would need psums added across sets; the array does not do that yet, so r = 1.)
    t = min(copies, ceil(layer.m / p_max))
    r = 1
    p = _least_waste(layer.m, p_max, t)
    # Prefer a p whose next pass's weights fit beside the current ones (the filter spad
    # is a ring), if that costs no more filter-slot cycles (folds x p): the next pass's
    # weights then load while this pass computes, where otherwise every PE would wait at
    # the pass's start for the weights the spad could not take. It doubles the input
    # reads of the global buffer (twice the filter folds) but not the cycles: AlexNet
    # CONV3 on eyeriss (4 values per beat) 83.4% -> 91.6% MAC utilization. A zero-skip
    # PE, faster through sparse windows than the filter bus, gains the most.
    p_ring = min(p_max, config.filter_spad // (2 * q * layer.s))
    if p_ring >= 1:
        alt = _least_waste(layer.m, p_ring, t)
        if ceil(layer.m / (alt * t)) * alt <= ceil(layer.m / (p * t)) * p:
            p = alt
    return Mapping(layer=layer, config=config, e=e, segments=segments, e_folds=e_folds,
                   sets_v=sets_v, sets_h=sets_h, t=t, r=r, p=p, q=q)


def map_layer(layer, config):
    """Choose the mapping of ``layer`` on ``config``; :class:`MappingError` if impossible.

    Every placement (output rows per pass, vertical segments) is tried; the one with the
    fewest estimated cycles wins, then the fewest passes over the output rows (spatial
    folding before temporal, as Eyeriss maps CONV2), then the most active PEs.
    """
    check_limits(layer, config)
    best = None
    for e_folds in range(1, layer.e + 1):
        e = ceil(layer.e / e_folds)
        if e_folds > 1 and ceil(layer.e / (e_folds - 1)) == e:
            continue    # the same strip width with fewer passes was already tried
        for segments in range(1, e + 1):
            mapping = _place(layer, config, e, e_folds, segments)
            if mapping is None:
                continue
            key = (mapping.est_cycles, e_folds, -mapping.active_pes, segments)
            if best is None or key < best[0]:
                best = (key, mapping)
    if best is None:
        # check_limits guarantees that a one-column set (e = 1) fits the array, so only
        # the psum lane can refuse every placement.
        raise MappingError(f"{_named(layer)} output width F = {layer.f} exceeds psum_lane = "
                           f"{config.psum_lane}: a column's psum lane holds F psums of "
                           "each chain")
    return best[1]
