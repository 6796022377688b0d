#!/bin/bash
# Debian's current stock kernel of a series, through its metapackage, so that the project
# follows Debian's point releases instead of an ABI name that Debian's archive drops.
#
#   scripts/kernels.sh SERIES             the KERNELRELEASE, e.g. 6.12.118+deb12-amd64
#   scripts/kernels.sh --describe SERIES  "SERIES KREL (META VERSION)", or "(pinned fallback)"
#
# SERIES: 6.12 (linux-image-6.12-amd64), 6.1 (linux-image-amd64: bookworm's own kernel),
# 6.12-arm64 (linux-image-6.12-arm64). The metapackage's candidate version names the image it
# depends on. Only if apt cannot resolve it (no lists, no such package, a series that moved on)
# is the last release this project was tested on used, with a warning.
set -euo pipefail

describe=0
[ "${1-}" != --describe ] || { describe=1; shift; }
case ${1-} in
6.12) meta=linux-image-6.12-amd64 arch=amd64 pinned=6.12.117+deb12-amd64 ;;
6.1) meta=linux-image-amd64 arch=amd64 pinned=6.1.0-56-amd64 ;;
6.12-arm64) meta=linux-image-6.12-arm64 arch=arm64 pinned=6.12.117+deb12-arm64 ;;
*) echo "usage: $0 [--describe] 6.12|6.1|6.12-arm64" >&2; exit 2 ;;
esac
series=${1%-arm64}

show() { apt-cache show --no-all-versions "$meta:$arch" 2>/dev/null || true; }
info=$(show)
if [ -z "$info" ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq >/dev/null 2>&1 || true
	info=$(show)
fi
ver=$(sed -n 's/^Version: //p' <<<"$info" | head -n 1)
krel=$(sed -n 's/^Depends: .*linux-image-\([^ ,]*\) (.*/\1/p' <<<"$info" | head -n 1)
# The metapackage must still name a kernel of the series (linux-image-amd64 moves on to the next
# Debian release's kernel one day).
if [[ $krel != "$series".* ]] || [[ $krel != *-$arch ]]; then
	echo "kernels: $meta:$arch does not resolve to a $series kernel (got '${krel}')," \
		"using the pinned $pinned" >&2
	krel=$pinned
	ver="pinned fallback"
else
	ver="$meta $ver"
fi
if [ "$describe" = 1 ]; then
	echo "$1 $krel ($ver)"
else
	echo "$krel"
fi
