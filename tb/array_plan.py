"""Reference schedule of a CONV layer on the PE array: configuration, passes, packets.

This is the exact work the array's controller must do in hardware (issue 3): it is
written in Python first so that the array itself can be verified pass by pass, and so that
the controller has an executable specification to match.

Placement (``docs/array.md``): copy ``g = v * sets_h + h`` of the PE set sits at rows
``v * set_rows ..`` and columns ``h * set_cols ..``; segment ``sg`` of a copy occupies
rows ``sg * R ..`` within it; the PE of filter row ``rr`` and set column ``j`` in a segment
is at ``y = v * set_rows + sg * R + rr``, ``x = h * set_cols + j`` and makes output row
``ee = sg * set_cols + j`` of the strip. Its chain's top is ``rr = 0``.
"""

from gen.driver import Chain, strip_chains
from hw.array import CfgKind

__all__ = ["Chain", "plan_strip", "pass_packets", "chains_per_lane"]


def chains_per_lane(mapping):
    return mapping.chains_per_column


def plan_strip(mapping, config, e0):
    """Configuration writes and chains for the strip of output rows starting at ``e0``."""
    L = mapping.layer
    R, U = L.r, L.stride
    rows_in_strip = min(mapping.e, L.e - e0)
    chains = strip_chains(mapping, rows_in_strip)
    per_chain = L.f * mapping.p
    if chains_per_lane(mapping) * per_chain > config.psum_lane:
        raise ValueError(f"{chains_per_lane(mapping)} chains x F * p = {per_chain} psums "
                         f"exceed psum_lane = {config.psum_lane}")
    writes = []
    for y in range(config.rows):
        v, rest = divmod(y, mapping.set_rows)
        writes.append({"kind": CfgKind.FILT_ROW, "y": y, "x": 0, "id": v * R + rest % R,
                       "pe": _role()})
        writes.append({"kind": CfgKind.IFM_ROW, "y": y, "x": 0, "id": 0, "pe": _role()})
    roles = {}
    for ch in chains:
        for rr in range(R):
            roles[ch.y0 + rr, ch.x] = _role(
                filt_col=ch.g % mapping.sets_h, ifm_col=ch.ee * U + rr, active=1,
                top=int(rr == 0), bottom=int(rr == R - 1), base=mapping.lane_base(ch.slot))
    for y in range(config.rows):
        for x in range(config.cols):
            writes.append({"kind": CfgKind.PE, "y": y, "x": x, "id": 0,
                           "pe": roles.get((y, x), _role())})
    return writes, chains, rows_in_strip


def _role(filt_col=0, ifm_col=0, active=0, top=0, bottom=0, base=0):
    return {"filt_col": filt_col, "ifm_col": ifm_col, "active": active, "top": top,
            "bottom": bottom, "base": base}


def _beats(values, beat):
    for i in range(0, len(values), beat):
        chunk = values[i:i + beat]
        yield {"data": chunk + [0] * (beat - len(chunk)), "n": len(chunk)}


def _interleave(groups):
    """Round-robin the beats of several packet streams, one beat each in turn."""
    out, i = [], 0
    while any(i < len(g) for g in groups):
        for g in groups:
            if i < len(g):
                out.append(g[i])
        i += 1
    return out


def pass_packets(mapping, config, x, w, *, n, e0, rows_in_strip, ff, cf):
    """Filter and ifmap packets of one pass: batch ``n``, strip ``e0``, filter fold
    ``ff``, channel fold ``cf``. ``x`` is N x C x H x W, ``w`` M x C x R x S (lists or
    arrays of ints). Filters or channels past the layer's end are sent as zeros. Also
    returns each input row's values (``{row in strip: [i][c] values}``)."""
    L = mapping.layer
    R, S, U, P = L.r, L.s, L.stride, L.pad
    p, q = mapping.p, mapping.q
    n_in = (L.f - 1) * U + S

    def weight(m, c, r, s):
        return int(w[m][c][r][s]) if m < L.m and c < L.c else 0

    def act(c, hp, i):
        row, col = hp - P, i - P
        if c >= L.c or not (0 <= row < L.h and 0 <= col < L.w):
            return 0
        return int(x[n][c][row][col])

    filt = []
    for g in range(mapping.t):
        v, h = divmod(g, mapping.sets_h)
        for rr in range(R):
            vals = [weight((ff * mapping.t + g) * p + k, cf * q + ci, rr, s)
                    for k in range(p) for s in range(S) for ci in range(q)]
            filt.append([{"row": v * R + rr, "col": h, "data": b}
                         for b in _beats(vals, config.beat)])
    needed = sorted({ee * U + rr for ee in range(rows_in_strip) for rr in range(R)})
    ifm, rows = [], {}
    for hl in needed:
        hp = e0 * U + hl
        vals = rows[hl] = [act(cf * q + ci, hp, i) for i in range(n_in) for ci in range(q)]
        ifm.append([{"row": 0, "col": hl, "data": b} for b in _beats(vals, config.beat)])
    return _interleave(filt), _interleave(ifm), rows
