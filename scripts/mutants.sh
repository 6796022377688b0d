#!/bin/bash
# make mutants: apply each one-line mutant of scripts/mutants.txt to a copy of the tree, rebuild,
# and run the tests that must catch it. Reports which were killed and which survived; exit 1 if
# any survived, no longer applies, or the unmutated tree fails a run it needs (then the verdicts
# would mean nothing). Not part of `make check`: one to five minutes a mutant under TCG.
#
#   scripts/mutants.sh [NAME...]     only the named mutants (default: all)
#   scripts/mutants.sh --check       only check that every mutant still applies (make check)
#
# Logs: .results/mutants/NAME/ (and base-WHERE/ for the unmutated runs).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
list=scripts/mutants.txt
demo_krel=$(scripts/kernels.sh 6.12)
out=$top/.results/mutants
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$out"

# name, where, file, after, from, to: one record per mutant, fields separated by \x1f.
records() {
	python3 - "$list" <<-'EOF'
	import sys
	blocks, cur = [], {}
	for line in open(sys.argv[1]).read().split("\n") + [""]:
	    if line.startswith("#"):
	        continue
	    if not line.strip():
	        if cur:
	            blocks.append(cur)
	        cur = {}
	        continue
	    key, _, val = line.partition(":")
	    cur[key.strip()] = val.strip()
	for b in blocks:
	    print("\x1f".join(b.get(k, "") for k in ("name", "where", "file", "after", "from", "to")))
	EOF
}

# apply TREE FILE AFTER FROM TO: replace the one line matching FROM (indentation aside).
apply() {
	python3 - "$@" <<-'EOF'
	import sys
	tree, path, after, old, new = sys.argv[1:]
	lines = open(f"{tree}/{path}").read().split("\n")
	start = 0
	if after:
	    start = next((i for i, l in enumerate(lines) if after in l), None)
	    if start is None:
	        sys.exit(f"no line containing '{after}'")
	hits = [i for i in range(start, len(lines)) if lines[i].strip() == old]
	if after:
	    hits = hits[:1]
	if len(hits) != 1:
	    sys.exit(f"'{old}' matches {len(hits)} lines of {path}")
	i = hits[0]
	lines[i] = lines[i][: len(lines[i]) - len(lines[i].lstrip())] + new
	open(f"{tree}/{path}", "w").write("\n".join(lines))
	EOF
}

kdir() { # WHERE: the test kernel that run needs
	case $1 in
	qemu | xen) scripts/build-kernel.sh x86_64 ;;
	arm64 | arm64-xen) scripts/build-kernel.sh arm64 ;;
	faults) scripts/build-kernel.sh x86_64-debug ;;
	esac
}

# run WHERE TREE LABEL: the tests of WHERE on TREE; status 0 if they all pass, 3 if the tree
# does not build cleanly.
run() {
	local where=$1 tree=$2 label=$3 k rk=()
	if [ "$where" = demo ]; then
		# The demo on Debian's stock 6.12, as make check runs it.
		"$tree/scripts/build-module.sh" "/usr/src/linux-headers-$demo_krel" \
			>"$out/$label/build.log" 2>&1 || return 3
		make -s -C "$tree/tools" workload >>"$out/$label/build.log" 2>&1 || return 3
		"$tree/scripts/run-demo.sh" --krel "$demo_krel" --module "$tree/src/uswiotlb.ko" \
			--tools "$tree/tools/build/workload" --results "$out/$label" --name run \
			</dev/null >"$out/$label/run.log" 2>&1
		return
	fi
	if [ "$where" = build ]; then
		# The mutant is a build problem (e.g. a modpost warning) that must fail the build.
		"$tree/scripts/build-module.sh" "$(kdir qemu)" >"$out/$label/build.log" 2>&1
		return
	fi
	if [ "$where" = host ]; then
		make -C "$tree/tools" all workload </dev/null >"$out/$label/build.log" 2>&1 || return 3
		# A mutant may make the model loop forever: that is a kill too.
		timeout 300 make -C "$tree/tools" check </dev/null >"$out/$label/host.log" 2>&1
		return
	fi
	k=$(kdir "$where")
	"$tree/scripts/build-module.sh" "$k" >"$out/$label/build.log" 2>&1 || return 3
	rk=("$tree/scripts/run-kunit.sh" --mem 6G --kdir "$k" --results "$out/$label" --name run
		--timeout 1500)
	case $where in
	qemu) rk+=(--mode qemu --skips kunit-qemu --qemu-args
		"-M q35 -device intel-iommu -device pci-testdev") ;;
	xen) rk+=(--mode xen --skips kunit-xen --probe --qemu-args "-device pci-testdev") ;;
	arm64) rk+=(--arch arm64 --mode qemu --skips kunit-arm64-qemu --probe) ;;
	arm64-xen) rk+=(--arch arm64 --mode xen --skips kunit-arm64-xen --probe) ;;
	faults) rk+=(--mode qemu --skips kunit-debug-qemu --faults --filter uswiotlb_control
		--qemu-args "-M q35 -device pci-testdev") ;;
	esac
	"${rk[@]}" -- "$tree/src/uswiotlb.ko" pool_size=8M -- "$tree/kunit/uswiotlb_kunit.ko" </dev/null \
		>"$out/$label/run.log" 2>&1
}

copy_tree() { # DIR
	mkdir -p "$1"
	cp -r Kbuild Makefile src kunit bench scripts tools "$1/"
	rm -rf "$1/tools/build"
}

if [ "${1-}" = --check ]; then
	n=0 bad=0
	copy_tree "$work/c"
	while IFS=$'\x1f' read -r name where file after from to; do
		n=$((n + 1))
		case $where in build | host | qemu | xen | arm64 | arm64-xen | faults | demo) ;; *)
			echo "mutants: $name: unknown where '$where'"; bad=$((bad + 1)); continue ;;
		esac
		# Each on a fresh copy of its file: mutants of one line must each apply alone.
		cp "$file" "$work/c/$file"
		if ! apply "$work/c" "$file" "$after" "$from" "$to"; then
			echo "mutants: $name: does not apply"
			bad=$((bad + 1))
		fi
	done < <(records)
	echo "mutants: $n listed, $((n - bad)) apply"
	[ "$bad" -eq 0 ] && [ "$n" -gt 0 ]
	exit
fi

scripts/deps.sh >/dev/null
declare -A base=()
killed=0 survived=0 broken=0
while IFS=$'\x1f' read -r name where file after from to; do
	if [ $# -gt 0 ] && ! printf '%s\n' "$@" | grep -qx "$name"; then
		continue
	fi
	if [ -z "${base[$where]:-}" ]; then
		rm -rf "$out/base-$where" "$work/base"
		mkdir -p "$out/base-$where"
		copy_tree "$work/base"
		if run "$where" "$work/base" "base-$where"; then
			base[$where]=ok
		else
			base[$where]=fail
			echo "mutants: the unmutated tree fails the $where run (logs: $out/base-$where)"
		fi
		rm -rf "$work/base"
	fi
	if [ "${base[$where]}" != ok ]; then
		echo "mutants: $name: not judged ($where fails without it)"
		broken=$((broken + 1))
		continue
	fi
	rm -rf "${out:?}/${name:?}" "$work/m"
	mkdir -p "$out/$name"
	copy_tree "$work/m"
	if ! err=$(apply "$work/m" "$file" "$after" "$from" "$to" 2>&1); then
		echo "mutants: $name: does not apply: $err"
		broken=$((broken + 1))
		continue
	fi
	start=$(date +%s)
	rc=0
	run "$where" "$work/m" "$name" || rc=$?
	# For a build mutant, failing the build is the kill.
	[ "$where" = build ] && [ "$rc" != 0 ] && rc=1
	if [ "$rc" = 0 ]; then
		echo "mutants: $name ($where): SURVIVED ($(($(date +%s) - start)) s)"
		survived=$((survived + 1))
	elif [ "$rc" = 3 ]; then
		# A mutant the compiler (W=1) rejects proves nothing about the tests.
		echo "mutants: $name: does not build cleanly: $(grep -m1 -E 'error|warning' \
			"$out/$name/build.log")"
		broken=$((broken + 1))
	else
		# The first reason: a failed check or case, a failed host test, or the build.
		how=$(cat "$out/$name"/{run,host,build}.log 2>/dev/null |
			grep -E '^run-(kunit|demo): FAIL|^\[  FAILED  \]|^build-module: .*(failed|warnings)' |
			head -1 || true)
		echo "mutants: $name ($where): killed ($(($(date +%s) - start)) s) ${how:+- $how}"
		killed=$((killed + 1))
	fi
	rm -rf "$work/m"
done < <(records)
echo "mutants: $killed killed, $survived survived, $broken not judged"
[ "$survived" -eq 0 ] && [ "$broken" -eq 0 ]
