#!/bin/bash
# The package test of `make check`: build the packages (make deb), install them on this machine
# with apt-get, and check what an admin would: DKMS built and installed the module for every
# kernel whose headers are here (at least Debian's 6.12 and 6.1), modinfo and modprobe find it,
# the modprobe.d file once enabled has modprobe load uswiotlb before nvme, the initramfs hook
# adds the module only then; then purge and check it is all gone.
#
#   scripts/deb-test.sh [--keep DIR]
#
# --keep DIR: before the purge, copy what the package installed for each kernel
# (lib/modules/KREL/updates/dkms/uswiotlb.ko*) and the modprobe.d file, enabled as README.rst
# says, into DIR: the demo's DKMS run (run-demo.sh --dkms DIR) boots with them.
# Ends with "N passed, N failed"; exit status 1 if any check failed.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
keep=""
[ "${1-}" != --keep ] || { keep=${2:?--keep DIR}; shift 2; }
# Debian's 6.12 and 6.1 (deps.sh installs their headers): DKMS must have built for both.
kernels=("$("$top/scripts/kernels.sh" 6.12)" "$("$top/scripts/kernels.sh" 6.1)")
sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
passed=0 failed=0
check() {	# check NAME DETAIL CMD...
	local name=$1 detail=$2
	shift 2
	if "$@"; then
		passed=$((passed + 1)); echo "deb-test: ok   $name: $detail"
	else
		failed=$((failed + 1)); echo "deb-test: FAIL $name: $detail"
	fi
}
# shellcheck disable=SC2053 # GLOB is a pattern
like() { [[ $1 == $2 ]]; }	# like STRING GLOB
logged() { local log=$1; shift; "$@" >"$log" 2>&1; }	# logged LOG CMD...
cleanup() {
	$sudo rm -f /etc/modprobe.d/uswiotlb-deb-test.conf
	$sudo apt-get purge -y -qq uswiotlb-dkms uswiotlb-tools >/dev/null 2>&1 || true
}
trap cleanup EXIT

debs=$("$top/scripts/deb.sh")
ver=$(cd "$top" && dpkg-parsechangelog -S Version)
echo "deb-test: built $(echo "$debs" | xargs -n1 basename | tr '\n' ' ')"
cleanup # a leftover of an interrupted run
log=$top/build/deb/install.log
start=$(date +%s)
# shellcheck disable=SC2086 # two paths
check install "apt-get install ./uswiotlb-dkms_${ver}_all.deb ./uswiotlb-tools (log: $log)" \
	logged "$log" $sudo apt-get install -y --no-install-recommends $debs
echo "deb-test: install took $(($(date +%s) - start)) s"
status=$(dkms status uswiotlb 2>/dev/null)
while read -r l; do echo "deb-test:      dkms status: $l"; done <<<"$status"
# Every kernel with headers, not only the running one (the package's postinst sees to that).
for build in /lib/modules/*/build; do
	[ -d "$build/" ] || continue
	k=$(basename "$(dirname "$build")")
	check "dkms-$k" "dkms status: uswiotlb/$ver, $k: installed" \
		grep -q "^uswiotlb/$ver, $k, [^:]*: installed" <<<"$status"
	f=$(modinfo -k "$k" -F filename uswiotlb 2>&1 || true)
	check "modinfo-$k" "modinfo -k $k uswiotlb: $f" \
		like "$f" "/lib/modules/$k/updates/dkms/uswiotlb.ko*"
	vm=$(modinfo -k "$k" -F vermagic uswiotlb 2>/dev/null || true)
	check "vermagic-$k" "built for $k (vermagic $vm)" like "$vm" "$k *"
	parms=$(modinfo -k "$k" -F parm uswiotlb 2>/dev/null | cut -d: -f1 | sort | tr '\n' ' ')
	check "parms-$k" "parameters: $parms" \
		grep -qw attach <<<"$parms" && grep -qw pool_max <<<"$parms"
done
for k in "${kernels[@]}"; do
	check "kernel-$k" "DKMS built for Debian's $k" grep -q "^uswiotlb/$ver, $k, " <<<"$status"
done
check stat-tool "uswiotlb-stat installed: $(command -v uswiotlb-stat || echo none)" \
	[ "$(command -v uswiotlb-stat)" = /usr/sbin/uswiotlb-stat ]

# The shipped modprobe.d file is inert; enabled as its comments say, modprobe loads uswiotlb
# (with its options) before nvme and e1000.
conf=/etc/modprobe.d/uswiotlb.conf
k=${kernels[0]}
inert=$(modprobe -S "$k" --show-depends nvme 2>&1 | grep -c uswiotlb || true)
check conf-inert "as shipped, modprobe nvme loads no uswiotlb ($inert lines name it)" [ "$inert" = 0 ]
enabled=$(mktemp -d)
sed -E 's/^#(options|softdep) /\1 /' "$conf" >"$enabled/uswiotlb.conf"
# before_driver DRV: uswiotlb, with attach=all, comes before DRV itself in modprobe's order
before_driver() {
	local order
	order=$(modprobe -C "$enabled" -S "$k" --show-depends "$1" 2>&1 | awk '{ print $2, $3 }')
	echo "$order" | sed -n "/updates\/dkms\/uswiotlb.ko.* attach=all/,\$p" |
		grep -q "/$1.ko"
}
for drv in nvme e1000; do
	check "softdep-$drv" "enabled, modprobe $drv loads: $(modprobe -C "$enabled" -S "$k" \
		--show-depends "$drv" 2>&1 | awk '{ print $2 }' | xargs -n1 basename | tr '\n' ' ')" \
		before_driver "$drv"
done

# initramfs-tools: the hook adds uswiotlb only once modprobe.d loads it. Only a kernel whose
# image is installed has modules to make an initramfs from.
if [ -d "/lib/modules/$k/kernel" ] && command -v mkinitramfs >/dev/null; then
	img=$(mktemp)
	mkinitramfs -o "$img" "$k" 2>/dev/null
	n=$(lsinitramfs "$img" 2>/dev/null | grep -c 'updates/dkms/uswiotlb.ko' || true)
	check initramfs-inert "as shipped, $k's initramfs has no uswiotlb.ko ($n)" [ "$n" = 0 ]
	$sudo cp "$enabled/uswiotlb.conf" /etc/modprobe.d/uswiotlb-deb-test.conf
	mkinitramfs -o "$img" "$k" 2>/dev/null
	files=$(lsinitramfs "$img" 2>/dev/null)
	n=$(grep -c 'updates/dkms/uswiotlb.ko' <<<"$files" || true)
	check initramfs-hook "enabled, $k's initramfs has uswiotlb.ko ($n) and the softdep" \
		[ "$n" = 1 ] && grep -q 'etc/modprobe.d/uswiotlb-deb-test.conf' <<<"$files"
	$sudo rm -f /etc/modprobe.d/uswiotlb-deb-test.conf "$img"
else
	echo "deb-test: no image of $k installed: initramfs hook not tried"
fi

if [ -n "$keep" ]; then
	rm -rf "$keep"
	for k in "${kernels[@]}"; do
		mkdir -p "$keep/lib/modules/$k/updates/dkms"
		cp /lib/modules/"$k"/updates/dkms/uswiotlb.ko* "$keep/lib/modules/$k/updates/dkms/"
	done
	mkdir -p "$keep/etc/modprobe.d"
	cp "$enabled/uswiotlb.conf" "$keep/etc/modprobe.d/"
fi
rm -rf "$enabled"

log=$top/build/deb/purge.log
check purge "apt-get purge uswiotlb-dkms uswiotlb-tools (log: $log)" \
	logged "$log" $sudo apt-get purge -y -qq uswiotlb-dkms uswiotlb-tools
left=$(dkms status uswiotlb 2>/dev/null)
check dkms-gone "dkms status after the purge: '${left}'" [ -z "$left" ]
left=$(ls -d /lib/modules/*/updates/dkms/uswiotlb.ko* /usr/src/uswiotlb-* /var/lib/dkms/uswiotlb \
	"$conf" /usr/sbin/uswiotlb-stat 2>/dev/null || true)
check files-gone "nothing left: '${left//$'\n'/ }'" [ -z "$left" ]
left=$(for k in "${kernels[@]}"; do modinfo -k "$k" -F filename uswiotlb 2>/dev/null || true; done)
check modinfo-gone "modinfo finds no uswiotlb: '$left'" [ -z "$left" ]
trap - EXIT
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
