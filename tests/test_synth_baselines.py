"""Synthesis results against the stored baselines (``make synth`` writes them with
``--update-baselines``): a change that bloats the design, or loses a DSP or a block RAM
mapping, fails here. The small cases that take seconds run in the default suite (so a
drift cannot go unseen between ``make synth`` runs); the rest run with ``pytest -m synth``."""

import json
from pathlib import Path

import pytest

from gen.area import synthesize
from gen.config import preset

BASELINES = Path(__file__).parent / "baselines" / "synth.json"
CASES = json.loads(BASELINES.read_text()) if BASELINES.exists() else {}

# Logic may move a little with tool versions; hard blocks may not. Soft resources also
# have an absolute slack of a few cells, or a count near zero (wide-mux cells on a small
# design) could not move at all.
TOLERANCE = {"lut": 0.05, "carry": 0.05, "ff": 0.05, "gate": 0.05, "mux": 0.10,
             "lutram": 0.10, "io": 0.0, "other": 0.10}
SLACK = {"mux": 8, "lutram": 4, "other": 4}

# About 15 s of yosys each: the PE-area goal's target and the iCEBreaker's device.
FAST = {"tiny/ecp5", "up5k/ice40"}


@pytest.mark.parametrize("case", [pytest.param(case, marks=() if case in FAST
                                               else pytest.mark.synth)
                                  for case in sorted(CASES)])
def test_synth_matches_baseline(case, tmp_path):
    name, target = case.split("/")
    got = synthesize(preset(name), target, work_dir=tmp_path, log=lambda _: None)["total"]
    want = CASES[case]
    for res in sorted(set(want) | set(got)):
        w, g = want.get(res, 0), got.get(res, 0)
        tol = TOLERANCE.get(res, 0.0)
        assert abs(g - w) <= max(tol * w, SLACK.get(res, 0)), (
            f"{case}: {res} = {g}, baseline {w} (tolerance {tol:.0%}); if the change is "
            f"intended, run scripts/synth_all.py --preset {name} --target {target} "
            f"--update-baselines")
