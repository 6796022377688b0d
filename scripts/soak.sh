#!/bin/bash
# `make soak`: the demo's disk and NIC workloads, verified, repeated on fresh boots of a Xen PV
# dom0 (Debian's stock kernel, QEMU TCG, one thread, 2 vCPUs), arm by arm, counting the runs
# in which the nvme driver lost a command (timed out, aborted, reset the controller), data went
# wrong, or the kernel oopsed or WARNed. Runs of different arms are interleaved, so a slow
# spell of the host falls on every arm alike.
#
#   scripts/soak.sh [ARM...]          (default: flip kernel)
#
# ARM is a mode, optionally with a module variant:
#   force0 | force1   uswiotlb attach=all, force fixed
#   flip              uswiotlb, force toggled at random intervals (0.2-3 s) under load
#   kernel            the kernel's own ops, in-tree xen-swiotlb booted with swiotlb=force: the
#                     same bouncing without uswiotlb, the control
#   kernel0           the kernel's own ops without forced bouncing
#   demo              the whole of `make demo` (scripts/init/demo) instead of the soak's
#                     workload: where the lost commands of issue 12 were first seen
#   MODE@REV          uswiotlb built from git commit REV (to bisect)
#   MODE@REV+rewind   with the pool's cursor rewind (e2aa235) applied to a commit before 925dd97
#                     (main has it again: flip@925dd97 is the tree without it)
#
# Environment:
#   SOAK_RUNS=3       runs per arm        SOAK_MIN=0      start no run after N minutes (0: no bound)
#   SOAK_KVER=6.12    6.12 or 6.1         SOAK_SECS=40    seconds of workload per run
#   SOAK_JOBS=1       QEMUs at once       SOAK_SEED       first seed (default: from the clock)
#   SOAK_NET=1        0: disk only        SOAK_TRACE=0    1: QEMU's NVMe trace events, kept
#   NVME_IO_TIMEOUT=10  nvme's io_timeout                 (gzipped) for runs that lost a
#                                                         command; 2: kept for every run
#   SOAK_REBIND=1     0: the drivers probe once, on the arm's ops (1: first on the kernel's)
#   SOAK_TCG=single   multi: multi-threaded TCG (the guest's barriers become host barriers;
#                     but a static key flipped under load oopses a PV dom0 there: not for flip)
#   SOAK_OUT          results directory (default .results/soak/YYYYmmdd-HHMMSS)
#
# Every run's seed is printed; `SOAK_SEED=N SOAK_RUNS=1 scripts/soak.sh ARM` repeats it (the
# same workload and flip intervals; TCG timing is not reproducible). Writes soak.csv and
# report.txt (a table per arm with a 95 % interval on the stall rate). Exit status: 0 no run
# went wrong; 1 a run crashed, timed out, oopsed, failed a check or lost data; 3 only lost NVMe
# commands (stalls) were seen; 2 setup error.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
here=$top/scripts
# shellcheck source=lib/boot.sh
. "$here/lib/boot.sh"
cache=${USWIOTLB_CACHE:-$HOME/.cache/uswiotlb}
die() { echo "soak: $*" >&2; exit 2; }
rewind=e2aa235eac9878514c56d1d2f9495e890e992b20

runs=${SOAK_RUNS:-3} mins=${SOAK_MIN:-0} kver=${SOAK_KVER:-6.12} secs=${SOAK_SECS:-40}
jobs=${SOAK_JOBS:-1} net=${SOAK_NET:-1} rebind=${SOAK_REBIND:-1} trace=${SOAK_TRACE:-0} iot=${NVME_IO_TIMEOUT:-10}
seed=${SOAK_SEED:-$(($(date +%s) % 100000))}
boot_tcg=${SOAK_TCG:-single}
[[ $boot_tcg =~ ^(single|multi)$ ]] || die "SOAK_TCG is single or multi"
for v in runs mins secs jobs seed iot; do
	[[ ${!v} =~ ^[0-9]+$ ]] || die "$v must be a whole number (is '${!v}')"
done
{ [ "$runs" -ge 1 ] && [ "$jobs" -ge 1 ] && [ "$secs" -ge 5 ] && [ "$iot" -ge 1 ]; } ||
	die "SOAK_RUNS, SOAK_JOBS, NVME_IO_TIMEOUT >= 1 and SOAK_SECS >= 5"
[[ $net =~ ^[01]$ && $rebind =~ ^[01]$ && $trace =~ ^[012]$ ]] ||
	die "SOAK_NET and SOAK_REBIND are 0 or 1, SOAK_TRACE 0, 1 or 2"
case $kver in
6.12 | 6.1) krel=$("$(dirname "$0")/kernels.sh" "$kver") ;;
*) die "SOAK_KVER: 6.12 or 6.1 (is '$kver')" ;;
esac
[ $# -gt 0 ] || set -- flip kernel

# --- arms and their modules ----------------------------------------------------------------
scripts/deps.sh
make -s -C "$top/tools" workload >/dev/null
tools=$top/tools/build/workload
stock=$("$here/stock-kernel.sh" "$krel")
hdr=/usr/src/linux-headers-$krel

# module_for VARIANT: build uswiotlb.ko for VARIANT ("" = the work tree, "@REV", "+rewind",
# "@REV+rewind") against the stock headers; print its path.
module_for() {
	local v=$1 rev="" src key
	case $v in @*) rev=${v#@}; rev=${rev%+rewind} ;; esac
	if [ -z "$v" ]; then
		src=$top key=worktree
	else
		if [ -n "$rev" ]; then
			rev=$(git -C "$top" rev-parse --verify -q "$rev^{commit}") ||
				{ echo "soak: no commit '${v#@}'" >&2; return 1; }
		fi
		key=${rev:-worktree}
		[[ $v != *+rewind ]] || key+=+rewind
		src=$cache/soak/src-$key
		rm -rf "$src"
		mkdir -p "$src"
		if [ -n "$rev" ]; then
			git -C "$top" archive "$rev" Kbuild src kunit bench | tar -x -C "$src"
		else
			cp -r "$top/Kbuild" "$top/src" "$top/kunit" "$top/bench" "$src/"
		fi
		case $v in *+rewind)
			git -C "$top" diff "$rewind^" "$rewind" -- src | (cd "$src" && git apply) ||
				{ echo "soak: the rewind does not apply to $v" >&2; return 1; } ;;
		esac
	fi
	USW_SRC=$src "$here/build-module.sh" "$hdr" "$cache/soak/mod-$krel-$key" >&2 || return 1
	echo "$cache/soak/mod-$krel-$key/src/uswiotlb.ko"
}

stamp=$(date +%Y%m%d-%H%M%S)
res=${SOAK_OUT:-$top/.results/soak/$stamp}
mkdir -p "$res"
res=$(cd "$res" && pwd)
ln -sfn "$res" "$top/.results/soak/latest" 2>/dev/null || true

declare -A img
arms=()
for arm in "$@"; do
	mode=${arm%%[@+]*}
	variant=${arm#"$mode"}
	case $mode in
	force0 | force1 | flip | demo) ;;
	kernel | kernel0) [ -z "$variant" ] || die "$arm: the kernel's arms take no module variant" ;;
	*) die "unknown arm '$arm' (force0 force1 flip kernel kernel0, MODE@REV, MODE+rewind)" ;;
	esac
	[[ $variant =~ ^(@[^@+]+)?(\+rewind)?$ ]] || die "bad module variant in '$arm'"
	[ -z "${img[$arm]:-}" ] || die "arm '$arm' given twice"
	# One initramfs per arm: the module variant is all that differs.
	files=(-f "$tools/usw-blkcheck:/usw/usw-blkcheck" -f "$tools/usw-netcheck:/usw/usw-netcheck"
		-f "$here/init/lib:/usw/lib" -f "$here/init/checks:/usw/checks")
	if [[ $mode != kernel* ]]; then
		ko=$(module_for "$variant") || die "cannot build the module for $arm"
		files+=(-f "$ko:/usw/uswiotlb.ko")
	fi
	boot_stock_drivers "$stock" "$krel" "$res/drivers" || die "no nvme or e1000 module in $stock"
	img[$arm]=$res/initramfs-${arm//[^A-Za-z0-9._+-]/_}.cpio
	init=soak
	[ "$mode" != demo ] || init=demo
	"$here/mkinitramfs.sh" -o "${img[$arm]}" -i "$here/init/$init" "${files[@]}" "${boot_files[@]}"
	arms+=("$arm")
done
kernel=$stock/boot/vmlinuz-$krel

# --- one run ---------------------------------------------------------------------------------
csv=$res/soak.csv
echo "arm,run,seed,kernel,tcg,state,verdict,wall_s,lost_cmds,aborted,polled,resets,qids,mismatches,net_bad,oops,disk_MB,net_MB,flips,bounced,errors,detail" >"$csv"

# demo_line CHANNEL: a demo run's report as the soak's KEY=VALUE line.
demo_line() {
	local ch checks mism errs
	ch=$(boot_clean "$1")
	checks=$(sed -n 's/^@@KTEST checks //p' <<<"$ch")
	[ -n "$checks" ] || return 0
	mism=$(sed -n 's/.*workload mismatches\/lost frames \([0-9]*\).*/\1/p' <<<"$ch")
	errs=$(sed -n 's/.*map_errors \([0-9]*\), misuse \([0-9]*\).*/\1 + \2/p' <<<"$ch")
	echo "status=$([[ $checks == *" 0 failed"* ]] && echo ok || echo FAIL)" \
		"mismatches=${mism:-1} net_bad=0 flips=2 errors=$((${errs:-1})) direct=0" \
		"bounced=$(sed -n 's/.*bounces, whole run: .* force \([0-9]*\),.*/\1/p' <<<"$ch")" \
		"disk_bytes=$(sed -n 's/.*data verified: \([0-9.]*\) MB through.*/\1/p' <<<"$ch" |
		awk '{ printf "%d", $1 * 1e6 }') taint=$(sed -n 's/^@@KTEST taint //p' <<<"$ch")"
}

# run_one ARM N SEED: boot, run, and append the run's CSV row to $res/ARM-N/row.
run_one() {
	local arm=$1 n=$2 sd=$3 mode=${1%%[@+]*} dir kargs ops force=0 fail=() line con
	dir=$res/${arm//[^A-Za-z0-9._+-]/_}-$n
	mkdir -p "$dir"
	: >"$dir/console.log"
	: >"$dir/channel.log"
	truncate -s 256M "$dir/nvme.img"
	ops=ours
	case $mode in
	force1) force=1 ;;
	flip) force=flip ;;
	kernel) ops=kernel ;;
	kernel0) ops=kernel ;;
	esac
	kargs="$boot_kargs SOAK_OPS=$ops SOAK_FORCE=$force SOAK_SECS=$secs SOAK_SEED=$sd"
	kargs+=" SOAK_NET=$net NVME_IO_TIMEOUT=$iot SOAK_REBIND=$rebind"
	[ "$mode" = kernel ] && kargs+=" swiotlb=force"
	[ "$mode" != demo ] || kargs+=" DEMO_BLK_BYTES=48M DEMO_NET_FRAMES=1500"
	boot_demo_devices "$dir/nvme.img"
	if [ "$trace" != 0 ]; then
		boot_nvme_trace "$dir/nvme.trace"
	fi
	boot_qemu_cmd xen "$kernel" "${img[$arm]}" "$kargs" 2G "" "$dir/console.log" \
		"$dir/channel.log" "${boot_devs[@]}" || return 1
	printf '%q ' "${boot_cmd[@]}" >"$dir/qemu-cmdline"
	# Bound: boot, the workload, and three io_timeouts per lost command for a few of them.
	boot_run $((240 + secs * 3 + iot * 12)) "$dir/console.log" "$dir/channel.log" 0 "$dir/qemu.out"
	rm -f "$dir/nvme.img"

	line=$(boot_clean "$dir/channel.log" | sed -n 's/^@@KTEST soak //p' | tail -n 1)
	[ "$mode" != demo ] || line=$(demo_line "$dir/channel.log")
	con=$(boot_clean "$dir/console.log")
	kv() { echo "$line" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
	check_fields() {
		{ [ "$(kv mismatches)" = 0 ] && [ "$(kv net_bad)" = 0 ]; } || fail+=("data")
		[ "$(kv errors)" = 0 ] || fail+=("map errors or misuse")
		boot_taint_ok "$(kv taint)" || fail+=("tainted $(kv taint)")
		# The arm must have done what it says: bounced when forced, direct when not.
		case $mode in
		force1 | flip | kernel | demo) [ "$(kv bounced)" -gt 0 ] || fail+=("nothing bounced") ;;
		force0) { [ "$(kv bounced)" = 0 ] && [ "$(kv direct)" -gt 0 ]; } ||
			fail+=("force=0 bounced") ;;
		esac
		[ "$mode" != flip ] || [ "$(kv flips)" -ge 2 ] || fail+=("fewer than 2 flips")
	}
	local lost aborted polled resets qids oops
	lost=$(boot_nvme_lost "$dir/console.log")
	qids=""
	[ "$lost" = 0 ] || { qids=${lost#* QID }; qids=${qids% }; }
	lost=${lost%% *}
	aborted=$(grep -acE 'nvme nvme[0-9]+: I/O .*timeout, aborting' <<<"$con" || true)
	polled=$(grep -acE 'nvme nvme[0-9]+: I/O .*timeout, completion polled' <<<"$con" || true)
	resets=$(grep -acE 'nvme nvme[0-9]+: .*(reset controller|resetting controller)' <<<"$con" || true)
	oops=$(boot_trouble xen "$dir/console.log")
	case $boot_state in
	finished) ;;
	*) fail+=("$boot_state") ;;
	esac
	if [ -z "$line" ]; then
		fail+=("no soak line")
		line="status=none" # the checks below would only repeat it
	fi
	[ "$(kv status)" = ok ] || [ "$(kv status)" = none ] || fail+=("$(boot_clean \
		"$dir/channel.log" | sed -n 's/^@@KTEST soak-trouble //p; s/^@@KTEST check FAIL //p' |
		tr '\n' ' ')")
	[ -z "$oops" ] || fail+=("$oops")
	[ "$(kv status)" = none ] || check_fields
	if [ "$trace" = 1 ] && [ "$lost" = 0 ]; then rm -f "$dir/nvme.trace"; fi
	[ ! -f "$dir/nvme.trace" ] || gzip -f "$dir/nvme.trace"
	local verdict=ok
	[ "$lost" = 0 ] || verdict=stall
	[ ${#fail[@]} -eq 0 ] || verdict=FAIL
	mb() { awk -v b="${1:-0}" 'BEGIN { printf "%.1f", b / 1e6 }'; }
	local detail
	detail=$(printf '%s; ' "${fail[@]}" | sed 's/; $//; s/[,"]/ /g')
	echo "$arm,$n,$sd,$krel,$boot_tcg,$boot_state,$verdict,$boot_wall,$lost,$aborted,$polled,$resets,${qids% },$(kv mismatches),$(kv net_bad),${oops:+1}${oops:-0},$(mb "$(kv disk_bytes)"),$(mb "$(kv net_bytes)"),$(kv flips),$(kv bounced),$(kv errors),\"$detail\"" >"$dir/row"
	echo "soak: $arm #$n seed=$sd: $verdict (${boot_wall}s, lost commands $lost${qids:+ on QID $qids}, $(kv flips) flips, bounced $(kv bounced))${detail:+: $detail}"
}

# --- the runs, interleaved -------------------------------------------------------------------
echo "soak: $krel, arms: ${arms[*]}; $runs runs each, ${secs}s of workload, TCG $boot_tcg," \
	"seeds from $seed (results: $res)"
t0=$(date +%s)
k=0 started=0
for ((n = 1; n <= runs; n++)); do
	for arm in "${arms[@]}"; do
		if [ "$mins" -gt 0 ] && [ $(($(date +%s) - t0)) -ge $((mins * 60)) ]; then
			echo "soak: ${mins} min bound reached, no more runs started"
			break 2
		fi
		while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
		(run_one "$arm" "$n" $((seed + k * 7))) &
		k=$((k + 1)) started=$((started + 1))
	done
done
wait
rows=0
for row in "$res"/*/row; do
	[ -f "$row" ] || continue
	cat "$row" >>"$csv"
	rows=$((rows + 1))
done
[ "$rows" = "$started" ] || { echo "soak: $started runs started, $rows reported (a runner error)" >&2; exit 1; }

rc=0
python3 "$here/soak-report.py" "$csv" "${arms[@]}" >"$res/report.txt" || rc=$?
cat "$res/report.txt"
exit $rc
