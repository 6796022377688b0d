#!/bin/bash
# Boot the test kernel under QEMU (TCG), alone or as a Xen dom0 (PV on x86_64, auto-translated on
# arm64), load KUnit test modules and report their results.
#
#   scripts/run-kunit.sh --mode qemu|xen --kdir KDIR [OPTIONS] -- MOD1.ko [ARGS...] [-- MOD2.ko ...]
#
#   --arch ARCH        x86_64 (default) or arm64 (QEMU virt board; KDIR, modules built for it)
#   --dom0 TYPE        xen mode on x86_64: pv (default) or pvh (auto-translated, one vCPU; q35
#                      with an AMD IOMMU that Xen keeps, HAP on nested paging: lib/boot.sh)
#   --domu TYPE        xen mode on x86_64 with a PV dom0: the suites run, on the test kernel,
#                      in a domU of TYPE (pv or pvh) that dom0 (Debian's stock 6.12: the test
#                      kernel has no AF_UNIX for xenstored) starts with Debian's toolstack
#                      (scripts/init/kunit-domu); no --probe or --faults there
#   --timeout S        bound on the whole boot (default 300)
#   --name LABEL       log directory name (default: the mode, MODE-arm64 on arm64, xen-pvh)
#   --results DIR      where LABEL/ goes (default $PWD/.results)
#   --filter GLOB      kunit.filter_glob (SUITE[.TEST]); only matching suites are expected
#   --append ARGS      extra kernel (dom0) command line
#   --xen-append ARGS  extra Xen command line, e.g. dom0_mem=1536M,max:1536M (last one wins)
#   --mem SIZE         QEMU memory (default 1G; xen mode: dom0 gets 768M, 512M on arm64)
#   --qemu-args ARGS   extra QEMU arguments, split on blanks (e.g. machine and devices)
#   --no-rmmod         leave the modules loaded (default: rmmod in reverse order at the end)
#   --probe            give QEMU a disk (NVMe on x86_64, virtio-blk on arm64) and run
#                      scripts/init/probe once the modules are loaded: its driver unbound,
#                      attached to uswiotlb, probed again and used at force=1
#   --faults           with --probe's disk, run scripts/init/faults before the modules load:
#                      injected failures (needs a kernel with fault injection)
#   --kmemleak         fail on any leak kmemleak finds since the first insmod (loaded and
#                      after rmmod); the kernel must have kmemleak
#   --expect REGEX     the console must match REGEX (repeatable): proof a checker was on
#   --skips RUN        the skip budget: a case may skip only if kunit/skips lists it for RUN
#   --channel console  results framed on the console instead of the side channel (fallback)
#   -v, --verbose      stream the console to stderr
#
# The guest's /init (scripts/init/init) loads the modules in order (KUnit runs a module's suites
# during insmod), sends each suite's /sys/kernel/debug/kunit/<suite>/results on a side channel
# (x86_64: the second serial port, ttyS1, in both modes; arm64: a virtio console, hvc0, or hvc1
# under Xen) between "@@KTEST" markers, ends with "@@KTEST end" and powers off. The host parses
# each suite with kunit.py and prints a final "N passed, N failed[, N skipped]" line. Exit
# status: 0 all passed, 1 any failure (failed or crashed case, missing suite, insmod/rmmod
# failure, oops/WARN/panic, timeout, not a Xen dom0 of the expected type in xen mode), 2 usage
# or setup error.
#
# Logs go to RESULTS/LABEL/ (default $PWD/.results/<label>): console.log, channel.log (raw side
# channel), suites/<suite>.ktap and .txt (kunit.py output), summary.txt.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/boot.sh
. "$here/lib/boot.sh"

usage() { sed -n '/^#   scripts/,/^#   -v/s/^# \{0,3\}//p' "$0" >&2; exit 2; }
die() { echo "run-kunit: $*" >&2; exit 2; }

mode="" kdir="" tmo=300 name="" results=$PWD/.results filter="" append="" rmmod=1
qemu_extra=() probe=0 faults=0 kmemleak=0 expects=() skips=""
channel=serial verbose=0 xen_append="" mem=1G domu=""
while [ $# -gt 0 ]; do
	case $1 in
	--arch) boot_arch=${2-}; shift 2 ;;
	--dom0) boot_dom0=${2-}; shift 2 ;;
	--domu) domu=${2-}; shift 2 ;;
	--mode) mode=${2-}; shift 2 ;;
	--kdir) kdir=${2-}; shift 2 ;;
	--timeout) tmo=${2-}; shift 2 ;;
	--name) name=${2-}; shift 2 ;;
	--results) results=${2-}; shift 2 ;;
	--filter) filter=${2-}; shift 2 ;;
	--append) append=${2-}; shift 2 ;;
	--xen-append) xen_append=${2-}; shift 2 ;;
	--qemu-args) read -r -a qemu_extra <<<"${2-}"; shift 2 ;;
	--mem) mem=${2-}; shift 2 ;;
	--no-rmmod) rmmod=0; shift ;;
	--probe) probe=1; shift ;;
	--faults) faults=1; shift ;;
	--kmemleak) kmemleak=1; shift ;;
	--expect) expects+=("${2-}"); shift 2 ;;
	--skips) skips=${2-}; shift 2 ;;
	--channel) channel=${2-}; shift 2 ;;
	-v | --verbose) verbose=1; shift ;;
	--) break ;;
	-h | --help) usage ;;
	*) echo "run-kunit: unknown argument '$1'" >&2; usage ;;
	esac
done
[ "$mode" = qemu ] || [ "$mode" = xen ] || usage
[ -n "$kdir" ] || usage
[ "$channel" = serial ] || [ "$channel" = console ] || usage
boot_check_arch || usage
[ "$mode" = xen ] || [ "$boot_dom0" = pv ] || die "--dom0 is for xen mode"
if [ -n "$domu" ]; then
	[[ $domu =~ ^(pv|pvh)$ ]] || die "--domu is pv or pvh"
	[ "$mode/$boot_arch/$boot_dom0" = xen/x86_64/pv ] || die "--domu needs a PV dom0 on x86_64"
	[ "$probe$faults" = 00 ] || die "--domu has no disk: no --probe or --faults"
	[ "$channel" = serial ] || die "--domu reports on the side channel"
fi
[[ $tmo =~ ^[0-9]+$ ]] || die "--timeout wants whole seconds"
[ $# -ge 2 ] || die "no modules given (-- MOD.ko [ARGS...])"
kimage=$(boot_kernel_image "$kdir")
[ -f "$kimage" ] || die "no kernel image at $kimage"
[ "$boot_arch" = x86_64 ] || [ -n "$name" ] || name=$mode-$boot_arch
[ "$boot_dom0" = pv ] || [ -n "$name" ] || name=$mode-$boot_dom0
[ -z "$domu" ] || [ -n "$name" ] || name=$mode-domu-$domu
name=${name:-$mode}
[[ $name =~ ^[A-Za-z0-9_+-][A-Za-z0-9._+-]*$ ]] || die "--name must be a plain file name"
ksrc=$("$here/kernel-source.sh")
kunit_py=$ksrc/tools/testing/kunit/kunit.py

out=$results/$name
rm -rf "$out"
mkdir -p "$out/suites"
out=$(cd "$out" && pwd)
console=$out/console.log
chan=$out/channel.log
: >"$console"
: >"$chan"

# Suites each module registers, read from its .kunit_test_suites/.kunit_init_test_suites
# relocations (struct kunit_suite starts with char name[256]). A suite that never reports is
# then counted as failed instead of silently vanishing.
suites_of() {
	python3 - "$1" <<'EOF'
import struct, sys
d = open(sys.argv[1], 'rb').read()
if d[:4] != b'\x7fELF' or d[4] != 2 or d[5] != 1:
    sys.exit(0)  # only ELF64 little-endian is understood; no expectations then
shoff, = struct.unpack_from('<Q', d, 0x28)
shentsize, shnum, shstrndx = struct.unpack_from('<HHH', d, 0x3a)
secs = [struct.unpack_from('<IIQQQQIIQQ', d, shoff + i * shentsize) for i in range(shnum)]
cstr = lambda p: d[p:d.index(b'\0', p)].decode(errors='replace')
names = [cstr(secs[shstrndx][4] + s[0]) for s in secs]
for s in secs:
    if s[1] != 4 or names[s[7]] not in ('.kunit_test_suites', '.kunit_init_test_suites'):
        continue  # want SHT_RELA applying to a suite-pointer array
    symtab = secs[s[6]]
    for off in range(s[4], s[4] + s[5], 24):
        _, info, addend = struct.unpack_from('<QQq', d, off)
        _, _, _, shndx, value, _ = struct.unpack_from('<IBBHQQ', d, symtab[4] + (info >> 32) * 24)
        print(cstr(secs[shndx][4] + value + addend))
EOF
}

# Split the "-- MOD.ko ARGS..." groups once, to learn each module's suites.
declare -a mod_names=() expected=()
declare -A suite_mod=()
set_args=("$@")
while [ $# -gt 0 ]; do
	[ "$1" = -- ] || usage
	shift
	[ $# -gt 0 ] && [ "$1" != -- ] || die "empty module group after --"
	ko=$1
	[ -f "$ko" ] || die "no such module: $ko"
	m=$(modinfo -F name "$ko" 2>/dev/null || true)
	[ -n "$m" ] || { m=$(basename "$ko" .ko); m=${m//-/_}; }
	mod_names+=("$m")
	while read -r s; do
		[ -n "$s" ] || continue
		# kunit.filter_glob is SUITE[.TEST]: only suites matching it are expected to run.
		# shellcheck disable=SC2053
		[ -z "$filter" ] || [[ $s == ${filter%%.*} ]] || continue
		expected+=("$s")
		suite_mod[$s]=$m
	done < <(suites_of "$ko")
	shift
	while [ $# -gt 0 ] && [ "$1" != -- ]; do shift; done
done
set -- "${set_args[@]}"

initrd=$out/initramfs.cpio
busybox=$(boot_busybox) || die "no static busybox for $boot_arch"
extra_files=()
[ "$probe" = 0 ] || extra_files+=(-f "$here/init/probe:/probe")
[ "$faults" = 0 ] || extra_files+=(-f "$here/init/faults:/faults")
if [ "$probe" = 1 ] || [ "$faults" = 1 ]; then
	disk=$out/probe-disk.img
	truncate -s 16M "$disk"
	qemu_extra+=(-drive "file=$disk,if=none,id=usw-probe,format=raw")
	# Outside Xen, virtio uses the DMA API only with VIRTIO_F_ACCESS_PLATFORM, a feature
	# bit that only the modern virtio-mmio transport can offer (the virt board's is legacy).
	case $boot_arch in
	x86_64) qemu_extra+=(-device "nvme,serial=uswprobe,drive=usw-probe") ;;
	arm64) qemu_extra+=(-global virtio-mmio.force-legacy=false
		-device "virtio-blk-device,drive=usw-probe,iommu_platform=on") ;;
	esac
fi
BUSYBOX=$busybox "$here/mkinitramfs.sh" -o "$initrd" "${extra_files[@]}" "$@" ||
	die "cannot build the initramfs"

kargs="$boot_kargs kunit.enable=1"
[ "$kmemleak" = 0 ] || kargs+=" ktest.kmemleak=1"
if [ -n "$domu" ]; then
	kargs+=" ktest.result=console" # the domU's console, which dom0 relays
else
	kargs+=" ktest.result=$([ "$channel" = serial ] && boot_result_dev "$mode" || echo console)"
fi
[ "$rmmod" = 1 ] || kargs+=" ktest.rmmod=0"
[ -z "$filter" ] || kargs+=" kunit.filter_glob=$filter"
[ -z "$append" ] || kargs+=" $append"
expect_hv=$(boot_dom0_type) dom0_image=$kimage
if [ -n "$domu" ]; then
	# What was built is the domU's initramfs; dom0 (stock) gets it, the test kernel and the
	# toolstack.
	mv "$initrd" "$out/domu.cpio"
	echo "$kargs" >"$out/domu-cmdline"
	boot_files=()
	dom0_krel=$("$here/kernels.sh" 6.12)
	stock=$("$here/stock-kernel.sh" "$dom0_krel")
	dom0_image=$stock/boot/vmlinuz-$dom0_krel
	boot_stock_group "$stock" "$dom0_krel" "$out/drivers" xen xen-evtchn xenfs xen-privcmd \
		xen-gntdev xen-gntalloc || die "no Xen drivers in $stock"
	boot_xen_tools "$("$here/xen-tools.sh")" || die "no Xen toolstack"
	BUSYBOX=$busybox "$here/mkinitramfs.sh" -o "$initrd" -i "$here/init/kunit-domu" \
		"${boot_files[@]}" -f "$here/init/toolstack:/usw/toolstack" \
		-f "$kimage:/usw/domu-vmlinuz" -f "$out/domu.cpio:/usw/domu-initrd" \
		-f "$out/domu-cmdline:/usw/domu-cmdline" || die "cannot build dom0's initramfs"
	kargs="$boot_kargs DOMU_TYPE=$domu DOMU_SECS=$((tmo > 180 ? tmo - 120 : 60))"
	[ "$domu" = pv ] || boot_hap=1
	expect_hv="type=xen guest_type=${domu^^}"
	[ "$mem" != 1G ] || mem=2G
fi

boot_qemu_cmd "$mode" "$dom0_image" "$initrd" "$kargs" "$mem" "$xen_append" "$console" "$chan" \
	"${qemu_extra[@]}" ||
	die "cannot set up the QEMU command line"
if [ "$boot_arch/$mode" = arm64/qemu ]; then
	boot_restricted_pool "$out/virt.dtb" || die "cannot add a restricted DMA pool to the DTB"
fi
printf '%q ' "${boot_cmd[@]}" >"$out/qemu-cmdline"
echo >>"$out/qemu-cmdline"

echo "run-kunit: $mode ($boot_arch): ${mod_names[*]} (logs: $out)"
chan_file=$chan
[ "$channel" = serial ] || chan_file=$console
boot_run "$tmo" "$console" "$chan_file" "$verbose" "$out/qemu.out"
state=$boot_state qrc=$boot_qrc wall=$boot_wall

# --- Verdict -------------------------------------------------------------------------------
fail=()
stream=$out/stream.log
# In console mode keep only the framed part; Xen's own lines are dropped in both modes.
boot_clean "$chan_file" | sed -n '/^@@KTEST begin/,/^@@KTEST end/p' >"$stream"

case $state in
timeout) fail+=("timeout after ${tmo}s (no end marker)") ;;
crashed) fail+=("guest crashed (panic seen on the console)") ;;
running) fail+=("QEMU exited (rc=$qrc) without the end marker") ;;
esac

grep -q '^@@KTEST begin' "$stream" ||
	fail+=("init never reported (no begin marker on the side channel)")
hv=$(sed -n 's/^@@KTEST hypervisor //p' "$stream")
[ -z "$hv" ] || echo "run-kunit: hypervisor: $hv"
if [ "$mode" = xen ] && [ "$hv" != "$expect_hv" ]; then
	fail+=("the suites' domain is not a '$expect_hv' Xen domain (${hv:-no report})")
fi

# Split the stream into one KTAP document per suite.
awk -v dir="$out/suites" '
	/^@@KTEST suite-begin / { f = dir "/" $3 ".ktap"; next }
	/^@@KTEST suite-end / { close(f); f = ""; next }
	f != "" { print > f }' "$stream"

while read -r _ what m rest; do
	case $what in
	insmod-ok) echo "run-kunit: insmod $m: ok" ;;
	insmod-fail) echo "run-kunit: insmod $m: FAIL $rest"; fail+=("insmod $m failed: $rest") ;;
	rmmod-fail) echo "run-kunit: rmmod $m: FAIL $rest"; fail+=("rmmod $m failed: $rest") ;;
	taint) boot_taint_ok "$m" || fail+=("kernel tainted ($m)") ;;
	note) echo "run-kunit: note: $m $rest" ;;
	esac
done < <(grep '^@@KTEST ' "$stream")

# For a suite that crashed mid-run nothing reached debugfs -> side channel, but KUnit also
# printed its progress to the console: recover that, so the cases that passed before the crash
# count and kunit.py reports the unfinished one as crashed.
recover_from_console() { # SUITE FILE
	boot_clean "$console" | sed -E 's/^\[ *[0-9]+\.[0-9]+\] ?//' | awk -v s="$1" '
		!on && $0 ~ "^ *# Subtest: " s "$" { on = 1; print "KTAP version 1"; print "1..1"
			ind = $0; sub(/#.*/, "", ind); print ind "KTAP version 1" }
		on { print }
		on && $0 ~ "^(not )?ok [0-9]+ " s "$" { exit }' >"$2"
	[ -s "$2" ]
}

passed=0 failed=0 skipped=0 found=0
declare -A reported=()
order=() # suites in the order they ran
while read -r s; do
	reported[$s]=1
	order+=("$s")
done < <(sed -n 's/^@@KTEST suite-begin //p' "$stream")
for s in "${expected[@]}"; do
	[ -n "${reported[$s]:-}" ] && continue
	if recover_from_console "$s" "$out/suites/$s.ktap"; then
		echo "run-kunit: suite $s: no debugfs result, using its console output"
		reported[$s]=1
		order+=("$s")
	else
		rm -f "$out/suites/$s.ktap"
		echo "run-kunit: suite $s (module ${suite_mod[$s]}): MISSING, counted as 1 failed"
		failed=$((failed + 1))
		fail+=("suite $s missing")
	fi
done

for s in "${order[@]}"; do
	f=$out/suites/$s.ktap
	found=$((found + 1))
	krc=0
	python3 "$kunit_py" parse "$f" >"${f%.ktap}.txt" 2>&1 || krc=$?
	sed 's/^/  /' "${f%.ktap}.txt"
	line=$(grep -o 'Ran [0-9]* tests:.*' "${f%.ktap}.txt" | tail -1 || true)
	count() { echo "$line" | grep -o "$1: [0-9]*" | grep -o '[0-9]*$' || echo 0; }
	p=$(count passed) fl=$(count failed) c=$(count crashed) sk=$(count skipped)
	fl=$((fl + c))
	# kunit.py failing with no failed case means e.g. no tests or unparsable KTAP, or a suite
	# whose cases all skipped (kunit.py parse exits 1 for that too; no failure here).
	if [ "$krc" != 0 ] && [ "$fl" = 0 ] &&
		! { [ "$p" = 0 ] && [ "$sk" -gt 0 ] && [ "$(count errors)" = 0 ]; }; then
		fl=1
	fi
	passed=$((passed + p)) failed=$((failed + fl)) skipped=$((skipped + sk))
	if [ "$fl" -gt 0 ]; then
		echo "run-kunit: suite $s: FAIL ($p passed, $fl failed, $sk skipped)"
		fail+=("suite $s failed")
	else
		echo "run-kunit: suite $s: ok ($p passed, $sk skipped)"
	fi
done
[ "$found" -gt 0 ] || fail+=("no suite results found")

# The skip budget: a case skipping where kunit/skips does not allow it for this run is a case
# that did not test what it exists for.
if [ -n "$skips" ]; then
	mapfile -t allowed < <(awk -v r="$skips" '$1 == r { print $2 }' "$here/../kunit/skips")
	[ ${#allowed[@]} -gt 0 ] || fail+=("kunit/skips has no budget for run '$skips'")
	while read -r cname reason; do
		ok=0
		for a in "${allowed[@]}"; do
			# shellcheck disable=SC2053 # budget entries are globs
			[[ $cname == $a ]] && ok=1
		done
		[ "$ok" = 1 ] || fail+=("$cname skipped ($reason), not in the skip budget of '$skips'")
	done < <(sed -nE 's/^[[:space:]]+ok [0-9]+ ([A-Za-z0-9_]+) # SKIP ?(.*)$/\1 \2/p' \
		"$out"/suites/*.ktap 2>/dev/null)
fi

# The scenarios: each step a case; what the probe wrote must be on the disk image.
[ "$faults" = 0 ] || grep -q '^@@KTEST faults-end' "$stream" ||
	fail+=("faults scenario did not finish")
while read -r _ _ cname verdict detail; do
	echo "run-kunit: check $cname: $verdict $detail"
	if [ "$verdict" = ok ]; then
		passed=$((passed + 1))
	else
		failed=$((failed + 1)) fail+=("check $cname: $detail")
	fi
done < <(grep '^@@KTEST check ' "$stream")
if [ "$probe" = 1 ]; then
	grep -q '^@@KTEST probe-end' "$stream" || fail+=("probe scenario did not finish")
	want=$(sed -n 's/^@@KTEST probe-md5 //p' "$stream")
	got=$(head -c 1M "$disk" | md5sum | cut -d' ' -f1)
	if [ -n "$want" ] && [ "$want" = "$got" ]; then
		echo "run-kunit: probe disk-image: ok (md5 $got)"
		passed=$((passed + 1))
	else
		echo "run-kunit: probe disk-image: FAIL (guest wrote ${want:-nothing}, image has $got)"
		failed=$((failed + 1)) fail+=("probe: the disk image does not hold what was written")
	fi
fi

# kmemleak: anything new since the first insmod is a leak of ours.
if [ "$kmemleak" = 1 ]; then
	grep -q '^@@KTEST kmemleak-on' "$stream" || fail+=("kmemleak was not available")
	for when in loaded unloaded; do
		n=$(sed -n "/^@@KTEST kmemleak-begin $when/,/^@@KTEST kmemleak-end $when/p" "$stream" |
			grep -c 'unreferenced object' || true)
		if ! grep -q "^@@KTEST kmemleak-begin $when" "$stream"; then
			[ "$when" = unloaded ] && [ "$rmmod" = 0 ] && continue
			fail+=("no kmemleak report with the modules $when")
		elif [ "$n" -gt 0 ]; then
			fail+=("kmemleak: $n leaked objects with the modules $when")
			sed -n "/^@@KTEST kmemleak-begin $when/,/^@@KTEST kmemleak-end $when/p" "$stream" |
				head -60 | sed 's/^/  | /'
		else
			echo "run-kunit: kmemleak ($when): no leaks"
		fi
	done
fi

# Kernel trouble that did not (yet) panic. Allocations failed on purpose (--faults) print
# warn_alloc()'s stack dump: expected there, and cut out before looking.
trouble_console=$console
if [ "$faults" = 1 ]; then
	trouble_console=$out/console-no-warn-alloc.log
	awk '/page allocation failure: order:|vmalloc error: size/ { skip = 1 }
		!skip { print }
		skip && /<\/TASK>/ { skip = 0 }' "$console" >"$trouble_console"
fi
trouble=$(boot_trouble "$mode" "$trouble_console")
[ -z "$trouble" ] || fail+=("$trouble")
for re in "${expects[@]}"; do
	if boot_clean "$console" | grep -aqE "$re"; then
		echo "run-kunit: console shows /$re/"
	else
		fail+=("console never showed /$re/")
	fi
done

if [ ${#fail[@]} -gt 0 ] && [ "$failed" -eq 0 ]; then
	failed=1 # a broken run never reads as "0 failed"
fi
{
	echo "mode=$mode arch=$boot_arch name=$name wall=${wall}s state=$state qemu_rc=$qrc" \
		"hypervisor=${hv:-?}"
	[ ${#fail[@]} -eq 0 ] || printf 'fail: %s\n' "${fail[@]}"
} >"$out/summary.txt"

if [ ${#fail[@]} -gt 0 ]; then
	printf 'run-kunit: FAIL: %s\n' "${fail[@]}"
	echo "run-kunit: console log: $console (last 60 lines follow)"
	tr -d '\r' <"$console" | tail -n 60 | sed 's/^/  | /'
fi
echo "run-kunit: $mode ($boot_arch) run took ${wall}s"
summary="$passed passed, $failed failed"
[ "$skipped" -eq 0 ] || summary+=", $skipped skipped"
echo "$summary"
[ ${#fail[@]} -eq 0 ]
