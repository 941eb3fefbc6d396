"""Host driver: splitting layers into parts that fit the global buffer; register values
within the controller's register bounds."""

import dataclasses
import itertools
from collections import Counter

import numpy as np
import pytest

import gen.driver
from gen.config import PRESETS, preset
from gen.driver import compile_layer, plan_parts, register_writes, registers
from gen.mapper import ALEXNET, Layer, MappingError, map_layer
from hw.accel import REGISTERS, glb_depth, register_bounds
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


def test_register_beyond_its_bound_is_refused():
    """A value the controller's register cannot hold is an error naming the register, never
    a silent truncation (up5k runs one image at a time: ``n`` is always 1)."""
    cfg = preset("up5k")
    values = registers(map_layer(Layer(c=2, h=6, w=6, m=3, r=3, s=3, pad=1), cfg), cfg)
    assert [addr for addr, _ in register_writes(values, cfg)] == list(range(len(REGISTERS)))
    assert register_bounds(cfg)["n"] == range(1, 2)
    with pytest.raises(ValueError, match=r"register n = 2 does not fit the controller: "
                                         r"up5k's limits bound it to 1\.\.1"):
        register_writes({**values, "n": 2}, cfg)
    with pytest.raises(ValueError, match="register pad_top = -1 does not fit"):
        register_writes({**values, "pad_top": -1}, cfg)
    with pytest.raises(ValueError, match=r"missing \['shift'\]"):
        register_writes({k: v for k, v in values.items() if k != "shift"}, cfg)


def test_compile_layer_checks_every_register(monkeypatch):
    """``compile_layer`` writes no register without checking it against its bound."""
    cfg = preset("up5k")
    layer = Layer(c=2, h=6, w=6, m=3, r=3, s=3, pad=1)
    hwq = registers(map_layer(layer, cfg), cfg)["hwq"]
    bounds = register_bounds(cfg)
    monkeypatch.setattr(gen.driver, "register_bounds",
                        lambda config: {**bounds, "hwq": range(1, hwq)})
    x = np.zeros((1, 2, 6, 6), dtype=np.int64)
    w = np.zeros((3, 2, 3, 3), dtype=np.int64)
    with pytest.raises(ValueError, match=f"register hwq = {hwq} does not fit"):
        compile_layer(layer, cfg, x, w)


def limit_layers(cfg):
    """Layers at the corners of ``cfg``'s limits: batch at its limit; every other dimension
    at its smallest or its largest value, channels and filters also one below the largest
    (which the mapper cannot fold evenly when it is prime)."""
    R = min(cfg.max_r, cfg.rows)
    for c, m, h, w, r, s, u, pad in itertools.product(
            {1, cfg.max_c - 1, cfg.max_c}, {1, cfg.max_m - 1, cfg.max_m}, {1, cfg.max_h},
            {1, cfg.max_w}, {1, R}, {1, cfg.max_s}, {1, cfg.max_stride}, {0, cfg.max_pad}):
        if r <= h + 2 * pad and s <= w + 2 * pad and c > 0 and m > 0:
            yield Layer(n=cfg.max_n, c=c, h=h, w=w, m=m, r=r, s=s, stride=u, pad=pad)


# The host's part planning takes about a minute over eyeriss's corners (eyeriss-int8's
# buffer holds twice the values, so fewer layers need splitting: 20 s).
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "eyeriss"
                                  else n for n in PRESETS])
def test_register_bounds_hold_at_the_limits(name):
    """Every register value the driver makes for the parts of layers at the preset's limits
    fits the controller's register; and those layers do reach the layer limits, so a bound
    set too low fails here."""
    cfg = preset(name)
    bounds = register_bounds(cfg)
    assert list(bounds) == list(REGISTERS)
    largest = dict.fromkeys(REGISTERS, 0)
    accepted = 0
    for layer in limit_layers(cfg):
        try:
            parts = plan_parts(layer, cfg)
        except MappingError:
            continue            # the driver refuses it: one output row needs too much buffer
        accepted += 1
        for *_, sub in parts:
            try:
                values = registers(map_layer(sub, cfg), cfg, shift=63, relu=True)
            except MappingError:
                continue        # its psums do not fit the lanes; the driver refuses it
            for reg, value in values.items():
                assert value in bounds[reg], f"{sub}: register {reg} = {value}, {bounds[reg]}"
                largest[reg] = max(largest[reg], value)
    assert accepted >= 100
    for reg in ("e_out", "f", "m", "r", "s", "u", "pad_top", "h", "n_in", "hl_layer",
                "shift"):
        assert largest[reg] == bounds[reg][-1], (reg, largest[reg], bounds[reg])
