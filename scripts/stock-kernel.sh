#!/bin/bash
# Unpack one of Debian's stock kernel images into the cache and print the directory.
#
#   scripts/stock-kernel.sh 6.12|6.1|KERNELRELEASE
#
# The package is fetched with `apt-get download` and unpacked with dpkg-deb: nothing is installed,
# so the host's /boot and bootloader stay untouched. The directory holds boot/vmlinuz-KREL and
# lib/modules/KREL/ with a modules.dep made by depmod; it is keyed by package version.
set -euo pipefail

cache=${USWIOTLB_CACHE:-$HOME/.cache/uswiotlb}
# shellcheck source=lib/debs.sh
. "$(dirname "$0")/lib/debs.sh"

case ${1-} in
6.12) krel=6.12.117+deb12-amd64 ;;
6.1) krel=6.1.0-56-amd64 ;;
[0-9]*-amd64) krel=$1 ;;
*) echo "usage: $0 6.12|6.1|KERNELRELEASE" >&2; exit 2 ;;
esac
pkg=linux-image-$krel

ver=$(apt-cache show --no-all-versions "$pkg" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1)
if [ -z "$ver" ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	ver=$(apt-cache show --no-all-versions "$pkg" | sed -n 's/^Version: //p' | head -n 1)
fi
[ -n "$ver" ] || { echo "stock-kernel: $pkg is not in the apt lists" >&2; exit 1; }
dir=$cache/stock/$pkg-$ver

if [ ! -f "$dir/.uswiotlb-unpacked" ]; then
	echo "stock-kernel: fetching $pkg $ver" >&2
	debs_unpack "$dir" "$pkg=$ver"
	depmod -b "$dir" "$krel"
	touch "$dir/.uswiotlb-unpacked"
fi
[ -f "$dir/boot/vmlinuz-$krel" ] || { echo "stock-kernel: no vmlinuz in $dir" >&2; exit 1; }
echo "$dir"
