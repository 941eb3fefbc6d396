"""The design files a bench runs on are generated again only when what they are made
from changes (``tb.run``): the configuration, the top, or the generator's source."""

import dataclasses
from pathlib import Path

import pytest

import tb.run as run
from gen.config import preset


def _counting(monkeypatch):
    calls = []
    real = run.write_design

    def write_design(config, out_dir, top):
        calls.append((config.name, top, str(out_dir)))
        return real(config, out_dir, top)
    monkeypatch.setattr(run, "write_design", write_design)
    return calls


def test_same_design_is_not_generated_twice(tmp_path, monkeypatch):
    monkeypatch.delenv("ROWLOOM_SIM_CACHE", raising=False)
    calls = _counting(monkeypatch)
    cfg = preset("up5k")
    v1, m1 = run._design(cfg, tmp_path / "rtl", "pe")
    mtime = v1.stat().st_mtime_ns
    v2, m2 = run._design(cfg, tmp_path / "rtl", "pe")
    assert (v2, m2) == (v1, m1) and len(calls) == 1
    assert v2.stat().st_mtime_ns == mtime          # untouched: no simulator rebuild
    first = v1.read_text()
    # Another configuration (or top) in the same folder is generated, and its Verilog differs.
    other = dataclasses.replace(cfg, filter_spad=cfg.filter_spad + 4)
    v3, _ = run._design(other, tmp_path / "rtl", "pe")
    assert len(calls) == 2 and v3 == v1 and v3.read_text() != first
    assert run.design_key(other, "pe") != run.design_key(cfg, "pe")
    assert run.design_key(cfg, "accel") != run.design_key(cfg, "pe")
    # An edited or lost file is made again, not trusted.
    text = v3.read_text()
    v3.write_text("// edited\n")
    run._design(other, tmp_path / "rtl", "pe")
    assert len(calls) == 3 and v3.read_text() == text
    (tmp_path / "rtl" / f"{v3.stem}.h").unlink()
    run._design(other, tmp_path / "rtl", "pe")
    assert len(calls) == 4 and (tmp_path / "rtl" / f"{v3.stem}.h").exists()


def test_key_follows_generator_source(tmp_path, monkeypatch):
    cfg = preset("up5k")
    before = run.design_key(cfg, "pe")
    fake = tmp_path / "hw"
    fake.mkdir()
    (fake / "__init__.py").write_text("")
    (fake / "pe.py").write_text("# another PE\n")

    class Pkg:
        __file__ = str(fake / "__init__.py")
    monkeypatch.setattr(run, "hw", Pkg)
    assert run.design_key(cfg, "pe") != before


def test_shared_cache_generates_once_for_many_folders(tmp_path, monkeypatch):
    monkeypatch.setenv("ROWLOOM_SIM_CACHE", str(tmp_path / "cache"))
    calls = _counting(monkeypatch)
    cfg = preset("up5k")
    a = run._design(cfg, tmp_path / "a" / "rtl", "pe")
    b = run._design(cfg, tmp_path / "b" / "rtl", "pe")
    assert len(calls) == 1
    assert calls[0][2].startswith(str(tmp_path / "cache"))
    for pa, pb in zip(a, b, strict=True):
        assert pa.read_bytes() == pb.read_bytes() and pa.parent != pb.parent


class _Runner:
    """Stands in for cocotb's runner: records what each build found in its folder, leaves
    a product there, and fails the way it is told to."""

    def __init__(self):
        self.found, self.fail = [], None

    def build(self, *, sources, build_dir, **_):
        self.found.append(sorted(p.name for p in build_dir.iterdir()))
        assert all(Path(s).exists() for s in sources)
        (build_dir / f"product{len(self.found)}").write_text("")
        if self.fail:
            raise self.fail


def test_unfinished_build_starts_from_an_empty_folder(tmp_path, monkeypatch):
    """A build cut off (Ctrl-C) or failed may leave products a later build trusts (a
    half-written precompiled header breaks every later Verilator compile in the folder):
    the next build there clears them; a finished build's products are kept."""
    monkeypatch.delenv("ROWLOOM_SIM_CACHE", raising=False)
    vfile = tmp_path / "rtl" / "top.v"
    vfile.parent.mkdir()
    vfile.write_text("module top; endmodule\n")
    sim_dir, runner = tmp_path / "verilator", _Runner()

    def build():
        return run._build(runner, "verilator", vfile, "top", sim_dir, [], False,
                          tmp_path / "sim.log")
    assert build() == sim_dir
    assert build() == sim_dir                       # finished: incremental, nothing cleared
    assert runner.found[1] == [".building", "product1"]
    runner.fail = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        build()
    runner.fail = RuntimeError("Command failed with return code: 2")
    with pytest.raises(run.BenchFailed, match=r"building top for verilator failed.*sim\.log"):
        build()
    assert runner.found[3] == [".building"]         # the interrupted build's products went
    runner.fail = None
    build()
    assert runner.found[4] == [".building"]         # and the failed one's
    build()
    assert runner.found[5] == [".building", "product5"]


def test_unfinished_build_in_the_shared_cache_keeps_its_source(tmp_path, monkeypatch):
    monkeypatch.setenv("ROWLOOM_SIM_CACHE", str(tmp_path / "cache"))
    vfile = tmp_path / "rtl" / "top.v"
    vfile.parent.mkdir()
    vfile.write_text("module top; endmodule\n")
    runner = _Runner()

    def build():
        return run._build(runner, "icarus", vfile, "top", tmp_path / "icarus", [], False, None)
    runner.fail = KeyboardInterrupt()
    with pytest.raises(KeyboardInterrupt):
        build()
    runner.fail = None
    where = build()
    assert where.parent == tmp_path / "cache"
    assert runner.found[1] == [".building", ".lock", "top.v"]
    assert (where / "built").exists() and not (where / ".building").exists()
    assert build() == where and len(runner.found) == 2      # built once, then reused
