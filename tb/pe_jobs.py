"""Random jobs for the 1-D PE and their expected outputs, shared by both test tiers."""

from .golden import conv1d_row

__all__ = ["random_pe_jobs", "pe_job_expect"]


def pe_job_expect(job):
    """Expected ``psum_out`` values of a job: the golden 1-D convolution, summed over the
    job's ``q`` rows, plus ``psum_in`` when enabled."""
    expect = [0] * job["f"]
    for wrow, arow in zip(job["wgt"], job["act"], strict=True):
        for i, v in enumerate(conv1d_row(arow, wrow, stride=job["u"])):
            expect[i] += int(v)
    if job["psum_en"]:
        expect = [e + p for e, p in zip(expect, job["psum"], strict=True)]
    return expect


def random_pe_jobs(rng, config, count, *, max_q=3, shapes=None):
    """``count`` random jobs within ``config``: shapes, values biased towards the ends of
    their ranges and towards zero, and random partial sums in. Each job is a dict with the
    ``cfg`` fields (``s``, ``f``, ``u``, ``q``, ``psum_en``), the stream contents
    (``wgt``, ``act``, ``psum``), ``expect``, and the counts ``macs`` and ``zeros``
    (multiplies whose activation is zero).

    ``shapes``, a list of dicts with the ``cfg`` fields, fixes the shapes (cycled through
    ``count`` jobs) and leaves only the data random."""
    alo, ahi = config.act_range
    wlo, whi = config.wgt_range
    plim = 1 << (config.acc_bits - 3)
    jobs = []
    for i in range(count):
        if shapes:
            shape = shapes[i % len(shapes)]
            s, u, f, q, psum_en = (shape[k] for k in ("s", "u", "f", "q", "psum_en"))
            if not (1 <= s <= config.max_s and 1 <= u <= config.max_stride
                    and 1 <= f <= config.psum_spad and 1 <= q and q * s <= config.filter_spad):
                raise ValueError(f"PE job shape {shape} does not fit the design")
        else:
            s = rng.randint(1, config.max_s)
            u = rng.randint(1, config.max_stride)
            f = rng.randint(1, config.psum_spad)
            q = rng.randint(1, min(max_q, config.filter_spad // s))
            psum_en = rng.random() < 0.5
        n_in = (f - 1) * u + s

        def value(lo, hi):
            return rng.choice([lo, hi, 0, rng.randint(lo, hi), rng.randint(lo, hi)])
        job = dict(s=s, u=u, f=f, q=q, psum_en=psum_en,
                   wgt=[[value(wlo, whi) for _ in range(s)] for _ in range(q)],
                   act=[[value(alo, ahi) for _ in range(n_in)] for _ in range(q)],
                   psum=[rng.randint(-plim if config.acc_signed else 0, plim - 1)
                         for _ in range(f)] if psum_en else [])
        job["expect"] = pe_job_expect(job)
        job["macs"] = q * f * s
        job["zeros"] = sum(row[i * u + j] == 0 for row in job["act"]
                           for i in range(f) for j in range(s))
        jobs.append(job)
    return jobs
