"""Bit-exact in-order scoreboard."""

from collections import deque

__all__ = ["Scoreboard"]


class Scoreboard:
    """Compares received values with expected ones, in order, bit for bit.

    Mismatches are recorded, not raised, so a run reports all of them; :meth:`check`
    raises ``AssertionError`` naming the first mismatching index.
    """

    def __init__(self, name):
        self.name = name
        self._expected = deque()
        self.matched = 0
        self.received = 0
        self.mismatches = []    # (index, expected, got)

    def expect(self, values):
        self._expected.extend(int(v) for v in values)

    def receive(self, value):
        index = self.received
        self.received += 1
        if not self._expected:
            self.mismatches.append((index, None, value))
            return
        want = self._expected.popleft()
        if want == value:
            self.matched += 1
        else:
            self.mismatches.append((index, want, value))

    @property
    def pending(self):
        return len(self._expected)

    def check(self):
        if self.mismatches:
            index, want, got = self.mismatches[0]
            raise AssertionError(
                f"{self.name}: {len(self.mismatches)} mismatches; first at index {index}: "
                f"expected {want}, got {got}")
        if self._expected:
            raise AssertionError(
                f"{self.name}: {len(self._expected)} expected values never arrived "
                f"(received {self.received})")
