"""Host driver: splitting layers into parts that fit the global buffer."""

import dataclasses
from collections import Counter

import numpy as np
import pytest

from gen.config import preset
from gen.driver import compile_layer, plan_parts
from gen.mapper import ALEXNET, Layer, MappingError, map_layer
from hw.accel import glb_depth
from tb.golden import conv2d

from .sim import seeded_rng

TINY = preset("tiny")
SMALL_GLB = dataclasses.replace(TINY, glb_kib=1)

LAYERS = {
    "fits": (Layer(c=2, h=6, w=6, m=3, r=3, s=3, pad=1), TINY, 1),
    "rows-pad2": (Layer(c=4, h=20, w=16, m=3, r=3, s=3, pad=2), SMALL_GLB, None),
    "rows-stride2": (Layer(c=3, h=30, w=16, m=2, r=3, s=3, stride=2, pad=1), SMALL_GLB, None),
    "rows-stride3-batch2": (Layer(n=2, c=5, h=31, w=16, m=2, r=2, s=3, stride=3, pad=2),
                            SMALL_GLB, None),
    "batch-groups": (Layer(n=3, c=2, h=14, w=14, m=2, r=3, s=3, pad=1), SMALL_GLB, 2),
    "pad-exceeds-filter": (Layer(c=4, h=24, w=16, m=1, r=1, s=1, pad=2), SMALL_GLB, None),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_parts_cover_the_layer(request, name):
    layer, cfg, n_parts = LAYERS[name]
    seed, _ = seeded_rng(request.node.name)
    rng = np.random.default_rng(seed)
    parts = plan_parts(layer, cfg)
    if n_parts is not None:
        assert len(parts) == n_parts
    else:
        assert len(parts) > 1
    x = rng.integers(-128, 128, size=(layer.n, layer.c, layer.h, layer.w))
    w = rng.integers(-128, 128, size=(layer.m, layer.c, layer.r, layer.s))
    whole = conv2d(x, w, stride=layer.stride, padding=layer.pad)
    got = np.full(whole.shape, np.iinfo(np.int64).min)
    for n0, e0, (lo, hi), sub in parts:
        assert map_layer(sub, cfg)          # within every generated limit
        mp = map_layer(sub, cfg)
        assert sub.n * mp.channel_folds * sub.h * sub.w * mp.q <= glb_depth(cfg)
        # The slice, padded as its registers say, convolved on its own (direct loop
        # oracle: conv2d without padding on an explicitly padded array).
        xs = x[n0:n0 + sub.n, :, lo:hi]
        xs = np.pad(xs, ((0, 0), (0, 0), (sub.pad_top, sub.pad_bottom), (sub.pad, sub.pad)))
        part = conv2d(xs, w, stride=sub.stride, padding=0)
        assert part.shape[2] == sub.e
        assert (got[n0:n0 + sub.n, :, e0:e0 + sub.e] == np.iinfo(np.int64).min).all(), \
            "parts overlap"
        got[n0:n0 + sub.n, :, e0:e0 + sub.e] = part
    np.testing.assert_array_equal(got, whole, err_msg=f"seed={seed}")


@pytest.mark.parametrize("name", list(LAYERS))
def test_program_outputs_each_value_once(name):
    layer, cfg, _ = LAYERS[name]
    x = np.zeros((layer.n, layer.c, layer.h, layer.w), dtype=np.int64)
    w = np.zeros((layer.m, layer.c, layer.r, layer.s), dtype=np.int64)
    prog = compile_layer(layer, cfg, x, w)
    counts = Counter(prog.out_order)
    assert len(counts) == layer.n * layer.m * layer.e * layer.f
    assert set(counts.values()) == {1}
    assert all(len(p.glb) <= glb_depth(cfg) for p in prog.parts)


def test_alexnet_conv1_splits_into_strips():
    cfg = preset("eyeriss")
    layer = ALEXNET["CONV1"]
    parts = plan_parts(layer, cfg)
    # 55 output rows in slices of 14 (the mapping's strip), so splitting costs no cycles.
    assert [sub.e for *_, sub in parts] == [14, 14, 14, 13]
    assert sum(map_layer(sub, cfg).est_cycles for *_, sub in parts) == \
        map_layer(layer, cfg).est_cycles


def test_row_too_big_is_rejected():
    layer = Layer(c=64, h=16, w=16, m=1, r=3, s=3)
    with pytest.raises(MappingError, match="for one output row, more than glb_kib = 1"):
        plan_parts(layer, dataclasses.replace(SMALL_GLB, max_c=64))


def test_row_too_big_below_padding_is_rejected():
    """The first output row lies wholly in the top padding (1 x 1 filter, padding 2): the
    error names the buffer a row of input needs."""
    layer = Layer(c=128, h=16, w=16, m=1, r=1, s=1, pad=2)
    with pytest.raises(MappingError, match="needs 2048 global-buffer values for one output row"):
        plan_parts(layer, dataclasses.replace(SMALL_GLB, max_c=128))
    # Stride 4 past a 1 x 1 filter: both output rows lie in the padding.
    layer = Layer(c=128, h=1, w=16, m=1, r=1, s=1, stride=4, pad=2)
    with pytest.raises(MappingError, match="needs 2048 global-buffer values for one image"):
        plan_parts(layer, dataclasses.replace(SMALL_GLB, max_c=128))


def test_unsplittable_limit_is_named():
    with pytest.raises(MappingError, match="input width w = 17 exceeds the design's max_w = 16"):
        plan_parts(Layer(c=1, h=40, w=17, m=1, r=3, s=3), SMALL_GLB)
