#!/bin/sh
# Cluster benchmark (make bench): SMTP handoff messages/s between two nodes,
# next to local delivery. Usage: tests/bench/cluster/run.sh BUILD_DIR
# (see bench_handoff.py for the knobs). Prints figures, asserts none.
set -e
[ $# -eq 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
exec python3 "$(dirname "$0")/bench_handoff.py" "$1"
