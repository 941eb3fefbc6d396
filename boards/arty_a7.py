"""Arty A7-35 (XC7A35T, 100 MHz): the ``tiny`` design behind the FTDI serial port. There is
no open place-and-route tool for the 7 series on PyPI, so the open flow stops after
synthesis; the project also holds amaranth's Vivado build script."""

from amaranth_boards.arty_a7 import ArtyA7_35Platform

from gen.area import DEVICES
from gen.config import preset

from .common import BoardTop

__all__ = ["ArtyA7Top"]


class ArtyA7Top(BoardTop):
    """The accelerator on an Arty A7-35: 100 MHz clock, the platform's start-up reset and
    its RESET button, busy on LED LD4. Parameters as :class:`boards.common.BoardTop`."""

    name = "arty-a7"
    title = "Arty A7-35"
    platform_class = ArtyA7_35Platform
    target = "xilinx"
    device = DEVICES["xilinx"]["xc7a35t"]
    led = ("led", 0)
    button = None               # RESET is the platform's reset input already
    # Amaranth's Vivado netlist sets BUFGCTRL's SIM_DEVICE, which yosys's cell model lacks.
    synth_only = "setparam -unset SIM_DEVICE t:BUFGCTRL\nsynth_xilinx -family xc7 -flatten"

    @classmethod
    def default_config(cls):
        return preset("tiny")
