"""Checks of the Deep Compression encoder in ``gen.compress``.

The encoding is checked against a reference encoder written here in plain Python straight
from the format (interleave rows, walk each column, pad while the gap exceeds Z), on the
edge cases that break sparse RTL and on random matrices; pruning against a sort written
here; the k-means path by its promises (codebook size, index 0, determinism, fixed point);
files by round trips and by corrupting them. Random cases use ``numpy.random.default_rng``
with a seed printed per case (base from ``ROWLOOM_SEED``).
"""

import os
import zipfile

import numpy as np
import pytest

from gen.compress import CompressedLayer, compress, describe, encode_csc, load, save
from tb.golden import spmv_csc

BASE_SEED = int(os.environ.get("ROWLOOM_SEED", "20160618"))
_FAMILY_OFFSET = {"encode": 80_000, "prune": 81_000, "kmeans": 82_000, "files": 83_000}


def _seeded(family, case):
    seed = BASE_SEED + _FAMILY_OFFSET[family] + case
    print(f"seed={seed}")
    replay = f"seed={seed} (replay: ROWLOOM_SEED={BASE_SEED}, {family} case {case})"
    return np.random.default_rng(seed), replay


# Oracles -----------------------------------------------------------------------------------

def _encode_ref(index, pes, index_bits):
    """Per PE, (codes, zeros, ptr) as lists, by walking the format's rules one row at a time."""
    z_max = 2**index_bits - 1
    rows, cols = len(index), len(index[0])
    out = []
    for k in range(pes):
        local = [index[i] for i in range(k, rows, pes)]
        codes, zeros, ptr = [], [], [0]
        for j in range(cols):
            gap = 0
            for r in range(len(local)):
                if local[r][j] == 0:
                    gap += 1
                    continue
                while gap > z_max:
                    codes.append(0)
                    zeros.append(z_max)
                    gap -= z_max + 1
                codes.append(local[r][j])
                zeros.append(gap)
                gap = 0
            ptr.append(len(codes))
        out.append((codes, zeros, ptr))
    return out


def _decode_ref(codes, zeros, ptr, pes, k, rows, cols):
    """Global (row, col, code) of every entry of PE k, by the hardware's row rule."""
    local_rows = len(range(k, rows, pes))
    out = []
    for j in range(cols):
        row = None
        for e in range(ptr[j], ptr[j + 1]):
            row = zeros[e] if row is None else row + zeros[e] + 1
            assert row < local_rows
            out.append((row * pes + k, j, codes[e]))
        if ptr[j + 1] > ptr[j]:
            assert codes[ptr[j + 1] - 1] != 0, "trailing padding"
    return out


def _check_encoding(index, pes, index_bits):
    index = np.asarray(index, dtype=np.int64)
    codes, zeros, ptr = encode_csc(index, pes=pes, index_bits=index_bits)
    ref = _encode_ref(index.tolist(), pes, index_bits)
    assert len(codes) == len(zeros) == pes and ptr.shape == (pes, index.shape[1] + 1)
    for k, (c, z, p) in enumerate(ref):
        assert codes[k].tolist() == c, f"PE {k} codes"
        assert zeros[k].tolist() == z, f"PE {k} zeros"
        assert ptr[k].tolist() == p, f"PE {k} ptr"
    rebuilt = np.zeros_like(index)
    for k in range(pes):
        for row, col, code in _decode_ref(codes[k].tolist(), zeros[k].tolist(),
                                          ptr[k].tolist(), pes, k, *index.shape):
            rebuilt[row, col] = code
    assert np.array_equal(rebuilt, index)
    return codes, zeros, ptr


def _prune_ref(w, density=None, threshold=None):
    flat = w.ravel().tolist()
    if threshold is not None:
        keep = [abs(v) > threshold for v in flat]
    elif density is not None:
        order = sorted(range(len(flat)), key=lambda i: (-abs(flat[i]), i))
        chosen = set(order[:int(round(density * len(flat)))])
        keep = [i in chosen and flat[i] != 0 for i in range(len(flat))]
    else:
        keep = [v != 0 for v in flat]
    return np.where(np.array(keep).reshape(w.shape), w, 0)


# Encoding edge cases -----------------------------------------------------------------------

def _column(rows_with_weight, n_rows, code=3):
    index = np.zeros((n_rows, 1), dtype=np.int64)
    index[list(rows_with_weight), 0] = code
    return index


def test_example_of_the_format():
    # Z = 15, first entry of a column at row 40: (0,15) -> row 15, (0,15) -> row 31, (c,8).
    codes, zeros, ptr = _check_encoding(_column([40], 41, code=5), 1, 4)
    assert codes[0].tolist() == [0, 0, 5] and zeros[0].tolist() == [15, 15, 8]
    assert ptr.tolist() == [[0, 3]]


@pytest.mark.parametrize("gap", [0, 1, 14, 15, 16, 17, 31, 32, 33, 47, 48, 100])
@pytest.mark.parametrize("first", [True, False])
def test_gaps_around_the_relative_index_range(gap, first):
    # Z = 15: a gap of exactly Z needs no padding, Z + 1 one padding entry and a zero count
    # of 0, 2 (Z + 1) two; as the first entry of a column and between two entries.
    rows = [gap] if first else [2, 2 + gap + 1]
    codes, zeros, _ = _check_encoding(_column(rows, rows[-1] + 1), 1, 4)
    pads = gap // 16
    assert codes[0].tolist()[-pads - 1:] == [0] * pads + [3]
    assert zeros[0].tolist()[-1] == gap % 16
    assert codes[0].size == pads + len(rows)


def test_consecutive_all_zero_columns():
    index = np.zeros((9, 8), dtype=np.int64)
    index[3, 0] = 1
    index[0, 4] = 2                 # columns 1, 2, 3 empty, then 5, 6, 7 empty at the end
    for pes in (1, 2, 4):
        codes, _, ptr = _check_encoding(index, pes, 4)
    assert ptr.tolist()[3] == [0, 1, 1, 1, 1, 1, 1, 1, 1]     # PE 3 of 4 holds row 3 only
    assert ptr.tolist()[0] == [0, 0, 0, 0, 0, 1, 1, 1, 1]     # and PE 0 row 0


def test_all_zero_columns_at_the_start():
    index = np.zeros((4, 5), dtype=np.int64)
    index[:, 4] = [1, 0, 2, 3]
    _, _, ptr = _check_encoding(index, 1, 4)
    assert ptr.tolist() == [[0, 0, 0, 0, 0, 3]]


def test_pe_without_rows():
    # 64 PEs, 5 rows: PEs 5..63 own no row at all.
    index = np.arange(1, 16).reshape(5, 3) % 7
    codes, _, ptr = _check_encoding(index, 64, 4)
    assert all(codes[k].size == 0 for k in range(5, 64))
    assert not ptr[5:].any()


def test_pe_whose_rows_are_all_zero():
    index = np.ones((12, 6), dtype=np.int64)
    index[1::4] = 0                 # every row of PE 1 of 4
    codes, _, ptr = _check_encoding(index, 4, 4)
    assert codes[1].size == 0 and not ptr[1].any()
    layer = compress(index * 3, pes=4)
    assert layer.pe_entries == (18, 0, 18, 18)
    assert np.array_equal(layer.dense(), index * 3)


def test_all_zero_matrix():
    codes, zeros, ptr = _check_encoding(np.zeros((7, 3), dtype=np.int64), 2, 4)
    assert all(c.size == 0 for c in codes) and not ptr.any()
    for w in (np.zeros((7, 3), dtype=np.int16), np.zeros((7, 3))):
        layer = compress(w, pes=2)
        assert layer.entries == layer.nonzeros == layer.padding == 0
        assert not layer.codebook.any() and layer.frac_bits == 0
        assert not layer.dense().any()
        assert layer.ptr_bits == 1
        assert "density 0.00%" in describe([layer])


def test_single_non_zero_and_one_by_one():
    index = np.zeros((50, 20), dtype=np.int64)
    index[49, 19] = 7
    _check_encoding(index, 1, 4)
    _check_encoding(index, 4, 2)
    for value in (0, 1, -9):
        layer = compress(np.array([[value]]), pes=1)
        assert layer.dense().tolist() == [[value]]
        assert layer.entries == (value != 0)


def test_index_bits_one():
    # Z = 1: every second zero row costs a padding entry.
    codes, zeros, _ = _check_encoding(_column([0, 2, 5, 9], 10), 1, 1)
    # Gaps 0, 1, 2, 3: (3,0) (3,1) (0,1)(3,0) (0,1)(3,1).
    assert codes[0].tolist() == [3, 3, 0, 3, 0, 3]
    assert zeros[0].tolist() == [0, 1, 1, 0, 1, 1]


@pytest.mark.parametrize("case", range(24))
def test_random_index_matrices(case):
    rng, replay = _seeded("encode", case)
    rows, cols = int(rng.integers(1, 90)), int(rng.integers(1, 40))
    pes = int(2 ** rng.integers(0, 7))
    index_bits = int(rng.integers(1, 6))
    density = float(rng.choice([0.005, 0.05, 0.3, 1.0]))
    index = rng.integers(1, 16, (rows, cols)) * (rng.random((rows, cols)) < density)
    try:
        _check_encoding(index, pes, index_bits)
    except AssertionError as exc:
        raise AssertionError(f"{exc} [{replay}]") from exc


# Pruning and the lossless path -------------------------------------------------------------

@pytest.mark.parametrize("case", range(16))
def test_lossless_integer_matrices(case):
    rng, replay = _seeded("prune", case)
    shape = [(1, 1), (9, 4), (40, 33), (64, 100), (130, 7), (3, 150)][case % 6]
    pes = [1, 2, 4, 64][case % 4]
    density = [None, 0.01, 0.1, 0.5, 1.0][case % 5]
    table = rng.choice(np.arange(-300, 301), size=int(rng.integers(1, 16)), replace=False)
    w = rng.choice(table, size=shape) * (rng.random(shape) < rng.uniform(0.05, 1))
    layer = compress(w.astype(np.int32), pes=pes, density=density, index_bits=3)
    pruned = _prune_ref(w, density=density)
    assert np.array_equal(layer.dense(), pruned), replay
    assert layer.frac_bits == 0 and layer.codebook[0] == 0
    values = np.unique(pruned[pruned != 0])
    assert layer.codebook[1:values.size + 1].tolist() == values.tolist(), replay
    assert layer.nonzeros == np.count_nonzero(pruned), replay


def test_density_ties_break_in_row_major_order():
    w = np.array([[1, -2, 2], [2, 0, -2], [1, 1, 3]])
    layer = compress(w, pes=2, density=3 / 9)
    assert layer.dense().tolist() == [[0, -2, 2], [0, 0, 0], [0, 0, 3]]
    assert np.array_equal(layer.dense(), _prune_ref(w, density=3 / 9))


@pytest.mark.parametrize("case", range(8))
def test_density_with_many_ties(case):
    rng, replay = _seeded("prune", 200 + case)
    w = rng.integers(-3, 4, (int(rng.integers(1, 40)), int(rng.integers(1, 40))))
    density = float(rng.uniform(0.001, 1))
    layer = compress(w, pes=2, density=density)
    assert np.array_equal(layer.dense(), _prune_ref(w, density=density)), replay


def test_density_never_keeps_zeros_and_threshold_is_strict():
    w = np.array([[0, 0, 5], [0, -1, 0]])
    assert np.array_equal(compress(w, pes=1, density=1.0).dense(), w)
    assert compress(w, pes=1, threshold=1).dense().tolist() == [[0, 0, 5], [0, 0, 0]]
    assert compress(w, pes=1, threshold=5).nonzeros == 0
    assert compress(w, pes=1, density=0.01).nonzeros == 0      # round(0.06) = 0


@pytest.mark.parametrize("case", range(6))
def test_threshold_against_reference(case):
    rng, replay = _seeded("prune", 100 + case)
    w = rng.integers(-7, 8, (30, 20))
    t = float(rng.uniform(0, 6))
    layer = compress(w, pes=4, threshold=t)
    assert np.array_equal(layer.dense(), _prune_ref(w, threshold=t)), replay


def test_integer_kmeans_path():
    w = np.arange(-40, 41).reshape(9, 9)                       # 80 distinct non-zeros
    layer = compress(w, pes=2)
    assert layer.frac_bits == 0
    book = layer.codebook[1:]
    assert np.all(np.diff(book) >= 0) and len(set(book.tolist())) <= 15
    decoded = layer.dense()
    # A centroid may round to 0 (the cluster around w = 0 here), but its weights stay real
    # entries.
    assert layer.nonzeros == 80 and layer.padding == 0
    assert np.abs(decoded - w).max() <= 6                      # 15 clusters over 81 values
    assert np.all(np.diff(decoded.ravel()) >= 0)               # w ascends, so must its codes


# k-means path ------------------------------------------------------------------------------

@pytest.mark.parametrize("case", range(4))
def test_float_matrix_codebook(case):
    rng, replay = _seeded("kmeans", case)
    w = rng.normal(scale=[0.05, 1.0, 20.0, 3e3][case], size=(60, 45))
    first = compress(w, pes=4, density=0.2)
    assert first == compress(w, pes=4, density=0.2), replay        # deterministic
    book = first.codebook
    assert book[0] == 0 and book.size == 16
    assert len(set(book[1:].tolist())) <= 15
    lo, hi = -(2**15), 2**15 - 1
    assert book.min() >= lo and book.max() <= hi
    # frac_bits is the largest that fits: one more would overflow some centroid.
    assert 2 * int(np.abs(book).max()) + 1 > hi, replay
    # Every kept weight decodes to within the spread of the values it stands for.
    decoded = first.dense() / 2.0**first.frac_bits
    kept = _prune_ref(w, density=0.2) != 0
    assert np.array_equal(decoded != 0, kept), replay
    assert np.abs(decoded - w)[kept].max() < np.ptp(w[kept]) / 15, replay


def test_float_values_that_fit_the_codebook_come_back_exactly():
    rng, replay = _seeded("kmeans", 50)
    table = np.array([-3.5, -1.25, -0.125, 0.5, 0.75, 2.0, 7.875])
    w = rng.choice(table, size=(40, 30)) * (rng.random((40, 30)) < 0.3)
    layer = compress(w, pes=8, code_width=12)
    assert layer.frac_bits == 8, replay                         # 7.875 * 2**8 = 2016 < 2047
    assert np.array_equal(layer.dense(), w * 2**8), replay


def test_explicit_frac_bits_and_centroid_rounding_to_zero():
    w = np.array([[1e-9, 3e4], [-3e4, 0.0]])
    layer = compress(w, pes=1)
    assert layer.frac_bits == 0 and layer.nonzeros == 3
    assert sorted(layer.dense().ravel().tolist()) == [-30000, 0, 0, 30000]
    assert layer.codebook[1:4].tolist() == [-30000, 0, 30000]
    layer = compress(np.array([[0.5, -0.25]]), pes=1, frac_bits=3, code_width=8)
    assert layer.dense().tolist() == [[4, -2]]


def test_kmeans_on_repeated_values_does_not_warn():
    # Fewer distinct values than codebook entries, each repeated many times: sklearn would
    # warn about duplicate points if asked for more clusters than distinct values.
    w = np.tile([0.25, -0.5, 0.25, 0.0], (50, 5))
    layer = compress(w, pes=4, codebook_bits=8)
    assert np.count_nonzero(layer.codebook) == 2
    assert np.array_equal(layer.dense(), w * 2**layer.frac_bits)


def test_codebook_bits_one_and_eight():
    w = np.arange(1, 101).reshape(10, 10).astype(np.float64)
    small = compress(w, pes=2, codebook_bits=1)
    assert small.codebook.size == 2 and np.count_nonzero(small.codebook) == 1
    big = compress(w, pes=2, codebook_bits=8)
    assert np.array_equal(big.dense(), w * 2**big.frac_bits)       # 100 values, 255 slots


# Errors ------------------------------------------------------------------------------------

@pytest.mark.parametrize("w,kwargs,needle", [
    ([[1, 2]], {"pes": 3}, "pes must be a power of two"),
    ([[1, 2]], {"pes": 2048}, "pes must be"),
    ([[1, 2]], {"pes": True}, "pes must be"),
    ([[1, 2]], {"pes": 1, "density": 0}, "density must be"),
    ([[1, 2]], {"pes": 1, "density": 1.5}, "density must be"),
    ([[1, 2]], {"pes": 1, "density": 0.5, "threshold": 1}, "density and threshold"),
    ([[1, 2]], {"pes": 1, "threshold": -1}, "threshold must be"),
    ([[1, 2]], {"pes": 1, "threshold": float("nan")}, "threshold must be"),
    ([[1, 2]], {"pes": 1, "codebook_bits": 0}, "codebook_bits must be an integer in 1..8"),
    ([[1, 2]], {"pes": 1, "codebook_bits": 9}, "codebook_bits must be"),
    ([[1, 2]], {"pes": 1, "index_bits": 0}, "index_bits must be an integer in 1..8"),
    ([[1, 2]], {"pes": 1, "code_width": 1}, "code_width must be an integer in 2..32"),
    ([[1, 2]], {"pes": 1, "code_width": 33}, "code_width must be"),
    ([[1, 2]], {"pes": 1, "frac_bits": -1}, "frac_bits must be"),
    ([[1, 2]], {"pes": 1, "frac_bits": 2}, "frac_bits must be None or 0 for an integer w"),
    ([1, 2], {"pes": 1}, "w must be a non-empty 2-D array"),
    (np.zeros((0, 3)), {"pes": 1}, "w must be a non-empty 2-D array"),
    ([["a"]], {"pes": 1}, "w must be an integer or floating-point array"),
    ([[True]], {"pes": 1}, "w must be an integer or floating-point array"),
    ([[1.0, np.inf]], {"pes": 1}, "w must be finite"),
    ([[70000, 1]], {"pes": 1}, "weight 70000 does not fit code_width=16"),
    ([[1, 2]], {"pes": 1, "code_width": 2}, "weight 2 does not fit code_width=2"),
    ([[float(v) for v in range(1, 41)]], {"pes": 1, "code_width": 4},
     "does not fit code_width=4 (-8..7) even with frac_bits=0"),
    ([[0.5, 1.0]], {"pes": 1, "frac_bits": 15}, "frac_bits=15 puts centroid 1"),
])
def test_bad_arguments(w, kwargs, needle):
    with pytest.raises(ValueError) as info:
        compress(np.array(w), **kwargs)
    assert needle in str(info.value) and "\n" not in str(info.value)


def test_integer_centroid_that_does_not_fit():
    w = np.array([list(range(1, 20)) + [100000]])
    with pytest.raises(ValueError, match=r"integer centroid 100000 does not fit code_width=16"):
        compress(w, pes=1)


def test_encode_csc_rejects_bad_index():
    for index, needle in (([[-1]], "index must not be negative"),
                          ([[0.5]], "index must be a non-empty 2-D integer array"),
                          ([1, 2], "index must be a non-empty 2-D integer array")):
        with pytest.raises(ValueError, match=needle):
            encode_csc(np.array(index), pes=1, index_bits=4)
    with pytest.raises(ValueError, match="index_bits must be"):
        encode_csc(np.ones((2, 2), dtype=int), pes=1, index_bits=9)


def _fields(layer, **change):
    fields = {n: getattr(layer, n) for n in ("rows", "cols", "pes", "codebook_bits",
                                              "index_bits", "code_width", "frac_bits",
                                              "codebook", "codes", "zeros", "ptr")}
    fields.update(change)
    return fields


def test_layer_checks_its_parts():
    # PE 0: rows 0, 2, 4, two entries in column 0; PE 1: rows 1, 3, one in each column.
    layer = compress(np.array([[1, 0], [0, 2], [0, 0], [3, 0], [4, 0]]), pes=2, index_bits=1)
    assert layer.zeros[0].tolist() == [0, 1] and layer.ptr.tolist() == [[0, 2, 2], [0, 1, 2]]
    assert CompressedLayer(**_fields(layer)) == layer
    book = layer.codebook.copy()
    book[0] = 1
    bad_ptr = layer.ptr.copy()
    bad_ptr[0, 1] = 3
    cases = [
        ({"codebook": book}, "codebook[0] must be 0"),
        ({"codebook": layer.codebook[:4]}, "codebook must have 16 entries"),
        ({"codebook": np.r_[0, 40000, np.zeros(14, int)]}, "codebook value 40000 does not fit"),
        ({"ptr": bad_ptr}, "ptr[0] must rise from 0 to 2"),
        ({"ptr": layer.ptr[:, :2]}, "ptr must be an integer array of shape (2, 3)"),
        ({"codes": (np.array([1, 16]), layer.codes[1])}, "codes[0] must lie in 0..15"),
        ({"codes": (np.array([1, 0]), layer.codes[1])}, "ends in a padding entry"),
        ({"zeros": (np.array([0, 2]), layer.zeros[1])}, "zeros[0] must lie in 0..1"),
        ({"zeros": (np.array([1, 1]), layer.zeros[1])}, "PE 0 has an entry at local row 3"),
        ({"zeros": layer.zeros[:1]}, "zeros must be a tuple of 2 arrays"),
        ({"rows": 0}, "rows must be an integer >= 1"),
        ({"frac_bits": -1}, "frac_bits must be an integer >= 0"),
    ]
    for change, needle in cases:
        with pytest.raises(ValueError) as info:
            CompressedLayer(**_fields(layer, **change))
        assert needle in str(info.value), (change, str(info.value))
    # Frozen, read-only and not aliasing the caller's arrays.
    with pytest.raises(AttributeError):
        layer.rows = 3
    with pytest.raises(ValueError):
        layer.codebook[1] = 9


# Derived figures ---------------------------------------------------------------------------

def test_counts_storage_and_csc():
    # PE 0 owns rows 0, 2; PE 1 rows 1, 3. Column 0 of PE 0: rows 0 (code) ... ; Z = 1.
    w = np.zeros((40, 3), dtype=np.int64)
    w[0, 0], w[38, 0], w[5, 1], w[39, 2] = 4, -4, 9, 1
    layer = compress(w, pes=2, index_bits=2)
    # PE 0: col 0 local rows 0 and 19 (gap 18 = 4 pads of 4 + 2); PE 1: col 1 local row 2,
    # col 2 local row 19 (gap 19 = 4 pads + 3).
    assert layer.pe_entries == (6, 6)
    assert (layer.entries, layer.padding, layer.nonzeros) == (12, 8, 4)
    assert layer.density == 4 / 120
    assert layer.ptr.tolist() == [[0, 6, 6, 6], [0, 0, 1, 6]]
    assert layer.ptr_bits == 3
    bits = layer.storage_bits()
    assert bits == {"entries": 12 * 6, "pointers": 2 * 4 * 3, "codebook": 16 * 16,
                    "total": 72 + 24 + 256, "dense16": 40 * 3 * 16,
                    "ratio": 1920 / 352}
    assert layer.ratio == bits["ratio"]
    values, row_index, col_ptr = layer.to_csc()
    assert col_ptr.tolist() == [0, 6, 7, 12]
    assert row_index.tolist()[:6] == [0, 8, 16, 24, 32, 38]
    assert values.tolist()[:6] == [4, 0, 0, 0, 0, -4]
    a = np.array([3, -2, 5])
    assert spmv_csc(values, row_index, col_ptr, a, n_rows=40).tolist() == (w @ a).tolist()


def test_describe_mentions_every_figure():
    rng, _ = _seeded("kmeans", 60)
    layers = [compress(rng.normal(size=(64, 32)), pes=4, density=0.05),
              compress(rng.integers(-3, 4, (10, 64)), pes=64)]
    text = describe(layers)
    for needle in ("layer 0: 64 x 32", "layer 1: 10 x 64", "density 4.98%", "padding",
                   "padding overhead", "per PE", "min", "mean", "max", "codebook", "frac bits",
                   "storage", "pointers", "ratio", "model: 2 layers"):
        assert needle in text, needle
    assert max(len(line) for line in text.splitlines()) <= 100


# Files -------------------------------------------------------------------------------------

def _model(seed_case):
    rng, _ = _seeded("files", seed_case)
    return [compress(rng.normal(size=(50, 30)), pes=8, density=0.1, index_bits=2),
            compress(rng.integers(-5, 6, (3, 50)), pes=64, codebook_bits=8, code_width=8),
            compress(np.zeros((4, 3), dtype=int), pes=1)]


def test_save_load_round_trip(tmp_path):
    layers = _model(0)
    path = tmp_path / "model"                                  # no .npz appended
    save(path, layers)
    assert path.exists() and not (tmp_path / "model.npz").exists()
    back = load(path)
    assert back == layers
    assert all(np.array_equal(a.dense(), b.dense()) for a, b in zip(back, layers, strict=True))
    assert [x.frac_bits for x in back] == [x.frac_bits for x in layers]


def _rewrite(src, dst, change):
    with np.load(src, allow_pickle=False) as npz:
        arrays = {k: npz[k] for k in npz.files}
    change(arrays)
    with open(dst, "wb") as f:
        np.savez(f, **arrays)


def _set(key, value):
    def change(arrays):
        arrays[key] = value
    return change


def _edit(key, fn):
    def change(arrays):
        arrays[key] = fn(arrays[key].copy())
    return change


def _drop(key):
    def change(arrays):
        del arrays[key]
    return change


def _item(arr, index, value):
    arr[index] = value
    return arr


@pytest.mark.parametrize("change,needle", [
    (_drop("l1_ptr"), "layer 1: missing array 'l1_ptr'"),
    (_drop("layers"), "missing array 'layers'"),
    (_set("format", np.int64(2)), "format 2 is not the supported 1"),
    (_set("layers", np.int64(4)), "layer 3: missing array 'l3_meta'"),
    (_set("layers", np.int64(0)), "'layers' must be at least 1"),
    (_edit("l0_meta", lambda m: m[:5]), "'l0_meta' must hold 7 values"),
    (_edit("l0_meta", lambda m: _item(m, 2, 3)), "pes must be a power of two"),
    (_edit("l0_ptr", lambda p: p[:, :-1]), "ptr must be an integer array of shape (8, 31)"),
    (_edit("l0_ptr", lambda p: _item(p, (0, 3), 10**6)), "ptr[0] must rise from 0"),
    (_edit("l0_codes", lambda c: _item(c, 0, 200)), "codes[0] must lie in 0..15"),
    (_edit("l0_zeros", lambda z: _item(z, 0, 9)), "must lie in 0..3 for index_bits=2"),
    (_edit("l0_codebook", lambda b: _item(b, 0, 5)), "codebook[0] must be 0"),
    (_edit("l0_codebook", lambda b: b[:8]), "codebook must have 16 entries"),
    (_edit("l0_offsets", lambda o: o[::-1]), "'l0_offsets' must rise from 0"),
    (_edit("l0_zeros", lambda z: z[:-1]), "differ in length"),
    (_set("l0_codebook", np.zeros(16)), "'l0_codebook' must be a 1-D integer array"),
])
def test_load_rejects_corrupt_files(tmp_path, change, needle):
    good, bad = tmp_path / "good.npz", tmp_path / "bad.npz"
    save(good, _model(1))
    _rewrite(good, bad, change)
    with pytest.raises(ValueError) as info:
        load(bad)
    message = str(info.value)
    assert needle in message and str(bad) in message and "\n" not in message, message


def test_load_rejects_other_files(tmp_path):
    (tmp_path / "text.npz").write_text("not a zip file")
    np.save(tmp_path / "array.npy", np.zeros(3))
    with zipfile.ZipFile(tmp_path / "empty.npz", "w"):
        pass
    with open(tmp_path / "pickled.npz", "wb") as f:
        np.savez(f, format=np.int64(1), layers=np.array([{"a": 1}], dtype=object))
    for name, needle in (("text.npz", "not a compressed model"),
                         ("array.npy", "a .npy array, not an .npz file"),
                         ("empty.npz", "missing array 'format'"),
                         ("pickled.npz", "array 'layers' cannot be read")):
        with pytest.raises(ValueError, match=needle):
            load(tmp_path / name)
    with pytest.raises(FileNotFoundError):
        load(tmp_path / "missing.npz")
    with pytest.raises(ValueError, match="at least one CompressedLayer"):
        save(tmp_path / "none.npz", [])
