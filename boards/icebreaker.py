"""iCEBreaker (iCE40 UP5K, 12 MHz): the ``up5k`` design behind the FTDI serial port."""

from amaranth_boards.icebreaker import ICEBreakerPlatform

from gen.area import DEVICES
from gen.config import preset

from .common import BoardTop

__all__ = ["ICEBreakerTop"]


class ICEBreakerTop(BoardTop):
    """The accelerator on an iCEBreaker: 12 MHz clock (no PLL: the controller is not the
    bottleneck of a design fed over a serial line), the power-on reset that the platform
    holds for 15 us after configuration (the iCE40 block RAMs read as zero before), busy on
    the red LED, the user button resets. Parameters as :class:`boards.common.BoardTop`."""

    name = "icebreaker"
    title = "iCEBreaker"
    platform_class = ICEBreakerPlatform
    target = "ice40"
    device = DEVICES["ice40"]["up5k"]
    led = ("led_r", 0)
    button = ("button", 0)
    synth_opts = "-dsp"         # multipliers into the SB_MAC16 blocks

    @classmethod
    def default_config(cls):
        return preset("up5k")
