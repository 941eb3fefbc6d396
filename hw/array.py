"""The row-stationary PE array: PEs, multicast networks and per-column psum lanes.

See ``docs/array.md`` for the mapping this array runs.
"""

from amaranth import Cat, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, fifo, stream, wiring
from amaranth.lib.wiring import In, Out

from .count import count_bits, count_events, tree_sum
from .noc import BeatSerializer, MulticastBus, beat_layout
from .pe import PE1D, pe_cfg_layout
from .lane import PsumLane
from .skip import ZeroSkipEncoder, entry_layout

__all__ = ["PEArray", "CfgKind", "array_cfg_layout", "packet_layout", "array_job_layout", "tag_bits"]


class CfgKind(enum.Enum, shape=2):
    """What a configuration write sets."""
    FILT_ROW = 0    # filter-bus row ID of array row ``y``
    IFM_ROW  = 1    # ifmap-bus row ID of array row ``y``
    PE       = 2    # the PE at ``(y, x)``: its bus column IDs, role and psum-lane base


def tag_bits(config):
    """Width of the bus tags: enough for any padded input row index within one pass."""
    return max(1, (config.rows * config.cols * config.max_stride + config.max_r).bit_length())


def pe_role_layout(config):
    return data.StructLayout({
        "filt_col":  unsigned(tag_bits(config)),
        "ifm_col":   unsigned(tag_bits(config)),
        "active":    1,    # takes part in passes
        "top":       1,    # psum_out goes to the column's psum lane (else to the PE above)
        "bottom":    1,    # psum_in comes from the psum lane (else from the PE below)
        "base":      range(config.psum_lane),   # lane address of this PE's chain
    })


def array_cfg_layout(config):
    return data.StructLayout({
        "kind": CfgKind,
        "y":    range(config.rows),
        "x":    range(config.cols),
        "id":   unsigned(tag_bits(config)),
        "pe":   pe_role_layout(config),
    })


def array_job_layout(config):
    """One pass: the PE job (without ``psum_en``), whether bottoms add lane psums,
    ``fp = f * p``, the psums of each chain, and ``flip``, ORed into every lane address
    of the pass (:meth:`PEArray.half_bit`)."""
    fields = {name: f.shape for name, f in pe_cfg_layout(config) if name != "psum_en"}
    fields["acc"] = 1
    fields["fp"] = range(config.max_f * config.psum_spad + 1)
    fields["flip"] = range(config.psum_lane)
    return data.StructLayout(fields)


def packet_layout(config, shape):
    return data.StructLayout({
        "row":  unsigned(tag_bits(config)),
        "col":  unsigned(tag_bits(config)),
        "data": beat_layout(shape, config.beat),
    })


class PEArray(wiring.Component):
    """``rows x cols`` row-stationary PEs with their networks and psum lanes.

    Configuration (written through ``cfg`` once per layer) gives every array row its
    filter-bus and ifmap-bus row IDs and every PE its column IDs, its role in a psum chain
    (``top``, ``bottom``) and its chain's base address in the column's psum lane. A pass,
    started by ``start`` with ``job`` held, runs the PE job on every active PE: filters and
    input rows arrive as tagged packets on ``filt`` and ``ifm`` and are multicast to the
    PEs whose IDs match; partial sums flow up each chain, bottoms adding the lane's psums
    when ``job.acc`` is set, and tops write their outputs back to the lane at the chain's
    base, ``F * p`` values in ``[f][k]`` order. ``start`` while ``busy`` queues the
    next pass of the same job with ``acc`` set (the next channel fold): every active PE
    runs it as soon as it has finished the current one, so PEs do not wait for the
    slowest at every pass, and the lanes hold a bottom's read of a psum until its chain's
    top has written it in the pass before; ``queued`` is high while a PE still holds a
    queued pass (another start would be lost). ``done`` pulses when every active PE has
    finished every pass. While ``rd_own`` is high (between passes, or while passes run
    in the other half of the lanes, ``job.flip``), ``rd_col``/``rd_addr`` read the lanes of
    ``read_width`` neighbouring columns from ``rd_col`` at one address, and the bottoms'
    lane reads wait (``rd_en`` from the second cycle of ``rd_own`` on: a lane read granted
    in its first cycle still completes). The readout is a two-stage pipeline that moves on the cycles with
    ``rd_en`` high: the lanes' block RAMs read, then a register per lane takes their data
    (so no logic follows a block RAM's output in the same cycle). ``rd_data`` holds the
    read of the address given two ``rd_en`` cycles back; columns past the array read as
    zero.

    Members
    -------
    cfg : In(stream.Signature(array_cfg_layout(config)))
    job : In(array_job_layout(config))
    start : In(1)
    busy, queued, done : Out(1)
    filt, ifm : In(stream.Signature(packet_layout(...)))
    rd_col, rd_addr, rd_en, rd_own : In(...)
        Lane readout; ``rd_data`` holds while ``rd_en`` is low.
    rd_data : Out(ArrayLayout(acc, read_width))
        ``read_width = min(beat, cols)``: one output beat's worth of columns.
    macs, gated, pe_busy, lane_reads, lane_writes, psum_hops, filt_beats, ifm_beats :
        Out(counter_width) — counts since reset.
    seen, skipped, waits : Out(counter_width)
        With ``zero_skip``: input values that reached the PEs' encoders, the zeros among
        them, and PE-cycles an active PE spent waiting for others (finished while the array
        runs, or unable to start a sum until its finished ones drain up the chain).

    With ``zero_skip`` each PE's input passes a :class:`hw.skip.ZeroSkipEncoder` and a
    queue of ``skip_queue`` entries instead of a beat serializer.
    """

    def __init__(self, *, config):
        self._config = c = config
        self._act = signed(c.act_width) if c.act_signed else unsigned(c.act_width)
        self._wgt = signed(c.wgt_width) if c.wgt_signed else unsigned(c.wgt_width)
        self._acc = signed(c.acc_bits) if c.acc_signed else unsigned(c.acc_bits)
        counters = self.counter_names(c)
        super().__init__({
            "cfg":     In(stream.Signature(array_cfg_layout(c))),
            "job":     In(array_job_layout(c)),
            "start":   In(1),
            "busy":    Out(1),
            "queued":  Out(1),
            "done":    Out(1),
            "filt":    In(stream.Signature(packet_layout(c, self._wgt))),
            "ifm":     In(stream.Signature(packet_layout(c, self._act))),
            "rd_col":  In(range(c.cols)),
            "rd_addr": In(range(c.psum_lane)),
            "rd_en":   In(1),
            "rd_own":  In(1),
            "rd_data": Out(data.ArrayLayout(self._acc, self.read_width(c))),
            **{name: Out(c.counter_width) for name in counters},
        })

    SKIP_COUNTERS = ("seen", "skipped", "waits")

    @classmethod
    def counter_names(cls, config):
        names = ("macs", "gated", "pe_busy", "lane_reads", "lane_writes", "psum_hops",
                 "filt_beats", "ifm_beats")
        return names + (cls.SKIP_COUNTERS if config.zero_skip else ())

    @staticmethod
    def half_bit(config, spread):
        """The lane-address bit of the other half of the lanes (``job.flip``): the top bit
        within a bank for chains spread over the banks, the top address bit for chains
        packed from address 0 (``gen.mapper.Mapping.lane_halves``)."""
        return config.psum_lane // config.lane_banks // 2 if spread else config.psum_lane // 2

    @staticmethod
    def read_width(config):
        """Lanes read per readout cycle."""
        return min(config.beat, config.cols)

    def elaborate(self, platform):
        c = self._config
        R, C = c.rows, c.cols
        m = Module()

        # -- configuration registers -------------------------------------------------------
        filt_row = [Signal(tag_bits(c), name=f"filt_row_{y}") for y in range(R)]
        ifm_row = [Signal(tag_bits(c), name=f"ifm_row_{y}") for y in range(R)]
        role = [[Signal(pe_role_layout(c), name=f"role_{y}_{x}") for x in range(C)]
                for y in range(R)]
        busy = Signal()
        m.d.comb += [self.busy.eq(busy), self.cfg.ready.eq(~busy)]
        with m.If(self.cfg.valid & self.cfg.ready):
            p = self.cfg.payload
            with m.Switch(p.kind):
                with m.Case(CfgKind.FILT_ROW):
                    for y in range(R):
                        with m.If(p.y == y):
                            m.d.sync += filt_row[y].eq(p.id)
                with m.Case(CfgKind.IFM_ROW):
                    for y in range(R):
                        with m.If(p.y == y):
                            m.d.sync += ifm_row[y].eq(p.id)
                with m.Case(CfgKind.PE):
                    for y in range(R):
                        for x in range(C):
                            with m.If((p.y == y) & (p.x == x)):
                                m.d.sync += role[y][x].eq(p.pe)

        # -- networks ----------------------------------------------------------------------
        m.submodules.filt_bus = fbus = MulticastBus(
            rows=R, cols=C, row_bits=tag_bits(c), col_bits=tag_bits(c),
            payload=beat_layout(self._wgt, c.beat), depth=1, row_stage=c.bus_stage)
        m.submodules.ifm_bus = ibus = MulticastBus(
            rows=R, cols=C, row_bits=tag_bits(c), col_bits=tag_bits(c),
            payload=beat_layout(self._act, c.beat), depth=1, row_stage=c.bus_stage)
        wiring.connect(m, wiring.flipped(self.filt), fbus.i)
        wiring.connect(m, wiring.flipped(self.ifm), ibus.i)
        for y in range(R):
            m.d.comb += [fbus.row_id[y].eq(filt_row[y]), ibus.row_id[y].eq(ifm_row[y])]
            for x in range(C):
                m.d.comb += [fbus.col_id[y][x].eq(role[y][x].filt_col),
                             ibus.col_id[y][x].eq(role[y][x].ifm_col),
                             fbus.en[y][x].eq(role[y][x].active),
                             ibus.en[y][x].eq(role[y][x].active)]

        # -- PEs -----------------------------------------------------------------------------
        job = Signal(array_job_layout(c))     # the running pass
        pes = [[None] * C for _ in range(R)]
        pe_busy, pe_queued, encoders = [], [], []
        for y in range(R):
            for x in range(C):
                pe = pes[y][x] = PE1D(config=c, counters=False)   # counted here
                m.submodules[f"pe_{y}_{x}"] = pe
                fser = BeatSerializer(shape=self._wgt, beat=c.beat)
                m.submodules[f"fser_{y}_{x}"] = fser
                wiring.connect(m, fbus.o[y][x], fser.i)
                wiring.connect(m, fser.o, pe.wgt)
                if c.zero_skip:
                    enc = ZeroSkipEncoder(config=c)
                    m.submodules[f"enc_{y}_{x}"] = enc
                    encoders.append(enc)
                    wiring.connect(m, ibus.o[y][x], enc.i)
                    self._queue(m, f"queue_{y}_{x}", enc.o, pe.act)
                    m.d.comb += enc.nq.eq(job.nq)
                else:
                    iser = BeatSerializer(shape=self._act, beat=c.beat)
                    m.submodules[f"iser_{y}_{x}"] = iser
                    wiring.connect(m, ibus.o[y][x], iser.i)
                    wiring.connect(m, iser.o, pe.act)
                r = role[y][x]
                # PEs sample their job on the start cycle, straight from the input.
                for name, _ in pe_cfg_layout(c):
                    if name != "psum_en":
                        m.d.comb += getattr(pe.cfg, name).eq(getattr(self.job, name))
                m.d.comb += [
                    pe.cfg.psum_en.eq(~r.bottom | self.job.acc),
                    pe.start.eq(self.start & r.active),
                ]
                pe_busy.append(pe.busy)
                pe_queued.append(pe.queued)

        # -- psum chains and lanes ---------------------------------------------------------
        hops, lane_reads, lane_writes, lane_data = [], [], [], []
        rd_col_q = Signal.like(self.rd_col)          # first column of the lanes' reads
        rd_col_qq = Signal.like(self.rd_col)         # and of their registers
        with m.If(self.rd_en):
            m.d.sync += [rd_col_q.eq(self.rd_col), rd_col_qq.eq(rd_col_q)]
        for x in range(C):
            lane = PsumLane(config=c, shape=self._acc)
            m.submodules[f"lane_{x}"] = lane
            col = [pes[y][x] for y in range(R)]
            roles = [role[y][x] for y in range(R)]
            m.d.comb += [lane.start.eq(self.start & ~busy), lane.again.eq(self.start & busy),
                         lane.busy.eq(busy), lane.flip.eq(self.job.flip),
                         lane.rd_own.eq(self.rd_own),
                         lane.acc.eq(self.job.acc), lane.fp.eq(self.job.fp),
                         lane.rd_addr.eq(self.rd_addr), lane.rd_en.eq(self.rd_en)]
            for y in range(R):
                pe, r = col[y], roles[y]
                m.d.comb += [lane.base[y].eq(r.base), lane.bottom[y].eq(r.bottom),
                             lane.top[y].eq(r.top),
                             lane.w[y].payload.eq(pe.psum_out.payload)]
                # Tops write to the lane; the PEs below them feed the PE above.
                with m.If(r.top):
                    m.d.comb += [lane.w[y].valid.eq(pe.psum_out.valid),
                                 pe.psum_out.ready.eq(lane.w[y].ready)]
                if y > 0:
                    above = col[y - 1]
                    with m.Else():
                        m.d.comb += [above.psum_in.valid.eq(pe.psum_out.valid),
                                     above.psum_in.payload.eq(pe.psum_out.payload),
                                     pe.psum_out.ready.eq(above.psum_in.ready)]
                    hops.append(~r.top & pe.psum_out.valid & pe.psum_out.ready)
            # Bottoms take the lane's values (when accumulating), whatever is below them.
            for y in range(R):
                pe = col[y]
                with m.If(roles[y].bottom):
                    m.d.comb += [pe.psum_in.valid.eq(lane.r[y].valid),
                                 pe.psum_in.payload.eq(lane.r[y].payload),
                                 lane.r[y].ready.eq(pe.psum_in.ready)]
            lane_writes.append(lane.writes)
            lane_reads.append(lane.reads)
            lane_q = Signal.like(lane.rd_data, name=f"lane_q_{x}", reset_less=True)
            with m.If(self.rd_en):
                m.d.sync += lane_q.eq(lane.rd_data)
            lane_data.append(lane_q)

        with m.Switch(rd_col_qq):
            for x in range(C):
                with m.Case(x):
                    for i in range(min(self.read_width(c), C - x)):
                        m.d.comb += self.rd_data[i].eq(lane_data[x + i])

        # -- pass control and counters --------------------------------------------------------
        # A start while busy queues the next pass (the same job, accumulating) in every
        # active PE: idle ones begin it at once, busy ones when they finish the current one.
        any_busy = Cat(*pe_busy).any()
        m.d.comb += self.queued.eq(Cat(*pe_queued).any())
        started = Signal()
        with m.If(self.start & ~busy):
            m.d.sync += [busy.eq(1), started.eq(0), job.eq(self.job)]
        with m.Elif(busy):
            m.d.sync += started.eq(1)
            with m.If(started & ~any_busy & ~self.start):
                m.d.sync += busy.eq(0)
        m.d.sync += self.done.eq(busy & started & ~any_busy & ~self.start)

        flat = [pes[y][x] for y in range(R) for x in range(C)]
        count_bits(m, self.macs, [pe.fire for pe in flat])
        count_bits(m, self.gated, [pe.skip for pe in flat])
        count_bits(m, self.pe_busy, pe_busy)
        count_events(m, self.lane_reads, tree_sum(lane_reads))
        count_events(m, self.lane_writes, tree_sum(lane_writes))
        count_bits(m, self.psum_hops, hops)
        count_events(m, self.filt_beats, self.filt.valid & self.filt.ready)
        count_events(m, self.ifm_beats, self.ifm.valid & self.ifm.ready)
        if c.zero_skip:
            roles = [role[y][x] for y in range(R) for x in range(C)]
            barrier = [r.active & ~pe.busy for pe, r in zip(flat, roles, strict=True)]
            count_events(m, self.seen,
                         tree_sum([Mux(e.taken, e.values, 0) for e in encoders]))
            count_events(m, self.skipped,
                         tree_sum([Mux(e.taken, e.zeros, 0) for e in encoders]))
            count_bits(m, self.waits, [pe.held for pe in flat]
                       + [b & busy & started for b in barrier])
        return m

    def _queue(self, m, name, source, sink):
        """``source`` to ``sink`` through a FIFO of ``skip_queue`` entries."""
        layout = entry_layout(self._config)
        q = fifo.SyncFIFOBuffered(width=layout.size, depth=self._config.skip_queue)
        m.submodules[name] = q
        m.d.comb += [
            q.w_data.eq(source.payload),
            q.w_en.eq(source.valid),
            source.ready.eq(q.w_rdy),
            sink.valid.eq(q.r_rdy),
            sink.payload.eq(q.r_data),
            q.r_en.eq(sink.ready),
        ]
