"""On-chip networks of the row-stationary array: tagged multicast (Eyeriss GIN)."""

from amaranth import Cat, Module, Shape, Signal, unsigned
from amaranth.lib import data, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

__all__ = ["MulticastBus", "BeatSerializer", "beat_layout"]


def beat_layout(shape, beat):
    """Payload of a multi-value beat: ``beat`` values, of which the first ``n`` are valid."""
    return data.StructLayout({
        "data": data.ArrayLayout(shape, beat),
        "n":    range(1, beat + 1),
    })


def _check_pos(name, value, hi=1 << 16):
    if not isinstance(value, int) or isinstance(value, bool) or not 1 <= value <= hi:
        raise ValueError(f"{name} must be an integer in 1..{hi}, not {value!r}")


class MulticastBus(wiring.Component):
    """Delivers each packet of ``i`` to every receiver whose IDs match its tags.

    A grid of ``rows x cols`` receivers has a row ID per grid row and a column ID and an
    enable per receiver, all inputs held stable by the controller while the bus runs. A
    packet with tags ``(row, col)`` goes to receiver ``(y, x)`` when ``en[y][x]`` is set,
    ``row_id[y] == row`` and ``col_id[y][x] == col``: one packet reaches a whole row, a diagonal or a single
    receiver depending on the IDs. Each receiver has a FIFO of ``depth`` packets; a packet
    is taken only when every matching FIFO has room, and is then written to all of them
    in the same cycle. A packet that matches no receiver is dropped. With ``depth=1`` the
    buffer is one register that has room in the cycle its packet leaves, so a receiver
    that takes a packet every cycle never stalls the bus (its ``ready`` reaches ``i.ready``
    combinationally).

    With ``row_stage``, the bus has two levels, as Eyeriss's GIN has a Y-bus and an X-bus
    per row: a packet leaves the input when every row it goes to has room in its
    two-packet row buffer, and each row buffer then delivers its packets to that row's
    receivers as above, independently of the other rows. Every receiver gets the same
    packets in the same order; what changes is the timing. The input's ``ready`` then
    depends only on the row buffers' registered fill levels, and a row's handshake stays
    within the row, so no combinational path crosses the whole grid and back.

    Parameters
    ----------
    rows, cols : int
        Receiver grid.
    row_bits, col_bits : int
        Widths of the row and column tags.
    payload : shape-like
        What each packet carries to its receivers.
    depth : int
        Packets buffered per receiver.
    row_stage : bool
        A two-packet buffer per row between the input and the receivers.

    Members
    -------
    i : In(stream.Signature(StructLayout({"row", "col", "data"})))
    row_id : In(row_bits).array(rows)
    col_id : In(col_bits).array(rows, cols)
    en : In(1).array(rows, cols)
    o : Out(stream.Signature(payload)).array(rows, cols)
    """

    def __init__(self, *, rows, cols, row_bits, col_bits, payload, depth=2, row_stage=False):
        for name, value in (("rows", rows), ("cols", cols), ("row_bits", row_bits),
                            ("col_bits", col_bits), ("depth", depth)):
            _check_pos(name, value, 256)
        self._rows, self._cols, self._depth = rows, cols, depth
        self._row_stage = bool(row_stage)
        self._payload = payload
        self._packet = data.StructLayout({
            "row":  unsigned(row_bits),
            "col":  unsigned(col_bits),
            "data": payload,
        })
        super().__init__({
            "i":      In(stream.Signature(self._packet)),
            "row_id": In(unsigned(row_bits)).array(rows),
            "col_id": In(unsigned(col_bits)).array(rows, cols),
            "en":     In(1).array(rows, cols),
            "o":      Out(stream.Signature(payload)).array(rows, cols),
        })

    def elaborate(self, platform):
        m = Module()
        go = []                 # the input's packet may leave, as far as each row goes
        for y in range(self._rows):
            row_hit = Signal(name=f"row_hit_{y}")
            m.d.comb += row_hit.eq(self.row_id[y] == self.i.payload.row)
            if not self._row_stage:
                room = self._deliver(m, y, self.i.valid & self.i.ready & row_hit,
                                     self.i.payload.col, self.i.payload.data)
                go.append(~row_hit | room)
                continue
            entry = data.StructLayout({"col": self._packet["col"].shape,
                                       "data": self._payload})
            q = fifo.SyncFIFO(width=entry.size, depth=2)
            m.submodules[f"row_{y}"] = q
            head = data.View(entry, q.r_data)
            take = Signal(name=f"row_take_{y}")
            room = self._deliver(m, y, take, head.col, head.data)
            m.d.comb += [q.w_data.eq(Cat(self.i.payload.col, self.i.payload.data)),
                         q.w_en.eq(self.i.valid & self.i.ready & row_hit),
                         take.eq(q.r_rdy & room),
                         q.r_en.eq(take)]
            go.append(~row_hit | q.w_rdy)
        m.d.comb += self.i.ready.eq(Cat(*go).all())
        return m

    def _deliver(self, m, y, write, col, payload):
        """Row ``y``'s receivers: with ``write``, each whose column ID is ``col`` takes
        ``payload``. Returns whether every such receiver has room for it."""
        width = Shape.cast(self._payload).width
        room = []
        for x in range(self._cols):
            hit = Signal(name=f"hit_{y}_{x}")
            o = self.o[y][x]
            m.d.comb += hit.eq(self.en[y][x] & (self.col_id[y][x] == col))
            if self._depth == 1:
                full = Signal(name=f"full_{y}_{x}")
                held = Signal(width, name=f"held_{y}_{x}", reset_less=True)
                m.d.comb += [o.valid.eq(full), o.payload.eq(held)]
                with m.If(write & hit):
                    m.d.sync += [full.eq(1), held.eq(payload)]
                with m.Elif(o.ready):
                    m.d.sync += full.eq(0)
                room.append(~hit | ~full | o.ready)
                continue
            q = fifo.SyncFIFOBuffered(width=width, depth=self._depth)
            m.submodules[f"q_{y}_{x}"] = q
            m.d.comb += [
                q.w_data.eq(payload),
                q.w_en.eq(write & hit),
                o.valid.eq(q.r_rdy),
                o.payload.eq(q.r_data),
                q.r_en.eq(o.ready),
            ]
            room.append(~hit | q.w_rdy)
        return Cat(*room).all()


class BeatSerializer(wiring.Component):
    """Turns beats of up to ``beat`` values (``beat_layout``) into one value per transfer,
    in order, skipping the unused tail of short beats.

    Members
    -------
    i : In(stream.Signature(beat_layout(shape, beat)))
    o : Out(stream.Signature(shape))
    """

    def __init__(self, *, shape, beat):
        _check_pos("beat", beat, 64)
        self._beat = beat
        super().__init__({
            "i": In(stream.Signature(beat_layout(shape, beat))),
            "o": Out(stream.Signature(shape)),
        })

    def elaborate(self, platform):
        m = Module()
        index = Signal(range(self._beat))
        m.d.comb += [
            self.o.valid.eq(self.i.valid),
            self.o.payload.eq(self.i.payload.data[index]),
        ]
        with m.If(self.o.valid & self.o.ready):
            with m.If(index == self.i.payload.n - 1):
                m.d.comb += self.i.ready.eq(1)
                m.d.sync += index.eq(0)
            with m.Else():
                m.d.sync += index.eq(index + 1)
        return m
