#!/bin/sh
# Web admin benchmarks (make bench): the admin API's user pages at 10,000
# users. Usage: tests/bench/admin/run.sh BUILD_DIR
set -e
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
for b in "$(dirname "$0")"/bench_*.py; do
	python3 "$b" "$1"
done
