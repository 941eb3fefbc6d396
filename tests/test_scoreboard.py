import pytest

from tb.common.scoreboard import Scoreboard
from tb.common.stream import pack, unpack


def test_scoreboard_reports_first_mismatch():
    board = Scoreboard("out")
    board.expect([1, -2, 3, 4])
    for v in (1, -2, 30, 40):
        board.receive(v)
    assert board.matched == 2
    with pytest.raises(AssertionError, match="2 mismatches; first at index 2: expected 3, got 30"):
        board.check()


def test_scoreboard_missing_and_extra_values():
    board = Scoreboard("out")
    board.expect([5, 6])
    board.receive(5)
    with pytest.raises(AssertionError, match="1 expected values never arrived"):
        board.check()
    board.receive(6)
    board.check()
    board.receive(7)
    with pytest.raises(AssertionError, match="expected None, got 7"):
        board.check()


@pytest.mark.parametrize("width,signed", [(8, True), (8, False), (3, True), (23, True)])
def test_pack_unpack(width, signed):
    lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
    values = [lo, hi, 0, 1, lo + 1, hi - 1]
    word = pack(values, width)
    assert word < 1 << (width * len(values))
    assert unpack(word, width, len(values), signed) == values
