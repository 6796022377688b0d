#!/bin/bash
# Unpack Debian's Xen toolstack (xl, xenstored, xenconsoled, xenstore-*) and the libraries it
# needs into the cache and print the directory, for a dom0 initramfs (scripts/run-demo.sh
# --guests). Fetched with `apt-get download`, unpacked with dpkg-deb: nothing is installed on
# the host. Keyed by the packages' versions.
#
#   scripts/xen-tools.sh [arm64]
#
# arm64: the same packages for an arm64 dom0, plus the C library and the other libraries they
# load (the host's are amd64); boot_xen_tools (scripts/lib/boot.sh) takes what the binaries
# need from the unpacked tree.
set -euo pipefail

cache=${USWIOTLB_CACHE:-$HOME/.cache/uswiotlb}
# shellcheck source=lib/debs.sh
. "$(dirname "$0")/lib/debs.sh"
pkgs=(xen-utils-4.17 xenstore-utils libxenmisc4.17 libxencall1 libxenevtchn1
	libxenforeignmemory1 libxengnttab1 libxenstore4 libxentoollog1 libxentoolcore1
	libxendevicemodel1 libxenhypfs1 libyajl2)
case ${1-} in
'') ;;
arm64)
	# The rest of the readelf NEEDED closure of xl, xenstored, xenconsoled, xen-init-dom0,
	# libxl-save-helper and xenstore on arm64 (libgcc_s: glibc loads it for pthread_cancel).
	pkgs+=(libc6 libgcc-s1 libuuid1 libfdt1 zlib1g)
	pkgs=("${pkgs[@]/%/:arm64}") ;;
*) echo "usage: $0 [arm64]" >&2; exit 2 ;;
esac

want=()
for p in "${pkgs[@]}"; do
	v=$(apt-cache show --no-all-versions "$p" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)
	[ -n "$v" ] || { echo "xen-tools: $p is not in the apt lists" >&2; exit 1; }
	want+=("$p=$v")
done
dir=$cache/xen-tools/${1:+$1-}$(printf '%s\n' "${want[@]}" | sha256sum | cut -c1-16)
if [ ! -f "$dir/.uswiotlb-unpacked" ]; then
	echo "xen-tools: fetching ${pkgs[*]}" >&2
	debs_unpack "$dir" "${want[@]}"
	touch "$dir/.uswiotlb-unpacked"
fi
echo "$dir"
