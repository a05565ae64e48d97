#!/bin/sh
# Webmail benchmark (make bench): the first page of a 10,000-message folder
# through /api/v1/mail. Usage: tests/bench/webmail/run.sh BUILD_DIR
set -e
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
exec python3 "$(dirname "$0")/bench_webmail.py" "$1"
