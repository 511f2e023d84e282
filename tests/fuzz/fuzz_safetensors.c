/* fuzz_safetensors.c - libFuzzer target for the safetensors reader.
 *
 * Any input must either be rejected cleanly or parse; a parsed file must
 * serialize, and the serialized bytes must parse back to an equal value.
 * Sanitizers (address, undefined) catch out-of-bounds reads and leaks.
 * Build and run with scripts/fuzz.sh. */
#include "dsv4_io.h"
#include "st_equal.h"

#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    dsv4_st st, back;
    uint8_t *buf = NULL;
    size_t len = 0;
    char err[256];
    if (dsv4_st_parse(data, size, &st, err, sizeof err) != DSV4_OK) {
        if (err[0] == '\0') abort(); /* every rejection must say why */
        if (st.n_tensors != 0 || st.n_meta != 0) abort();
        return 0;
    }
    if (dsv4_st_serialize(&st, &buf, &len) != DSV4_OK) abort();
    if (len < 8 || buf[0] % 8 != 0) abort(); /* low byte of N: 8 + N must be 8-aligned */
    if (dsv4_st_parse(buf, len, &back, err, sizeof err) != DSV4_OK) abort();
    if (!dsv4_test_st_equal(&st, &back)) abort();
    free(buf);
    dsv4_st_free(&back);
    dsv4_st_free(&st);
    return 0;
}
