"""cocotb bench for a board's logic (``boards.common.BoardCore``) on its generated Verilog.

The host side (``tb.board_run``) hands the bench a CONV layer with its data
(``ROWLOOM_CASE``). The bench plays the host computer: ``gen.hostlink.HostLinkDriver``
runs in a bridge thread and talks through ``tb.uart_model`` to the design's serial pins,
bit by bit, with the host's baud rate off by ``ROWLOOM_SKEW``: it connects, runs the layer
and reads the counters. Then it presses the reset button, connects again and reads the
counters once more. The report (``ROWLOOM_REPORT``) carries the outputs, for the host to
compare bit for bit with the golden model, and what the bench saw on the pins.
"""

import json
import os

import cocotb
import numpy as np
from cocotb.task import bridge
from cocotb.triggers import ClockCycles, RisingEdge

from gen.config import Config
from gen.driver import compile_layer
from gen.hostlink import HostLinkDriver
from gen.mapper import Layer
from tb.common.env import CLOCK_NS, TbBase
from tb.uart_model import BridgeTransport, UartModel


@cocotb.test()
async def run_layer_over_uart(dut):
    tb = TbBase(dut)
    config = Config.from_dict(tb.config)
    with open(os.environ["ROWLOOM_CASE"], encoding="utf-8") as f:
        case = json.load(f)
    divisor = int(os.environ["ROWLOOM_DIVISOR"])
    skew = float(os.environ.get("ROWLOOM_SKEW", "0"))
    layer = Layer(**case["layer"])
    program = compile_layer(layer, config, np.array(case["x"]), np.array(case["w"]),
                            np.array(case["bias"]), shift=case["shift"], relu=case["relu"])

    dut.reset.value = 0
    uart = UartModel(dut.uart_rx, dut.uart_tx, bit_ns=divisor * CLOCK_NS, skew=skew)
    # A read gives up after 100 frames' time of silence, as a serial port's timeout would.
    link = HostLinkDriver(BridgeTransport(uart, timeout_ns=1000 * divisor * CLOCK_NS), config)
    busy_rises = 0

    async def watch_busy():
        nonlocal busy_rises
        while True:
            await RisingEdge(dut.busy)
            busy_rises += 1
    watcher = cocotb.start_soon(watch_busy())
    await tb.reset()

    t0 = tb.now_cycles()
    info = await bridge(link.connect)()
    result = await bridge(link.run)(program)
    cycles = tb.now_cycles() - t0
    before_reset = await bridge(link.read_counters)()
    # The button resets the link and the accelerator: every counter restarts from zero.
    dut.reset.value = 1
    await ClockCycles(dut.clk, 8)
    dut.reset.value = 0
    await ClockCycles(dut.clk, 4)
    await bridge(link.connect)()
    after_reset = await bridge(link.read_counters)()
    watcher.cancel()
    uart.stop()

    report = {"bench": "board_bench", "top": tb.manifest["top"], "seed": tb.seed,
              "divisor": divisor, "skew": skew, "info": info, "out": result.out.tolist(),
              "counters": result.counters, "beats": result.beats,
              "counters_before_reset": before_reset, "counters_after_reset": after_reset,
              "busy_rises": busy_rises, "cycles": cycles, "bytes_sent": uart.sent,
              "bytes_received": uart.received}
    with open(os.environ["ROWLOOM_REPORT"], "w", encoding="utf-8") as f:
        json.dump(report, f)
