"""The design files a bench runs on are generated again only when what they are made
from changes (``tb.run``): the configuration, the top, or the generator's source."""

import dataclasses

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
