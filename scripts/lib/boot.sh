# shellcheck shell=bash
# Booting a kernel under QEMU (TCG), alone or as a Xen dom0, and watching it until the guest's
# /init has delivered its verdict on the side channel. Sourced by run-kunit.sh and run-demo.sh.
#
# boot_arch (x86_64, the default, or arm64) picks the machine: on x86_64 the kernel is a Xen PV
# dom0 and the guest reports on the second serial port (ttyS1 in both modes: Xen keeps com1 for
# itself); on arm64 (QEMU's virt board, PL011 console) it is an auto-translated dom0 and reports
# on a virtio console (hvc0 alone, hvc1 under Xen, whose console is hvc0). The report sits
# between "@@KTEST begin" and "@@KTEST end" lines; the console (Xen and dom0 mixed) goes to a file.
#
# boot_dom0 (x86_64 under Xen only): pv, the default, or pvh: dom0 is then a PVH domain, auto-
# translated like arm64's (Xen's HAP under QEMU's nested paging, -cpu +svm,+npt: Debian's Xen has
# no shadow paging; q35 with an AMD IOMMU, which a PVH dom0 needs and Xen keeps to itself), with
# one vCPU (boot_qemu_cmd). It reports on ttyS1 too.
#
# boot_qemu_aarch64: the qemu-system-aarch64 for arm64 runs (default: the host's, QEMU 7.2). The
# arm64 demo sets QEMU 10 from bookworm-backports (scripts/qemu-backports.sh) for its NVMe's
# dbcs=off; a binary not in PATH gets -L with the data directory next to it (../share/qemu).
boot_arch=${boot_arch:-x86_64}
boot_dom0=${boot_dom0:-pv}
boot_qemu_aarch64=${boot_qemu_aarch64:-qemu-system-aarch64}
boot_scripts=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# Every oops, WARN, soft lockup or hung task is a panic, and a panic never reboots into a second
# run, so a crash always leaves the end marker missing. 256 legacy BSD ptys cost seconds of
# device creation in a PV dom0 under TCG; nothing uses them.
boot_kargs="panic=-1 oops=panic panic_on_warn=1 softlockup_panic=1 hung_task_panic=1"
boot_kargs+=" printk.time=1 pty.legacy_count=0"

boot_xen_panic_re='^\(XEN\) .*(Panic on CPU|Hardware Dom0 crashed|Manual reset required)'
boot_oops_re='Kernel panic|BUG:|WARNING:|Oops|Call [Tt]race|general protection fault|UBSAN:|KASAN:'
boot_oops_re+='|Internal error:|Unable to handle kernel|SError Interrupt'
# uswiotlb's own reports of something wrong inside it (as opposed to refusing a caller).
boot_oops_re+='|uswiotlb: .*(leaking|overlap in bus space|cache flush of .* failed)'

# The nvme driver giving up on a command: "I/O tag N (cid) ... QID q timeout, aborting|completion
# polled|reset controller" (6.12), "I/O N ... QID q timeout, ..." (6.1).
boot_nvme_lost_re='nvme nvme[0-9]+: I/O .*timeout'

# The console without carriage returns and without Xen's own lines.
boot_clean() { tr -d '\r' <"$1" | grep -av '^(XEN)' || true; }

# boot_check_arch: fail unless boot_arch (and boot_dom0) is one we know.
boot_check_arch() {
	case $boot_arch in
	x86_64 | arm64) ;;
	*) echo "unknown architecture '$boot_arch' (x86_64 or arm64)" >&2; return 1 ;;
	esac
	case $boot_arch/$boot_dom0 in
	*/pv | x86_64/pvh) ;;
	*) echo "unknown dom0 type '$boot_dom0' for $boot_arch (pv, or pvh on x86_64)" >&2
		return 1 ;;
	esac
}

# boot_kernel_image KDIR: the bootable image of the kernel built in KDIR.
boot_kernel_image() {
	case $boot_arch in
	x86_64) echo "$1/arch/x86/boot/bzImage" ;;
	arm64) echo "$1/arch/arm64/boot/Image" ;;
	esac
}

# boot_busybox: print the static busybox for the guest's initramfs ($BUSYBOX if set).
boot_busybox() {
	if [ -n "${BUSYBOX:-}" ]; then
		echo "$BUSYBOX"
	elif [ "$boot_arch" = arm64 ]; then
		"$boot_scripts/arm64-deps.sh" busybox
	else
		echo /bin/busybox
	fi
}

# boot_result_dev MODE: the guest's name for the side channel boot_qemu_cmd sets up.
boot_result_dev() {
	case $boot_arch/$1 in
	x86_64/*) echo ttyS1 ;;
	arm64/qemu) echo hvc0 ;;
	arm64/xen) echo hvc1 ;; # hvc0 is Xen's console
	esac
}

# boot_dom0_type: what dom0 reports as /sys/hypervisor/type and guest_type.
boot_dom0_type() {
	case $boot_arch in
	x86_64) echo "type=xen guest_type=${boot_dom0^^}" ;; # PV or PVH
	arm64) echo "type=xen guest_type=HVM" ;; # auto-translated, mapped 1:1
	esac
}

# Print the path of the Xen image for QEMU's -kernel. On x86_64 that is the host's
# xen-hypervisor-4.17-amd64, unpacked (-kernel takes a gzipped Xen only as a plain ELF); on
# arm64 Debian's arm64 package, fetched and cached by arm64-deps.sh.
boot_xen_image() {
	local gz=/boot/xen-4.17-amd64.gz cache=${USWIOTLB_CACHE:-$HOME/.cache/uswiotlb} xen
	if [ "$boot_arch" = arm64 ]; then
		"$boot_scripts/arm64-deps.sh" xen
		return
	fi
	[ -f "$gz" ] || { echo "$gz missing (scripts/deps.sh installs xen-hypervisor-4.17-amd64)" >&2
		return 1; }
	xen=$cache/xen/xen-4.17-amd64-$(sha256sum "$gz" | cut -c1-16)
	if [ ! -f "$xen" ]; then
		mkdir -p "$(dirname "$xen")"
		gunzip -c "$gz" >"$xen.tmp"
		mv "$xen.tmp" "$xen"
	fi
	echo "$xen"
}

# boot_qemu_cmd MODE KERNEL INITRD KARGS MEM XEN_APPEND CONSOLE CHANNEL [EXTRA QEMU ARGS...]
# Fill the array boot_cmd with the QEMU command line for boot_arch.
boot_qemu_cmd() {
	local mode=$1 kernel=$2 initrd=$3 kargs=$4 mem=$5 xen_append=$6 console=$7 chan=$8 xen
	local xargs dargs qemu=qemu-system-x86_64 side=(-serial chardev:r) cpu=qemu64,+svm pvh=() smp=2
	shift 8
	boot_check_arch || return 1
	if [ "$boot_arch" = arm64 ]; then
		# QEMU's virt board: the console on its PL011, the channel on a virtio console.
		# shellcheck disable=SC2054 # the commas belong to QEMU options
		qemu=$boot_qemu_aarch64 side=(-device virtio-serial-device -device virtconsole,chardev=r)
		[[ $qemu != */* ]] || side+=(-L "$(dirname "$qemu")/../share/qemu")
	elif [ "$mode/$boot_dom0" = xen/pvh ]; then
		# HAP needs +npt: without it "Error creating d0: -95". Xen builds a PVH dom0 only
		# with an IOMMU; q35 it is (a -M of the caller's comes later and wins). One CPU and
		# one dom0 vCPU (below).
		cpu+=,+npt pvh=(-M q35 -device amd-iommu) smp=1
	elif [ "${boot_hap:-0}" = 1 ]; then
		cpu+=,+npt # HVM and PVH domUs of a PV dom0: HAP too
	fi
	# thread=single: with multi-threaded TCG (QEMU 7.2), a vCPU sometimes still executes the
	# int3 that text_poke_bp() on the other vCPU has already replaced, and the guest oopses
	# when a static key flips under load (kunit usw_test_force_flipped_under_load: 4 of 4
	# runs oops with MTTCG, 0 of 5 with one TCG thread). boot_tcg=multi is for runs that flip
	# no key under load and need two vCPUs really in parallel (run-bench.sh --mttcg).
	# shellcheck disable=SC2054
	boot_cmd=("$qemu" "${pvh[@]}" -accel "tcg,thread=${boot_tcg:-single}" -smp "$smp" -nodefaults
		-display none -monitor none -no-reboot -m "$mem" -serial "file:$console"
		-chardev "file,path=$chan,id=r" "${side[@]}" "$@")
	case $boot_arch/$mode in
	x86_64/qemu)
		boot_cmd+=(-kernel "$kernel" -initrd "$initrd" -append "console=ttyS0 $kargs")
		return ;;
	arm64/qemu)
		# pauth-impdef: QEMU's own pointer-authentication algorithm, much cheaper under TCG.
		# shellcheck disable=SC2054
		boot_cmd+=(-machine virt -cpu max,pauth-impdef=on -kernel "$kernel" -initrd "$initrd"
			-append "console=ttyAMA0 $kargs")
		return ;;
	esac
	xen=$(boot_xen_image) || return 1
	xargs="loglvl=all guest_loglvl=all noreboot console_timestamps=boot bootscrub=0"
	if [ "$boot_arch" = x86_64 ]; then
		# dom0's poweroff makes Xen enter ACPI S5 and QEMU exits; after a dom0 crash noreboot
		# leaves Xen idling with the backtrace on screen and boot_run stops QEMU.
		# -cpu qemu64,+svm: with -cpu max dom0 dies on its first exception (qemu-xen.md).
		xargs="console=com1 com1=115200,8n1 dom0_mem=768M,max:768M $xargs"
		dargs="console=hvc0 earlyprintk=xen $kargs"
		# A PVH dom0 runs alone on one CPU. Its vCPUs now and then take an interrupt a second
		# time at the handler's first instruction, IF clear (README.rst, "Known limits"), with
		# no module loaded too. With 2 CPUs and 2 dom0 vCPUs opening ttyS1 livelocked dom0 at
		# once and 2 of 6 KUnit runs crashed; with dom0_max_vcpus=1, 0 of 12 KUnit runs but 3
		# of 4 demo runs; with -smp 1 as well, 0 of 12 KUnit and 0 of 11 demo runs.
		[ "$boot_dom0" = pv ] || xargs="dom0=pvh dom0_max_vcpus=1 $xargs"
		# Multiboot module list: "," separates modules, ",," is a literal comma.
		# shellcheck disable=SC2054 # the commas belong to QEMU options
		boot_cmd+=(-cpu "$cpu" -kernel "$xen" -append "$xargs${xen_append:+ $xen_append}"
			-initrd "$kernel ${dargs//,/,,},$initrd")
		return
	fi
	# Xen on the PL011; QEMU's guest-loader hands it dom0's kernel and initramfs. Xen halts
	# when dom0 powers off, without QEMU exiting: boot_run stops QEMU. Xen on Arm takes a
	# plain dom0_mem size, and maps dom0 1:1 in a few large chunks: 768M of 1G does not fit.
	xargs="console=dtuart dtuart=/pl011@9000000 dom0_mem=512M $xargs"
	dargs="console=hvc0 earlycon=xen $kargs"
	# In a -device option value ",," is a literal comma.
	# shellcheck disable=SC2054
	boot_cmd+=(-machine virt,virtualization=on,gic-version=3 -cpu cortex-a57 -kernel "$xen"
		-append "$xargs${xen_append:+ $xen_append}"
		-device "guest-loader,addr=0x49000000,kernel=${kernel//,/,,},bootargs=${dargs//,/,,}"
		-device "guest-loader,addr=0x60000000,initrd=${initrd//,/,,}")
}

# boot_restricted_pool DTB: make the arm64 virt board boot_cmd describes boot with its own
# device tree plus a 4 MiB restricted DMA pool on an empty virtio-mmio slot (QEMU fills the
# slots from a003e00 down), which uswiotlb's KUnit suite must see refused. Writes DTB.
boot_restricted_pool() {
	local dtb=$1
	"${boot_cmd[@]}" -machine "dumpdtb=$dtb.qemu" >"$dtb.log" 2>&1 || { cat "$dtb.log" >&2; return 1; }
	{
		dtc -q -I dtb -O dts "$dtb.qemu"
		cat <<-'EOF'
		/ {
			reserved-memory {
				#address-cells = <2>;
				#size-cells = <2>;
				ranges;
				usw_restricted: usw-restricted-dma {
					compatible = "restricted-dma-pool";
					size = <0x0 0x400000>;
				};
			};
		};
		&{/virtio_mmio@a001000} {
			memory-region = <&usw_restricted>;
		};
		EOF
	} | dtc -q -I dts -O dtb -o "$dtb" - || return 1
	boot_cmd+=(-dtb "$dtb")
}

# boot_noncoherent DTB: make the arm64 virt board boot_cmd describes boot with its own device
# tree minus every dma-coherent property (QEMU puts one on the root, fw-cfg, the PCIe host and
# each virtio-mmio slot), so that under Xen dom0 sees its devices as non-coherent and DMA to them
# needs cache maintenance. Writes DTB.
boot_noncoherent() {
	local dtb=$1
	"${boot_cmd[@]}" -machine "dumpdtb=$dtb.qemu" >"$dtb.log" 2>&1 || { cat "$dtb.log" >&2; return 1; }
	dtc -q -I dtb -O dts "$dtb.qemu" | grep -v '^[[:space:]]*dma-coherent;$' |
		dtc -q -I dts -O dtb -o "$dtb" - || return 1
	if dtc -q -I dtb -O dts "$dtb" | grep -q dma-coherent; then
		echo "boot_noncoherent: dma-coherent still in $dtb" >&2
		return 1
	fi
	boot_cmd+=(-dtb "$dtb")
}

# boot_pin: the host CPU list QEMU runs on (taskset -c), chosen by boot_run. With one TCG
# thread the guest's full barriers become no host barrier at all (tcg_gen_mb() emits nothing
# without CF_PARALLEL), so a device model in QEMU's main-loop thread on the other host core can
# miss a store of the guest's, as in the shadow doorbell race that loses NVMe commands (README,
# "Known limits"). Both threads on one host core never run at the same moment: the race cannot
# happen. USW_QEMU_CPUS overrides the choice ("all": not pinned). Runs with multi-threaded TCG
# are never pinned: their barriers are real.
boot_pin=""
boot_pin_fd=""
boot_pick_cpu() {
	local n c
	boot_pin=${USW_QEMU_CPUS-}
	if [ "${boot_tcg:-single}" = multi ] || [ "$boot_pin" = all ]; then
		boot_pin=""
		return
	fi
	[ -z "$boot_pin" ] || return 0
	# One CPU per QEMU while there are enough (soak.sh runs several at once): the first
	# whose lock is free, held until QEMU is gone; else the last CPU.
	n=$(nproc)
	for ((c = n - 1; c >= 0; c--)); do
		exec {boot_pin_fd}>"/tmp/uswiotlb-qemu-cpu$c.lock"
		if flock -n "$boot_pin_fd"; then
			boot_pin=$c
			return
		fi
		exec {boot_pin_fd}>&-
	done
	boot_pin_fd="" boot_pin=$((n - 1))
}

# boot_run TIMEOUT CONSOLE CHANNEL VERBOSE QEMU-OUT: run boot_cmd until the end marker is on
# the channel (then give the guest 10 s to power off), a panic is on the console, or TIMEOUT.
# Sets boot_state (finished|crashed|timeout|running = exited without verdict), boot_qrc and
# boot_wall (seconds).
boot_run() {
	local tmo=$1 console=$2 chan=$3 verbose=$4 qout=$5 t0 now deadline=""
	local crash_re="Kernel panic - not syncing|$boot_xen_panic_re"
	local halt_re='reboot: Power down|Hardware Dom0 (halted|shutdown)'
	t0=$(date +%s.%N)
	boot_qpid="" boot_tailpid=""
	# An interrupted run must not leave QEMU behind; only our own children are signalled.
	trap 'for p in $boot_qpid $boot_tailpid; do kill "$p" 2>/dev/null || true; done' EXIT
	trap 'exit 130' INT TERM
	boot_pick_cpu
	if [ -n "$boot_pin" ]; then
		timeout -k 5 "$tmo" taskset -c "$boot_pin" "${boot_cmd[@]}" </dev/null >"$qout" 2>&1 &
	else
		timeout -k 5 "$tmo" "${boot_cmd[@]}" </dev/null >"$qout" 2>&1 &
	fi
	boot_qpid=$!
	if [ "$verbose" = 1 ]; then
		tail -n +1 -f "$console" >&2 &
		boot_tailpid=$!
	fi
	boot_state=running
	while kill -0 "$boot_qpid" 2>/dev/null; do
		now=$(date +%s)
		if [ "$boot_state" = running ]; then
			if grep -aq '^@@KTEST end' "$chan"; then
				boot_state=finished deadline=$((now + 10))
			elif grep -aqE "$crash_re" "$console"; then
				boot_state=crashed deadline=$((now + 2)) # let the backtrace reach the log
			fi
		elif [ "$boot_state" = finished ] && grep -aqE "$halt_re" "$console"; then
			sleep 0.3 # QEMU exits by itself without Xen; with Xen it must be stopped
			kill "$boot_qpid" 2>/dev/null || true
		elif [ "$now" -ge "$deadline" ]; then
			kill "$boot_qpid" 2>/dev/null || true
		fi
		sleep 0.2
	done
	boot_qrc=0
	wait "$boot_qpid" || boot_qrc=$?
	boot_qpid=""
	[ -z "$boot_pin_fd" ] || exec {boot_pin_fd}>&-
	boot_pin_fd=""
	[ -z "$boot_tailpid" ] || kill "$boot_tailpid" 2>/dev/null || true
	boot_tailpid=""
	boot_wall=$(awk -v a="$t0" -v b="$(date +%s.%N)" 'BEGIN { printf "%.1f", b - a }')
	[ "$boot_state" = running ] && [ "$boot_qrc" = 124 ] && boot_state=timeout
	[ "$boot_state" = running ] && grep -aq '^@@KTEST end' "$chan" && boot_state=finished
	[ "$boot_state" = running ] && grep -aqE "$crash_re" "$console" && boot_state=crashed
	return 0
}

# boot_trouble MODE CONSOLE: print the first sign of kernel or Xen trouble on the console.
boot_trouble() {
	local oops
	oops=$(boot_clean "$2" | grep -aE "$boot_oops_re" | head -1 || true)
	[ -z "$oops" ] || { echo "kernel trouble on the console: $oops"; return; }
	if [ "$1" = xen ] && tr -d '\r' <"$2" | grep -aqE "$boot_xen_panic_re"; then
		echo "Xen reported a dom0 crash or panic"
	fi
}

# boot_nvme_trace FILE: QEMU's NVMe trace events into FILE (appended to boot_devs), at the
# places a command can get lost between the driver and QEMU's NVMe model: the SQ tail doorbell
# (MMIO, or the shadow copy in guest memory), the command fetched, its completion posted, the
# interrupt, the CQ head, admin commands (abort = opcode 0x8). Not pci_nvme_eventidx_sq: it
# fires inside the window between the device's EventIdx write and its shadow-tail read.
# scripts/nvme-trace.py reads the file next to the run's console.log.
boot_nvme_trace() {
	local e
	for e in pci_nvme_mmio_doorbell_sq pci_nvme_shadow_doorbell_sq pci_nvme_io_cmd \
		pci_nvme_enqueue_req_completion pci_nvme_irq_msix pci_nvme_mmio_doorbell_cq \
		pci_nvme_shadow_doorbell_cq pci_nvme_admin_cmd; do
		boot_devs+=(-trace "enable=$e")
	done
	boot_devs+=(-trace "file=$1" -msg timestamp=on)
}

# boot_nvme_lost CONSOLE: print how many NVMe commands the driver timed out on and on which
# queues: "N QID q..."; "0" for none. A command counts once however many timeouts it took
# (aborting, then reset controller); one lost again after a reset counts again: 6.12 names each
# use of a tag by its command id, 6.1 only by the tag, so there a tag is new again after a reset.
boot_nvme_lost() {
	local lost
	lost=$(boot_clean "$1" | grep -aE "$boot_nvme_lost_re" |
		sed -E 's/.*I\/O (tag [0-9]+ \(([0-9a-f]+)\)|([0-9]+)).* QID ([0-9]+) timeout, ([a-z]+).*/\5 \2\3 \4 \2/' |
		awk '$1 == "reset" || $1 == "disable" { reset = 1 }
		     ($1 == "aborting" || $1 == "completion") && reset { epoch++; reset = 0 }
		     { key = $2 " " $3 " " (NF > 3 ? "" : epoch) }
		     !(key in seen) { seen[key]; print $3 }' || true)
	if [ -z "$lost" ]; then echo 0; return; fi
	echo "$(wc -l <<<"$lost") QID $(sort -un <<<"$lost" | tr '\n' ' ')"
}

# boot_taint_ok MASK: only O (out-of-tree, 12), E (unsigned, 13), N (KUnit ran, 18) allowed.
boot_taint_ok() { [ $(($1 & ~((1 << 12) | (1 << 13) | (1 << 18)))) -eq 0 ]; }

# boot_stock_drivers STOCK KREL DIR: the stock kernel's NVMe and e1000 drivers with their
# dependencies, in load order, uncompressed into DIR (Debian's 6.12 ships .ko.xz; busybox insmod
# wants plain ELF). Sets boot_files to the mkinitramfs.sh arguments that put them in
# /drivers/{chan,disk,nic}/NN-NAME.ko, the layout scripts/init/lib loads. On arm64 the disks
# include virtio_blk, and chan holds virtio_mmio: a module in Debian's arm64 kernel, and the
# transport of the side channel's virtio console, so /init loads it before anything else.
boot_stock_drivers() {
	local disk=(nvme)
	boot_files=()
	if [ "$boot_arch" = arm64 ]; then
		disk+=(virtio_blk)
		boot_stock_group "$1" "$2" "$3" chan virtio_mmio || return 1
	fi
	boot_stock_group "$1" "$2" "$3" disk "${disk[@]}" && boot_stock_group "$1" "$2" "$3" nic e1000
}

# boot_stock_deps STOCK KREL MODULE...: the paths of the stock kernel's MODULEs and their
# dependencies, in load order, each once.
boot_stock_deps() {
	local stock=$1 krel=$2 m
	shift 2
	for m in "$@"; do modprobe -d "$stock" -S "$krel" --show-depends "$m"; done |
		awk '$1 == "insmod" && !seen[$2]++ { print $2 }'
}

# boot_stock_group STOCK KREL DIR GROUP MODULE...: the stock kernel's MODULEs with their
# dependencies, in load order, into /drivers/GROUP/NN-NAME.ko; appends to boot_files.
boot_stock_group() {
	local stock=$1 krel=$2 dir=$3 group=$4 n=0 path base dest
	shift 4
	mkdir -p "$dir"
	while read -r path; do
		n=$((n + 1))
		base=$(basename "$path")
		base=${base%.xz}
		dest=$dir/$group-$(printf %02d $n)-$base
		case $path in
		*.xz) xz -dc "$path" >"$dest" ;;
		*) cp "$path" "$dest" ;;
		esac
		boot_files+=(-f "$dest:/drivers/$group/$(printf %02d $n)-$base")
	done < <(boot_stock_deps "$stock" "$krel" "$@")
	[ "$n" -gt 0 ]
}

# boot_modules_tree STOCK KREL DKMS ROOT MODULE...: a /lib/modules/KREL tree as a booted
# system has it, for kmod's modprobe: the stock kernel's MODULEs with their dependencies at
# their own paths, compressed as shipped, uswiotlb.ko from DKMS/lib/modules/KREL/updates/dkms,
# depmod's indexes over them; DKMS/etc/modprobe.d/*.conf, and kmod itself (as /sbin/kmod) with
# the libraries it loads. Built in ROOT; sets boot_files.
boot_modules_tree() {
	local stock=$1 krel=$2 dkms=$3 root=$4 path f lib
	shift 4
	local mods=$root/lib/modules/$krel
	rm -rf "$root"
	mkdir -p "$mods/updates/dkms" "$root/etc/modprobe.d"
	while read -r path; do
		mkdir -p "$root/$(dirname "${path#"$stock"/}")"
		cp "$path" "$root/${path#"$stock"/}"
	done < <(boot_stock_deps "$stock" "$krel" "$@")
	for f in modules.builtin modules.builtin.modinfo modules.order; do
		cp "$stock/lib/modules/$krel/$f" "$mods/"
	done
	cp "$dkms/lib/modules/$krel/updates/dkms/"uswiotlb.ko* "$mods/updates/dkms/" || return 1
	cp "$dkms"/etc/modprobe.d/*.conf "$root/etc/modprobe.d/"
	# The harness's, not the package's: a lost NVMe command costs seconds, not minutes.
	echo "options nvme_core io_timeout=10" >"$root/etc/modprobe.d/demo.conf"
	depmod -b "$root" "$krel" || return 1
	boot_files=()
	while read -r f; do
		boot_files+=(-f "$root/$f:/$f")
	done < <(cd "$root" && find . -type f | sed 's|^\./||')
	boot_files+=(-f /bin/kmod:/sbin/kmod -f /lib64/ld-linux-x86-64.so.2:/lib64/ld-linux-x86-64.so.2)
	while read -r lib; do
		boot_files+=(-f "$(readlink -f "$lib"):/lib/x86_64-linux-gnu/$(basename "$lib")")
	done < <(ldd /bin/kmod | awk '$2 == "=>" && $3 ~ /^\// { print $3 }')
}

# boot_xen_tools ROOT: the Xen toolstack unpacked in ROOT (scripts/xen-tools.sh) for a dom0
# initramfs: xl, xenstored, xenconsoled, xen-init-dom0 and libxl-save-helper in
# /usr/lib/xen-4.17/bin, xenstore-{read,write,ls} in /usw, and every library they load in
# /usr/lib/<triplet> (x86_64-linux-gnu: the host's glibc is the guest's, both Debian 12, found
# with ldd; aarch64-linux-gnu on arm64: ROOT holds the arm64 libraries, found by the binaries'
# DT_NEEDED entries). Appends to boot_files.
boot_xen_tools() {
	local root=$1 bin=$1/usr/lib/xen-4.17/bin b lib triplet=x86_64-linux-gnu
	local tools=(xl xenstored xenconsoled xen-init-dom0 libxl-save-helper)
	[ "$boot_arch" != arm64 ] || triplet=aarch64-linux-gnu
	for b in "${tools[@]}"; do
		boot_files+=(-f "$bin/$b:/usr/lib/xen-4.17/bin/$b")
	done
	for b in xenstore-read xenstore-write xenstore-ls; do
		boot_files+=(-f "$(readlink -f "$root/usr/bin/$b"):/usw/$b")
	done
	while read -r lib; do
		boot_files+=(-f "$(readlink -f "$lib"):/usr/lib/$triplet/$(basename "$lib")")
	done < <(boot_xen_libs "$root" "${tools[@]/#/$bin/}" "$root/usr/bin/xenstore")
	if [ "$boot_arch" = arm64 ]; then
		boot_files+=(-f "$(readlink -f "$root/lib/ld-linux-aarch64.so.1"):/lib/ld-linux-aarch64.so.1")
	else
		boot_files+=(-f /lib64/ld-linux-x86-64.so.2:/lib64/ld-linux-x86-64.so.2)
	fi
}

# boot_xen_libs ROOT BINARY...: the paths of every shared library the BINARYs load, with
# libgcc_s, which glibc loads at run time for pthread_cancel (xl aborts without it).
boot_xen_libs() {
	local root=$1 todo seen=" " f l p
	shift
	if [ "$boot_arch" != arm64 ]; then
		{ for f in "$@"; do
			LD_LIBRARY_PATH=$root/usr/lib/x86_64-linux-gnu ldd "$f" | awk '/=>/ { print $3 }'
		done; echo /lib/x86_64-linux-gnu/libgcc_s.so.1; } | sort -u
		return
	fi
	# arm64: ldd cannot run the binaries; follow DT_NEEDED through ROOT's library directories.
	todo=("$@" libgcc_s.so.1)
	while [ ${#todo[@]} -gt 0 ]; do
		f=${todo[0]}
		todo=("${todo[@]:1}")
		if [[ $f != */* ]]; then
			[[ $seen != *" $f "* ]] || continue
			seen+="$f "
			p=$(find "$root/lib/aarch64-linux-gnu" "$root/usr/lib/aarch64-linux-gnu" \
				-maxdepth 1 -name "$f" 2>/dev/null | head -n 1)
			[ -n "$p" ] || { echo "boot_xen_libs: no $f in $root" >&2; return 1; }
			echo "$p"
			f=$p
		fi
		while read -r l; do
			todo+=("$l")
		done < <(readelf -d "$f" | sed -n 's/.*Shared library: \[\(.*\)\]/\1/p' |
			grep -v '^ld-linux')
	done
}

# boot_demo_devices IMAGE [VIMAGE]: set boot_devs to the demo's devices: an NVMe disk on IMAGE
# and two e1000 NICs on one QEMU hub (nothing leaves the VM); on arm64 also a virtio-blk disk on
# VIMAGE, on a virtio-mmio slot of the virt board.
boot_demo_devices() {
	local nvme=nvme,serial=uswdemo,drive=nvm
	# arm64 dom0 has no MSI: the NVMe runs on INTx, and with Doorbell Buffer Config QEMU never
	# learns the CQ head and keeps INTx asserted; after ~100k spurious interrupts Linux
	# disables it ("nobody cared"). dbcs=off (QEMU 10: scripts/qemu-backports.sh) turns the
	# feature off: 60 s of O_DIRECT I/O gave 2.15M interrupts and the storm with it, 84k
	# interrupts and none without.
	[ "$boot_arch" != arm64 ] || nvme+=,dbcs=off
	# shellcheck disable=SC2054 # the commas belong to QEMU options
	boot_devs=(-drive "file=$1,if=none,id=nvm,format=raw,cache=unsafe" -device "$nvme"
		-netdev hubport,id=n0,hubid=0 -device e1000,netdev=n0,mac=52:54:00:12:34:01
		-netdev hubport,id=n1,hubid=0 -device e1000,netdev=n1,mac=52:54:00:12:34:02)
	[ "$boot_arch" = arm64 ] || return 0
	# shellcheck disable=SC2054
	boot_devs+=(-drive "file=${2:?no virtio-blk image},if=none,id=vbl,format=raw,cache=unsafe"
		-device virtio-blk-device,drive=vbl)
}
