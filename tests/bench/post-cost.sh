#!/bin/sh
# CPU instructions the daemon spends per web chat post, counted by valgrind
# (callgrind): independent of how busy the machine is, unlike the timed
# numbers of ws-load.  Starts BIN (default build/frontdesk) under callgrind
# with the test configuration, sends posts with ws-load at a low rate, stops
# the daemon, and prints the instructions of the event loop (loop_run, so
# start-up and rule loading are left out) divided by the posts it decided.
#   [MODE=alone|batched] tests/bench/post-cost.sh [BIN] [POSTS]
BIN=$(realpath "${1:-build/frontdesk}")
POSTS=${2:-1000}
cd "$(dirname "$0")/../.." || exit 1
command -v valgrind >/dev/null 2>&1 || { echo "post-cost: skipped: valgrind is not installed"; exit 0; }
command -v node >/dev/null 2>&1 || { echo "post-cost: skipped: node is not installed"; exit 0; }
dir=$(mktemp -d /tmp/fd-post-cost-XXXXXX)
trap '[ -n "$KEEP" ] || rm -rf "$dir"' EXIT
port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
dport=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
# The rules and replies of the tree BIN was built from.
repo=$(cd "$(dirname "$BIN")/.." && pwd)
cat > "$dir/config.yaml" <<YAML
business:
  name: Acme Bakery
  timezone: Europe/London
  hours: { mon-sun: "00:00-24:00" }
rules: [$repo/rules/*.yaml]
replies: [$repo/replies/*.yaml]
sentiment: { lexicon: ["$repo/rules/lexicon/*.yaml"] }
store: { path: frontdesk.db }
connectors:
  - type: webchat
    listen: 127.0.0.1:$port
    limits: { connections_per_address: 100000, messages_per_minute: 1000000 }
dashboard:
  listen: 127.0.0.1:$dport
YAML
valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" "$BIN" run -c "$dir/config.yaml" 2>"$dir/daemon.log" &
vg=$!
i=0
until curl -s "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -gt 120 ] && { echo "post-cost: the daemon did not start"; cat "$dir/daemon.log"; kill $vg; exit 1; }
	sleep 0.5
done
# alone: one post at a time, 50 a second (each its own group, the
# latency path); batched: 40 in flight for the same number of seconds
# (groups of many posts, the throughput path).
rate=50
if [ "${MODE:-alone}" = batched ]; then
	node tests/bench/ws-load.mjs --url "ws://127.0.0.1:$port/chat" --conns 10 --rate 10 \
		--duration 1 --saturate $((POSTS / rate)) --window 4 --fsync-probe 0 >/dev/null 2>&1
else
	node tests/bench/ws-load.mjs --url "ws://127.0.0.1:$port/chat" --conns 10 --rate $rate \
		--duration $((POSTS / rate)) --saturate 1 --window 1 --fsync-probe 0 >/dev/null 2>&1
fi
kill -TERM $vg
wait $vg
posts=$(grep -c 'msg=post ' "$dir/daemon.log")
ir=$(callgrind_annotate --inclusive=yes "$dir/cg.out" 2>/dev/null | awk '/loop\.c:loop_run /{gsub(",","",$1); print $1; exit}')
[ -n "$ir" ] && [ "$posts" -gt 0 ] || { echo "post-cost: no measurement (posts=$posts)"; exit 1; }
echo "post-cost: $BIN: ${MODE:-alone}: $posts posts, $((ir / posts)) instructions per post (event loop, callgrind)"
