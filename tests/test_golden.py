"""Checks of the golden models in ``tb.golden`` against oracles that share no code with them.

Two kinds of oracle: the ONNX reference operators (``ConvInteger``, ``MatMulInteger``),
which only take 8-bit operands and accumulate in int32, and plain Python-int loops written
straight from the layers' defining formulas, for every other width up to the extremes
that overflow int64. Random cases draw from ``numpy.random.default_rng``; the base seed comes
from ``ROWLOOM_SEED`` (fixed by default so that CI is repeatable), each case prints its own
seed, and every assertion message says how to replay it.
"""

import functools
import os

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper
from onnx.reference import ReferenceEvaluator

from tb import golden

BASE_SEED = int(os.environ.get("ROWLOOM_SEED", "20160618"))

# Families of random cases get disjoint seeds, so that case 3 of one family does not draw
# the same numbers as case 3 of another.
_FAMILY_OFFSET = {
    "conv_onnx": 0,
    "conv_loop": 10_000,
    "conv1d":    20_000,
    "fc_onnx":   30_000,
    "matvec":    40_000,
    "spmv":      50_000,
    "requant":   60_000,
    "csc":       70_000,
    "saturate":  80_000,
}

N_CONV_ONNX = 96
N_CONV_LOOP = 120
N_CONV1D    = 32
N_FC        = 24
N_MATVEC    = 24
N_SPMV      = 40
N_REQUANT   = 30
N_CSC       = 12

# ConvInteger and MatMulInteger exist since opset 10 and have not changed; 21 is accepted
# by every onnx the project allows (>= 1.16).
_OPSET = 21


def _seeded(family, case):
    seed = BASE_SEED + _FAMILY_OFFSET[family] + case
    print(f"seed={seed}")
    replay = f"seed={seed} (replay: ROWLOOM_SEED={BASE_SEED}, {family} case {case})"
    return np.random.default_rng(seed), replay


# Oracles -----------------------------------------------------------------------------------

def _range(width, signed):
    # Written out here rather than taken from golden.int_range, which is itself under test.
    if signed:
        return -(2 ** (width - 1)), 2 ** (width - 1) - 1
    return 0, 2**width - 1


def _conv2d_loops(x, w, bias, stride, padding):
    """O[n][m][e][f] = B[m] + sum_{c,r,s} I[n][c][e*U + r - P][f*U + s - P] * W[m][c][r][s]."""
    xs, ws = x.tolist(), w.tolist()
    n_, c_, h_, w_ = x.shape
    m_, _, r_, s_ = w.shape
    u, p = stride, padding
    e_ = (h_ + 2 * p - r_) // u + 1
    f_ = (w_ + 2 * p - s_) // u + 1
    out = []
    for n in range(n_):
        planes = []
        for m in range(m_):
            rows = []
            for e in range(e_):
                row = []
                for f in range(f_):
                    acc = 0 if bias is None else int(bias[m])
                    for c in range(c_):
                        for r in range(r_):
                            hh = e * u + r - p
                            if not 0 <= hh < h_:
                                continue  # zero padding contributes nothing
                            for s in range(s_):
                                ww = f * u + s - p
                                if 0 <= ww < w_:
                                    acc += xs[n][c][hh][ww] * ws[m][c][r][s]
                    row.append(acc)
                rows.append(row)
            planes.append(rows)
        out.append(planes)
    return out


def _conv1d_loops(x, w, stride):
    xs, ws = x.tolist(), w.tolist()
    count = (len(xs) - len(ws)) // stride + 1
    return [sum(ws[s] * xs[f * stride + s] for s in range(len(ws))) for f in range(count)]


def _matvec_loops(w, a, bias, relu):
    out = []
    for i, row in enumerate(w.tolist()):
        acc = 0 if bias is None else int(bias[i])
        for wij, aj in zip(row, a.tolist(), strict=True):
            acc += wij * aj
        out.append(max(acc, 0) if relu else acc)
    return out


def _requantize_loop(value, shift, relu, width, signed):
    value = int(value)
    if relu and value < 0:
        value = 0
    value = value // 2**shift  # floor division: rounds towards minus infinity
    lo, hi = _range(width, signed)
    return min(max(value, lo), hi)


@functools.cache
def _conv_integer(x_dtype, w_dtype, stride, padding):
    x = helper.make_tensor_value_info("x", helper.np_dtype_to_tensor_dtype(np.dtype(x_dtype)),
                                      ["N", "C", "H", "W"])
    w = helper.make_tensor_value_info("w", helper.np_dtype_to_tensor_dtype(np.dtype(w_dtype)),
                                      ["M", "C", "R", "S"])
    y = helper.make_tensor_value_info("y", TensorProto.INT32, ["N", "M", "E", "F"])
    node = helper.make_node("ConvInteger", ["x", "w"], ["y"],
                            strides=[stride, stride], pads=[padding] * 4)
    graph = helper.make_graph([node], "conv_integer", [x, w], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
    onnx.checker.check_model(model, full_check=True)
    return ReferenceEvaluator(model)


@functools.cache
def _matmul_integer(a_dtype, b_dtype):
    a = helper.make_tensor_value_info("a", helper.np_dtype_to_tensor_dtype(np.dtype(a_dtype)),
                                      ["N", "K"])
    b = helper.make_tensor_value_info("b", helper.np_dtype_to_tensor_dtype(np.dtype(b_dtype)),
                                      ["K", "M"])
    y = helper.make_tensor_value_info("y", TensorProto.INT32, ["N", "M"])
    node = helper.make_node("MatMulInteger", ["a", "b"], ["y"])
    graph = helper.make_graph([node], "matmul_integer", [a, b], [y])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", _OPSET)])
    onnx.checker.check_model(model, full_check=True)
    return ReferenceEvaluator(model)


def _onnx_conv(x, w, stride, padding):
    # The reference evaluator does not check input types (it would truncate floats and
    # accept int16 silently), so make sure it sees what the model declares.
    assert x.dtype in (np.int8, np.uint8) and w.dtype in (np.int8, np.uint8)
    (y,) = _conv_integer(x.dtype.name, w.dtype.name, stride, padding).run(None, {"x": x, "w": w})
    assert y.dtype == np.int32
    return y


def _onnx_matmul(a, b):
    assert a.dtype in (np.int8, np.uint8) and b.dtype in (np.int8, np.uint8)
    feeds = {"a": np.ascontiguousarray(a), "b": np.ascontiguousarray(b)}
    (y,) = _matmul_integer(a.dtype.name, b.dtype.name).run(None, feeds)
    assert y.dtype == np.int32
    return y


# Helpers -----------------------------------------------------------------------------------

def _dtype(width, signed):
    for bits in (8, 16, 32, 64):
        if width <= bits:
            return np.dtype(f"{'' if signed else 'u'}int{bits}")
    raise AssertionError(width)


def _operand(rng, shape, width, signed, *, extreme=False, zeros=0.0):
    """Random operand; ``extreme`` draws only from the ends of the range and zero."""
    lo, hi = _range(width, signed)
    dtype = _dtype(width, signed)
    if extreme:
        pool = np.array(sorted({lo, min(lo + 1, hi), 0, max(hi - 1, lo), hi}), dtype=dtype)
        out = rng.choice(pool, size=shape)
    else:
        out = rng.integers(lo, hi, size=shape, dtype=dtype, endpoint=True)
    if zeros:
        out[rng.random(shape) < zeros] = 0
    return out


def _assert_exact(got, want, replay):
    """``got`` is an integer array holding exactly the Python ints of the nested list ``want``."""
    got = np.asarray(got)
    assert got.dtype == np.int64 or got.dtype == object, f"dtype {got.dtype}; {replay}"
    if got.dtype == object:
        assert all(type(v) is int for v in got.flat), f"non-int elements; {replay}"
    want = np.array(want, dtype=object)
    assert got.shape == want.shape, f"shape {got.shape} != {want.shape}; {replay}"
    diff = np.argwhere(got.astype(object) != want)
    if diff.size:
        first = tuple(int(i) for i in diff[0])
        pytest.fail(f"{len(diff)} of {want.size} values differ, first at {first}: "
                    f"got {got[first]!r}, want {want[first]!r}; {replay}")


def _conv_params(rng, case):
    """Shapes and hyper-parameters of random conv case ``case``.

    The features the brief asks for rotate with the case index, so each is sure to occur
    (test_random_conv_cases_cover_the_brief checks it); the rest is random.
    """
    stride = 1 + case % 4
    padding = (case // 4) % 3
    while True:
        r, s = (int(v) for v in rng.integers(1, 6, size=2))
        if case % 3 != 0 or r != s:
            break
    n = int(rng.integers(2, 4)) if case % 5 == 0 else int(rng.integers(1, 3))
    c = 1 if case % 6 == 0 else int(rng.integers(2, 4))
    m = 1 if case % 7 == 0 else int(rng.integers(2, 4))
    while True:
        h = int(rng.integers(max(1, r - 2 * padding), 13))
        w = int(rng.integers(max(1, s - 2 * padding), 13))
        if case % 2 != 0 or h != w:
            break
    signs = [(True, True), (False, True), (True, False), (False, False)][(case // 12) % 4]
    return dict(n=n, c=c, h=h, w=w, m=m, r=r, s=s, stride=stride, padding=padding,
                x_signed=signs[0], w_signed=signs[1])


_WIDTHS = [2, 16, 32, 4, 8, 12, 24, 3]


def _loop_case(case):
    rng, replay = _seeded("conv_loop", case)
    p = _conv_params(rng, case)
    x_width = _WIDTHS[case % len(_WIDTHS)]
    w_width = _WIDTHS[(case // 3) % len(_WIDTHS)]
    extreme = case % 8 == 7
    x = _operand(rng, (p["n"], p["c"], p["h"], p["w"]), x_width, p["x_signed"],
                 extreme=extreme, zeros=0.6 if case % 8 == 3 else 0.0)
    w = _operand(rng, (p["m"], p["c"], p["r"], p["s"]), w_width, p["w_signed"],
                 extreme=extreme)
    bias = None
    if (case // 2) % 2 == 0:
        bias_width = min(64, x_width + w_width + 4)
        bias = _operand(rng, (p["m"],), bias_width, True, extreme=extreme)
    return p, x, w, bias, replay


# Convolution -------------------------------------------------------------------------------

@pytest.mark.parametrize("case", range(N_CONV_ONNX))
def test_conv2d_vs_onnx_conv_integer(case):
    rng, replay = _seeded("conv_onnx", case)
    p = _conv_params(rng, case)
    extreme = case % 8 == 5
    x = _operand(rng, (p["n"], p["c"], p["h"], p["w"]), 8, p["x_signed"], extreme=extreme,
                 zeros=0.5 if case % 4 == 1 else 0.0)
    w = _operand(rng, (p["m"], p["c"], p["r"], p["s"]), 8, p["w_signed"], extreme=extreme)
    want = _onnx_conv(x, w, p["stride"], p["padding"])
    got = golden.conv2d(x, w, stride=p["stride"], padding=p["padding"])
    assert got.dtype == np.int64, replay
    _assert_exact(got, want.tolist(), f"{p}; {replay}")


@pytest.mark.parametrize("case", range(N_CONV_LOOP))
def test_conv2d_vs_loops(case):
    p, x, w, bias, replay = _loop_case(case)
    want = _conv2d_loops(x, w, bias, p["stride"], p["padding"])
    got = golden.conv2d(x, w, bias, stride=p["stride"], padding=p["padding"])
    _assert_exact(got, want, f"{p}, x {x.dtype}, w {w.dtype}; {replay}")


def test_random_conv_cases_cover_the_brief():
    seen = set()
    for case in range(N_CONV_ONNX):
        p = _conv_params(_seeded("conv_onnx", case)[0], case)
        seen |= _features(p, bias=False)
    for case in range(N_CONV_LOOP):
        p, x, w, bias, _ = _loop_case(case)
        seen |= _features(p, bias=bias is not None)
        seen |= {("x_width", x.dtype.itemsize), ("w_width", w.dtype.itemsize)}
    want = {"stride2", "stride3", "stride4", "pad0", "pad1", "pad2", "R!=S", "H!=W", "C=1",
            "M=1", "N>1", "bias", "no bias", "x signed", "x unsigned", "w signed",
            "w unsigned"}
    want |= {(k, n) for k in ("x_width", "w_width") for n in (1, 2, 4)}
    assert N_CONV_ONNX + N_CONV_LOOP >= 200
    assert want <= seen, f"never drawn: {want - seen}"


def _features(p, *, bias):
    out = {f"stride{p['stride']}", f"pad{p['padding']}", "bias" if bias else "no bias",
           "x signed" if p["x_signed"] else "x unsigned",
           "w signed" if p["w_signed"] else "w unsigned"}
    out |= {name for name, present in [("R!=S", p["r"] != p["s"]), ("H!=W", p["h"] != p["w"]),
                                        ("C=1", p["c"] == 1), ("M=1", p["m"] == 1),
                                        ("N>1", p["n"] > 1)] if present}
    return out


@pytest.mark.parametrize("width", [2, 16, 32])
@pytest.mark.parametrize("signed", [True, False], ids=["signed", "unsigned"])
@pytest.mark.parametrize("ends", ["lo*lo", "lo*hi", "hi*hi"])
def test_conv2d_at_range_ends(width, signed, ends):
    lo, hi = _range(width, signed)
    xv, wv = {"lo*lo": (lo, lo), "lo*hi": (lo, hi), "hi*hi": (hi, hi)}[ends]
    dtype = _dtype(width, signed)
    x = np.full((2, 16, 6, 5), xv, dtype=dtype)
    w = np.full((2, 16, 3, 4), wv, dtype=dtype)
    bias = np.array([hi, -hi], dtype=np.int64)
    replay = f"width={width}, signed={signed}, {ends}"
    got = golden.conv2d(x, w, bias, stride=2, padding=1)
    _assert_exact(got, _conv2d_loops(x, w, bias, 2, 1), replay)


def test_conv2d_int32_min_overflows_int64_and_stays_exact():
    lo = -(2**31)
    x = np.full((1, 64, 5, 5), lo, dtype=np.int32)
    w = np.full((2, 64, 3, 3), lo, dtype=np.int32)
    got = golden.conv2d(x, w, padding=1)
    assert got.dtype == object
    # Every product is 2**62; a pixel sums one per channel and filter tap inside the input.
    taps = np.array([2, 3, 3, 3, 2])
    want = (64 * np.outer(taps, taps)).astype(object) * 2**62
    _assert_exact(got, [[want.tolist()] * 2], "fixed case")
    assert got[0, 0, 2, 2] == 576 * 2**62
    _assert_exact(got, _conv2d_loops(x, w, None, 1, 1), "fixed case")


def test_conv2d_long_wide_reduction_vs_loops():
    rng, replay = _seeded("conv_loop", 9999)
    x = _operand(rng, (1, 48, 4, 4), 32, True)
    w = _operand(rng, (3, 48, 3, 3), 32, False)
    bias = _operand(rng, (3,), 64, True, extreme=True)
    got = golden.conv2d(x, w, bias, stride=1)
    _assert_exact(got, _conv2d_loops(x, w, bias, 1, 0), replay)


@pytest.mark.parametrize("terms, bias, wide", [
    (1, 0, False),                      # 2**62 fits
    (2, 0, True),                       # 2**63 is one past int64
    (1, 2**63 - 1 - 2**62, False),      # exactly int64 max
    (1, 2**62, True),                   # bias pushes the sum one past int64 max
])
def test_conv2d_switches_to_python_ints_exactly_at_the_int64_edge(terms, bias, wide):
    x = np.full((1, terms, 1, 1), -(2**31), dtype=np.int32)
    w = np.full((1, terms, 1, 1), -(2**31), dtype=np.int32)
    got = golden.conv2d(x, w, np.array([bias], dtype=np.int64))
    assert got.dtype == (object if wide else np.int64)
    assert int(got[0, 0, 0, 0]) == terms * 2**62 + bias


def test_conv2d_accepts_python_int_operands_beyond_64_bits():
    rng, replay = _seeded("conv_loop", 9998)
    x = np.array([[[[int(v) * 2**70 + 3 for v in row] for row in rng.integers(-9, 9, (5, 4))]]],
                 dtype=object)
    w = rng.integers(-(2**40), 2**40, (2, 1, 2, 3))
    got = golden.conv2d(x, w, stride=2, padding=2)
    _assert_exact(got, _conv2d_loops(x, w, None, 2, 2), replay)


@pytest.mark.parametrize("case", range(N_CONV1D))
def test_conv1d_row_vs_loop(case):
    rng, replay = _seeded("conv1d", case)
    length = int(rng.integers(1, 17))
    taps = int(rng.integers(1, length + 1))
    stride = 1 + case % 4
    x_width, w_width = _WIDTHS[case % 8], _WIDTHS[(case // 2) % 8]
    x = _operand(rng, (length,), x_width, case % 3 != 0, extreme=case % 5 == 4,
                 zeros=0.5 if case % 4 == 2 else 0.0)
    w = _operand(rng, (taps,), w_width, case % 2 == 0, extreme=case % 5 == 4)
    got = golden.conv1d_row(x, w, stride=stride)
    _assert_exact(got, _conv1d_loops(x, w, stride), f"W={length}, S={taps}, U={stride}; {replay}")


# Fully connected, dense and sparse matrix-vector ------------------------------------------

@pytest.mark.parametrize("case", range(N_FC))
def test_fc_vs_onnx_matmul_integer(case):
    rng, replay = _seeded("fc_onnx", case)
    n, c, m = int(rng.integers(1, 5)), int(rng.integers(1, 41)), int(rng.integers(1, 11))
    x_signed, w_signed = [(True, True), (False, True), (True, False), (False, False)][case % 4]
    x = _operand(rng, (n, c), 8, x_signed, extreme=case % 6 == 5)
    w = _operand(rng, (m, c), 8, w_signed, extreme=case % 6 == 5)
    want = _onnx_matmul(x, w.T)
    got = golden.fc(x, w)
    assert got.dtype == np.int64, replay
    _assert_exact(got, want.tolist(), f"N={n}, C={c}, M={m}; {replay}")


@pytest.mark.parametrize("case", range(N_MATVEC))
def test_matvec_vs_onnx_matmul_integer(case):
    rng, replay = _seeded("matvec", case)
    rows, cols = int(rng.integers(1, 33)), int(rng.integers(1, 33))
    w = _operand(rng, (rows, cols), 8, True, zeros=0.7)
    a = _operand(rng, (cols,), 8, case % 2 == 0, zeros=0.5)
    bias = _operand(rng, (rows,), 24, True) if case % 3 != 0 else None
    relu = case % 4 >= 2
    want = _onnx_matmul(w, a[:, None])[:, 0].astype(np.int64)
    if bias is not None:
        want += bias
    if relu:
        want[want < 0] = 0
    got = golden.matvec(w, a, bias, relu=relu)
    _assert_exact(got, want.tolist(), f"rows={rows}, cols={cols}, relu={relu}; {replay}")


def _sparse_case(case):
    """Random sparse layer with the patterns that break sparse hardware."""
    rng, replay = _seeded("spmv", case)
    rows, cols = int(rng.integers(1, 41)), int(rng.integers(1, 31))
    width = 32 if case % 10 == 9 else 8
    w = _operand(rng, (rows, cols), width, True, extreme=width == 32,
                 zeros=float(rng.uniform(0.5, 0.95)))
    a = _operand(rng, (cols,), width, case % 2 == 0, extreme=width == 32,
                 zeros=float(rng.uniform(0.0, 0.7)))
    kind = case % 10
    if kind == 0:
        w[:] = 0                                        # all-zero matrix
    elif kind == 1:
        a[:] = 0                                        # zero activation vector
    elif kind == 2:
        start = int(rng.integers(0, cols))              # a run of all-zero columns
        w[:, start:start + int(rng.integers(2, 6))] = 0
    elif kind == 3:
        w[:, 0] = 0                                     # first and last columns empty
        w[:, -1] = 0
    elif kind == 4:
        w[:] = 0                                        # one entry per column, far apart
        w[rng.integers(0, rows, cols), np.arange(cols)] = 1 + rng.integers(0, 100, cols)
    a[rng.random(cols) < 0.2] = 0
    bias = _operand(rng, (rows,), 20, True) if case % 3 == 0 else None
    relu = case % 4 >= 2
    return w, a, bias, relu, f"rows={rows}, cols={cols}, kind={kind}, relu={relu}; {replay}"


@pytest.mark.parametrize("case", range(N_SPMV))
def test_spmv_csc_vs_dense(case):
    w, a, bias, relu, replay = _sparse_case(case)
    values, row_index, col_ptr = golden.csc_from_dense(w)
    got = golden.spmv_csc(values, row_index, col_ptr, a, n_rows=w.shape[0], bias=bias,
                          relu=relu)
    want = _matvec_loops(w, a, bias, relu)
    _assert_exact(got, want, replay)
    _assert_exact(golden.matvec(w, a, bias, relu=relu), want, replay)
    _assert_exact(got, golden.matvec(w, a, bias, relu=relu).tolist(), replay)


def test_spmv_csc_with_stored_zeros_and_zero_gaps():
    # EIE bridges long row gaps with padding entries of weight zero: they must add nothing.
    values = np.array([0, 5, 0, -3, 7, 0], dtype=np.int16)
    row_index = np.array([15, 31, 0, 40, 2, 2])
    col_ptr = np.array([0, 2, 2, 2, 5, 6])          # columns 1 and 2 empty, column 4 a pad
    a = np.array([3, 9, -9, -2, 4], dtype=np.int8)
    got = golden.spmv_csc(values, row_index, col_ptr, a, n_rows=41)
    want = [0] * 41
    want[31], want[40], want[2] = 15, 6, -14
    _assert_exact(got, want, "fixed case")


# Compressed sparse column -----------------------------------------------------------------

def test_csc_from_dense_by_hand():
    w = np.array([[0, 5, 0, 0],
                  [3, 0, 0, 0],
                  [0, -2, 0, 7]], dtype=np.int8)
    values, row_index, col_ptr = golden.csc_from_dense(w)
    assert values.tolist() == [3, 5, -2, 7]
    assert row_index.tolist() == [1, 0, 2, 2]
    assert col_ptr.tolist() == [0, 1, 3, 3, 4]


@pytest.mark.parametrize("case", range(N_CSC))
def test_csc_from_dense_round_trip(case):
    rng, replay = _seeded("csc", case)
    rows, cols = int(rng.integers(1, 50)), int(rng.integers(1, 30))
    w = _operand(rng, (rows, cols), 16, True, zeros=[1.0, 0.9, 0.5, 0.0][case % 4])
    w[:, rng.random(cols) < 0.3] = 0
    values, row_index, col_ptr = golden.csc_from_dense(w)
    assert col_ptr.shape == (cols + 1,) and col_ptr[0] == 0 and col_ptr[-1] == len(values)
    assert np.all(values != 0), replay
    dense = np.zeros_like(w)
    for j in range(cols):
        rows_j = row_index[col_ptr[j]:col_ptr[j + 1]].tolist()
        assert rows_j == sorted(set(rows_j)), f"column {j} rows {rows_j}; {replay}"
        for k in range(col_ptr[j], col_ptr[j + 1]):
            dense[row_index[k], j] = values[k]
    assert np.array_equal(dense, w), replay
    assert len(values) == np.count_nonzero(w), replay


# Requantization ----------------------------------------------------------------------------

@pytest.mark.parametrize("acc, shift, relu, width, signed, want", [
    (-1, 1, False, 8, True, -1),             # floor, not truncation towards zero
    (-3, 1, False, 8, True, -2),
    (-5, 2, False, 8, True, -2),
    (5, 2, False, 8, True, 1),
    (-4, 2, False, 8, True, -1),
    (127, 0, False, 8, True, 127),
    (128, 0, False, 8, True, 127),           # saturate high
    (-129, 0, False, 8, True, -128),         # saturate low
    (-1000, 3, True, 8, True, 0),            # ReLU
    (-1, 0, False, 8, False, 0),             # unsigned output saturates at 0
    (256 << 4, 4, False, 8, False, 255),
    (255 << 4, 4, False, 8, False, 255),
    (1, 0, False, 1, True, 0),               # 1-bit signed holds -1 and 0 only
    (-7, 0, False, 1, True, -1),
    (7, 0, False, 1, False, 1),
    (-(2**63), 70, False, 16, True, -1),     # shift past the word keeps the sign
    (2**63 - 1, 64, False, 16, True, 0),
    (2**63 - 1, 0, False, 64, True, 2**63 - 1),
])
def test_requantize_by_hand(acc, shift, relu, width, signed, want):
    got = golden.requantize(np.array([acc], dtype=np.int64), shift=shift, relu=relu,
                            out_width=width, out_signed=signed)
    assert got.dtype == np.int64
    assert got.tolist() == [want]


@pytest.mark.parametrize("case", range(N_REQUANT))
def test_requantize_vs_loop(case):
    rng, replay = _seeded("requant", case)
    kind = case % 3
    if kind == 0:                                   # int64 accumulators
        acc = _operand(rng, (7, 11), 64, True, extreme=case % 2 == 0)
        acc[0] = rng.integers(-300, 300, 11)
    elif kind == 1:                                 # narrow accumulators, shapes of a conv
        acc = _operand(rng, (2, 3, 4, 5), int(rng.integers(2, 33)), True)
    else:                                           # Python ints past 64 bits
        acc = np.array([int(v) * 2**int(rng.integers(0, 80)) for v in rng.integers(
            -(2**20), 2**20, 40)], dtype=object)
    shift = [0, 1, int(rng.integers(2, 40)), int(rng.integers(60, 90))][case % 4]
    relu = bool(rng.integers(0, 2))
    signed = case % 5 != 0
    width = int(rng.integers(1, 65 if signed else 64))
    got = golden.requantize(acc, shift=shift, relu=relu, out_width=width, out_signed=signed)
    want = [_requantize_loop(v, shift, relu, width, signed) for v in acc.flat]
    assert got.dtype == np.int64
    args = f"shift={shift}, relu={relu}, width={width}, signed={signed}; {replay}"
    _assert_exact(got.ravel(), want, args)
    assert got.shape == acc.shape, args


def test_requantize_uint64_above_int64():
    acc = np.array([2**64 - 1, 2**63, 5], dtype=np.uint64)
    got = golden.requantize(acc, shift=1, out_width=63, out_signed=False)
    assert got.tolist() == [2**63 - 1, 2**62, 2]


@pytest.mark.parametrize("case", range(N_REQUANT))
def test_saturate_vs_loop(case):
    """The accelerator's raw outputs (accumulator plus bias) clamp to the accumulator."""
    rng, replay = _seeded("saturate", case)
    signed = case % 3 != 0
    width = int(rng.integers(1, 100))
    if case % 2:                                    # int64 values, some past the range
        values = _operand(rng, (5, 7), 64, True, extreme=case % 4 == 1)
    else:                                           # Python ints past 64 bits
        values = np.array([int(v) * 2**int(rng.integers(0, 90)) for v in rng.integers(
            -(2**20), 2**20, 30)], dtype=object)
    got = golden.saturate(values, width, signed)
    want = [_requantize_loop(v, 0, False, width, signed) for v in values.flat]
    args = f"width={width}, signed={signed}; {replay}"
    _assert_exact(got.ravel(), want, args)
    assert got.shape == values.shape, args


# int_range ---------------------------------------------------------------------------------

@pytest.mark.parametrize("width, signed, want", [
    (1, True, (-1, 0)), (1, False, (0, 1)), (2, True, (-2, 1)), (8, True, (-128, 127)),
    (8, False, (0, 255)), (16, True, (-32768, 32767)), (32, False, (0, 4294967295)),
    (64, True, (-9223372036854775808, 9223372036854775807)),
])
def test_int_range(width, signed, want):
    assert golden.int_range(width, signed) == want


# Bad arguments -----------------------------------------------------------------------------

_X = np.zeros((1, 2, 5, 5), dtype=np.int8)
_W = np.zeros((3, 2, 3, 3), dtype=np.int8)
_CSC = golden.csc_from_dense(np.eye(3, dtype=np.int8))
_A3 = np.ones(3, dtype=np.int8)

_BAD = {
    "conv2d float x":       (lambda: golden.conv2d(_X.astype(np.float32), _W), ValueError, "^x "),
    "conv2d float w":       (lambda: golden.conv2d(_X, _W.astype(float)), ValueError, "^w "),
    "conv2d float bias":    (lambda: golden.conv2d(_X, _W, np.zeros(3)), ValueError, "bias"),
    "conv2d bool x":        (lambda: golden.conv2d(_X.astype(bool), _W), ValueError, "^x "),
    "conv2d object float":  (lambda: golden.conv2d(_X.astype(object) + 0.5, _W), ValueError,
                             "^x "),
    "conv2d x ndim":        (lambda: golden.conv2d(_X[0], _W), ValueError, "^x "),
    "conv2d w ndim":        (lambda: golden.conv2d(_X, _W[0]), ValueError, "^w "),
    "conv2d channels":      (lambda: golden.conv2d(_X, _W[:, :1]), ValueError, "channels"),
    "conv2d bias length":   (lambda: golden.conv2d(_X, _W, np.zeros(2, int)), ValueError,
                             "bias"),
    "conv2d E < 1":         (lambda: golden.conv2d(_X[:, :, :2], _W), ValueError, "output"),
    "conv2d F < 1":         (lambda: golden.conv2d(_X[..., :1], _W, padding=0), ValueError,
                             "output"),
    "conv2d stride -1":     (lambda: golden.conv2d(_X, _W, stride=-1), ValueError, "stride"),
    "conv2d stride 0":      (lambda: golden.conv2d(_X, _W, stride=0), ValueError, "stride"),
    "conv2d stride 1.0":    (lambda: golden.conv2d(_X, _W, stride=1.0), TypeError, "stride"),
    "conv2d stride True":   (lambda: golden.conv2d(_X, _W, stride=True), TypeError, "stride"),
    "conv2d padding -1":    (lambda: golden.conv2d(_X, _W, padding=-1), ValueError, "padding"),
    "conv2d empty x":       (lambda: golden.conv2d(_X[:0], _W), ValueError, "^x "),
    "fc float x":           (lambda: golden.fc(np.ones((2, 3)), _A3[None]), ValueError, "^x "),
    "fc columns":           (lambda: golden.fc(_A3[None], np.ones((2, 4), int)), ValueError,
                             "columns"),
    "conv1d S > W":         (lambda: golden.conv1d_row(_A3, np.ones(4, int)), ValueError, "^w "),
    "conv1d float":         (lambda: golden.conv1d_row(_A3 * 1.0, _A3), ValueError, "^x "),
    "conv1d stride 0":      (lambda: golden.conv1d_row(_A3, _A3, stride=0), ValueError,
                             "stride"),
    "matvec a length":      (lambda: golden.matvec(np.eye(3, dtype=int), _A3[:2]), ValueError,
                             "^a "),
    "matvec relu 1":        (lambda: golden.matvec(np.eye(3, dtype=int), _A3, relu=1),
                             TypeError, "relu"),
    "spmv col_ptr length":  (lambda: golden.spmv_csc(*_CSC, _A3[:2], n_rows=3), ValueError,
                             "col_ptr"),
    "spmv col_ptr order":   (lambda: golden.spmv_csc(_CSC[0], _CSC[1], np.array([0, 2, 1, 3]),
                                                     _A3, n_rows=3), ValueError, "col_ptr"),
    "spmv row range":       (lambda: golden.spmv_csc(*_CSC, _A3, n_rows=2), ValueError,
                             "row_index"),
    "spmv n_rows 0":        (lambda: golden.spmv_csc(*_CSC, _A3, n_rows=0), ValueError,
                             "n_rows"),
    "spmv float values":    (lambda: golden.spmv_csc(_CSC[0] * 1.0, *_CSC[1:], _A3, n_rows=3),
                             ValueError, "values"),
    "requantize shift -1":  (lambda: golden.requantize(_A3, shift=-1, out_width=8), ValueError,
                             "shift"),
    "requantize width 0":   (lambda: golden.requantize(_A3, shift=0, out_width=0), ValueError,
                             "out_width"),
    "requantize width 65":  (lambda: golden.requantize(_A3, shift=0, out_width=65), ValueError,
                             "out_width"),
    "requantize u64":       (lambda: golden.requantize(_A3, shift=0, out_width=64,
                                                       out_signed=False), ValueError,
                             "out_width"),
    "requantize float":     (lambda: golden.requantize(_A3 / 2, shift=0, out_width=8),
                             ValueError, "acc"),
    "int_range width 0":    (lambda: golden.int_range(0, True), ValueError, "width"),
    "int_range signed 1":   (lambda: golden.int_range(8, 1), TypeError, "signed"),
}


@pytest.mark.parametrize("name", list(_BAD))
def test_bad_arguments_raise(name):
    call, error, word = _BAD[name]
    with pytest.raises(error, match=word):
        call()
