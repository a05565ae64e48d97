#!/bin/sh
# Cluster benchmarks (make bench): every bench_*.py here, e.g. the IMAP
# proxy (bench_proxy.py). Usage: tests/bench/cluster/run.sh BUILD_DIR
set -e
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
for b in "$(dirname "$0")"/bench_*.py; do
	python3 "$b" "$1"
done
