# amaranth: UnusedElaboratable=no
# (the bad-parameter tests build components that are never elaborated)
import pytest

from amaranth import signed

from hw.noc import BeatSerializer, MulticastBus

from .sim import run_sim, seeded_rng, stream_get, stream_put


@pytest.mark.parametrize("idle,stall", [(0.0, 0.0), (0.3, 0.6)], ids=["free", "random"])
@pytest.mark.parametrize("pattern", ["row", "diagonal", "random"])
@pytest.mark.parametrize("depth,row_stage", [(1, False), (2, False), (1, True)],
                         ids=["depth1", "depth2", "row-stage"])
def test_multicast_delivers_to_matching_receivers(request, idle, stall, pattern, depth,
                                                  row_stage):
    seed, rng = seeded_rng(request.node.name)
    rows, cols = 3, 4
    dut = MulticastBus(rows=rows, cols=cols, row_bits=3, col_bits=4, payload=signed(12),
                       depth=depth, row_stage=row_stage)
    en = [[rng.random() < 0.85 for _ in range(cols)] for _ in range(rows)]
    if pattern == "row":          # filter multicast: row ID = array row, one col ID
        row_id = list(range(rows))
        col_id = [[0] * cols for _ in range(rows)]
    elif pattern == "diagonal":   # ifmap multicast: one row ID, col ID = x + y
        row_id = [0] * rows
        col_id = [[x + y for x in range(cols)] for y in range(rows)]
    else:
        row_id = [rng.randrange(4) for _ in range(rows)]
        col_id = [[rng.randrange(6) for _ in range(cols)] for _ in range(rows)]
    # Mostly tags that some receiver holds, so that deliveries and stalls are frequent.
    used = [(row_id[y], col_id[y][x]) for y in range(rows) for x in range(cols)]
    packets = [(*(rng.choice(used) if rng.random() < 0.9 else (rng.randrange(8),
                                                                 rng.randrange(16))),
                rng.randrange(-2048, 2048)) for _ in range(300)]
    expect = {(y, x): [d for r, c, d in packets
                       if en[y][x] and row_id[y] == r and col_id[y][x] == c]
              for y in range(rows) for x in range(cols)}
    assert any(expect.values()), f"seed={seed}: test delivers nothing"
    got = {key: [] for key in expect}
    stalled = 0

    async def watch(ctx):
        nonlocal stalled
        async for _ in ctx.tick():
            stalled += ctx.get(dut.i.valid) and not ctx.get(dut.i.ready)

    async def source(ctx):
        for y in range(rows):
            ctx.set(dut.row_id[y], row_id[y])
            for x in range(cols):
                ctx.set(dut.col_id[y][x], col_id[y][x])
                ctx.set(dut.en[y][x], en[y][x])
        for r, c, d in packets:
            await stream_put(ctx, dut.i, {"row": r, "col": c, "data": d}, rng=rng, idle=idle)

    def sink(y, x):
        async def bench(ctx):
            for _ in expect[y, x]:
                got[y, x].append(await stream_get(ctx, dut.o[y][x], rng=rng, stall=stall))
        return bench

    run_sim(dut, source, *(sink(y, x) for y in range(rows) for x in range(cols)),
            background=[watch])
    assert got == expect, f"seed={seed}"
    if stall:
        assert stalled > 0, f"seed={seed}: backpressure never reached the bus input"
    elif depth == 1:    # a one-packet buffer has room in the cycle it is emptied, so
        # receivers that always take their packet never hold up the bus (nor do row
        # buffers of two, which are read in the cycle after they are written)
        assert stalled == 0, f"seed={seed}: {stalled} stalls with no backpressure"


@pytest.mark.parametrize("beat", [1, 3, 4])
def test_beat_serializer(request, beat):
    seed, rng = seeded_rng(request.node.name)
    dut = BeatSerializer(shape=signed(8), beat=beat)
    beats = []
    for _ in range(60):
        n = rng.randint(1, beat)
        beats.append([rng.randrange(-128, 128) for _ in range(beat)] + [n])
    expect = [v for b in beats for v in b[:b[-1]]]
    got = []

    async def source(ctx):
        for b in beats:
            await stream_put(ctx, dut.i, {"data": b[:-1], "n": b[-1]}, rng=rng, idle=0.3)

    async def sink(ctx):
        for _ in expect:
            got.append(await stream_get(ctx, dut.o, rng=rng, stall=0.3))

    run_sim(dut, source, sink)
    assert got == expect, f"seed={seed}"


def test_bad_parameters():
    with pytest.raises(ValueError, match="rows"):
        MulticastBus(rows=0, cols=1, row_bits=1, col_bits=1, payload=8)
    with pytest.raises(ValueError, match="beat"):
        BeatSerializer(shape=8, beat=0)
