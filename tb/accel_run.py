"""Run a CONV layer on the generated accelerator RTL and check it against the golden model.

Used by the tier-2 tests and by ``rowloom conv``: compile the layer with the host driver,
run ``tb.accel_bench`` under Icarus or Verilator, decode the outputs and compare them bit
for bit with ``tb.golden``.
"""

import json
from pathlib import Path

import numpy as np

from gen.driver import compile_layer

from .golden import conv2d, requantize
from .run import run_bench

__all__ = ["run_layer", "expected_output", "random_layer_data", "LayerResult"]


def random_layer_data(layer, config, rng, *, zeros=0.3, bias_limit=1000):
    """Random inputs (with a fraction ``zeros`` of zero activations, as after ReLU),
    weights and biases for ``layer`` within ``config``'s widths. ``rng`` is a NumPy
    ``Generator``."""
    x = rng.integers(config.act_range[0], config.act_range[1] + 1,
                     size=(layer.n, layer.c, layer.h, layer.w))
    x[rng.random(x.shape) < zeros] = 0
    w = rng.integers(config.wgt_range[0], config.wgt_range[1] + 1,
                     size=(layer.m, layer.c, layer.r, layer.s))
    bias = rng.integers(-bias_limit, bias_limit, size=layer.m)
    return x, w, bias


def expected_output(layer, config, x, w, bias=None, *, shift=None, relu=False):
    """Golden output of a layer as the accelerator computes it."""
    acc = conv2d(x, w, bias, stride=layer.stride, padding=layer.pad)
    if shift is None:
        return np.maximum(acc, 0) if relu else acc
    return requantize(acc, shift=shift, relu=relu, out_width=config.out_width,
                      out_signed=True)


class LayerResult:
    """Output, golden output, counters and derived figures of one run."""

    def __init__(self, layer, config, program, report, out, expect):
        self.layer, self.config, self.program, self.report = layer, config, program, report
        self.out, self.expect = out, expect
        self.counters = report["counters"]

    @property
    def mismatches(self):
        return np.argwhere(self.out != self.expect)

    def stats(self):
        c = self.counters
        cycles = c["cycles"]
        mp = self.program.mapping
        return {
            "layer": {k: getattr(self.layer, k) for k in ("n", "c", "h", "w", "m", "r", "s",
                                                         "stride", "pad")},
            "mapping": mp.summary(),
            "cycles": cycles,
            "macs_layer": self.layer.macs,
            "macs_performed": c["macs"],
            "macs_gated": c["gated"],
            "pes": self.config.pes,
            "active_pes": mp.active_pes,
            "mac_utilization": self.layer.macs / (cycles * self.config.pes) if cycles else 0,
            "pe_busy_fraction": c["pe_busy"] / (cycles * self.config.pes) if cycles else 0,
            "accesses": {
                "psum_lane_reads": c["lane_reads"], "psum_lane_writes": c["lane_writes"],
                "inter_pe_psum": c["psum_hops"], "glb_reads": c["glb_reads"],
                "glb_writes": c["glb_writes"], "words_in": c["words_in"],
                "words_out": c["words_out"],
            },
        }


def run_layer(layer, config, x, w, bias=None, *, shift=None, relu=False, sim="verilator",
              build_dir, seed=None, pressure=0.2, waves=None, log_file=None):
    """Run ``layer`` on ``config``'s RTL; returns a :class:`LayerResult`."""
    program = compile_layer(layer, config, x, w, bias, shift=shift, relu=relu)
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    prog_file = build_dir / "program.json"
    prog_file.write_text(json.dumps({"cfg": program.cfg, "glb": program.glb,
                                     "weights": program.weights,
                                     "outputs": len(program.out_order)}))
    report = run_bench(config, bench="accel_bench", top="accel", sim=sim, build_dir=build_dir,
                       seed=seed, waves=waves, log_file=log_file,
                       env={"ROWLOOM_PROGRAM": prog_file.resolve(),
                            "ROWLOOM_PRESSURE": pressure})
    out = program.decode(report["outputs"])
    expect = expected_output(layer, config, x, w, bias, shift=shift, relu=relu)
    return LayerResult(layer, config, program, report, out, expect)
