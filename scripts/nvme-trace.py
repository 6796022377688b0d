#!/usr/bin/env python3
"""What QEMU's NVMe model did with the commands a soak run's guest lost.

    nvme-trace.py RUN_DIR     (console.log and nvme.trace[.gz] of one scripts/soak.sh run)

The lost commands are counted from the console as the soak's verdict counts them (once per
loss, again after a reset). For every one the driver aborted ("I/O tag T (CID) QID Q timeout,
aborting"; a command only reset or found by polling has no Abort to judge by): whether the device
ever fetched command CID from SQ Q (pci_nvme_io_cmd) before the Abort (admin opcode 0x8) the
driver sent for it, whether it posted a completion for it, and the last doorbell events of that
queue before the abort: the shadow tails the device read (pci_nvme_shadow_doorbell_sq) and the MMIO doorbells
the guest rang (pci_nvme_mmio_doorbell_sq). A command never fetched, after a last shadow read
that saw no new tail and no MMIO doorbell rung after it, was lost between the guest's shadow
doorbell write and the device: the emulator's side of the queue, not the DMA mapping.

A run can lose commands more than once (after a controller reset the queues start over). The
console's timeouts and the trace's Aborts are each grouped into episodes (no gap over 2 s), the
n-th of one paired with the n-th of the other, and each lost command is judged on the events
between the previous episode's last Abort and its own episode's first.
"""
import gzip
import os
import re
import sys

# 6.12: "I/O tag T (CID) [opcode X (NAME)] QID Q timeout, aborting req_op:..."; 6.1: "I/O T
# [(NAME)] QID Q timeout, ..." (no command id: the tag is its low 12 bits).
LOST = re.compile(r'\[ *([\d.]+)\] nvme nvme\d+: I/O (?:tag (\d+) \(([0-9a-f]{4})\)|(\d+))[^Q]*QID (\d+) '
                  r'timeout, (aborting|completion polled|reset controller|disable controller)')
EV = re.compile(r'^(\d+)@([\d.]+):(pci_nvme_\w+) (.*)$')
GAP = 2.0  # seconds between two episodes of lost commands


def episodes(times):
    """Index of the episode of each of the sorted @times: a new one after a gap over GAP."""
    out, n = [], -1
    for i, t in enumerate(times):
        if i == 0 or t - times[i - 1] > GAP:
            n += 1
        out.append(n)
    return out


def losses(con):
    """(time, tag, cid, qid, how) of each lost command, counted as scripts/lib/boot.sh's
    boot_nvme_lost counts them: once however many timeouts it took (aborting, then reset
    controller), and again when lost again after a reset. 6.12 names each use of a tag by its
    cid; 6.1 only by the tag, so there a tag is new again once the queues restarted (the first
    "aborting" or "completion polled" after a reset). An admin command is only ever reset."""
    lost, seen, epoch, reset = [], set(), 0, False
    for m in LOST.finditer(con):
        tag, how = int(m.group(2) or m.group(4)), m.group(6)
        cid = int(m.group(3), 16) if m.group(3) else None
        if how in ('reset controller', 'disable controller'):
            reset = True
        elif reset:
            epoch, reset = epoch + 1, False
        key = (tag, cid, m.group(5), epoch if cid is None else None)
        if key not in seen:
            seen.add(key)
            lost.append((float(m.group(1)), tag, cid, m.group(5), how))
    return lost


def main(run):
    con = open(os.path.join(run, 'console.log'), errors='replace').read()
    lost = losses(con)
    print('%s: %d lost command(s) on the console, QID %s' % (
        run, len(lost), ' '.join(sorted({q for *_, q, _ in lost}, key=int)) or '-'))
    if not lost:
        return 0
    path = os.path.join(run, 'nvme.trace')
    opener = open
    if not os.path.exists(path):
        path += '.gz'
        opener = gzip.open
    if not os.path.exists(path):
        print('%s: no nvme.trace (run with SOAK_TRACE=1)' % run)
        return 1
    events = []
    with opener(path, 'rt', errors='replace') as f:
        for line in f:
            m = EV.match(line.strip())
            if m:
                events.append((float(m.group(2)), int(m.group(1)), m.group(3), m.group(4)))
    aborts = [i for i, e in enumerate(events)
              if e[2] == 'pci_nvme_admin_cmd' and 'opc 0x8 ' in e[3] + ' ']
    ab_ep = episodes([events[i][0] for i in aborts])
    # Only an aborted command has an Abort in the trace to be judged against.
    unjudged = [x for x in lost if x[4] != 'aborting']
    lost = [x for x in lost if x[4] == 'aborting']
    for _, tag, cid, qid, how in unjudged:
        print('  tag %d QID %s (%s): no Abort was sent for it, not judged' % (tag, qid, how))
    if not lost:
        return 0
    lost_ep = episodes([t for t, *_ in lost])
    # Episode n of the trace: from the last Abort of episode n-1 to the first of episode n.
    first, last = {}, {}
    for i, n in zip(aborts, ab_ep):
        first.setdefault(n, i)
        last[n] = i
    bounds = [(last[n - 1] if n else 0, first[n]) for n in range(len(first))]
    paired = len(bounds) == max(lost_ep) + 1
    print('%s: %d trace events, %d lost-command episode(s) on the console, %d Abort episode(s)'
          ' in the trace' % (run, len(events), max(lost_ep) + 1, len(bounds)))
    if not paired:
        print('  (episodes do not pair up: each command is judged against the first Abort)')
    matched = 0
    for (_, tag, cid, qid, how), ep in zip(lost, lost_ep):
        lo, hi = bounds[ep] if paired else bounds[0] if bounds else (0, len(events))
        before = events[lo:hi]
        t_abort = events[hi][0] if hi < len(events) else None

        def ours(e):
            m = re.search(r'\bcid (\d+)\b', e[3])
            return m and (int(m.group(1)) == cid if cid is not None
                          else int(m.group(1)) & 0xfff == tag)
        fetched = [e for e in before if e[2] == 'pci_nvme_io_cmd' and ours(e)
                   and re.search(r'\bsqid %s\b' % qid, e[3])]
        done = [e for e in before if e[2] == 'pci_nvme_enqueue_req_completion' and ours(e)]
        last_fetch = fetched[-1][0] if fetched else None
        completed_after = [e for e in done if last_fetch is not None and e[0] >= last_fetch]
        name = 'cid %d (0x%04x)' % (cid, cid) if cid is not None else 'cid 0x?%03x' % tag
        print('\nlost (episode %d): tag %d, %s, QID %s (%s)' % (ep + 1, tag, name, qid, how))
        if not fetched:
            print('  never fetched by the device (no pci_nvme_io_cmd of %s on sqid %s)' % (name, qid))
        elif completed_after:
            print('  last fetched at %.6f and completed at %.6f: an earlier use of the same cid;'
                  ' this one was not fetched' % (last_fetch, completed_after[-1][0]))
        else:
            print('  fetched at %.6f, no completion posted' % last_fetch)
        q = [e for e in before if re.search(r'\bsqid %s\b|\bcqid %s\b' % (qid, qid), e[3])]
        print('  last events of queue %s before the abort (thread@time event args):' % qid)
        for e in q[-10:]:
            print('    %d@%.6f %s %s' % (e[1], e[0], e[2], e[3]))
        if t_abort:
            quiet = t_abort - q[-1][0] if q else float('nan')
            print('  queue %s quiet for %.1f s before the abort' % (qid, quiet))
        # The lost-doorbell signature: never fetched, and after the device's last read of the
        # shadow tail no MMIO doorbell of this queue reached it.
        shadow = [i for i, e in enumerate(q) if e[2] == 'pci_nvme_shadow_doorbell_sq']
        rung = shadow and any(e[2] == 'pci_nvme_mmio_doorbell_sq' for e in q[shadow[-1]:])
        if (not fetched or completed_after) and shadow and not rung:
            tail = q[shadow[-1]][3].split()[-1]
            print('  signature: not fetched; the last shadow tail read was %s, and no doorbell'
                  ' followed' % tail)
            matched += 1
    print('\nlost-doorbell signature: %d of %d aborted commands' % (matched, len(lost)))
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1]))
