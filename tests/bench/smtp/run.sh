#!/bin/sh
# SMTP benchmark (make bench): mailnode vs Postfix + Dovecot LMTP on loopback.
# Usage: tests/bench/smtp/run.sh BUILD_DIR   (see bench_smtp.py for the knobs)
set -e
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
exec python3 "$(dirname "$0")/bench_smtp.py" "$1"
