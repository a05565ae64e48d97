#!/bin/sh
# Install the Debian packages mailnode needs to build, test and run.
# Idempotent and quiet when everything is present (make run / make test call it).
set -eu

PKGS="build-essential cmake pkg-config clang libclang-rt-14-dev
libuv1-dev libraft-dev libprotobuf-c-dev protobuf-c-compiler libsqlite3-dev
libssl-dev libpq-dev libcrypt-dev libinih-dev libjansson-dev libcmocka-dev
libcurl4-openssl-dev python3 python3-pytest openssl curl swaks isync fetchmail s-nail
libopendkim-dev python3-dkim python3-nacl python3-dnslib publicsuffix
chromium fonts-wqy-microhei"

# Browser tests (tests/browser): playwright-core from npm, exactly as
# package-lock.json pins it, into tests/browser/node_modules (never committed).
# Skipped without npm; tests/e2e/test_webmail_browser.py then skips too.
browser_deps() {
	dir="$(dirname "$0")/../tests/browser"
	[ -d "$dir/node_modules/playwright-core" ] && return 0
	command -v npm >/dev/null 2>&1 || return 0
	echo "install-deps: npm ci in tests/browser"
	(cd "$dir" && npm ci --no-audit --no-fund --silent)
}

missing=""
for p in $PKGS; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed"; then
		missing="$missing $p"
	fi
done
if [ -z "$missing" ]; then
	browser_deps
	exit 0
fi

echo "install-deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
browser_deps
