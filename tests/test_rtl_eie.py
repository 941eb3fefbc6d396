"""The EIE engine's generated Verilog under Icarus and Verilator: random sparse layers from
1% to 100% density and the named cases of tb.eie_cases, all in one simulation per
simulator, with random idle cycles on cmd and backpressure on out."""

import os
import random

import numpy as np
import pytest

from gen.eie_config import eie_preset
from tb.eie_cases import NAMED_CASES, active_entries, named_case, random_case
from tb.eie_run import run_cases
from tb.run import SIMULATORS

DENSITIES = (0.01, 0.1, 0.25, 0.5, 1.0)


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
def test_eie_rtl(build_dir, sim):
    cfg = eie_preset("eie-tiny")
    seed = int(os.environ.get("ROWLOOM_SEED") or random.randrange(1 << 31))
    print(f"data seed={seed} (replay with ROWLOOM_SEED={seed})")
    rng = np.random.default_rng(seed)
    cases = [random_case(cfg, rng, d) for d in DENSITIES]
    cases += [named_case(name, cfg, rng) for name in NAMED_CASES]
    assert all(case is not None for case in cases)
    results, report = run_cases(cfg, cases, sim=sim, build_dir=build_dir, seed=seed,
                                pressure=0.3)
    entries_total = 0
    for res in results:
        bad = res.mismatches
        assert bad.size == 0, (f"seed={seed} {res.case.name}: {len(bad)} mismatches, first "
                               f"at {tuple(bad[0])}: got {res.out[tuple(bad[0])]}, "
                               f"expected {res.expect[tuple(bad[0])]}")
        if len(res.case.layers) == 1:
            walked = [active_entries(res.case.layers[0], a) for a in res.case.vectors]
            assert res.counters["entries"] == sum(e for e, _, _ in walked), res.case.name
            assert res.counters["padding"] == sum(p for _, p, _ in walked), res.case.name
            assert res.counters["broadcasts"] == np.count_nonzero(res.case.vectors)
        entries_total += res.counters["entries"]
        stats = res.stats()
        assert 0 <= stats["load_efficiency"] <= 1 and 0 <= stats["pe_utilization"] <= 1
    assert sum(report["pe_busy"]) == entries_total
    assert any(res.counters["padding"] for res in results)
