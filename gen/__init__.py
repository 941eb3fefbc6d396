"""rowloom generator: configuration, Verilog emission and the ``rowloom`` command."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("rowloom")
except PackageNotFoundError:    # running from a source tree that was never installed
    __version__ = "0+unknown"
