#!/bin/sh
# IMAP benchmark (make bench): mailnode vs Dovecot on loopback.
# Usage: tests/bench/imap/run.sh BUILD_DIR   (see bench_imap.py for the knobs)
set -e
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
exec python3 "$(dirname "$0")/bench_imap.py" "$1"
