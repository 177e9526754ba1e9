#!/bin/sh
# Runs every test suite against the build in $1 (build or build-san) and
# ends with one line "tests: N passed, N failed".
#   unit      tests/unit/test_*.c (cmocka), one binary per module
#   fuzz      every kept corpus input replayed through each fuzz target
#   suites    tests/suites/*.sh: pipeline data cases, rule examples, CLI,
#             end-to-end tests with real peers (each exits non-zero on failure)
B=${1:-build}
cd "$(dirname "$0")/.." || exit 1
# Nothing may hang the run: a unit binary or corpus replay gets 5 minutes, a
# suite 40 (three times that under the sanitizer build), then it is killed
# and counted as failed.
case $B in
*san*) slow=3 ;;
*) slow=1 ;;
esac
unit_limit=$((300 * slow))
suite_limit=$((2400 * slow))
pass=0
fail=0
failed=""

# A throw-away PostgreSQL cluster for the store's second backend (unit
# suite and end-to-end tests read FRONTDESK_TEST_PG); stopped at the end,
# whatever happens.  Where none can run here, those tests say they are
# skipped; where one was started, they must not skip.
PGTMP=$(mktemp -d /tmp/fd-pgtest-XXXXXX) || exit 1
trap 'tests/pgcluster.sh stop "$PGTMP"' EXIT
trap 'exit 130' INT TERM
if tests/pgcluster.sh start "$PGTMP" >"$PGTMP.env" 2>"$PGTMP.err"; then
	FRONTDESK_TEST_PG=$(sed -n 's/^FRONTDESK_TEST_PG=//p' "$PGTMP.env")
	FRONTDESK_TEST_PG_REQUIRED=1
	export FRONTDESK_TEST_PG FRONTDESK_TEST_PG_REQUIRED
	printf '== postgresql: throw-away cluster at %s\n' "$FRONTDESK_TEST_PG"
else
	printf '== postgresql: no cluster here, PostgreSQL tests skipped: %s\n' "$(cat "$PGTMP.err")"
fi
rm -f "$PGTMP.env" "$PGTMP.err"

run() {
	name=$1
	shift
	printf '== %s\n' "$name"
	if "$@"; then
		pass=$((pass + 1))
	else
		fail=$((fail + 1))
		failed="$failed $name"
		printf '!! FAILED: %s\n' "$name"
	fi
}

for t in "$B"/tests/test_*; do
	[ -x "$t" ] || continue
	run "unit/$(basename "$t")" timeout -k 10 $unit_limit "$t"
done
for f in "$B"/fuzz/fuzz_*; do
	[ -x "$f" ] || continue
	n=$(basename "$f")
	run "fuzz-corpus/$n" timeout -k 10 $unit_limit "$f" "tests/fuzz/corpus/${n#fuzz_}"
done
for s in tests/suites/*.sh; do
	[ -f "$s" ] || continue
	run "suite/$(basename "$s" .sh)" timeout -k 10 $suite_limit env BUILD="$B" sh "$s"
done

[ -n "$failed" ] && printf 'failed:%s\n' "$failed"
printf 'tests: %d passed, %d failed\n' "$pass" "$fail"
[ "$fail" -eq 0 ]
