#!/bin/bash
# Build the module with W=1 against one kernel and fail on any compiler warning.
#
#   scripts/build-module.sh KDIR [BUILD_DIR]
#
# With BUILD_DIR, the sources are copied there first, so builds for several kernels do not
# trample each other's objects in the work tree. USW_SRC names another source tree to build
# (scripts/soak.sh builds older commits that way).
set -euo pipefail

top=${USW_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
kdir=$1
dir=${2:-$top}

if [ "$dir" != "$top" ]; then
	rm -rf "$dir"
	mkdir -p "$dir"
	cp -r "$top/Kbuild" "$top/src" "$top/kunit" "$top/bench" "$dir/"
fi
# A kernel configured for arm64 is built with the cross compiler.
cross=()
if grep -qs '^CONFIG_ARM64=y' "$kdir/.config"; then
	cross=(ARCH=arm64 CROSS_COMPILE=aarch64-linux-gnu-)
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
if ! make -C "$kdir" M="$dir" W=1 "${cross[@]}" modules >"$log" 2>&1; then
	cat "$log"
	echo "build-module: build against $kdir failed" >&2
	exit 1
fi
if grep -qiE '(^|[^a-z])warning:' "$log"; then
	grep -iE -A4 '(^|[^a-z])warning:' "$log"
	echo "build-module: warnings building against $kdir" >&2
	exit 1
fi
echo "build-module: $(basename "$(dirname "$kdir/x")") ok: $(cd "$dir" && ls src/*.ko kunit/*.ko bench/*.ko 2>/dev/null | tr '\n' ' ')"
