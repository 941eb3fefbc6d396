"""Run a CONV layer on the generated accelerator RTL and check it against the golden model.

Used by the tier-2 tests and by ``rowloom conv``: compile the layer with the host driver,
run ``tb.accel_bench`` under Icarus or Verilator, decode the outputs and compare them bit
for bit with ``tb.golden``.
"""

import contextlib
import json
import threading
from pathlib import Path

import numpy as np

from gen.driver import compile_layer

from .golden import conv2d, requantize, saturate
from .run import run_bench

__all__ = ["run_layer", "run_layers", "echo_progress", "expected_output", "random_config",
           "random_layer", "random_layer_data", "LayerResult"]


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


@contextlib.contextmanager
def echo_progress(log, prefix="  "):
    """While the block runs, print the bench's progress lines from the simulator log (the
    block writes it afresh, so an earlier run's log is removed first)."""
    Path(log).unlink(missing_ok=True)
    stop = threading.Event()

    def watch():
        pos = 0
        while not stop.wait(2.0):
            try:
                with open(log, encoding="utf-8", errors="replace") as f:
                    f.seek(pos)
                    chunk = f.read()
                    pos = f.tell()
            except OSError:
                continue
            for line in chunk.splitlines():
                if "rowloom progress:" in line:
                    print(prefix + line.split("rowloom progress:", 1)[1].strip(), flush=True)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        yield
    finally:
        stop.set()
        watcher.join()


def random_config(rng, *, name="random", max_rows=4, max_cols=4):
    """A random small design: array shape, widths and signedness, scratchpad, lane and
    buffer sizes, limits, beat, and every option on or off, drawn until the configuration
    is valid. ``rng`` is a NumPy ``Generator``."""
    from gen.config import Config, ConfigError

    def pick(values):
        return values[int(rng.integers(0, len(values)))]

    def flag():
        return bool(rng.integers(0, 2))
    while True:
        max_s, max_stride = int(rng.integers(1, 6)), int(rng.integers(1, 5))
        fields = dict(
            name=name, rows=int(rng.integers(1, max_rows + 1)),
            cols=int(rng.integers(1, max_cols + 1)), act_width=pick([4, 6, 8, 12, 16]),
            wgt_width=pick([3, 4, 8, 12]), act_signed=flag(), wgt_signed=flag(),
            out_width=pick([4, 8, 12]), product_reg=flag(), operand_reg=flag(),
            zero_gate=flag(), filter_spad=pick([max_s, 8, 12, 16, 24, 32]),
            ifmap_spad=pick([max(max_s, max_stride), 6, 8, 12]),
            psum_spad=pick([1, 2, 4, 8, 16]), max_n=pick([1, 2]), max_c=pick([4, 8]),
            max_m=pick([4, 8]), max_h=pick([8, 12]), max_w=pick([8, 12]),
            max_r=int(rng.integers(1, 6)), max_s=max_s, max_stride=max_stride,
            max_pad=int(rng.integers(0, 3)), psum_lane=pick([64, 128, 256]),
            lane_banks=pick([1, 2, 4]), lane_queue=int(rng.integers(1, 4)),
            glb_kib=pick([1, 2, 4, 8]), glb_banks=pick([1, 2]), beat=pick([1, 2, 4, 8]),
            bus_stage=flag(), drain_cut=flag(), zero_skip=flag(),
            skip_queue=pick([1, 2, 4, 16]), skip_slack=pick([0, 3, 24]),
            counter_width=pick([24, 32]))
        try:
            return Config(**fields)
        except ConfigError:
            continue


def random_layer(config, rng, *, max_c=None, max_m=None, max_hw=None):
    """A random layer the design can run: filter up to the array's rows and ``max_r``/
    ``max_s``, stride 1 to ``max_stride``, padding 0 to ``max_pad``, batch 1 or 2, and C,
    M, H, W up to the design's limits or the given caps (to keep simulations short)."""
    from gen.mapper import Layer
    c_hi = min(config.max_c, max_c or config.max_c)
    m_hi = min(config.max_m, max_m or config.max_m)
    hw_hi = min(config.max_h, config.max_w, max_hw or config.max_h)
    while True:
        r = int(rng.integers(1, min(config.rows, config.max_r) + 1))
        s = int(rng.integers(1, min(config.max_s, config.ifmap_spad) + 1))
        u = int(rng.integers(1, min(config.max_stride, config.ifmap_spad) + 1))
        pad = int(rng.integers(0, config.max_pad + 1))
        h, w = (int(rng.integers(1, hw_hi + 1)) for _ in range(2))
        try:
            return Layer(n=int(rng.integers(1, min(2, config.max_n) + 1)),
                         c=int(rng.integers(1, c_hi + 1)), h=h, w=w,
                         m=int(rng.integers(1, m_hi + 1)), r=r, s=s, stride=u, pad=pad)
        except ValueError:
            continue        # the filter does not fit the padded input: draw again


def expected_output(layer, config, x, w, bias=None, *, shift=None, relu=False):
    """Golden output of a layer as the accelerator computes it: without ``shift``, the
    accumulators plus bias (ReLU if asked) saturated to the accumulator's range (a bias
    near its end can carry a sum past it); with it, requantized."""
    acc = conv2d(x, w, bias, stride=layer.stride, padding=layer.pad)
    if shift is None:
        return saturate(np.maximum(acc, 0) if relu else acc, config.acc_bits,
                        config.acc_signed)
    return requantize(acc, shift=shift, relu=relu, out_width=config.out_width,
                      out_signed=True)


class LayerResult:
    """Output, golden output, counters and derived figures of one run."""

    def __init__(self, layer, config, program, report, out, expect, counters):
        self.layer, self.config, self.program, self.report = layer, config, program, report
        self.out, self.expect = out, expect
        self.counters = counters

    @property
    def mismatches(self):
        return np.argwhere(self.out != self.expect)

    def stats(self):
        c = self.counters
        cycles = c["cycles"]
        mp = self.program.mapping
        est = sum(part.mapping.est_cycles for part in self.program.parts)
        skip = {} if "seen" not in c else {"zero_skip": {
            "values_seen": c["seen"], "zeros_skipped": c["skipped"],
            "zero_fraction": c["skipped"] / c["seen"] if c["seen"] else 0.0,
            "wait_pe_cycles": c["waits"]}}
        return {
            "layer": {k: getattr(self.layer, k) for k in ("n", "c", "h", "w", "m", "r", "s",
                                                         "stride", "pad")},
            "mapping": mp.summary(),
            "parts": len(self.program.parts),
            "cycles": cycles,
            "macs_layer": self.layer.macs,
            "macs_performed": c["macs"],
            "macs_gated": c["gated"],
            "pes": self.config.pes,
            "active_pes": mp.active_pes,
            "mac_utilization": self.layer.macs / (cycles * self.config.pes) if cycles else 0,
            # The mapping's bound: every PE of every pass busy from its first MAC to its last.
            "est_utilization": self.layer.macs / (est * self.config.pes),
            "pe_busy_fraction": c["pe_busy"] / (cycles * self.config.pes) if cycles else 0,
            "sim_wall_s": c.get("wall_s"),
            "accesses": {
                "psum_lane_reads": c["lane_reads"], "psum_lane_writes": c["lane_writes"],
                "inter_pe_psum": c["psum_hops"], "glb_reads": c["glb_reads"],
                "glb_writes": c["glb_writes"], "words_in": c["words_in"],
                "words_out": c["words_out"],
            },
            **skip,
        }


def run_layers(config, cases, *, sim="verilator", build_dir, seed=None, pressure=0.2,
               waves=None, log_file=None):
    """Run several layers one after another in one simulation of ``config``'s RTL (one
    build, one start-up). ``cases`` are dicts with ``layer, x, w`` and optionally ``bias,
    shift, relu`` and ``program`` (what ``gen.driver.compile_layer`` made of them, when the
    caller has compiled the layer already); returns a :class:`LayerResult` per case, with
    its own counters."""
    programs = [c.get("program") or
                compile_layer(c["layer"], config, c["x"], c["w"], c.get("bias"),
                              shift=c.get("shift"), relu=c.get("relu", False)) for c in cases]
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    prog_file = build_dir / "program.json"
    parts = [{"cfg": part.cfg, "glb": part.glb, "weights": part.weights}
             for program in programs for part in program.parts]
    total = sum(len(program.out_order) for program in programs)
    prog_file.write_text(json.dumps({"parts": parts, "outputs": total}))
    report = run_bench(config, bench="accel_bench", top="accel", sim=sim, build_dir=build_dir,
                       seed=seed, waves=waves, log_file=log_file,
                       env={"ROWLOOM_PROGRAM": prog_file.resolve(),
                            "ROWLOOM_PRESSURE": pressure})
    results, at, part, before = [], 0, 0, None
    for case, program in zip(cases, programs, strict=True):
        n = len(program.out_order)
        part += len(program.parts)
        after = report["counters_after_part"][part - 1]
        counters = {k: v - (before[k] if before else 0) for k, v in after.items()}
        counters["wall_s"] = round(counters["wall_s"], 3)
        before = after
        out = program.decode(report["outputs"][at:at + n])
        at += n
        expect = expected_output(case["layer"], config, case["x"], case["w"], case.get("bias"),
                                 shift=case.get("shift"), relu=case.get("relu", False))
        results.append(LayerResult(case["layer"], config, program, report, out, expect,
                                   counters))
    return results


def run_layer(layer, config, x, w, bias=None, *, shift=None, relu=False, sim="verilator",
              build_dir, seed=None, pressure=0.2, waves=None, log_file=None, program=None):
    """Run ``layer`` on ``config``'s RTL (``program``: the layer compiled already, as
    :func:`run_layers` takes it); returns a :class:`LayerResult`."""
    case = {"layer": layer, "x": x, "w": w, "bias": bias, "shift": shift, "relu": relu,
            "program": program}
    return run_layers(config, [case], sim=sim, build_dir=build_dir, seed=seed,
                      pressure=pressure, waves=waves, log_file=log_file)[0]
