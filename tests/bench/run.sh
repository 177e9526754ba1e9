#!/bin/sh
# `make bench`: every benchmark binary $B/bench/bench_* (built from
# tests/bench/bench_*.c), then the WebSocket load test of the web chat
# against a freshly started $B/frontdesk, on SQLite and then on a
# throw-away PostgreSQL.  Numbers go to BENCHMARKS.md by hand, with the
# command that produced them.
#   tests/bench/run.sh [BUILD_DIR]     extra ws-load options (both runs) in WS_LOAD_ARGS
B=${1:-build}
cd "$(dirname "$0")/../.." || exit 1
status=0

for b in "$B"/bench/bench_*; do
	[ -x "$b" ] || continue
	printf '== %s\n' "$(basename "$b")"
	"$b" || status=1
done

printf '== replay\n'
tests/bench/replay.sh "$B" || status=1

printf '== ws-load\n'
if ! command -v node >/dev/null 2>&1; then
	echo "ws-load: skipped: node is not installed"
else
	if [ ! -d tests/e2e/node_modules/ws ]; then
		npm ci --prefix tests/e2e --no-audit --no-fund --loglevel=error || exit 1
	fi
	# shellcheck disable=SC2086 # WS_LOAD_ARGS is a list of options
	BUILD="$B" node tests/bench/ws-load.mjs $WS_LOAD_ARGS || status=1
	# The same load on PostgreSQL: a throw-away cluster with the server's
	# own durability settings (ws-load says "skipped" where none can start).
	printf '== ws-load (postgresql)\n'
	# shellcheck disable=SC2086
	BUILD="$B" node tests/bench/ws-load.mjs --store postgres $WS_LOAD_ARGS || status=1
fi
exit $status
