#!/bin/bash
# Build the uswiotlb test kernel from Debian's linux-source package, cached by content.
#
#   scripts/build-kernel.sh [ARCH]     ARCH: x86_64 (default) or arm64 (cross-built)
#
# Prints the build directory (usable as KDIR) on stdout. The cache key covers the source
# package version, the config fragment and this script, so any change rebuilds.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
arch=${1:-x86_64}
cache=${USWIOTLB_CACHE:-$HOME/.cache/uswiotlb}
srcpkg=linux-source-6.12
frag=$here/config/$arch.config
jobs=${JOBS:-$(nproc)}

case $arch in
x86_64) karch=x86_64; cross=""; image=arch/x86/boot/bzImage ;;
arm64) karch=arm64; cross=aarch64-linux-gnu-; image=arch/arm64/boot/Image ;;
*) echo "build-kernel: unknown arch '$arch'" >&2; exit 2 ;;
esac

src=$("$here/kernel-source.sh")
ver=$(dpkg-query -W -f='${Version}' "$srcpkg")
key=$( { echo "$ver"; cat "$frag" "$0"; } | sha256sum | cut -c1-16)
out=$cache/kernel-$arch-$key

if [ -f "$out/.uswiotlb-built" ]; then
	echo "$out"
	exit 0
fi

echo "build-kernel: building $srcpkg $ver for $arch in $out (cached afterwards)" >&2
rm -rf "$out"
mkdir -p "$out"
grep -v '^#' "$frag" | sed '/^$/d' > "$out/.config"
mk=(make -s -C "$src" O="$out" ARCH="$karch" ${cross:+CROSS_COMPILE=$cross})
"${mk[@]}" olddefconfig >&2

# olddefconfig silently drops options whose dependencies are missing: make that loud.
missing=0
while IFS= read -r line; do
	case $line in
	*=n) opt=${line%=n}; grep -q "^$opt=" "$out/.config" && { echo "build-kernel: $opt still set" >&2; missing=1; } ;;
	*) grep -qx "$line" "$out/.config" || { echo "build-kernel: $line did not stick" >&2; missing=1; } ;;
	esac
done < <(grep -v '^#' "$frag" | sed '/^$/d')
[ $missing -eq 0 ] || exit 1

start=$(date +%s)
"${mk[@]}" -j"$jobs" >&2
echo "build-kernel: built in $(( $(date +%s) - start )) s" >&2
test -f "$out/$image"
touch "$out/.uswiotlb-built"
echo "$out"
