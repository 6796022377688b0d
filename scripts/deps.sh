#!/bin/bash
# Install what building and testing uswiotlb needs on Debian 12. Idempotent: packages already
# present are not fetched again, so cached runs spend no time here.
set -euo pipefail

pkgs=(
	build-essential bc bison flex libelf-dev libssl-dev dwarves python3 rsync kmod cpio xz-utils
	busybox-static qemu-system-x86 qemu-utils
	linux-source-6.12 linux-headers-6.12.117+deb12-amd64 linux-headers-6.1.0-56-amd64
	xen-hypervisor-4.17-amd64
	g++ cmake libgtest-dev libbenchmark-dev clang libclang-rt-14-dev
)

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo=sudo
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# Installing the hypervisor package must not touch the host's bootloader.
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
