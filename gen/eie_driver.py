"""Host side of the EIE engine: turn compressed layers and input vectors into the writes of
``hw.eie.EieEngine``'s ``cmd`` stream, checking that they fit the generated design.

A :class:`Program` is what stays on chip for a model (pointers, entries, codebooks and
layer registers); :func:`vector_writes` gives the writes that load one input vector. Each
write is a tuple ``(sel, pe, addr, data)`` of plain integers; :func:`pack` turns them into
``cmd`` payload words from the layout, for a simulator or the board link.
"""

from dataclasses import dataclass

import numpy as np

from hw.eie import LAYER_REGS, cmd_layout, reg_addr
from hw.eie_pe import Target, entry_layout

__all__ = ["Program", "compile_model", "vector_writes", "pack", "scatter", "gather"]


def _ceil_div(a, b):
    return -(-a // b)


@dataclass(frozen=True)
class Program:
    """A model compiled for one design.

    Members
    -------
    writes : ndarray of int64, shape (n, 4)
        ``(sel, pe, addr, data)`` rows: registers, codebooks, pointers, entries.
    rows, cols : int
        Output length of the last layer and input length of the first.
    relu, shift : tuple
        Per layer, as given to :func:`compile_model`.
    """

    writes: np.ndarray
    rows: int
    cols: int
    relu: tuple
    shift: tuple


def _fail(msg):
    raise ValueError(msg)


def compile_model(config, layers, *, relu, shift):
    """Check ``layers`` (``gen.compress.CompressedLayer``) against ``config`` and return the
    :class:`Program` that loads them.

    ``relu[k]`` and ``shift[k]`` requantize layer ``k``'s output into the next layer's
    input; ``shift[-1]`` may be ``None``: the last layer's accumulators come out raw (after
    ReLU if ``relu[-1]``).
    """
    c = config
    layers = list(layers)
    n = len(layers)
    if not 1 <= n <= c.max_layers:
        _fail(f"the model has {n} layers; the design holds 1..{c.max_layers}")
    relu, shift = tuple(bool(r) for r in relu), tuple(shift)
    if len(relu) != n or len(shift) != n:
        _fail(f"relu and shift need one value per layer ({n}), not {len(relu)} and "
              f"{len(shift)}")
    for k, s in enumerate(shift):
        if s is None and k == n - 1:
            continue
        if not isinstance(s, (int, np.integer)) or not 0 <= s < c.acc_bits:
            _fail(f"shift of layer {k} must be an integer in 0..{c.acc_bits - 1}, not {s!r}")
    lo, hi = c.code_range
    for k, layer in enumerate(layers):
        where = f"layer {k} ({layer.rows} x {layer.cols})"
        if layer.pes != c.pes:
            _fail(f"{where} was compressed for {layer.pes} PEs; the design has {c.pes}")
        if layer.codebook_bits != c.codebook_bits or layer.index_bits != c.index_bits:
            _fail(f"{where} uses {layer.codebook_bits}-bit codes and {layer.index_bits}-bit "
                  f"indices; the design has {c.codebook_bits} and {c.index_bits}")
        if layer.rows > c.max_rows or layer.cols > c.max_cols:
            _fail(f"{where} exceeds the design's max_rows x max_cols = "
                  f"{c.max_rows} x {c.max_cols}")
        book = np.asarray(layer.codebook, dtype=np.int64)
        if book.min() < lo or book.max() > hi:
            _fail(f"{where} has codebook values outside the {c.code_width}-bit range "
                  f"{lo}..{hi}")
        if k and layer.cols != layers[k - 1].rows:
            _fail(f"{where} takes {layer.cols} inputs but layer {k - 1} gives "
                  f"{layers[k - 1].rows}")
    ptrs = sum(layer.cols + 1 for layer in layers)
    if ptrs > c.ptr_depth:
        _fail(f"the model needs {ptrs} pointers per PE; the design holds {c.ptr_depth}")
    used = np.zeros(c.pes, dtype=np.int64)
    for layer in layers:
        used += [len(codes) for codes in layer.codes]
    if used.max() > c.spmat_depth:
        _fail(f"PE {int(used.argmax())} needs {int(used.max())} entries; the design holds "
              f"{c.spmat_depth} per PE")

    rows = []

    def put(sel, pe, addr, value):
        rows.append(np.column_stack(np.broadcast_arrays(
            np.int64(sel.value), np.asarray(pe, dtype=np.int64),
            np.asarray(addr, dtype=np.int64), np.asarray(value, dtype=np.int64))))

    put(Target.REG, 0, reg_addr("n_layers"), n)
    put(Target.REG, 0, reg_addr("out_raw"), int(shift[-1] is None))
    layout = entry_layout(c)
    code_off, zero_off = layout["code"].offset, layout["zero"].offset
    ptr_base = 0
    spmat_base = np.zeros(c.pes, dtype=np.int64)
    for k, layer in enumerate(layers):
        values = {"cols": layer.cols, "groups": _ceil_div(layer.cols, c.pes),
                  "rows": layer.rows, "lrows": _ceil_div(layer.rows, c.pes),
                  "ptr_base": ptr_base, "relu": int(relu[k]), "shift": shift[k] or 0}
        for name in LAYER_REGS:
            put(Target.REG, 0, reg_addr(name, k), values[name])
        book = np.asarray(layer.codebook, dtype=np.int64)
        put(Target.CODE, 0, (k << c.codebook_bits) + np.arange(book.size), book)
        for pe in range(c.pes):
            ptr = np.asarray(layer.ptr[pe], dtype=np.int64) + spmat_base[pe]
            put(Target.PTR, pe, ptr_base + np.arange(ptr.size), ptr)
            codes = np.asarray(layer.codes[pe], dtype=np.int64)
            zeros = np.asarray(layer.zeros[pe], dtype=np.int64)
            if codes.size:
                put(Target.SPMAT, pe, spmat_base[pe] + np.arange(codes.size),
                    (codes << code_off) | (zeros << zero_off))
            spmat_base[pe] += codes.size
        ptr_base += layer.cols + 1
    return Program(writes=np.concatenate(rows), rows=layers[-1].rows, cols=layers[0].cols,
                   relu=relu, shift=shift)


def scatter(config, a):
    """``a`` laid out over the PEs: element ``j`` at ``[j % N, j // N]``, zeros after."""
    N = config.pes
    out = np.zeros((N, config.act_depth), dtype=np.int64)
    a = np.asarray(a, dtype=np.int64)
    idx = np.arange(a.size)
    out[idx % N, idx // N] = a
    return out


def gather(config, per_pe, length):
    """Inverse of :func:`scatter` for the first ``length`` elements."""
    idx = np.arange(length)
    return np.asarray(per_pe)[idx % config.pes, idx // config.pes]


def vector_writes(config, program, a):
    """Writes that load input vector ``a`` (length ``program.cols``) into bank 0."""
    a = np.asarray(a)
    if a.shape != (program.cols,):
        _fail(f"the input vector must have shape ({program.cols},), not {a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        _fail(f"the input vector must be integers, not {a.dtype}")
    lo, hi = config.act_range
    if a.size and (a.min() < lo or a.max() > hi):
        _fail(f"input values must fit {config.act_width} bits ({lo}..{hi})")
    groups = _ceil_div(program.cols, config.pes)
    grid = scatter(config, a)[:, :groups]
    pe, addr = np.meshgrid(np.arange(config.pes), np.arange(groups), indexing="ij")
    return np.column_stack([np.full(pe.size, Target.ACT.value), pe.ravel(), addr.ravel(),
                            grid.ravel()]).astype(np.int64)


def pack(config, writes):
    """``cmd`` payload words (Python ints) for ``(sel, pe, addr, data)`` rows.

    Field offsets and widths come from ``cmd_layout``; ``data`` is taken modulo its width,
    so negative values become two's complement.
    """
    layout = cmd_layout(config)
    words = [0] * len(writes)
    writes = np.asarray(writes, dtype=np.int64)
    for col, name in enumerate(("sel", "pe", "addr", "data")):
        field = layout[name]
        mask = (1 << field.width) - 1
        values = writes[:, col].tolist()
        words = [w | ((v & mask) << field.offset) for w, v in zip(words, values, strict=True)]
    return words

