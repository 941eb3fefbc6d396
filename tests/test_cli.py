import json
import subprocess
import sys

import pytest

from gen.cli import main


def run(*args):
    return subprocess.run([sys.executable, "-m", "gen.cli", *args], capture_output=True,
                          text=True)


def test_version_and_help():
    out = run("--version")
    assert out.returncode == 0 and out.stdout.startswith("rowloom ")
    out = run("--help")
    assert out.returncode == 0
    for command in ("presets", "verilog", "check-pe"):
        assert command in out.stdout


def test_presets(capsys):
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines and lines[0].startswith("tiny ")
    assert main(["presets", "--names"]) == 0
    assert "tiny" in capsys.readouterr().out.split()


def test_verilog_outputs_are_reproducible(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["verilog", "--preset", "tiny", "-o", str(a)]) == 0
    assert main(["verilog", "--preset", "tiny", "-o", str(b)]) == 0
    names = sorted(p.name for p in a.iterdir())
    assert names == ["rowloom_tiny.h", "rowloom_tiny.json", "rowloom_tiny.v"]
    for name in names:
        text = (a / name).read_bytes()
        assert text == (b / name).read_bytes()
        assert str(tmp_path).encode() not in text
        assert b"/work/" not in text and b"\\src" not in text
    man = json.loads((a / "rowloom_tiny.json").read_text())
    assert man["top"] == "rowloom_tiny" and man["config"]["name"] == "tiny"
    ports = {p["name"]: p for p in man["ports"]}
    acc = man["derived"]["acc_bits"]
    assert ports["out__payload"]["width"] == acc * 4 + 3      # 4 values + count
    assert ports["out__payload"]["dir"] == "out"
    assert ports["act_in__ready"]["dir"] == "out" and ports["act_in__valid"]["dir"] == "in"
    assert set(ports["cfg__payload"]["fields"]) == {"addr", "data"}
    verilog = (a / "rowloom_tiny.v").read_text()
    for name in ports:
        assert f" {name};" in verilog
    header = (a / "rowloom_tiny.h").read_text()
    assert f"#define ROWLOOM_TINY_ACC_BITS {acc}" in header


def test_verilog_pe_top(tmp_path):
    assert main(["verilog", "--preset", "tiny", "--top", "pe", "-o", str(tmp_path)]) == 0
    man = json.loads((tmp_path / "rowloom_tiny_pe.json").read_text())
    ports = {p["name"]: p for p in man["ports"]}
    assert ports["psum_out__payload"]["width"] == man["derived"]["acc_bits"] == 23
    assert set(ports["cfg"]["fields"]) == {"s", "f", "u", "p", "q", "psum_en", "n_in", "qs", "qu", "pqs"}


@pytest.mark.parametrize("args,needle", [
    (["--preset", "nope"], "preset = 'nope'"),
    (["--config", "{missing}"], "config = "),
    (["--config", "{bad_json}"], "valid JSON"),
    (["--config", "{bad_field}"], "act_width = 40"),
    (["--config", "{narrow_acc}"], "acc_width = 8"),
])
def test_bad_config_exits_nonzero_and_writes_nothing(tmp_path, args, needle):
    files = {"missing": tmp_path / "none.json", "bad_json": tmp_path / "bad.json",
             "bad_field": tmp_path / "field.json", "narrow_acc": tmp_path / "acc.json"}
    files["bad_json"].write_text("{not json")
    files["bad_field"].write_text('{"act_width": 40}')
    files["narrow_acc"].write_text('{"acc_width": 8}')
    args = [a.format(**files) for a in args]
    out_dir = tmp_path / "out"
    result = run("verilog", *args, "-o", str(out_dir))
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and needle in lines[0] and "allowed" in lines[0]
    assert not out_dir.exists()


def test_no_command_prints_help(capsys):
    assert main([]) == 2
    assert "usage: rowloom" in capsys.readouterr().out


def test_map_alexnet_prints_table_iii(capsys):
    assert main(["map", "--preset", "eyeriss", "--alexnet"]) == 0
    out = capsys.readouterr().out
    for name, active, parts in (("CONV1", 154, 4), ("CONV2", 135, 1), ("CONV3", 156, 1)):
        line = next(x for x in out.splitlines() if x.startswith(name))
        # parts and our active PEs, then Eyeriss's, on the same line
        assert line.split("|")[2].split()[:2] == [str(parts), str(active)]
        assert line.endswith(f"{active} active")


def test_map_rejects_layer_beyond_design(capsys):
    assert main(["map", "--preset", "tiny", "--layer", "9,16,16,8,3,3"]) == 1
    assert "L1 channels c = 9 exceeds the design's max_c = 8" in capsys.readouterr().out
    result = run("map", "--preset", "tiny", "--layer", "3,16")
    assert result.returncode == 2 and "6 to 9 integers" in result.stderr


def test_conv_rejects_bad_inputs(tmp_path):
    import numpy as np
    np.save(tmp_path / "x.npy", np.zeros((1, 2, 5, 5), dtype=np.int64))
    np.save(tmp_path / "w.npy", np.zeros((3, 3, 3, 3), dtype=np.int64))
    np.save(tmp_path / "f.npy", np.zeros((1, 2, 5, 5), dtype=np.float32))
    np.save(tmp_path / "big.npy", np.full((1, 3, 5, 5), 300, dtype=np.int64))
    base = ["conv", "--preset", "tiny", "--build-dir", str(tmp_path / "b")]
    r = run(*base, "--ifmap", str(tmp_path / "x.npy"), "--weights", str(tmp_path / "w.npy"))
    assert r.returncode != 0 and "C = 2" in r.stderr and "C = 3" in r.stderr
    r = run(*base, "--ifmap", str(tmp_path / "f.npy"), "--weights", str(tmp_path / "w.npy"))
    assert r.returncode != 0 and "must hold integers" in r.stderr
    r = run(*base, "--ifmap", str(tmp_path / "big.npy"), "--weights", str(tmp_path / "w.npy"))
    assert r.returncode != 0 and "300 is outside the configured range -128..127" in r.stderr
