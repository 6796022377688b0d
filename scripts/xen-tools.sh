#!/bin/bash
# Unpack Debian's Xen toolstack (xl, xenstored, xenconsoled, xenstore-*) and the libraries it
# needs into the cache and print the directory, for a dom0 initramfs (scripts/run-demo.sh
# --guests). Fetched with `apt-get download`, unpacked with dpkg-deb: nothing is installed on
# the host. Keyed by the packages' versions.
#
#   scripts/xen-tools.sh
set -euo pipefail

cache=${USWIOTLB_CACHE:-$HOME/.cache/uswiotlb}
# shellcheck source=lib/debs.sh
. "$(dirname "$0")/lib/debs.sh"
pkgs=(xen-utils-4.17 xenstore-utils libxenmisc4.17 libxencall1 libxenevtchn1
	libxenforeignmemory1 libxengnttab1 libxenstore4 libxentoollog1 libxentoolcore1
	libxendevicemodel1 libxenhypfs1 libyajl2)

want=()
for p in "${pkgs[@]}"; do
	v=$(apt-cache show --no-all-versions "$p" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)
	[ -n "$v" ] || { echo "xen-tools: $p is not in the apt lists" >&2; exit 1; }
	want+=("$p=$v")
done
dir=$cache/xen-tools/$(printf '%s\n' "${want[@]}" | sha256sum | cut -c1-16)
if [ ! -f "$dir/.uswiotlb-unpacked" ]; then
	echo "xen-tools: fetching ${pkgs[*]}" >&2
	debs_unpack "$dir" "${want[@]}"
	touch "$dir/.uswiotlb-unpacked"
fi
echo "$dir"
