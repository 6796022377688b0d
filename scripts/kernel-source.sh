#!/bin/bash
# Unpack Debian's linux-source-SERIES (default 6.12) once into the cache and print its path.
#
#   scripts/kernel-source.sh [SERIES]
set -euo pipefail

cache=${USWIOTLB_CACHE:-$HOME/.cache/uswiotlb}
srcpkg=linux-source-${1:-6.12}
tarball=/usr/src/$srcpkg.tar.xz
ver=$(dpkg-query -W -f='${Version}' "$srcpkg")
dir=$cache/src/$srcpkg-$ver

mkdir -p "$cache/src"
# Two builds started together (a kernel and the host tools) must not unpack over each other.
exec 9>"$cache/src/.lock"
flock 9
if [ ! -f "$dir/.uswiotlb-unpacked" ]; then
	echo "kernel-source: unpacking $tarball" >&2
	rm -rf "$dir"
	mkdir -p "$dir"
	tar -C "$dir" --strip-components=1 -xf "$tarball"
	touch "$dir/.uswiotlb-unpacked"
fi
echo "$dir"
