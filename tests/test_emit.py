"""Verilog emission: identical submodules are shared, not repeated per instance."""

import re

import pytest
from amaranth.back import rtlil

from gen.config import preset
from gen.emit import build_top, share_modules, top_name

RTLIL = """attribute \\generator "Amaranth"
attribute \\top 1
module \\t
  cell \\t.a.x_0 \\x_0
  end
  cell \\t.a.x_1 \\x_1
  end
  cell \\t.b \\b
  end
end

attribute \\generator "Amaranth"
module \\t.a.x_0
  cell \\t.a.x_0.leaf \\leaf
  end
  wire \\o
end

attribute \\generator "Amaranth"
module \\t.a.x_0.leaf
  wire \\w
end

attribute \\generator "Amaranth"
module \\t.a.x_1
  cell \\t.a.x_1.leaf \\leaf
  end
  wire \\o
end

attribute \\generator "Amaranth"
module \\t.a.x_1.leaf
  wire \\w
end

attribute \\generator "Amaranth"
module \\t.b
  wire \\different
end
"""


def _modules(text):
    return re.findall(r"^module (\S+)", text, re.M)


def test_identical_modules_merge_bottom_up():
    out = share_modules(RTLIL)
    # The leaves merge first; then their parents become identical and merge too.
    assert _modules(out) == ["\\t", "\\t.a.x", "\\t.a.x.leaf", "\\t.b"]
    assert re.findall(r"^  cell (\S+) (\S+)", out, re.M) == [
        ("\\t.a.x", "\\x_0"), ("\\t.a.x", "\\x_1"), ("\\t.b", "\\b"),
        ("\\t.a.x.leaf", "\\leaf")]
    assert share_modules(out) == out


def test_unexpected_layout_is_an_error():
    with pytest.raises(ValueError, match="unexpected RTLIL layout"):
        share_modules(RTLIL + "garbage\n")


def test_tiny_array_has_one_pe_definition():
    cfg = preset("tiny")
    text = rtlil.convert(build_top(cfg), name=top_name(cfg), emit_src=False)
    out = share_modules(text)
    before, after = _modules(text), _modules(out)
    assert len(before) > len(after)
    pe_defs = [m for m in after if re.search(r"\.pe(_v\d+)?$", m)]
    pe_cells = re.findall(r"^  cell \S+\.pe(?:_v\d+)? \\pe_\d+_\d+$", out, re.M)
    # Every PE instance survives; each points at one of at most two shared definitions
    # (Amaranth lists the first row's ports in another order, so those stay separate).
    assert len(pe_cells) == cfg.rows * cfg.cols
    assert 1 <= len(pe_defs) <= 2
