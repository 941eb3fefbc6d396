"""Event counters whose adds stay off the design's critical paths.

A count of many one-cycle events (a MAC in each of 168 PEs, a read in each lane bank) is a
balanced tree of adders between registers, not a chain of adders through every source's
control logic.
"""

from amaranth import Cat, Signal, Value

__all__ = ["count_events", "count_bits", "popcount", "tree_sum"]


def count_events(m, counter, value):
    """``counter`` adds the previous cycle's ``value`` (events this cycle): the events are
    registered first, so no PE's issue logic, and no bus's or stream's handshake, runs
    through a counter's carry chain. The counter trails its events by a cycle."""
    value = Value.cast(value)
    step = Signal(value.shape(), name=f"{counter.name}_step")
    m.d.sync += [step.eq(value), counter.eq(counter + step)]


def count_bits(m, counter, bits):
    """``counter`` counts the set bits among ``bits`` (one event each, e.g. a PE's MAC this
    cycle), two cycles late: the bits are registered, their sum is a balanced adder tree
    between registers, and the counter adds that. So the count of a whole array's events
    is a few adder levels from flip-flops, not a chain across every PE's issue logic."""
    if not bits:
        return
    seen = Signal(len(bits), name=f"{counter.name}_bits")
    m.d.sync += seen.eq(Cat(*bits))
    count_events(m, counter, popcount(seen))


def popcount(value):
    """The number of set bits of ``value``, as a balanced tree of adders."""
    return tree_sum(list(Value.cast(value)))


def tree_sum(values):
    """The sum of ``values`` as a balanced tree of adders (a Python ``sum`` would chain
    them: one adder after another across every term)."""
    terms = [Value.cast(v).as_unsigned() if len(Value.cast(v)) == 1 else Value.cast(v)
             for v in values]
    while len(terms) > 1:
        pairs = [terms[i] + terms[i + 1] for i in range(0, len(terms) - 1, 2)]
        terms = pairs + terms[len(pairs) * 2:]
    return terms[0] if terms else 0
