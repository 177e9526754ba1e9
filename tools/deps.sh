#!/bin/sh
# Install what the build and the tests need, when it is missing.
# As root this runs apt-get; otherwise it names the packages and stops.
set -e
DEBS="build-essential pkg-config libwebsockets-dev libwebsockets-evlib-uv libuv1-dev
libcurl4-openssl-dev libjansson-dev libyaml-dev libsqlite3-dev libpcre2-dev
libutf8proc-dev libcrypt-dev libssl-dev liblinear-dev libstemmer-dev libcmocka-dev libpq-dev postgresql tzdata sqlite3
nodejs npm chromium
python3 python3-aiosmtpd"

missing=""
for p in $DEBS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
	# nodejs/npm may come from elsewhere than Debian; accept working commands.
	m2=""
	for p in $missing; do
		case $p in
		nodejs) command -v node >/dev/null 2>&1 || m2="$m2 $p" ;;
		npm) command -v npm >/dev/null 2>&1 || m2="$m2 $p" ;;
		python3) command -v python3 >/dev/null 2>&1 || m2="$m2 $p" ;;
		*) m2="$m2 $p" ;;
		esac
	done
	missing=$m2
fi
if [ -n "$missing" ]; then
	if [ "$(id -u)" = 0 ]; then
		echo "deps: installing:$missing"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq
		apt-get install -y -qq $missing >/dev/null
	else
		echo "deps: missing Debian packages:$missing" >&2
		echo "deps: run as root: apt-get install$missing" >&2
		exit 1
	fi
fi
