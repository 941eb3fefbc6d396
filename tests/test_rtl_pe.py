"""The 1-D PE's generated Verilog under Icarus and Verilator (cocotb bench tb/pe_bench.py)."""

import pytest

from tb.run import SIMULATORS, run_bench

from .test_pe import VARIANTS


@pytest.mark.rtl
@pytest.mark.parametrize("sim", SIMULATORS)
@pytest.mark.parametrize("variant", list(VARIANTS))
def test_pe_rtl(build_dir, sim, variant):
    report = run_bench(VARIANTS[variant], bench="pe_bench", top="pe", sim=sim,
                       build_dir=build_dir,
                       env={"ROWLOOM_JOBS": 12, "ROWLOOM_PRESSURE": 0.4})
    expected_outputs = sum(shape["f"] * shape["p"] for shape in report["shapes"])
    assert report["jobs"] == 12
    assert report["outputs_checked"] == expected_outputs > 0
