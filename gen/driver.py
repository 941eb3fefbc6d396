"""Host driver for the row-stationary accelerator (``hw.accel.Accelerator``).

``compile_layer`` turns a layer, its data and a design into what the host sends: register
writes (the mapping and the products the controller's loops use), biases, the global
buffer image of the input, and the filter-weight stream in pass order; ``decode`` puts the
output stream back into N x M x E x F order. The same driver serves the tests and the
``rowloom conv`` command.
"""

from dataclasses import dataclass, field
from math import ceil

import numpy as np

from hw.accel import BIAS_DATA, BIAS_PTR, REGISTERS, glb_depth

from .mapper import Mapping, MappingError, map_layer

__all__ = ["Program", "Chain", "strip_chains", "compile_layer"]


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
    """The active chains of a strip, in the order the hardware reads them out:
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
class Program:
    """Everything the host sends for one layer, and how to read what comes back."""

    mapping:   Mapping
    cfg:       list = field(repr=False)     # (addr, data) register and bias writes
    glb:       list = field(repr=False)     # input values, from glb address 0
    weights:   list = field(repr=False)     # beats of `beat` weights, in pass order
    out_order: list = field(repr=False)     # (n, m, e, f) of each output value, in order

    def decode(self, values):
        """The output values, in stream order, as an N x M x E x F int64 array."""
        L = self.mapping.layer
        if len(values) != len(self.out_order):
            raise ValueError(f"expected {len(self.out_order)} outputs, got {len(values)}")
        out = np.zeros((L.n, L.m, L.e, L.f), dtype=np.int64)
        for (n, m, e, f), v in zip(self.out_order, values, strict=True):
            out[n, m, e, f] = v
        return out


def _registers(mp, config, *, shift, relu):
    L, B = mp.layer, config.beat
    n_in = (L.f - 1) * L.stride + L.s
    row_len = n_in * mp.q
    pqs = mp.p * mp.q * L.s
    nbi, nbw = ceil(row_len / B), ceil(pqs / B)
    wq = L.w * mp.q
    return {
        "n": L.n, "e_out": L.e, "f": L.f, "m": L.m, "r": L.r, "s": L.s, "u": L.stride,
        "pad": L.pad, "h": L.h,
        "e": mp.e, "segments": mp.segments, "sets_v": mp.sets_v, "sets_h": mp.sets_h,
        "set_cols": mp.set_cols, "t": mp.t, "p": mp.p, "q": mp.q,
        "ffolds": mp.filter_folds, "cfolds": mp.channel_folds,
        "nbi": nbi, "row_last_n": row_len - (nbi - 1) * B,
        "nbw": nbw, "pqs_last": pqs - (nbw - 1) * B,
        "wq": wq, "hwq": L.h * wq, "nplane": mp.channel_folds * L.h * wq,
        "padq": L.pad * mp.q, "pwq": L.pad * wq, "eu": mp.e * L.stride,
        "euwq": mp.e * L.stride * wq, "scu": mp.set_cols * L.stride, "fp": L.f * mp.p,
        "segfp": mp.segments * L.f * mp.p, "tp": mp.t * mp.p, "shp": mp.sets_h * mp.p,
        "hl_full": (mp.e - 1) * L.stride + L.r - 1,
        "hl_layer": (L.e - 1) * L.stride + L.r - 1,
        "requant": int(shift is not None), "relu": int(relu), "shift": shift or 0,
    }


def _check_range(name, arr, lo, hi):
    if arr.size and (arr.min() < lo or arr.max() > hi):
        bad = np.argwhere((arr < lo) | (arr > hi))[0]
        raise ValueError(f"{name}{list(map(int, bad))} = {int(arr[tuple(bad)])} is outside "
                         f"the configured range {lo}..{hi}")


def compile_layer(layer, config, x, w, bias=None, *, shift=None, relu=False):
    """Program for ``layer`` on ``config`` with inputs ``x`` (N x C x H x W), weights ``w``
    (M x C x R x S) and optional ``bias`` (M). With ``shift``, outputs are requantized
    (ReLU if asked, arithmetic shift right, saturation to ``out_width``); without, they are
    the accumulators (ReLU still applies if asked). Values outside the configured widths
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

    mp = map_layer(layer, config)
    B = config.beat
    chains_per_lane = mp.sets_v * mp.segments
    if chains_per_lane * L.f * mp.p > config.psum_lane:
        raise MappingError(f"layer {L.name} needs {chains_per_lane} chains x F * p = "
                           f"{L.f * mp.p} psums per column, more than psum_lane = "
                           f"{config.psum_lane}")
    glb_values = L.n * mp.channel_folds * L.h * L.w * mp.q
    if glb_values > glb_depth(config):
        raise MappingError(f"layer {L.name} input needs {glb_values} global-buffer values, "
                           f"more than glb_kib = {config.glb_kib} holds "
                           f"({glb_depth(config)}); split it into smaller layers")

    regs = _registers(mp, config, shift=shift, relu=relu)
    cfg = [(REGISTERS.index(k), int(v)) for k, v in regs.items()]
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

    # Output order: per (n, strip, filter fold), chains (v, h, sg, j), then (f, k).
    out_order = []
    for n in range(L.n):
        for e0 in strips:
            rows = min(mp.e, L.e - e0)
            for ff in range(mp.filter_folds):
                for ch in strip_chains(mp, rows):
                    for f in range(L.f):
                        for k in range(mp.p):
                            mm = (ff * mp.t + ch.g) * mp.p + k
                            if mm < L.m:
                                out_order.append((n, mm, e0 + ch.ee, f))
    return Program(mapping=mp, cfg=cfg, glb=glb.tolist(), weights=weights,
                   out_order=out_order)
