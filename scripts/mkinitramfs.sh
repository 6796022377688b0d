#!/bin/bash
# Build the test initramfs: static busybox, scripts/init/init as /init, and the given modules
# with their insmod arguments, loaded by /init in command-line order.
#
#   scripts/mkinitramfs.sh -o OUT.cpio [-i INIT] [-f SRC:DEST]... [-- MOD1.ko [ARGS...] [-- ...]]
#
#   -i INIT      use INIT as /init instead of scripts/init/init
#   -f SRC:DEST  add file SRC as DEST (executables stay executable); parent directories of
#                DEST are created
#
# The archive is written with the kernel's own usr/gen_init_cpio, so device nodes need no root,
# and left uncompressed: it is small, and decompressing under TCG costs more than reading it.
# The modules change every run, so only the gen_init_cpio binary is cached.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
cache=${USWIOTLB_CACHE:-$HOME/.cache/uswiotlb}
busybox=${BUSYBOX:-/bin/busybox}

usage() { sed -n '5,9p' "$0" | sed 's/^# *//' >&2; exit 2; }

out="" init=$here/init/init
files=()
while [ $# -gt 0 ]; do
	case $1 in
	-o) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
	-i) [ $# -ge 2 ] || usage; init=$2; shift 2 ;;
	-f) [ $# -ge 2 ] && [[ $2 == ?*:/?* ]] || usage; files+=("$2"); shift 2 ;;
	--) break ;;
	*) usage ;;
	esac
done
[ -n "$out" ] || usage

# A dynamically linked busybox would fail as /init with a bare "No working init found".
[ -f "$busybox" ] && ! readelf -lW "$busybox" 2>/dev/null | grep -q 'program interpreter' ||
	{ echo "mkinitramfs: $busybox is not statically linked (install busybox-static)" >&2; exit 1; }
# Everything must be built for the guest's machine: a foreign busybox only shows up as a bare
# "No working init found" and a foreign module as insmod's "Exec format error".
machine_of() { readelf -h "$1" 2>/dev/null | sed -n 's/^ *Machine: *//p'; }
machine=$(machine_of "$busybox")

src=$("$here/kernel-source.sh")
gen_src=$src/usr/gen_init_cpio.c
gen=$cache/tools/gen_init_cpio-$(sha256sum "$gen_src" | cut -c1-16)
if [ ! -x "$gen" ]; then
	mkdir -p "$(dirname "$gen")"
	cc -O2 -o "$gen.tmp" "$gen_src"
	mv "$gen.tmp" "$gen"
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
spec=$tmp/spec
cat >"$spec" <<EOF
dir /dev 0755 0 0
nod /dev/console 0600 0 0 c 5 1
nod /dev/null 0666 0 0 c 1 3
dir /bin 0755 0 0
dir /proc 0755 0 0
dir /sys 0755 0 0
dir /tmp 1777 0 0
dir /modules 0755 0 0
file /bin/busybox $busybox 0755 0 0
slink /bin/sh busybox 0777 0 0
file /init $(realpath "$init") 0755 0 0
EOF

declare -A dirs=([/dev]=1 [/bin]=1 [/proc]=1 [/sys]=1 [/tmp]=1 [/modules]=1)
for f in "${files[@]}"; do
	src=${f%%:*} dest=${f#*:}
	[ -f "$src" ] || { echo "mkinitramfs: no such file: $src" >&2; exit 1; }
	d=$(dirname "$dest") parents=()
	while [ "$d" != / ] && [ -z "${dirs[$d]:-}" ]; do
		dirs[$d]=1
		parents=("$d" "${parents[@]}")
		d=$(dirname "$d")
	done
	for d in "${parents[@]}"; do echo "dir $d 0755 0 0" >>"$spec"; done
	mode=0644
	[ ! -x "$src" ] || mode=0755
	echo "file $dest $(realpath "$src") $mode 0 0" >>"$spec"
done

# Modules: "--" separates groups, the first word of a group is the .ko, the rest its arguments.
n=0
while [ $# -gt 0 ]; do
	[ "$1" = -- ] || usage
	shift
	[ $# -gt 0 ] && [ "$1" != -- ] || { echo "mkinitramfs: empty module group" >&2; exit 2; }
	ko=$1
	shift
	[ -f "$ko" ] || { echo "mkinitramfs: no such module: $ko" >&2; exit 1; }
	m=$(machine_of "$ko")
	[ "$m" = "$machine" ] || { echo "mkinitramfs: $ko is for ${m:-?} but busybox ($busybox)" \
		"for $machine: wrong kernel for the module, or BUSYBOX not the guest's" >&2; exit 1; }
	n=$((n + 1))
	# The module's real name (what rmmod wants) is in its modinfo, not necessarily its file name.
	name=$(modinfo -F name "$ko" 2>/dev/null || true)
	[ -n "$name" ] || { name=$(basename "$ko" .ko); name=${name//-/_}; }
	base=$(printf '%02d-%s' "$n" "$name")
	: >"$tmp/$base.args"
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		printf '%s\n' "$1" >>"$tmp/$base.args"
		shift
	done
	echo "file /modules/$base.ko $(realpath "$ko") 0644 0 0" >>"$spec"
	echo "file /modules/$base.args $tmp/$base.args 0644 0 0" >>"$spec"
done

"$gen" "$spec" >"$out.tmp"
mv "$out.tmp" "$out"
