import dataclasses
import json

import pytest

from gen.config import PRESETS, Config, ConfigError, load_config, preset


def test_presets_validate_and_round_trip():
    for name, cfg in PRESETS.items():
        assert cfg.name == name
        again = Config.from_json(cfg.to_json())
        assert again == cfg
        assert json.loads(cfg.to_json())["name"] == name


def test_derived_values():
    cfg = preset("tiny")
    assert cfg.reduction == 8 * 5 * 5
    # 200 products of int8 x int8: 200 * 16384 = 3276800 < 2**22, so 23 signed bits.
    assert cfg.acc_width_min == 23
    assert cfg.acc_bits == 23
    assert dataclasses.replace(cfg, acc_width=32).acc_bits == 32
    assert cfg.act_range == (-128, 127)
    assert dataclasses.replace(cfg, act_signed=False).act_range == (0, 255)
    assert cfg.top_name == "rowloom_tiny"


@pytest.mark.parametrize("change,field", [
    (dict(rows=0), "rows"),
    (dict(cols=-3), "cols"),
    (dict(act_width=1), "act_width"),
    (dict(wgt_width=33), "wgt_width"),
    (dict(act_width=8.0), "act_width"),
    (dict(zero_gate=1), "zero_gate"),
    (dict(acc_width=16), "acc_width"),
    (dict(acc_width=200), "acc_width"),
    (dict(filter_spad=4), "filter_spad"),
    (dict(ifmap_spad=3), "ifmap_spad"),
    (dict(max_r=40), "max_r"),
    (dict(lane_banks=3), "lane_banks"),        # 128 / 3 is not whole
    (dict(lane_banks=16), "lane_banks"),       # 8-entry banks < psum_spad = 16
    (dict(psum_lane=96, lane_banks=2), "lane_banks"),   # 48 is not a power of two
    (dict(name="has space"), "name"),
])
def test_bad_fields_are_named(change, field):
    with pytest.raises(ConfigError) as info:
        dataclasses.replace(preset("tiny"), **change)
    assert info.value.field == field
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(f"{field} = ")
    assert "allowed" in message


def test_unknown_field_and_bad_json(tmp_path):
    with pytest.raises(ConfigError, match="colz"):
        Config.from_dict({"colz": 3})
    with pytest.raises(ConfigError, match="valid JSON"):
        Config.from_json("{rows: 3")
    with pytest.raises(ConfigError, match="JSON object"):
        Config.from_json("[1, 2]")
    with pytest.raises(ConfigError, match="readable"):
        load_config(tmp_path / "missing.json")
    path = tmp_path / "ok.json"
    path.write_text('{"name": "mine", "wgt_width": 4}')
    cfg = load_config(path)
    assert (cfg.name, cfg.wgt_width, cfg.act_width) == ("mine", 4, 8)


def test_unknown_preset():
    with pytest.raises(ConfigError, match="tiny"):
        preset("huge")
