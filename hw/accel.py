"""The row-stationary accelerator: PE array, global buffer and the controller that runs a
whole CONV layer from run-time registers (Eyeriss, docs/array.md).

The host (``gen.driver``) writes the layer and mapping registers and the biases through
``cfg``, loads the input tensor through ``act_in`` into the global buffer, pulses
``start``, streams each pass's filter weights on ``wgt_in`` (as Eyeriss streams filters
from DRAM) and collects results on ``out``. The loops run here: per strip of output rows
the controller programs the array's multicast IDs and chain roles; per pass it tags the
weights for the filter bus and builds the ifmap packets from the buffer, inserting the
zero padding; after a strip's last channel fold it reads the psum lanes, adds the biases,
applies ReLU, arithmetic shift and saturation to the output width (or, without
requantization, saturation to the accumulator's width) and packs the results into ``out``
beats.
"""

from amaranth import C, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, memory, stream, wiring
from amaranth.lib.wiring import In, Out

from .array import CfgKind, PEArray
from .count import count_events, tree_sum

__all__ = ["Accelerator", "accel_signature", "REGISTERS", "BIAS_PTR", "BIAS_DATA", "out_layout",
           "glb_depth", "register_bounds"]

# Run-time registers, in address order. Products of layer and mapping values are computed
# by the host mapper, as Eyeriss's configuration is, so the controller needs no multiplier.
REGISTERS = (
    # layer
    "n", "e_out", "f", "m", "r", "s", "u", "pad_top", "h",
    # mapping
    "e", "segments", "sets_v", "sets_h", "set_cols", "t", "p", "q", "ffolds", "cfolds",
    # products
    "nbi", "row_last_n", "nbw", "pqs_last", "wq", "hwq", "nplane", "padq", "pwq", "eu",
    "euwq", "scu", "fp", "spread", "dbuf", "tp", "shp", "hl_full", "hl_layer",
    "n_in", "qs", "qu", "pqs", "nq", "passes", "rskip", "rskipwq",
    # output stage
    "requant", "relu", "shift",
)
BIAS_PTR = len(REGISTERS)          # set the bias write pointer
BIAS_DATA = len(REGISTERS) + 1     # write a bias, then advance the pointer


def out_layout(config):
    """Output beat: up to ``beat`` accumulator-wide values, the first ``n`` valid."""
    acc = signed(config.acc_bits) if config.acc_signed else unsigned(config.acc_bits)
    return data.StructLayout({"data": data.ArrayLayout(acc, config.beat),
                              "n": range(1, config.beat + 1)})


def accel_signature(config):
    """The ports of ``Accelerator(config=config)`` (also for a host link that drives them
    without making an accelerator)."""
    c = config
    act = signed(c.act_width) if c.act_signed else unsigned(c.act_width)
    wgt = signed(c.wgt_width) if c.wgt_signed else unsigned(c.wgt_width)
    return wiring.Signature({
        "cfg":    In(stream.Signature(data.StructLayout({
                      "addr": range(BIAS_DATA + 1),
                      "data": signed(max(33, c.acc_bits))}))),
        "act_in": In(stream.Signature(data.ArrayLayout(act, c.beat))),
        "wgt_in": In(stream.Signature(data.ArrayLayout(wgt, c.beat))),
        "out":    Out(stream.Signature(out_layout(c))),
        "start":  In(1),
        "busy":   Out(1),
        "done":   Out(1),
        **{name: Out(c.counter_width) for name in Accelerator.counter_names(c)},
    })


def glb_depth(config):
    """Input values the global buffer holds."""
    return config.glb_kib * 1024 * 8 // config.act_width


def register_bounds(config):
    """The values every run-time register (``REGISTERS``) takes for layers within
    ``config``'s limits, as ``gen.driver`` computes them: ``{name: range(lowest,
    highest + 1)}``.

    The controller's registers, and the loop counters that run up to them, are as wide as
    the highest values need, and a register the limits fix to one value is a constant; the
    driver refuses a value out of range instead of letting the register truncate it. Every
    bound follows from the limits and the mapper's contract:
    ``r <= rows``, ``p * q * S <= filter_spad``, ``q * max(S, U) <= ifmap_spad``,
    ``p <= psum_spad``, a strip's set is at most ``rows x cols`` PEs, the chains of a
    column fit ``psum_lane`` and a part's input fits the global buffer.
    """
    c = config
    R = min(c.max_r, c.rows)
    S, U, P, F = c.max_s, c.max_stride, c.max_pad, c.max_f
    E = c.max_h + 2 * P                 # output rows, (h + pads - r) // u + 1, as max_f
    hl = c.max_h + 2 * P - 1            # (E - 1) * u + r - 1 <= h + pads - 1
    depth = glb_depth(c)
    copies = c.rows * c.cols
    e = min(E, copies)                  # rows of a strip: segments <= rows, set_cols <= cols
    set_cols = min(c.cols, e)
    p = min(c.max_m, c.psum_spad, c.filter_spad)
    q = min(c.max_c, c.ifmap_spad, c.filter_spad)
    wq = min(c.max_w * q, depth)
    eu = min(e * U, hl + U)             # e * u <= (E - 1) * u + u
    highest = {
        # layer
        "n": c.max_n, "e_out": E, "f": F, "m": c.max_m, "r": R, "s": S, "u": U,
        "pad_top": P, "h": c.max_h,
        # mapping
        "e": e, "segments": min(c.rows, e), "sets_v": c.rows, "sets_h": c.cols,
        "set_cols": set_cols, "t": min(copies, c.max_m), "p": p, "q": q,
        "ffolds": c.max_m, "cfolds": c.max_c,
        # products
        "nbi": -(-F * q // c.beat),                 # n_in * q values; n_in <= w + 2 * pad
        "row_last_n": c.beat,
        "nbw": -(-c.filter_spad // c.beat),
        "pqs_last": min(c.beat, c.filter_spad),
        "wq": wq,
        "hwq": min(c.max_h * c.max_w * q, depth),
        "nplane": min(c.max_h * c.max_w * (c.max_c + q - 1), depth),   # cfolds * q < c + q
        "padq": P * q,
        "pwq": P * wq,
        "eu": eu,
        "euwq": eu * wq,
        "scu": set_cols * U,
        "fp": min(F * p, c.psum_lane),
        "spread": int(c.lane_banks > 1),
        "dbuf": int(c.psum_lane // c.lane_banks >= 2),
        "tp": min(copies * p, c.max_m + p - 1),     # t <= ceil(m / p)
        "shp": c.cols * p,
        "hl_full": min((e - 1) * U + R - 1, hl),
        "hl_layer": hl,
        "n_in": F,
        "qs": min(q * S, c.ifmap_spad),
        "qu": min(q * U, c.ifmap_spad),
        "pqs": min(p * q * S, c.filter_spad),
        "nq": F * q,
        "passes": c.max_m * c.max_c,
        "rskip": U - 1,                             # u - r when the stride passes r
        "rskipwq": U * wq,
        # output stage
        # The readout shifts (acc_bits + 2)-bit values: by acc_bits + 1 or more, to their sign.
        "requant": 1, "relu": 1, "shift": c.acc_bits + 1,
    }
    # Counts, sizes and their products are at least 1; paddings, flags and these at least 0.
    zero = {"pad_top", "padq", "pwq", "spread", "dbuf", "hl_full", "hl_layer", "rskip",
            "requant", "relu", "shift"}
    return {name: range(0 if name in zero else 1, top + 1) for name, top in highest.items()}


def _saturated(value, width, signed):
    """Signed ``value`` clamped to the range of a ``width``-bit integer: in range when the
    bits from the result's sign bit up (or, unsigned, above its top bit) all equal the
    value's sign, which takes no comparator."""
    top = value[width - 1:] if signed else value[width:]
    ok = (top.all() | ~top.any()) if signed else ~top.any()
    lo, hi = (-(1 << (width - 1)), (1 << (width - 1)) - 1) if signed else (0, (1 << width) - 1)
    return Mux(ok, value, Mux(value[-1], lo, hi))


def _registered_read(m, port, en, name):
    """The data of asynchronous read ``port``, registered while ``en``: a synchronous read
    port, which yosys builds from the two and maps to block RAM honouring the memory's
    ``no_rw_check`` (it ignores the attribute on a port that is synchronous already)."""
    data = Signal.like(port.data, name=name, reset_less=True)
    with m.If(en):
        m.d.sync += data.eq(port.data)
    return data


class Accelerator(wiring.Component):
    """Row-stationary CONV accelerator generated for ``config``.

    Members
    -------
    cfg : In(stream.Signature({"addr", "data"}))
        Register writes (``REGISTERS`` order; ``BIAS_PTR``/``BIAS_DATA`` for biases),
        accepted while idle. A register holds the values ``register_bounds(config)`` gives
        it; a register those fix to one value is a constant, and writes to it are ignored.
    act_in : In(stream.Signature(ArrayLayout(act, beat)))
        Input tensor for the global buffer, written from address 0 after each ``done``
        (or reset), one beat per cycle, while idle.
    wgt_in : In(stream.Signature(ArrayLayout(wgt, beat)))
        Each pass's filter weights, ``nbw`` beats for every (filter group, filter row).
    out : Out(stream.Signature(out_layout(config)))
    start : In(1)
    busy, done : Out(1)
    cycles, macs, gated, pe_busy, lane_reads, lane_writes, psum_hops, glb_reads,
    glb_writes, words_in, words_out : Out(counter_width)
        Counts since reset (``cycles`` counts busy cycles).
    seen, skipped, waits : Out(counter_width)
        With ``zero_skip`` (``SKIP_COUNTERS``): see :class:`hw.array.PEArray`.
    """

    SKIP_COUNTERS = PEArray.SKIP_COUNTERS
    COUNTERS = ("cycles", "macs", "gated", "pe_busy", "lane_reads", "lane_writes",
                "psum_hops", "glb_reads", "glb_writes", "words_in", "words_out")

    def __init__(self, *, config):
        self._config = c = config
        self._act = signed(c.act_width) if c.act_signed else unsigned(c.act_width)
        self._wgt = signed(c.wgt_width) if c.wgt_signed else unsigned(c.wgt_width)
        self._acc = signed(c.acc_bits) if c.acc_signed else unsigned(c.acc_bits)
        super().__init__(accel_signature(c))
        self.array = PEArray(config=c)

    @classmethod
    def counter_names(cls, config):
        """``COUNTERS``, and ``SKIP_COUNTERS`` for a ``zero_skip`` design."""
        return cls.COUNTERS + (cls.SKIP_COUNTERS if config.zero_skip else ())

    @property
    def config(self):
        return self._config

    def elaborate(self, platform):
        c = self._config
        B = c.beat
        m = Module()
        m.submodules.array = arr = self.array
        busy = Signal()
        m.d.comb += self.busy.eq(busy)

        # -- registers and biases ----------------------------------------------------------
        # Each register and each loop counter is as wide as the layers within the limits
        # need, a register they fix to one value is that constant (`register_bounds`), and
        # the driver never writes a value that would not fit.
        limits = register_bounds(c)
        bound = {name: values[-1] for name, values in limits.items()}
        reg = {name: C(values.start, values) if len(values) == 1 else
               Signal(values, name=f"reg_{name}") for name, values in limits.items()}

        def upto(n):
            return range(n + 1)

        def is_last(count, n):
            # `count + 1 == n` shares the counter's incrementer; `count == n - 1` would
            # need a decrementer of the register besides.
            return count + 1 == n

        # The host writes the biases and the global buffer only while idle, and the
        # controller uses what it reads from them only while busy: a read never meets a
        # write. `no_rw_check` tells yosys so, or it would emulate read-during-write with
        # flip-flops and address comparators (see `_registered_read`).
        no_rw_check = {"no_rw_check": 1}
        m.submodules.bias = bias = memory.Memory(shape=self._acc, depth=c.max_m, init=[],
                                                 attrs=no_rw_check)
        bias_w, bias_r = bias.write_port(), bias.read_port(domain="comb")
        bias_ptr = Signal(range(c.max_m + 1))
        m.d.comb += self.cfg.ready.eq(~busy)
        with m.If(self.cfg.valid & self.cfg.ready):
            with m.Switch(self.cfg.payload.addr):
                for i, name in enumerate(REGISTERS):
                    if isinstance(reg[name], Signal):
                        with m.Case(i):
                            m.d.sync += reg[name].eq(self.cfg.payload.data)
                with m.Case(BIAS_PTR):
                    m.d.sync += bias_ptr.eq(self.cfg.payload.data)
                with m.Case(BIAS_DATA):
                    m.d.comb += [bias_w.en.eq(1), bias_w.addr.eq(bias_ptr),
                                 bias_w.data.eq(self.cfg.payload.data)]
                    m.d.sync += bias_ptr.eq(bias_ptr + 1)

        # -- global buffer: `beat` banks, value a in bank a % beat at row a // beat, so a beat
        # loads in one cycle and any `beat` consecutive values read in one cycle ---------
        k = B.bit_length() - 1                     # beat is a power of two
        rows = -(-glb_depth(c) // B)
        banks = []
        for i in range(B):
            bank = memory.Memory(shape=self._act, depth=rows, init=[], attrs=no_rw_check)
            m.submodules[f"glb_{i}"] = bank
            banks.append((bank.write_port(), bank.read_port(domain="comb")))
        load_row = Signal(range(rows + 1))
        load = self.act_in.valid & self.act_in.ready
        m.d.comb += self.act_in.ready.eq(~busy)
        for i, (wr, _) in enumerate(banks):
            m.d.comb += [wr.addr.eq(load_row), wr.data.eq(self.act_in.payload[i]),
                         wr.en.eq(load)]
        with m.If(load):
            m.d.sync += load_row.eq(load_row + 1)

        # -- loop state ----------------------------------------------------------------------
        # Global-buffer addresses are computed modulo 2 ** (address bits): a value in the
        # padding may get any address (it is replaced by zero) and every other value's
        # address lies in 0 .. depth - 1, so the low bits that address the banks are exact.
        gaddr = unsigned((glb_depth(c) - 1).bit_length())
        ni = Signal(range(bound["n"]))
        e0 = Signal(range(bound["e_out"]))
        e0u = Signal(upto(bound["hl_layer"]))       # e0 * U <= (E - 1) * U <= hl_layer
        ff = Signal(range(bound["ffolds"]))
        cf = Signal(range(bound["cfolds"]))
        plane_n = Signal(gaddr)     # glb address of batch ni's first channel fold
        plane = Signal(gaddr)       # glb address of (ni, cf)
        e0wq = Signal(gaddr)        # e0 * U * W * q
        ffm = Signal(range(bound["m"]))             # ff * t * p: first filter of the fold
        left = reg["e_out"] - e0
        rows_in_strip = Mux(left < reg["e"], left, reg["e"])

        # -- psum-lane base of the chain after the one at `base` (gen.mapper.lane_base) ------
        def next_chain(base):
            packed = base + reg["fp"]
            if c.lane_banks == 1:
                return packed
            ob = (c.psum_lane // c.lane_banks - 1).bit_length()    # offset bits
            spread = Mux(base[ob:] == c.lane_banks - 1, base[:ob] + reg["fp"],
                         base + (1 << ob))
            return Mux(reg["spread"], spread, packed)

        # -- strip configuration walk over the array: counters instead of division ------------
        # The walk passes the last set copy before it leaves the array, so `y_v` and `x_h`
        # reach `sets_v` and `sets_h`; `v * r < sets_v * r <= rows`.
        cy, cx = Signal(range(c.rows)), Signal(range(c.cols))
        cstep = Signal(2)           # 0: filter row ID, 1: ifmap row ID, 2: PEs of row cy
        y_rr = Signal(range(bound["r"]))
        y_sg = Signal(range(bound["segments"]))
        y_v = Signal(upto(bound["sets_v"]))
        y_vr = Signal(upto(c.rows))
        y_g = Signal(upto(bound["sets_v"] * bound["sets_h"]))
        y_ee = Signal(upto((bound["segments"] - 1) * bound["set_cols"]))
        y_eeu = Signal(upto((bound["segments"] - 1) * bound["scu"]))
        y_slot = Signal(upto(c.psum_lane))
        x_j = Signal(range(bound["set_cols"]))
        x_h = Signal(upto(bound["sets_h"]))
        x_ju = Signal(upto((bound["set_cols"] - 1) * bound["u"]))
        active = ((y_v < reg["sets_v"]) & (x_h < reg["sets_h"]) & (y_g + x_h < reg["t"])
                  & (y_ee + x_j < rows_in_strip))
        cw = arr.cfg.payload
        m.d.comb += [
            cw.y.eq(cy), cw.x.eq(cx),
            cw.id.eq(Mux(cstep == 0, y_vr + y_rr, 0)),
            cw.kind.eq(Mux(cstep == 0, CfgKind.FILT_ROW,
                           Mux(cstep == 1, CfgKind.IFM_ROW, CfgKind.PE))),
            cw.pe.filt_col.eq(x_h),
            cw.pe.ifm_col.eq(y_eeu + x_ju + y_rr),
            cw.pe.active.eq(active),
            cw.pe.top.eq(y_rr == 0),
            cw.pe.bottom.eq(is_last(y_rr, reg["r"])),
            cw.pe.base.eq(y_slot),
        ]

        # -- filter tagger: wgt_in beats become filter-bus packets. It runs through all the
        # passes of a strip (the tags repeat every pass), so each pass's weights flow into
        # the PEs' filter spads while the pass before computes. ----------------------------
        w_run = Signal()
        w_left = Signal(upto(bound["passes"]))     # passes of the strip still to send
        wb = Signal(range(bound["nbw"]))
        w_rr = Signal(range(bound["r"]))
        w_h = Signal(range(bound["sets_h"]))
        w_g = Signal(range(bound["t"]))
        w_vr = Signal(range(c.rows))
        w_row = Signal(range(c.rows + bound["r"]))      # w_vr + w_rr, kept as a register
        m.d.comb += [
            arr.filt.valid.eq(w_run & self.wgt_in.valid),
            self.wgt_in.ready.eq(w_run & arr.filt.ready),
            arr.filt.payload.row.eq(w_row),
            arr.filt.payload.col.eq(w_h),
            arr.filt.payload.data.data.eq(self.wgt_in.payload),
            arr.filt.payload.data.n.eq(Mux(is_last(wb, reg["nbw"]), reg["pqs_last"], B)),
        ]
        with m.If(arr.filt.valid & arr.filt.ready):
            # Beat-major; within a beat the groups g = v * sets_h + h < t, rows rr fastest.
            with m.If(~is_last(w_rr, reg["r"])):
                m.d.sync += [w_rr.eq(w_rr + 1), w_row.eq(w_row + 1)]
            with m.Else():
                m.d.sync += w_rr.eq(0)
                with m.If(~is_last(w_g, reg["t"])):
                    m.d.sync += w_g.eq(w_g + 1)
                    with m.If(~is_last(w_h, reg["sets_h"])):
                        m.d.sync += [w_h.eq(w_h + 1), w_row.eq(w_vr)]
                    with m.Else():
                        m.d.sync += [w_h.eq(0), w_vr.eq(w_vr + reg["r"]),
                                     w_row.eq(w_vr + reg["r"])]
                with m.Else():
                    m.d.sync += [w_g.eq(0), w_h.eq(0), w_vr.eq(0), w_row.eq(0),
                                 wb.eq(wb + 1)]
                    with m.If(is_last(wb, reg["nbw"])):
                        m.d.sync += [wb.eq(0), w_left.eq(w_left - 1)]
                        with m.If(w_left == 1):
                            m.d.sync += w_run.eq(0)

        # -- ifmap generator: one packet (a beat of a row of the strip) per cycle --------------
        # Stage 1 reads the beat's `beat` values from the banks; stage 2 holds the packet,
        # with zeros where the value lies in the padding, until the bus takes it.
        i_run = Signal()
        ib = Signal(range(bound["nbi"]))                # beat of the row stream
        ibase = Signal(upto((bound["nbi"] - 1) * B))    # ib * beat
        ihl = Signal(upto(bound["hl_full"]))            # row within the strip
        ihm = Signal(range(bound["u"]))                 # ihl mod U
        # Input row of ihl: from -pad_top (top padding) to h - 1 + pad_bottom.
        irow = Signal(range(-bound["pad_top"], bound["h"] + bound["pad_top"]))
        iaddr = Signal(gaddr)           # glb address of column -P of row irow
        # The strip's last row (a register: `e0u` changes in NEXT, two states before the
        # generator runs).
        last_hl = Signal.like(ihl)
        m.d.sync += last_hl.eq(Mux(reg["hl_layer"] - e0u < reg["hl_full"],
                                   reg["hl_layer"] - e0u, reg["hl_full"]))
        irow0 = e0u - reg["pad_top"]
        iaddr0 = plane + e0wq - reg["pwq"]
        beat_n = Mux(is_last(ib, reg["nbi"]), reg["row_last_n"], B)
        p_valid = Signal()
        i_stall = p_valid & ~arr.ifm.ready
        gen = i_run & ~i_stall
        base = Signal(gaddr)
        m.d.comb += base.eq(iaddr + ibase - reg["padq"])
        row_ok = (irow >= 0) & (irow < reg["h"])
        lane_ok = Signal(B)
        for i in range(B):
            vidx = ibase + i
            m.d.comb += lane_ok[i].eq(row_ok & (i < beat_n) & (vidx >= reg["padq"])
                                      & (vidx < reg["padq"] + reg["wq"]))
        for b, (_, rd) in enumerate(banks):
            # The lane that lands in bank b, and its row in the bank.
            lane = Signal(k, name=f"glb_lane_{b}")
            m.d.comb += [lane.eq(b - base[:k]), rd.addr.eq((base + lane) >> k)]
        glb_data = [_registered_read(m, rd, ~i_stall, f"glb_data_{b}")
                    for b, (_, rd) in enumerate(banks)]
        s1_valid = Signal()
        s1_rot = Signal(k)
        s1_ok = Signal(B)
        s1_n = Signal(range(B + 1))
        s1_col = Signal.like(ihl)
        with m.If(~i_stall):
            m.d.sync += [s1_valid.eq(gen), s1_rot.eq(base[:k]), s1_ok.eq(lane_ok),
                         s1_n.eq(beat_n), s1_col.eq(ihl), p_valid.eq(s1_valid)]
        packet = Signal(data.ArrayLayout(self._act, B))
        p_n = Signal(range(B + 1))
        p_col = Signal.like(ihl)
        with m.If(~i_stall & s1_valid):
            m.d.sync += [p_n.eq(s1_n), p_col.eq(s1_col)]
            for i in range(B):
                with m.Switch((s1_rot + i)[:k] if k else C(0, 1)):
                    for b, data_b in enumerate(glb_data):
                        with m.Case(b):
                            m.d.sync += packet[i].eq(Mux(s1_ok[i], data_b, 0))
        m.d.comb += [
            arr.ifm.valid.eq(p_valid),
            arr.ifm.payload.row.eq(0),
            arr.ifm.payload.col.eq(p_col),
            arr.ifm.payload.data.data.eq(packet),
            arr.ifm.payload.data.n.eq(p_n),
        ]
        i_busy = i_run | s1_valid | p_valid
        with m.If(i_run & ~i_stall):
            with m.If(ihl >= last_hl):
                m.d.sync += [ihl.eq(0), ihm.eq(0), irow.eq(irow0), iaddr.eq(iaddr0),
                             ib.eq(ib + 1), ibase.eq(ibase + B)]
                with m.If(is_last(ib, reg["nbi"])):
                    m.d.sync += i_run.eq(0)
            with m.Else():
                # With a stride past the filter's height no PE reads rows R .. U - 1 of
                # each stride: after row R - 1 the generator jumps the `rskip` = U - R
                # rows that follow (`rskipwq` = (rskip + 1) * W * q values on).
                jump = (reg["rskip"] != 0) & is_last(ihm, reg["r"])
                rows = Mux(jump, reg["rskip"] + 1, 1)
                m.d.sync += [ihl.eq(ihl + rows), irow.eq(irow + rows),
                             iaddr.eq(iaddr + Mux(jump, reg["rskipwq"], reg["wq"])),
                             ihm.eq(Mux(jump | is_last(ihm, reg["u"]), 0, ihm + 1))]

        # -- readout: lanes -> bias, ReLU, shift, saturation -> out beats ------------------------
        # Each read takes one address from the lanes of up to W = min(beat, cols) chains side
        # by side in one set copy (the same filter, so one bias) and makes one output beat.
        W = PEArray.read_width(c)
        r_v = Signal(range(bound["sets_v"]))
        r_h = Signal(range(bound["sets_h"]))
        r_sg = Signal(range(bound["segments"]))
        r_j = Signal(range(bound["set_cols"]))
        r_x = Signal(range(c.cols))                 # array column of chain j of copy h
        r_xh = Signal(range(c.cols))                # array column of copy h
        r_slot = Signal(upto(c.psum_lane))
        r_vslot = Signal(upto(c.psum_lane))
        r_vgp = Signal(upto((bound["sets_v"] - 1) * bound["shp"]))     # v * sets_h * p
        r_hp = Signal(upto((bound["sets_h"] - 1) * bound["p"]))        # h * p
        r_ee = Signal(range(bound["segments"] * bound["set_cols"]))
        r_eeb = Signal(upto((bound["segments"] - 1) * bound["set_cols"]))
        r_idx = Signal(range(bound["fp"]))
        r_idx_last = Signal()           # r_idx + 1 == fp, kept beside r_idx
        r_k = Signal(range(bound["p"]))
        # The fold being read out: its first filter, output rows and lane half. The next
        # fold computes meanwhile when the lanes hold both (register `dbuf`): each fold's
        # psums go to one half of the lanes, alternately (`half`).
        half = Signal()
        half_bit = Mux(reg["spread"], PEArray.half_bit(c, True), PEArray.half_bit(c, False))
        ro_go, ro_idle = Signal(), Signal()
        ro_ffm = Signal.like(ffm)
        ro_rows = Signal(range(bound["e"] + 1))
        ro_half = Signal()
        r_m = ro_ffm + r_vgp + r_hp + r_k
        chain_ok = (r_vgp + r_hp < reg["tp"]) & (r_ee < ro_rows)   # g < t
        cols_left = reg["set_cols"] - r_j
        rows_left = ro_rows - r_ee
        r_nc = Mux(cols_left < W, cols_left, W)
        r_n = Signal(range(W + 1))
        m.d.comb += r_n.eq(Mux(rows_left < r_nc, rows_left, r_nc))
        out_full = Signal()
        out_cnt = Signal(range(B + 1))
        out_buf = Signal(data.ArrayLayout(self._acc, B))
        b_valid, b_m_ok = Signal(), Signal()
        b_n = Signal.like(r_n)
        # A full beat stalls the readout only while `out` is not taking it.
        stall = out_full & ~self.out.ready
        m.d.comb += [
            self.out.valid.eq(out_full),
            self.out.payload.data.eq(out_buf),
            self.out.payload.n.eq(out_cnt),
            arr.rd_col.eq(r_x),
            arr.rd_addr.eq((r_slot + r_idx) | Mux(ro_half, half_bit, 0)),
            arr.rd_en.eq(~stall),
            bias_r.addr.eq(r_m),
        ]
        bias_b = _registered_read(m, bias_r, ~stall, "bias_b")
        bias_data = Signal.like(bias_b, name="bias_data", reset_less=True)
        # Stage B reads the lanes (block RAM), stage Q registers their data (in the array),
        # stage C adds the bias, stage D applies ReLU and the shift, and the output beat
        # takes the saturated values: one adder, one barrel shifter or one range check per
        # cycle. All stages move together, and hold while the output beat waits.
        q_valid, q_m_ok, c_valid, c_m_ok = Signal(), Signal(), Signal(), Signal()
        d_valid, d_m_ok = Signal(), Signal()
        q_n, c_n, d_n = Signal.like(r_n), Signal.like(r_n), Signal.like(r_n)
        with m.If(~stall):
            m.d.sync += [q_valid.eq(b_valid), q_m_ok.eq(b_m_ok), q_n.eq(b_n),
                         bias_data.eq(bias_b),
                         c_valid.eq(q_valid), c_m_ok.eq(q_m_ok), c_n.eq(q_n),
                         d_valid.eq(c_valid), d_m_ok.eq(c_m_ok), d_n.eq(c_n)]
        wide = signed(c.acc_bits + 2)      # `shift` runs to acc_bits + 1: to the sign bit
        # Accumulators pass through unshifted (and saturate, below) when requantization
        # is off.
        shamt = Mux(reg["requant"], reg["shift"], 0)
        results = []
        for i in range(W):
            total = Signal(wide, name=f"total_{i}")
            shifted = Signal(wide, name=f"shifted_{i}")
            with m.If(~stall):
                m.d.sync += [
                    total.eq(arr.rd_data[i] + bias_data),
                    shifted.eq(Mux(reg["relu"] & (total < 0), 0, total) >> shamt),
                ]
            # Without requantization the output is the accumulator plus the bias, which
            # can pass the accumulator's range (both addends span it), so it saturates to
            # that range, as the requantized values do to theirs.
            results.append(Mux(reg["requant"], _saturated(shifted, c.out_width, True),
                               _saturated(shifted, c.acc_bits, c.acc_signed)))
        taken = self.out.valid & self.out.ready
        with m.If(d_valid & ~stall & d_m_ok):
            m.d.sync += [out_buf[i].eq(results[i]) for i in range(W)]
            m.d.sync += [out_cnt.eq(d_n), out_full.eq(1)]
        with m.Elif(taken):
            m.d.sync += out_full.eq(0)

        # -- main sequencer ------------------------------------------------------------------
        arr_done = Signal()
        with m.If(arr.done):
            m.d.sync += arr_done.eq(1)
        m.d.comb += [
            arr.job.s.eq(reg["s"]), arr.job.f.eq(reg["f"]), arr.job.u.eq(reg["u"]),
            arr.job.p.eq(reg["p"]), arr.job.q.eq(reg["q"]), arr.job.acc.eq(cf != 0),
            arr.job.n_in.eq(reg["n_in"]), arr.job.qs.eq(reg["qs"]), arr.job.qu.eq(reg["qu"]),
            arr.job.pqs.eq(reg["pqs"]), arr.job.nq.eq(reg["nq"]), arr.job.fp.eq(reg["fp"]),
            arr.job.flip.eq(Mux(half, half_bit, 0)),
        ]
        m.d.sync += self.done.eq(0)

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [busy.eq(1), ni.eq(0), e0.eq(0), e0u.eq(0), e0wq.eq(0),
                                 ff.eq(0), ffm.eq(0), cf.eq(0), plane.eq(0), plane_n.eq(0),
                                 half.eq(0),
                                 out_cnt.eq(0), out_full.eq(0)]
                    m.next = "STRIP"
            with m.State("STRIP"):
                # The array's IDs change only once the last strip's weights are all out.
                with m.If(~w_run):
                    m.d.sync += [cy.eq(0), cx.eq(0), cstep.eq(0),
                                 y_rr.eq(0), y_sg.eq(0), y_v.eq(0), y_vr.eq(0), y_g.eq(0),
                                 y_ee.eq(0), y_eeu.eq(0), y_slot.eq(0),
                                 x_j.eq(0), x_h.eq(0), x_ju.eq(0)]
                    m.next = "CONFIG"
            with m.State("CONFIG"):
                m.d.comb += arr.cfg.valid.eq(1)
                with m.If(arr.cfg.ready):
                    with m.If(cstep != 2):
                        m.d.sync += cstep.eq(cstep + 1)
                    with m.Elif(cx != c.cols - 1):
                        m.d.sync += cx.eq(cx + 1)
                        with m.If(is_last(x_j, reg["set_cols"])):
                            m.d.sync += [x_j.eq(0), x_ju.eq(0), x_h.eq(x_h + 1)]
                        with m.Else():
                            m.d.sync += [x_j.eq(x_j + 1), x_ju.eq(x_ju + reg["u"])]
                    with m.Else():
                        m.d.sync += [cx.eq(0), cstep.eq(0), x_j.eq(0), x_ju.eq(0), x_h.eq(0)]
                        # Next array row: rr, then segment, then vertical copy.
                        with m.If(~is_last(y_rr, reg["r"])):
                            m.d.sync += y_rr.eq(y_rr + 1)
                        with m.Else():
                            m.d.sync += [y_rr.eq(0), y_slot.eq(next_chain(y_slot))]
                            with m.If(~is_last(y_sg, reg["segments"])):
                                m.d.sync += [y_sg.eq(y_sg + 1),
                                             y_ee.eq(y_ee + reg["set_cols"]),
                                             y_eeu.eq(y_eeu + reg["scu"])]
                            with m.Else():
                                m.d.sync += [y_sg.eq(0), y_ee.eq(0), y_eeu.eq(0),
                                             y_v.eq(y_v + 1), y_vr.eq(y_vr + reg["r"]),
                                             y_g.eq(y_g + reg["sets_h"])]
                        with m.If(cy != c.rows - 1):
                            m.d.sync += cy.eq(cy + 1)
                        with m.Else():
                            m.next = "PASS"
            with m.State("PASS"):
                m.d.comb += arr.start.eq(1)
                m.d.sync += [
                    arr_done.eq(0), i_run.eq(1), ib.eq(0), ibase.eq(0), ihl.eq(0), ihm.eq(0),
                    irow.eq(irow0), iaddr.eq(iaddr0),
                ]
                with m.If((ff == 0) & (cf == 0)):      # the strip's first pass
                    m.d.sync += [w_run.eq(1), w_left.eq(reg["passes"]), wb.eq(0),
                                 w_rr.eq(0), w_h.eq(0), w_g.eq(0), w_vr.eq(0), w_row.eq(0)]
                m.next = "RUN"
            with m.State("RUN"):
                # The next channel fold's pass is queued in the array as soon as this
                # pass's inputs are all sent (and no PE still holds a queued pass): its
                # inputs flow into the PEs that are done, and no PE waits at every pass
                # for the slowest. The readout waits for the fold's last pass to end.
                last_cf = is_last(cf, reg["cfolds"])
                with m.If(~i_busy & ~last_cf & ~arr.queued):
                    m.d.sync += [cf.eq(cf + 1), plane.eq(plane + reg["hwq"])]
                    m.next = "PASS"
                with m.Elif(arr_done & ~i_busy & last_cf & ro_idle):
                    # The fold's psums are all in the lanes: the readout takes them.
                    m.d.comb += ro_go.eq(1)
                    m.d.sync += [
                        r_v.eq(0), r_h.eq(0), r_sg.eq(0), r_j.eq(0), r_x.eq(0),
                        r_xh.eq(0), r_slot.eq(0), r_vslot.eq(0), r_vgp.eq(0),
                        r_hp.eq(0), r_ee.eq(0), r_eeb.eq(0), r_idx.eq(0), r_k.eq(0),
                        r_idx_last.eq(reg["fp"] == 1),
                        ro_ffm.eq(ffm), ro_rows.eq(rows_in_strip), ro_half.eq(half),
                    ]
                    m.next = "NEXT"
            with m.State("NEXT"):
                # The next fold starts while this one is read out if the lanes hold both;
                # the layer ends when the last readout has left.
                more = (~is_last(ff, reg["ffolds"]) | (e0 + reg["e"] < reg["e_out"])
                        | ~is_last(ni, reg["n"]))
                with m.If(more & (reg["dbuf"] | ro_idle)):
                    m.d.sync += [cf.eq(0), plane.eq(plane_n), half.eq(half ^ reg["dbuf"])]
                    with m.If(~is_last(ff, reg["ffolds"])):
                        m.d.sync += [ff.eq(ff + 1), ffm.eq(ffm + reg["tp"])]
                        m.next = "PASS"
                    with m.Elif(e0 + reg["e"] < reg["e_out"]):
                        m.d.sync += [ff.eq(0), ffm.eq(0), e0.eq(e0 + reg["e"]),
                                     e0u.eq(e0u + reg["eu"]), e0wq.eq(e0wq + reg["euwq"])]
                        m.next = "STRIP"
                    with m.Else():
                        m.d.sync += [ff.eq(0), ffm.eq(0), e0.eq(0), e0u.eq(0), e0wq.eq(0),
                                     ni.eq(ni + 1), plane_n.eq(plane_n + reg["nplane"]),
                                     plane.eq(plane_n + reg["nplane"])]
                        m.next = "STRIP"
                with m.Elif(~more & ro_idle & ~q_valid & ~c_valid & ~d_valid & ~out_full):
                    m.d.sync += [busy.eq(0), self.done.eq(1), load_row.eq(0)]
                    m.next = "IDLE"

        # -- readout sequencer: runs beside the main one ---------------------------------------
        with m.FSM(name="readout") as ro_fsm:
            with m.State("IDLE"):
                with m.If(ro_go):
                    m.next = "OWN"
            with m.State("OWN"):
                # The lanes' read ports are the readout's from the next cycle on (a lane
                # read granted now still completes).
                m.next = "READ"
            with m.State("READ"):
                # Stage A issues lane and bias reads; stages B, Q, C and D, a cycle apart,
                # make the beat. While the output beat waits, all hold (the reads are disabled).
                with m.If(~stall):
                    m.d.sync += [b_valid.eq(chain_ok), b_m_ok.eq(r_m < reg["m"]), b_n.eq(r_n)]
                    last_value = ~chain_ok | r_idx_last
                    with m.If(~last_value):
                        m.d.sync += [r_idx.eq(r_idx + 1), r_idx_last.eq(r_idx + 2 == reg["fp"]),
                                     r_k.eq(Mux(is_last(r_k, reg["p"]), 0, r_k + 1))]
                    with m.Else():
                        m.d.sync += [r_idx.eq(0), r_k.eq(0), r_idx_last.eq(reg["fp"] == 1)]
                        # Next group of chains: j, then segment, then h, then v.
                        with m.If(cols_left > W):
                            m.d.sync += [r_j.eq(r_j + W), r_x.eq(r_x + W), r_ee.eq(r_ee + W)]
                        with m.Elif(~is_last(r_sg, reg["segments"])):
                            m.d.sync += [r_j.eq(0), r_x.eq(r_xh), r_sg.eq(r_sg + 1),
                                         r_slot.eq(next_chain(r_slot)),
                                         r_ee.eq(r_eeb + reg["set_cols"]),
                                         r_eeb.eq(r_eeb + reg["set_cols"])]
                        with m.Elif(~is_last(r_h, reg["sets_h"])):
                            m.d.sync += [r_j.eq(0), r_sg.eq(0), r_ee.eq(0), r_eeb.eq(0),
                                         r_h.eq(r_h + 1),
                                         r_xh.eq(r_xh + reg["set_cols"]),
                                         r_x.eq(r_xh + reg["set_cols"]),
                                         r_slot.eq(r_vslot), r_hp.eq(r_hp + reg["p"])]
                        with m.Elif(~is_last(r_v, reg["sets_v"])):
                            m.d.sync += [r_j.eq(0), r_sg.eq(0), r_ee.eq(0), r_eeb.eq(0),
                                         r_h.eq(0), r_xh.eq(0), r_x.eq(0), r_hp.eq(0),
                                         r_v.eq(r_v + 1),
                                         r_vslot.eq(next_chain(r_slot)),
                                         r_slot.eq(next_chain(r_slot)),
                                         r_vgp.eq(r_vgp + reg["shp"])]
                        with m.Else():
                            m.next = "DRAIN"
            with m.State("DRAIN"):
                # The last read's data is taken into stage Q on the next cycle that moves.
                with m.If(~stall):
                    m.d.sync += b_valid.eq(0)
                    m.next = "IDLE"
        m.d.comb += [ro_idle.eq(ro_fsm.ongoing("IDLE")), arr.rd_own.eq(~ro_idle)]

        # -- counters ------------------------------------------------------------------------
        m.d.comb += [
            self.macs.eq(arr.macs), self.gated.eq(arr.gated), self.pe_busy.eq(arr.pe_busy),
            self.lane_reads.eq(arr.lane_reads), self.lane_writes.eq(arr.lane_writes),
            self.psum_hops.eq(arr.psum_hops),
            *(getattr(self, name).eq(getattr(arr, name))
              for name in (self.SKIP_COUNTERS if c.zero_skip else ())),
        ]
        m.d.sync += self.cycles.eq(self.cycles + busy)
        count_events(m, self.glb_reads, Mux(gen, tree_sum(lane_ok[i] for i in range(B)), 0))
        count_events(m, self.glb_writes, Mux(load, B, 0))
        count_events(m, self.words_in, (self.act_in.valid & self.act_in.ready)
                     + (self.wgt_in.valid & self.wgt_in.ready))
        count_events(m, self.words_out, self.out.valid & self.out.ready)
        return m
