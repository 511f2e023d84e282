#!/bin/sh
# check-standalone.sh - two rules on the tracked files:
#  1. The repository stands alone: no file cites material outside it (a
#     path into a sibling checkout, a design document kept elsewhere, or
#     "background", "mHC", "Muon", "AdamW" or "format" notes).  Facts are
#     cited from public sources, and named cases are defined in spec/.  The
#     golden files are searched too: their descriptions come from strings in
#     golden/oracle/, and a stale file would still carry one.
#  2. spec/ holds contracts, not measurements: no spec/*.md reports a timing
#     or a throughput (a number followed by a unit of time or of bytes or
#     flops per second).  Measurements go to docs/perf/, dated, with their
#     machine.  Contract numbers such as tolerances have no such unit.
# Prints every violation and exits 1 if there is any.
set -u
cd "$(dirname "$0")/.." || exit 2
self=scripts/check-standalone.sh

outside='shared/reference|\.\./shared|DESIGN\.md|(background|mHC|Muon|AdamW|format) notes'
timing='[0-9][0-9.,]*[[:space:]]*(µs|us|ms|ns|GB/s|GiB/s|MB/s|MiB/s|GFLOP/s|GFLOPS|TFLOP/s)([^[:alnum:]]|$)'

# Mentions that a change in flight on another branch removes, as
# "file|text": a line of that file containing that text is not reported.
# Delete an entry once its line is gone (the script says when).
pending=''

if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    text_hits=$(git grep -n -I -i -E "$outside" -- . ":(exclude)$self")
    binary_hits=$(git grep -l -a -i -E "$outside" -- 'golden/*.safetensors' |
        sed 's/$/: (binary) a golden description cites outside material/')
else # an exported tree: search the files themselves
    text_hits=$(grep -r -n -I -i -E "$outside" --exclude-dir=.git --exclude-dir='build*' . |
        sed 's|^\./||' | grep -v "^$self:")
    binary_hits=$(grep -l -a -i -E "$outside" golden/*.safetensors 2>/dev/null |
        sed 's/$/: (binary) a golden description cites outside material/')
fi

# Drop the pending mentions; name the entries that matched nothing.
filtered=$(printf '%s\n' "$text_hits" | awk -v pending="$pending" '
    BEGIN { n = split(pending, e, "\n")
            for (i = 1; i <= n; i++) { split(e[i], p, "|"); f[i] = p[1] ":"; t[i] = p[2] } }
    $0 == "" { next }
    { for (i = 1; i <= n; i++)
          if (index($0, f[i]) == 1 && index($0, t[i]) > 0) { used[i] = 1; next }
      print }
    END { for (i = 1; i <= n; i++)
              if (!used[i]) printf "check-standalone: note: pending entry \"%s\" matches nothing; delete it\n", e[i] > "/dev/stderr" }')

timing_hits=$(LC_ALL=C grep -n -E "$timing" spec/*.md)

status=0
if [ -n "$filtered$binary_hits" ]; then
    printf '%s\n' "$filtered" "$binary_hits" | sed '/^$/d; s/^/check-standalone: cites outside the repository: /' >&2
    status=1
fi
if [ -n "$timing_hits" ]; then
    printf '%s\n' "$timing_hits" | sed 's/^/check-standalone: a timing in a spec (move it to docs\/perf\/): /' >&2
    status=1
fi
[ "$status" -eq 0 ] && echo "check-standalone: ok"
exit "$status"
