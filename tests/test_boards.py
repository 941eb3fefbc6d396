# amaranth: UnusedElaboratable=no
"""Board tops: the serial-line divisor; every board's project, elaborated on its platform
(no place and route); ``rowloom board``; the board logic under Icarus, where the host
driver runs a random CONV layer through a bit-level UART model, bit-exact against the
golden model; and the open flow (``synth``): a design too big for the iCE40 stops after
synthesis, the iCEBreaker bitstream, a small design through the ULX3S's and the Arty's
flows."""

import json
import os
import random

import numpy as np
import pytest
from amaranth.build import Pins, Subsignal

from boards import BOARDS, board
from boards.common import BAUD_TOLERANCE, MIN_DIVISOR, BoardCore, baud_divisor
from boards.flow import write_project
from gen.cli import main
from gen.config import Config, preset
from gen.driver import compile_layer
from hw.accel import Accelerator
from hw.hostlink import info_values
from tb.accel_run import random_layer, random_layer_data
from tb.board_run import run_board_layer

from .sim import assert_bit_exact

BAUDS = (9600, 19200, 57600, 115200, 230400, 460800, 921600, 1_000_000, 3_000_000)
# The design each board's project is written for in the fast tests: the board's own, but
# the small up5k on the ULX3S, whose 64-PE design takes 20 s to convert.
FAST_DESIGN = {"icebreaker": None, "ulx3s": preset("up5k"), "arty-a7": None}
CONSTRAINTS = {"ice40": ".pcf", "ecp5": ".lpf", "xilinx": ".xdc"}
# How each family's constraint file states a clock of `hz`.
CLOCK_FORM = {"ice40": lambda hz: f" {hz / 1e6}", "ecp5": lambda hz: f" {hz} HZ",
              "xilinx": lambda hz: f"-period {1e9 / hz}"}


def _clock(top_class):
    return top_class.platform_class().default_clk_frequency


def test_baud_divisor():
    """The divisor gives the nearest rate and is refused only when no divisor of at least 4
    is within the tolerance; both happen on the boards' clocks."""
    accepted = refused = 0
    for top_class in BOARDS.values():
        clock = _clock(top_class)
        for baud in BAUDS:
            best = min(range(1, 2 * int(clock // baud) + 2), key=lambda k: abs(clock / k - baud))
            try:
                divisor = baud_divisor(clock, baud)
            except ValueError as exc:
                refused += 1
                assert f"baud {baud} " in str(exc)
                assert best < MIN_DIVISOR or abs(clock / best / baud - 1) > BAUD_TOLERANCE
            else:
                accepted += 1
                assert divisor == best >= MIN_DIVISOR
                assert abs(clock / divisor / baud - 1) <= BAUD_TOLERANCE
    assert accepted and refused


def test_baud_divisor_errors():
    for bad in (0, -9600, 115200.0, True, "115200"):
        with pytest.raises(ValueError, match="positive integer"):
            baud_divisor(12e6, bad)
    with pytest.raises(ValueError, match="too fast.*at least 4 clock cycles per bit"):
        baud_divisor(12e6, 12_000_000 // 3)
    # 12 MHz / 2.5 Mbaud = 4.8: divisor 5 gives 2.4 Mbaud, 4 % slow.
    with pytest.raises(ValueError, match=r"12 MHz / 5 = 2400000 baud is -4.0% off"):
        baud_divisor(12e6, 2_500_000)


def test_board_parameters_checked():
    with pytest.raises(ValueError, match="board must be one of icebreaker, ulx3s, arty-a7"):
        board("icestick")
    ice = board("icebreaker")
    with pytest.raises(ValueError, match="baud"):
        ice(baud=5_000_000)
    with pytest.raises(TypeError, match="row-stationary Config"):
        ice(config="tiny")
    with pytest.raises(ValueError, match="rx_depth"):
        ice(rx_depth=8)
    with pytest.raises(ValueError, match="divisor"):
        BoardCore(config=preset("up5k"), divisor=3)
    top = ice()
    assert top.config == preset("up5k")
    assert top.divisor == baud_divisor(_clock(ice), 115200)
    assert top.actual_baud == _clock(ice) / top.divisor


def _pins(platform, name, number, sub=None):
    """Pin names of a platform resource (or of its subsignal ``sub``)."""
    ios = platform.lookup(name, number).ios
    if sub is not None:
        ios = next(io for io in ios if isinstance(io, Subsignal) and io.name == sub).ios
    return [pin for io in ios if isinstance(io, Pins) for pin in io.names]


@pytest.mark.parametrize("name", list(BOARDS))
def test_board_project(tmp_path, name):
    """The board top elaborates on its platform, and its project ties the serial line, the
    LED and the button to the board's pins and constrains the board clock."""
    top_class = BOARDS[name]
    top = top_class(config=FAST_DESIGN[name])
    project = write_project(top, tmp_path)
    assert project.root == tmp_path
    for f in project.files:
        assert (tmp_path / f).is_file(), f
    assert Config.from_json((tmp_path / "config.json").read_text()) == top.config
    info = json.loads((tmp_path / "board.json").read_text())
    assert (info["board"], info["divisor"], info["clock_hz"]) == (name, top.divisor,
                                                                 top.clock_hz)
    constraints = (tmp_path / f"{project.name}{CONSTRAINTS[top.target]}").read_text()
    platform = top_class.platform_class()
    wanted = [("uart_0__rx__io", _pins(platform, "uart", 0, "rx")),
              ("uart_0__tx__io", _pins(platform, "uart", 0, "tx")),
              (f"{top.led[0]}_{top.led[1]}__io", _pins(platform, *top.led))]
    if top.button is not None:
        wanted.append((f"{top.button[0]}_{top.button[1]}__io", _pins(platform, *top.button)))
    for port, pins in wanted:
        lines = [line for line in constraints.splitlines() if port in line]
        assert lines and all(any(pin in line for line in lines) for pin in pins), (port, pins)
    clock = f"{platform.default_clk}_0__io"
    assert any(clock in line and CLOCK_FORM[top.target](top.clock_hz) in line
               for line in constraints.splitlines()), clock
    if top.place_and_route:
        commands = json.loads((tmp_path / f"build_{project.name}.json").read_text())["commands"]
        assert [c[0] for c in commands][0] == "yosys" and len(commands) == 3
    else:
        assert "synth_xilinx" in (tmp_path / f"{project.name}.synth.ys").read_text()


def test_board_top_needs_its_platform():
    from amaranth.back import rtlil
    with pytest.raises(TypeError, match="simulate boards.common.BoardCore"):
        rtlil.convert(board("icebreaker")(), ports=[])


def test_cli_board_writes_project(tmp_path, capsys):
    out = tmp_path / "ice"
    assert main(["board", "--board", "icebreaker", "--preset", "tiny", "--baud", "230400",
                 "-o", str(out)]) == 0
    text = capsys.readouterr().out
    assert Config.from_json((out / "config.json").read_text()) == preset("tiny")
    divisor = baud_divisor(12e6, 230400)
    assert json.loads((out / "board.json").read_text())["divisor"] == divisor
    assert f"clock / {divisor}" in text and "icebreaker_tiny.il" in text
    assert (out / "icebreaker_tiny.pcf").is_file()


def test_cli_board_help_names_every_board(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["board", "--help"])
    assert exc.value.code == 0
    out = capsys.readouterr().out
    for name, top_class in BOARDS.items():
        assert f"{name}:" in out and top_class.default_config().name in out, name


@pytest.mark.parametrize("argv, message", [
    (["--board", "icestick"], "--board must be one of icebreaker, ulx3s, arty-a7"),
    (["--board", "icebreaker", "--baud", "4000000"], "--baud: baud 4000000 is too fast"),
    (["--board", "ulx3s", "--baud", "2000000"], "--baud: baud 2000000 cannot be made"),
    (["--board", "arty-a7", "--preset", "eie-tiny"], "a row-stationary design"),
    (["--board", "arty-a7", "--preset", "huge"], "preset = 'huge' is invalid"),
])
def test_cli_board_errors(tmp_path, capsys, argv, message):
    assert main(["board", *argv, "-o", str(tmp_path / "p")]) == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "p").exists()


@pytest.mark.rtl
def test_board_layer_over_uart(build_dir):
    """The iCEBreaker's design (its board logic, with the board's clock and pins replaced
    by the bench's) runs a random CONV layer sent by ``HostLinkDriver`` over a bit-level
    serial line at 4 cycles per bit, the host's baud rate up to 1 % off; every output
    matches the golden model, the counters describe the run, the LED lights once per run,
    and the reset button clears the counters."""
    config = board("icebreaker").default_config()
    seed = int(os.environ.get("ROWLOOM_SEED") or random.randrange(1 << 31))
    print(f"data seed={seed} (replay with ROWLOOM_SEED={seed})")
    rng = np.random.default_rng(seed)
    # Draw until the layer has few enough outputs for a short run over the serial line.
    while (layer := random_layer(config, rng, max_c=4, max_m=4, max_hw=8)).n * layer.m \
            * layer.e * layer.f > 80:
        pass
    shift = None if rng.random() < 0.5 else int(rng.integers(0, 6))
    relu = bool(rng.random() < 0.5)
    skew = float(rng.uniform(-0.01, 0.01))
    x, w, bias = random_layer_data(layer, config, rng)
    rx_depth = 64
    res = run_board_layer(config, layer, x, w, bias, shift=shift, relu=relu, divisor=4,
                          rx_depth=rx_depth, skew=skew, sim="icarus", build_dir=build_dir,
                          seed=seed)
    assert_bit_exact(res.out, res.expect, seed, layer)
    rep = res.report
    assert rep["info"] == info_values(config, rx_depth)
    program = compile_layer(layer, config, x, w, bias, shift=shift, relu=relu)
    c = rep["counters"]
    assert set(c) == set(Accelerator.counter_names(config))
    assert c["words_out"] == rep["beats"]
    assert c["words_in"] == sum(-(-len(p.glb) // config.beat) + len(p.weights)
                                for p in program.parts)
    assert c["macs"] + c["gated"] >= layer.macs
    assert 0 < c["cycles"] < rep["cycles"]
    assert rep["busy_rises"] == len(program.parts)
    assert rep["counters_before_reset"]["cycles"] >= c["cycles"]
    assert rep["counters_after_reset"] == dict.fromkeys(c, 0)
    print(f"{layer}, skew {skew:+.2%}: {rep['cycles']} cycles, {rep['bytes_sent']} bytes "
          f"sent, {rep['bytes_received']} received")


@pytest.mark.synth
def test_too_big_stops_after_synthesis(build_dir, capsys):
    """tiny (12 PEs) is far too big for the iCE40 UP5K: the flow says by how much after
    synthesis and places nothing."""
    assert main(["board", "--board", "icebreaker", "--preset", "tiny", "-o", str(build_dir),
                 "--build"]) == 1
    err = capsys.readouterr().err
    assert "tiny on iCEBreaker: does not fit iCE40UP5K: lut " in err
    assert not list(build_dir.glob("*.asc")) and not list(build_dir.glob("*.bin"))


@pytest.mark.synth
def test_icebreaker_bitstream(build_dir, capsys):
    """The iCEBreaker's default design, up5k with the host link, through the whole open
    flow: it fits the UP5K, and the bitstream meets the board clock."""
    rc = main(["board", "--board", "icebreaker", "-o", str(build_dir), "--build"])
    out, err = capsys.readouterr()
    bitstream = build_dir / "icebreaker_up5k.bin"
    assert rc == 0, err
    assert bitstream.stat().st_size > 100_000
    assert f"bitstream   {bitstream}" in out and "(met)" in out


@pytest.mark.synth
@pytest.mark.parametrize("name", ["ulx3s", "arty-a7"])
def test_open_flow_small_design(build_dir, capsys, name):
    """The open flow of the other boards on the small up5k design: the ULX3S through
    nextpnr to a bitstream, with Fmax over the board clock; the Arty A7 through synthesis
    only, with its utilization."""
    assert main(["board", "--board", name, "--preset", "up5k", "-o", str(build_dir),
                 "--build"]) == 0, capsys.readouterr().err
    out = capsys.readouterr().out
    top = board(name)(config=preset("up5k"))
    assert "synthesis   lut " in out and f"fits {top.device.name}" in out
    if top.place_and_route:
        bitstream = build_dir / "ulx3s_up5k.bit"
        assert bitstream.stat().st_size > 100_000
        assert "(met)" in out and f"bitstream   {bitstream}" in out
    else:
        assert "synthesis only" in out
        assert not list(build_dir.glob("*.bit"))
