"""Host driver for the row-stationary accelerator (``hw.accel.Accelerator``).

``compile_layer`` turns a layer, its data and a design into what the host sends: register
writes (the mapping and the products the controller's loops use), biases, the global
buffer image of the input, and the filter-weight stream in pass order; ``decode`` puts the
output stream back into N x M x E x F order. The same driver serves the tests and the
``rowloom conv`` command.
"""

import dataclasses
from dataclasses import dataclass, field
from math import ceil

import numpy as np

from hw.accel import BIAS_DATA, BIAS_PTR, REGISTERS, glb_depth, register_bounds
from hw.array import PEArray

from .mapper import Layer, Mapping, MappingError, check_limits, map_layer

__all__ = ["Program", "Part", "Chain", "strip_chains", "plan_parts", "registers",
           "register_writes", "compile_layer"]


@dataclass(frozen=True)
class Chain:
    """One psum chain of a strip: a column of ``R`` PEs making output row ``ee``."""

    g:    int   # copy of the PE set (filter group slot)
    sg:   int   # segment of the copy
    x:    int   # array column
    y0:   int   # top row
    ee:   int   # output row within the strip
    slot: int   # chain index within its column's psum lane


def strip_chains(mapping, rows_in_strip):
    """The active chains of a strip, in the order the hardware visits them:
    copies ``(v, h)``, then segments ``sg``, then set columns ``j``."""
    R = mapping.layer.r
    out = []
    for v in range(mapping.sets_v):
        for h in range(mapping.sets_h):
            g = v * mapping.sets_h + h
            if g >= mapping.t:
                continue
            for sg in range(mapping.segments):
                for j in range(mapping.set_cols):
                    ee = sg * mapping.set_cols + j
                    if ee < rows_in_strip:
                        out.append(Chain(g=g, sg=sg, x=h * mapping.set_cols + j,
                                         y0=v * mapping.set_rows + sg * R, ee=ee,
                                         slot=v * mapping.segments + sg))
    return out


@dataclass
class Part:
    """One run of the accelerator: a slice of the layer (images ``n0..``, output rows
    ``e0..``) small enough for the global buffer, and everything the host sends for it."""

    layer:     Layer                        # the slice, as the RTL runs it
    mapping:   Mapping
    n0:        int                          # its first image in the whole layer
    e0:        int                          # its first output row in the whole layer
    rows:      tuple                        # input rows (lo, hi) of the whole layer it reads
    cfg:       list = field(repr=False)     # (addr, data) register and bias writes
    glb:       list = field(repr=False)     # input values, from glb address 0
    weights:   list = field(repr=False)     # beats of `beat` weights, in pass order
    out_order: list = field(repr=False)     # (n, m, e, f) in the whole layer, in order


@dataclass
class Program:
    """Everything the host sends for one layer, and how to read what comes back: the
    parts run one after another, each loading its registers, buffer and weights."""

    layer: Layer
    parts: list

    @property
    def mapping(self):
        """The mapping of the first (largest) part."""
        return self.parts[0].mapping

    @property
    def out_order(self):
        return [o for part in self.parts for o in part.out_order]

    def decode(self, values):
        """The output values, in stream order, as an N x M x E x F int64 array."""
        L = self.layer
        order = self.out_order
        if len(values) != len(order):
            raise ValueError(f"expected {len(order)} outputs, got {len(values)}")
        out = np.zeros((L.n, L.m, L.e, L.f), dtype=np.int64)
        for (n, m, e, f), v in zip(order, values, strict=True):
            out[n, m, e, f] = v
        return out


def _glb_values(mp):
    L = mp.layer
    return L.n * mp.channel_folds * L.h * L.w * mp.q


def _row_slice(layer, e0, rows):
    """The slice of ``layer`` making output rows ``e0 .. e0 + rows - 1`` of one image, and
    the input rows ``(lo, hi)`` it reads; None if the slice lies wholly in the padding."""
    L = layer
    lo = e0 * L.stride - L.pad_top                 # first input row of the window
    hi = lo + (rows - 1) * L.stride + L.r           # one past the last
    lo_c, hi_c = max(0, lo), min(L.h, hi)
    if hi_c <= lo_c:
        return None
    sub = dataclasses.replace(L, n=1, h=hi_c - lo_c, pad_top=lo_c - lo, pad_bottom=hi - hi_c,
                              name=f"{L.name}[e{e0}:{e0 + rows}]" if L.name else "")
    assert sub.e == rows
    return sub, (lo_c, hi_c)


def plan_parts(layer, config):
    """Split ``layer`` into parts whose inputs fit the global buffer and the generated
    batch and height limits, as Eyeriss's host does with DRAM: the whole layer if it fits;
    else groups of whole images; else slices of output rows of one image, each with its
    halo of input rows, the slice height chosen for the fewest estimated cycles, then
    the fewest parts. Returns
    ``[(n0, e0, (lo, hi), sub_layer)]``; :class:`MappingError` if the layer exceeds a
    limit that splitting cannot help, or one output row of one image does not fit."""
    check_limits(layer, config, splittable=False)
    depth = glb_depth(config)

    def fits(sub):
        try:
            return _glb_values(map_layer(sub, config)) <= depth
        except MappingError:
            return False

    L = layer
    if fits(L):
        return [(0, 0, (0, L.h), L)]
    if fits(dataclasses.replace(L, n=1)):
        k = max(k for k in range(1, L.n + 1) if fits(dataclasses.replace(L, n=k)))
        return [(n0, 0, (0, L.h), dataclasses.replace(L, n=min(k, L.n - n0)))
                for n0 in range(0, L.n, k)]
    best = None
    for rows in range(1, L.e):
        slices = [(e0, _row_slice(L, e0, min(rows, L.e - e0))) for e0 in range(0, L.e, rows)]
        if any(sl is None or not fits(sl[0]) for _, sl in slices):
            continue
        key = (sum(map_layer(sub, config).est_cycles for _, (sub, _) in slices), len(slices))
        if best is None or key < best[0]:
            best = (key, slices)
    if best is None:
        # The first output row that reads the input (rows in the padding read none); if
        # none does, a whole image, which does not fit either.
        one = next((sl[0] for e0 in range(L.e) if (sl := _row_slice(L, e0, 1)) is not None),
                   None)
        what = "one output row"
        if one is None:
            one, what = dataclasses.replace(L, n=1), "one image (its output rows all lie in " \
                                                     "the padding, so it cannot be split)"
        check_limits(one, config)
        need = _glb_values(map_layer(one, config))
        raise MappingError(f"layer {L.name} needs {need} global-buffer values for {what}, "
                           f"more than glb_kib = {config.glb_kib} holds ({depth})")
    return [(n0, e0, rng, sub) for n0 in range(L.n) for e0, (sub, rng) in best[1]]


def registers(mp, config, *, shift=None, relu=False):
    """The run-time register values (``hw.accel.REGISTERS``) that run mapping ``mp`` on
    ``config``; :class:`MappingError` if its chains' psums do not fit the psum lanes."""
    L, B = mp.layer, config.beat
    chains_per_lane = mp.chains_per_column
    if chains_per_lane * L.f * mp.p > config.psum_lane:
        raise MappingError(f"layer {L.name} needs {chains_per_lane} chains x F * p = "
                           f"{L.f * mp.p} psums per column, more than psum_lane = "
                           f"{config.psum_lane}")
    n_in = (L.f - 1) * L.stride + L.s
    row_len = n_in * mp.q
    pqs = mp.p * mp.q * L.s
    nbi, nbw = ceil(row_len / B), ceil(pqs / B)
    wq = L.w * mp.q
    return {
        "n": L.n, "e_out": L.e, "f": L.f, "m": L.m, "r": L.r, "s": L.s, "u": L.stride,
        "pad_top": L.pad_top, "h": L.h,
        "e": mp.e, "segments": mp.segments, "sets_v": mp.sets_v, "sets_h": mp.sets_h,
        "set_cols": mp.set_cols, "t": mp.t, "p": mp.p, "q": mp.q,
        "ffolds": mp.filter_folds, "cfolds": mp.channel_folds,
        "nbi": nbi, "row_last_n": row_len - (nbi - 1) * B,
        "nbw": nbw, "pqs_last": pqs - (nbw - 1) * B,
        "wq": wq, "hwq": L.h * wq, "nplane": mp.channel_folds * L.h * wq,
        "padq": L.pad * mp.q, "pwq": L.pad_top * wq, "eu": mp.e * L.stride,
        "euwq": mp.e * L.stride * wq, "scu": mp.set_cols * L.stride, "fp": L.f * mp.p,
        "spread": int(mp.lane_spread), "dbuf": int(mp.lane_halves),
        "tp": mp.t * mp.p, "shp": mp.sets_h * mp.p,
        "hl_full": (mp.e - 1) * L.stride + L.r - 1,
        "hl_layer": (L.e - 1) * L.stride + L.r - 1,
        "n_in": n_in, "qs": mp.q * L.s, "qu": mp.q * L.stride, "pqs": pqs,
        "nq": n_in * mp.q, "passes": mp.filter_folds * mp.channel_folds,
        "rskip": max(0, L.stride - L.r), "rskipwq": (max(0, L.stride - L.r) + 1) * wq,
        # Any shift past the accumulator's width leaves the sign, as acc_bits + 1 does.
        "requant": int(shift is not None), "relu": int(relu),
        "shift": min(shift or 0, config.acc_bits + 1),
    }


def register_writes(values, config):
    """The ``cfg`` writes ``(addr, data)`` of register ``values`` (a value for every name
    of ``hw.accel.REGISTERS``). A value outside its range in
    ``hw.accel.register_bounds(config)`` raises ``ValueError`` naming the register: the
    controller's register is only as wide as the range needs, and would truncate it."""
    bounds = register_bounds(config)
    missing = [name for name in REGISTERS if name not in values]
    unknown = [name for name in values if name not in bounds]
    if missing or unknown:
        raise ValueError(f"register values must name every register; missing {missing}, "
                         f"unknown {unknown}")
    writes = []
    for name, value in values.items():
        value = int(value)
        if value not in bounds[name]:
            raise ValueError(f"register {name} = {value} does not fit the controller: "
                             f"{config.name}'s limits bound it to {bounds[name].start}.."
                             f"{bounds[name][-1]}")
        writes.append((REGISTERS.index(name), value))
    return writes


def _check_range(name, arr, lo, hi):
    if arr.size and (arr.min() < lo or arr.max() > hi):
        bad = np.argwhere((arr < lo) | (arr > hi))[0]
        raise ValueError(f"{name}{list(map(int, bad))} = {int(arr[tuple(bad)])} is outside "
                         f"the configured range {lo}..{hi}")


def compile_layer(layer, config, x, w, bias=None, *, shift=None, relu=False):
    """Program for ``layer`` on ``config`` with inputs ``x`` (N x C x H x W), weights ``w``
    (M x C x R x S) and optional ``bias`` (M). With ``shift``, outputs are requantized
    (ReLU if asked, arithmetic shift right, saturation to ``out_width``); without, they are
    the accumulators plus bias (ReLU still applies if asked), saturated to the
    accumulator's width. Values outside the configured widths
    raise ``ValueError``; a layer the design cannot run raises ``MappingError``."""
    x, w = np.asarray(x), np.asarray(w)
    L = layer
    if x.shape != (L.n, L.c, L.h, L.w):
        raise ValueError(f"inputs have shape {x.shape}, the layer needs {(L.n, L.c, L.h, L.w)}")
    if w.shape != (L.m, L.c, L.r, L.s):
        raise ValueError(f"weights have shape {w.shape}, the layer needs {(L.m, L.c, L.r, L.s)}")
    _check_range("input", x, *config.act_range)
    _check_range("weight", w, *config.wgt_range)
    bias = np.zeros(L.m, dtype=np.int64) if bias is None else np.asarray(bias)
    if bias.shape != (L.m,):
        raise ValueError(f"bias has shape {bias.shape}, the layer needs {(L.m,)}")
    acc_lo = -(1 << (config.acc_bits - 1)) if config.acc_signed else 0
    acc_hi = (1 << (config.acc_bits - (1 if config.acc_signed else 0))) - 1
    _check_range("bias", bias, acc_lo, acc_hi)
    if shift is not None and not 0 <= shift < 64:
        raise ValueError(f"shift must be in 0..63, not {shift}")

    parts = []
    for n0, e0, (lo, hi), sub in plan_parts(layer, config):
        xs = x[n0:n0 + sub.n, :, lo:hi]
        parts.append(_compile_part(sub, config, xs, w, bias, shift=shift, relu=relu,
                                   n0=n0, e0=e0, rows=(lo, hi)))
    return Program(layer=layer, parts=parts)


def _compile_part(layer, config, x, w, bias, *, shift, relu, n0, e0, rows):
    L = layer
    mp = map_layer(layer, config)
    B = config.beat
    assert _glb_values(mp) <= glb_depth(config)

    cfg = register_writes(registers(mp, config, shift=shift, relu=relu), config)
    cfg.append((BIAS_PTR, 0))
    cfg += [(BIAS_DATA, int(b)) for b in bias]

    # Global buffer: [n][channel fold][h][w][q], channels past C as zeros.
    q = mp.q
    cpad = mp.channel_folds * q
    xp = np.zeros((L.n, cpad, L.h, L.w), dtype=np.int64)
    xp[:, :L.c] = x
    glb = xp.reshape(L.n, mp.channel_folds, q, L.h, L.w).transpose(0, 1, 3, 4, 2).ravel()

    # Filter stream: per pass (n, strip, filter fold, channel fold), beat-major over the
    # groups (g, rr), each group's p * q * S weights in [k][s][c] order.
    mpad = mp.filter_folds * mp.t * mp.p
    wp = np.zeros((mpad, cpad, L.r, L.s), dtype=np.int64)
    wp[:L.m, :L.c] = w
    pqs = mp.p * q * L.s
    nbw = ceil(pqs / B)
    strips = list(range(0, L.e, mp.e))
    pass_beats = {}
    for ff in range(mp.filter_folds):
        for cf in range(mp.channel_folds):
            groups = []
            for g in range(mp.t):
                for rr in range(L.r):
                    ms = slice((ff * mp.t + g) * mp.p, (ff * mp.t + g + 1) * mp.p)
                    blk = wp[ms, cf * q:(cf + 1) * q, rr, :]           # p x q x S
                    vals = blk.transpose(0, 2, 1).ravel().tolist()     # [k][s][c]
                    groups.append(vals + [0] * (nbw * B - len(vals)))
            pass_beats[ff, cf] = [grp[b * B:(b + 1) * B] for b in range(nbw)
                                  for grp in groups]
    weights = []
    for _n in range(L.n):
        for _e0 in strips:
            for ff in range(mp.filter_folds):
                for cf in range(mp.channel_folds):
                    weights += pass_beats[ff, cf]

    # Output order: per (n, strip, filter fold), groups of up to W side-by-side chains
    # (v, h, sg, j // W), then (f, k), then the group's chains: one output beat per read.
    W = PEArray.read_width(config)
    out_order = []
    for n in range(L.n):
        for s0 in strips:
            nrows = min(mp.e, L.e - s0)
            for ff in range(mp.filter_folds):
                chains = strip_chains(mp, nrows)
                groups = {}
                for ch in chains:
                    j = ch.x % mp.set_cols
                    groups.setdefault((ch.slot, ch.g, j // W), []).append(ch)
                for group in groups.values():
                    for f in range(L.f):
                        for k in range(mp.p):
                            mm = (ff * mp.t + group[0].g) * mp.p + k
                            if mm < L.m:
                                out_order += [(n0 + n, mm, e0 + s0 + ch.ee, f) for ch in group]
    return Part(layer=L, mapping=mp, n0=n0, e0=e0, rows=rows, cfg=cfg, glb=glb.tolist(),
                weights=weights, out_order=out_order)
