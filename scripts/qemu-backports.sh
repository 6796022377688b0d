#!/bin/bash
# Fetch QEMU 10 for arm64 guests from Debian's bookworm-backports, without installing it and
# without touching the host's apt sources, and print the path of its qemu-system-aarch64 (its
# data directory, for -L, is ../share/qemu from there).
#
#   scripts/qemu-backports.sh
#
# Why: QEMU 7.2's NVMe model cannot be told to leave out Doorbell Buffer Config. On an arm64
# Xen dom0 the NVMe has no MSI and runs on INTx; with the driver's shadow doorbells QEMU 7.2
# keeps INTx asserted and Linux disables the interrupt after ~100k spurious ones ("nobody
# cared"). QEMU 10's `-device nvme,dbcs=off` turns the feature off. Only `make demo-arm64`
# uses this QEMU; everything else keeps the host's 7.2.
#
# The chain of trust is apt's: dists/bookworm-backports/InRelease checked by gpgv against
# Debian's archive keyring, the Packages indexes by the SHA256 it lists, each .deb by the SHA256
# its Packages stanza lists. The three packages are unpacked with dpkg-deb into
# ~/.cache/uswiotlb/qemu-VERSION/ once; later runs only print the path.
set -euo pipefail

cache=${USWIOTLB_CACHE:-$HOME/.cache/uswiotlb}
mirror=${USW_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm-backports
version=1:10.0.2+ds-2+deb13u1~bpo12+1
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
# package:architecture of its Packages index
pkgs=(qemu-system-arm:amd64 qemu-system-common:amd64 qemu-system-data:all)

tmp=""
trap '[ -z "$tmp" ] || rm -rf "$tmp" "$dir.tmp"' EXIT
dir=$cache/qemu-${version//[:~]/_}
bin=$dir/usr/bin/qemu-system-aarch64

die() { echo "qemu-backports: $*" >&2; exit 1; }

# get URL FILE: download URL to FILE, failing on any HTTP error.
get() { curl -fsSL --retry 3 -o "$2" "$1" || die "cannot download $1"; }

# check_sha FILE SHA256: FILE's SHA256 must be SHA256.
check_sha() {
	local have
	have=$(sha256sum "$1" | cut -d' ' -f1)
	[ -n "$2" ] && [ "$have" = "$2" ] && return
	die "$(basename "$1"): SHA256 $have, want '${2}'"
}

# release_sha RELEASE PATH: the SHA256 the (verified) Release text lists for PATH.
release_sha() {
	awk -v p="$2" '/^[^ ]/ { in_sha = ($1 == "SHA256:") }
		in_sha && $3 == p { print $1; exit }' "$1"
}

fetch() {
	local arch idx sha pkg name path debsha
	tmp=$(mktemp -d)
	echo "qemu-backports: fetching QEMU $version from $suite into $dir" >&2
	get "$mirror/dists/$suite/InRelease" "$tmp/InRelease"
	# gpgv writes the signed text (without the signature) to --output only if it verifies.
	gpgv --quiet --keyring "$keyring" --output "$tmp/Release" "$tmp/InRelease" 2>"$tmp/gpgv.err" ||
		die "InRelease does not verify against $keyring: $(cat "$tmp/gpgv.err")"
	for arch in amd64 all; do
		idx=main/binary-$arch/Packages.xz
		sha=$(release_sha "$tmp/Release" "$idx")
		get "$mirror/dists/$suite/$idx" "$tmp/Packages-$arch.xz"
		check_sha "$tmp/Packages-$arch.xz" "$sha"
		xz -dc "$tmp/Packages-$arch.xz" >"$tmp/Packages-$arch"
	done
	mkdir -p "$cache"
	rm -rf "$dir.tmp"
	mkdir -p "$dir.tmp"
	for pkg in "${pkgs[@]}"; do
		name=${pkg%:*} arch=${pkg#*:}
		path=$(field "$tmp/Packages-$arch" "$name" Filename)
		debsha=$(field "$tmp/Packages-$arch" "$name" SHA256)
		[ -n "$path" ] || die "$name $version is not in $suite's $arch Packages"
		get "$mirror/$path" "$tmp/$name.deb"
		check_sha "$tmp/$name.deb" "$debsha"
		dpkg-deb -x "$tmp/$name.deb" "$dir.tmp" || die "cannot unpack $name"
	done
	[ -x "$dir.tmp/usr/bin/qemu-system-aarch64" ] || die "no qemu-system-aarch64 in the packages"
	mv "$dir.tmp" "$dir"
}

# field PACKAGES PKG FIELD: FIELD of the stanza of PKG at $version in a Packages file.
field() {
	awk -v pkg="$2" -v ver="$version" -v f="$3:" '
		function done() { if (!out && p == pkg && v == ver && val != "") { print val; out = 1 } }
		/^$/ { done(); p = v = val = ""; next }
		$1 == "Package:" { p = $2 } $1 == "Version:" { v = $2 } $1 == f { val = $2 }
		END { done() }' "$1"
}

[ -x "$bin" ] || fetch
# The binary must run here (its libraries are bookworm's); say so now rather than at boot.
upstream=${version#*:}
upstream=${upstream%%+*}
"$bin" --version 2>&1 | grep -qF "version $upstream" ||
	die "$bin does not run here: $("$bin" --version 2>&1 | head -n 1)"
echo "$bin"
