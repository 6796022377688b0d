#!/bin/bash
# Install what building and testing uswiotlb needs on Debian 12. Idempotent: packages already
# present are not fetched again, so cached runs spend no time here. The arm64 binaries (Xen,
# busybox) are not installed but unpacked into the cache by arm64-deps.sh.
set -euo pipefail

pkgs=(
	build-essential bc bison flex libelf-dev libssl-dev dwarves python3 rsync kmod cpio xz-utils
	busybox-static qemu-system-x86 qemu-utils qemu-system-arm gcc-aarch64-linux-gnu
	g++-aarch64-linux-gnu
	sparse # check.sh's C=2 build
	debhelper dh-dkms dkms initramfs-tools # make deb, and deb-test.sh installs what it built
	linux-source-6.12 linux-source-6.1
	# Debian's current 6.12 and 6.1 (scripts/kernels.sh: their metapackages' choice)
	"linux-headers-$("$(dirname "$0")/kernels.sh" 6.12)"
	"linux-headers-$("$(dirname "$0")/kernels.sh" 6.1)"
	xen-hypervisor-4.17-amd64 device-tree-compiler
	curl gpgv debian-archive-keyring # qemu-backports.sh
	g++ cmake libgtest-dev libbenchmark-dev clang libclang-rt-14-dev gnuplot-nox
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -gt 0 ]; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo=sudo
	export DEBIAN_FRONTEND=noninteractive
	$sudo apt-get update -qq
	# Installing the hypervisor package must not touch the host's bootloader.
	$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Xen and a static busybox for the arm64 runs: Debian's arm64 packages, unpacked into the cache.
"$(dirname "$0")/arm64-deps.sh"
