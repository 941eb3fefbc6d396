"""Row-stationary 1-D processing element (Eyeriss PE, BRIEF.md section 3)."""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .mac import MAC

__all__ = ["PE1D", "pe_cfg_layout", "pe_job"]


def pe_cfg_layout(config):
    """Run-time job description of a :class:`PE1D` built for ``config``.

    Besides the shape it carries the products the PE's loops need, worked out once by
    whoever issues the job (:func:`pe_job`), so no PE has a multiplier for them.
    """
    c = config
    return data.StructLayout({
        "s":       range(1, c.max_s + 1),              # filter row width S
        "f":       range(1, c.max_f + 1),              # output row width F
        "u":       range(1, c.max_stride + 1),         # stride U
        "p":       range(1, c.psum_spad + 1),          # filters interleaved
        "q":       range(1, c.ifmap_spad + 1),         # channels interleaved
        "psum_en": 1,                                  # add psum_in to each output
        "n_in":    range(c.max_f * c.max_stride + c.max_s + 1),  # (F - 1) * U + S
        "qs":      range(c.ifmap_spad + 1),            # q * S: the sliding window
        "qu":      range(c.ifmap_spad + 1),            # q * U: the window's step
        "pqs":     range(c.filter_spad + 1),           # p * q * S: weights of the job
    })


def pe_job(*, s, f, u, p, q, psum_en):
    """The ``cfg`` value of a job: its shape and the products :func:`pe_cfg_layout` holds."""
    return {"s": s, "f": f, "u": u, "p": p, "q": q, "psum_en": psum_en,
            "n_in": (f - 1) * u + s, "qs": q * s, "qu": q * u, "pqs": p * q * s}


class PE1D(wiring.Component):
    """One row-stationary PE: filter rows stationary, input rows sliding, psums out.

    A job, held on ``cfg`` (see :func:`pe_job`) when ``start`` is pulsed, convolves ``q`` input rows (one per
    channel, ``(F - 1) * U + S`` values each) with ``p`` filters of ``q`` rows of ``S``
    weights at stride ``U``, summing over the channels locally:

        out[f][k] = sum_c sum_s wgt[k][c][s] * act[c][f * U + s]   (+ psum_in[f][k])

    Streams carry one value per transfer, in these orders (last index fastest):
    ``wgt`` as ``[k][s][c]`` (the ``p * q * S`` weights stay in the filter spad for the
    whole job), ``act`` as ``[i][c]`` (position-major, channels interleaved; a window of
    ``q * S`` values slides through the circular ifmap spad), and ``psum_in`` and
    ``psum_out`` as ``[f][k]``. Loading overlaps computation; one MAC issues per cycle
    whenever its operands are present and the psum spad, which queues finished sums for
    output, has room. The caller keeps ``p * q * S <= filter_spad``,
    ``q * max(S, U) <= ifmap_spad`` and ``p <= psum_spad``.

    Parameters
    ----------
    config : gen.config.Config
        Widths, scratchpad depths and run-time limits.
    counters : bool
        Keep the ``macs`` and ``gated`` counters; an array that counts ``fire`` and
        ``skip`` itself leaves them out.

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
        Filter weights and input activations.
    psum_in : In(stream.Signature(acc))
        Partial sums from the neighbouring PE; taken only when ``psum_en``.
    psum_out : Out(stream.Signature(acc))
    macs, gated : Out(counter_width)
        MACs performed and MACs skipped by zero gating, since reset (with ``counters``).
    fire, skip : Out(1)
        A MAC is performed (``fire``) or skipped by zero gating (``skip``) this cycle; an
        array counts these instead of keeping counters in every PE.
    """

    def __init__(self, *, config, counters=True):
        if not hasattr(config, "filter_spad"):
            raise TypeError(f"config must be a rowloom Config, not {config!r}")
        self._config = config
        self._counters = bool(counters)
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
            **({"macs": Out(c.counter_width), "gated": Out(c.counter_width)}
               if self._counters else {}),
            "fire":     Out(1),
            "skip":     Out(1),
        })

    @property
    def config(self):
        return self._config

    def elaborate(self, platform):
        c = self._config
        FD, ID, PD = c.filter_spad, c.ifmap_spad, c.psum_spad
        m = Module()

        m.submodules.mac = mac = MAC(
            a_width=c.act_width, a_signed=c.act_signed, b_width=c.wgt_width,
            b_signed=c.wgt_signed, reduction=c.reduction, acc_width=c.acc_bits,
            product_reg=c.product_reg, zero_gate=c.zero_gate,
            counter_width=c.counter_width if self._counters else 0)
        if self._counters:
            m.d.comb += [self.macs.eq(mac.macs), self.gated.eq(mac.gated)]

        m.submodules.fspad = fspad = memory.Memory(shape=self._wgt_shape, depth=FD, init=[])
        m.submodules.ispad = ispad = memory.Memory(shape=self._act_shape, depth=ID, init=[])
        m.submodules.pspad = pspad = memory.Memory(shape=self._acc_shape, depth=PD, init=[])
        fspad_w, fspad_r = fspad.write_port(), fspad.read_port(domain="comb")
        ispad_w, ispad_r = ispad.write_port(), ispad.read_port(domain="comb")
        pspad_w, pspad_r = pspad.write_port(), pspad.read_port(domain="comb")

        # The job, with the products of its fields that the loops need.
        job  = Signal(pe_cfg_layout(c))
        n_in, qs, qu, pqs = job.n_in, job.qs, job.qu, job.pqs
        busy = Signal()
        m.d.comb += self.busy.eq(busy)

        # -- weight loader ---------------------------------------------------------------------
        w_loaded = Signal(range(FD + 1))
        w_done = w_loaded == pqs
        m.d.comb += [
            self.wgt.ready.eq(busy & ~w_done),
            fspad_w.addr.eq(w_loaded),
            fspad_w.data.eq(self.wgt.payload),
            fspad_w.en.eq(self.wgt.valid & self.wgt.ready),
        ]
        with m.If(self.wgt.valid & self.wgt.ready):
            m.d.sync += w_loaded.eq(w_loaded + 1)

        # -- activation loader: n_in positions x q channels through the circular ifmap spad --
        # `occ` counts entries from the window base `rb` onwards. It goes negative when a
        # stride larger than the filter frees values that have not arrived yet; those then
        # land behind the base and are never read.
        a_pos = Signal(range(c.max_f * c.max_stride + c.max_s + 1))
        a_c   = Signal(range(ID))
        wp    = Signal(range(ID))
        rb    = Signal(range(ID))
        occ   = Signal(signed(Signal(range(ID + 1)).shape().width + 1))
        a_done = a_pos == n_in
        a_take = Signal()
        m.d.comb += [
            self.act.ready.eq(busy & ~a_done & (occ < ID)),
            a_take.eq(self.act.valid & self.act.ready),
            ispad_w.addr.eq(wp),
            ispad_w.data.eq(self.act.payload),
            ispad_w.en.eq(a_take),
        ]
        with m.If(a_take):
            m.d.sync += wp.eq(Mux(wp == ID - 1, 0, wp + 1))
            with m.If(a_c == job.q - 1):
                m.d.sync += [a_c.eq(0), a_pos.eq(a_pos + 1)]
            with m.Else():
                m.d.sync += a_c.eq(a_c + 1)

        # -- compute: for f < F, k < p, o = s * q + c < q * S: act[c][fU+s] * wgt[k][s][c] --
        f     = Signal(range(c.max_f + 1))
        k     = Signal(range(PD))
        o     = Signal(range(ID))
        kbase = Signal(range(FD + 1))                  # k * q * S
        alloc = Signal(range(PD + 1))                  # sums started and not yet drained
        a_idx = rb + o
        w_ok  = w_loaded > kbase + o
        a_ok  = occ > o
        room  = (o != 0) | (alloc < PD)
        issue = Signal()
        last  = Signal()
        m.d.comb += [
            issue.eq(busy & (f < job.f) & w_ok & a_ok & room),
            last.eq(o == qs - 1),
            fspad_r.addr.eq(kbase + o),
            ispad_r.addr.eq(Mux(a_idx >= ID, a_idx - ID, a_idx)),
            mac.a.eq(ispad_r.data),
            mac.b.eq(fspad_r.data),
            mac.en.eq(issue),
            mac.clear.eq(issue & (o == 0)),
        ]
        zero = (ispad_r.data == 0) if c.zero_gate else 0
        m.d.comb += [
            self.fire.eq(issue & ~zero),
            self.skip.eq(issue & zero),
        ]

        free = Signal(range(ID + 1))
        with m.If(issue):
            with m.If(last):
                m.d.sync += o.eq(0)
                with m.If(k == job.p - 1):
                    # Pixel done: slide the window by one stride of every channel.
                    m.d.comb += free.eq(qu)
                    m.d.sync += [k.eq(0), kbase.eq(0), f.eq(f + 1)]
                with m.Else():
                    m.d.sync += [k.eq(k + 1), kbase.eq(kbase + qs)]
            with m.Else():
                m.d.sync += o.eq(o + 1)
        rb_next = rb + free
        m.d.sync += [
            rb.eq(Mux(rb_next >= ID, rb_next - ID, rb_next)),
            occ.eq(occ + a_take - free),
        ]

        # -- write-back: finished sums queue in the psum spad, `latency` cycles later ----------
        done_sum = issue & last
        for _ in range(mac.latency):
            delayed = Signal()
            m.d.sync += delayed.eq(done_sum)
            done_sum = delayed
        pw = Signal(range(PD))
        pending = Signal(range(PD + 1))                # written and not yet drained
        m.d.comb += [
            pspad_w.addr.eq(pw),
            pspad_w.data.eq(mac.acc),
            pspad_w.en.eq(done_sum),
        ]
        with m.If(done_sum):
            m.d.sync += pw.eq(Mux(pw == PD - 1, 0, pw + 1))

        # -- drain: psum_out = psum + psum_in, through an output register ------------------
        pr = Signal(range(PD))
        out_free = ~self.psum_out.valid | self.psum_out.ready
        have = pending != 0
        produce = Signal()
        m.d.comb += [
            pspad_r.addr.eq(pr),
            self.psum_in.ready.eq(out_free & have & job.psum_en),
            produce.eq(out_free & have & (self.psum_in.valid | ~job.psum_en)),
        ]
        with m.If(out_free):
            m.d.sync += self.psum_out.valid.eq(produce)
        with m.If(produce):
            m.d.sync += [
                self.psum_out.payload.eq(
                    pspad_r.data + Mux(job.psum_en, self.psum_in.payload, 0)),
                pr.eq(Mux(pr == PD - 1, 0, pr + 1)),
            ]
        m.d.sync += [
            pending.eq(pending + done_sum - produce),
            alloc.eq(alloc + (issue & (o == 0)) - produce),
        ]

        # -- job control -------------------------------------------------------------------
        finished = (busy & (f == job.f) & (alloc == 0) & ~self.psum_out.valid
                    & a_done & w_done)
        m.d.sync += self.done.eq(finished)
        with m.If(finished):
            m.d.sync += busy.eq(0)
        with m.If(~busy & self.start):
            m.d.sync += [
                busy.eq(1),
                job.eq(self.cfg),
                w_loaded.eq(0),
                a_pos.eq(0), a_c.eq(0), wp.eq(0), rb.eq(0), occ.eq(0),
                f.eq(0), k.eq(0), o.eq(0), kbase.eq(0),
                pw.eq(0), pr.eq(0), pending.eq(0), alloc.eq(0),
            ]
        return m
