#!/bin/sh
# run-tests.sh BUILD - run every Criterion suite in BUILD/tests, the plain
# stress programs in BUILD/stress, then the oracle's self test, the layout
# and exported-symbol checks and `dsv4 verify` on the shipped golden vectors.
# Prints one closing line "tests: N passed, M failed" and exits non-zero if
# anything failed.
set -u
BUILD=${1:-build}
JOBS=${DSV4_TEST_JOBS:-2}
passed=0
failed=0
failed_names=""

run() { # name, command...
    name=$1
    shift
    start=$(date +%s)
    if "$@"; then
        passed=$((passed + 1))
        echo "== $name: ok ($(( $(date +%s) - start ))s)"
    else
        failed=$((failed + 1))
        failed_names="$failed_names $name"
        echo "== $name: FAILED ($(( $(date +%s) - start ))s)"
    fi
}

for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run "$(basename "$t")" "$t" --jobs "$JOBS" --short-filename
done
for t in "$BUILD"/stress/stress_*; do
    [ -x "$t" ] || continue
    run "$(basename "$t")" "$t"
done
if [ -x "$BUILD/oracle" ]; then
    run oracle-selftest "$BUILD/oracle" selftest
    run golden-reproducible sh scripts/golden.sh "$BUILD" check
fi
run check-layout sh scripts/check-layout.sh
run check-exports sh scripts/check-exports.sh "$BUILD"
run check-standalone sh scripts/check-standalone.sh
run dsv4-verify "$BUILD/dsv4" verify golden

[ -z "$failed_names" ] || echo "failed:$failed_names"
echo "tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
