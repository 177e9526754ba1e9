#!/bin/sh
# End-to-end tests: every tests/e2e/*.test.mjs against the real daemon in
# $BUILD (default build), with node's built-in test runner.  Node modules
# (ws, playwright-core) are installed from the committed lock file when
# missing.  Without Node 20 or later the suite fails: tools/deps.sh installs
# node, and a test run that silently skips the end-to-end tests proves nothing.
cd "$(dirname "$0")/../.." || exit 1
BUILD=${BUILD:-build}
export BUILD

if ! command -v node >/dev/null 2>&1; then
	echo "e2e: FAILED: node is not installed (Node 20 or later is needed)"
	exit 1
fi
major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$major" -lt 20 ]; then
	echo "e2e: FAILED: node $(node --version) is too old (20 or later is needed)"
	exit 1
fi
if [ ! -d tests/e2e/node_modules/ws ] || [ ! -d tests/e2e/node_modules/playwright-core ]; then
	npm ci --prefix tests/e2e --no-audit --no-fund --loglevel=error || exit 1
fi
set -- tests/e2e/*.test.mjs
[ -f "$1" ] || { echo "e2e: no tests"; exit 0; }
# Several test files start daemons and browsers; two at a time keeps a
# small machine from timing out.  A test without its own timeout gets ten
# minutes (thirty under the sanitizer build); --test-force-exit ends a test
# file once its tests are done even when a timed-out test left a server or a
# daemon behind (lib/daemon.mjs kills its daemons on exit), so one stuck test
# fails that test instead of hanging the whole run.
case $BUILD in
*san*) limit=1800000 ;;
*) limit=600000 ;;
esac
exec node --test --test-concurrency=2 --test-force-exit --test-timeout=$limit "$@"
