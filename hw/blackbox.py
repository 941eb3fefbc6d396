"""A stand-in for a component that is generated on its own and instantiated by name."""

from amaranth import ClockSignal, Const, Module, ResetSignal
from amaranth.hdl import Instance
from amaranth.lib import wiring
from amaranth.lib.wiring import In

__all__ = ["BlackBox"]


class BlackBox(wiring.Component):
    """Instance of the module ``module`` with the ports of ``signature``.

    The module is the Verilog (or RTLIL) that Amaranth generates for a component with that
    signature: ports named ``a__b`` for member ``a.b``, plus ``clk`` and ``rst`` of the
    ``sync`` domain. Generating one such module and instantiating it many times keeps the
    generation time of a large array proportional to its distinct hardware; Amaranth would
    otherwise convert every copy, memory contents included. The simulator cannot run a
    black box: simulate the component itself.

    Parameters
    ----------
    signature : wiring.Signature
    module : str
        Name of the generated module.
    """

    def __init__(self, signature, *, module):
        if not isinstance(module, str) or not module:
            raise TypeError(f"module must be a non-empty string, not {module!r}")
        self._module = module
        super().__init__(signature)

    @property
    def module(self):
        return self._module

    def elaborate(self, platform):
        m = Module()
        ports = {"i_clk": ClockSignal(), "i_rst": ResetSignal()}
        for path, member, value in self.signature.flatten(self):
            if isinstance(value, Const):
                continue            # e.g. the ready of an always-ready stream: no port
            name = "__".join(str(p) for p in path)
            ports[("i_" if member.flow == In else "o_") + name] = value
        m.submodules.box = Instance(self._module, **ports)
        return m
