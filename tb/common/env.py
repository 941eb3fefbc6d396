"""Testbench base: clock, reset, seeded randomness and the design manifest."""

import json
import os
import random

import cocotb
from cocotb.clock import Clock
from cocotb.simtime import get_sim_time
from cocotb.triggers import ClockCycles, RisingEdge, with_timeout

__all__ = ["TbBase", "load_manifest", "pack_struct"]

CLOCK_NS = 10


def load_manifest():
    """The ``<top>.json`` manifest named by ``ROWLOOM_MANIFEST`` (set by ``tb.run``)."""
    path = os.environ.get("ROWLOOM_MANIFEST")
    if not path:
        raise RuntimeError("ROWLOOM_MANIFEST is not set; run benches through tb.run")
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def pack_struct(port, values):
    """Pack a dict of field values into the integer of a struct-shaped manifest ``port``."""
    word = 0
    for name, fld in port["fields"].items():
        v = int(values[name])
        if not 0 <= v < (1 << fld["width"]) and not fld["signed"]:
            raise ValueError(f"{port['name']}.{name} = {v} does not fit {fld['width']} bits")
        word |= (v & ((1 << fld["width"]) - 1)) << fld["offset"]
    return word


class TbBase:
    """Owns the clock and reset of an Amaranth-generated top (``clk``, ``rst``).

    ``rng`` is seeded from ``ROWLOOM_SEED`` (``tb.run`` always sets it and prints it), or
    from cocotb's own seed when the bench is run some other way.
    """

    def __init__(self, dut):
        self.dut = dut
        self.manifest = load_manifest()
        self.config = self.manifest["config"]
        self.ports = {p["name"]: p for p in self.manifest["ports"]}
        self.seed = int(os.environ.get("ROWLOOM_SEED", cocotb.RANDOM_SEED))
        self.rng = random.Random(self.seed)
        self.log = cocotb.log
        self.log.info("rowloom testbench seed=%d (replay with ROWLOOM_SEED=%d)",
                      self.seed, self.seed)
        self._clock = Clock(dut.clk, CLOCK_NS, unit="ns")
        self._clock.start()

    async def reset(self, cycles=2):
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, cycles)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    def now_cycles(self):
        return int(get_sim_time("ns")) // CLOCK_NS

    async def wait_high(self, signal, timeout_cycles):
        """Wait for a rising edge of a one-cycle pulse with one trigger, not per cycle."""
        await with_timeout(RisingEdge(signal), timeout_cycles * CLOCK_NS, "ns")
