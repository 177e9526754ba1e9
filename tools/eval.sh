#!/bin/sh
# Measure how well frontdesk spots negative posts: replays labelled data
# sets through `frontdesk replay --json` with the default configuration and
# compares each decision's "negative" with label == "negative" (precision,
# recall, F1, MCC; per domain where posts carry one; and how many
# labelled-negative posts got a cheerful FAQ answer).
#
#   tools/eval.sh [path/to/frontdesk]       (make eval runs it)
#
# The data sets are read where they live, ../shared/data/airline_dev.jsonl
# and ../shared/data/complaints_dev.jsonl next to the repository, and never
# copied into it; EVAL_DATA="FILE.jsonl ..." measures other files of the
# same shape ({"id", "text", "label", "domain"?} per line).  A file that is
# absent is skipped; with none present the script says so and exits 0.
set -eu
cd "$(dirname "$0")/.."
BIN=${1:-build/frontdesk}
DATA=${EVAL_DATA:-../shared/data/airline_dev.jsonl ../shared/data/complaints_dev.jsonl}
CONFIG=${EVAL_CONFIG:-config.yaml.example}

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
first=1
for f in $DATA; do
	if [ ! -f "$f" ]; then
		echo "skipped: data not found ($f)"
		continue
	fi
	[ $first = 1 ] || echo
	first=0
	"$BIN" -c "$CONFIG" replay --json "$f" >"$out" 2>/dev/null || {
		echo "eval: $BIN replay failed on $f" >&2
		exit 1
	}
	python3 tools/eval.py "$f" "$out"
done

# FAQ answers learned from examples, on HINT3 (its own data check).
echo
python3 tools/eval_hint3.py "$BIN" "${EVAL_HINT3:-../shared/data/hint3}"

# Grouping of questions the bot could not answer (insights): B-cubed
# precision and recall of cluster.h against HINT3's labels.
HINT3=${EVAL_HINT3:-../shared/data/hint3}
CLUSTER=$(dirname "$BIN")/tools/eval-cluster
if [ -x "$CLUSTER" ] && [ -d "$HINT3" ]; then
	for f in "$HINT3"/*_train.csv; do
		[ -f "$f" ] || continue
		echo
		echo "grouping $(basename "$f" .csv):"
		python3 -c 'import csv, sys
for r in csv.DictReader(open(sys.argv[1], newline="")):
    print(r["label"] + "\t" + " ".join(r["sentence"].split()))' "$f" | "$CLUSTER"
	done
else
	echo
	echo "skipped: grouping (no $CLUSTER or no $HINT3)"
fi
