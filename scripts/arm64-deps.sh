#!/bin/bash
# Fetch the arm64 binaries the arm64 test runs need from Debian's arm64 archive, without
# installing anything on the host: Xen 4.17 (xen-hypervisor-4.17-arm64) and a static busybox
# for the initramfs (busybox-static). Each package is unpacked with dpkg-deb into
# ~/.cache/uswiotlb/{xen,busybox}-arm64-<version>/, once; cached runs print nothing, fetch
# nothing and do not ask apt (a newer version is fetched only after the old one is removed).
#
#   scripts/arm64-deps.sh            fetch both (called by scripts/deps.sh)
#   scripts/arm64-deps.sh xen        ... and print the path of the Xen image (for QEMU's -kernel)
#   scripts/arm64-deps.sh busybox    ... and print the path of the static busybox
#
# The first fetch adds arm64 as a foreign dpkg architecture and refreshes the package lists.
set -euo pipefail

cache=${USWIOTLB_CACHE:-$HOME/.cache/uswiotlb}
what=${1:-all}
case $what in
all | xen | busybox) ;;
*) sed -n '8,10s/^# *//p' "$0" >&2; exit 2 ;;
esac

sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo

# Candidate version of PKG for arm64 from the local package lists ("" if unknown there).
candidate() {
	apt-cache policy "$1:arm64" 2>/dev/null | sed -n 's/^ *Candidate: //p' | grep -v '^(none)$' || true
}

# fetch NAME PKG FILE: print the path of FILE from PKG:arm64, unpacked in $cache/NAME-VERSION/.
# Whatever version is already there is used (asking apt costs seconds); a new one is fetched
# only into an empty cache.
fetch() {
	local name=$1 pkg=$2 file=$3 have ver dir dl tmp
	have=$(printf '%s\n' "$cache/$name"-*/"$file" | sort -V | tail -1)
	[ ! -f "$have" ] || { echo "$have"; return; }
	ver=$(candidate "$pkg")
	if [ -z "$ver" ]; then
		if ! dpkg --print-foreign-architectures | grep -qx arm64; then
			echo "arm64-deps: adding arm64 as a foreign dpkg architecture" >&2
			$sudo dpkg --add-architecture arm64
		fi
		$sudo apt-get update -qq
		ver=$(candidate "$pkg")
	fi
	[ -n "$ver" ] || { echo "arm64-deps: no arm64 candidate for $pkg" >&2; return 1; }
	dir=$cache/$name-${ver//[:~]/_}
	echo "arm64-deps: fetching $pkg:arm64 $ver into $dir" >&2
	mkdir -p "$cache"
	# apt downloads as its unprivileged _apt user, which must be able to write there.
	dl=$(mktemp -d)
	chmod 0777 "$dl"
	tmp=$(mktemp -d "$cache/.fetch.XXXXXX")
	if ! (cd "$dl" && apt-get download -qq "$pkg:arm64=$ver" >/dev/null) ||
		! dpkg-deb -x "$dl"/*.deb "$tmp" || [ ! -f "$tmp/$file" ]; then
		rm -rf "$dl" "$tmp"
		echo "arm64-deps: could not fetch $file from $pkg:arm64 $ver" >&2
		return 1
	fi
	rm -rf "$dl" "$dir"
	mv "$tmp" "$dir"
	echo "$dir/$file"
}

xen=$(fetch xen-arm64 xen-hypervisor-4.17-arm64 boot/xen-4.17-arm64)
busybox=$(fetch busybox-arm64 busybox-static bin/busybox)
case $what in
xen) echo "$xen" ;;
busybox) echo "$busybox" ;;
esac
