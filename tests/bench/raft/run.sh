#!/bin/sh
# Raft directory benchmark (make bench): writes/s and commit latency of a
# 3-node loopback cluster against the disk's fsync latency.
# Usage: tests/bench/raft/run.sh [BUILD_DIR]   (default build-run; see bench_raft.py)
set -e
[ $# -le 1 ] || { echo "usage: $0 [BUILD_DIR]" >&2; exit 2; }
exec python3 "$(dirname "$0")/bench_raft.py" "${1:-build-run}"
