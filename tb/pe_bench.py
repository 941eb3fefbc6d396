"""cocotb bench for the row-stationary 1-D PE on its generated Verilog.

For each random job it loads ``cfg``, pulses ``start`` and waits for ``done`` with one
trigger; stream sources and sinks with random idle cycles and backpressure move the data,
and a scoreboard compares every ``psum_out`` value with the golden model bit for bit.
Settings: ``ROWLOOM_JOBS`` (default 10), ``ROWLOOM_PRESSURE`` (idle/stall probability,
default 0.3), ``ROWLOOM_SHAPES`` (JSON list of job shapes; default random). Writes a report
to ``ROWLOOM_REPORT``.
"""

import json
import os

import cocotb

from gen.config import Config
from tb.common.env import TbBase, pack_struct
from tb.common.scoreboard import Scoreboard
from tb.common.stream import StreamMonitor, StreamSink, StreamSource
from tb.pe_jobs import SHAPE_KEYS, pe_job_streams, random_pe_jobs


@cocotb.test()
async def random_jobs(dut):
    tb = TbBase(dut)
    config = Config.from_dict(tb.config)
    n_jobs = int(os.environ.get("ROWLOOM_JOBS", "10"))
    pressure = float(os.environ.get("ROWLOOM_PRESSURE", "0.3"))
    shapes = json.loads(os.environ.get("ROWLOOM_SHAPES", "null"))
    jobs = random_pe_jobs(tb.rng, config, n_jobs, shapes=shapes)

    dut.start.value = 0
    dut.cfg.value = 0
    board = Scoreboard("psum_out")
    wgt = StreamSource(dut, "wgt", dut.clk, idle=pressure, rng=tb.rng)
    act = StreamSource(dut, "act", dut.clk, idle=pressure, rng=tb.rng)
    psum = StreamSource(dut, "psum_in", dut.clk, idle=pressure, rng=tb.rng)
    StreamSink(dut, "psum_out", dut.clk, stall=pressure, rng=tb.rng,
               signed=config.acc_signed, callback=board.receive)
    # The PE must take exactly the values each job needs, so the next job starts aligned.
    skip = config.beat if config.zero_skip else None
    taken = StreamMonitor(dut, "act", dut.clk, signed=config.act_signed and not skip)

    def act_stream(job):
        values = pe_job_streams(job, skip)[1]
        if skip:    # entries of the zero-skip encoder, packed into the port's struct
            return [pack_struct(tb.ports["act__payload"], e) for e in values]
        return values
    await tb.reset()

    cycles = macs = gated = 0
    job_cycles = []
    for i, job in enumerate(jobs):
        board.expect(job["expect"])
        wgt_values, act_values = pe_job_streams(job)[0], act_stream(job)
        wgt.send(wgt_values)
        act.send(act_values)
        psum.send(job["psum"])
        dut.cfg.value = pack_struct(tb.ports["cfg"], job)
        dut.start.value = 1
        t0 = tb.now_cycles()
        await cocotb.triggers.RisingEdge(dut.clk)
        dut.start.value = 0
        # A job needs at most a few cycles per value even under heavy backpressure.
        budget = 50 * (job["macs"] + len(act_values) + job["f"] * job["p"]) + 100
        await tb.wait_high(dut.done, budget)
        job_cycles.append(tb.now_cycles() - t0)
        cycles += job_cycles[-1]
        if skip:    # non-zero products, and a zero one per window without entries
            empty = job["empty"]
            macs += job["macs"] - job["zeros"] + (0 if config.zero_gate else empty)
            gated += empty if config.zero_gate else 0
        else:
            gz = job["zeros"] if config.zero_gate else 0
            macs, gated = macs + job["macs"] - gz, gated + gz
        assert board.pending == 0, f"job {i}: done before all outputs arrived"
        sent = [v for j in jobs[:i + 1] for v in act_stream(j)]
        assert taken.transfers == sent, f"job {i}: act values taken differ from those sent"
        assert (int(dut.macs.value), int(dut.gated.value)) == (macs, gated), \
            f"job {i}: counters macs/gated {int(dut.macs.value)}/{int(dut.gated.value)}, " \
            f"expected {macs}/{gated}"
    board.check()

    report = {
        "bench": "pe_bench", "top": tb.manifest["top"], "seed": tb.seed, "jobs": len(jobs),
        "outputs_checked": board.matched, "macs": macs, "gated": gated, "cycles": cycles,
        "pressure": pressure,
        "shapes": [{k: j[k] for k in SHAPE_KEYS} for j in jobs],
        "job_cycles": job_cycles, "job_macs": [j["macs"] for j in jobs],
    }
    with open(os.environ["ROWLOOM_REPORT"], "w", encoding="utf-8") as f:
        json.dump(report, f, indent=2)
