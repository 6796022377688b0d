#!/bin/bash
# `make build-matrix`: build the module (W=1, any warning fails) against the oldest and the
# newest 6.1.0-N and 6.12.x amd64 headers that apt offers now, so that a compat probe that breaks
# on a point release Debian ships shows up before a user's DKMS build does.
#
#   scripts/build-matrix.sh
#
# Each kernel's linux-headers-KREL, linux-headers-ABI-common and linux-kbuild-* are fetched with
# `apt-get download` and unpacked together into ~/.cache/uswiotlb/matrix/KREL-VERSION/ (nothing is
# installed); the module is built in matrix/build/KREL. Prints "ok KREL (VERSION, kbuild
# KBUILD-VERSION)" or "FAIL ..." per kernel and ends with "N passed, N failed". USW_SRC builds
# another source tree, as in build-module.sh.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cache=${USWIOTLB_CACHE:-$HOME/.cache/uswiotlb}/matrix
# shellcheck source=lib/debs.sh
. "$(dirname "$0")/lib/debs.sh"

# linux-kbuild's programs (fixdep, modpost) are amd64 binaries.
if [ "$(dpkg --print-architecture)" != amd64 ]; then
	echo "build-matrix: needs an amd64 host" >&2
	exit 2
fi

# The generic flavour only: cloud and rt are the same sources with other configs.
offered() {
	apt-cache search --names-only '^linux-headers-6\.(1\.0-[0-9]+|12\.[0-9]+\+deb12)-amd64$' |
		cut -d' ' -f1
}
mapfile -t pkgs < <(offered)
if [ ${#pkgs[@]} -eq 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	$sudo apt-get update -qq
	mapfile -t pkgs < <(offered)
fi

# apt-cache takes ~0.7 s a call here: each question is asked once, for all packages.
madison=""
[ ${#pkgs[@]} -eq 0 ] || madison=$(apt-cache madison "${pkgs[@]}")
# newest_of PKG [OP VERSION]: the newest version of PKG in the apt lists ($madison: not the
# installed one, which may be gone from the archive), or only among those satisfying OP VERSION.
newest_of() {
	local best="" v
	while read -r v; do
		[ $# -lt 3 ] || dpkg --compare-versions "$v" "$2" "$3" || continue
		[ -z "$best" ] || dpkg --compare-versions "$v" gt "$best" || continue
		best=$v
	done < <(awk -F' *[|] *' -v p="$1" '{ sub(/^ +/, "", $1) } $1 == p { print $2 }' \
		<<<"$madison")
	echo "$best"
}

# 6.1: the ABI number N orders them. 6.12: the package version does (6.12.9 < 6.12.10).
series_61=$(printf '%s\n' "${pkgs[@]}" | grep -E '^linux-headers-6\.1\.0-' | sort -t- -k4,4n ||
	true)
pick=()
[ -z "$series_61" ] || pick+=("$(head -n 1 <<<"$series_61")" "$(tail -n 1 <<<"$series_61")")
oldest="" newest="" lo="" hi=""
for p in "${pkgs[@]}"; do
	[[ $p == linux-headers-6.12.* ]] || continue
	v=$(newest_of "$p")
	if [ -z "$oldest" ] || dpkg --compare-versions "$v" lt "$lo"; then oldest=$p lo=$v; fi
	if [ -z "$newest" ] || dpkg --compare-versions "$v" gt "$hi"; then newest=$p hi=$v; fi
done
[ -z "$oldest" ] || pick+=("$oldest" "$newest")
# Only one of a series offered: it is both the oldest and the newest.
mapfile -t pick < <(printf '%s\n' "${pick[@]}" | awk 'NF && !seen[$0]++')

# Depends: linux-headers-ABI-common (= VER), linux-kbuild-6.1 (>= VER) or
# linux-kbuild-6.12.N+deb12 (any): "PKG VER DEPENDS" for each, then the kbuilds' versions.
specs=()
for pkg in "${pick[@]}"; do specs+=("$pkg=$(newest_of "$pkg")"); done
deps=""
[ ${#specs[@]} -eq 0 ] || deps=$(apt-cache show "${specs[@]}" | awk '
	/^Package: / { p = $2 } /^Version: / { v = $2 }
	/^Depends: / { sub(/^Depends: /, ""); gsub(/ /, ""); print p, v, $0 }')
mapfile -t kbuilds < <(grep -oE 'linux-kbuild-[^,(]+' <<<"$deps" | sort -u)
[ ${#kbuilds[@]} -eq 0 ] || madison+=$'\n'$(apt-cache madison "${kbuilds[@]}")

passed=0 failed=0
fail() { echo "FAIL $*"; failed=$((failed + 1)); }
[ -n "$series_61" ] || fail "6.1: apt offers no linux-headers-6.1.0-N-amd64"
[ -n "$oldest" ] || fail "6.12: apt offers no linux-headers-6.12.N+deb12-amd64"
mkdir -p "$cache/build"
keep=()
# Their own -j: a parent make's flags (a jobserver, -s) mean nothing to these builds.
MAKEFLAGS=-j$(nproc)
export MAKEFLAGS
for pkg in "${pick[@]}"; do
	krel=${pkg#linux-headers-}
	read -r _ ver dep < <(awk -v p="$pkg" '$1 == p' <<<"$deps") || true
	common=$(grep -oE 'linux-headers-[^,(]+-common' <<<"$dep" | head -n 1 || true)
	kb_dep=$(grep -oE 'linux-kbuild-[^,]+' <<<"$dep" | head -n 1 || true)
	kbuild=${kb_dep%%(*}
	# "(>=6.1.170-3)" -> "ge 6.1.170-3": what apt would install with these headers.
	rel=$(sed -nE 's/.*\((>=|<=|>>|<<|=)(.+)\)$/\1 \2/p' <<<"$kb_dep" |
		sed -e 's/^>>/gt/' -e 's/^<</lt/' -e 's/^>=/ge/' -e 's/^<=/le/' -e 's/^=/eq/')
	# shellcheck disable=SC2086 # "OP VERSION", or nothing
	kbver=$(newest_of "$kbuild" $rel)
	if [ -z "$common" ] || [ -z "$kbuild" ] || [ -z "$kbver" ]; then
		fail "$krel (${ver:-?}): no common headers or kbuild to go with it" \
			"(Depends: ${dep:-?})"
		continue
	fi
	# 6.1's kbuild is shared by every ABI and moves on its own: both versions key the cache.
	dir=$cache/$krel-$ver
	[ "$kbver" = "$ver" ] || dir+=+kbuild-$kbver
	kdir=$dir/usr/src/$pkg
	keep+=("$dir")
	if [ ! -f "$dir/.uswiotlb-unpacked" ]; then
		echo "build-matrix: fetching $pkg $ver, $common, $kbuild $kbver" >&2
		if ! err=$(debs_unpack "$dir" "$pkg:amd64=$ver" "$common=$ver" \
			"$kbuild:amd64=$kbver" 2>&1); then
			fail "$krel ($ver): apt-get download failed: ${err//$'\n'/ }"
			continue
		fi
		# The flavour's Makefile includes /usr/src/linux-headers-ABI-common/Makefile, which
		# sets srctree (where compat.mk probes): that of the host, if any, must not be used.
		sed -i "s|^include /usr/src/|include $dir/usr/src/|" "$kdir/Makefile"
		# scripts/ and tools/ point at ../../lib/linux-kbuild-*: inside the tree already;
		# should one be absolute, it is taken into the tree too.
		while IFS= read -r l; do
			t=$(readlink "$l")
			[ "${t#/}" = "$t" ] || ln -sfn "$dir$t" "$l"
		done < <(find "$dir/usr/src" -maxdepth 2 -type l)
		bad=""
		for l in "$dir"/usr/src/*/scripts "$dir"/usr/src/*/tools; do
			t=$(readlink -f "$l")
			[[ $t == "$dir"/* ]] && [ -e "$t" ] || bad+=" $l"
		done
		inc=$(sed -n 's/^include //p' "$kdir/Makefile")
		[[ $inc == "$dir"/* ]] && [ -f "$inc" ] || bad+=" $kdir/Makefile"
		if [ -n "$bad" ]; then
			fail "$krel ($ver): unpacked tree points outside itself:$bad"
			continue
		fi
		touch "$dir/.uswiotlb-unpacked"
	fi
	log=$cache/build/$krel.log
	if "$top/scripts/build-module.sh" "$kdir" "$cache/build/$krel" >"$log" 2>&1; then
		echo "ok $krel ($ver, kbuild $kbver)"
		passed=$((passed + 1))
	else
		sed 's/^/    /' "$log"
		fail "$krel ($ver, kbuild $kbver): build or W=1 warnings, log: $log"
	fi
done
# Trees of versions apt no longer picks are dead keys: ~90 MB each.
for d in "$cache"/*/; do
	d=${d%/}
	[ "$d" != "$cache/build" ] || continue
	[[ " ${keep[*]} " == *" $d "* ]] || rm -rf "$d"
done
for d in "$cache"/build/*; do
	k=$(basename "${d%.log}")
	[[ " ${pick[*]} " == *" linux-headers-$k "* ]] || rm -rf "$d"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
