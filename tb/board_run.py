"""Run a CONV layer over a simulated serial line on a board's logic and check it.

The host side of ``tb.board_bench``: generate ``boards.common.BoardCore`` (the host link
and the accelerator, with the board's reset button) for a design, run the bench on it
with ``tb.run.run_bench`` (``gen.hostlink.HostLinkDriver`` drives the layer through a
bit-level UART model), and compare the outputs bit for bit with ``tb.golden``.
"""

import dataclasses
import json
from pathlib import Path

import numpy as np

from boards.common import BoardCore
from gen.emit import manifest, to_verilog

from .accel_run import expected_output
from .run import run_bench

__all__ = ["BoardResult", "write_core", "run_board_layer"]


@dataclasses.dataclass
class BoardResult:
    """What the bench reported, the outputs and the golden model's."""

    report: dict
    out:    np.ndarray
    expect: np.ndarray

    @property
    def mismatches(self):
        return np.argwhere(self.out != self.expect)


def write_core(config, out_dir, *, divisor, rx_depth):
    """Write ``BoardCore``'s Verilog and manifest into ``out_dir``; returns their paths."""
    core = BoardCore(config=config, divisor=divisor, rx_depth=rx_depth)
    name = f"board_{config.top_name}"
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    vfile, mfile = out / f"{name}.v", out / f"{name}.json"
    vfile.write_text(to_verilog(core, name), encoding="utf-8")
    mfile.write_text(json.dumps(manifest(config, core, name), indent=2) + "\n",
                     encoding="utf-8")
    return vfile, mfile


def run_board_layer(config, layer, x, w, bias, *, shift=None, relu=False, divisor=4,
                    rx_depth=64, skew=0.0, sim="icarus", build_dir, seed=None, waves=None,
                    log_file=None):
    """Run ``layer`` through ``BoardCore`` for ``config`` with the host driver over a
    serial line of ``divisor`` cycles per bit (the host's bits ``1 + skew`` times as long);
    returns a :class:`BoardResult`. A failed bench raises ``tb.run.BenchFailed``."""
    build_dir = Path(build_dir).resolve()
    build_dir.mkdir(parents=True, exist_ok=True)
    case_file = build_dir / "case.json"
    case_file.write_text(json.dumps({
        "layer": {k: v for k, v in dataclasses.asdict(layer).items() if k != "name"},
        "x": np.asarray(x).tolist(), "w": np.asarray(w).tolist(),
        "bias": np.asarray(bias).tolist(), "shift": shift, "relu": relu}))
    report = run_bench(
        config, bench="board_bench", sim=sim, build_dir=build_dir, seed=seed, waves=waves,
        log_file=log_file,
        design=lambda rtl: write_core(config, rtl, divisor=divisor, rx_depth=rx_depth),
        env={"ROWLOOM_CASE": case_file, "ROWLOOM_DIVISOR": divisor, "ROWLOOM_SKEW": repr(skew)})
    expect = expected_output(layer, config, x, w, bias, shift=shift, relu=relu)
    return BoardResult(report=report, out=np.array(report["out"]), expect=expect)
