"""Row-stationary 1-D processing element (Eyeriss PE, BRIEF.md section 3)."""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .mac import MAC

__all__ = ["PE1D", "pe_cfg_layout"]


def pe_cfg_layout(config):
    """Run-time job description of a :class:`PE1D` built for ``config``."""
    return data.StructLayout({
        "s":       range(1, config.max_s + 1),        # filter row width S
        "f":       range(1, config.psum_spad + 1),    # output row width F
        "u":       range(1, config.max_stride + 1),   # stride U
        "q":       range(1, config.filter_spad + 1),  # rows accumulated before output
        "psum_en": 1,                                 # add psum_in to each output
    })


class PE1D(wiring.Component):
    """One row-stationary PE: filter rows stationary, input rows sliding, psums local.

    A job is started by ``start`` with the job held on ``cfg``. It computes
    ``q`` 1-D convolutions of a filter row (``S`` weights) with an input row of
    ``(F - 1) * U + S`` values at stride ``U``, and sums the ``q`` results per output
    position in the psum scratchpad (local accumulation across channels):

        psum[f] = sum_k sum_s wgt[k][s] * act[k][f * U + s]

    then streams ``psum[f] + psum_in[f]`` (or ``psum[f]`` when ``psum_en`` is low) out on
    ``psum_out`` for ``f = 0 .. F - 1``. ``wgt`` carries the ``q * S`` weights row by row,
    ``act`` the ``q`` input rows one after the other; both are taken as soon as there is
    room, so loading overlaps computation. The caller keeps ``q * S <= filter_spad`` and
    ``F <= psum_spad``. One MAC issues per cycle whenever its operands are present.

    Parameters
    ----------
    config : gen.config.Config
        Widths, scratchpad depths and run-time limits.

    Members
    -------
    cfg : In(pe_cfg_layout(config))
        Job, sampled on the ``start`` cycle.
    start : In(1)
        Begins a job when the PE is idle (ignored while ``busy``).
    busy : Out(1)
    done : Out(1)
        One-cycle pulse after the last output transfer of a job.
    wgt, act : In(stream.Signature(...))
        Filter weights and input activations, one value per transfer.
    psum_in : In(stream.Signature(acc))
        Partial sums from the neighbouring PE; used only when ``psum_en``.
    psum_out : Out(stream.Signature(acc))
        Output partial sums, one per output position.
    macs, gated : Out(counter_width)
        MACs performed and MACs skipped by zero gating, since reset.
    """

    def __init__(self, *, config):
        if not hasattr(config, "filter_spad"):
            raise TypeError(f"config must be a rowloom Config, not {config!r}")
        self._config = config
        c = config
        self._act_shape = signed(c.act_width) if c.act_signed else unsigned(c.act_width)
        self._wgt_shape = signed(c.wgt_width) if c.wgt_signed else unsigned(c.wgt_width)
        self._acc_shape = signed(c.acc_bits) if c.acc_signed else unsigned(c.acc_bits)
        super().__init__({
            "cfg":      In(pe_cfg_layout(c)),
            "start":    In(1),
            "busy":     Out(1),
            "done":     Out(1),
            "wgt":      In(stream.Signature(self._wgt_shape)),
            "act":      In(stream.Signature(self._act_shape)),
            "psum_in":  In(stream.Signature(self._acc_shape)),
            "psum_out": Out(stream.Signature(self._acc_shape)),
            "macs":     Out(c.counter_width),
            "gated":    Out(c.counter_width),
        })

    @property
    def config(self):
        return self._config

    def elaborate(self, platform):
        c = self._config
        m = Module()

        m.submodules.mac = mac = MAC(
            a_width=c.act_width, a_signed=c.act_signed, b_width=c.wgt_width,
            b_signed=c.wgt_signed, reduction=c.reduction, acc_width=c.acc_bits,
            product_reg=c.product_reg, zero_gate=c.zero_gate, counter_width=c.counter_width)
        m.d.comb += [self.macs.eq(mac.macs), self.gated.eq(mac.gated)]

        m.submodules.fspad = fspad = memory.Memory(
            shape=self._wgt_shape, depth=c.filter_spad, init=[])
        m.submodules.ispad = ispad = memory.Memory(
            shape=self._act_shape, depth=c.ifmap_spad, init=[])
        m.submodules.pspad = pspad = memory.Memory(
            shape=self._acc_shape, depth=c.psum_spad, init=[])
        fspad_w, fspad_r = fspad.write_port(), fspad.read_port(domain="comb")
        ispad_w, ispad_r = ispad.write_port(), ispad.read_port(domain="comb")
        pspad_w = pspad.write_port()
        pspad_rmw = pspad.read_port(domain="comb")    # read-modify-write on accumulation
        pspad_out = pspad.read_port(domain="comb")    # drain

        job = Signal(pe_cfg_layout(c))
        n_in = Signal(range(c.psum_spad * c.max_stride + c.max_s + 1))  # values per row
        busy = Signal()
        m.d.comb += self.busy.eq(busy)

        # -- weight loader: q rows of S weights into the filter spad -------------------------
        w_row  = Signal(range(c.filter_spad + 1))
        w_idx  = Signal(range(c.max_s + 1))
        w_addr = Signal(range(c.filter_spad + 1))
        m.d.comb += [
            self.wgt.ready.eq(busy & (w_row < job.q)),
            fspad_w.addr.eq(w_addr),
            fspad_w.data.eq(self.wgt.payload),
            fspad_w.en.eq(self.wgt.valid & self.wgt.ready),
        ]
        with m.If(self.wgt.valid & self.wgt.ready):
            m.d.sync += w_addr.eq(w_addr + 1)
            with m.If(w_idx == job.s - 1):
                m.d.sync += [w_idx.eq(0), w_row.eq(w_row + 1)]
            with m.Else():
                m.d.sync += w_idx.eq(w_idx + 1)

        # -- activation loader: q rows of n_in values through the circular ifmap spad ---------
        # `occ` counts spad entries from the window base `rb` onwards. It goes negative when
        # a stride larger than the filter frees values that have not arrived yet; those then
        # land behind the base and are never read.
        a_row = Signal(range(c.filter_spad + 1))
        a_idx = Signal(range(c.psum_spad * c.max_stride + c.max_s + 1))
        wp    = Signal(range(c.ifmap_spad))
        rb    = Signal(range(c.ifmap_spad))
        occ   = Signal(signed(len(Signal(range(c.ifmap_spad + 1))) + 1))
        a_take = Signal()
        m.d.comb += [
            a_take.eq(self.act.valid & self.act.ready),
            self.act.ready.eq(busy & (a_row < job.q) & (occ < c.ifmap_spad)),
            ispad_w.addr.eq(wp),
            ispad_w.data.eq(self.act.payload),
            ispad_w.en.eq(a_take),
        ]
        with m.If(a_take):
            m.d.sync += wp.eq(Mux(wp == c.ifmap_spad - 1, 0, wp + 1))
            with m.If(a_idx == n_in - 1):
                m.d.sync += [a_idx.eq(0), a_row.eq(a_row + 1)]
            with m.Else():
                m.d.sync += a_idx.eq(a_idx + 1)

        # -- compute: for k < q, f < F, s < S issue act[k][f*U + s] * wgt[k][s] ---------------
        k     = Signal(range(c.filter_spad + 1))
        f     = Signal(range(c.psum_spad))
        s     = Signal(range(c.max_s))
        wbase = Signal(range(c.filter_spad + 1))    # k * S
        computing = busy & (k < job.q)
        w_ready = (w_row > k) | ((w_row == k) & (w_idx > s))
        a_ready = occ > s
        issue = Signal()
        last_s = Signal()
        m.d.comb += [
            issue.eq(computing & w_ready & a_ready),
            last_s.eq(s == job.s - 1),
            fspad_r.addr.eq(wbase + s),
            ispad_r.addr.eq(Mux(rb + s >= c.ifmap_spad, rb + s - c.ifmap_spad, rb + s)),
            mac.a.eq(ispad_r.data),
            mac.b.eq(fspad_r.data),
            mac.en.eq(issue),
            mac.clear.eq(issue & (s == 0)),
        ]

        free = Signal(range(max(c.max_s, c.max_stride) + 1))
        with m.If(issue):
            with m.If(last_s):
                m.d.sync += s.eq(0)
                with m.If(f == job.f - 1):
                    # Row done: release its last window and move to the next filter row.
                    m.d.comb += free.eq(job.s)
                    m.d.sync += [f.eq(0), k.eq(k + 1), wbase.eq(wbase + job.s)]
                with m.Else():
                    m.d.comb += free.eq(job.u)
                    m.d.sync += f.eq(f + 1)
            with m.Else():
                m.d.sync += s.eq(s + 1)
        rb_next = rb + free
        m.d.sync += [
            rb.eq(Mux(rb_next >= c.ifmap_spad, rb_next - c.ifmap_spad, rb_next)),
            occ.eq(occ + a_take - free),
        ]

        # -- write-back: psum[f] (+)= row result, `latency` cycles after the last issue -------
        tag_layout = data.StructLayout({"valid": 1, "f": range(c.psum_spad), "first": 1,
                                        "final": 1})
        tag = Signal(tag_layout)
        m.d.comb += [
            tag.valid.eq(issue & last_s),
            tag.f.eq(f),
            tag.first.eq(k == 0),
            tag.final.eq(k == job.q - 1),
        ]
        for _ in range(mac.latency):
            delayed = Signal(tag_layout)
            m.d.sync += delayed.eq(tag)
            tag = delayed
        written = Signal(range(c.psum_spad + 1))    # final sums ready for the drain
        m.d.comb += [
            pspad_rmw.addr.eq(tag.f),
            pspad_w.addr.eq(tag.f),
            pspad_w.data.eq(Mux(tag.first, 0, pspad_rmw.data) + mac.acc),
            pspad_w.en.eq(tag.valid),
        ]
        with m.If(tag.valid & tag.final):
            m.d.sync += written.eq(written + 1)

        # -- drain: psum_out = psum[d] + psum_in, through an output register ---------------
        d = Signal(range(c.psum_spad + 1))
        out_free = ~self.psum_out.valid | self.psum_out.ready
        have = busy & (d < written)
        produce = Signal()
        m.d.comb += [
            pspad_out.addr.eq(d),
            self.psum_in.ready.eq(out_free & have & job.psum_en),
            produce.eq(out_free & have & (self.psum_in.valid | ~job.psum_en)),
        ]
        with m.If(out_free):
            m.d.sync += self.psum_out.valid.eq(produce)
        with m.If(produce):
            m.d.sync += [
                self.psum_out.payload.eq(
                    pspad_out.data + Mux(job.psum_en, self.psum_in.payload, 0)),
                d.eq(d + 1),
            ]

        # -- job control -------------------------------------------------------------------
        finished = busy & (k == job.q) & (d == job.f) & ~self.psum_out.valid
        m.d.sync += self.done.eq(finished)
        with m.If(finished):
            m.d.sync += busy.eq(0)
        with m.If(~busy & self.start):
            m.d.sync += [
                busy.eq(1),
                job.eq(self.cfg),
                n_in.eq((self.cfg.f - 1) * self.cfg.u + self.cfg.s),
                w_row.eq(0), w_idx.eq(0), w_addr.eq(0),
                a_row.eq(0), a_idx.eq(0), wp.eq(0), rb.eq(0), occ.eq(0),
                k.eq(0), f.eq(0), s.eq(0), wbase.eq(0),
                written.eq(0), d.eq(0),
            ]
        return m
