#!/bin/sh
# `frontdesk replay --json` end to end: N synthetic JSON-line posts (a mix
# of FAQ questions, small talk, complaints and unmatched questions written
# for a small shop) through the default configuration; prints posts/s and
# the peak RSS of the process.
#   tests/bench/replay.sh [BUILD_DIR] [N]
B=${1:-build}
N=${2:-200000}
cd "$(dirname "$0")/../.." || exit 1
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
awk -v n="$N" 'BEGIN {
	t[0] = "When are you open on Sunday?"
	t[1] = "Do you deliver to the north side of town, and how much is it?"
	t[2] = "thanks so much, the cake was lovely!"
	t[3] = "I ordered a birthday cake two weeks ago and it never arrived. Still waiting for a refund."
	t[4] = "Do you have anything for a party of twenty people next Saturday afternoon?"
	t[5] = "hello there"
	t[6] = "Can I speak to a real person please?"
	t[7] = "Is there parking near the shop, and can I bring my dog inside?"
	for (i = 0; i < n; i++)
		printf "{\"id\": \"b%d\", \"text\": \"%s #%d\"}\n", i, t[i % 8], i
}' >"$T/in.jsonl"
/usr/bin/time -f '%e %M' -o "$T/time" "$B/frontdesk" -c config.yaml.example replay --json "$T/in.jsonl" >"$T/out" 2>"$T/err" || {
	cat "$T/err"
	exit 1
}
lines=$(wc -l <"$T/out")
read -r secs rss <"$T/time"
awk -v n="$lines" -v s="$secs" -v r="$rss" 'BEGIN {
	printf "replay posts=%d seconds=%.2f posts_per_s=%.0f peak_rss_kb=%d\n", n, s, (s > 0 ? n / s : 0), r
}'
