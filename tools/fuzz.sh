#!/bin/sh
# Runs every libFuzzer target in tests/fuzz/ (or the NAMEs given after
# SECONDS) for SECONDS each (default 60),
# starting from and adding to its kept corpus in tests/fuzz/corpus/<name>/.
# Needs clang (apt-get install clang).  Crashes are left as crash-* files.
# The sources, include paths and libraries come from the Makefile
# (`make fuzz-flags`), so the targets link whatever the build links.
set -e
cd "$(dirname "$0")/.."
secs=${1:-60}
command -v clang >/dev/null || { echo "fuzz: clang is not installed (apt-get install clang)" >&2; exit 1; }
flags=$(make -s --no-print-directory fuzz-flags)
srcs=$(printf '%s\n' "$flags" | sed -n 's/^SRCS=//p')
cflags=$(printf '%s\n' "$flags" | sed -n 's/^CFLAGS=//p')
libs=$(printf '%s\n' "$flags" | sed -n 's/^LIBS=//p')
mkdir -p build/fuzz-clang
make --no-print-directory build/gen/embedded.c >/dev/null
# tools/fuzz.sh SECONDS [NAME...]: only those targets (e.g. slack);
# FUZZ_ONLY=NAME does the same.
shift 2>/dev/null || true
targets=""
for n in "$@" $FUZZ_ONLY; do targets="$targets tests/fuzz/fuzz_$n.c"; done
for f in ${targets:-tests/fuzz/fuzz_*.c}; do
	name=$(basename "$f" .c)
	corpus=tests/fuzz/corpus/${name#fuzz_}
	mkdir -p "$corpus"
	echo "== $name ($secs s)"
	# shellcheck disable=SC2086
	clang -g -O1 -fsanitize=fuzzer,address,undefined $cflags "$f" $srcs build/gen/embedded.c $libs \
		-o "build/fuzz-clang/$name"
	"build/fuzz-clang/$name" -max_total_time="$secs" -max_len=65536 "$corpus"
done
