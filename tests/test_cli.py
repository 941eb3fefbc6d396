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
    assert set(ports["cfg"]["fields"]) == {"s", "f", "u", "p", "q", "psum_en", "n_in", "qs",
                                          "qu", "pqs", "nq"}


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
    np.save(tmp_path / "x3.npy", np.zeros((1, 3, 5, 5), dtype=np.int64))
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
    r = run(*base, "--ifmap", str(tmp_path / "x3.npy"), "--weights", str(tmp_path / "w.npy"),
            "--stride", "9")
    assert r.returncode != 0 and "stride = 9 exceeds the design's max_stride = 4" in r.stderr
    # Rejected before anything is generated or simulated.
    assert "generating" not in r.stdout and not (tmp_path / "b").exists()


def test_compress_then_inspect(tmp_path, capsys):
    import numpy as np
    rng = np.random.default_rng(20160618)
    print("seed=20160618")
    np.save(tmp_path / "w.npy", rng.normal(size=(96, 80)))
    model = tmp_path / "m.npz"
    assert main(["compress", "--weights", str(tmp_path / "w.npy"), "--density", "0.1",
                 "--pes", "4", "-o", str(model)]) == 0
    out = capsys.readouterr().out
    assert model.exists() and f"wrote {model}" in out
    for needle in ("density 10.00%", "padding overhead", "ratio"):
        assert needle in out
    result = run("compress", "--inspect", str(model))
    assert result.returncode == 0 and result.stderr == ""
    for needle in ("96 x 80", "4 PEs", "density 10.00%", "padding", "per PE", "codebook",
                   "frac bits", "storage", "ratio"):
        assert needle in result.stdout
    from gen.compress import load
    (layer,) = load(model)
    assert layer.pes == 4 and layer.nonzeros == 768
    result = run("compress", "--inspect", str(tmp_path / "none.npz"))
    assert result.returncode == 2 and result.stderr.startswith("rowloom: error: ")


def test_compress_model_of_two_layers(tmp_path, capsys):
    import numpy as np
    np.save(tmp_path / "a.npy", np.arange(-12, 12).reshape(6, 4))
    np.save(tmp_path / "b.npy", np.ones((3, 6), dtype=np.int8))
    model = tmp_path / "sub" / "m.npz"
    assert main(["compress", "--weights", str(tmp_path / "a.npy"), "--weights",
                 str(tmp_path / "b.npy"), "--pes", "2", "--index-bits", "2",
                 "-o", str(model)]) == 0
    assert "model: 2 layers" in capsys.readouterr().out
    from gen.compress import load
    assert [x.rows for x in load(model)] == [6, 3]


@pytest.mark.parametrize("args,needle", [
    (["--weights", "{missing}", "--pes", "4", "-o", "{out}"],
     "cannot read --weights {missing}: No such file"),
    (["--weights", "{w}", "--density", "0.1", "--threshold", "0.5", "--pes", "4", "-o", "{out}"],
     "--density and --threshold exclude each other"),
    (["--weights", "{w}", "--density", "0", "--pes", "4", "-o", "{out}"],
     "--density must be a number in (0, 1], not 0.0"),
    (["--weights", "{w}", "--density", "1.5", "--pes", "4", "-o", "{out}"],
     "--density must be a number in (0, 1], not 1.5"),
    (["--weights", "{w}", "--pes", "3", "-o", "{out}"], "--pes must be a power of two"),
    (["--weights", "{w}", "--pes", "4", "--code-width", "40", "-o", "{out}"],
     "--code-width must be an integer in 2..32, not 40"),
    (["--weights", "{w}", "--pes", "4"], "compressing needs -o"),
    (["--weights", "{vec}", "--pes", "4", "-o", "{out}"],
     "--weights {vec} must be a non-empty 2-D array"),
    (["--inspect", "{w}"], "not a compressed model"),
    (["--inspect", "{missing}"], "cannot read --inspect {missing}"),
    (["--inspect", "{w}", "--pes", "4"], "--inspect reads a model and takes no other option"),
])
def test_compress_rejects_bad_input(tmp_path, capsys, args, needle):
    import numpy as np
    files = {"missing": tmp_path / "none.npy", "w": tmp_path / "w.npy",
             "vec": tmp_path / "v.npy", "out": tmp_path / "out" / "m.npz"}
    np.save(files["w"], np.ones((8, 8)))
    np.save(files["vec"], np.ones(8))
    # In process, for speed: main's return value is the exit status.
    assert main(["compress", *[a.format(**files) for a in args]]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("rowloom: error: ")
    assert needle.format(**files) in lines[0]
    assert not (tmp_path / "out").exists()


def test_eie_presets_and_verilog(tmp_path, capsys):
    assert main(["presets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(line.startswith("eie-tiny ") and "EIE, 4 PEs" in line for line in lines)
    assert main(["verilog", "--preset", "eie-tiny", "-o", str(tmp_path)]) == 0
    man = json.loads((tmp_path / "rowloom_eie_tiny.json").read_text())
    assert man["config"]["arch"] == "eie" and man["kind"] == "EieEngine"
    # The PE is one module, instantiated four times.
    text = (tmp_path / "rowloom_eie_tiny.v").read_text()
    assert text.count("\nmodule rowloom_eie_tiny_pe(") == 1
    # An EIE config file round-trips through --config.
    cfg = tmp_path / "eie.json"
    cfg.write_text(json.dumps({**man["config"], "name": "mine", "pes": 2}))
    assert main(["verilog", "--config", str(cfg), "-o", str(tmp_path / "mine")]) == 0
    assert (tmp_path / "mine" / "rowloom_mine.v").exists()


def test_fc_rejects_bad_inputs(tmp_path, capsys):
    import numpy as np
    w, a = tmp_path / "w.npy", tmp_path / "a.npy"
    np.save(w, np.eye(6, dtype=np.int64))
    np.save(a, np.arange(6))
    base = ["fc", "--weights", str(w), "--act", str(a)]
    assert main(["fc", "--preset", "tiny", *base[1:]]) == 2
    assert "an EIE design" in capsys.readouterr().err
    for extra, needle in ((["--shift", "1,2"], "--shift needs"),
                          (["--shift", "x"], "--shift wants")):
        with pytest.raises(SystemExit) as exc:
            main([*base, "--preset", "eie-tiny", *extra])
        assert exc.value.code == 2 or needle in str(exc.value.code)
    np.save(a, np.arange(5))
    with pytest.raises(SystemExit, match="takes 6"):
        main([*base, "--preset", "eie-tiny"])
    np.save(a, np.zeros((2, 2, 6), dtype=np.int64))
    with pytest.raises(SystemExit, match="one vector or a batch"):
        main([*base, "--preset", "eie-tiny"])
    # Values outside the design's width are rejected before anything is generated.
    np.save(a, np.full(6, 1 << 20))
    capsys.readouterr()
    with pytest.raises(SystemExit, match="input values must fit"):
        main([*base, "--preset", "eie-tiny", "--build-dir", str(tmp_path / "b")])
    assert "generating" not in capsys.readouterr().out and not (tmp_path / "b").exists()


@pytest.mark.rtl
def test_fc_runs_the_rtl(tmp_path, capsys):
    import numpy as np
    rng = np.random.default_rng(11)
    w = rng.integers(-7, 8, size=(9, 13)) * (rng.random((9, 13)) < 0.4)
    a = rng.integers(-50, 50, size=(2, 13))
    np.save(tmp_path / "w.npy", w)
    np.save(tmp_path / "a.npy", a)
    assert main(["fc", "--preset", "eie-tiny", "--weights", str(tmp_path / "w.npy"), "--act",
                 str(tmp_path / "a.npy"), "--sim", "icarus", "--out", str(tmp_path / "b.npy"),
                 "--stats", str(tmp_path / "s.json"), "--build-dir", str(tmp_path / "b")]) == 0
    assert "PASS" in capsys.readouterr().out
    assert np.array_equal(np.load(tmp_path / "b.npy"), a @ w.T)
    stats = json.loads((tmp_path / "s.json").read_text())
    assert stats["broadcasts"] == np.count_nonzero(a)


def test_verilog_zero_skip(tmp_path):
    assert main(["verilog", "--preset", "tiny", "--zero-skip", "-o", str(tmp_path)]) == 0
    manifest = json.loads((tmp_path / "rowloom_tiny_zs.json").read_text())
    assert manifest["config"]["zero_skip"] is True
    assert manifest["config"]["name"] == "tiny-zs"
    assert "seen" in {p["name"] for p in manifest["ports"]}
    out = run("verilog", "--preset", "eie-tiny", "--zero-skip", "-o", str(tmp_path / "e"))
    assert out.returncode != 0 and "zero_skip" in out.stderr


@pytest.mark.rtl
def test_conv_zero_skip(tmp_path):
    import numpy as np
    rng = np.random.default_rng(5)
    x = rng.integers(-128, 128, size=(1, 3, 7, 7))
    x[rng.random(x.shape) < 0.7] = 0
    np.save(tmp_path / "x.npy", x)
    np.save(tmp_path / "w.npy", rng.integers(-128, 128, size=(4, 3, 3, 3)))
    out = run("conv", "--preset", "tiny", "--zero-skip", "--ifmap", str(tmp_path / "x.npy"),
              "--weights", str(tmp_path / "w.npy"), "--padding", "1", "--sim", "verilator",
              "--stats", str(tmp_path / "s.json"), "--build-dir", str(tmp_path / "b"))
    assert out.returncode == 0, out.stdout + out.stderr
    assert "zero skip" in out.stdout and "PASS" in out.stdout
    stats = json.loads((tmp_path / "s.json").read_text())
    zs = stats["zero_skip"]
    assert zs["values_seen"] > zs["zeros_skipped"] > 0
    # Utilization counts the layer's MACs, skipped zeros included; the line also gives the
    # share of PE-cycles that performed one.
    performed = stats["macs_performed"] / (stats["cycles"] * stats["pes"])
    assert f"(the MACs performed: {performed:.1%})" in out.stdout
