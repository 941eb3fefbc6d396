"""Run input vectors through the generated EIE engine and check them against the golden
model.

Used by the tier-2 tests, by ``rowloom fc`` and by the benchmarks: compile each model with
the host driver, run ``tb.eie_bench`` under Icarus or Verilator (all cases in one
simulation), and compare every output bit for bit with ``tb.eie_golden``.
"""

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gen.eie_driver import compile_model, pack, vector_writes

from .eie_golden import forward
from .run import run_bench

__all__ = ["EieCase", "EieResult", "run_cases", "run_model"]


@dataclass
class EieCase:
    """A model and the vectors to run through it; ``program``, when the caller has compiled
    the model already, is what ``gen.eie_driver.compile_model`` made of it."""

    layers: list
    vectors: np.ndarray
    relu: list
    shift: list
    name: str = "case"
    program: object = None


@dataclass
class EieResult:
    """Outputs (one row per vector), golden outputs and what the run measured."""

    case: EieCase
    out: np.ndarray
    expect: np.ndarray
    runs: list
    load_cycles: int
    pes: int
    counters: dict = field(default_factory=dict)

    @property
    def mismatches(self):
        return np.argwhere(self.out != self.expect)

    def stats(self):
        """Cycles, counters and load efficiency of this case's vectors."""
        c, n = self.counters, self.pes
        cycles = sum(r["cycles_start_to_done"] for r in self.runs)
        compute = c["compute"]
        return {
            "vectors": len(self.runs),
            "pes": n,
            "cycles": cycles,
            "cycles_per_vector": cycles / len(self.runs),
            "compute_cycles": compute,
            "broadcasts": c["broadcasts"],
            "broadcast_stalls": c["stalls"],
            "entries": c["entries"],
            "padding_entries": c["padding"],
            "starvation_bubbles": c["starved"],
            # EIE's figure: the share of PE-cycles in compute that were not starved.
            "load_efficiency": 1 - c["starved"] / (compute * n) if compute else 0.0,
            # Entries walked per PE-cycle of compute (1.0: every PE on an entry every cycle).
            "pe_utilization": c["entries"] / (compute * n) if compute else 0.0,
            "model_load_cycles": self.load_cycles,
        }


def run_cases(config, cases, *, sim="verilator", build_dir, seed=None, pressure=0.2,
              waves=None, log_file=None):
    """Run every :class:`EieCase` on ``config``'s RTL in one simulation; returns an
    :class:`EieResult` per case and the bench's report."""
    build_dir = Path(build_dir)
    build_dir.mkdir(parents=True, exist_ok=True)
    words, programs = {"cases": len(cases)}, []
    for c, case in enumerate(cases):
        case.vectors = np.atleast_2d(np.asarray(case.vectors))
        program = case.program or compile_model(config, case.layers, relu=case.relu,
                                                shift=case.shift)
        programs.append(program)
        words[f"c{c}_model"] = np.array(pack(config, program.writes), dtype=np.uint64)
        words[f"c{c}_rows"] = program.rows
        words[f"c{c}_vectors"] = len(case.vectors)
        for i, a in enumerate(case.vectors):
            words[f"c{c}_v{i}"] = np.array(pack(config, vector_writes(config, program, a)),
                                           dtype=np.uint64)
    prog_file = build_dir / "program.npz"
    np.savez(prog_file, **words)
    report = run_bench(config, bench="eie_bench", top="accel", sim=sim, build_dir=build_dir,
                       seed=seed, waves=waves, log_file=log_file,
                       env={"ROWLOOM_PROGRAM": prog_file.resolve(),
                            "ROWLOOM_PRESSURE": pressure})
    results, at, before = [], 0, None
    for case, program, got in zip(cases, programs, report["cases"], strict=True):
        n = len(case.vectors) * program.rows
        out = np.array(report["outputs"][at:at + n], dtype=np.int64)
        at += n
        expect = np.stack([np.asarray(forward(case.layers, a, relu=case.relu,
                                              shift=case.shift, act_width=config.act_width))
                           for a in case.vectors])
        after = got["runs"][-1]["counters"]
        counters = {k: v - (before[k] if before else 0) for k, v in after.items()}
        before = after
        results.append(EieResult(case=case, out=out.reshape(len(case.vectors), program.rows),
                                 expect=expect.astype(np.int64), runs=got["runs"],
                                 load_cycles=got["load_cycles"], pes=config.pes,
                                 counters=counters))
    return results, report


def run_model(config, layers, vectors, *, relu, shift, program=None, **kwargs):
    """Run the rows of ``vectors`` through one model (``program``: the model compiled
    already); returns its :class:`EieResult`."""
    results, _ = run_cases(config, [EieCase(layers, vectors, relu, shift, program=program)],
                           **kwargs)
    return results[0]
