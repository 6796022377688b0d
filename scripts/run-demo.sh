#!/bin/bash
# Boot Xen 4.17 under QEMU (TCG) with one of Debian's stock kernels as PV (or PVH) dom0, an
# emulated NVMe disk and two e1000 NICs on one QEMU hub (nothing leaves the VM), and run the demo
# there (scripts/init/demo): uswiotlb carries the devices' DMA, verified, with force flipped live.
# A KERNELRELEASE ending in -arm64 runs it on arm64 instead: Xen 4.17 arm64 on QEMU's virt board
# (qemu-system-aarch64 10 from bookworm-backports, scripts/qemu-backports.sh, for the NVMe's
# dbcs=off), the stock kernel as its auto-translated dom0, a virtio-blk disk on virtio-mmio too.
#
#   scripts/run-demo.sh --krel KERNELRELEASE --module uswiotlb.ko --tools DIR [OPTIONS]
#   scripts/run-demo.sh --kdir KDIR --module uswiotlb.ko --tools DIR [OPTIONS]
#
#   --kdir KDIR      the x86_64 test kernel built in KDIR (scripts/build-kernel.sh) instead of a
#                    stock one: nvme and e1000 are built in, so the demo probes and unbinds them
#                    through sysfs; not with --guests
#   --timeout S      bound on the whole boot (default 900)
#   --name LABEL     log directory name (default demo-KERNELRELEASE)
#   --results DIR    where LABEL/ goes (default $PWD/.results)
#   --blk-bytes N    disk bytes per workload run (default 48M)
#   --net-frames N   frames per network run (default 1500; --guests: 500)
#   --guests         the guests demo instead (scripts/init/guests): the Xen toolstack in dom0
#                    and PV domUs (the same stock kernel) whose blkfront disk blkback serves
#                    from the NVMe and whose two vifs netback bridges to the e1000s, on the
#                    kernel's ops and on uswiotlb; --blk-bytes is per domU run (default 16M)
#   --run-secs N     --guests: seconds of each measured domU run (default 20)
#   --domu TYPE      --guests: pv (default) or pvh domUs (QEMU then offers nested paging, which
#                    Xen's HAP needs); on arm64 always pvh, the only kind Xen on Arm has
#   --pvh            dom0 is a PVH domain (auto-translated, one vCPU; scripts/lib/boot.sh)
#   --noncoherent    arm64: the board's device tree without dma-coherent, so that the devices
#                    are non-coherent and uswiotlb maintains the caches for them
#   --dkms DIR       the DKMS run instead (scripts/init/modprobe), x86_64 PV dom0 only: the
#                    module from DIR/lib/modules/KREL/updates/dkms/ (what the package installed,
#                    scripts/deb-test.sh --keep DIR) in the stock kernel's /lib/modules tree with
#                    DIR/etc/modprobe.d/, loaded by kmod's modprobe in coldplug order; no --module
#   --trace          record QEMU's NVMe trace events (nvme.trace, kept gzipped if the run lost
#                    a command; scripts/nvme-trace.py LOGDIR reads it)
#   -v, --verbose    stream the console to stderr
#
# Prints the guest's report and a final "N passed, N failed" line over its checks. Exit status:
# 0 every check held; 1 a check failed, the guest crashed, WARNed or timed out; 2 setup error.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=lib/boot.sh
. "$here/lib/boot.sh"

usage() { sed -n '/^#   scripts/,/^#   -v/s/^# \{0,3\}//p' "$0" >&2; exit 2; }
die() { echo "run-demo: $*" >&2; exit 2; }

krel="" kdir="" ko="" tools="" tmo=900 name="" results=$PWD/.results verbose=0
blk_bytes="" net_frames="" init=demo trace=0 run_secs=20 domu=pv coherent=1 dkms=""
while [ $# -gt 0 ]; do
	case $1 in
	--krel) krel=${2-}; shift 2 ;;
	--kdir) kdir=${2-}; shift 2 ;;
	--module) ko=${2-}; shift 2 ;;
	--tools) tools=${2-}; shift 2 ;;
	--timeout) tmo=${2-}; shift 2 ;;
	--name) name=${2-}; shift 2 ;;
	--results) results=${2-}; shift 2 ;;
	--blk-bytes) blk_bytes=${2-}; shift 2 ;;
	--net-frames) net_frames=${2-}; shift 2 ;;
	--guests) init=guests; shift ;;
	--run-secs) run_secs=${2-}; shift 2 ;;
	--domu) domu=${2-}; shift 2 ;;
	--pvh) boot_dom0=pvh; shift ;;
	--noncoherent) coherent=0; shift ;;
	--dkms) dkms=${2-}; init=modprobe; shift 2 ;;
	--trace) trace=1; shift ;;
	-v | --verbose) verbose=1; shift ;;
	-h | --help) usage ;;
	*) echo "run-demo: unknown argument '$1'" >&2; usage ;;
	esac
done
if [ -n "$kdir" ]; then
	[ -z "$krel" ] || die "--krel or --kdir, not both"
	[ "$init" = demo ] || die "--kdir is for the demo, not --guests"
	krel=$(cat "$kdir/include/config/kernel.release" 2>/dev/null) || die "no kernel in $kdir"
fi
if [ -n "$dkms" ]; then
	[ -z "$ko" ] && [ -z "$kdir" ] || die "--dkms takes the module from DIR, on a stock kernel"
	[[ $krel == *-amd64 ]] && [ "$boot_dom0" = pv ] || die "--dkms is for an x86_64 PV dom0"
	ko=$(ls "$dkms/lib/modules/$krel/updates/dkms/uswiotlb.ko"* 2>/dev/null | head -n 1) ||
		true
	[ -f "$dkms/etc/modprobe.d/uswiotlb.conf" ] || die "no etc/modprobe.d/uswiotlb.conf in $dkms"
fi
[ -n "$krel" ] && [ -n "$ko" ] && [ -n "$tools" ] || usage
[ -f "$ko" ] || die "no module at $ko"
for t in usw-blkcheck usw-netcheck uswiotlb-stat; do
	[ -x "$tools/$t" ] || die "no $t in $tools"
done
[[ $tmo =~ ^[0-9]+$ ]] || die "--timeout wants whole seconds"
[ -n "$blk_bytes" ] || { blk_bytes=48M; [ "$init" = demo ] || blk_bytes=16M; }
[ -n "$net_frames" ] || { net_frames=1500; [ "$init" = demo ] || net_frames=500; }
[[ $blk_bytes =~ ^[0-9]+[KMG]?$ ]] || die "--blk-bytes wants e.g. 48M"
[[ $net_frames =~ ^[0-9]+$ ]] || die "--net-frames wants a number"
[[ $run_secs =~ ^[1-9][0-9]*$ ]] || die "--run-secs wants a whole number of seconds"
[[ $domu =~ ^(pv|pvh)$ ]] || die "--domu is pv or pvh"
if [[ $krel == *-arm64 ]]; then
	boot_arch=arm64
	[ "$boot_dom0" = pv ] || die "--pvh is x86_64 only"
	# Xen on Arm has one kind of domU, which xl calls pvh.
	domu=pvh
	boot_qemu_aarch64=$("$here/qemu-backports.sh") || die "no QEMU 10 for arm64"
	[ "$coherent" = 1 ] || [ -n "$name" ] || name=$init-noncoherent-$krel
fi
[ "$coherent" = 1 ] || [ "$boot_arch" = arm64 ] || die "--noncoherent is for arm64"
busybox=$(boot_busybox) || die "no static busybox for $boot_arch"
if [ -n "$kdir" ]; then
	[ "$boot_arch" = x86_64 ] || die "--kdir is for the x86_64 test kernel"
	kernel=$(boot_kernel_image "$kdir")
else
	stock=$("$here/stock-kernel.sh" "$krel")
	kernel=$stock/boot/vmlinuz-$krel
fi
[ "$boot_dom0" = pv ] || [ "$init" = demo ] || die "--pvh is for the demo, not --guests"
[ "$boot_dom0" = pv ] || [ -n "$name" ] || name=$init-pvh-$krel
name=${name:-$init-$krel}
[[ $name =~ ^[A-Za-z0-9_+-][A-Za-z0-9._+-]*$ ]] || die "--name must be a plain file name"

out=$results/$name
rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
console=$out/console.log
chan=$out/channel.log
: >"$console"
: >"$chan"

files=(-f "$tools/usw-blkcheck:/usw/usw-blkcheck"
	-f "$tools/usw-netcheck:/usw/usw-netcheck" -f "$tools/uswiotlb-stat:/usw/uswiotlb-stat"
	-f "$here/init/lib:/usw/lib"
	-f "$here/init/checks:/usw/checks")
if [ -n "$dkms" ]; then
	boot_modules_tree "$stock" "$krel" "$dkms" "$out/root" nvme e1000 ||
		die "cannot make a /lib/modules tree from $stock and $dkms"
	files+=("${boot_files[@]}")
elif [ -z "$kdir" ]; then
	files+=(-f "$ko:/usw/uswiotlb.ko")
	boot_stock_drivers "$stock" "$krel" "$out/drivers" ||
		die "no disk or e1000 modules in $stock"
	files+=("${boot_files[@]}")
else
	files+=(-f "$ko:/usw/uswiotlb.ko")
fi
mem=2G
if [ "$init" = guests ]; then
	# The domU: the same stock kernel, its front ends and the two tools in its own initramfs.
	boot_files=()
	boot_stock_group "$stock" "$krel" "$out/drivers" blk xen-blkfront &&
		boot_stock_group "$stock" "$krel" "$out/drivers" net xen-netfront ||
		die "no xen-blkfront or xen-netfront in $stock"
	BUSYBOX=$busybox "$here/mkinitramfs.sh" -o "$out/domu.cpio" -i "$here/init/domu" \
		-f "$tools/usw-blkcheck:/usw/usw-blkcheck" \
		-f "$tools/usw-netcheck:/usw/usw-netcheck" "${boot_files[@]}"
	# dom0: the backends, the toolstack, the domU's kernel, initramfs and configuration.
	boot_files=()
	boot_stock_group "$stock" "$krel" "$out/drivers" xen xen-evtchn xenfs xen-privcmd \
		xen-gntdev xen-gntalloc xen-blkback xen-netback bridge ||
		die "no Xen backend modules in $stock"
	if [ "$boot_arch" = arm64 ]; then
		xtools=$("$here/xen-tools.sh" arm64) || die "no arm64 Xen toolstack"
	else
		xtools=$("$here/xen-tools.sh") || die "no Xen toolstack"
	fi
	boot_xen_tools "$xtools" || die "no Xen toolstack"
	files+=("${boot_files[@]}"
		-f "$here/init/domu.cfg:/usw/domu.cfg" -f "$here/init/block-hotplug:/usw/block-hotplug"
		-f "$here/init/vif-hotplug:/usw/vif-hotplug" -f "$here/init/toolstack:/usw/toolstack"
		-f "$kernel:/usw/domu-vmlinuz" -f "$out/domu.cpio:/usw/domu-initrd")
	mem=3G # dom0 keeps 768M; the domUs take 256M each
fi
initrd=$out/initramfs.cpio
BUSYBOX=$busybox "$here/mkinitramfs.sh" -o "$initrd" -i "$here/init/$init" "${files[@]}"

# Sparse scratch disks (the virtio-blk one on arm64 only); the workload writes the first
# --blk-bytes of each.
disk=$out/nvme.img vdisk=$out/vda.img
truncate -s 256M "$disk"
[ "$boot_arch" != arm64 ] || truncate -s 256M "$vdisk"

# Unknown NAME=VALUE words on the kernel command line reach /init as environment variables.
# DEMO_DOM0 is the guest_type dom0 must report (boot_dom0_type), DEMO_CHANNEL the side channel.
dom0_type=$(boot_dom0_type)
kargs="$boot_kargs DEMO_BLK_BYTES=$blk_bytes DEMO_NET_FRAMES=$net_frames"
kargs+=" DEMO_DOM0=${dom0_type#*guest_type=} DEMO_CHANNEL=$(boot_result_dev xen)"
kargs+=" DEMO_COHERENT=$coherent"
[ -z "$kdir" ] || kargs+=" nvme_core.io_timeout=10" # built in: init/lib cannot pass it
if [ "$init" = guests ]; then
	kargs+=" DEMO_RUN_SECS=$run_secs DEMO_DOMU=$domu"
	[ "$domu" = pv ] || [ "$boot_arch" = arm64 ] || boot_hap=1
fi
boot_demo_devices "$disk" "$vdisk"
[ "$trace" = 0 ] || boot_nvme_trace "$out/nvme.trace"
boot_qemu_cmd xen "$kernel" "$initrd" "$kargs" "$mem" "" "$console" "$chan" "${boot_devs[@]}" ||
	die "cannot set up the QEMU command line"
[ "$coherent" = 1 ] || boot_noncoherent "$out/virt.dtb" || die "cannot make a non-coherent DTB"
printf '%q ' "${boot_cmd[@]}" >"$out/qemu-cmdline"
echo >>"$out/qemu-cmdline"

devs="NVMe + 2x e1000"
[ "$boot_arch" != arm64 ] || devs="NVMe + virtio-blk + 2x e1000"
[ "$coherent" = 1 ] || devs+=", non-coherent"
echo "run-demo: Xen 4.17 + $krel ${dom0_type#*guest_type=} dom0, $devs, $init (logs: $out)"
[ -z "${stock-}" ] || echo "run-demo: stock kernel from $(basename "$stock")"
boot_run "$tmo" "$console" "$chan" "$verbose" "$out/qemu.out"

# --- Verdict -------------------------------------------------------------------------------
fail=()
stream=$out/stream.log
boot_clean "$chan" | sed -n '/^@@KTEST begin/,/^@@KTEST end/p' >"$stream"
case $boot_state in
timeout) fail+=("timeout after ${tmo}s (no end marker)") ;;
crashed) fail+=("guest crashed (panic seen on the console)") ;;
running) fail+=("QEMU exited (rc=$boot_qrc) without the end marker") ;;
esac
grep -q '^@@KTEST begin' "$stream" || fail+=("init never reported (no begin marker)")

passed=0 failed=0
while read -r _ what rest; do
	case $what in
	check)
		verdict=${rest%% *}
		echo "run-demo: ${verdict/ok/ok  } ${rest#* }"
		if [ "$verdict" = ok ]; then
			passed=$((passed + 1))
		else
			failed=$((failed + 1))
			fail+=("check failed: ${rest#* }")
		fi ;;
	note) echo "run-demo:      $rest" ;;
	taint) boot_taint_ok "$rest" || fail+=("kernel tainted ($rest)") ;;
	esac
done < <(grep '^@@KTEST ' "$stream")
grep -q '^@@KTEST checks ' "$stream" || fail+=("the demo did not run to its end")

# A lost NVMe command: the driver's timeout (10 s here) and controller reset recover it, and the
# data are verified all the same; the report names it (make soak measures how often).
stall=$(boot_nvme_lost "$console")
if [ -f "$out/nvme.trace" ]; then
	if [ "$stall" = 0 ]; then rm -f "$out/nvme.trace"; else gzip -f "$out/nvme.trace"; fi
fi
trouble=$(boot_trouble xen "$console")
[ -z "$trouble" ] || fail+=("$trouble")
[ ${#fail[@]} -eq 0 ] || [ "$failed" -gt 0 ] || failed=1 # a broken run never reads as 0 failed

{
	echo
	sed -n 's/^@@KTEST report //p' "$stream"
	[ "$stall" = 0 ] || echo "NVMe stall: the driver timed out on ${stall%% *} command(s) on" \
		"QID ${stall#* QID }and recovered (make soak; README.rst, \"Known limits\")"
	echo "checks: $passed passed, $failed failed; boot to verdict ${boot_wall}s"
} | tee "$out/report.txt"
{
	echo "krel=$krel image=${stock:+$(basename "$stock")} arch=$boot_arch" \
		"dom0=${dom0_type#*guest_type=} cpus=${boot_pin:-all}" \
		"wall=${boot_wall}s state=$boot_state qemu_rc=$boot_qrc nvme_lost=${stall%% *}"
	[ ${#fail[@]} -eq 0 ] || printf 'fail: %s\n' "${fail[@]}"
} >"$out/summary.txt"
if [ ${#fail[@]} -gt 0 ]; then
	printf 'run-demo: FAIL: %s\n' "${fail[@]}"
	echo "run-demo: console log: $console (last 60 lines follow)"
	tr -d '\r' <"$console" | tail -n 60 | sed 's/^/  | /'
fi
echo "$passed passed, $failed failed"
[ ${#fail[@]} -eq 0 ]
