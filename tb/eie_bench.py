"""cocotb bench for the EIE engine on its generated Verilog.

The host side (``tb.eie_run``) compiles models with ``gen.eie_driver`` and hands the bench
the ``cmd`` words (``ROWLOOM_PROGRAM``, an ``.npz``) of one or more cases, each a model's
writes and, per input vector, the writes that load it. The bench loads each model, then
per vector loads it, pulses ``start`` and waits for ``done`` while a sink takes the
outputs; the layers, the scan of the input and
the write-back between layers are the hardware's. The ``cmd`` stream gets random idle
cycles and ``out`` random backpressure (``ROWLOOM_PRESSURE``). The report
(``ROWLOOM_REPORT``) has the outputs, the counters after each vector and every PE's busy
cycles, for the host to compare bit for bit with the golden model.
"""

import json
import os
import time

import cocotb
import numpy as np
from cocotb.triggers import RisingEdge, Timer

from hw.eie import EieEngine
from tb.common.env import TbBase
from tb.common.stream import StreamSink, StreamSource


@cocotb.test()
async def run_vectors(dut):
    tb = TbBase(dut)
    prog = np.load(os.environ["ROWLOOM_PROGRAM"])
    pressure = float(os.environ.get("ROWLOOM_PRESSURE", "0.2"))

    dut.start.value = 0
    dut.stat_pe.value = 0
    cmd = StreamSource(dut, "cmd", dut.clk, idle=pressure, rng=tb.rng)
    outputs = []
    StreamSink(dut, "out", dut.clk, stall=pressure, rng=tb.rng, signed=True,
               callback=outputs.append)
    await tb.reset()

    wall0 = time.monotonic()
    timeout = int(os.environ.get("ROWLOOM_TIMEOUT", "50000000"))
    names = EieEngine.COUNTERS
    cases = []
    for c in range(int(prog["cases"])):
        model = prog[f"c{c}_model"].tolist()
        t0 = tb.now_cycles()
        cmd.send(model)
        await cmd.wait_sent()
        load_cycles = tb.now_cycles() - t0
        tb.log.info("rowloom progress: case %d: model loaded, %d writes in %d cycles", c,
                    len(model), load_cycles)
        runs = []
        vectors = int(prog[f"c{c}_vectors"])
        for i in range(vectors):
            cmd.send(prog[f"c{c}_v{i}"].tolist())
            await cmd.wait_sent()
            await RisingEdge(dut.clk)
            t0 = tb.now_cycles()
            dut.start.value = 1
            await RisingEdge(dut.clk)
            dut.start.value = 0
            await tb.wait_high(dut.done, timeout)
            cycles = tb.now_cycles() - t0
            await RisingEdge(dut.clk)
            runs.append({"cycles_start_to_done": cycles,
                         "counters": {name: int(getattr(dut, name).value) for name in names},
                         "wall_s": time.monotonic() - wall0})
            if (i + 1) % 50 == 0:
                tb.log.info("rowloom progress: %d of %d vectors", i + 1, vectors)
        cases.append({"load_cycles": load_cycles, "runs": runs})
    rows = sum(int(prog[f"c{c}_rows"]) * int(prog[f"c{c}_vectors"])
               for c in range(int(prog["cases"])))
    assert len(outputs) == rows, f"{len(outputs)} outputs arrived, {rows} expected"

    busy = []
    for k in range(int(tb.config["pes"])):
        dut.stat_pe.value = k
        await Timer(1, "ns")
        busy.append(int(dut.stat_busy.value))
    report = {"bench": "eie_bench", "top": tb.manifest["top"], "seed": tb.seed,
              "cases": cases, "pe_busy": busy,
              "outputs": outputs}
    with open(os.environ["ROWLOOM_REPORT"], "w", encoding="utf-8") as f:
        json.dump(report, f)
