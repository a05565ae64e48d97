#!/bin/sh
# Coverage (STYLE.md §3 habit 9): a gcc --coverage build (no sanitizers) in
# its own dir, the unit tests, then a per-file line/branch summary by gcovr.
# gcovr is only needed here, so it is installed on demand (Debian: gcovr).
# Usage: deploy/coverage.sh [build-dir]; HTML report in <build-dir>/coverage.html
set -eu
BUILD=${1:-build-cov}
JOBS=${JOBS:-$(nproc)}

if ! command -v gcovr >/dev/null 2>&1; then
	if [ "$(id -u)" -eq 0 ] || command -v sudo >/dev/null 2>&1; then
		echo "coverage: installing gcovr"
		SUDO=""
		[ "$(id -u)" -eq 0 ] || SUDO="sudo"
		DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
			gcovr >/dev/null || true
	fi
	command -v gcovr >/dev/null 2>&1 || {
		echo "coverage: gcovr missing: apt-get install gcovr (or pip install gcovr)" >&2
		exit 2
	}
fi

cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=Debug -DMN_SANITIZE=OFF \
	-DCMAKE_C_FLAGS="--coverage -O0" -DCMAKE_EXE_LINKER_FLAGS="--coverage" >/dev/null
cmake --build "$BUILD" -j "$JOBS"
find "$BUILD" -name '*.gcda' -delete
(cd "$BUILD" && ctest -L unit -j "$JOBS" --output-on-failure) || echo "coverage: some unit tests failed"
# Our sources only: not tests, not generated protobuf code.
gcovr -r . --object-directory "$BUILD" -j "$JOBS" \
	-e 'tests/' -e '.*\.pb-c\.[ch]$' -e "$BUILD/" \
	--sort-percentage --txt - --html "$BUILD/coverage.html" --print-summary
