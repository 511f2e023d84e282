#!/bin/sh
# fuzz.sh - build the safetensors libFuzzer target and run it.
#
#   scripts/fuzz.sh [SECONDS]      run for SECONDS (default 30)
#
# Environment: FUZZ_CC (default clang), FUZZ_DIR (output folder, default
# build-fuzz).  The target (tests/fuzz/fuzz_safetensors.c) is built with
# address and undefined-behaviour sanitizers from the few library files it
# needs, and starts from a seed corpus of valid files written below.
# Exit status: 0 when no crash was found or libFuzzer is not available
# ("skipped: ..."), non-zero when the fuzzer found a crash (the input is
# kept as $FUZZ_DIR/crash-*).
set -eu

secs=${1:-30}
cc=${FUZZ_CC:-clang}
cd "$(dirname "$0")/.."
out=${FUZZ_DIR:-build-fuzz}

case $secs in
'' | *[!0-9]*) echo "usage: $0 [SECONDS]" >&2; exit 2 ;;
esac

if ! command -v "$cc" >/dev/null 2>&1; then
    echo "fuzz: skipped: $cc not found (libFuzzer needs clang)"
    exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

# Probe for the libFuzzer runtime before building the real target.
printf 'int LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n);\nint LLVMFuzzerTestOneInput(const unsigned char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' >"$tmp/probe.c"
if ! "$cc" -fsanitize=fuzzer,address,undefined "$tmp/probe.c" -o "$tmp/probe" >/dev/null 2>&1; then
    echo "fuzz: skipped: $cc has no libFuzzer/sanitizer runtime (install libclang-rt-dev)"
    exit 0
fi

mkdir -p "$out"
"$cc" -std=c11 -Wall -Wextra -Wpedantic -g -O1 \
    -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -Iinclude -Iio -Itests/fuzz -D_POSIX_C_SOURCE=200809L \
    io/json.c io/safetensors.c io/status.c tests/fuzz/fuzz_safetensors.c \
    -o "$out/fuzz_safetensors"

# ---- seed corpus -------------------------------------------------------------
# le64 N: N as 8 little-endian bytes.
le64() {
    n=$1
    i=0
    while [ "$i" -lt 8 ]; do
        printf "\\$(printf '%03o' $((n % 256)))"
        n=$((n / 256))
        i=$((i + 1))
    done
}
# seed FILE HEADER DATA: a safetensors file; DATA is a printf format of octal
# escapes (its byte count must match the header's offsets).
seed() {
    len=$(printf '%s' "$2" | wc -c)
    { le64 "$len"; printf '%s' "$2"; printf "$3"; } >"$1"
}
mkdir -p "$tmp/corpus"
seed "$tmp/corpus/one_f32" '{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}' \
    '\000\000\200\077\000\000\000\300'
seed "$tmp/corpus/meta_u8_scalar" \
    '{"__metadata__":{"op":"quant","config":"{\"fmt\":\"e2m1\"}"},"in.x":{"dtype":"U8","shape":[3],"data_offsets":[0,3]},"s":{"dtype":"I32","shape":[],"data_offsets":[3,7]}}    ' \
    '\001\002\003\377\377\377\177'
seed "$tmp/corpus/empty_and_f64" \
    '{"e":{"dtype":"BF16","shape":[0,4],"data_offsets":[0,0]},"d":{"dtype":"F64","shape":[1,1],"data_offsets":[0,8]},"h":{"dtype":"U16","shape":[1],"data_offsets":[8,10]}}' \
    '\000\000\000\000\000\000\360\077\200\077'
seed "$tmp/corpus/empty_object" '{}' ''

# Tokens of the format, so mutations reach deeper checks quickly.
cat >"$tmp/dict" <<'EOF'
"__metadata__"
"dtype"
"shape"
"data_offsets"
"F32"
"F64"
"BF16"
"U8"
"U16"
"I32"
"\\u00e9"
"\\ud83d\\ude00"
"18446744073709551615"
EOF

# ---- run -----------------------------------------------------------------------
echo "fuzz: running $out/fuzz_safetensors for ${secs}s"
status=0
"$out/fuzz_safetensors" -max_total_time="$secs" -max_len=4096 -timeout=10 \
    -dict="$tmp/dict" -artifact_prefix="$out/" -print_final_stats=1 \
    "$tmp/corpus" >"$out/fuzz.log" 2>&1 || status=$?
tail -n 15 "$out/fuzz.log"
if [ "$status" -ne 0 ]; then
    echo "fuzz: FAILED (status $status); see $out/fuzz.log and $out/crash-*" >&2
    exit 1
fi
echo "fuzz: ok, no crash in ${secs}s"
