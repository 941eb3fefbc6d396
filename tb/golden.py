"""NumPy golden models for the rowloom datapaths.

Every function here computes with exact integers and never with floats: the testbenches
compare the generated hardware against these models bit for bit, so a model that rounds or
wraps would hide the very bugs it is meant to catch. Accumulation is done in ``int64`` when
a bound on the result (from the largest magnitudes actually present and the reduction
length) proves that nothing can overflow, and with Python integers (an ``object`` array)
otherwise, so 32-bit by 32-bit products summed over long reductions stay exact. Where the
hardware narrows a result, the model does what the hardware does: an arithmetic right
shift that rounds towards minus infinity, then saturation to the output range. Convolution
follows the Eyeriss papers' definition (cross-correlation with zero padding, no flipped
kernel); the sparse product follows the EIE order of work (only columns with a non-zero
activation are visited).
"""

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

__all__ = [
    "conv1d_row",
    "conv2d",
    "csc_from_dense",
    "fc",
    "int_range",
    "matvec",
    "requantize",
    "saturate",
    "spmv_csc",
]

_INT64_MIN = -(2**63)
_INT64_MAX = 2**63 - 1


# Argument checks -------------------------------------------------------------------------

def _is_int(value):
    # bool is an int subclass, but True as a stride or a width is a bug in the caller.
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def _check_int(name, value, *, minimum):
    if not _is_int(value):
        raise TypeError(f"{name} must be an integer, not {value!r}")
    if value < minimum:
        kind = "a positive integer" if minimum == 1 else f"an integer >= {minimum}"
        raise ValueError(f"{name} must be {kind}, not {value!r}")
    return int(value)


def _check_bool(name, value):
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(f"{name} must be a bool, not {value!r}")
    return bool(value)


def _int_array(name, value, *, ndim=None):
    """Return ``value`` as an integer array, or raise ValueError naming ``name``.

    Object arrays are accepted when every element is an integer; their elements are turned
    into Python ints, because NumPy scalars inside an object array would still wrap.
    """
    arr = np.asarray(value)
    if arr.dtype.kind == "O":
        for v in arr.flat:
            if not _is_int(v):
                raise ValueError(f"{name} must hold only integers, not {v!r}")
        arr = np.array([int(v) for v in arr.flat], dtype=object).reshape(arr.shape)
    elif arr.dtype.kind not in "iu":
        raise ValueError(f"{name} must be an integer array, not an array of dtype {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimension(s), not shape {arr.shape}")
    return arr


def _non_empty(name, arr):
    if arr.size == 0:
        raise ValueError(f"{name} must not be empty, not shape {arr.shape}")


def _bias_array(bias, length):
    if bias is None:
        return None
    bias = _int_array("bias", bias, ndim=1)
    if bias.shape != (length,):
        raise ValueError(f"bias must have shape ({length},), not {bias.shape}")
    return bias


# Exact accumulation ----------------------------------------------------------------------

def _max_abs(arr):
    if arr is None or arr.size == 0:
        return 0
    return max(abs(int(arr.max())), abs(int(arr.min())))


def _exact_dtype(a, b, terms, bias=None):
    """Pick the accumulator for ``bias + (sum of terms products a*b)``.

    int64 only when the triangle-inequality bound fits: then every partial sum fits too,
    whatever the order numpy adds in. Each operand must also fit, or casting it would wrap.
    """
    ba, bb, bc = _max_abs(a), _max_abs(b), _max_abs(bias)
    bound = ba * bb * terms + bc
    if max(bound, ba, bb, bc) <= _INT64_MAX:
        return np.dtype(np.int64)
    return np.dtype(object)


def _conv2d_core(x, w, bias, stride, padding):
    # Arguments are validated and the output is known to be at least 1 x 1.
    _, c, r, s = w.shape
    dtype = _exact_dtype(x, w, c * r * s, bias)
    # Casting an integer array to object yields Python ints, which never wrap.
    x = x.astype(dtype)
    w = w.astype(dtype)
    if padding:
        # Not np.pad: on object arrays it fills with numpy int64 zeros, which would make
        # the products of the border int64 again and overflow.
        n, _, h, wd = x.shape
        padded = np.zeros((n, c, h + 2 * padding, wd + 2 * padding), dtype=dtype)
        padded[:, :, padding:padding + h, padding:padding + wd] = x
        x = padded
    # (N, C, E, F, R, S): the input patch under each output pixel, as a view.
    patches = sliding_window_view(x, (r, s), axis=(2, 3))[:, :, ::stride, ::stride]
    out = np.tensordot(patches, w, axes=([1, 4, 5], [1, 2, 3]))  # (N, E, F, M)
    out = out.transpose(0, 3, 1, 2)
    if bias is not None:
        out = out + bias.astype(dtype)[None, :, None, None]
    return np.ascontiguousarray(out)


# Public models ---------------------------------------------------------------------------

def int_range(width, signed):
    """Inclusive range of a ``width``-bit integer.

    Parameters
    ----------
    width : int
        Number of bits, at least 1.
    signed : bool
        Two's complement when true, unsigned otherwise.

    Returns
    -------
    tuple of int
        ``(lo, hi)``, the smallest and the largest representable value.
    """
    width = _check_int("width", width, minimum=1)
    signed = _check_bool("signed", signed)
    if signed:
        return -(1 << (width - 1)), (1 << (width - 1)) - 1
    return 0, (1 << width) - 1


def conv2d(x, w, bias=None, *, stride=1, padding=0):
    """Exact integer convolution layer (the Eyeriss papers' definition).

    ``O[n, m, e, f] = B[m] + sum_{c, r, s} I[n, c, e*U + r - P, f*U + s - P] * W[m, c, r, s]``
    with zeros outside the input, where ``U`` is ``stride`` and ``P`` is ``padding``.

    Parameters
    ----------
    x : ndarray of int, shape (N, C, H, W)
        Input feature maps.
    w : ndarray of int, shape (M, C, R, S)
        Filters.
    bias : ndarray of int, shape (M,), optional
        Added to every output of filter ``m``.
    stride : int
        ``U``, at least 1, the same along both axes.
    padding : int
        ``P``, at least 0, zeros added on all four sides.

    Returns
    -------
    ndarray, shape (N, M, E, F)
        ``E = (H + 2P - R) // U + 1`` and ``F = (W + 2P - S) // U + 1``. ``int64`` when the
        result provably fits, otherwise an ``object`` array of Python ints.

    Raises
    ------
    ValueError
        On a non-integer array, a wrong number of dimensions, an empty operand, mismatched
        channels or bias length, a bad ``stride`` or ``padding``, or ``E`` or ``F`` below 1.
    TypeError
        On a ``stride`` or ``padding`` that is not an integer.
    """
    stride = _check_int("stride", stride, minimum=1)
    padding = _check_int("padding", padding, minimum=0)
    x = _int_array("x", x, ndim=4)
    w = _int_array("w", w, ndim=4)
    _non_empty("x", x)
    _non_empty("w", w)
    _, c, h, wd = x.shape
    m, cw, r, s = w.shape
    if cw != c:
        raise ValueError(f"w has {cw} input channels, but x has {c} (shapes {w.shape} and "
                         f"{x.shape})")
    bias = _bias_array(bias, m)
    e = (h + 2 * padding - r) // stride + 1
    f = (wd + 2 * padding - s) // stride + 1
    if e < 1 or f < 1:
        raise ValueError(f"output would be {e} x {f}: a {r} x {s} filter does not fit a "
                         f"{h} x {wd} input with padding {padding} and stride {stride}")
    return _conv2d_core(x, w, bias, stride, padding)


def fc(x, w, bias=None):
    """Exact integer fully-connected layer, the 1 x 1 case of :func:`conv2d`.

    Parameters
    ----------
    x : ndarray of int, shape (N, C)
        Input vectors.
    w : ndarray of int, shape (M, C)
        Weights.
    bias : ndarray of int, shape (M,), optional

    Returns
    -------
    ndarray, shape (N, M)
        ``out[n, m] = bias[m] + sum_c x[n, c] * w[m, c]``; ``int64`` or ``object`` as for
        :func:`conv2d`.
    """
    x = _int_array("x", x, ndim=2)
    w = _int_array("w", w, ndim=2)
    _non_empty("x", x)
    _non_empty("w", w)
    if w.shape[1] != x.shape[1]:
        raise ValueError(f"w has {w.shape[1]} columns, but x has {x.shape[1]} (shapes "
                         f"{w.shape} and {x.shape})")
    bias = _bias_array(bias, w.shape[0])
    return _conv2d_core(x[:, :, None, None], w[:, :, None, None], bias, 1, 0)[:, :, 0, 0]


def conv1d_row(x, w, *, stride=1):
    """Row-stationary 1-D primitive: one filter row slid over one input row.

    ``psum[f] = sum_s w[s] * x[f*stride + s]``, without padding (Eyeriss's 1-D primitive).

    Parameters
    ----------
    x : ndarray of int, shape (W,)
        Input row.
    w : ndarray of int, shape (S,)
        Filter row.
    stride : int
        At least 1.

    Returns
    -------
    ndarray, shape (F,)
        ``F = (W - S) // stride + 1`` partial sums; ``int64`` or ``object`` as for
        :func:`conv2d`.
    """
    stride = _check_int("stride", stride, minimum=1)
    x = _int_array("x", x, ndim=1)
    w = _int_array("w", w, ndim=1)
    _non_empty("x", x)
    _non_empty("w", w)
    if w.size > x.size:
        raise ValueError(f"w is longer than x ({w.size} > {x.size}), so there is no output")
    return _conv2d_core(x[None, None, None, :], w[None, None, None, :], None, stride, 0)[0, 0, 0]


def matvec(w, a, bias=None, *, relu=False):
    """Dense reference for the EIE engine: ``b = W a (+ bias)``, then optional ReLU.

    Parameters
    ----------
    w : ndarray of int, shape (rows, cols)
    a : ndarray of int, shape (cols,)
    bias : ndarray of int, shape (rows,), optional
    relu : bool
        Replace negative results by 0 (after the bias).

    Returns
    -------
    ndarray, shape (rows,)
        ``int64`` or ``object`` as for :func:`conv2d`.
    """
    relu = _check_bool("relu", relu)
    w = _int_array("w", w, ndim=2)
    a = _int_array("a", a, ndim=1)
    _non_empty("w", w)
    if a.shape != (w.shape[1],):
        raise ValueError(f"a must have shape ({w.shape[1]},) to match w, not {a.shape}")
    bias = _bias_array(bias, w.shape[0])
    out = _conv2d_core(a[None, :, None, None], w[:, :, None, None], bias, 1, 0)[0, :, 0, 0]
    return np.maximum(out, 0) if relu else out


def csc_from_dense(w):
    """Plain compressed-sparse-column form of a dense matrix.

    Parameters
    ----------
    w : ndarray of int, shape (rows, cols)

    Returns
    -------
    values : ndarray, shape (nnz,)
        The non-zero entries, column by column, rows ascending within a column; same dtype
        as ``w``.
    row_index : ndarray of int64, shape (nnz,)
        Row of each entry.
    col_ptr : ndarray of int64, shape (cols + 1,)
        Column ``j`` holds entries ``col_ptr[j]`` to ``col_ptr[j + 1] - 1``.
    """
    w = _int_array("w", w, ndim=2)
    # Row-major order of the transpose is column-major order of w.
    nonzero = w.T != 0
    values = w.T[nonzero]
    row_index = np.nonzero(nonzero)[1].astype(np.int64)
    col_ptr = np.zeros(w.shape[1] + 1, dtype=np.int64)
    np.cumsum(np.count_nonzero(nonzero, axis=1), out=col_ptr[1:])
    return values, row_index, col_ptr


def spmv_csc(values, row_index, col_ptr, a, *, n_rows, bias=None, relu=False):
    """Sparse ``b = W a (+ bias)``, optional ReLU, with ``W`` in CSC form, as EIE computes it.

    Only columns ``j`` with ``a[j] != 0`` are visited, and of those only their stored
    entries. Stored zeros (such as EIE padding entries) are allowed; repeated rows within a
    column add up, as they would in the hardware accumulator.

    Parameters
    ----------
    values : ndarray of int, shape (nnz,)
    row_index : ndarray of int, shape (nnz,)
        Each in ``0 .. n_rows - 1``.
    col_ptr : ndarray of int, shape (cols + 1,)
        Non-decreasing, from 0 to ``nnz``.
    a : ndarray of int, shape (cols,)
        Input activations.
    n_rows : int
        Number of rows of ``W``, at least 1.
    bias : ndarray of int, shape (n_rows,), optional
    relu : bool
        Replace negative results by 0 (after the bias).

    Returns
    -------
    ndarray, shape (n_rows,)
        ``int64`` or ``object`` as for :func:`conv2d`.
    """
    n_rows = _check_int("n_rows", n_rows, minimum=1)
    relu = _check_bool("relu", relu)
    values = _int_array("values", values, ndim=1)
    row_index = _int_array("row_index", row_index, ndim=1)
    col_ptr = _int_array("col_ptr", col_ptr, ndim=1)
    a = _int_array("a", a, ndim=1)
    if row_index.shape != values.shape:
        raise ValueError(f"row_index must have shape {values.shape} like values, not "
                         f"{row_index.shape}")
    if col_ptr.shape != (a.size + 1,):
        raise ValueError(f"col_ptr must have shape ({a.size + 1},) for {a.size} activations, "
                         f"not {col_ptr.shape}")
    col_ptr = col_ptr.astype(np.int64)
    if col_ptr[0] != 0 or col_ptr[-1] != values.size or np.any(np.diff(col_ptr) < 0):
        raise ValueError(f"col_ptr must rise from 0 to {values.size} without decreasing, "
                         f"not {col_ptr!r}")
    if row_index.size and (int(row_index.min()) < 0 or int(row_index.max()) >= n_rows):
        raise ValueError(f"row_index must lie in 0..{n_rows - 1}, not {row_index!r}")
    bias = _bias_array(bias, n_rows)

    # No row can collect more than nnz products.
    dtype = _exact_dtype(values, a, values.size, bias)
    values = values.astype(dtype)
    a = a.astype(dtype)
    active = np.flatnonzero(a != 0)
    starts = col_ptr[active]
    counts = col_ptr[active + 1] - starts
    # The positions of the stored entries of the active columns, in the order EIE walks
    # them: starts[k], starts[k] + 1, ..., for each active column k in turn.
    first = np.cumsum(counts) - counts
    entry = np.repeat(starts - first, counts) + np.arange(int(counts.sum()))
    products = values[entry] * a[np.repeat(active, counts)]
    out = np.zeros(n_rows, dtype=dtype) if bias is None else bias.astype(dtype)
    np.add.at(out, row_index[entry].astype(np.intp), products)
    return np.maximum(out, 0) if relu else out


def saturate(values, width, signed):
    """``values`` clamped to the range of a ``width``-bit integer (``int_range``); any
    shape, ``object`` arrays of Python ints included (so any width)."""
    lo, hi = int_range(width, signed)
    values = _int_array("values", values)
    if values.dtype.kind in "iu":       # a bound past the dtype's range clamps nothing
        info = np.iinfo(values.dtype)
        lo, hi = max(lo, int(info.min)), min(hi, int(info.max))
    # ufuncs turn 0-d arrays into scalars; asarray keeps the promise of an array.
    return np.asarray(np.minimum(np.maximum(values, lo), hi))


def requantize(acc, *, shift, relu=False, out_width, out_signed=True):
    """Narrow accumulator values the way the hardware output stage does.

    In order: optional ReLU, arithmetic right shift by ``shift`` (rounding towards minus
    infinity, as Python's ``>>``), saturation to an ``out_width``-bit integer.

    Parameters
    ----------
    acc : ndarray of int
        Any shape; ``object`` arrays of Python ints are accepted.
    shift : int
        At least 0.
    relu : bool
        Replace negative values by 0 first.
    out_width : int
        1 to 64 for a signed output, 1 to 63 for an unsigned one (the result is ``int64``).
    out_signed : bool
        Saturate to the signed (true) or unsigned (false) range.

    Returns
    -------
    ndarray of int64
        Same shape as ``acc``.
    """
    shift = _check_int("shift", shift, minimum=0)
    relu = _check_bool("relu", relu)
    out_width = _check_int("out_width", out_width, minimum=1)
    out_signed = _check_bool("out_signed", out_signed)
    limit = 64 if out_signed else 63
    if out_width > limit:
        raise ValueError(f"out_width must be at most {limit} for a "
                         f"{'signed' if out_signed else 'unsigned'} output, not {out_width!r}")
    acc = _int_array("acc", acc)
    if acc.dtype.kind == "u":
        acc = acc.astype(np.int64 if _max_abs(acc) <= _INT64_MAX else object)
    elif acc.dtype.kind == "i":
        acc = acc.astype(np.int64)
        # A shift by 64 or more is undefined in C; by 63 it already gives the floor (0 or -1)
        # for every int64, which is what any larger shift must give.
        shift = min(shift, 63)
    if relu:
        acc = np.maximum(acc, 0)
    return saturate(acc >> shift, out_width, out_signed).astype(np.int64)
