"""cocotb bench for the whole accelerator on its generated Verilog.

The host side (``tb.accel_run``) compiles a layer with ``gen.driver`` and hands the bench a
program file (``ROWLOOM_PROGRAM``): for each part of the layer (one, unless the input is
too big for the global buffer), register writes, the global-buffer image and the
filter-weight stream. Per part the bench only loads configuration and data, pulses
``start``, feeds the weight stream and waits for ``done``; it records every output beat
and the counters after each part (they count since reset, so the last cover all). The
control of the layer is the hardware's. Streams get random idle cycles and backpressure
(``ROWLOOM_PRESSURE``). The report (``ROWLOOM_REPORT``) carries the outputs for the host
to compare bit for bit with the golden model.
"""

import json
import os
import time

import cocotb
from cocotb.triggers import RisingEdge, Timer

from gen.config import Config
from hw.accel import Accelerator
from tb.common.env import TbBase
from tb.common.stream import StreamSink, StreamSource, pack, unpack


@cocotb.test()
async def run_program(dut):
    tb = TbBase(dut)
    cfg = tb.config
    with open(os.environ["ROWLOOM_PROGRAM"], encoding="utf-8") as f:
        prog = json.load(f)
    pressure = float(os.environ.get("ROWLOOM_PRESSURE", "0.2"))
    beat = cfg["beat"]
    acc_bits = tb.manifest["derived"]["acc_bits"]
    acc_signed = tb.manifest["derived"]["acc_signed"]
    fields = tb.ports["cfg__payload"]["fields"]
    data_bits = fields["data"]["width"]
    n_bits = tb.ports["out__payload"]["fields"]["n"]["width"]

    dut.start.value = 0
    cfg_src = StreamSource(dut, "cfg", dut.clk)
    act_src = StreamSource(dut, "act_in", dut.clk, idle=pressure, rng=tb.rng)
    wgt_src = StreamSource(dut, "wgt_in", dut.clk, idle=pressure, rng=tb.rng)
    values = []
    beats = []

    def on_beat(word):
        n = (word >> (acc_bits * beat)) & ((1 << n_bits) - 1)
        values.extend(unpack(word, acc_bits, beat, acc_signed)[:n])
        beats.append(n)
    StreamSink(dut, "out", dut.clk, stall=pressure, rng=tb.rng, callback=on_beat)
    await tb.reset()

    async def progress(total):
        # One timer trigger per interval, so Python is not woken every cycle.
        every = int(os.environ.get("ROWLOOM_PROGRESS_CYCLES", "200000"))
        t0 = tb.now_cycles()
        while True:
            await Timer(every * 10, "ns")
            tb.log.info("rowloom progress: %d of %d outputs after %d cycles",
                        len(values), total, tb.now_cycles() - t0)
    cocotb.start_soon(progress(prog["outputs"]))
    wall0 = time.monotonic()
    timeout = int(os.environ.get("ROWLOOM_TIMEOUT", "50000000"))
    names = Accelerator.counter_names(Config.from_dict(cfg))
    cycles, sent, after_part = 0, 0, []
    for part in prog["parts"]:
        cfg_src.send((data & ((1 << data_bits) - 1)) << fields["data"]["offset"]
                     | addr << fields["addr"]["offset"] for addr, data in part["cfg"])
        glb = part["glb"] + [0] * (-len(part["glb"]) % beat)
        act_src.send(pack(glb[i:i + beat], cfg["act_width"]) for i in range(0, len(glb), beat))
        await cfg_src.wait_sent()
        await act_src.wait_sent()
        await RisingEdge(dut.clk)
        t0 = tb.now_cycles()
        dut.start.value = 1
        await RisingEdge(dut.clk)
        dut.start.value = 0
        wgt_src.send(pack(b, cfg["wgt_width"]) for b in part["weights"])
        await tb.wait_high(dut.done, timeout)
        cycles += tb.now_cycles() - t0
        await RisingEdge(dut.clk)
        sent += len(part["weights"])
        assert wgt_src.sent == sent, "the design took too few weight beats"
        after_part.append({**{name: int(getattr(dut, name).value) for name in names},
                           "wall_s": time.monotonic() - wall0})
    assert len(values) == prog["outputs"], \
        f"{len(values)} outputs arrived, the program produces {prog['outputs']}"

    counters = {name: int(getattr(dut, name).value) for name in names}
    report = {"bench": "accel_bench", "top": tb.manifest["top"], "seed": tb.seed,
              "cycles_start_to_done": cycles, "counters": counters,
              "counters_after_part": after_part, "outputs": values, "beats_out": len(beats)}
    with open(os.environ["ROWLOOM_REPORT"], "w", encoding="utf-8") as f:
        json.dump(report, f)
