#!/bin/sh
# check-exports.sh [BUILD] - libdsv4.so exports exactly the public API.
#
# The public API is every declaration of include/dsv4.h and
# include/dsv4_io.h; each must be marked DSV4_API (a declaration without
# it is reported too).  The check fails when BUILD/libdsv4.so defines a
# dynamic symbol those headers do not declare (an internal helper that
# escaped -fvisibility=hidden) or lacks one they declare.  Without nm it
# says so and succeeds.
set -u
BUILD=${1:-build}
SO="$BUILD/libdsv4.so"
ROOT=$(cd "$(dirname "$0")/.." && pwd)
HEADERS="$ROOT/include/dsv4.h $ROOT/include/dsv4_io.h"

if ! command -v nm >/dev/null 2>&1; then
    echo "check-exports: nm not found, skipped"
    exit 0
fi
if [ ! -f "$SO" ]; then
    echo "check-exports: $SO not found (make lib builds it)"
    exit 1
fi

tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT INT TERM
status=0

# Declarations start in column 0 with a type and name a dsv4_ function
# (an identifier followed by "(") or, after "extern", a dsv4_ object.
# Typedefs, macros and the extern "C" block are not declarations of symbols.
grep -hE '^[A-Za-z_]' $HEADERS | grep -vE '^(typedef|#|extern "C")' |
    grep -E '(^|[^A-Za-z0-9_])dsv4_[a-z0-9_]+[[:space:]]*[([]' >"$tmp/decl_lines"
if grep -v '^DSV4_API ' "$tmp/decl_lines" >"$tmp/unmarked"; then
    echo "check-exports: declarations without DSV4_API:"
    sed 's/^/  /' "$tmp/unmarked"
    status=1
fi
sed -E 's/^([^([]*[^A-Za-z0-9_])?(dsv4_[a-z0-9_]+)[[:space:]]*[([].*/\2/' "$tmp/decl_lines" |
    sort -u >"$tmp/declared"

# Defined dynamic symbols.  Names the toolchain adds on its own (the
# linker's section markers, the sanitizers' runtime hooks) are not the
# library's and are left out.
nm -D --defined-only "$SO" | awk '{print $NF}' |
    grep -vE '^(_init|_fini|_edata|_end|__bss_start)$|^_*(asan|odr_asan|ubsan|tsan|sanitizer)[._]' |
    sort -u >"$tmp/exported"

comm -13 "$tmp/declared" "$tmp/exported" >"$tmp/extra"
comm -23 "$tmp/declared" "$tmp/exported" >"$tmp/missing"
if [ -s "$tmp/extra" ]; then
    echo "check-exports: $SO exports names the public headers do not declare:"
    sed 's/^/  /' "$tmp/extra"
    status=1
fi
if [ -s "$tmp/missing" ]; then
    echo "check-exports: declared in the public headers but not exported by $SO:"
    sed 's/^/  /' "$tmp/missing"
    status=1
fi
[ "$status" -eq 0 ] &&
    echo "check-exports: $SO exports the $(wc -l <"$tmp/declared") public names and nothing else"
exit "$status"
