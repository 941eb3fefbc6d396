"""The EIE engine: N sparse PEs, the leading-non-zero broadcast, and the layer controller
(EIE, docs/eie.md).

The host (``gen.eie_driver``) writes pointers, entries and codebooks into the PEs and the
layer registers through ``cmd``, writes the input vector into the PEs' source activation
files (element ``j`` at PE ``j % N``, index ``j // N``) and pulses ``start``. For each
layer the controller scans the source activations one group of N (one per PE) at a time,
broadcasts each non-zero ``(j, a_j)`` to every PE's queue (stalling only while some queue
is full), waits for the PEs to drain, then writes the requantized accumulators back as the
next layer's input and swaps the two activation files. After the last layer it streams the
outputs, rows in order, on ``out``, and pulses ``done``.
"""

from amaranth import Array, Cat, Module, Shape, Signal, signed, unsigned
from amaranth.lib import data, stream, wiring
from amaranth.lib.wiring import In, Out

from .blackbox import BlackBox
from .count import tree_sum
from .eie_pe import SparsePE, Target, pe_signature, act_layout, load_depth, load_width

__all__ = ["EieEngine", "GLOBAL_REGS", "LAYER_REGS", "reg_addr", "cmd_layout"]

# Run-time registers: the global ones, then LAYER_REGS for each layer slot in turn.
# groups = ceil(cols / N) and lrows = ceil(rows / N) come from the host, so the controller
# needs no divider.
GLOBAL_REGS = ("n_layers", "out_raw")
LAYER_REGS = ("cols", "groups", "rows", "lrows", "ptr_base", "relu", "shift")


def reg_addr(name, layer=None):
    """Address of register ``name`` (of layer slot ``layer`` for a per-layer register)."""
    if layer is None:
        return GLOBAL_REGS.index(name)
    return len(GLOBAL_REGS) + layer * len(LAYER_REGS) + LAYER_REGS.index(name)


def _reg_shapes(config):
    c = config
    return {
        "n_layers": range(1, c.max_layers + 1),
        "out_raw":  unsigned(1),
        "cols":     range(c.max_cols + 1),
        "groups":   range(c.max_groups + 1),
        "rows":     range(c.max_rows + 1),
        "lrows":    range(c.rows_per_pe + 1),
        "ptr_base": range(c.ptr_depth),
        "relu":     unsigned(1),
        "shift":    range(c.acc_bits),
    }


def cmd_layout(config):
    """A host command: a write to a PE memory (``pe``; ``CODE`` goes to every PE) or, with
    ``sel`` = ``REG``, to register ``addr``."""
    regs = len(GLOBAL_REGS) + config.max_layers * len(LAYER_REGS)
    width = max(load_width(config),
                *(Shape.cast(shape).width for shape in _reg_shapes(config).values()))
    return data.StructLayout({
        "sel":  Target,
        "pe":   range(config.pes),
        "addr": range(max(load_depth(config), regs)),
        "data": unsigned(width),
    })


class EieEngine(wiring.Component):
    """EIE sparse matrix-vector engine generated for ``config``.

    With ``pe_module``, the PEs are instances of that module, generated once from
    :class:`SparsePE` (see :attr:`separate_modules`) rather than converted N times; the
    Verilog generator does this, the simulator tests do not.

    Members
    -------
    cmd : In(stream.Signature(cmd_layout(config)))
        Host writes, accepted while idle.
    start : In(1)
        Runs layers ``0 .. n_layers - 1`` on the vector in the source files.
    out : Out(stream.Signature(signed(acc_bits)))
        The last layer's rows in order: accumulators (after ReLU if asked) when
        ``out_raw``, else requantized to ``act_width``.
    busy, done : Out(1)
    cycles, compute, broadcasts, stalls, entries, padding, starved : Out(counter_width)
        Since reset: busy cycles; cycles in which PEs computed; activations broadcast;
        cycles a broadcast waited for a full queue; entries and padding entries processed
        (all PEs); PE-cycles without work during compute (EIE's starvation bubbles).
    stat_pe : In(range(pes)), stat_busy : Out(counter_width)
        Cycles PE ``stat_pe`` spent on entries.
    """

    COUNTERS = ("cycles", "compute", "broadcasts", "stalls", "entries", "padding", "starved")

    def __init__(self, *, config, pe_module=None):
        self._config = c = config
        self._pe_module = pe_module
        super().__init__({
            "cmd":       In(stream.Signature(cmd_layout(c))),
            "start":     In(1),
            "out":       Out(stream.Signature(signed(c.acc_bits))),
            "busy":      Out(1),
            "done":      Out(1),
            **{name: Out(c.counter_width) for name in self.COUNTERS},
            "stat_pe":   In(range(c.pes)),
            "stat_busy": Out(c.counter_width),
        })

    @property
    def config(self):
        return self._config

    @property
    def separate_modules(self):
        """``(component, name)`` of the modules this one instantiates by name."""
        if self._pe_module is None:
            return []
        return [(SparsePE(config=self._config), self._pe_module)]

    def elaborate(self, platform):
        c = self._config
        N = c.pes
        m = Module()
        if self._pe_module is None:
            pes = [SparsePE(config=c) for _ in range(N)]
        else:
            pes = [BlackBox(pe_signature(c), module=self._pe_module) for _ in range(N)]
        for k, pe in enumerate(pes):
            m.submodules[f"pe{k}"] = pe
        busy = Signal()
        m.d.comb += self.busy.eq(busy)

        # -- host writes -------------------------------------------------------------------
        shapes = _reg_shapes(c)
        glob = {name: Signal(shapes[name], name=f"reg_{name}") for name in GLOBAL_REGS}
        slots = [{name: Signal(shapes[name], name=f"reg_l{i}_{name}") for name in LAYER_REGS}
                 for i in range(c.max_layers)]
        cmd = self.cmd.payload
        m.d.comb += self.cmd.ready.eq(~busy)
        accept = self.cmd.valid & ~busy
        for k, pe in enumerate(pes):
            m.d.comb += [
                pe.load.payload.sel.eq(cmd.sel), pe.load.payload.addr.eq(cmd.addr),
                pe.load.payload.data.eq(cmd.data),
                pe.load.valid.eq(accept & (cmd.sel != Target.REG) &
                                 ((cmd.sel == Target.CODE) | (cmd.pe == k))),
            ]
        with m.If(accept & (cmd.sel == Target.REG)):
            with m.Switch(cmd.addr):
                for name in GLOBAL_REGS:
                    with m.Case(reg_addr(name)):
                        m.d.sync += glob[name].eq(cmd.data)
                for i, slot in enumerate(slots):
                    for name in LAYER_REGS:
                        with m.Case(reg_addr(name, i)):
                            m.d.sync += slot[name].eq(cmd.data)

        layer = Signal(range(c.max_layers))
        cur = {name: Array(slot[name] for slot in slots)[layer] for name in LAYER_REGS}
        src_bank = Signal()
        run = Signal()
        for pe in pes:
            m.d.comb += [pe.run.eq(run), pe.ptr_base.eq(cur["ptr_base"]), pe.layer.eq(layer),
                         pe.src_bank.eq(src_bank), pe.relu.eq(cur["relu"]),
                         pe.shift.eq(cur["shift"])]

        # -- leading-non-zero scan and broadcast -------------------------------------------
        # The source files are read a group of N at a time (index g in every PE) one group
        # ahead of the one being broadcast; a group's non-zero values go out lowest PE
        # first, one per cycle, and an all-zero group costs one cycle.
        rd_g = Signal(range(c.max_groups + 1))
        rd_base = Signal(range(c.max_groups * N + 1))
        nxt_valid = Signal()
        nxt_base = Signal(range(c.max_groups * N + 1))
        cur_mask = Signal(N)
        cur_base = Signal(range(c.max_groups * N + 1))
        cur_vals = Array(Signal(signed(c.act_width), name=f"cur_val{k}", reset_less=True)
                         for k in range(N))
        low = Signal(N)                       # lowest set bit of cur_mask, one-hot
        idx = Signal(range(N))
        m.d.comb += [
            low.eq(cur_mask & -cur_mask),
            idx.eq(Cat(*(Cat(*(low[k] for k in range(N) if k >> b & 1)).any()
                         for b in range(max(1, (N - 1).bit_length()))))),
        ]
        scanning = Signal()
        bcast = stream.Signature(act_layout(c)).create()
        all_ready = Cat(*(pe.act.ready for pe in pes)).all()
        m.d.comb += [
            bcast.valid.eq(scanning & cur_mask.any()),
            bcast.payload.col.eq(cur_base + idx),
            bcast.payload.value.eq(cur_vals[idx]),
            bcast.ready.eq(all_ready),
        ]
        for pe in pes:
            m.d.comb += [pe.act.payload.eq(bcast.payload), pe.act.valid.eq(bcast.valid & all_ready)]
        fire = bcast.valid & bcast.ready
        rest = cur_mask & (cur_mask - 1)
        take = scanning & nxt_valid & (~cur_mask.any() | (fire & ~rest.any()))
        issue = scanning & (rd_g < cur["groups"]) & (~nxt_valid | take)
        for pe in pes:
            m.d.comb += [pe.src_addr.eq(rd_g), pe.src_en.eq(issue)]
        with m.If(fire):
            m.d.sync += cur_mask.eq(rest)
        with m.If(take):
            m.d.sync += [
                cur_mask.eq(Cat(*((pe.src_data != 0) & (nxt_base + k < cur["cols"])
                                  for k, pe in enumerate(pes)))),
                cur_base.eq(nxt_base),
            ]
            m.d.sync += [cur_vals[k].eq(pe.src_data) for k, pe in enumerate(pes)]
        with m.If(issue):
            m.d.sync += [rd_g.eq(rd_g + 1), rd_base.eq(rd_base + N), nxt_base.eq(rd_base),
                         nxt_valid.eq(1)]
        with m.Elif(take):
            m.d.sync += nxt_valid.eq(0)
        scan_done = (rd_g == cur["groups"]) & ~nxt_valid & ~cur_mask.any()
        all_idle = Cat(*(pe.idle for pe in pes)).all()

        # -- write-back, readout -----------------------------------------------------------
        acc_addr = Signal(range(c.rows_per_pe))
        out_k = Signal(range(N))
        out_i = Signal(range(c.max_rows + 1))
        out_data = Signal(signed(c.acc_bits))
        out_valid = Signal()
        out_ok = Signal()               # rd_data holds the accumulators of group acc_addr
        out_state = Signal()
        cap = Signal()
        m.d.comb += cap.eq(out_state & out_ok & (out_i < cur["rows"]) &
                           (~out_valid | self.out.ready))
        for k, pe in enumerate(pes):
            m.d.comb += pe.clr_en.eq(cap & (out_k == k))
        last_layer = layer + 1 == glob["n_layers"]
        rd_datas = Array(pe.rd_data for pe in pes)
        m.d.comb += [self.out.payload.eq(out_data), self.out.valid.eq(out_valid)]
        for pe in pes:
            m.d.comb += [pe.acc_addr.eq(acc_addr), pe.raw.eq(glob["out_raw"] & last_layer)]

        def reset_scan():
            return [rd_g.eq(0), rd_base.eq(0), nxt_valid.eq(0), cur_mask.eq(0)]

        with m.FSM():
            with m.State("IDLE"):
                with m.If(self.start):
                    m.d.sync += [busy.eq(1), layer.eq(0), src_bank.eq(0), *reset_scan()]
                    m.next = "SCAN"
            with m.State("SCAN"):
                m.d.comb += [scanning.eq(1), run.eq(1)]
                with m.If(scan_done):
                    m.next = "DRAIN"
            with m.State("DRAIN"):
                m.d.comb += run.eq(1)
                with m.If(all_idle):
                    m.d.sync += acc_addr.eq(0)
                    with m.If(last_layer):
                        m.d.sync += [out_k.eq(0), out_i.eq(0), out_ok.eq(0)]
                        m.next = "OUT"
                    with m.Else():
                        m.next = "WB"
            with m.State("WB"):
                for pe in pes:
                    m.d.comb += pe.wb_en.eq(1)
                m.d.sync += acc_addr.eq(acc_addr + 1)
                with m.If(acc_addr + 1 == cur["lrows"]):
                    m.next = "SWAP"
            with m.State("SWAP"):
                # The last write-back lands in this cycle, into the bank that is not src.
                m.d.sync += [src_bank.eq(~src_bank), layer.eq(layer + 1), *reset_scan()]
                m.next = "SCAN"
            with m.State("OUT"):
                # Every PE reads its accumulator acc_addr; the N rows of that group leave one
                # per cycle, each cleared as it is taken, then the next group is read.
                m.d.comb += out_state.eq(1)
                m.d.sync += out_ok.eq(1)
                with m.If(self.out.valid & self.out.ready & ~cap):
                    m.d.sync += out_valid.eq(0)
                with m.If(cap):
                    m.d.sync += [out_data.eq(rd_datas[out_k]), out_valid.eq(1),
                                 out_i.eq(out_i + 1), out_k.eq(out_k + 1)]
                    with m.If(out_k == N - 1):
                        m.d.sync += [acc_addr.eq(acc_addr + 1), out_ok.eq(0)]
                with m.If((out_i == cur["rows"]) & (~out_valid | self.out.ready)):
                    m.next = "DONE"
            with m.State("DONE"):
                m.d.comb += self.done.eq(1)
                m.d.sync += busy.eq(0)
                m.next = "IDLE"

        # -- counters ----------------------------------------------------------------------
        events = {
            "cycles":     busy,
            "compute":    run,
            "broadcasts": fire,
            "stalls":     bcast.valid & ~bcast.ready,
            "entries":    tree_sum(pe.ev_entry for pe in pes),
            "padding":    tree_sum(pe.ev_pad for pe in pes),
            "starved":    tree_sum(pe.ev_starved for pe in pes),
        }
        for name, inc in events.items():
            counter = getattr(self, name)
            m.d.sync += counter.eq(counter + inc)
        m.d.comb += self.stat_busy.eq(Array(pe.busy_count for pe in pes)[self.stat_pe])
        return m
