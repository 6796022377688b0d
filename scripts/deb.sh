#!/bin/bash
# `make deb`: build the Debian packages with Debian's own tooling (debhelper, dh-dkms), from a
# copy of the tracked files, into build/deb/:
#   uswiotlb-dkms_VERSION_all.deb     the module's sources for DKMS, dkms.conf, modprobe.d file,
#                                     initramfs-tools hook
#   uswiotlb-tools_VERSION_ARCH.deb   uswiotlb-stat
# Prints the two paths.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
out=$top/build/deb
ver=$(cd "$top" && dpkg-parsechangelog -S Version)
work=$out/src/uswiotlb-$ver
rm -rf "$out"
mkdir -p "$work"
# What git tracks, so that a dirty build tree never reaches the package.
(cd "$top" && git ls-files -z debian src tools Kbuild README.rst | xargs -0 cp --parents -t "$work")
log=$out/build.log
if ! (cd "$work" && dpkg-buildpackage -b -us -uc) >"$log" 2>&1; then
	tail -n 40 "$log" >&2
	echo "deb: dpkg-buildpackage failed (log: $log)" >&2
	exit 1
fi
mv "$out"/src/*.deb "$out"/
ls "$out"/uswiotlb-dkms_"$ver"_all.deb "$out"/uswiotlb-tools_"$ver"_*.deb
