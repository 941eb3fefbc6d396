"""The configuration object of a generated EIE engine (Han et al., ISCA 2016), and its presets.

:class:`EieConfig` sizes every memory, queue and datapath width of the sparse engine in
``hw/eie.py``; the compression format it consumes is the one of ``gen/compress.py``. As with
:class:`gen.config.Config`, derived values are properties and nothing else re-derives them.
"""

import dataclasses
import json
from dataclasses import dataclass

from hw.mac import acc_width_for, int_bounds

from .config import ConfigError, check_fields, known_fields

__all__ = ["EieConfig", "EIE_PRESETS", "eie_preset", "is_eie_preset"]


# field name -> (lowest, highest) for the integer fields; checked in this order.
_INT_RANGES = {
    "pes":           (1, 256),
    "queue_depth":   (1, 64),
    "act_width":     (2, 32),
    "code_width":    (2, 32),
    "codebook_bits": (1, 8),
    "index_bits":    (1, 8),
    "max_rows":      (1, 1 << 16),
    "max_cols":      (1, 1 << 16),
    "max_layers":    (1, 16),
    "spmat_depth":   (1, 1 << 20),
    "ptr_depth":     (2, 1 << 20),
    "counter_width": (16, 64),
}


def _ceil_div(a, b):
    return -(-a // b)


@dataclass(frozen=True, kw_only=True)
class EieConfig:
    """An EIE design point. Construct it to validate it; invalid values raise
    :class:`gen.config.ConfigError`.

    Activations and codebook values are signed fixed-point integers; the accumulator is
    wide enough that no sum of ``max_cols`` products can overflow, so the order in which PEs
    add their products never changes a result.

    Parameters
    ----------
    name : str
        Preset or user name; also the prefix of the generated top-level module.
    pes : int
        Processing elements, a power of two. Row ``i`` of a layer belongs to PE
        ``i % pes``.
    queue_depth : int
        Activation queue entries per PE (EIE: 8).
    act_width : int
        Activation width, also the width of the requantized outputs written back for the
        next layer.
    code_width : int
        Width of the decoded weights (codebook values).
    codebook_bits, index_bits : int
        Widths of an entry's codebook index and relative row index.
    acc_width : int or None
        Accumulator width; ``None`` derives the narrowest exact one.
    max_rows, max_cols : int
        Largest layer output and input lengths.
    max_layers : int
        Layers held on chip at once (each with its own codebook and pointers).
    spmat_depth : int
        Sparse-matrix entries per PE, over all layers, padding included.
    ptr_depth : int
        Column pointers per PE over all layers (a layer of ``cols`` inputs takes
        ``cols + 1``).
    counter_width : int
        Width of the performance counters.
    """

    name:          str = "eie"
    pes:           int = 4
    queue_depth:   int = 4
    act_width:     int = 16
    code_width:    int = 16
    codebook_bits: int = 4
    index_bits:    int = 4
    acc_width:     int | None = None
    max_rows:      int = 64
    max_cols:      int = 128
    max_layers:    int = 3
    spmat_depth:   int = 2048
    ptr_depth:     int = 512
    counter_width: int = 32

    def __post_init__(self):
        check_fields(self, _INT_RANGES)
        if self.pes & (self.pes - 1):
            raise ConfigError("pes", self.pes, "a power of two (1, 2, 4, ... 256)")
        need = self.acc_width_min
        if self.acc_width is not None:
            value = self.acc_width
            if not isinstance(value, int) or isinstance(value, bool) or not need <= value <= 96:
                raise ConfigError("acc_width", value,
                                  f"an integer in {need}..96 (max_cols = {self.max_cols} "
                                  f"products need {need} bits), or null")
        if self.ptr_depth < self.max_cols + 1:
            raise ConfigError("ptr_depth", self.ptr_depth,
                              f">= max_cols + 1 = {self.max_cols + 1} (one layer's pointers)")

    # -- derived values ---------------------------------------------------------------------

    @property
    def acc_width_min(self):
        return acc_width_for(a_width=self.act_width, a_signed=True, b_width=self.code_width,
                             b_signed=True, reduction=self.max_cols)

    @property
    def acc_bits(self):
        """Accumulator width in effect (``acc_width`` or the derived minimum)."""
        return self.acc_width if self.acc_width is not None else self.acc_width_min

    @property
    def rows_per_pe(self):
        """Accumulators per PE: the local rows of the largest layer."""
        return _ceil_div(self.max_rows, self.pes)

    @property
    def act_depth(self):
        """Activations per PE in each of the two activation files (source, destination)."""
        return _ceil_div(max(self.max_rows, self.max_cols), self.pes)

    @property
    def max_groups(self):
        """Groups of ``pes`` input activations the broadcast scans in the longest input."""
        return _ceil_div(self.max_cols, self.pes)

    @property
    def ptr_bits(self):
        """Width of a column pointer (0 .. ``spmat_depth``)."""
        return self.spmat_depth.bit_length()

    @property
    def codebook_depth(self):
        return self.max_layers << self.codebook_bits

    @property
    def shift_bits(self):
        """Width of the requantization shift register (0 .. ``acc_bits - 1``)."""
        return (self.acc_bits - 1).bit_length()

    @property
    def act_range(self):
        return int_bounds(self.act_width, True)

    @property
    def code_range(self):
        return int_bounds(self.code_width, True)

    @property
    def top_name(self):
        return f"rowloom_{self.name}".replace("-", "_")

    def derived(self):
        """Derived values, as written into the manifest and the C header."""
        return {
            "arch":           "eie",
            "acc_width_min":  self.acc_width_min,
            "acc_bits":       self.acc_bits,
            "rows_per_pe":    self.rows_per_pe,
            "act_depth":      self.act_depth,
            "max_groups":     self.max_groups,
            "ptr_bits":       self.ptr_bits,
            "codebook_depth": self.codebook_depth,
            "shift_bits":     self.shift_bits,
            "act_min":        self.act_range[0],
            "act_max":        self.act_range[1],
            "code_min":       self.code_range[0],
            "code_max":       self.code_range[1],
        }

    # -- JSON -------------------------------------------------------------------------------

    def to_dict(self):
        return {"arch": "eie", **dataclasses.asdict(self)}

    def to_json(self):
        return json.dumps(self.to_dict(), indent=2) + "\n"

    @classmethod
    def from_dict(cls, data):
        if isinstance(data, dict):
            data = dict(data)
            arch = data.pop("arch", "eie")
            if arch != "eie":
                raise ConfigError("arch", arch, "'eie' for an EIE config")
        return cls(**known_fields(cls, data))


EIE_PRESETS = {
    # Small enough for every RTL test in CI, with 40 rows per PE so that gaps of twice
    # the 4-bit relative index range occur; holds the digits MLP (64+1 -> 32 -> 10).
    "eie-tiny": EieConfig(name="eie-tiny", pes=4, queue_depth=4, max_rows=160, max_cols=128,
                          max_layers=3, spmat_depth=2048, ptr_depth=512),
    # EIE (ISCA 2016): 64 PEs, queue depth 8, 16-bit fixed point; limits cover AlexNet
    # FC6-8 (9216 -> 4096 -> 4096 -> 1000) at 9% density with padding.
    "eie-64": EieConfig(name="eie-64", pes=64, queue_depth=8, max_rows=4096, max_cols=9216,
                        max_layers=3, spmat_depth=65536, ptr_depth=18432),
}


def is_eie_preset(name):
    return name in EIE_PRESETS


def eie_preset(name):
    """The EIE preset called ``name``; :class:`ConfigError` names the choices otherwise."""
    try:
        return EIE_PRESETS[name]
    except KeyError:
        raise ConfigError("preset", name, ", ".join(sorted(EIE_PRESETS))) from None
