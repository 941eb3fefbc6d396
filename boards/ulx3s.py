"""ULX3S with an ECP5-85F (25 MHz): an 8 x 8 int8 design behind the FTDI serial port."""

from amaranth_boards.ulx3s import ULX3S_85F_Platform

from gen.area import DEVICES
from gen.config import Config

from .common import BoardTop

__all__ = ["ULX3S_CONFIG", "ULX3STop"]

# 64 PEs, int8 as eyeriss-int8 but with smaller scratchpads, limits and beat, so that it fits
# the 85F (docs/boards.md): layers up to 64 x 32 x 32 in, 64 filters of up to 5 x 5, in a
# 32 KiB global buffer; psum lanes deep enough for every such layer (8 chains of 36 x 8).
# The buses are row-staged, so their handshakes stay within a row of the die, the
# multiplier's operands are registered, so the filter-spad read and the multiply take a
# cycle each, and no psum handshake runs along a chain (docs/boards.md).
ULX3S_CONFIG = Config(name="ulx3s", rows=8, cols=8, filter_spad=72, ifmap_spad=12,
                      psum_spad=8, max_n=2, max_c=64, max_m=64, max_h=32, max_w=32,
                      max_r=5, max_s=5, max_stride=2, max_pad=2, psum_lane=2048,
                      lane_banks=1, glb_kib=32, glb_banks=4, beat=4, bus_stage=True,
                      operand_reg=True, drain_cut=True)


class ULX3STop(BoardTop):
    """The accelerator on a ULX3S (LFE5U-85F): 25 MHz clock, the platform's power-on reset,
    busy on LED 0, button FIRE1 resets. Parameters as :class:`boards.common.BoardTop`."""

    name = "ulx3s"
    title = "ULX3S"
    platform_class = ULX3S_85F_Platform
    target = "ecp5"
    device = DEVICES["ecp5"]["85k"]
    led = ("led", 0)
    button = ("button_fire", 0)
    # nextpnr's default router stalls on the 8 x 8 design (80 % of the slices, every PE on
    # the multicast buses); router2 routes it in about 15 minutes.
    pnr_opts = "--router router2"

    @classmethod
    def default_config(cls):
        return ULX3S_CONFIG
