import dataclasses

import numpy as np
import pytest

from gen.config import preset
from gen.mapper import ALEXNET, EYERISS_ACTIVE_PES, Layer, MappingError, map_layer
from hw.array import PEArray

from .sim import seeded_rng


@pytest.mark.parametrize("name", list(ALEXNET))
@pytest.mark.parametrize("preset_name", ["eyeriss", "eyeriss-int8"])
def test_alexnet_active_pes_match_eyeriss_table_iii(name, preset_name):
    mapping = map_layer(ALEXNET[name], preset(preset_name))
    assert mapping.active_pes == EYERISS_ACTIVE_PES[name]


def test_alexnet_macs_match_brief():
    # Eyeriss (JSSC 2017), per image: 105M, 224M, 150M, 112M, 75M MACs.
    got = [round(layer.macs / 1e6) for layer in ALEXNET.values()]
    assert got == [105, 224, 150, 112, 75]


def _check_fits(mapping):
    cfg, layer = mapping.config, mapping.layer
    assert mapping.p * mapping.q * layer.s <= cfg.filter_spad
    assert mapping.q * max(layer.s, layer.stride) <= cfg.ifmap_spad
    assert 1 <= mapping.p <= min(cfg.psum_spad, layer.m)
    assert 1 <= mapping.q <= layer.c
    assert mapping.set_rows * mapping.sets_v <= cfg.rows
    assert mapping.set_cols * mapping.sets_h <= cfg.cols
    assert mapping.r * mapping.t <= mapping.sets_v * mapping.sets_h
    assert mapping.e * mapping.e_folds >= layer.e
    assert mapping.active_pes <= cfg.pes
    # Every chain of a column keeps F * p psums in the column's lane.
    assert mapping.chains_per_column * mapping.layer.f * mapping.p <= cfg.psum_lane
    # Two folds side by side (lane_halves): with the flip bit (hw.array.PEArray.half_bit)
    # every psum of every chain has an address of its own, in the lane, that is no
    # psum's unflipped address (spread chains: in the same bank).
    depth = cfg.psum_lane // cfg.lane_banks
    bit = PEArray.half_bit(cfg, mapping.lane_spread)
    fp = layer.f * mapping.p
    used = {mapping.lane_base(i) + j for i in range(mapping.chains_per_column)
            for j in range(fp)}
    flipped = {a | bit for a in used}
    fits = (bit > 0 and used.isdisjoint(flipped) and len(flipped) == len(used)
            and max(flipped) < cfg.psum_lane
            and (not mapping.lane_spread or all(a // depth == (a | bit) // depth
                                                for a in used)))
    assert mapping.lane_halves == fits, mapping.summary()


def test_random_layers_fit_and_cover_the_work(request):
    seed, rng = seeded_rng(request.node.name)
    for preset_name in ("eyeriss", "tiny"):
        cfg = preset(preset_name)
        for i in range(150):
            r = rng.randint(1, min(cfg.max_r, cfg.rows))
            s = rng.randint(1, cfg.max_s)
            u = rng.randint(1, cfg.max_stride)
            pad = rng.randint(0, cfg.max_pad)
            h = rng.randint(max(1, r - 2 * pad), min(cfg.max_h, 64))
            w = rng.randint(max(1, s - 2 * pad), min(cfg.max_w, 64))
            layer = Layer(c=rng.randint(1, min(cfg.max_c, 64)), h=h, w=w,
                          m=rng.randint(1, min(cfg.max_m, 64)), r=r, s=s, stride=u, pad=pad)
            mapping = map_layer(layer, cfg)
            where = f"seed={seed} {preset_name} case {i}: {layer} -> {mapping.summary()}"
            _check_fits(mapping)
            # Every MAC of the layer has a PE-cycle: active PEs x cycles covers the work.
            assert mapping.est_cycles * mapping.active_pes >= layer.macs, where
            assert 0 < mapping.est_utilization <= 1, where


@pytest.mark.parametrize("change,limit", [
    (dict(c=400), "max_c"),
    (dict(m=1000), "max_m"),
    (dict(h=300), "max_h"),
    (dict(r=12, h=30), "max_r"),
    (dict(stride=5), "max_stride"),
    (dict(n=5), "max_n"),
])
def test_layers_beyond_the_design_are_rejected(change, limit):
    layer = dataclasses.replace(ALEXNET["CONV3"], **change)
    with pytest.raises(MappingError, match=limit):
        map_layer(layer, preset("eyeriss"))


def test_filter_taller_than_array_is_rejected():
    cfg = dataclasses.replace(preset("tiny"), max_r=5)
    with pytest.raises(MappingError, match="rows = 3"):
        map_layer(Layer(c=1, h=8, w=8, m=1, r=4, s=3), cfg)


def test_psum_lane_limits_filters_per_pe_and_copies():
    """A small psum lane: the mapper gives each PE fewer filters, or stacks fewer set
    copies in a column, so that every chain's F * p psums fit (``_check_fits``); the
    driver compiles the layer."""
    from gen.driver import compile_layer
    cfg = dataclasses.replace(preset("tiny"), psum_lane=32, lane_banks=1)
    layer = Layer(c=2, h=16, w=16, m=8, r=1, s=1)           # F = 16, three 1-row sets
    mapping = map_layer(layer, cfg)
    _check_fits(mapping)
    rng = np.random.default_rng(0)
    x = rng.integers(-5, 5, size=(1, 2, 16, 16))
    w = rng.integers(-5, 5, size=(8, 2, 1, 1))
    assert compile_layer(layer, cfg, x, w).parts


@pytest.mark.parametrize("name", list(ALEXNET))
@pytest.mark.parametrize("design", ["eyeriss", "eyeriss-int8"])
def test_mapping_leaves_room_for_next_pass_weights(design, name):
    """The mapper picks p so that the next pass's weights fit in the filter spad beside
    the current ones, at no more estimated cycles than the largest p the placement's
    spads and lanes allow; the zero-skip design gets the same mapping."""
    cfg = preset(design)
    layer = ALEXNET[name]
    mapping = map_layer(layer, cfg)
    assert 2 * mapping.p * mapping.q * layer.s <= cfg.filter_spad, mapping.summary()
    p_big = min(layer.m, cfg.psum_spad, cfg.filter_spad // (mapping.q * layer.s),
                cfg.psum_lane // (mapping.sets_v * mapping.segments * layer.f))
    assert p_big >= mapping.p
    big = dataclasses.replace(mapping, p=p_big)
    assert mapping.est_cycles <= big.est_cycles, (mapping.summary(), big.summary())
    skip = map_layer(layer, dataclasses.replace(cfg, zero_skip=True))
    assert skip.summary() == mapping.summary()


@pytest.mark.parametrize("design", ["eyeriss", "eyeriss-int8"])
def test_lone_chain_is_packed_to_fit_two_folds(design):
    """A column with one chain gains nothing from spreading over the lane's banks; packed,
    AlexNet CONV1's 55 x 8 psums fit half of the lane (not half of a bank of 512, with four
    banks), so its filter folds read out beside the next. Several chains per column stay
    spread."""
    cfg = dataclasses.replace(preset(design), lane_banks=4)
    conv1 = map_layer(ALEXNET["CONV1"], cfg)
    assert conv1.chains_per_column == 1 and conv1.layer.f * conv1.p > cfg.psum_lane // cfg.lane_banks // 2
    assert not conv1.lane_spread and conv1.lane_halves, conv1.summary()
    conv2 = map_layer(ALEXNET["CONV2"], cfg)
    assert conv2.chains_per_column > 1 and conv2.lane_spread, conv2.summary()
    for mapping in (conv1, conv2):
        _check_fits(mapping)


def test_output_row_wider_than_psum_lane_is_rejected():
    cfg = dataclasses.replace(preset("tiny"), psum_spad=8, psum_lane=8, lane_banks=1)
    with pytest.raises(MappingError, match=r"^layer output width F = 16 exceeds psum_lane "
                                           r"= 8"):
        map_layer(Layer(c=1, h=4, w=16, m=1, r=1, s=1), cfg)
    with pytest.raises(MappingError, match=r"^layer filters m = 9 exceeds the design's max_m"):
        map_layer(Layer(c=1, h=4, w=4, m=9, r=1, s=1), cfg)


def test_bad_layers():
    with pytest.raises(ValueError, match="stride"):
        Layer(c=1, h=5, w=5, m=1, r=3, s=3, stride=0)
    with pytest.raises(ValueError, match="does not fit"):
        Layer(c=1, h=2, w=5, m=1, r=3, s=3)

