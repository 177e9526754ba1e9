#!/bin/sh
# Runs every libFuzzer target in tests/fuzz/ (or the NAMEs given after
# SECONDS) for SECONDS each (default 60),
# starting from and adding to its kept corpus in tests/fuzz/corpus/<name>/.
# Needs clang (apt-get install clang).  Crashes are left as crash-* files.
set -e
cd "$(dirname "$0")/.."
secs=${1:-60}
command -v clang >/dev/null || { echo "fuzz: clang is not installed (apt-get install clang)" >&2; exit 1; }
PKGS="libwebsockets libuv libcurl jansson yaml-0.1 sqlite3 libpcre2-8 libutf8proc libcrypt"
mkdir -p build/fuzz-clang
srcs=$(ls bot/*.c bot/store/*.c bot/connectors/*/*.c handoff/*.c | grep -v '^bot/main.c$')
make --no-print-directory build/gen/embedded.c >/dev/null
# tools/fuzz.sh SECONDS [NAME...]: only those targets (e.g. slack).
shift 2>/dev/null || true
targets=""
for n in "$@"; do targets="$targets tests/fuzz/fuzz_$n.c"; done
for f in ${targets:-tests/fuzz/fuzz_*.c}; do
	name=$(basename "$f" .c)
	corpus=tests/fuzz/corpus/${name#fuzz_}
	mkdir -p "$corpus"
	echo "== $name ($secs s)"
	clang -g -O1 -std=c11 -D_GNU_SOURCE -fsanitize=fuzzer,address,undefined -Ibot -Ihandoff -Ibuild/gen \
		$(pkg-config --cflags $PKGS) "$f" $srcs build/gen/embedded.c $(pkg-config --libs $PKGS) -llinear -lstemmer -lm \
		-o "build/fuzz-clang/$name"
	"build/fuzz-clang/$name" -max_total_time="$secs" -max_len=65536 "$corpus"
done
