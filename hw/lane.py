"""The psum lane of one array column: banked memories for the partial sums of its chains.

Every psum chain of a column (one per vertical set copy and segment) owns ``F * p``
entries from its configured base. The lane is ``lane_banks`` memories of
``psum_lane / lane_banks`` entries, address ``a`` in bank ``a // bank_depth``; each bank
has one write port, shared round robin by the tops whose write pointer lies in it, and
one read port, shared by the bottoms reading back the previous channel fold. Chains
placed in different banks (``gen.mapper.Mapping.lane_base``) therefore never wait for
each other's lane traffic.
"""

from amaranth import Cat, Module, Mux, ResetInserter, Shape, Signal
from amaranth.lib import data, fifo, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .count import tree_sum

__all__ = ["PsumLane", "round_robin"]


def round_robin(m, name, requests):
    """Grant the first requester after the one granted last, else the first of all.

    Returns the granted index and whether any requests. The state is a mask of the
    requesters after the last grant (all but the first at reset, as if the first had
    been granted); the grant is the lowest set bit of the masked requests, or of all of
    them (``x & -x``), so it is a carry chain and an OR tree, not a chain of priority
    multiplexers, in hardware and in a simulator alike.
    """
    n = len(requests)
    req = Signal(n, name=f"{name}_req")
    above = Signal(n, name=f"{name}_above", init=(1 << n) - 2)
    first = Signal(n, name=f"{name}_first")         # the grant, one-hot
    grant = Signal(range(max(n, 2)), name=f"{name}_grant")
    any_ = Signal(name=f"{name}_any")
    masked = req & above
    pick = Mux(masked.any(), masked, req)
    m.d.comb += [req.eq(Cat(*requests)), any_.eq(req.any()),
                 first.eq(pick & (~pick + 1)),
                 grant.eq(Cat(*(Cat(*(first[i] for i in range(n) if i >> j & 1)).any()
                                for j in range(len(grant)))))]
    with m.If(any_):
        m.d.sync += above.eq(~(first | (first - 1)))
    return grant, any_


def _count(m, counter, up, down):
    """``counter`` counts ``up`` and ``down`` (both: unchanged) with one adder: +1 or -1
    in its own width."""
    with m.If(up ^ down):
        m.d.sync += counter.eq(counter + Cat(1, down.replicate(len(counter) - 1)))


class PsumLane(wiring.Component):
    """Psum storage of one column of ``config.rows`` PEs.

    On ``start`` (one cycle, while not ``busy``) every row's write and read pointers load
    ``base[y]``, and a row with ``bottom[y]`` set will read ``fp`` values when ``acc`` is
    set. While ``busy``, ``w[y]`` writes the sums of the chain whose top is row ``y`` at
    consecutive addresses, and ``r[y]`` delivers the values the chain whose bottom is row
    ``y`` reads back, in address order, through a queue of ``lane_queue`` values. Each
    row's pointers run over its chain's ``fp`` entries and start over, so passes may
    follow each other without a ``start``: ``again`` (while ``busy``) lets the bottoms
    read ``fp`` more values when ``acc`` is set (the next pass queued in the PEs). A
    bottom reads an entry only after the top of its chain (the nearest ``top`` row at or
    above it) has written it in the pass before, so a bottom that runs ahead of its
    chain's top waits. Every pass address is ORed with ``flip`` (zero, or one address
    bit that no chain's entries use), so a fold's passes may run in one half of the lane
    while the other half is read out. While ``rd_own`` is high the read ports are the
    readout's and the bottoms' reads wait: ``rd_addr``/``rd_en`` read one address,
    ``rd_data`` the next cycle, held while ``rd_en`` is low. The lane decides a cycle
    ahead whether a bottom may read (the arbiters start from registers), so a read
    granted in the first cycle of ``rd_own`` still completes: ``rd_en`` may rise from
    the second. ``top`` is taken a cycle late, which no read sees (none is granted in a
    ``start``'s cycle).

    Members
    -------
    base : In(ArrayLayout(range(psum_lane), rows))
    top, bottom : In(rows)
    start, again, busy, acc : In(1)
    fp : In(range(...))
    w : In(stream.Signature(shape)).array(rows)
    r : Out(stream.Signature(shape)).array(rows)
    rd_addr, rd_en, rd_own, flip : In(...)
    rd_data : Out(shape)
    writes, reads : Out(range(lane_banks + 1))
        Lane accesses this cycle.
    """

    def __init__(self, *, config, shape):
        self._config = c = config
        self._shape = shape
        R, K = c.rows, c.lane_banks
        super().__init__({
            "base":    In(data.ArrayLayout(range(c.psum_lane), R)),
            "top":     In(R),
            "bottom":  In(R),
            "start":   In(1),
            "again":   In(1),
            "busy":    In(1),
            "acc":     In(1),
            "fp":      In(range(c.max_f * c.psum_spad + 1)),
            "w":       In(stream.Signature(shape)).array(R),
            "r":       Out(stream.Signature(shape)).array(R),
            "rd_addr": In(range(c.psum_lane)),
            "rd_en":   In(1),
            "rd_own":  In(1),
            "flip":    In(range(c.psum_lane)),
            "rd_data": Out(shape),
            "writes":  Out(range(K + 1)),
            "reads":   Out(range(K + 1)),
        })

    def elaborate(self, platform):
        c = self._config
        R, K = c.rows, c.lane_banks
        depth = c.psum_lane // K
        ob = (depth - 1).bit_length() if K > 1 else None   # offset bits within a bank
        m = Module()

        def bank(addr):
            return addr[ob:] if K > 1 else 0

        def offset(addr):
            return addr[:ob] if K > 1 else addr

        wptr = [Signal(range(c.psum_lane), name=f"wptr_{y}") for y in range(R)]
        rptr = [Signal(range(c.psum_lane), name=f"rptr_{y}") for y in range(R)]
        # A bottom's passes owed: the one it is reading (until its last entry) and those
        # queued behind it (`again`: while the readout owns the read ports, a bottom PE may
        # queue several). It runs k passes ahead of its reads only while their k * fp sums
        # fit its psum spad (PD entries), so it is owed at most PD / fp + 2 <= 3 * PD.
        pd = c.psum_spad + (c.skip_slack if c.zero_skip else 0)
        owed = [Signal(range(3 * pd + 1), name=f"owed_{y}") for y in range(R)]
        wrote = [Signal(name=f"wrote_{y}") for y in range(R)]       # top y writes
        read = [Signal(name=f"read_{y}") for y in range(R)]         # bottom y reads
        topof = [Signal(y + 1, name=f"topof_{y}") for y in range(R)]   # y's chain top, one-hot
        inflight = [Signal(name=f"inflight_{y}") for y in range(R)]
        # A bottom's reads land in a queue of `lane_queue` values. A read is issued while
        # the queue has room for it and for the one in flight, so with 3 and the memory's
        # cycle of latency the lane delivers a value per cycle without looking at the
        # PE's `ready` (with 1, a read every third cycle).
        QD = c.lane_queue
        # Whether bottom y may read this cycle (busy, the readout not owning the ports, room
        # in its queue, values left to read, its chain's top ahead of it): a register
        # loaded with the next cycle's answer, so the read arbiters start from flip-flops.
        elig = [Signal(name=f"elig_{y}") for y in range(R)]
        queue = []
        for y in range(R):
            q = fifo.SyncFIFO(width=Shape.cast(self._shape).width, depth=QD)
            q = ResetInserter(self.start)(q)
            m.submodules[f"rq_{y}"] = q
            queue.append(q)
        rd_bank = Signal(range(K))      # bank of the readout's address
        with m.If(self.rd_en):
            m.d.sync += rd_bank.eq(bank(self.rd_addr))

        # The addresses a pass uses are the pointers with the `flip` bit, ORed in after a
        # port's pointer is selected (a bank's choice needs it per row).
        wadr = [wptr[y] | self.flip for y in range(R)]
        radr = [rptr[y] | self.flip for y in range(R)]

        writes, reads = [], []
        for b in range(K):
            mem = memory.Memory(shape=self._shape, depth=depth, init=[])
            m.submodules[f"bank_{b}"] = mem
            wr, rd = mem.write_port(), mem.read_port()

            # Tops write, one per cycle, round robin among those pointing into this bank.
            wreq = [self.w[y].valid & (bank(wadr[y]) == b) for y in range(R)]
            wsel, wany = round_robin(m, f"w{b}", wreq)
            wptr_sel = Signal.like(wptr[0], name=f"wptr_sel_{b}")
            m.d.comb += wr.addr.eq(offset(wptr_sel | self.flip))
            with m.Switch(wsel):
                for y in range(R):
                    with m.Case(y):
                        m.d.comb += [wptr_sel.eq(wptr[y]), wr.data.eq(self.w[y].payload)]
                        with m.If(wany):
                            m.d.comb += [wr.en.eq(1), self.w[y].ready.eq(1), wrote[y].eq(1)]
            writes.append(wany)

            # Bottoms read into their queues; the data arrives a cycle later.
            rreq = [elig[y] & (bank(radr[y]) == b) for y in range(R)]
            rsel, rany = round_robin(m, f"r{b}", rreq)
            rsel_q = Signal.like(rsel, name=f"rsel_q_{b}")
            rany_q = Signal(name=f"rany_q_{b}")
            m.d.sync += [rsel_q.eq(rsel), rany_q.eq(rany)]
            # While `rd_own` the banks' read ports belong to the readout, which may hold
            # their data.
            rptr_sel = Signal.like(rptr[0], name=f"rptr_sel_{b}")
            m.d.comb += [rd.addr.eq(Mux(rany, offset(rptr_sel | self.flip),
                                        Mux(self.rd_own, offset(self.rd_addr), 0))),
                         rd.en.eq(~self.rd_own | self.rd_en | rany)]
            with m.Switch(rsel):
                for y in range(R):
                    with m.Case(y):
                        m.d.comb += rptr_sel.eq(rptr[y])
                        with m.If(rany):
                            m.d.comb += read[y].eq(1)
            for y in range(R):
                with m.If(rany_q & (rsel_q == y)):
                    m.d.comb += [queue[y].w_en.eq(1), queue[y].w_data.eq(rd.data)]
            with m.If(rd_bank == b):
                m.d.comb += self.rd_data.eq(rd.data)
            reads.append(rany)

        for y in range(R):
            m.d.sync += inflight[y].eq(read[y])        # its data lands the next cycle
            m.d.comb += [self.r[y].valid.eq(queue[y].r_rdy),
                         self.r[y].payload.eq(queue[y].r_data),
                         queue[y].r_en.eq(self.r[y].ready)]
        # Pointers run over the chain's F * p entries from its base, once per pass.
        # The last entry's address is a register: `base` and `fp` are written only while
        # the accelerator is idle, so they hold from a start through its passes.
        last = [Signal(name=f"last_{y}") for y in range(R)]     # bottom y reads a pass's last
        # Row y reads back for an accumulating pass: it is a chain's bottom and the pass
        # accumulates; `fp != 0` at a start, `fp_nz` (the same, registered) after it.
        owes = [self.bottom[y] & self.acc for y in range(R)]
        fp_nz = Signal()
        m.d.sync += fp_nz.eq(self.fp != 0)
        for y in range(R):
            end = Signal(range(c.psum_lane), name=f"end_{y}")
            m.d.sync += end.eq(self.base[y] + self.fp - 1)

            def step(ptr, y=y, end=end):
                return Mux(ptr == end, self.base[y], ptr + 1)
            with m.If(wrote[y]):
                m.d.sync += wptr[y].eq(step(wptr[y]))
            with m.If(read[y]):
                m.d.sync += rptr[y].eq(step(rptr[y]))
            # A pass is read when its last entry is: the pointer's wrap.
            m.d.comb += last[y].eq(read[y] & (rptr[y] == end))
            _count(m, owed[y], self.again & owes[y] & fp_nz, last[y])

        # A bottom reads a psum only after its chain's top has written it in the pass
        # before: `credit` counts what each top wrote and its chain's bottom has not yet
        # read back. The top of bottom y's chain is the nearest top row at or above y.
        credit = [Signal(range(2 * c.max_f * c.psum_spad + 1), name=f"credit_{y}")
                  for y in range(R)]
        # `top` changes only between layers, at least a cycle before the first read (reads
        # wait for the start's registered eligibility), so the chains' tops are registered.
        for y in range(R):
            m.d.sync += topof[y].eq(Cat(*(self.top[t] & ~self.top[t + 1:y + 1].any()
                                          for t in range(y + 1))))
        credit_ok = []          # credit[t] != 0 in the next cycle
        for t in range(R):
            back = Cat(*(read[b] & topof[b][t] for b in range(t, R))).any()
            _count(m, credit[t], wrote[t], back)
            ok = Signal(name=f"credit_ok_{t}")
            m.d.comb += ok.eq(Mux(self.start & ~self.acc, 0,
                                  Mux(wrote[t] & ~back, 1,
                                      Mux(back & ~wrote[t], credit[t] > 1, credit[t] != 0))))
            credit_ok.append(ok)

        # The next cycle's read eligibility, from this cycle's values and its grants (which
        # only select among precomputed alternatives). A pass start makes the lane busy.
        for y in range(R):
            pop = queue[y].r_en & queue[y].r_rdy
            held = queue[y].level + inflight[y]             # values queued or in flight
            room = Mux(read[y] & ~pop, held < QD - 1, Mux(pop & ~read[y], 1, held < QD))
            left_now = Mux(last[y], owed[y] > 1, owed[y] != 0)
            left = Mux(self.start, owes[y] & (self.fp != 0),
                       Mux(self.again & owes[y], fp_nz | left_now,
                           left_now))
            chain = Signal(name=f"chain_ok_{y}")
            m.d.comb += chain.eq((topof[y] & Cat(*credit_ok[:y + 1])).any())
            m.d.sync += elig[y].eq((self.busy | self.start) & ~self.rd_own & room & left & chain)

        # Pass start: pointers from the configured bases (after the updates above); a
        # layer's first pass over the chains (no accumulation) clears the credits.
        with m.If(self.start):
            for y in range(R):
                m.d.sync += [wptr[y].eq(self.base[y]), rptr[y].eq(self.base[y]),
                             owed[y].eq(owes[y] & (self.fp != 0))]
                with m.If(~self.acc):
                    m.d.sync += credit[y].eq(0)

        m.d.comb += [self.writes.eq(tree_sum(writes)), self.reads.eq(tree_sum(reads))]
        return m
