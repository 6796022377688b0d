#!/usr/bin/env python3
"""The table `make soak` prints: per arm, runs, stalls (runs that lost an NVMe command) with a
95 % Wilson interval on the stall rate, data mismatches, oopses, failed runs, data verified,
force flips and boot-to-verdict time; and, for every uswiotlb arm, a two-sided Fisher exact test of the stall rates against the control (the kernel arm).

    soak-report.py SOAK.CSV [ARM...]    (arms in the order given; default: as in the CSV)

Exit status: 1 if a run failed (crash, timeout, oops, bad data, a check), else 3 if a run
stalled, else 0.
"""
import csv
import math
import sys


def wilson(k, n, z=1.96):
    """95 % Wilson score interval of a proportion k/n."""
    if n == 0:
        return (0.0, 1.0)
    p = k / n
    d = 1 + z * z / n
    c = (p + z * z / (2 * n)) / d
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / d
    return (max(0.0, c - h), min(1.0, c + h))


def fisher(a, b, c, d):
    """Two-sided Fisher exact p for the table [[a, b], [c, d]]."""
    n1, n2, k = a + b, c + d, a + c

    def prob(x):
        return math.comb(n1, x) * math.comb(n2, k - x) / math.comb(n1 + n2, k)

    p0 = prob(a)
    lo, hi = max(0, k - n2), min(k, n1)
    return min(1.0, sum(prob(x) for x in range(lo, hi + 1) if prob(x) <= p0 * (1 + 1e-9)))


def main():
    rows = list(csv.DictReader(open(sys.argv[1])))
    arms = sys.argv[2:] or list(dict.fromkeys(r["arm"] for r in rows))
    out = []
    w = max([len(a) for a in arms] + [3])
    out.append(f"{'arm':<{w}}  runs  stalls  rate 95% CI      lost cmds (abort/polled)  resets"
               "  mismatch  oops  failed   GB  flips  wall s")
    stats = {}
    for arm in arms:
        rs = [r for r in rows if r["arm"] == arm]
        n = len(rs)
        st = sum(1 for r in rs if int(r["lost_cmds"] or 0) > 0)
        lo, hi = wilson(st, n)
        num = lambda k: sum(int(r[k] or 0) for r in rs)
        flt = lambda k: sum(float(r[k] or 0) for r in rs)
        gb = (flt("disk_MB") + flt("net_MB")) / 1000
        walls = [float(r["wall_s"]) for r in rs if r["wall_s"]]
        wall = f"{sum(walls) / len(walls):.0f}" if walls else "-"
        stats[arm] = (st, n)
        out.append(f"{arm:<{w}}  {n:>4}  {st:>6}  {lo:4.2f}-{hi:4.2f}       "
                   f"{num('lost_cmds'):>5} ({num('aborted')}/{num('polled')})"
                   f"{'':<13}{num('resets'):>3}  {num('mismatches') + num('net_bad'):>8}"
                   f"  {sum(1 for r in rs if r['oops'] != '0'):>4}"
                   f"  {sum(1 for r in rs if r['verdict'] == 'FAIL'):>6}"
                   f"  {gb:5.2f}  {num('flips'):>5}  {wall:>6}")
    # The control is the kernel's own ops with the same bouncing; without it, any kernel arm.
    controls = [a for a in arms if a == "kernel"] or [a for a in arms if a.startswith("kernel")]
    for c in controls[:1]:
        for arm in arms:
            if arm.startswith("kernel"):
                continue
            (s1, n1), (s2, n2) = stats[arm], stats[c]
            if n1 and n2:
                p = fisher(s1, n1 - s1, s2, n2 - s2)
                out.append(f"stall rate {arm} {s1}/{n1} vs {c} {s2}/{n2}: Fisher exact p = {p:.3f}")
    for r in rows:
        if r["verdict"] != "ok":
            out.append(f"  {r['arm']} #{r['run']} seed={r['seed']}: {r['verdict']}"
                       f" lost={r['lost_cmds']} QID {r['qids'] or '-'} {r['detail']}")
    nfail = sum(1 for r in rows if r["verdict"] == "FAIL")
    nstall = sum(1 for r in rows if r["verdict"] == "stall")
    # Stalled runs verified their data too: they count as passed, and are named.
    out.append(f"{len(rows) - nfail} passed, {nfail} failed ({nstall} stalled)")
    print("\n".join(out))
    if nfail:
        return 1
    return 3 if any(r["verdict"] == "stall" for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
