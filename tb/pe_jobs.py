"""Random jobs for the 1-D PE and their expected outputs, shared by both test tiers."""

from hw.pe import pe_job

from .golden import conv1d_row

__all__ = ["random_pe_jobs", "pe_job_expect", "pe_job_fits", "pe_job_streams", "skip_entries",
           "SHAPE_KEYS", "CFG_KEYS"]

SHAPE_KEYS = ("s", "f", "u", "p", "q", "psum_en")
# The PE's `cfg` fields: the shape and its products (hw.pe.pe_job).
CFG_KEYS = SHAPE_KEYS + ("n_in", "qs", "qu", "pqs", "nq")


def pe_job_fits(config, job):
    """Whether a job shape obeys the PE's contract for ``config``."""
    s, f, u, p, q = (job[k] for k in ("s", "f", "u", "p", "q"))
    return (1 <= s <= config.max_s and 1 <= u <= config.max_stride
            and 1 <= f <= config.max_f and 1 <= p <= config.psum_spad and q >= 1
            and p * q * s <= config.filter_spad and q * max(s, u) <= config.ifmap_spad)


def pe_job_expect(job):
    """Expected ``psum_out`` values, in ``[f][k]`` order: the golden 1-D convolution of
    each filter's ``q`` rows with the ``q`` input rows, summed over channels, plus
    ``psum_in`` when enabled."""
    p, f = job["p"], job["f"]
    expect = [[0] * p for _ in range(f)]
    for k in range(p):
        for c in range(job["q"]):
            row = conv1d_row(job["act"][c], job["wgt"][k][c], stride=job["u"])
            for i in range(f):
                expect[i][k] += int(row[i])
    flat = [v for pixel in expect for v in pixel]
    if job["psum_en"]:
        flat = [e + x for e, x in zip(flat, job["psum"], strict=True)]
    return flat


def skip_entries(values, beat, sizes=None):
    """What the zero-skip encoder (``hw.skip``) makes of a job's input values sent in beats
    of ``beat`` values (or of the given ``sizes``): an entry per non-zero value with its
    index and how far the input has arrived, the last of each beat reaching the beat's end,
    and a mark (value 0) for a beat without non-zero values."""
    if sizes is None:
        sizes = [min(beat, len(values) - i) for i in range(0, len(values), beat)]
    entries, base = [], 0
    for n in sizes:
        chunk = [{"value": v, "idx": base + j, "upto": base + j + 1}
                 for j, v in enumerate(values[base:base + n]) if v != 0]
        if not chunk:
            chunk = [{"value": 0, "idx": base + n - 1, "upto": base + n}]
        chunk[-1]["upto"] = base + n
        entries += chunk
        base += n
    assert base == len(values), "beat sizes do not add up to the values"
    return entries


def pe_job_streams(job, zero_skip=None):
    """The ``wgt`` and ``act`` stream contents of a job, in the PE's orders; with
    ``zero_skip`` (the beat size) the ``act`` stream holds :func:`skip_entries`."""
    wgt = [job["wgt"][k][c][s] for k in range(job["p"]) for s in range(job["s"])
           for c in range(job["q"])]
    act = [job["act"][c][i] for i in range(len(job["act"][0])) for c in range(job["q"])]
    return wgt, skip_entries(act, zero_skip) if zero_skip else act


def random_pe_jobs(rng, config, count, *, max_q=3, max_p=3, max_f=24, shapes=None,
                   density=None):
    """``count`` random jobs within ``config``, with values biased towards the ends of their
    ranges and towards zero, and random partial sums in. A job is a dict with the ``cfg``
    fields (``CFG_KEYS``: the shape and its products), ``wgt[k][c][s]``,
    ``act[c][i]``, ``psum`` (``[f][k]`` order), ``expect``, and the counts ``macs`` and
    ``zeros`` (multiplies whose activation is zero) and ``empty`` (sums whose window of
    activations is all zero).

    ``shapes``, a list of dicts with the ``cfg`` fields, fixes the shapes (cycled through
    ``count`` jobs) and leaves only the data random. ``density``, if given, is the chance
    of each activation being non-zero (else zeros are one draw in five)."""
    alo, ahi = config.act_range
    wlo, whi = config.wgt_range
    plim = 1 << (config.acc_bits - 3)
    jobs = []
    for i in range(count):
        if shapes:
            shape = dict(shapes[i % len(shapes)])
            if not pe_job_fits(config, shape):
                raise ValueError(f"PE job shape {shape} does not fit the design")
        else:
            s = rng.randint(1, config.max_s)
            u = rng.randint(1, config.max_stride)
            q = rng.randint(1, max(1, min(max_q, config.ifmap_spad // max(s, u))))
            p = rng.randint(1, max(1, min(max_p, config.psum_spad,
                                          config.filter_spad // (q * s))))
            shape = dict(s=s, u=u, q=q, p=p, f=rng.randint(1, min(max_f, config.max_f)),
                         psum_en=rng.random() < 0.5)
        s, u, f, p, q = (shape[k] for k in ("s", "u", "f", "p", "q"))
        n_in = (f - 1) * u + s

        def value(lo, hi):
            return rng.choice([lo, hi, 0, rng.randint(lo, hi), rng.randint(lo, hi)])

        def act_value(lo, hi):
            if density is None:
                return value(lo, hi)
            if rng.random() >= density:
                return 0
            return rng.choice([lo, hi, rng.randint(lo, hi)]) or hi
        job = dict(pe_job(**{k: shape[k] for k in SHAPE_KEYS}),
                   wgt=[[[value(wlo, whi) for _ in range(s)] for _ in range(q)]
                        for _ in range(p)],
                   act=[[act_value(alo, ahi) for _ in range(n_in)] for _ in range(q)],
                   psum=[rng.randint(-plim if config.acc_signed else 0, plim - 1)
                         for _ in range(f * p)] if shape["psum_en"] else [])
        job["expect"] = pe_job_expect(job)
        job["macs"] = f * p * q * s
        job["zeros"] = p * sum(row[i * u + j] == 0 for row in job["act"]
                               for i in range(f) for j in range(s))
        job["empty"] = p * sum(all(row[i * u + j] == 0 for row in job["act"] for j in range(s))
                               for i in range(f))
        jobs.append(job)
    return jobs
