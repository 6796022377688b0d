#!/bin/bash
# Build the uswiotlb test kernel from Debian's linux-source package, cached by content.
#
#   scripts/build-kernel.sh [ARCH[-FRAG]...[@SERIES]]   ARCH: x86_64 (default) or arm64
#
# Each -FRAG adds config/FRAG.config on top of ARCH's fragment, later ones winning: -debug
# (KASAN, lockdep, kmemleak, UBSAN, fault injection, ...) is the kernel `make check-debug` runs
# in, -debug-nokasan the same without KASAN, for the Xen PV dom0. @SERIES builds Debian's
# linux-source-SERIES instead of 6.12, e.g. x86_64@6.1 (with config/SERIES.config last, if any).
#
# Prints the build directory (usable as KDIR) on stdout. The cache key covers the source
# package version, the config fragments and this script, so any change rebuilds.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
variant=${1:-x86_64}
series=6.12
case $variant in *@*) series=${variant#*@} ;; esac
IFS=- read -r -a parts <<<"${variant%@*}"
arch=${parts[0]}
cache=${USWIOTLB_CACHE:-$HOME/.cache/uswiotlb}
srcpkg=linux-source-$series
frags=()
for p in "${parts[@]}"; do
	[ -f "$here/config/$p.config" ] || { echo "build-kernel: no config/$p.config" >&2; exit 2; }
	frags+=("$here/config/$p.config")
done
[ ! -f "$here/config/$series.config" ] || frags+=("$here/config/$series.config")
jobs=${JOBS:-$(nproc)}

case $arch in
x86_64) karch=x86_64; cross=""; image=arch/x86/boot/bzImage ;;
arm64) karch=arm64; cross=aarch64-linux-gnu-; image=arch/arm64/boot/Image ;;
*) echo "build-kernel: unknown arch '$variant'" >&2; exit 2 ;;
esac

src=$("$here/kernel-source.sh" "$series")
ver=$(dpkg-query -W -f='${Version}' "$srcpkg")
key=$( { echo "$ver"; cat "${frags[@]}" "$0"; } | sha256sum | cut -c1-16)
out=$cache/kernel-$variant-$key

if [ -f "$out/.uswiotlb-built" ]; then
	echo "$out"
	exit 0
fi

echo "build-kernel: building $srcpkg $ver for $variant in $out (cached afterwards)" >&2
rm -rf "$out"
mkdir -p "$out"
# Later fragments override earlier ones, as with the kernel's merge_config.sh.
fragment() { cat "${frags[@]}" | grep -v '^#' | sed '/^$/d' | tac | awk -F= '!seen[$1]++' | tac; }
fragment >"$out/.config"
mk=(make -s -C "$src" O="$out" ARCH="$karch" ${cross:+CROSS_COMPILE=$cross})
"${mk[@]}" olddefconfig >&2

# olddefconfig silently drops options whose dependencies are missing: make that loud.
missing=0
while IFS= read -r line; do
	case $line in
	*=n) opt=${line%=n}; grep -q "^$opt=" "$out/.config" && { echo "build-kernel: $opt still set" >&2; missing=1; } ;;
	*) grep -qx "$line" "$out/.config" || { echo "build-kernel: $line did not stick" >&2; missing=1; } ;;
	esac
done < <(fragment)
[ $missing -eq 0 ] || exit 1

start=$(date +%s)
"${mk[@]}" -j"$jobs" >&2
echo "build-kernel: built in $(( $(date +%s) - start )) s" >&2
test -f "$out/$image"
touch "$out/.uswiotlb-built"
echo "$out"
