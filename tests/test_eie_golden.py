"""Checks of the EIE golden model in ``tb.eie_golden`` against oracles that share no code with it.

The oracle walks the raw ``(code, zero)`` entries of every PE with the hardware's row rule
(first entry of a column at row ``zero``, later ones at ``previous + zero + 1``) in plain
Python integers; it is compared with :func:`tb.eie_golden.layer_acc`, with dense NumPy
``W_decoded @ a`` and with :func:`tb.golden.matvec`. Multi-layer runs are checked against a
hand loop over :func:`tb.golden.requantize`. Random cases use ``numpy.random.default_rng``
with a seed printed per case (base from ``ROWLOOM_SEED``).
"""

import os

import numpy as np
import pytest

from gen.compress import compress
from tb import golden
from tb.eie_golden import forward, layer_acc

BASE_SEED = int(os.environ.get("ROWLOOM_SEED", "20160618"))
_FAMILY_OFFSET = {"acc": 90_000, "wide": 91_000, "forward": 92_000}


def _seeded(family, case):
    seed = BASE_SEED + _FAMILY_OFFSET[family] + case
    print(f"seed={seed}")
    replay = f"seed={seed} (replay: ROWLOOM_SEED={BASE_SEED}, {family} case {case})"
    return np.random.default_rng(seed), replay


# Oracle ------------------------------------------------------------------------------------

def _walk(layer):
    """(global row, column, code) of every stored entry, read straight off the fields."""
    z_max = 2**layer.index_bits - 1
    for k in range(layer.pes):
        codes, zeros = layer.codes[k].tolist(), layer.zeros[k].tolist()
        ptr = layer.ptr[k].tolist()
        for j in range(layer.cols):
            row = None
            for e in range(ptr[j], ptr[j + 1]):
                assert 0 <= zeros[e] <= z_max
                row = zeros[e] if row is None else row + zeros[e] + 1
                yield row * layer.pes + k, j, codes[e]


def _oracle_dense(layer):
    book = [int(v) for v in layer.codebook]
    out = [[0] * layer.cols for _ in range(layer.rows)]
    for row, col, code in _walk(layer):
        assert out[row][col] == 0, "two entries at one place"
        out[row][col] = book[code]
    return out


def _oracle_acc(layer, a):
    book = [int(v) for v in layer.codebook]
    acc = [0] * layer.rows
    for row, col, code in _walk(layer):
        acc[row] += book[code] * int(a[col])
    return acc


def _random_matrix(rng, shape, distinct, density):
    table = rng.choice(np.arange(-999, 1000), size=distinct, replace=False)
    table = table[table != 0] if np.any(table != 0) else np.array([7])
    return rng.choice(table, size=shape) * (rng.random(shape) < density)


# One layer ---------------------------------------------------------------------------------

_SHAPES = [(1, 1), (3, 70), (17, 9), (64, 64), (100, 37), (129, 16), (200, 3)]


@pytest.mark.parametrize("pes", [1, 2, 4, 64])
@pytest.mark.parametrize("density", [0.01, 0.05, 0.2, 0.6, 1.0])
def test_layer_acc_against_oracles(pes, density):
    case = [1, 2, 4, 64].index(pes) * 10 + [0.01, 0.05, 0.2, 0.6, 1.0].index(density)
    rng, replay = _seeded("acc", case)
    shape = _SHAPES[case % len(_SHAPES)]
    w = _random_matrix(rng, shape, int(rng.integers(1, 16)), density)
    index_bits = int(rng.integers(1, 5))
    layer = compress(w, pes=pes, index_bits=index_bits)
    decoded = layer.dense()
    # Lossless: at most 15 distinct integers, so the decoded matrix is w itself.
    assert decoded.tolist() == w.tolist() == _oracle_dense(layer), replay
    for _ in range(3):
        a = rng.integers(-2**15, 2**15, shape[1]) * (rng.random(shape[1]) < 0.6)
        acc = layer_acc(layer, a)
        expect = _oracle_acc(layer, a)
        assert acc.dtype == np.int64, replay
        assert acc.tolist() == expect, replay
        assert (decoded @ a).tolist() == expect, replay
        assert golden.matvec(decoded, a).tolist() == expect, replay


@pytest.mark.parametrize("case", range(6))
def test_layer_acc_with_pruning_and_kmeans(case):
    rng, replay = _seeded("acc", 100 + case)
    w = rng.normal(size=(int(rng.integers(5, 90)), int(rng.integers(5, 60))))
    layer = compress(w, pes=int(2 ** rng.integers(0, 6)), density=float(rng.uniform(0.02, 1)),
                     index_bits=int(rng.integers(1, 5)))
    a = rng.integers(-128, 128, layer.cols)
    expect = _oracle_acc(layer, a)
    assert layer_acc(layer, a).tolist() == expect, replay
    assert (np.array(_oracle_dense(layer)) @ a).tolist() == expect, replay


@pytest.mark.parametrize("case", range(3))
def test_layer_acc_stays_exact_beyond_int64(case):
    # 32-bit codebook values times 62-bit activations over 40 columns overflow int64.
    rng, replay = _seeded("wide", case)
    table = np.array([-(2**31), -(2**30) - 12345, 2**31 - 1, 77, 2**29 + 1])
    w = rng.choice(table, size=(20, 40)) * (rng.random((20, 40)) < 0.5)
    layer = compress(w, pes=4, code_width=32)
    a = rng.integers(-(2**62), 2**62, 40)
    acc = layer_acc(layer, a)
    expect = _oracle_acc(layer, a)
    assert acc.dtype == object, replay
    assert acc.tolist() == expect, replay
    assert golden.matvec(w, a).tolist() == expect, replay


def test_layer_acc_batch_is_per_vector():
    rng, replay = _seeded("acc", 200)
    layer = compress(_random_matrix(rng, (33, 21), 9, 0.3), pes=8)
    batch = rng.integers(-50, 50, (5, 21))
    out = layer_acc(layer, batch)
    assert out.shape == (5, 33), replay
    for a, row in zip(batch, out, strict=True):
        assert row.tolist() == _oracle_acc(layer, a), replay
    assert layer_acc(layer, np.zeros((0, 21), dtype=int)).shape == (0, 33)


def test_padding_and_empty_columns_do_not_contribute():
    w = np.zeros((80, 6), dtype=np.int64)
    w[79, 0], w[0, 2], w[40, 5] = 3, -2, 7              # long gaps, empty columns 1, 3, 4
    layer = compress(w, pes=2, index_bits=1)
    assert layer.padding > 0
    a = np.array([5, 100, -4, 100, 100, 2])
    assert layer_acc(layer, a).tolist() == _oracle_acc(layer, a) == (w @ a).tolist()


def test_layer_acc_rejects_bad_input():
    layer = compress(np.eye(3, dtype=int), pes=1)
    with pytest.raises(ValueError, match=r"a must have shape \(3,\) or \(batch, 3\)"):
        layer_acc(layer, np.ones(4, dtype=int))
    with pytest.raises(ValueError, match="a must be an integer array"):
        layer_acc(layer, np.ones(3))
    with pytest.raises(TypeError, match="layer must be a CompressedLayer"):
        layer_acc(np.eye(3, dtype=int), np.ones(3, dtype=int))


# Several layers ----------------------------------------------------------------------------

def _hand_forward(layers, a, relu, shift, act_width):
    x = [int(v) for v in a]
    lo, hi = -(2 ** (act_width - 1)), 2 ** (act_width - 1) - 1
    for k, layer in enumerate(layers):
        acc = _oracle_acc(layer, x)
        if relu[k]:
            acc = [max(v, 0) for v in acc]
        if shift[k] is not None:
            acc = [min(max(v >> shift[k], lo), hi) for v in acc]
        x = acc
    return x


def _model(rng, sizes):
    layers = []
    for cols, rows in zip(sizes[:-1], sizes[1:], strict=True):
        w = rng.normal(size=(rows, cols))
        layers.append(compress(w, pes=int(2 ** rng.integers(0, 4)),
                               density=float(rng.uniform(0.1, 0.6)), code_width=8))
    return layers


@pytest.mark.parametrize("case", range(6))
def test_forward_against_a_hand_loop(case):
    rng, replay = _seeded("forward", case)
    sizes = [int(v) for v in rng.integers(1, 60, int(rng.integers(2, 5)))]
    layers = _model(rng, sizes)
    act_width = int(rng.choice([4, 8, 16]))
    relu = [bool(v) for v in rng.integers(0, 2, len(layers))]
    shift = [int(v) for v in rng.integers(0, 10, len(layers))]
    if case % 2:
        shift[-1] = None
    a = rng.integers(-(2 ** (act_width - 1)), 2 ** (act_width - 1), sizes[0])
    out = forward(layers, a, relu=relu, shift=shift, act_width=act_width)
    assert out.tolist() == _hand_forward(layers, a, relu, shift, act_width), replay
    # Between layers the same thing through tb.golden.requantize.
    x = a
    for k, layer in enumerate(layers[:-1]):
        x = golden.requantize(layer_acc(layer, x), shift=shift[k], relu=relu[k],
                              out_width=act_width)
    assert forward(layers[-1:], x, relu=relu[-1:], shift=shift[-1:],
                   act_width=act_width).tolist() == out.tolist(), replay
    batch = rng.integers(-(2 ** (act_width - 1)), 2 ** (act_width - 1), (4, sizes[0]))
    both = forward(layers, batch, relu=relu, shift=shift, act_width=act_width)
    assert both.shape == (4, sizes[-1]), replay
    for v, row in zip(batch, both, strict=True):
        assert row.tolist() == forward(layers, v, relu=relu, shift=shift,
                                       act_width=act_width).tolist(), replay


def test_forward_last_layer_raw_with_relu():
    w = np.array([[1, -2], [-3, 4]])
    layer = compress(w, pes=2)
    a = np.array([5, 1])
    assert forward([layer], a, relu=[False], shift=[None], act_width=8).tolist() == [3, -11]
    assert forward([layer], a, relu=[True], shift=[None], act_width=8).tolist() == [3, 0]
    assert forward([layer], a, relu=[False], shift=[1], act_width=4).tolist() == [1, -6]


@pytest.mark.parametrize("kwargs,error,needle", [
    ({"relu": [True], "shift": [0, 0]}, ValueError, "relu must have one value per layer (2)"),
    ({"shift": [0]}, ValueError, "shift must have one value per layer (2), not 1"),
    ({"shift": [None, 0]}, ValueError, "shift[0] must be an integer, not None"),
    ({"relu": [1, True]}, TypeError, "relu[0] must be a bool"),
    ({"act_width": 0}, ValueError, "act_width must be an integer in 1..64"),
    ({"act_width": 65}, ValueError, "act_width must be"),
    ({"a": np.ones(5, dtype=int)}, ValueError, "a must have shape (4,)"),
    ({"layers": "chain"}, ValueError, "layers[1] has 4 columns, but layers[0] has 3 rows"),
    ({"layers": []}, ValueError, "at least one CompressedLayer"),
    ({"layers": [None]}, TypeError, "layers[0] must be a CompressedLayer"),
])
def test_forward_rejects_bad_arguments(kwargs, error, needle):
    first = compress(np.ones((3, 4), dtype=int), pes=1)
    second = compress(np.ones((2, 3), dtype=int), pes=2)
    args = {"layers": [first, second], "a": np.ones(4, dtype=int), "relu": [True, False],
            "shift": [2, None], "act_width": 8}
    args.update(kwargs)
    if args["layers"] == "chain":
        args["layers"] = [first, first]
    with pytest.raises(error) as info:
        forward(args.pop("layers"), args.pop("a"), **args)
    assert needle in str(info.value)
