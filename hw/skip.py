"""Zero skipping on the row-stationary array's input path (Cnvlutin, ISCA 2016; ZASCA, IEEE TC 2020).

A PE's input arrives in beats of up to ``beat`` values (``hw.noc.beat_layout``), in the
PE's ``[i][c]`` order. The :class:`ZeroSkipEncoder` turns each beat into entries, one per
non-zero value, carrying the value's index within the job. Every entry also says how far
the input has arrived (``upto``): the last entry of a beat reaches past the beat's trailing
zeros, and a beat without a non-zero value yields one mark entry (value 0) for that alone.
The PE needs this to close the window of an output whose last values are zeros without
waiting for the next beat, which another PE may be holding up; the entry whose ``upto``
is the job's length is the row-end mark. Zeros cost no cycle of their own: a beat is
consumed in one cycle per non-zero value it holds, and in one if it holds none.
"""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .noc import beat_layout

__all__ = ["ZeroSkipEncoder", "entry_layout"]


def entry_layout(config):
    """One non-zero input value of a PE job and its index in the job's ``[i][c]`` order."""
    act = signed(config.act_width) if config.act_signed else unsigned(config.act_width)
    return data.StructLayout({
        "value": act,
        "idx":   range(config.max_nq),
        "upto":  range(config.max_nq + 1),   # every value before this index has arrived
    })


class ZeroSkipEncoder(wiring.Component):
    """Finds the non-zero values of input beats and emits each with its index.

    ``nq``, held while a job's input passes, is the job's number of input values; the
    index restarts at 0 after the beat that ends the job. One entry leaves per cycle; a
    beat is consumed in the cycle its last entry leaves.

    Members
    -------
    i : In(stream.Signature(beat_layout(act, beat)))
    nq : In(range(config.max_nq + 1))
    o : Out(stream.Signature(entry_layout(config)))
    taken : Out(1)
        A beat is consumed this cycle ...
    values, zeros : Out(range(beat + 1))
        ... with this many values, of which this many are zero.
    """

    def __init__(self, *, config):
        self._config = c = config
        self._act = signed(c.act_width) if c.act_signed else unsigned(c.act_width)
        super().__init__({
            "i":      In(stream.Signature(beat_layout(self._act, c.beat))),
            "nq":     In(range(c.max_nq + 1)),
            "o":      Out(stream.Signature(entry_layout(c))),
            "taken":  Out(1),
            "values": Out(range(c.beat + 1)),
            "zeros":  Out(range(c.beat + 1)),
        })

    def elaborate(self, platform):
        c = self._config
        B = c.beat
        m = Module()
        base = Signal(range(c.max_nq))          # index of lane 0 of the current beat
        sent = Signal(B)                        # lanes of the current beat already emitted
        beat = self.i.payload
        final = Signal()                        # this beat ends the job
        m.d.comb += final.eq(base + beat.n >= self.nq)

        lanes = Signal(B)                       # non-zero lanes still to emit
        zero = Signal(B)                        # valid lanes holding zero
        for j in range(B):
            valid = beat.n > j
            m.d.comb += [
                zero[j].eq(valid & (beat.data[j] == 0)),
                lanes[j].eq(self.i.valid & valid & ~sent[j] & (beat.data[j] != 0)),
            ]
        # The lowest lane still to emit; later assignments win. Without any, the mark.
        pick = Signal(range(B))
        m.d.comb += pick.eq(beat.n - 1)
        for j in reversed(range(B)):
            with m.If(lanes[j]):
                m.d.comb += pick.eq(j)
        rest = Signal(B)                        # lanes left after this cycle's entry
        m.d.comb += rest.eq(lanes & ~(1 << pick))
        end = Signal(range(c.max_nq + 1))
        m.d.comb += end.eq(base + beat.n)

        m.d.comb += [
            self.o.valid.eq(self.i.valid),
            self.o.payload.value.eq(beat.data[pick]),
            self.o.payload.idx.eq(base + pick),
            self.o.payload.upto.eq(Mux(rest.any(), base + pick + 1, end)),
        ]
        consume = self.i.valid & self.i.ready
        m.d.comb += [
            self.i.ready.eq(self.o.ready & ~rest.any()),
            self.taken.eq(consume),
            self.values.eq(beat.n),
            self.zeros.eq(sum((zero[j].as_unsigned() for j in range(B)), start=0)),
        ]
        with m.If(consume):
            m.d.sync += [sent.eq(0), base.eq(base + beat.n)]
            with m.If(final):
                m.d.sync += base.eq(0)
        with m.Elif(self.o.valid & self.o.ready):
            m.d.sync += sent.eq(sent | (1 << pick))
        return m
