"""Row-stationary 1-D processing element (the Eyeriss PE: Chen, Emer and Sze, ISCA 2016)."""

from amaranth import Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .mac import MAC
from .skip import entry_layout

__all__ = ["PE1D", "pe_cfg_layout", "pe_job"]

_NO_RW_CHECK = {"no_rw_check": 1}


def _ring(v, n):
    """``v`` in ``[0, 2n)`` back into a ring of ``n`` entries."""
    return Mux(v >= n, v - n, v)


def _step(v, n):
    """The entry after ``v`` in a ring of ``n`` entries."""
    return Mux(v == n - 1, 0, v + 1)


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
        "nq":      range(c.max_nq + 1),                # n_in * q: input values of the job
    })


def pe_job(*, s, f, u, p, q, psum_en):
    """The ``cfg`` value of a job: its shape and the products :func:`pe_cfg_layout` holds."""
    return {"s": s, "f": f, "u": u, "p": p, "q": q, "psum_en": psum_en,
            "n_in": (f - 1) * u + s, "qs": q * s, "qu": q * u, "pqs": p * q * s,
            "nq": ((f - 1) * u + s) * q}


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
    ``psum_out`` as ``[f][k]``. With ``zero_skip`` in the config, ``act`` instead carries
    only the non-zero values with their index in that order and how far the input has
    arrived (:class:`hw.skip.ZeroSkipEncoder`), and the PE spends cycles only on non-zero
    products. Loading overlaps computation, and the filter spad is a ring: weights
    arriving after a job's ``p * q * S`` are the next jobs', kept behind them as far as
    there is room (busy or idle), so the next job's filters load while this one computes.
    One MAC issues per cycle
    whenever its operands are present and the psum spad, which queues finished sums for
    output, has room. The caller keeps ``p * q * S <= filter_spad``,
    ``q * max(S, U) <= ifmap_spad`` and ``p <= psum_spad``. With ``zero_skip`` the psum
    spad has ``skip_slack`` more entries, so the PE may finish that many more sums ahead
    of the PE above it, whose windows may hold more non-zero values.

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
        Begins a job when the PE is idle. While ``busy`` it queues one more run of the
        same job (with the ``psum_en`` of ``cfg`` at that cycle), which begins two cycles
        after the current run's last product has issued (its end conditions are
        registered): the current run's sums drain (with its own ``psum_en``) while the
        queued run computes. A further start while one is queued is ignored.
    busy : Out(1)
        Stays high from one run into a queued one, and until the last run's sums have
        all drained.
    queued : Out(1)
        A run is queued.
    done : Out(1)
        One-cycle pulse as a run ends: after its last output transfer, or, when a queued
        run begins behind it, after its last product.
    wgt, act : In(stream.Signature(...))
        Filter weights and input activations (entries of ``hw.skip.entry_layout`` with
        ``zero_skip``).
    psum_in : In(stream.Signature(acc))
        Partial sums from the neighbouring PE; taken only when ``psum_en`` (and, with
        ``drain_cut``, only while ``psum_out`` offers nothing).
    psum_out : Out(stream.Signature(acc))
    macs, gated : Out(counter_width)
        MACs performed and MACs skipped by zero gating, since reset (with ``counters``).
    fire, skip : Out(1)
        A MAC is performed (``fire``) or skipped by zero gating (``skip``) this cycle; an
        array counts these instead of keeping counters in every PE. With ``zero_skip``,
        ``skip`` marks the zero product that makes the sum of a window without entries.
    held : Out(1)
        The PE would start a sum but its psum spad is full of finished sums that have not
        drained (it waits for the PE above, or the psum lane).
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
            "queued":   Out(1),
            "done":     Out(1),
            "wgt":      In(stream.Signature(self._wgt_shape)),
            "act":      In(stream.Signature(entry_layout(c) if c.zero_skip
                                            else self._act_shape)),
            "psum_in":  In(stream.Signature(self._acc_shape)),
            "psum_out": Out(stream.Signature(self._acc_shape)),
            **({"macs": Out(c.counter_width), "gated": Out(c.counter_width)}
               if self._counters else {}),
            "fire":     Out(1),
            "skip":     Out(1),
            "held":     Out(1),
        })

    @property
    def config(self):
        return self._config

    def _operand_port(self, m, mem, name):
        """A read port of ``mem`` and the data it gives the multiplier: with
        ``operand_reg`` registered, which yosys merges with the port into a synchronous one
        (block RAM on iCE40). The PE never uses a value read in the cycle its entry is
        written, so the spads carry ``no_rw_check``: no read-during-write logic sits after the RAM
        (yosys honours it only on a port it builds from an asynchronous one)."""
        port = mem.read_port(domain="comb")
        if not self._config.operand_reg:
            return port, port.data
        data = Signal.like(port.data, name=f"{name}_data", reset_less=True)
        m.d.sync += data.eq(port.data)
        return port, data

    def elaborate(self, platform):
        c = self._config
        FD = c.filter_spad
        PD = c.psum_spad + (c.skip_slack if c.zero_skip else 0)
        m = Module()

        m.submodules.mac = mac = MAC(
            a_width=c.act_width, a_signed=c.act_signed, b_width=c.wgt_width,
            b_signed=c.wgt_signed, reduction=c.reduction, acc_width=c.acc_bits,
            product_reg=c.product_reg, zero_gate=c.zero_gate,
            counter_width=c.counter_width if self._counters else 0)
        if self._counters:
            m.d.comb += [self.macs.eq(mac.macs), self.gated.eq(mac.gated)]

        m.submodules.fspad = fspad = memory.Memory(shape=self._wgt_shape, depth=FD, init=[],
                                                   attrs=_NO_RW_CHECK)
        # Each finished sum keeps the psum_en of its run: a queued run's sums may follow
        # the previous run's in the spad while those drain.
        psum_entry = data.StructLayout({"sum": self._acc_shape, "en": 1})
        m.submodules.pspad = pspad = memory.Memory(shape=psum_entry, depth=PD, init=[])
        fspad_w = fspad.write_port()
        fspad_r, weight = self._operand_port(m, fspad, "fspad")
        pspad_w, pspad_r = pspad.write_port(), pspad.read_port(domain="comb")

        # The job, with the products of its fields that the loops need.
        job  = Signal(pe_cfg_layout(c))
        busy = Signal()
        m.d.comb += self.busy.eq(busy)

        # -- weight loader: the filter spad is a ring. The job's weights start at `wb`; the
        # next jobs' weights load behind them, busy or not, as far as there is room, so a
        # job's weights arrive while the previous job computes.
        wb = Signal(range(FD))
        w_loaded = Signal(range(FD + 1))               # weights from `wb` on
        wp = Signal(range(FD))
        w_done = w_loaded >= job.pqs
        w_take = self.wgt.valid & self.wgt.ready
        m.d.comb += [
            self.wgt.ready.eq(w_loaded < FD),
            fspad_w.addr.eq(wp),
            fspad_w.data.eq(self.wgt.payload),
            fspad_w.en.eq(w_take),
        ]
        with m.If(w_take):
            m.d.sync += wp.eq(_step(wp, FD))

        # -- input and compute: the window of every (f, k) sum, one product per cycle --------
        f     = Signal(range(c.max_f + 1))
        k     = Signal(range(PD))
        alloc = Signal(range(PD + 1))                  # sums started and not yet drained
        win = _Window()
        m.d.comb += [
            win.k_last.eq(k == job.p - 1),
            win.pixel_done.eq(win.issue & win.last & win.k_last),
            # A sum may start only when the psum spad has room for it.
            win.ready.eq(busy & (f < job.f) & (~win.first | (alloc < PD))),
            self.held.eq(busy & (f < job.f) & win.first & (alloc == PD)),
        ]
        # With `operand_reg` the multiplier's operands come from registers: the spads'
        # synchronous read ports (block RAM on FPGAs that have no LUT RAM), so the MAC
        # sees each product's enable and end a cycle after its issue.
        if c.operand_reg:
            m.d.sync += [win.mac_en.eq(win.issue), win.mac_last.eq(win.issue & win.last)]
        else:
            m.d.comb += [win.mac_en.eq(win.issue), win.mac_last.eq(win.issue & win.last)]
        window = self._sparse_window if c.zero_skip else self._dense_window
        win.wb = wb
        win.w_adr = Signal(range(FD))       # the product's weight: its filter-spad address
        window(m, win, job, w_loaded, mac)
        m.d.comb += fspad_r.addr.eq(win.w_adr)
        m.d.comb += [mac.b.eq(weight), mac.en.eq(win.mac_en), mac.last.eq(win.mac_last)]
        with m.If(win.issue & win.last):
            with m.If(win.k_last):
                m.d.sync += [k.eq(0), f.eq(f + 1)]
            with m.Else():
                m.d.sync += k.eq(k + 1)

        # -- write-back: finished sums queue in the psum spad, the MAC's latency (and the
        # operand stage) after their last product's issue.
        done_sum, done_en = win.issue & win.last, job.psum_en
        for _ in range(mac.latency + c.operand_reg):
            delayed, delayed_en = Signal(), Signal()
            m.d.sync += [delayed.eq(done_sum), delayed_en.eq(done_en)]
            done_sum, done_en = delayed, delayed_en
        pw = Signal(range(PD))
        pending = Signal(range(PD + 1))                # written and not yet drained
        m.d.comb += [
            pspad_w.addr.eq(pw),
            pspad_w.data.sum.eq(mac.sum),
            pspad_w.data.en.eq(done_en),
            pspad_w.en.eq(done_sum),
        ]
        with m.If(done_sum):
            m.d.sync += pw.eq(_step(pw, PD))

        # -- drain: psum_out = psum + psum_in, added from two output registers -------------
        # The sum and what it adds from psum_in are registered apart and added after the
        # registers: a psum_in that is not added is then a zero loaded into its register
        # (a flip-flop synchronous reset), not a mask in front of the adder.
        pr = Signal(range(PD))
        psum_en = pspad_r.data.en
        # With `drain_cut`, only an empty output register takes the next sum, so that
        # `psum_in.ready` does not depend on `psum_out.ready`.
        out_free = ~self.psum_out.valid
        if not c.drain_cut:
            out_free |= self.psum_out.ready
        have = pending != 0
        produce = Signal()
        out_sum = Signal(self._acc_shape, reset_less=True)
        out_add = Signal(self._acc_shape, reset_less=True)
        m.d.comb += [
            pspad_r.addr.eq(pr),
            self.psum_in.ready.eq(out_free & have & psum_en),
            produce.eq(out_free & have & (self.psum_in.valid | ~psum_en)),
            self.psum_out.payload.eq(out_sum + out_add),
        ]
        with m.If(out_free):
            m.d.sync += self.psum_out.valid.eq(produce)
        with m.Elif(self.psum_out.ready):
            m.d.sync += self.psum_out.valid.eq(0)
        with m.If(produce):
            m.d.sync += [
                out_sum.eq(pspad_r.data.sum),
                out_add.eq(Mux(psum_en, self.psum_in.payload, 0)),
                pr.eq(_step(pr, PD)),
            ]
        m.d.sync += [
            pending.eq(pending + done_sum - produce),
            alloc.eq(alloc + (win.issue & win.first) - produce),
        ]

        # -- job control: a start while busy queues one more run of the job -----------------
        # A run is over when its last product has issued and its input and weights are all
        # in. Its sums must also have drained, unless a queued run follows: that run begins
        # at once, and the sums drain behind it.
        # `issued` is registered: the comparisons that make it do not run on into the
        # restart's resets and enables. (A run ends a cycle later.)
        issued = Signal()
        drained = (alloc == 0) & ~self.psum_out.valid
        again = Signal()                # a run of the job is queued
        again_psum_en = Signal()        # with this psum_en
        finished = issued & (drained | again)
        m.d.sync += issued.eq(busy & (f == job.f) & win.a_done & w_done & ~finished)
        m.d.sync += self.done.eq(finished)
        m.d.comb += self.queued.eq(again)
        with m.If(busy & self.start & ~finished & ~again):
            m.d.sync += [again.eq(1), again_psum_en.eq(self.cfg.psum_en)]
        restart = finished & (again | self.start)
        w_next = _ring(wb + job.pqs, FD)
        with m.If(finished):
            m.d.sync += [busy.eq(restart), again.eq(0), wb.eq(w_next)]
            if not c.zero_skip:
                # The next job's first weight. (The dense window goes back to `wb` after
                # each pixel, so between runs its address is `wb`.)
                m.d.sync += win.w_adr.eq(w_next)
        m.d.sync += w_loaded.eq(w_loaded + w_take - Mux(finished, job.pqs, 0))
        with m.If(~busy & self.start):
            m.d.sync += [busy.eq(1), job.eq(self.cfg)]
        with m.If(restart):
            m.d.sync += job.psum_en.eq(Mux(again, again_psum_en, self.cfg.psum_en))
        with m.If((~busy & self.start) | restart):
            m.d.sync += [f.eq(0), k.eq(0), *(sig.eq(0) for sig in win.resets)]
        return m

    def _dense_window(self, m, win, job, w_loaded, mac):
        """Every value of the window, zeros included: ``o = s * q + c`` runs over the
        ``q * S`` values of the circular ifmap spad from the window base."""
        c = self._config
        ID = c.ifmap_spad
        m.submodules.ispad = ispad = memory.Memory(shape=self._act_shape, depth=ID, init=[],
                                                   attrs=_NO_RW_CHECK)
        ispad_w = ispad.write_port()
        ispad_r, act = self._operand_port(m, ispad, "ispad")

        # Loader: n_in positions x q channels. `occ` counts entries from the window base
        # `rb` onwards. It goes negative when a stride larger than the filter frees values
        # that have not arrived yet; those then land behind the base and are never read.
        a_pos = Signal(range(c.max_f * c.max_stride + c.max_s + 1))
        a_c   = Signal(range(ID))
        wp    = Signal(range(ID))
        rb    = Signal(range(ID))
        occ   = Signal(signed(Signal(range(ID + 1)).shape().width + 1))
        a_take = Signal()
        m.d.comb += [
            win.a_done.eq(a_pos == job.n_in),
            self.act.ready.eq(self.busy & ~win.a_done & (occ < ID)),
            a_take.eq(self.act.valid & self.act.ready),
            ispad_w.addr.eq(wp),
            ispad_w.data.eq(self.act.payload),
            ispad_w.en.eq(a_take),
        ]
        with m.If(a_take):
            m.d.sync += wp.eq(_step(wp, ID))
            with m.If(a_c == job.q - 1):
                m.d.sync += [a_c.eq(0), a_pos.eq(a_pos + 1)]
            with m.Else():
                m.d.sync += a_c.eq(a_c + 1)

        # Compute: for f < F, k < p, o = s * q + c < q * S: act[c][fU+s] * wgt[k][s][c].
        # The weight's offset `woff` = k * q * S + o is a register of its own, so the issue
        # decision compares registers and adds nothing. It steps by one, also from one
        # filter's last weight to the next filter's first, and starts over after the last.
        o = Signal(range(ID))
        woff = Signal(range(c.filter_spad + 1))
        a_idx = rb + o
        m.d.comb += [
            win.issue.eq(win.ready & (w_loaded > woff) & (occ > o)),
            win.first.eq(o == 0),
            win.last.eq(o == job.qs - 1),
            ispad_r.addr.eq(_ring(a_idx, ID)),
            mac.a.eq(act),
        ]
        zero = (act == 0) if c.zero_gate else 0
        m.d.comb += [self.fire.eq(win.mac_en & ~zero), self.skip.eq(win.mac_en & zero)]
        # The weight's spad address follows `woff` around the ring from `wb`, so no adder
        # and no wrap sit in front of the spad's read address.
        FD, w_adr = c.filter_spad, win.w_adr
        with m.If(win.issue):
            m.d.sync += o.eq(Mux(win.last, 0, o + 1))
            with m.If(win.last & win.k_last):
                m.d.sync += [woff.eq(0), w_adr.eq(win.wb)]
            with m.Else():
                m.d.sync += [woff.eq(woff + 1), w_adr.eq(_step(w_adr, FD))]
        # A finished pixel slides the window by one stride of every channel. The sums are
        # of registers; the issue decision only selects them.
        rb_next = rb + job.qu
        with m.If(win.pixel_done):
            m.d.sync += [rb.eq(_ring(rb_next, ID)),
                         occ.eq(occ + a_take - job.qu)]
        with m.Else():
            m.d.sync += occ.eq(occ + a_take)
        win.resets += [a_pos, a_c, wp, rb, occ, o, woff]

    def _sparse_window(self, m, win, job, w_loaded, mac):
        """Only the non-zero values of the window (``zero_skip``). The input is a stream of
        entries (``hw.skip.entry_layout``); the ifmap spad keeps the non-zero ones with
        their indices, in order. The window of output ``f`` is the run of entries with index
        in ``[f * q * U, f * q * U + q * S)``, and each product's weight is at
        ``k * q * S + index - f * q * U``, as in the dense loop. A window without entries
        still takes one cycle, to end a sum of zero (``skip`` pulses)."""
        c = self._config
        ID = c.ifmap_spad
        spad_entry = data.StructLayout({"value": self._act_shape, "idx": range(c.max_nq)})
        m.submodules.ispad = ispad = memory.Memory(shape=spad_entry, depth=ID, init=[])
        ispad_w = ispad.write_port()
        rd0, rd1 = ispad.read_port(domain="comb"), ispad.read_port(domain="comb")

        # Loader: keeps the non-zero entries at or past the window base. Every entry tells
        # how far the input has arrived (zero ones only that).
        seen  = Signal(range(c.max_nq + 1))            # every value before this index is in
        wp    = Signal(range(ID))
        rb    = Signal(range(ID))                      # first entry of the window
        cnt   = Signal(range(ID + 1))                  # entries from rb on
        fbase = Signal(range(c.max_nq + 1))            # f * q * U
        fend  = Signal(range(2 * c.max_nq + 1))
        nbase = Signal(range(2 * c.max_nq + 1))
        m.d.comb += [fend.eq(fbase + job.qs), nbase.eq(fbase + job.qu)]
        entry = self.act.payload
        a_take = Signal()
        store = Signal()
        m.d.comb += [
            win.a_done.eq(seen >= job.nq),
            self.act.ready.eq(self.busy & ~win.a_done & (cnt < ID)),
            a_take.eq(self.act.valid & self.act.ready),
            store.eq(a_take & (entry.value != 0) & (entry.idx >= fbase)),
            ispad_w.addr.eq(wp),
            ispad_w.data.value.eq(entry.value),
            ispad_w.data.idx.eq(entry.idx),
            ispad_w.en.eq(store),
        ]
        with m.If(a_take):
            m.d.sync += seen.eq(entry.upto)
        with m.If(store):
            m.d.sync += wp.eq(_step(wp, ID))

        # Compute on entry `jo` of the window; the entry after it (or, past the stored
        # ones, `seen`) tells whether the window ends there.
        jo = Signal(range(ID))
        a0, a1 = rb + jo, rb + jo + 1
        m.d.comb += [
            rd0.addr.eq(_ring(a0, ID)),
            rd1.addr.eq(_ring(a1, ID)),
        ]
        e0, e1 = rd0.data, rd1.data
        have0, have1 = Signal(), Signal()
        closed = Signal()                  # every value of the window has arrived
        stale = Signal()                   # between windows (stride > filter): drop it
        in0 = Signal()
        off = Signal(range(ID))
        kbase = Signal(range(c.filter_spad + 1))       # k * q * S
        product, empty = Signal(), Signal()
        m.d.comb += [
            have0.eq(jo < cnt),
            have1.eq(jo + 1 < cnt),
            closed.eq(seen >= fend),
            stale.eq(have0 & (e0.idx < fbase)),
            in0.eq(have0 & ~stale & (e0.idx < fend)),
            off.eq(e0.idx - fbase),
            product.eq(win.ready & in0 & (have1 | closed) & (w_loaded > kbase + off)),
            empty.eq(win.ready & (jo == 0) & ~in0 & ~stale & (have0 | closed)),
            win.issue.eq(product | empty),
            win.first.eq(jo == 0),
            win.last.eq(empty | ~have1 | (e1.idx >= fend)),
            win.w_adr.eq(_ring(win.wb + kbase + off, c.filter_spad)),
            self.fire.eq(product),
            self.skip.eq(empty),
        ]
        value = Mux(empty, 0, e0.value)
        if c.operand_reg:
            a = Signal(self._act_shape, reset_less=True)
            m.d.sync += a.eq(value)
            m.d.comb += mac.a.eq(a)
        else:
            m.d.comb += mac.a.eq(value)
        with m.If(win.issue):
            m.d.sync += jo.eq(Mux(win.last, 0, jo + 1))
            with m.If(win.last):
                m.d.sync += kbase.eq(Mux(win.k_last, 0, kbase + job.qs))

        # The last filter's pass over a window frees the entries the next window starts
        # past; a stale entry is dropped when it reaches the head.
        nfree = Signal(range(ID + 1))
        goes = Signal()
        free = Signal(range(ID + 1))
        m.d.comb += goes.eq(product & win.k_last & (e0.idx < nbase))
        with m.If(win.pixel_done):
            m.d.comb += free.eq(nfree + goes)
            m.d.sync += [nfree.eq(0), fbase.eq(nbase)]
        with m.Elif(goes):
            m.d.sync += nfree.eq(nfree + 1)
        with m.If(~win.issue & (jo == 0) & stale):
            m.d.comb += free.eq(1)
        rb_next = rb + free
        m.d.sync += [
            rb.eq(_ring(rb_next, ID)),
            cnt.eq(cnt + store - free),
        ]
        win.resets += [seen, wp, rb, cnt, fbase, jo, nfree, kbase]


class _Window:
    """Signals between a PE's shared loops and its window walk (dense or sparse)."""

    def __init__(self):
        self.ready = Signal()          # a product may issue, as far as the loops go
        self.issue = Signal()          # one issues
        self.first = Signal()          # it starts a sum
        self.last = Signal()           # it ends one
        self.k_last = Signal()         # the sum is of the last filter
        self.pixel_done = Signal()     # the last filter's sum of a pixel ends
        self.a_done = Signal()         # the job's input has all arrived
        # The MAC takes a product, and it ends a sum (a cycle after the issue with
        # `operand_reg`).
        self.mac_en = Signal()
        self.mac_last = Signal()
        self.resets = []               # registers cleared when a job starts
        self.wb = None                 # the job's first weight in the filter spad
        self.w_adr = None              # the product's weight's filter-spad address

