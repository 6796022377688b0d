#!/bin/bash
# Unpack one of Debian's stock kernel images (or, with --headers, its headers) into the cache and
# print the directory.
#
#   scripts/stock-kernel.sh [--headers] 6.12|6.1|6.12-arm64|KERNELRELEASE
#
# The package is fetched with `apt-get download` and unpacked with dpkg-deb: nothing is installed,
# so the host's /boot and bootloader stay untouched. The directory holds boot/vmlinuz-KREL and
# lib/modules/KREL/ with a modules.dep made by depmod; it is keyed by package version.
#
# --headers is for arm64 (amd64 headers are installed by deps.sh): it prints the kernel build
# directory of linux-headers-KREL, whose scripts/ and tools/ point at the host's (amd64)
# linux-kbuild of the same version, as Debian's packages do for a cross build.
set -euo pipefail

cache=${USWIOTLB_CACHE:-$HOME/.cache/uswiotlb}
# shellcheck source=lib/debs.sh
. "$(dirname "$0")/lib/debs.sh"

what=image
[ "${1-}" != --headers ] || { what=headers; shift; }
case ${1-} in
6.12 | 6.1 | 6.12-arm64) krel=$("$(dirname "$0")/kernels.sh" "$1") ;;
[0-9]*-amd64 | [0-9]*-arm64) krel=$1 ;;
*) echo "usage: $0 [--headers] 6.12|6.1|6.12-arm64|KERNELRELEASE" >&2; exit 2 ;;
esac
arch=${krel##*-}
if [ "$what" = headers ]; then
	[ "$arch" = arm64 ] || { echo "stock-kernel: amd64 headers come from deps.sh" >&2; exit 2; }
	pkg=linux-headers-$krel
else
	pkg=linux-image-$krel
fi

version() {
	apt-cache show --no-all-versions "$pkg:$arch" 2>/dev/null | sed -n 's/^Version: //p' | head -n 1
}
ver=$(version)
if [ -z "$ver" ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	ver=$(version)
fi
[ -n "$ver" ] || { echo "stock-kernel: $pkg:$arch is not in the apt lists" >&2; exit 1; }
dir=$cache/stock/$pkg-$ver
build=$dir/usr/src/$pkg
kbuild=/usr/lib/linux-kbuild-${krel%-*}
if [ "$what" = headers ] && [ ! -d "$kbuild/scripts" ]; then
	echo "stock-kernel: no $kbuild on the host" >&2
	exit 1
fi

if [ ! -f "$dir/.uswiotlb-unpacked" ]; then
	echo "stock-kernel: fetching $pkg:$arch $ver" >&2
	debs_unpack "$dir" "$pkg:$arch=$ver"
	if [ "$what" = headers ]; then
		ln -sfn "$kbuild/scripts" "$build/scripts"
		ln -sfn "$kbuild/tools" "$build/tools"
	else
		depmod -b "$dir" "$krel"
	fi
	touch "$dir/.uswiotlb-unpacked"
fi
if [ "$what" = headers ]; then
	echo "$build"
	exit 0
fi
[ -f "$dir/boot/vmlinuz-$krel" ] || { echo "stock-kernel: no vmlinuz in $dir" >&2; exit 1; }
echo "$dir"
