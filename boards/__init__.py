"""FPGA board tops: the accelerator behind a UART host link on amaranth-boards platforms,
and the flow that writes and builds their projects (docs/boards.md)."""

from .arty_a7 import ArtyA7Top
from .icebreaker import ICEBreakerTop
from .ulx3s import ULX3STop

__all__ = ["BOARDS", "board"]

BOARDS = {top.name: top for top in (ICEBreakerTop, ULX3STop, ArtyA7Top)}


def board(name):
    """The board top class called ``name``; ``ValueError`` names the choices otherwise."""
    try:
        return BOARDS[name]
    except KeyError:
        raise ValueError(f"board must be one of {', '.join(BOARDS)}, not {name!r}") from None
