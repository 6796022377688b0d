# shellcheck shell=bash
# debs_unpack DIR PKG=VERSION...: fetch Debian packages with `apt-get download` and unpack them
# all into DIR (emptied first) with dpkg-deb; nothing is installed on the host.
debs_unpack() {
	local dir=$1 tmp deb
	shift
	tmp=$(mktemp -d)
	chmod 0777 "$tmp" # apt fetches as its unprivileged _apt user
	if ! (cd "$tmp" && apt-get download -qq "$@"); then
		rm -rf "$tmp"
		return 1
	fi
	rm -rf "$dir"
	mkdir -p "$dir"
	for deb in "$tmp"/*.deb; do
		dpkg-deb -x "$deb" "$dir" || { rm -rf "$tmp"; return 1; }
	done
	rm -rf "$tmp"
}
