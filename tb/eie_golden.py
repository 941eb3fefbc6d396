"""Golden model of the EIE engine: layers of a Deep Compression model, in exact integers.

A layer computes ``acc = W a`` with ``W`` the decoded matrix of a
:class:`gen.compress.CompressedLayer` (codebook values, fixed point with the layer's
``frac_bits``, so ``acc`` carries ``frac_bits`` fractional bits more than ``a``). The work is
done by :func:`tb.golden.spmv_csc` on :meth:`~gen.compress.CompressedLayer.to_csc`, which
visits only the columns of non-zero activations and every stored entry of them, padding
included, as the hardware does; it accumulates in ``int64`` when that provably cannot
overflow and in Python integers otherwise. Between layers the accumulators are narrowed by
:func:`tb.golden.requantize` (ReLU, arithmetic shift right, saturation), the output stage
the hardware applies before the next layer reads them. No floating point anywhere.
"""

import numpy as np

from gen.compress import CompressedLayer

from .golden import requantize, spmv_csc

__all__ = ["forward", "layer_acc"]


def _check_layer(name, layer):
    if not isinstance(layer, CompressedLayer):
        raise TypeError(f"{name} must be a CompressedLayer, not {type(layer).__name__}")
    return layer


def _activations(a, cols):
    """``a`` as an array of shape (cols,) or (batch, cols), or ValueError."""
    a = np.asarray(a)
    if a.ndim not in (1, 2) or a.shape[-1] != cols:
        raise ValueError(f"a must have shape ({cols},) or (batch, {cols}) to match the layer's "
                         f"{cols} columns, not {a.shape}")
    if a.size and a.dtype.kind not in "iuO":
        raise ValueError(f"a must be an integer array, not an array of dtype {a.dtype}")
    return a


def _acc(layer, csc, a):
    values, row_index, col_ptr = csc
    if a.ndim == 1:
        return spmv_csc(values, row_index, col_ptr, a, n_rows=layer.rows)
    if a.shape[0] == 0:
        return np.zeros((0, layer.rows), dtype=np.int64)
    outs = [spmv_csc(values, row_index, col_ptr, v, n_rows=layer.rows) for v in a]
    if any(o.dtype == object for o in outs):
        # int64 -> object turns the values into Python ints, so the whole batch stays exact.
        return np.stack([o.astype(object) for o in outs])
    return np.stack(outs)


def layer_acc(layer, a):
    """Accumulators ``W a`` of one compressed layer, exactly.

    Parameters
    ----------
    layer : CompressedLayer
    a : ndarray of int, shape (cols,) or (batch, cols)
        Input activations; in a batch every row is an independent vector.

    Returns
    -------
    ndarray, shape (rows,) or (batch, rows)
        ``int64`` when the result provably fits, otherwise an ``object`` array of Python
        ints (as :func:`tb.golden.spmv_csc`).
    """
    layer = _check_layer("layer", layer)
    a = _activations(a, layer.cols)
    return _acc(layer, layer.to_csc(), a)


def forward(layers, a, *, relu, shift, act_width):
    """Run a compressed model layer by layer, as the EIE engine does.

    Every layer but the last is followed by ``requantize(acc, shift=shift[k], relu=relu[k],
    out_width=act_width, out_signed=True)``, whose result is the next layer's input. The last
    layer is requantized the same way when ``shift[-1]`` is an integer; when it is None, its
    raw accumulators are returned, through ReLU if ``relu[-1]``.

    Parameters
    ----------
    layers : sequence of CompressedLayer
        At least one; the rows of each layer are the columns of the next.
    a : ndarray of int, shape (cols,) or (batch, cols)
        Input of the first layer; in a batch every row is an independent vector.
    relu : sequence of bool
        One per layer.
    shift : sequence of int or None
        One per layer, each at least 0; only the last may be None.
    act_width : int
        Width of the signed activations between layers, 1..64.

    Returns
    -------
    ndarray, shape (rows of the last layer,) or (batch, rows of the last layer)
        ``int64`` after requantization; otherwise as :func:`layer_acc`.

    Raises
    ------
    ValueError
        On an empty model, layers that do not chain, ``a`` of the wrong length, ``relu`` or
        ``shift`` of the wrong length, a None shift before the last layer, a bad
        ``act_width``.
    TypeError
        On a layer that is not a CompressedLayer, a ``relu`` that is not a bool.
    """
    layers = [_check_layer(f"layers[{k}]", layer) for k, layer in enumerate(layers)]
    if not layers:
        raise ValueError("layers must hold at least one CompressedLayer, not none")
    for k in range(1, len(layers)):
        if layers[k].cols != layers[k - 1].rows:
            raise ValueError(f"layers[{k}] has {layers[k].cols} columns, but layers[{k - 1}] "
                             f"has {layers[k - 1].rows} rows: the layers do not chain")
    relu, shift = list(relu), list(shift)
    for name, seq in (("relu", relu), ("shift", shift)):
        if len(seq) != len(layers):
            raise ValueError(f"{name} must have one value per layer ({len(layers)}), not "
                             f"{len(seq)}")
    for k, r in enumerate(relu):
        if not isinstance(r, (bool, np.bool_)):
            raise TypeError(f"relu[{k}] must be a bool, not {r!r}")
    for k, s in enumerate(shift[:-1]):
        if s is None:
            raise ValueError(f"shift[{k}] must be an integer, not None: layer {k} feeds "
                             f"layer {k + 1}, which reads act_width-bit activations")
    if isinstance(act_width, (bool, np.bool_)) or not isinstance(act_width, (int, np.integer)) \
            or not 1 <= act_width <= 64:
        raise ValueError(f"act_width must be an integer in 1..64, not {act_width!r}")
    x = _activations(a, layers[0].cols)
    for k, layer in enumerate(layers):
        acc = _acc(layer, layer.to_csc(), x)
        if shift[k] is not None:
            x = requantize(acc, shift=shift[k], relu=bool(relu[k]), out_width=int(act_width),
                           out_signed=True)
        else:
            x = np.maximum(acc, 0) if relu[k] else acc
    return x
