#!/bin/sh
# golden.sh BUILD MODE - regenerate or check the golden vectors (spec/golden.md).
#
#   MODE regen   run BUILD/oracle all into a temporary folder, copy new and
#                changed files into golden/, delete golden files the oracle no
#                longer makes, rewrite golden/MANIFEST, print what changed.
#   MODE check   regenerate into a temporary folder and verify, byte for byte,
#                that golden/ and golden/MANIFEST are exactly what the oracle
#                makes.  Exit status 1 with a message naming every difference.
#
# MANIFEST holds one line per file, "<sha256>  <file name>", sorted by name,
# names relative to golden/ (so `cd golden && sha256sum -c MANIFEST` works).
set -eu

usage() {
    echo "usage: scripts/golden.sh BUILD regen|check" >&2
    exit 2
}
[ $# -eq 2 ] || usage
build=$1
mode=$2
case $mode in regen | check) ;; *) usage ;; esac

# BUILD is relative to the caller's folder; the rest is relative to the repo.
case $build in /*) ;; *) build=$(pwd)/$build ;; esac
root=$(cd "$(dirname "$0")/.." && pwd)
oracle=$build/oracle
golden=$root/golden
if [ ! -x "$oracle" ]; then
    echo "golden.sh: $oracle not found; build it with: make BUILD=$1 $1/oracle" >&2
    exit 1
fi
command -v sha256sum >/dev/null 2>&1 || { echo "golden.sh: sha256sum is required" >&2; exit 1; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/dsv4-golden.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
trap 'exit 130' INT TERM
mkdir "$tmp/new"

"$oracle" selftest >"$tmp/selftest.log" 2>&1 || {
    cat "$tmp/selftest.log" >&2
    echo "golden.sh: the oracle fails its self test; not touching golden/" >&2
    exit 1
}
"$oracle" all "$tmp/new" || { echo "golden.sh: oracle all failed" >&2; exit 1; }

# The manifest of the fresh set, in the byte order of the C locale.
(cd "$tmp/new" && LC_ALL=C ls | grep '\.safetensors$' | LC_ALL=C sort | while IFS= read -r f; do
    sha256sum "$f"
done) >"$tmp/MANIFEST"

# Lists the golden/*.safetensors file names, sorted.
golden_files() {
    (cd "$golden" && for f in *.safetensors; do [ -f "$f" ] && echo "$f"; done) | LC_ALL=C sort
}

if [ "$mode" = regen ]; then
    mkdir -p "$golden"
    changed=0
    for p in "$tmp/new"/*.safetensors; do
        f=${p##*/}
        if [ ! -f "$golden/$f" ]; then
            echo "added    $f"
        elif ! cmp -s "$p" "$golden/$f"; then
            echo "changed  $f"
        else
            continue
        fi
        cp "$p" "$golden/$f"
        changed=$((changed + 1))
    done
    for f in $(golden_files); do
        if [ ! -f "$tmp/new/$f" ]; then
            echo "removed  $f"
            rm -f "$golden/$f"
            changed=$((changed + 1))
        fi
    done
    if [ ! -f "$golden/MANIFEST" ] || ! cmp -s "$tmp/MANIFEST" "$golden/MANIFEST"; then
        cp "$tmp/MANIFEST" "$golden/MANIFEST"
        echo "MANIFEST rewritten"
    fi
    n=$(wc -l <"$tmp/MANIFEST" | tr -d ' ')
    if [ "$changed" -eq 0 ]; then
        echo "golden: $n files, all unchanged"
    else
        echo "golden: $n files, $changed changed (explain the change in the commit message)"
    fi
    exit 0
fi

# ---- check ----------------------------------------------------------------
bad=0
fail() {
    echo "golden check: $*" >&2
    bad=1
}
if [ ! -f "$golden/MANIFEST" ]; then
    fail "golden/MANIFEST is missing (run: make golden)"
elif ! cmp -s "$tmp/MANIFEST" "$golden/MANIFEST"; then
    fail "golden/MANIFEST differs from what the oracle makes:"
    diff "$golden/MANIFEST" "$tmp/MANIFEST" >&2 || true
fi
for p in "$tmp/new"/*.safetensors; do
    f=${p##*/}
    if [ ! -f "$golden/$f" ]; then
        fail "$f: missing from golden/"
    elif ! cmp -s "$p" "$golden/$f"; then
        fail "$f: differs from the oracle's output ($(cmp "$p" "$golden/$f" 2>&1 | head -n 1))"
    fi
done
for f in $(golden_files); do
    [ -f "$tmp/new/$f" ] || fail "$f: in golden/ but the oracle does not make it"
done
if [ -f "$golden/MANIFEST" ]; then
    (cd "$golden" && sha256sum -c --quiet MANIFEST) >"$tmp/sumcheck.log" 2>&1 ||
        fail "files in golden/ do not match golden/MANIFEST: $(cat "$tmp/sumcheck.log")"
fi
if [ "$bad" -ne 0 ]; then
    # The oracle string (name and precision) is part of every file's metadata.
    stamp=$("$oracle" version 2>/dev/null || true)
    if [ -n "$stamp" ] && [ -f "$golden/MANIFEST" ]; then
        first=$(head -n 1 "$golden/MANIFEST" | sed 's/^[0-9a-f]*  //')
        if [ -f "$golden/$first" ] && ! grep -q -a -F "$stamp" "$golden/$first"; then
            echo "golden check: note: golden/ was made by a different oracle (this one is" \
                "\"$stamp\"); the \"oracle\" metadata string alone differs then" >&2
        fi
    fi
    echo "golden check: FAILED (regenerate deliberately with: make golden)" >&2
    exit 1
fi
echo "golden check: $(wc -l <"$tmp/MANIFEST" | tr -d ' ') files match MANIFEST and the oracle"
