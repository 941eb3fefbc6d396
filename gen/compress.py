"""Deep Compression for the EIE engine: prune, share weights, encode per-PE sparse columns.

A layer's weight matrix ``W`` (``rows x cols``, output ``b = W a``) becomes a
:class:`CompressedLayer` in the form the EIE hardware reads (EIE: Han et al., ISCA 2016):

- pruning keeps the largest-magnitude weights (``density``) or those above a magnitude
  (``threshold``);
- weight sharing replaces every kept weight by one of ``2**codebook_bits - 1`` codebook
  values, signed ``code_width``-bit fixed point with ``frac_bits`` fractional bits; index 0
  is reserved for padding and always holds 0;
- rows are interleaved over ``pes`` PEs (global row ``i`` is local row ``i // pes`` of PE
  ``i % pes``), and each PE stores, column by column, ``(code, zero)`` entries: ``code`` the
  codebook index, ``zero`` the number of that PE's zero rows since the previous entry of the
  column (or since local row 0). A gap wider than ``2**index_bits - 1`` is bridged by
  padding entries ``(0, 2**index_bits - 1)``. A pointer array per PE delimits the columns.

An integer matrix with few enough distinct kept values is stored without loss; anything else
goes through 1-D k-means with linear initialization. :func:`save` and :func:`load` keep a
model (a list of layers) in a ``.npz`` file without pickles; :func:`describe` is the text of
``rowloom compress --inspect``. ``docs/compress.md`` describes the format.
"""

import zipfile
from dataclasses import dataclass

import numpy as np

__all__ = [
    "FORMAT_VERSION",
    "CompressedLayer",
    "compress",
    "describe",
    "encode_csc",
    "load",
    "save",
]

#: Version of the ``.npz`` layout written by :func:`save`; :func:`load` accepts only this one.
FORMAT_VERSION = 1

_META = ("rows", "cols", "pes", "codebook_bits", "index_bits", "code_width", "frac_bits")
_INT64_MAX = 2**63 - 1


# Argument checks -------------------------------------------------------------------------

def _is_int(value):
    # bool is an int subclass, but True as a width or a PE count is a bug in the caller.
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_int(name, value, lo, hi=None):
    if not _is_int(value) or value < lo or (hi is not None and value > hi):
        span = f"an integer >= {lo}" if hi is None else f"an integer in {lo}..{hi}"
        raise ValueError(f"{name} must be {span}, not {value!r}")
    return int(value)


def _check_pes(value):
    if not _is_int(value) or not 1 <= value <= 1024 or value & (value - 1):
        raise ValueError(f"pes must be a power of two in 1..1024, not {value!r}")
    return int(value)


def _signed_range(width):
    return -(1 << (width - 1)), (1 << (width - 1)) - 1


def _local_rows(rows, pes, k):
    """Number of rows of PE ``k``: global rows ``k, k + pes, k + 2 pes, ...`` below ``rows``."""
    return (rows - k + pes - 1) // pes


def _int_vector(name, value):
    arr = np.asarray(value)
    if arr.ndim != 1 or (arr.size and arr.dtype.kind not in "iu"):
        raise ValueError(f"{name} must be a 1-D integer array, not {arr.dtype} of shape "
                         f"{arr.shape}")
    if arr.dtype.kind == "u" and arr.size and int(arr.max()) > _INT64_MAX:
        raise ValueError(f"{name} holds {int(arr.max())}, beyond int64")
    return arr.astype(np.int64)


def _length(seq):
    return f" of length {len(seq)}" if isinstance(seq, (tuple, list)) else ""


def _frozen(arr):
    arr = np.array(arr, dtype=np.int64)     # a copy: the layer must not share caller memory
    arr.setflags(write=False)
    return arr


def _decode_rows(zeros, ptr):
    """Local row of every entry of one PE, from its zero counts and its column pointers.

    The hardware rule: the first entry of a column is at row ``zero``, every later one at
    ``previous row + zero + 1``; i.e. the running sum of ``zero + 1`` within the column,
    minus 1.
    """
    run = np.cumsum(zeros + 1)
    before = np.concatenate(([0], run))[ptr[:-1]]   # the running sum where each column starts
    return run - np.repeat(before, np.diff(ptr)) - 1


# The compressed layer --------------------------------------------------------------------

@dataclass(frozen=True, eq=False, repr=False)
class CompressedLayer:
    """One weight matrix in EIE's compressed form; immutable and checked on construction.

    The contract: every PE's entries decode, by the row rule in the module docstring, to
    rows inside that PE's slice, and ``codebook[codes]`` at those rows, zero elsewhere, is
    :meth:`dense`. Arrays are stored as read-only ``int64`` copies.

    Parameters
    ----------
    rows, cols : int
        Shape of ``W``, at least 1 each.
    pes : int
        Number of PEs ``N``, a power of two in 1..1024. PE ``k`` holds global rows
        ``k, k + N, ...``: ``(rows - k + N - 1) // N`` local rows, which may be 0.
    codebook_bits : int
        Width of a codebook index, 1..8.
    index_bits : int
        Width of a zero count, 1..8; the largest count is ``Z = 2**index_bits - 1``.
    code_width : int
        Width of a decoded weight (signed two's complement), 2..32.
    frac_bits : int
        Fractional bits of the decoded weight, at least 0: the weight is
        ``codebook[code] / 2**frac_bits``.
    codebook : ndarray of int, shape (2**codebook_bits,)
        Decoded weights; ``codebook[0]`` is 0 (the padding entry).
    codes : tuple of ndarray of int
        One array per PE: the codebook index of each entry, 0 for padding.
    zeros : tuple of ndarray of int
        One array per PE, as long as its ``codes``: the zero count of each entry, 0..Z.
    ptr : ndarray of int, shape (pes, cols + 1)
        ``ptr[k, j] .. ptr[k, j + 1] - 1`` are PE ``k``'s entries of column ``j``.

    Raises
    ------
    ValueError
        Naming the field, if any part is out of range or the parts disagree: pointers that
        do not rise from 0 to the entry count, codes or zero counts out of range, an entry
        that decodes beyond its PE's rows, a column ending in a padding entry, a codebook
        value that does not fit ``code_width`` or a non-zero ``codebook[0]``.
    """

    rows: int
    cols: int
    pes: int
    codebook_bits: int
    index_bits: int
    code_width: int
    frac_bits: int
    codebook: np.ndarray
    codes: tuple
    zeros: tuple
    ptr: np.ndarray

    def __post_init__(self):
        def put(name, value):
            object.__setattr__(self, name, value)

        put("rows", _check_int("rows", self.rows, 1))
        put("cols", _check_int("cols", self.cols, 1))
        put("pes", _check_pes(self.pes))
        put("codebook_bits", _check_int("codebook_bits", self.codebook_bits, 1, 8))
        put("index_bits", _check_int("index_bits", self.index_bits, 1, 8))
        put("code_width", _check_int("code_width", self.code_width, 2, 32))
        put("frac_bits", _check_int("frac_bits", self.frac_bits, 0))

        codebook = _int_vector("codebook", self.codebook)
        size = 1 << self.codebook_bits
        if codebook.shape != (size,):
            raise ValueError(f"codebook must have {size} entries for codebook_bits="
                             f"{self.codebook_bits}, not {codebook.size}")
        if codebook[0] != 0:
            raise ValueError(f"codebook[0] must be 0 (the padding entry), not {codebook[0]}")
        lo, hi = _signed_range(self.code_width)
        bad = codebook[(codebook < lo) | (codebook > hi)]
        if bad.size:
            raise ValueError(f"codebook value {bad[0]} does not fit code_width="
                             f"{self.code_width} ({lo}..{hi})")
        put("codebook", _frozen(codebook))

        ptr = np.asarray(self.ptr)
        if ptr.shape != (self.pes, self.cols + 1) or (ptr.size and ptr.dtype.kind not in "iu"):
            raise ValueError(f"ptr must be an integer array of shape ({self.pes}, "
                             f"{self.cols + 1}), not {ptr.dtype} of shape {ptr.shape}")
        ptr = ptr.astype(np.int64)
        for name in ("codes", "zeros"):
            seq = getattr(self, name)
            if not isinstance(seq, (tuple, list)) or len(seq) != self.pes:
                raise ValueError(f"{name} must be a tuple of {self.pes} arrays (one per PE), "
                                 f"not {type(seq).__name__}{_length(seq)}")
        codes, zeros = [], []
        z_max = (1 << self.index_bits) - 1
        for k in range(self.pes):
            c = _int_vector(f"codes[{k}]", self.codes[k])
            z = _int_vector(f"zeros[{k}]", self.zeros[k])
            p = ptr[k]
            if z.size != c.size:
                raise ValueError(f"zeros[{k}] has {z.size} entries but codes[{k}] has {c.size}")
            if p[0] != 0 or p[-1] != c.size or np.any(np.diff(p) < 0):
                raise ValueError(f"ptr[{k}] must rise from 0 to {c.size} (the entries of PE "
                                 f"{k}) without decreasing, but goes from {p[0]} to {p[-1]}"
                                 + (" and decreases" if np.any(np.diff(p) < 0) else ""))
            if c.size and (c.min() < 0 or c.max() >= size):
                raise ValueError(f"codes[{k}] must lie in 0..{size - 1}, not "
                                 f"{c.min()}..{c.max()}")
            if z.size and (z.min() < 0 or z.max() > z_max):
                raise ValueError(f"zeros[{k}] must lie in 0..{z_max} for index_bits="
                                 f"{self.index_bits}, not {z.min()}..{z.max()}")
            if c.size:
                n_local = _local_rows(self.rows, self.pes, k)
                last_row = int(_decode_rows(z, p).max())
                if last_row >= n_local:
                    raise ValueError(f"PE {k} has an entry at local row {last_row}, but only "
                                     f"{n_local} rows")
                filled = np.flatnonzero(np.diff(p) > 0)
                trailing = c[p[filled + 1] - 1] == 0
                if np.any(trailing):
                    raise ValueError(f"codes[{k}]: column {filled[np.argmax(trailing)]} of PE "
                                     f"{k} ends in a padding entry (code 0)")
            codes.append(_frozen(c))
            zeros.append(_frozen(z))
        put("codes", tuple(codes))
        put("zeros", tuple(zeros))
        put("ptr", _frozen(ptr))

    def __eq__(self, other):
        if not isinstance(other, CompressedLayer):
            return NotImplemented
        return (all(getattr(self, n) == getattr(other, n) for n in _META)
                and np.array_equal(self.codebook, other.codebook)
                and np.array_equal(self.ptr, other.ptr)
                and all(np.array_equal(a, b) for a, b in zip(self.codes, other.codes,
                                                             strict=True))
                and all(np.array_equal(a, b) for a, b in zip(self.zeros, other.zeros,
                                                             strict=True)))

    __hash__ = None

    def __repr__(self):
        return (f"CompressedLayer(rows={self.rows}, cols={self.cols}, pes={self.pes}, "
                f"nonzeros={self.nonzeros}, entries={self.entries}, codebook_bits="
                f"{self.codebook_bits}, index_bits={self.index_bits}, code_width="
                f"{self.code_width}, frac_bits={self.frac_bits})")

    # Counts ------------------------------------------------------------------------------

    @property
    def entries(self):
        """Stored entries of all PEs, padding included."""
        return sum(c.size for c in self.codes)

    @property
    def padding(self):
        """Padding entries (code 0) of all PEs."""
        return sum(int(np.count_nonzero(c == 0)) for c in self.codes)

    @property
    def nonzeros(self):
        """Real entries: the weights kept by pruning (a centroid that rounds to 0 counts)."""
        return self.entries - self.padding

    @property
    def density(self):
        """``nonzeros / (rows * cols)``."""
        return self.nonzeros / (self.rows * self.cols)

    @property
    def pe_entries(self):
        """Entries of each PE, padding included: the load balance."""
        return tuple(c.size for c in self.codes)

    @property
    def ptr_bits(self):
        """Bits of a pointer: enough for the largest pointer of any PE, at least 1."""
        return max(1, int(self.ptr.max()).bit_length())

    def storage_bits(self):
        """Storage cost in bits, beside dense 16-bit storage.

        Returns
        -------
        dict
            ``entries`` (``entries * (codebook_bits + index_bits)``), ``pointers``
            (``pes * (cols + 1) * ptr_bits``), ``codebook`` (``2**codebook_bits *
            code_width``), their ``total``, ``dense16`` (``rows * cols * 16``) and ``ratio``
            (``dense16 / total``).
        """
        entries = self.entries * (self.codebook_bits + self.index_bits)
        pointers = self.pes * (self.cols + 1) * self.ptr_bits
        codebook = (1 << self.codebook_bits) * self.code_width
        total = entries + pointers + codebook
        dense16 = self.rows * self.cols * 16
        return {"entries": entries, "pointers": pointers, "codebook": codebook,
                "total": total, "dense16": dense16, "ratio": dense16 / total}

    @property
    def ratio(self):
        """Compression ratio against dense 16-bit storage, ``dense16 / total`` bits."""
        return self.storage_bits()["ratio"]

    # Decoding ----------------------------------------------------------------------------

    def to_csc(self):
        """The layer as one plain CSC matrix, the arguments of :func:`tb.golden.spmv_csc`.

        Returns
        -------
        values : ndarray of int64, shape (entries,)
            ``codebook[code]`` of every entry, 0 for padding entries (which are kept, as
            the hardware visits them).
        row_index : ndarray of int64, shape (entries,)
            Global row of each entry; within a column, rows ascend.
        col_ptr : ndarray of int64, shape (cols + 1,)
            Column ``j`` holds entries ``col_ptr[j] .. col_ptr[j + 1] - 1``.
        """
        parts = []
        for k in range(self.pes):
            p = self.ptr[k]
            col = np.repeat(np.arange(self.cols, dtype=np.int64), np.diff(p))
            row = _decode_rows(self.zeros[k], p) * self.pes + k
            parts.append((col, row, self.codebook[self.codes[k]]))
        col, row, values = (np.concatenate(x) for x in zip(*parts, strict=True))
        order = np.lexsort((row, col))
        return values[order], row[order], self.ptr.sum(axis=0)

    def dense(self):
        """The decoded matrix, ``rows x cols`` ``int64`` codebook values (fixed point)."""
        values, row_index, col_ptr = self.to_csc()
        out = np.zeros((self.rows, self.cols), dtype=np.int64)
        out[row_index, np.repeat(np.arange(self.cols), np.diff(col_ptr))] = values
        return out


# Encoding --------------------------------------------------------------------------------

def encode_csc(index, *, pes, index_bits):
    """Encode a matrix of codebook indices in EIE's interleaved, relative-indexed CSC form.

    Parameters
    ----------
    index : ndarray of int, shape (rows, cols)
        Codebook index of each weight, 0 where there is no weight; never negative.
    pes : int
        Number of PEs, a power of two in 1..1024.
    index_bits : int
        Width of a zero count, 1..8. Gaps of more than ``Z = 2**index_bits - 1`` zero rows
        are bridged by padding entries ``(0, Z)``, each covering ``Z + 1`` rows.

    Returns
    -------
    codes : tuple of ndarray of int64
        Per PE, the code of each entry, columns in order, local rows ascending.
    zeros : tuple of ndarray of int64
        Per PE, the zero count of each entry.
    ptr : ndarray of int64, shape (pes, cols + 1)
        Per PE, the first entry of each column, and the entry count last.
    """
    pes = _check_pes(pes)
    index_bits = _check_int("index_bits", index_bits, 1, 8)
    index = np.asarray(index)
    if index.ndim != 2 or index.size == 0 or index.dtype.kind not in "iu":
        raise ValueError(f"index must be a non-empty 2-D integer array, not {index.dtype} of "
                         f"shape {index.shape}")
    if index.min() < 0:
        raise ValueError(f"index must not be negative, not {index.min()}")
    span = 1 << index_bits                 # Z + 1: the rows one padding entry consumes
    cols = index.shape[1]
    codes, zeros, ptr = [], [], np.zeros((pes, cols + 1), dtype=np.int64)
    for k in range(pes):
        # Transposed, so that np.nonzero walks columns in order and rows ascending in each.
        col, row = np.nonzero(index[k::pes].T)
        code = index[k::pes].T[col, row].astype(np.int64)
        first = np.ones(col.size, dtype=bool)
        first[1:] = col[1:] != col[:-1]
        gap = np.where(first, row, row - np.roll(row, 1) - 1)
        pads, rest = np.divmod(gap, span)
        # Each weight becomes its padding entries followed by itself.
        last = np.cumsum(pads + 1) - 1
        total = int(last[-1]) + 1 if last.size else 0
        c = np.zeros(total, dtype=np.int64)
        z = np.full(total, span - 1, dtype=np.int64)
        c[last] = code
        z[last] = rest
        # Entries emitted before the first weight of column j, for every j and the end.
        emitted = np.concatenate(([0], last + 1))
        ptr[k] = emitted[np.searchsorted(col, np.arange(cols + 1))]
        codes.append(c)
        zeros.append(z)
    return tuple(codes), tuple(zeros), ptr


# Compression -----------------------------------------------------------------------------

def _weights(w):
    w = np.asarray(w)
    if w.dtype.kind not in "iuf":
        raise ValueError(f"w must be an integer or floating-point array, not {w.dtype}")
    if w.ndim != 2 or w.size == 0:
        raise ValueError(f"w must be a non-empty 2-D array, not shape {w.shape}")
    if w.dtype.kind == "f":
        if not np.all(np.isfinite(w)):
            raise ValueError("w must be finite, but holds NaN or infinity")
        return w.astype(np.float64)
    if int(w.max()) > _INT64_MAX or int(w.min()) < -_INT64_MAX:
        raise ValueError(f"w must lie in -(2**63 - 1)..2**63 - 1, not {w.min()}..{w.max()}")
    return w.astype(np.int64)


def _keep_mask(w, density, threshold):
    mag = np.abs(w)
    if threshold is not None:
        return mag > threshold
    keep = w != 0
    if density is None:
        return keep
    count = int(round(density * w.size))
    if count == 0:
        return np.zeros(w.shape, dtype=bool)
    if count >= w.size:
        return keep
    # The same set as the first `count` of a stable sort by decreasing magnitude, without
    # sorting (which takes seconds on a large layer): everything above the count-th largest
    # magnitude, then as many of the weights equal to it as are needed, in row-major order.
    flat = mag.ravel()
    cut = np.partition(flat, w.size - count)[w.size - count]
    mask = flat > cut
    mask[np.flatnonzero(flat == cut)[:count - int(np.count_nonzero(mask))]] = True
    return mask.reshape(w.shape) & keep


def _kmeans(values, k):
    """1-D k-means, linear initialization; returns (ascending centroids, index 0..k-1 of each).

    ``k`` never exceeds the number of distinct values, so no cluster can end up empty and
    scikit-learn has nothing to warn about.
    """
    from sklearn.cluster import KMeans
    x = values.astype(np.float64).reshape(-1, 1)
    init = np.linspace(x.min(), x.max(), k).reshape(k, 1)
    km = KMeans(n_clusters=k, init=init, n_init=1, random_state=0).fit(x)
    centers = km.cluster_centers_[:, 0]
    order = np.argsort(centers, kind="stable")
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    return centers[order], rank[km.labels_]


def _fits(centers, frac_bits, code_width):
    lo, hi = _signed_range(code_width)
    q = np.rint(np.ldexp(centers, frac_bits))
    return bool(np.all((q >= lo) & (q <= hi))), q


def _fixed_point(centers, frac_bits, code_width):
    """Round float centroids to ``code_width``-bit fixed point; choose ``frac_bits`` if None."""
    lo, hi = _signed_range(code_width)
    if frac_bits is not None:
        ok, q = _fits(centers, frac_bits, code_width)
        if not ok:
            worst = centers[np.argmax(np.abs(q))]
            raise ValueError(f"frac_bits={frac_bits} puts centroid {worst:.6g} outside "
                             f"code_width={code_width} ({lo}..{hi}); lower frac_bits")
        return q.astype(np.int64), frac_bits
    ok, q = _fits(centers, 0, code_width)
    if not ok:
        worst = centers[np.argmax(np.abs(q))]
        raise ValueError(f"centroid {worst:.6g} does not fit code_width={code_width} "
                         f"({lo}..{hi}) even with frac_bits=0; widen code_width")
    frac = 0
    # The centroids are finite and not all 0, so the loop ends (at worst past the
    # smallest subnormal, F ~ 1074 + code_width).
    while True:
        ok, nxt = _fits(centers, frac + 1, code_width)
        if not ok:
            return q.astype(np.int64), frac
        q, frac = nxt, frac + 1


def compress(w, *, pes, density=None, threshold=None, codebook_bits=4, index_bits=4,
             code_width=16, frac_bits=None):
    """Prune, share weights and encode one layer for ``pes`` EIE PEs.

    Pruning keeps the ``round(density * rows * cols)`` largest-magnitude weights (ties go to
    the earlier weight in row-major order), or those with ``|w| > threshold``, or, with
    neither, every non-zero weight; zeros are never kept. Weight sharing is lossless when
    ``w`` is an integer array with at most ``2**codebook_bits - 1`` distinct kept values:
    the codebook is then those values, ascending, from index 1, and :meth:`~CompressedLayer.
    dense` equals the pruned ``w``. Otherwise 1-D k-means (scikit-learn, one run, linear
    initialization from the smallest to the largest kept value) finds ``min(2**codebook_bits
    - 1, distinct kept values)`` centroids, rounded to integers for an integer ``w``, to
    fixed point with ``frac_bits`` fractional bits for a floating-point one. The result is
    deterministic.

    Parameters
    ----------
    w : ndarray, shape (rows, cols)
        Weights, integer or floating point, finite.
    pes : int
        Number of PEs, a power of two in 1..1024.
    density : float, optional
        Fraction of weights to keep, ``0 < density <= 1``.
    threshold : float, optional
        Keep weights with ``|w| > threshold``, at least 0. At most one of ``density`` and
        ``threshold``.
    codebook_bits : int
        Width of a codebook index, 1..8 (default 4: 15 shared weights).
    index_bits : int
        Width of a zero count, 1..8 (default 4).
    code_width : int
        Width of a decoded weight, signed, 2..32 (default 16).
    frac_bits : int, optional
        Fractional bits of the decoded weights of a floating-point ``w``; by default the
        largest count at which every centroid still fits ``code_width``. Must be None or 0
        for an integer ``w``.

    Returns
    -------
    CompressedLayer

    Raises
    ------
    ValueError
        Naming the parameter, on any bad argument, and when the codebook does not fit
        ``code_width``.
    """
    pes = _check_pes(pes)
    codebook_bits = _check_int("codebook_bits", codebook_bits, 1, 8)
    index_bits = _check_int("index_bits", index_bits, 1, 8)
    code_width = _check_int("code_width", code_width, 2, 32)
    if density is not None and threshold is not None:
        raise ValueError(f"density and threshold exclude each other, not both (density="
                         f"{density!r}, threshold={threshold!r})")
    if density is not None and (not isinstance(density, (int, float, np.integer, np.floating))
                                or isinstance(density, (bool, np.bool_))
                                or not 0 < density <= 1):
        raise ValueError(f"density must be a number in (0, 1], not {density!r}")
    if threshold is not None and (
            not isinstance(threshold, (int, float, np.integer, np.floating))
            or isinstance(threshold, (bool, np.bool_)) or not 0 <= threshold < np.inf):
        raise ValueError(f"threshold must be a finite number >= 0, not {threshold!r}")
    if frac_bits is not None:
        frac_bits = _check_int("frac_bits", frac_bits, 0)
    w = _weights(w)
    is_int = w.dtype.kind == "i"
    if is_int and frac_bits not in (None, 0):
        raise ValueError(f"frac_bits must be None or 0 for an integer w, not {frac_bits!r}")

    keep = _keep_mask(w, density, threshold)
    kept = w[keep]                                  # row-major, as keep is filled below
    distinct = np.unique(kept)
    slots = (1 << codebook_bits) - 1
    lo, hi = _signed_range(code_width)
    if is_int and distinct.size <= slots:
        values, labels, frac = distinct, np.searchsorted(distinct, kept), 0
        bad = values[(values < lo) | (values > hi)]
        if bad.size:
            raise ValueError(f"weight {bad[0]} does not fit code_width={code_width} "
                             f"({lo}..{hi})")
    elif is_int:
        centers, labels = _kmeans(kept, min(slots, distinct.size))
        values, frac = np.rint(centers), 0
        bad = values[(values < lo) | (values > hi)]
        if bad.size:
            raise ValueError(f"integer centroid {bad[0]:.0f} does not fit code_width="
                             f"{code_width} ({lo}..{hi})")
        values = values.astype(np.int64)
    elif distinct.size:
        centers, labels = _kmeans(kept, min(slots, distinct.size))
        values, frac = _fixed_point(centers, frac_bits, code_width)
    else:                                           # nothing kept: an empty codebook
        values, labels = np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
        frac = frac_bits or 0

    codebook = np.zeros(slots + 1, dtype=np.int64)
    codebook[1:values.size + 1] = values
    index = np.zeros(w.shape, dtype=np.int64)
    index[keep] = labels + 1
    codes, zeros, ptr = encode_csc(index, pes=pes, index_bits=index_bits)
    return CompressedLayer(rows=w.shape[0], cols=w.shape[1], pes=pes,
                           codebook_bits=codebook_bits, index_bits=index_bits,
                           code_width=code_width, frac_bits=frac, codebook=codebook,
                           codes=codes, zeros=zeros, ptr=ptr)


# Files -----------------------------------------------------------------------------------

def _check_layers(layers):
    layers = list(layers)
    if not layers:
        raise ValueError("layers must hold at least one CompressedLayer, not none")
    for i, layer in enumerate(layers):
        if not isinstance(layer, CompressedLayer):
            raise ValueError(f"layers[{i}] must be a CompressedLayer, not "
                             f"{type(layer).__name__}")
    return layers


def save(path, layers):
    """Write a model (a list of layers) to ``path`` as an ``.npz`` file, without pickles.

    The file holds ``format`` (:data:`FORMAT_VERSION`), ``layers`` (the count) and, for
    layer ``i``: ``l{i}_meta`` (int64 ``[rows, cols, pes, codebook_bits, index_bits,
    code_width, frac_bits]``), ``l{i}_codebook``, ``l{i}_ptr`` (``pes x (cols + 1)``), and
    the entries of all PEs concatenated in ``l{i}_codes`` and ``l{i}_zeros`` (uint8), PE
    ``k``'s being ``l{i}_offsets[k] .. l{i}_offsets[k + 1] - 1``. ``path`` is written as
    given (no ``.npz`` is appended).
    """
    layers = _check_layers(layers)
    arrays = {"format": np.int64(FORMAT_VERSION), "layers": np.int64(len(layers))}
    for i, layer in enumerate(layers):
        sizes = [c.size for c in layer.codes]
        arrays[f"l{i}_meta"] = np.array([getattr(layer, n) for n in _META], dtype=np.int64)
        arrays[f"l{i}_codebook"] = layer.codebook
        arrays[f"l{i}_ptr"] = layer.ptr
        arrays[f"l{i}_offsets"] = np.concatenate(([0], np.cumsum(sizes))).astype(np.int64)
        arrays[f"l{i}_codes"] = np.concatenate(layer.codes).astype(np.uint8)
        arrays[f"l{i}_zeros"] = np.concatenate(layer.zeros).astype(np.uint8)
    with open(path, "wb") as f:
        np.savez(f, **arrays)


def _get(npz, key, ndim):
    if key not in npz.files:
        raise ValueError(f"missing array {key!r}")
    try:
        arr = npz[key]
    except ValueError as exc:                       # an object array, refused without pickle
        raise ValueError(f"array {key!r} cannot be read: {exc}") from None
    if arr.ndim != ndim or arr.dtype.kind not in "iu":
        raise ValueError(f"array {key!r} must be a {ndim}-D integer array, not {arr.dtype} "
                         f"of shape {arr.shape}")
    return arr


def _read_layer(npz, i):
    meta = _get(npz, f"l{i}_meta", 1)
    if meta.shape != (len(_META),):
        raise ValueError(f"array 'l{i}_meta' must hold {len(_META)} values "
                         f"({', '.join(_META)}), not {meta.size}")
    fields = dict(zip(_META, (int(v) for v in meta), strict=True))
    pes = _check_pes(fields["pes"])
    offsets = _get(npz, f"l{i}_offsets", 1).astype(np.int64)
    codes = _get(npz, f"l{i}_codes", 1)
    zeros = _get(npz, f"l{i}_zeros", 1)
    if (offsets.shape != (pes + 1,) or offsets[0] != 0 or offsets[-1] != codes.size
            or np.any(np.diff(offsets) < 0)):
        raise ValueError(f"array 'l{i}_offsets' must rise from 0 to {codes.size} in "
                         f"{pes + 1} values, not {offsets.tolist()[:8]}")
    if zeros.shape != codes.shape:
        raise ValueError(f"arrays 'l{i}_codes' and 'l{i}_zeros' differ in length "
                         f"({codes.size} and {zeros.size})")
    bounds = list(zip(offsets[:-1], offsets[1:], strict=True))
    return CompressedLayer(**fields, codebook=_get(npz, f"l{i}_codebook", 1),
                           ptr=_get(npz, f"l{i}_ptr", 2),
                           codes=tuple(codes[a:b] for a, b in bounds),
                           zeros=tuple(zeros[a:b] for a, b in bounds))


def load(path):
    """Read a model written by :func:`save`, checking it as :class:`CompressedLayer` does.

    Returns
    -------
    list of CompressedLayer

    Raises
    ------
    ValueError
        Naming the file (and the layer), if it is not an ``.npz`` file of this format or is
        inconsistent: missing arrays, wrong shapes, pointers that decrease, codes or zero
        counts out of range, a non-zero ``codebook[0]``.
    OSError
        If the file cannot be opened.
    """
    try:
        npz = np.load(path, allow_pickle=False)
    except (ValueError, EOFError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path}: not a compressed model (.npz): {exc}") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"{path}: not a compressed model: a .npy array, not an .npz file")
    with npz:
        try:
            version = _get(npz, "format", 0)
            if int(version) != FORMAT_VERSION:
                raise ValueError(f"format {int(version)} is not the supported "
                                 f"{FORMAT_VERSION}")
            count = int(_get(npz, "layers", 0))
            if count < 1:
                raise ValueError(f"'layers' must be at least 1, not {count}")
        except (ValueError, zipfile.BadZipFile, EOFError) as exc:
            raise ValueError(f"{path}: {exc}") from None
        layers = []
        for i in range(count):
            try:
                layers.append(_read_layer(npz, i))
            except (ValueError, zipfile.BadZipFile, EOFError) as exc:
                raise ValueError(f"{path}: layer {i}: {exc}") from None
    return layers


# Report ----------------------------------------------------------------------------------

def _bits(n):
    return f"{n:,} b" if n < 8 * 1024 else f"{n:,} b ({n / 8 / 1024:,.1f} KiB)"


def _wrapped(values, indent):
    lines, line = [], indent
    for text in values:
        if len(line) + len(text) + 1 > 96 and line.strip():
            lines.append(line)
            line = indent
        line += f" {text}" if line.strip() else text
    return lines + [line]


def describe(layers):
    """The text of ``rowloom compress --inspect``: shape, sparsity, padding, balance, codebook
    and storage of each layer, and the model's compression ratio against dense 16-bit
    weights.
    """
    layers = _check_layers(layers)
    lines = []
    model_total = model_dense = 0
    pad = " " * 14
    for i, lay in enumerate(layers):
        st = lay.storage_bits()
        model_total += st["total"]
        model_dense += st["dense16"]
        per_pe = np.array(lay.pe_entries)
        used = np.unique(np.concatenate(lay.codes))
        n_local = [_local_rows(lay.rows, lay.pes, k) for k in range(lay.pes)]
        lines += [
            f"layer {i}: {lay.rows} x {lay.cols} (rows x cols) on {lay.pes} PEs, "
            f"{min(n_local)}..{max(n_local)} rows per PE",
            f"  non-zeros   {lay.nonzeros:,} of {lay.rows * lay.cols:,} weights: density "
            f"{lay.density:.2%}",
            f"  entries     {lay.entries:,} = {lay.nonzeros:,} weights + {lay.padding:,} "
            f"padding: padding overhead {lay.padding / max(lay.entries, 1):.2%} of entries",
            f"  per PE      entries min {per_pe.min():,}, mean {per_pe.mean():,.1f}, max "
            f"{per_pe.max():,} (max/mean {per_pe.max() / max(per_pe.mean(), 1e-9):.3f})",
            f"  codebook    {used[used > 0].size} of {(1 << lay.codebook_bits) - 1} indices "
            f"used, {lay.code_width}-bit values, frac bits {lay.frac_bits}"
            + (f" (weight = value / 2**{lay.frac_bits})" if lay.frac_bits else "") + ":",
        ]
        lines += _wrapped([str(v) for v in lay.codebook.tolist()], pad)
        if lay.frac_bits:
            lines += _wrapped(["="] + [f"{v / 2**lay.frac_bits:.4g}"
                                       for v in lay.codebook.tolist()], pad)
        lines += [
            f"  storage     entries {st['entries']:,} b ({lay.codebook_bits} + "
            f"{lay.index_bits} bits each) + pointers {st['pointers']:,} b ({lay.pes} x "
            f"{lay.cols + 1} x {lay.ptr_bits} bits)",
            f"{pad}+ codebook {st['codebook']:,} b = {_bits(st['total'])}",
            f"  ratio       {st['ratio']:.2f}x against dense 16-bit weights, "
            f"{_bits(st['dense16'])}",
        ]
    if len(layers) > 1:
        lines.append(f"model: {len(layers)} layers, {_bits(model_total)}: ratio "
                     f"{model_dense / model_total:.2f}x against dense 16-bit weights, "
                     f"{_bits(model_dense)}")
    return "\n".join(lines)
