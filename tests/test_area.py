"""Area reporting: the hierarchy arithmetic on stored yosys statistics, device fit, the CLI's
errors, and real yosys runs on small designs."""

import json

import pytest

from gen import area
from gen.cli import main
from gen.config import preset

# The shape of `stat -json` for a top with an array of 6 PEs (two shared PE modules, each
# with one MAC) and some control logic; cell counts are made up.
STAT = {"modules": {
    "\\rowloom_t": {"num_cells_by_type": {
        "SB_LUT4": 100, "SB_DFFE": 40, "SB_RAM40_4K": 4, "rowloom_t.array": 1}},
    "\\rowloom_t.array": {"num_cells_by_type": {
        "SB_LUT4": 30, "SB_CARRY": 5, "SB_RAM40_4K": 2,
        "rowloom_t.array.pe": 2, "rowloom_t.array.pe_v2": 4}},
    "\\rowloom_t.array.pe": {"num_cells_by_type": {
        "SB_LUT4": 50, "SB_DFFESR": 20, "rowloom_t.array.pe.mac": 1}},
    "\\rowloom_t.array.pe_v2": {"num_cells_by_type": {
        "SB_LUT4": 52, "SB_DFFESR": 20, "rowloom_t.array.pe.mac": 1}},
    "\\rowloom_t.array.pe.mac": {"num_cells_by_type": {"SB_MAC16": 1, "SB_LUT4": 3}},
}}


def test_hierarchy_counts_each_instance():
    modules, blocks, total = area._parse_stat(STAT, "rowloom_t", "ice40")
    assert modules["rowloom_t.array.pe.mac"]["instances"] == 6
    assert modules["rowloom_t.array.pe_v2"]["instances"] == 4
    assert total["lut"] == 100 + 30 + 2 * 50 + 4 * 52 + 6 * 3
    assert total["dsp"] == 6 and total["bram"] == 6 and total["ff"] == 40 + 6 * 20
    assert blocks["pe"] == {"lut": 2 * 50 + 4 * 52 + 6 * 3, "ff": 120, "dsp": 6}
    assert blocks["buffers"] == {"bram": 6}
    assert blocks["control"] == {"lut": 100, "ff": 40}
    assert blocks["array"] == {"lut": 30, "carry": 5}
    # The blocks partition the total.
    summed = {}
    for counts in blocks.values():
        area._add(summed, counts)
    assert summed == total


def test_fit_says_by_how_much():
    report = {"target": "ice40", "total": {"lut": 6000, "ff": 100, "dsp": 8, "bram": 31}}
    dev = area.device_for("ice40", "up5k")
    assert area.fit(report, dev) == {"lut": (6000, 5280), "bram": (31, 30)}
    report.update(top="rowloom_t", pes=6, synth_s=1.0, per_pe={},
                  blocks={b: {} for b in area.BLOCKS})
    text = area.format_report(report, dev)
    assert "does NOT fit iCE40UP5K: lut 6,000 of 5,280 (+720" in text
    report["total"] = {"lut": 5280, "bram": 30}
    assert area.fit(report, dev) == {}
    assert "fits iCE40UP5K" in area.format_report(report, dev)


def test_device_names_are_checked():
    assert area.device_for("generic") is None
    assert area.device_for("ecp5").name == "LFE5U-85F"
    with pytest.raises(ValueError, match="not a ice40 device; choose from up5k, hx8k"):
        area.device_for("ice40", "85k")


def test_cli_rejects_fmax_without_nextpnr_target(capsys):
    assert main(["area", "--preset", "tiny", "--target", "xilinx", "--fmax"]) == 2
    assert "--fmax needs --target ice40 or ecp5" in capsys.readouterr().err
    assert main(["area", "--preset", "tiny", "--target", "ecp5", "--device", "up5k"]) == 2


def test_pe_on_ice40_uses_one_dsp(tmp_path):
    report = area.synthesize(preset("tiny"), "ice40", top="pe", work_dir=tmp_path,
                             log=lambda _: None)
    assert report["total"]["dsp"] == 1
    assert report["total"]["lut"] > 0 and report["total"]["ff"] > 0
    assert report["per_pe"]["dsp"] == 1


def test_cli_generic_writes_json(tmp_path, capsys):
    out = tmp_path / "a.json"
    assert main(["area", "--preset", "tiny", "--target", "generic", "--top", "pe",
                 "--json", str(out), "--build-dir", str(tmp_path / "w")]) == 0
    text = capsys.readouterr().out
    assert "gate equivalents" in text
    data = json.loads(out.read_text())
    assert data["gate_equivalents"] > 0
    assert data["blocks"]["pe"] == data["total"]
