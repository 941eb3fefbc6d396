# amaranth: UnusedElaboratable=no
# (the bad-parameter tests build components that are never elaborated)
import pytest
from amaranth import ResetInserter, Signal

from hw.mac import MAC, acc_width_for, int_bounds

from .sim import run_sim, seeded_rng


@pytest.mark.parametrize("aw,asg,bw,bsg,n,expect", [
    (8, True, 8, True, 1, 16),      # -128 * -128 = 16384 needs the 16th bit
    (8, False, 8, False, 1, 16),
    (8, True, 8, True, 2, 17),      # 2 * 16384 = 32768 does not fit 16 signed bits
    (8, True, 8, True, 3, 17),
    (2, True, 2, True, 1, 4),       # -2 * -2 = 4
    (32, True, 32, True, 1000, 73),
])
def test_acc_width(aw, asg, bw, bsg, n, expect):
    got = acc_width_for(a_width=aw, a_signed=asg, b_width=bw, b_signed=bsg, reduction=n)
    assert got == expect


@pytest.mark.parametrize("kwargs,field", [
    (dict(a_width=1, b_width=8), "a_width"),
    (dict(a_width=8, b_width=33), "b_width"),
    (dict(a_width=8, b_width=8, reduction=4, acc_width=16), "acc_width"),
    (dict(a_width=8, b_width=8, reduction=0), "reduction"),
    (dict(a_width="8", b_width=8), "a_width"),
])
def test_bad_parameters(kwargs, field):
    with pytest.raises(ValueError, match=field):
        MAC(**kwargs)


@pytest.mark.parametrize("product_reg", [False, True])
@pytest.mark.parametrize("zero_gate", [False, True])
@pytest.mark.parametrize("aw,asg,bw,bsg", [(8, True, 8, True), (4, False, 6, True),
                                          (16, True, 3, False), (2, True, 2, True)])
def test_mac_random(request, product_reg, zero_gate, aw, asg, bw, bsg):
    seed, rng = seeded_rng(request.node.name)
    n = 12
    dut = MAC(a_width=aw, a_signed=asg, b_width=bw, b_signed=bsg, reduction=n,
              product_reg=product_reg, zero_gate=zero_gate)
    alo, ahi = int_bounds(aw, asg)
    blo, bhi = int_bounds(bw, bsg)

    # Operands mix extremes, zeros and random values; sums end at random points and
    # whenever one would exceed the configured reduction. `sum` is checked every cycle:
    # the running total of the current sum through the cycle `latency` cycles before.
    steps, expect = [], []
    acc = run_len = macs = gated = 0
    for _ in range(300):
        a = rng.choice([alo, ahi, 0, 0, rng.randint(alo, ahi)])
        b = rng.choice([blo, bhi, rng.randint(blo, bhi)])
        en = rng.random() < 0.8
        if en:
            acc, run_len = acc + a * b, run_len + 1
            gated += zero_gate and a == 0
            macs += not (zero_gate and a == 0)
        last = run_len == n or rng.random() < 0.1
        steps.append((a, b, en, last))
        expect.append(acc)
        if last:
            acc = run_len = 0

    seen = []

    async def drive(ctx):
        for a, b, en, last in steps:
            ctx.set(dut.a, a)
            ctx.set(dut.b, b)
            ctx.set(dut.en, en)
            ctx.set(dut.last, last)
            if dut.latency == 0:
                seen.append(ctx.get(dut.sum))
            await ctx.tick()
            if dut.latency == 1:
                seen.append(ctx.get(dut.sum))
        ctx.set(dut.en, 0)
        ctx.set(dut.last, 0)
        await ctx.tick()
        seen.append((ctx.get(dut.macs), ctx.get(dut.gated)))

    run_sim(dut, drive)
    counts = seen.pop()
    assert seen == expect, f"seed={seed}"
    assert counts == (macs, gated), f"seed={seed}"


@pytest.mark.parametrize("product_reg", [False, True])
def test_reset_mid_sum_starts_clean(product_reg):
    # The accumulator and the product register return to zero on reset, so a sum cut
    # short by a reset leaves nothing of it in the next one.
    mac = MAC(a_width=8, b_width=8, reduction=4, product_reg=product_reg)
    rst = Signal()
    dut = ResetInserter(rst)(mac)
    seen = []

    async def drive(ctx):
        ctx.set(mac.a, 7)
        ctx.set(mac.b, 9)
        ctx.set(mac.en, 1)
        await ctx.tick().repeat(2)
        seen.append(ctx.get(mac.sum))         # the products of the cycles `latency` back
        ctx.set(rst, 1)                       # a product is still taken as reset comes
        await ctx.tick()
        ctx.set(rst, 0)
        ctx.set(mac.a, 3)
        ctx.set(mac.b, -5)
        ctx.set(mac.en, 1)
        ctx.set(mac.last, 1)
        for _ in range(mac.latency):
            await ctx.tick()
        seen.append(ctx.get(mac.sum))

    run_sim(dut, drive)
    assert seen == [63 * (3 - mac.latency), -15]


def test_counters_can_be_left_out():
    # An array counts MACs from each PE's `fire`/`skip` and needs no counters per MAC.
    assert "macs" in MAC(a_width=8, b_width=8).signature.members
    bare = MAC(a_width=8, b_width=8, counter_width=0)
    assert "macs" not in bare.signature.members and "gated" not in bare.signature.members
