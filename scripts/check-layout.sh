#!/bin/sh
# check-layout.sh - the dependency rules of the tree, checked on the sources:
#  - golden/oracle/ includes no header of ref/ or opt/ (the oracle must stay
#    independent of what it checks; its build sees neither folder either);
#  - ref/ and opt/ hold numerics only: they include neither the file API
#    (dsv4_io.h) nor io/'s JSON reader (json.h).
# Prints each violation and exits 1 if there is any.
set -u
cd "$(dirname "$0")/.."

# "file header" for every #include "header" of the given files.
includes() {
    for f in "$@"; do
        [ -e "$f" ] || continue
        sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$f" |
            while read -r inc; do echo "$f $(basename "$inc")"; done
    done
}

violations=$(
    includes golden/oracle/*.c golden/oracle/*.h | while read -r file inc; do
        for d in ref opt; do
            [ -e "$d/$inc" ] && echo "$file includes $d/$inc: the oracle must not depend on $d/"
        done
    done
    includes ref/*.c ref/*.h opt/*.c opt/*.h | while read -r file inc; do
        case $inc in
        dsv4_io.h | json.h) echo "$file includes $inc: ref/ and opt/ are numerics only" ;;
        esac
    done
)
if [ -n "$violations" ]; then
    echo "$violations" | sed 's/^/check-layout: /' >&2
    exit 1
fi
echo "check-layout: ok"
