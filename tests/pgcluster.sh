#!/bin/sh
# A throw-away PostgreSQL cluster for the tests, on loopback only.
#
#   tests/pgcluster.sh start DIR [durable]
#                                  initdb in DIR/data, start it on a free
#                                  127.0.0.1 port with its socket in DIR;
#                                  prints "FRONTDESK_TEST_PG=<url>" (a
#                                  database the tests may use and empty)
#   tests/pgcluster.sh stop DIR    stop it (immediately) and remove DIR
#
# The tests run the server with fsync off (nothing there needs to survive
# a power cut, and it spares the shared disk); `durable` keeps PostgreSQL's
# own defaults (fsync, synchronous_commit on), as a business's server has
# them, for the benchmarks.
#
# Debian's `postgresql` package installs the server under
# /usr/lib/postgresql/<version>/bin (not on PATH); the newest is used.
# initdb refuses to run as root: as root the cluster runs as `nobody`.
# Exits 2, with the reason on stderr, where no cluster can be had here.
set -u
cmd=${1:-}
dir=${2:-}
mode=${3:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start DIR [durable] | stop DIR" >&2; exit 2; }
case $mode in
'') sync_opts="-c fsync=off" ;;
durable) sync_opts="" ;;
*) echo "usage: $0 start DIR [durable] | stop DIR" >&2; exit 2 ;;
esac

bindir=""
for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V); do
	[ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ] && bindir=$d
done
if [ -z "$bindir" ] && command -v pg_ctl >/dev/null 2>&1; then
	bindir=$(dirname "$(command -v pg_ctl)")
fi

# Run a server program as the cluster's owner.
as_owner() {
	if [ "$(id -u)" = 0 ]; then
		setpriv --reuid=nobody --regid=nogroup --clear-groups --reset-env -- "$@"
	else
		"$@"
	fi
}

case $cmd in
start)
	if [ -z "$bindir" ]; then
		echo "pgcluster: PostgreSQL server programs not found (Debian package 'postgresql')" >&2
		exit 2
	fi
	if [ "$(id -u)" = 0 ] && ! command -v setpriv >/dev/null 2>&1; then
		echo "pgcluster: running as root without setpriv: cannot run the server as an unprivileged user" >&2
		exit 2
	fi
	mkdir -p "$dir" || exit 2
	[ "$(id -u)" = 0 ] && chown nobody:nogroup "$dir"
	chmod 700 "$dir"
	# A UTF-8 locale where there is one, as a real server has: search
	# folds the case of non-ASCII letters by it.
	loc=$(locale -a 2>/dev/null | grep -i -m1 -E '^c\.utf-?8$')
	if ! as_owner "$bindir/initdb" -D "$dir/data" -U frontdesk -A trust -E UTF8 ${loc:+--locale=$loc} --no-sync \
		>"$dir/initdb.log" 2>&1; then
		echo "pgcluster: initdb failed:" >&2
		cat "$dir/initdb.log" >&2
		exit 2
	fi
	# A free port: try a few at random (another test run may hold one).
	tries=0
	while [ $tries -lt 20 ]; do
		tries=$((tries + 1))
		port=$((20000 + $(od -An -N2 -tu2 /dev/urandom | tr -d ' ') % 40000))
		if as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
			-o "-p $port -k $dir -c listen_addresses=127.0.0.1 $sync_opts -c max_connections=200" \
			start >/dev/null 2>&1; then
			break
		fi
		port=""
		grep -q "could not bind\|Address already in use" "$dir/server.log" 2>/dev/null || break
	done
	if [ -z "$port" ]; then
		echo "pgcluster: the server did not start:" >&2
		tail -20 "$dir/server.log" >&2
		exit 2
	fi
	echo "$port" >"$dir/port"
	if ! "$bindir/createdb" -h 127.0.0.1 -p "$port" -U frontdesk frontdesk >/dev/null 2>&1; then
		echo "pgcluster: createdb failed" >&2
		as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1
		exit 2
	fi
	echo "FRONTDESK_TEST_PG=postgresql://frontdesk@127.0.0.1:$port/frontdesk"
	echo "FRONTDESK_TEST_PG_BIN=$bindir"
	;;
stop)
	if [ -d "$dir/data" ] && [ -n "$bindir" ]; then
		as_owner "$bindir/pg_ctl" -D "$dir/data" -m immediate stop >/dev/null 2>&1
	fi
	rm -rf "$dir"
	;;
*)
	echo "usage: $0 start DIR [durable] | stop DIR" >&2
	exit 2
	;;
esac
