#!/bin/bash
# The parsers behind the soak's and the demo's verdicts, on recorded consoles and traces
# (scripts/testdata/): lost NVMe commands counted once per loss, a run's trace judged episode by
# episode, the soak table's intervals. Part of make check; seconds.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/boot.sh
. "$here/lib/boot.sh"
data=$here/testdata
passes=0 fails=0
expect() { # NAME WANT GOT
	if [ "$2" = "$3" ]; then
		echo "selftest: ok: $1"
		passes=$((passes + 1))
	else
		echo "selftest: FAIL: $1: want '$2', got '$3'"
		fails=$((fails + 1))
	fi
}

# 6.12 names each use of a tag (cid); tag 5 is lost twice, the reset lines are the same losses.
expect "6.12 console, a tag lost again after a reset" "3 QID 1 2 " \
	"$(boot_nvme_lost "$data/lost-2ep/console.log")"
# 6.1 names only the tag: new again after a reset; an admin command has no abort, only a reset.
expect "6.1 console, tags and the admin queue" "4 QID 0 1 2 " \
	"$(boot_nvme_lost "$data/lost-6.1/console.log")"
expect "no lost command" "0" "$(boot_nvme_lost /dev/null)"

# Each lost command is judged on the events of its own episode, not the first one's.
trace=$(python3 "$here/nvme-trace.py" "$data/lost-2ep")
have() { grep -qF -- "$1" <<<"$trace" && echo yes || echo no; }
expect "trace: episodes pair up" yes \
	"$(have "2 lost-command episode(s) on the console, 2 Abort episode(s)")"
expect "trace: second loss of tag 5 judged after the reset" yes \
	"$(have "the last shadow tail read was 1, and no doorbell")"
expect "trace: a command fetched after the reset, never completed" yes \
	"$(have "fetched at 120.700100, no completion posted")"
expect "trace: the signature count" yes "$(have "lost-doorbell signature: 2 of 3 aborted commands")"

# The trace's reader counts the lost commands as the soak's verdict does.
for run in lost-2ep lost-6.1; do
	want=$(boot_nvme_lost "$data/$run/console.log")
	got=$(python3 "$here/nvme-trace.py" "$data/$run" |
		sed -nE 's/.*: ([0-9]+) lost command\(s\) on the console, QID (.*)/\1 QID \2 /p' || true)
	expect "trace and console count the same in $run" "$want" "$got"
done

# The soak table's statistics against textbook values.
report() { # EXPR: print EXPR evaluated with soak-report.py loaded as r
	python3 -c "import importlib.util as u
s = u.spec_from_file_location('r', '$here/soak-report.py'); r = u.module_from_spec(s)
s.loader.exec_module(r); print($1)"
}
expect "Wilson 95 % interval of 2/10" "0.0567 0.5098" "$(report "'%.4f %.4f' % r.wilson(2, 10)")"
expect "Fisher exact, two-sided, [[1,9],[6,4]]" "0.0573" "$(report "'%.4f' % r.fisher(1, 9, 6, 4)")"

echo "$passes passed, $fails failed"
[ "$fails" = 0 ]
