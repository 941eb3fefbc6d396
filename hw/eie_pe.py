"""The EIE processing element: a sparse matrix-vector slice on compressed columns.

One PE holds rows ``k, k + N, k + 2N, ...`` of every layer (``gen/compress.py`` gives the
format): per column a run of (codebook index, relative row) entries between two column
pointers. For each broadcast activation ``(j, a_j)`` it reads ``p[j]`` and ``p[j + 1]`` in
one cycle from an even and an odd pointer bank, walks the entries one per cycle, decodes
each index through the layer's codebook and adds ``w * a_j`` to the accumulator of its row.

Pipeline, one entry per cycle (the ``p_``, ``w_``, ``d_``, ``m_``, ``x_`` prefixes)::

    queue -> P pointer read -> W entry read -> D row, codebook read -> M multiply,
             accumulator read -> X accumulate and write

The accumulator read in M and the write in X are one read-modify-write; when two
consecutive entries hit the same row (the last entry of one column and the first of the
next) the read port's transparency forwards the value being written: the bypass.
"""

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, fifo, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .mac import int_bounds

__all__ = ["SparsePE", "Target", "act_layout", "entry_layout", "load_layout", "load_depth",
           "load_width", "pe_signature", "requantize"]


class Target(enum.Enum, shape=3):
    """What a host write goes to (``load.sel``)."""
    PTR   = 0   # column pointer ``addr`` of the PE's pointer array (all layers)
    SPMAT = 1   # sparse-matrix entry ``addr``
    CODE  = 2   # codebook value ``addr`` = layer << codebook_bits | index
    ACT   = 3   # input activation ``addr`` (local index) of the source file
    REG   = 4   # a run-time register of the engine (not a PE memory)


def act_layout(config):
    """A broadcast activation: its column and value."""
    return data.StructLayout({"col": range(config.max_cols),
                              "value": signed(config.act_width)})


def entry_layout(config):
    """A sparse-matrix entry: codebook index (0: padding) and zero rows before it."""
    return data.StructLayout({"code": unsigned(config.codebook_bits),
                              "zero": unsigned(config.index_bits)})


def load_depth(config):
    """Addresses a host write may name: the deepest PE memory."""
    return max(config.ptr_depth, config.spmat_depth, config.codebook_depth,
               2 * config.act_depth)


def load_width(config):
    """Bits of a host write's data: the widest PE memory."""
    return max(config.ptr_bits, config.codebook_bits + config.index_bits, config.code_width,
               config.act_width)


def load_layout(config):
    """A host write into a PE memory."""
    return data.StructLayout({"sel": Target, "addr": range(load_depth(config)),
                              "data": unsigned(load_width(config))})


def requantize(value, *, shift, width):
    """``value`` shifted right arithmetically by ``shift`` and saturated to ``width`` signed
    bits (``tb.golden.requantize`` after its ReLU)."""
    lo, hi = int_bounds(width, True)
    v = value >> shift
    return Mux(v > hi, hi, Mux(v < lo, lo, v))


def pe_signature(config):
    """The ports of :class:`SparsePE` for ``config``."""
    c = config
    return wiring.Signature({
        "act":        In(stream.Signature(act_layout(c))),
        "run":        In(1),
        "ptr_base":   In(range(c.ptr_depth)),
        "layer":      In(range(c.max_layers)),
        "idle":       Out(1),
        "load":       In(stream.Signature(load_layout(c))),
        "src_bank":   In(1),
        "src_addr":   In(range(c.act_depth)),
        "src_en":     In(1),
        "src_data":   Out(signed(c.act_width)),
        "acc_addr":   In(range(c.rows_per_pe)),
        "wb_en":      In(1),
        "clr_en":     In(1),
        "raw":        In(1),
        "relu":       In(1),
        "shift":      In(range(c.acc_bits)),
        "rd_data":    Out(signed(c.acc_bits)),
        "ev_entry":   Out(1),
        "ev_pad":     Out(1),
        "ev_starved": Out(1),
        "busy_count": Out(c.counter_width),
        
    })


class SparsePE(wiring.Component):
    """One EIE PE generated for an :class:`gen.eie_config.EieConfig`.

    While ``run`` is high the PE takes activations from ``act`` into its queue and
    accumulates ``codebook[layer][code] * value`` into the rows of each column ``col``,
    reading pointers ``ptr_base + col`` and ``ptr_base + col + 1``. ``idle`` is high when
    its queue is empty and no entry is in flight. With ``run`` low, the controller reaches
    the accumulators through ``acc_addr``: ``rd_data`` is (one cycle later) the
    accumulator after ReLU if ``relu``, raw if ``raw``, else requantized with ``shift``;
    ``wb_en`` writes its requantized value into the destination activation file (the bank that is not
    ``src_bank``) and clears it; ``clr_en`` clears it. Accumulators start at zero and every
    value leaves through one of those paths, so each run starts from zero.

    Members
    -------
    act : In(stream.Signature(act_layout(config)))
        Broadcast activations; ``ready`` while the queue has room, independent of
        ``valid`` (the broadcaster raises ``valid`` only when every PE is ready).
    run : In(1)
    ptr_base : In(range(ptr_depth))
    layer : In(range(max_layers))
        The running layer's pointer base and codebook.
    idle : Out(1)
    load : In(stream.Signature(load_layout(config)))
        Host writes, always ready (``PTR``, ``SPMAT``, ``CODE``, ``ACT``); ``ACT`` writes go to bank 0.
    src_bank : In(1)
        The activation file holding the running layer's input.
    src_addr : In(range(act_depth)), src_en : In(1), src_data : Out(signed(act_width))
        Source activation read for the broadcast: ``src_data`` follows ``src_addr`` one
        cycle after a cycle with ``src_en`` and holds otherwise.
    acc_addr : In(range(rows_per_pe))
    wb_en, clr_en, raw, relu : In(1)
    shift : In(range(acc_bits))
    rd_data : Out(signed(acc_bits))
    ev_entry, ev_pad, ev_starved : Out(1)
        This cycle an entry left W; a padding entry was accumulated; the PE had nothing to
        do during ``run`` (queue empty, no column in progress).
    busy_count : Out(counter_width)
        Cycles in which an entry left W, since reset.
    """

    def __init__(self, *, config):
        self._config = c = config
        self._act = signed(c.act_width)
        self._acc = signed(c.acc_bits)
        super().__init__(pe_signature(c))

    @property
    def config(self):
        return self._config

    def elaborate(self, platform):
        c = self._config
        m = Module()
        ld = self.load.payload
        ld_en = self.load.valid
        m.d.comb += self.load.ready.eq(1)

        # -- memories ----------------------------------------------------------------------
        m.submodules.ptr_even = ptr_even = memory.Memory(
            shape=c.ptr_bits, depth=(c.ptr_depth + 1) // 2, init=[])
        m.submodules.ptr_odd = ptr_odd = memory.Memory(
            shape=c.ptr_bits, depth=c.ptr_depth // 2, init=[])
        m.submodules.spmat = spmat = memory.Memory(
            shape=entry_layout(c), depth=c.spmat_depth, init=[])
        m.submodules.codebook = codebook = memory.Memory(
            shape=signed(c.code_width), depth=c.codebook_depth, init=[])
        m.submodules.accs = accs = memory.Memory(
            shape=self._acc, depth=c.rows_per_pe, init=[0] * c.rows_per_pe)
        # Two activation files in one memory: bank b holds addresses b * act_depth + i.
        m.submodules.acts = acts = memory.Memory(
            shape=self._act, depth=2 * c.act_depth, init=[])

        even_w, odd_w = ptr_even.write_port(), ptr_odd.write_port()
        even_r, odd_r = ptr_even.read_port(), ptr_odd.read_port()
        spmat_w, spmat_r = spmat.write_port(), spmat.read_port()
        code_w, code_r = codebook.write_port(), codebook.read_port()
        acc_w = accs.write_port()
        acc_r = accs.read_port(transparent_for=(acc_w,))
        act_w, act_r = acts.write_port(), acts.read_port()

        # -- host writes -------------------------------------------------------------------
        is_ = {t: ld_en & (ld.sel == t) for t in Target}
        m.d.comb += [
            even_w.addr.eq(ld.addr >> 1), even_w.data.eq(ld.data),
            even_w.en.eq(is_[Target.PTR] & ~ld.addr[0]),
            odd_w.addr.eq(ld.addr >> 1), odd_w.data.eq(ld.data),
            odd_w.en.eq(is_[Target.PTR] & ld.addr[0]),
            spmat_w.addr.eq(ld.addr), spmat_w.data.eq(ld.data), spmat_w.en.eq(is_[Target.SPMAT]),
            code_w.addr.eq(ld.addr), code_w.data.eq(ld.data), code_w.en.eq(is_[Target.CODE]),
        ]

        # -- activation queue --------------------------------------------------------------
        layout = act_layout(c)
        m.submodules.queue = queue = fifo.SyncFIFO(width=layout.size, depth=c.queue_depth)
        head = data.View(layout, queue.r_data)
        m.d.comb += [
            queue.w_data.eq(self.act.payload),
            queue.w_en.eq(self.act.valid),
            self.act.ready.eq(queue.w_rdy),
        ]

        # -- P: pointer pair of the queue head ---------------------------------------------
        p_valid = Signal()
        p_odd = Signal()
        p_act = Signal(self._act, reset_less=True)
        p_start = Mux(p_odd, odd_r.data, even_r.data)
        p_end = Mux(p_odd, even_r.data, odd_r.data)
        p_empty = p_start == p_end

        # -- W: walk the column's entries --------------------------------------------------
        w_valid = Signal()
        w_first = Signal()
        w_addr = Signal(range(c.spmat_depth + 1))
        w_end = Signal(range(c.spmat_depth + 1))
        w_act = Signal(self._act, reset_less=True)
        w_last = w_valid & (w_addr + 1 == w_end)
        w_free = ~w_valid | w_last
        p_leave = p_valid & (p_empty | w_free)
        p_take = ~p_valid | p_leave
        pop = queue.r_rdy & self.run & p_take
        x = Signal(range(c.ptr_depth + c.max_cols))
        m.d.comb += [
            x.eq(self.ptr_base + head.col),
            even_r.addr.eq((x + 1) >> 1), odd_r.addr.eq(x >> 1),
            even_r.en.eq(pop), odd_r.en.eq(pop),
            queue.r_en.eq(pop),
        ]
        with m.If(p_take):
            m.d.sync += [p_valid.eq(pop), p_odd.eq(x[0]), p_act.eq(head.value)]

        with m.If(p_leave & ~p_empty):
            m.d.sync += [w_valid.eq(1), w_first.eq(1), w_addr.eq(p_start), w_end.eq(p_end),
                         w_act.eq(p_act)]
        with m.Elif(w_valid):
            m.d.sync += [w_addr.eq(w_addr + 1), w_first.eq(0)]
            with m.If(w_last):
                m.d.sync += w_valid.eq(0)
        m.d.comb += [spmat_r.addr.eq(w_addr), spmat_r.en.eq(w_valid)]

        # -- D: row from the relative index; codebook read ---------------------------------
        d_valid = Signal()
        d_first = Signal()
        d_act = Signal(self._act, reset_less=True)
        d_row = Signal(range(c.rows_per_pe), reset_less=True)
        m.d.sync += [d_valid.eq(w_valid), d_first.eq(w_first), d_act.eq(w_act)]
        entry = spmat_r.data
        row = Signal(range(c.rows_per_pe))
        m.d.comb += [
            row.eq(Mux(d_first, entry.zero, d_row + entry.zero + 1)),
            code_r.addr.eq(Cat(entry.code, self.layer)),
            code_r.en.eq(d_valid),
        ]
        with m.If(d_valid):
            m.d.sync += d_row.eq(row)

        # -- M: weight times activation; accumulator read ----------------------------------
        m_valid = Signal()
        m_pad = Signal()
        m_row = Signal(range(c.rows_per_pe), reset_less=True)
        m_act = Signal(self._act, reset_less=True)
        m.d.sync += [m_valid.eq(d_valid), m_pad.eq(d_valid & (entry.code == 0)),
                     m_row.eq(row), m_act.eq(d_act)]
        weight = Mux(m_pad, 0, code_r.data)

        x_valid = Signal()
        x_row = Signal(range(c.rows_per_pe), reset_less=True)
        x_prod = Signal(signed(c.act_width + c.code_width), reset_less=True)
        m.d.sync += [x_valid.eq(m_valid), x_row.eq(m_row), x_prod.eq(weight * m_act)]

        # -- X: accumulate; or the controller's write-back, readout and clear --------------
        rd = Signal(self._acc)
        m.d.comb += rd.eq(acc_r.data)
        rectified = Mux(self.relu & rd[-1], 0, rd)
        requant = requantize(rectified, shift=self.shift, width=c.act_width)
        wb_valid = Signal()
        wb_addr = Signal(range(c.rows_per_pe), reset_less=True)
        m.d.sync += [wb_valid.eq(self.wb_en), wb_addr.eq(self.acc_addr)]
        m.d.comb += [
            acc_r.addr.eq(Mux(self.run, m_row, self.acc_addr)),
            self.rd_data.eq(Mux(self.raw, rectified, requant)),
        ]
        with m.If(x_valid):
            m.d.comb += [acc_w.addr.eq(x_row), acc_w.data.eq(rd + x_prod), acc_w.en.eq(1)]
        with m.Elif(wb_valid):
            m.d.comb += [acc_w.addr.eq(wb_addr), acc_w.data.eq(0), acc_w.en.eq(1)]
        with m.Elif(self.clr_en):
            m.d.comb += [acc_w.addr.eq(self.acc_addr), acc_w.data.eq(0), acc_w.en.eq(1)]

        # -- activation files --------------------------------------------------------------
        dst = ~self.src_bank
        with m.If(wb_valid):
            m.d.comb += [act_w.addr.eq(Mux(dst, c.act_depth + wb_addr, wb_addr)),
                         act_w.data.eq(requant), act_w.en.eq(1)]
        with m.Else():
            m.d.comb += [act_w.addr.eq(ld.addr), act_w.data.eq(ld.data),
                         act_w.en.eq(is_[Target.ACT])]
        m.d.comb += [
            act_r.addr.eq(Mux(self.src_bank, c.act_depth + self.src_addr, self.src_addr)),
            act_r.en.eq(self.src_en),
            self.src_data.eq(act_r.data),
        ]

        # -- status and events -------------------------------------------------------------
        m.d.comb += [
            self.idle.eq(~queue.r_rdy & ~p_valid & ~w_valid & ~d_valid & ~m_valid & ~x_valid),
            self.ev_entry.eq(w_valid),
            self.ev_pad.eq(m_pad),
            self.ev_starved.eq(self.run & ~queue.r_rdy & ~p_valid & ~w_valid),
        ]
        with m.If(w_valid):
            m.d.sync += self.busy_count.eq(self.busy_count + 1)
        return m
