"""Stimulus for the EIE engine's tests: random sparse layers and the named cases on which
sparse RTL is known to break (consecutive all-zero columns, gaps longer than an entry's
zero count, PEs without entries, full and empty queues), built for any design so that both
test tiers run the same cases."""

import numpy as np

from gen.compress import compress

from .eie_run import EieCase

__all__ = ["sparse_ints", "active_entries", "random_case", "NAMED_CASES", "named_case"]


def sparse_ints(rng, shape, density, lo=-7, hi=7):
    """Integers in ``lo..hi``, each kept with probability ``density``, else 0."""
    w = rng.integers(lo, hi + 1, size=shape)
    return np.where(rng.random(shape) < density, w, 0)


def _layer(config, w):
    return compress(w, pes=config.pes, codebook_bits=config.codebook_bits,
                    index_bits=config.index_bits, code_width=config.code_width)


def _acts(config, rng, n, density):
    lo, hi = config.act_range
    return sparse_ints(rng, n, density, max(lo, -100), min(hi, 100))


def active_entries(layer, a):
    """What the engine walks for input ``a``: (entries, padding entries, entries per PE)."""
    active = np.flatnonzero(a)
    per_pe, pad = [], 0
    for k in range(layer.pes):
        ptr = np.asarray(layer.ptr[k])
        codes = np.asarray(layer.codes[k])
        idx = np.concatenate([np.arange(ptr[j], ptr[j + 1]) for j in active] or [[]]
                             ).astype(np.int64)
        per_pe.append(idx.size)
        pad += int(np.count_nonzero(codes[idx] == 0))
    return sum(per_pe), pad, per_pe


def random_case(config, rng, density, *, max_dim=64, vectors=2):
    """A random lossless layer of the given weight density, inputs 60% dense."""
    rows = int(rng.integers(1, min(config.max_rows, max_dim) + 1))
    cols = int(rng.integers(1, min(config.max_cols, max_dim) + 1))
    w = sparse_ints(rng, (rows, cols), density)
    return EieCase([_layer(config, w)], np.stack([_acts(config, rng, cols, 0.6)
                                                  for _ in range(vectors)]),
                   [False], [None], name=f"random-d{density}")


def _gaps(config, rng, local):
    # Entries of every column at the given local rows of the column's PE (j % N).
    n = config.pes
    rows = (max(local) + 1) * n
    if rows > config.max_rows:
        return None
    w = np.zeros((rows, 6), dtype=np.int64)
    for j in range(6):
        for lr in local:
            w[lr * n + j % n, j] = j + 1 - 3 * (lr % 2)
    return w


def _case_consecutive_zero_columns(config, rng):
    w = sparse_ints(rng, (min(20, config.max_rows), min(30, config.max_cols)), 0.4)
    w[:, 5:12] = 0
    w[:, -3:] = 0
    return w, [np.arange(1, w.shape[1] + 1) % 7 - 3]


def _case_gap(which):
    def build(config, rng):
        z = (1 << config.index_bits) - 1
        local = {"Z": [0, z + 1], "Z+1": [0, z + 2], "2(Z+1)": [0, 2 * z + 3],
                 "first-beyond-Z": [z + 4]}[which]
        w = _gaps(config, rng, local)
        return None if w is None else (w, [np.array([1, -2, 3, 0, 5, -6])])
    return build


def _case_pe_without_entries(config, rng):
    w = sparse_ints(rng, (min(24, config.max_rows), min(16, config.max_cols)), 0.5)
    if config.pes > 1:
        w[config.pes // 2::config.pes, :] = 0
    return w, [_acts(config, rng, w.shape[1], 0.8)]


def _case_more_pes_than_rows(config, rng):
    if config.pes < 2:
        return None
    w = sparse_ints(rng, (config.pes - 1, 9), 0.7)
    return w, [np.arange(9) - 4]


def _case_zero_and_single_activations(config, rng):
    w = sparse_ints(rng, (min(17, config.max_rows), min(23, config.max_cols)), 0.3)
    single = np.zeros(w.shape[1], dtype=np.int64)
    single[-1] = config.act_range[0]                    # the last column, most negative
    zero = np.zeros(w.shape[1], dtype=np.int64)
    return w, [zero, single, zero]


def _case_back_to_back_same_row(config, rng):
    # Every column holds only row 5, so each entry's read-modify-write meets the previous
    # one's write: the bypass must forward it.
    w = np.zeros((min(8, config.max_rows), min(30, config.max_cols)), dtype=np.int64)
    row = min(5, w.shape[0] - 1)
    w[row, :] = np.arange(w.shape[1]) % 13 - 6
    w[row, w[row] == 0] = 1
    return w, [np.full(w.shape[1], 3), np.arange(w.shape[1]) - 15]


def _case_full_and_empty_queues(config, rng):
    # All of one PE's work in long columns, the rest on another PE: the broadcast stalls
    # on full queues while other PEs starve.
    n = config.pes
    w = np.zeros((min(32, config.max_rows), 12), dtype=np.int64)
    w[0::n, :6] = 3
    w[min(1, n - 1)::n, 6:] = -2
    return w, [np.arange(12) + 1]


_SINGLE = {
    "consecutive-zero-columns": _case_consecutive_zero_columns,
    "gap-Z": _case_gap("Z"),
    "gap-Z+1": _case_gap("Z+1"),
    "gap-2(Z+1)": _case_gap("2(Z+1)"),
    "gap-first-beyond-Z": _case_gap("first-beyond-Z"),
    "pe-without-entries": _case_pe_without_entries,
    "more-pes-than-rows": _case_more_pes_than_rows,
    "zero-and-single-activations": _case_zero_and_single_activations,
    "back-to-back-same-row": _case_back_to_back_same_row,
    "full-and-empty-queues": _case_full_and_empty_queues,
}
NAMED_CASES = (*_SINGLE, "two-layers-batch")


def named_case(name, config, rng):
    """The named case for ``config`` as an :class:`EieCase`, or ``None`` where the design
    cannot express it (for example a gap longer than its largest layer)."""
    if name == "two-layers-batch":
        if config.max_layers < 2:
            return None
        cols = min(37, config.max_cols)
        mid = min(30, config.max_rows)
        layers = [_layer(config, sparse_ints(rng, (mid, cols), 0.3)),
                  _layer(config, sparse_ints(rng, (min(9, config.max_rows), mid), 0.5))]
        vectors = [_acts(config, rng, cols, 0.6) for _ in range(3)]
        vectors.insert(1, np.zeros(cols, dtype=np.int64))
        return EieCase(layers, np.stack(vectors), [True, False], [3, None], name=name)
    built = _SINGLE[name](config, rng)
    if built is None:
        return None
    w, vectors = built
    layer = _layer(config, w)
    assert np.array_equal(layer.dense(), w), "the lossless path must keep w"
    return EieCase([layer], np.stack(vectors), [False], [None], name=name)
