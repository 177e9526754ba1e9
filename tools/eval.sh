#!/bin/sh
# Measure how well frontdesk spots negative posts: replays a labelled data
# set through `frontdesk replay --json` with the default configuration and
# compares each decision's "negative" with label == "negative".
#
#   tools/eval.sh [path/to/frontdesk]       (make eval runs it)
#
# The data set is read where it lives, ../shared/data/airline_dev.jsonl next
# to the repository, and never copied into it; EVAL_DATA=FILE.jsonl measures
# another file of the same shape ({"id", "text", "label"} per line).  When
# the file is absent the measurement is skipped and the script exits 0.
set -eu
cd "$(dirname "$0")/.."
BIN=${1:-build/frontdesk}
DATA=${EVAL_DATA:-../shared/data/airline_dev.jsonl}
CONFIG=${EVAL_CONFIG:-config.yaml.example}

if [ ! -f "$DATA" ]; then
	echo "skipped: data not found ($DATA)"
	exit 0
fi
if [ ! -x "$BIN" ]; then
	echo "eval: $BIN is not an executable; run make first" >&2
	exit 2
fi
if ! command -v python3 >/dev/null 2>&1; then
	echo "eval: python3 is needed to compute the metrics" >&2
	exit 2
fi

out=$(mktemp "${TMPDIR:-/tmp}/frontdesk-eval.XXXXXX")
trap 'rm -f "$out"' EXIT INT TERM
"$BIN" -c "$CONFIG" replay --json "$DATA" >"$out" 2>/dev/null || {
	echo "eval: $BIN replay failed" >&2
	exit 1
}
python3 tools/eval.py "$DATA" "$out"
