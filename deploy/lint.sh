#!/bin/sh
# Static analysis (STYLE.md §3 habit 5): clang-tidy (checks in .clang-tidy) and
# cppcheck over the compile_commands.json of a build dir. Generated protobuf
# code and the fuzz harnesses are not linted. Exits non-zero on any finding.
# Usage: deploy/lint.sh [build-dir]
set -eu
BUILD=${1:-build}
JOBS=${JOBS:-$(nproc)}
DB="$BUILD/compile_commands.json"
[ -f "$DB" ] || { echo "lint: $DB missing (run make build)" >&2; exit 2; }

# Our own translation units: tracked .c files outside tests/fuzz.
FILES=$(git ls-files '*.c' | grep -v '^tests/fuzz/' | grep -v '\.pb-c\.c$')
rc=0

echo "lint: clang-tidy ($(echo "$FILES" | wc -l) files)"
# run-clang-tidy takes regexes; anchor each file at the end of its path.
RCT=$(command -v run-clang-tidy-14 || command -v run-clang-tidy)
# shellcheck disable=SC2086
"$RCT" -quiet -j "$JOBS" -p "$BUILD" $(echo "$FILES" | sed 's#^#/#; s#\.#\\.#g; s#$#$#') \
	>"$BUILD/clang-tidy.log" 2>&1 || rc=1
grep -E '(warning|error):' "$BUILD/clang-tidy.log" | sort -u || true

echo "lint: cppcheck"
# varFuncNullUB: NULL is ((void *)0) in glibc, so a NULL varargs sentinel is sound.
mkdir -p "$BUILD/cppcheck"
cppcheck --project="$DB" --enable=warning,performance,portability --inline-suppr \
	--error-exitcode=1 --quiet -j "$JOBS" --cppcheck-build-dir="$BUILD/cppcheck" \
	-i "$BUILD" -i tests/fuzz --suppress='*:*.pb-c.c' --suppress='*:*.pb-c.h' \
	--suppress=missingIncludeSystem --suppress=unmatchedSuppression \
	--suppress=varFuncNullUB \
	--template='{file}:{line}: {severity}: {message} [{id}]' || rc=1

[ "$rc" -eq 0 ] && echo "lint: clean"
exit "$rc"
