/* test_safetensors.c - safetensors reader and writer (io/safetensors.c). */
#include "dsv4_io.h"
#include "fuzz/st_equal.h"

#include <criterion/criterion.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers ---------------------------------------------------------------- */

/* A deterministic byte stream (64-bit LCG), so failures reproduce. */
static uint64_t rng_state;
static uint32_t rng_next(void) {
    rng_state = rng_state * 6364136223846793005ull + 1442695040888963407ull;
    return (uint32_t)(rng_state >> 33);
}

/* A file: 8-byte length of `header`, the header, then data_len bytes 0, 1, 2... */
static uint8_t *make_file(const char *header, size_t data_len, size_t *len) {
    size_t n = strlen(header);
    uint8_t *f = malloc(8 + n + data_len);
    for (int i = 0; i < 8; i++) f[i] = (uint8_t)((uint64_t)n >> (8 * i));
    memcpy(f + 8, header, n);
    for (size_t i = 0; i < data_len; i++) f[8 + n + i] = (uint8_t)i;
    *len = 8 + n + data_len;
    return f;
}

/* Asserts that buf[len) is rejected with `want`, a reason containing `why`,
 * and an empty result. */
static void expect_reject_bytes(const uint8_t *buf, size_t len, dsv4_status want,
                                const char *why, const char *label) {
    dsv4_st st;
    char err[256] = "";
    dsv4_status s = dsv4_st_parse(buf, len, &st, err, sizeof err);
    cr_expect_eq(s, want, "%s: status %d (%s), want %d", label, s, err, want);
    cr_expect(strlen(err) > 0, "%s: empty reason", label);
    cr_expect(why == NULL || strstr(err, why) != NULL, "%s: reason \"%s\" lacks \"%s\"", label,
              err, why);
    cr_expect(st.n_tensors == 0 && st.tensors == NULL && st.n_meta == 0 && st.meta == NULL,
              "%s: result not empty after failure", label);
}

static void expect_reject_header(const char *header, size_t data_len, const char *why) {
    size_t len;
    uint8_t *f = make_file(header, data_len, &len);
    expect_reject_bytes(f, len, DSV4_E_FORMAT, why, header);
    free(f);
}

static void expect_accept_header(const char *header, size_t data_len, size_t n_tensors) {
    size_t len;
    dsv4_st st;
    char err[256] = "";
    uint8_t *f = make_file(header, data_len, &len);
    cr_expect_eq(dsv4_st_parse(f, len, &st, err, sizeof err), DSV4_OK, "%s: %s", header, err);
    cr_expect_eq(st.n_tensors, n_tensors, "%s", header);
    dsv4_st_free(&st);
    free(f);
}

/* Fills `st` with a tensor of every dtype at awkward shapes (rank 0, empty,
 * rank 8, odd extents) and metadata that needs escaping. */
static void build_sample(dsv4_st *st) {
    static const size_t shapes[][DSV4_MAX_RANK] = {
        {0}, {1}, {7}, {3, 5}, {0}, {2, 0, 3}, {1, 2, 1, 3, 1, 1, 2, 1},
    };
    static const int ranks[] = {0, 1, 1, 2, 1, 3, 8};
    uint8_t data[128]; /* >= the largest sample tensor, F64 [3, 5] = 120 bytes */
    char name[64];
    memset(st, 0, sizeof *st);
    for (int dt = 0; dt < DSV4_DT_COUNT; dt++) {
        for (size_t k = 0; k < sizeof ranks / sizeof ranks[0]; k++) {
            for (size_t i = 0; i < sizeof data; i++) data[i] = (uint8_t)rng_next();
            snprintf(name, sizeof name, "t.%s.%zu", dsv4_dtype_name((dsv4_dtype)dt), k);
            cr_assert_eq(dsv4_st_add(st, name, (dsv4_dtype)dt, ranks[k], shapes[k], data),
                         DSV4_OK, "%s", name);
        }
    }
    cr_assert_eq(dsv4_st_add(st, "name with \"quotes\", \\ and caf\xc3\xa9", DSV4_DT_U8, 1,
                             (const size_t[]){3}, "abc"),
                 DSV4_OK);
    cr_assert_eq(dsv4_st_set_meta(st, "dsv4_golden", "1"), DSV4_OK);
    cr_assert_eq(dsv4_st_set_meta(st, "config", "{\"fmt\":\"e2m1\",\"block_cols\":32}"), DSV4_OK);
    cr_assert_eq(dsv4_st_set_meta(st, "odd\tkey\n", "line1\nline2\x01 \xf0\x9f\x98\x80"), DSV4_OK);
    cr_assert_eq(dsv4_st_set_meta(st, "", ""), DSV4_OK);
}

static uint8_t *serialize_sample(size_t *len) {
    dsv4_st st;
    uint8_t *buf;
    build_sample(&st);
    cr_assert_eq(dsv4_st_serialize(&st, &buf, len), DSV4_OK);
    dsv4_st_free(&st);
    return buf;
}

static uint64_t read_le64(const uint8_t *b) {
    uint64_t n = 0;
    for (int i = 7; i >= 0; i--) n = (n << 8) | b[i];
    return n;
}

/* ---- dtypes, builders, lookups -------------------------------------------- */

Test(safetensors, dtype_names_and_sizes) {
    static const char *names[] = {"F32", "F64", "BF16", "U8", "U16", "I32"};
    static const size_t sizes[] = {4, 8, 2, 1, 2, 4};
    for (int dt = 0; dt < DSV4_DT_COUNT; dt++) {
        cr_expect_str_eq(dsv4_dtype_name((dsv4_dtype)dt), names[dt]);
        cr_expect_eq(dsv4_dtype_size((dsv4_dtype)dt), sizes[dt]);
    }
    cr_expect_str_eq(dsv4_dtype_name(DSV4_DT_COUNT), "?");
    cr_expect_str_eq(dsv4_dtype_name((dsv4_dtype)-1), "?");
    cr_expect_eq(dsv4_dtype_size(DSV4_DT_COUNT), 0);
}

Test(safetensors, numel) {
    dsv4_tensor t = {0};
    cr_expect_eq(dsv4_tensor_numel(&t), 1, "rank 0 is a scalar");
    t.rank = 3;
    t.shape[0] = 2, t.shape[1] = 3, t.shape[2] = 5;
    cr_expect_eq(dsv4_tensor_numel(&t), 30);
    t.shape[1] = 0;
    cr_expect_eq(dsv4_tensor_numel(&t), 0);
    t.shape[0] = t.shape[2] = SIZE_MAX;
    cr_expect_eq(dsv4_tensor_numel(&t), 0, "a zero extent wins over huge ones");
    cr_expect_eq(dsv4_tensor_numel(NULL), 0);
}

Test(safetensors, add_validates) {
    dsv4_st st = {0};
    const size_t one[] = {1}, huge[] = {SIZE_MAX / 2 + 1, 2}, zero[] = {0};
    const float x = 1.0f;
    cr_assert_eq(dsv4_st_add(&st, "x", DSV4_DT_F32, 1, one, &x), DSV4_OK);
    cr_expect_eq(dsv4_st_add(&st, "x", DSV4_DT_F32, 1, one, &x), DSV4_E_ARG, "duplicate");
    cr_expect_eq(dsv4_st_add(&st, "", DSV4_DT_F32, 1, one, &x), DSV4_E_ARG, "empty name");
    cr_expect_eq(dsv4_st_add(&st, "__metadata__", DSV4_DT_F32, 1, one, &x), DSV4_E_ARG);
    cr_expect_eq(dsv4_st_add(&st, "bad\xff", DSV4_DT_F32, 1, one, &x), DSV4_E_ARG, "not UTF-8");
    cr_expect_eq(dsv4_st_add(&st, "r", DSV4_DT_F32, -1, one, &x), DSV4_E_ARG);
    cr_expect_eq(dsv4_st_add(&st, "r", DSV4_DT_F32, DSV4_MAX_RANK + 1, one, &x), DSV4_E_ARG);
    cr_expect_eq(dsv4_st_add(&st, "d", DSV4_DT_COUNT, 1, one, &x), DSV4_E_ARG);
    cr_expect_eq(dsv4_st_add(&st, "o", DSV4_DT_U8, 2, huge, &x), DSV4_E_OVERFLOW);
    cr_expect_eq(dsv4_st_add(&st, "n", DSV4_DT_F32, 1, one, NULL), DSV4_E_NULL);
    cr_expect_eq(dsv4_st_add(&st, "s", DSV4_DT_F32, 1, NULL, &x), DSV4_E_NULL);
    cr_expect_eq(dsv4_st_add(NULL, "s", DSV4_DT_F32, 1, one, &x), DSV4_E_NULL);
    cr_expect_eq(dsv4_st_add(&st, NULL, DSV4_DT_F32, 1, one, &x), DSV4_E_NULL);
    cr_expect_eq(st.n_tensors, 1, "failed adds change nothing");
    cr_expect_eq(dsv4_st_add(&st, "empty", DSV4_DT_F32, 1, zero, NULL), DSV4_OK);
    cr_expect_eq(dsv4_st_add(&st, "scalar", DSV4_DT_F32, 0, NULL, &x), DSV4_OK);
    const dsv4_tensor *t = dsv4_st_find(&st, "scalar");
    cr_assert_not_null(t);
    cr_expect_eq(t->nbytes, 4);
    cr_expect_eq(memcmp(t->data, &x, 4), 0);
    cr_expect_eq(dsv4_st_find(&st, "empty")->nbytes, 0);
    cr_expect_null(dsv4_st_find(&st, "nope"));
    dsv4_st_free(&st);
}

Test(safetensors, set_meta_replaces) {
    dsv4_st st = {0};
    cr_assert_eq(dsv4_st_set_meta(&st, "op", "cast"), DSV4_OK);
    cr_assert_eq(dsv4_st_set_meta(&st, "seed", "7"), DSV4_OK);
    cr_assert_eq(dsv4_st_set_meta(&st, "op", "quant"), DSV4_OK);
    cr_expect_eq(st.n_meta, 2);
    cr_expect_str_eq(dsv4_st_meta(&st, "op"), "quant");
    cr_expect_str_eq(st.meta[0].key, "op", "replacing keeps the position");
    cr_expect_null(dsv4_st_meta(&st, "missing"));
    cr_expect_eq(dsv4_st_set_meta(&st, "k", NULL), DSV4_E_NULL);
    cr_expect_eq(dsv4_st_set_meta(&st, "k", "\xc3"), DSV4_E_ARG);
    dsv4_st_free(&st);
}

Test(safetensors, free_is_safe_and_leaves_empty) {
    dsv4_st st = {0};
    dsv4_st_free(&st);
    dsv4_st_free(&st);
    dsv4_st_free(NULL);
    build_sample(&st);
    dsv4_st_free(&st);
    cr_expect(st.n_tensors == 0 && st.tensors == NULL && st.n_meta == 0 && st.meta == NULL);
    dsv4_st_free(&st);
}

/* ---- writer ------------------------------------------------------------------ */

Test(safetensors, exact_layout_of_a_tiny_file) {
    dsv4_st st = {0};
    const uint8_t a[2] = {1, 2};
    const int32_t b = 0x01020304;
    const size_t two[] = {2};
    const char header[] = "{\"__metadata__\":{\"k\":\"v\"},"
                          "\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]},"
                          "\"b\":{\"dtype\":\"I32\",\"shape\":[],\"data_offsets\":[2,6]}}";
    const size_t hlen = sizeof header - 1; /* 130 */
    const size_t padded = 136;             /* 8 + 136 is a multiple of 8 */
    uint8_t *buf;
    size_t len;
    cr_assert_eq(hlen, 130);
    cr_assert_eq(dsv4_st_add(&st, "a", DSV4_DT_U8, 1, two, a), DSV4_OK);
    cr_assert_eq(dsv4_st_add(&st, "b", DSV4_DT_I32, 0, NULL, &b), DSV4_OK);
    cr_assert_eq(dsv4_st_set_meta(&st, "k", "v"), DSV4_OK);
    cr_assert_eq(dsv4_st_serialize(&st, &buf, &len), DSV4_OK);
    cr_assert_eq(len, 8 + padded + 6);
    const uint8_t want_len[8] = {136, 0, 0, 0, 0, 0, 0, 0};
    cr_expect_eq(memcmp(buf, want_len, 8), 0, "8-byte little-endian header length");
    cr_expect_eq(memcmp(buf + 8, header, hlen), 0, "header text: %.*s", (int)hlen, buf + 8);
    cr_expect(buf[8 + hlen] == ' ' && buf[8 + hlen + 1] == ' ', "padded with spaces");
    const uint8_t want_data[6] = {1, 2, 4, 3, 2, 1};
    cr_expect_eq(memcmp(buf + 8 + padded, want_data, 6), 0, "data packed, little-endian");
    free(buf);
    dsv4_st_free(&st);
}

Test(safetensors, header_padding_for_every_length) {
    /* Names of growing length move the header length through every residue. */
    for (size_t n = 1; n <= 17; n++) {
        dsv4_st st = {0};
        char name[32];
        uint8_t *buf;
        size_t len;
        memset(name, 'n', n);
        name[n] = '\0';
        cr_assert_eq(dsv4_st_add(&st, name, DSV4_DT_U8, 1, (const size_t[]){1}, "z"), DSV4_OK);
        cr_assert_eq(dsv4_st_serialize(&st, &buf, &len), DSV4_OK);
        uint64_t hlen = read_le64(buf);
        cr_expect_eq((8 + hlen) % 8, 0);
        cr_expect_eq(len, 8 + hlen + 1);
        size_t end = 8 + hlen; /* the JSON ends at the last '}', then < 8 spaces */
        while (end > 8 && buf[end - 1] == ' ') end--;
        cr_expect_eq(buf[end - 1], '}');
        cr_expect_lt(8 + hlen - end, 8);
        cr_expect_eq(buf[len - 1], 'z');
        free(buf);
        dsv4_st_free(&st);
    }
}

Test(safetensors, empty_file_round_trip) {
    dsv4_st st = {0}, back;
    uint8_t *buf;
    size_t len;
    cr_assert_eq(dsv4_st_serialize(&st, &buf, &len), DSV4_OK);
    cr_expect_eq(len, 16);
    cr_expect_eq(memcmp(buf + 8, "{}      ", 8), 0);
    cr_assert_eq(dsv4_st_parse(buf, len, &back, NULL, 0), DSV4_OK);
    cr_expect(back.n_tensors == 0 && back.n_meta == 0);
    free(buf);
}

Test(safetensors, serialize_rejects_inconsistent_structs) {
    dsv4_st st = {0};
    uint8_t *buf;
    size_t len;
    build_sample(&st);
    st.tensors[3].nbytes += 1;
    cr_expect_eq(dsv4_st_serialize(&st, &buf, &len), DSV4_E_SIZE);
    cr_expect_null(buf);
    st.tensors[3].nbytes -= 1;
    char *saved = st.tensors[3].name;
    st.tensors[3].name = st.tensors[4].name;
    cr_expect_eq(dsv4_st_serialize(&st, &buf, &len), DSV4_E_ARG, "duplicate names");
    st.tensors[3].name = saved;
    st.tensors[3].dtype = DSV4_DT_COUNT;
    cr_expect_eq(dsv4_st_serialize(&st, &buf, &len), DSV4_E_ARG);
    st.tensors[3].dtype = DSV4_DT_F32;
    cr_expect_eq(dsv4_st_serialize(NULL, &buf, &len), DSV4_E_NULL);
    dsv4_st_free(&st);
}

/* ---- round trips --------------------------------------------------------------- */

Test(safetensors, round_trip_every_dtype) {
    dsv4_st st, back;
    uint8_t *buf;
    size_t len;
    char err[256] = "";
    rng_state = 1;
    build_sample(&st);
    cr_assert_eq(dsv4_st_serialize(&st, &buf, &len), DSV4_OK);
    cr_expect_eq((8 + read_le64(buf)) % 8, 0);
    cr_expect(memcmp(buf + 8, "{\"__metadata__\":", 16) == 0, "metadata comes first");
    cr_assert_eq(dsv4_st_parse(buf, len, &back, err, sizeof err), DSV4_OK, "%s", err);
    cr_expect(dsv4_test_st_equal(&st, &back), "round trip changed the contents");
    for (size_t i = 0; i < back.n_tensors; i++)
        cr_expect_not_null(back.tensors[i].data, "data is never NULL, even when empty");
    cr_expect_str_eq(dsv4_st_meta(&back, "config"), "{\"fmt\":\"e2m1\",\"block_cols\":32}");
    /* Serializing again gives the same bytes. */
    uint8_t *buf2;
    size_t len2;
    cr_assert_eq(dsv4_st_serialize(&back, &buf2, &len2), DSV4_OK);
    cr_expect(len2 == len && memcmp(buf, buf2, len) == 0);
    free(buf2);
    free(buf);
    dsv4_st_free(&back);
    dsv4_st_free(&st);
}

Test(safetensors, result_owns_its_data) {
    size_t len;
    dsv4_st st;
    uint8_t *buf = serialize_sample(&len);
    uint8_t *copy = malloc(len);
    memcpy(copy, buf, len);
    cr_assert_eq(dsv4_st_parse(buf, len, &st, NULL, 0), DSV4_OK);
    memset(buf, 0xAB, len);
    free(buf);
    dsv4_st again;
    cr_assert_eq(dsv4_st_parse(copy, len, &again, NULL, 0), DSV4_OK);
    cr_expect(dsv4_test_st_equal(&st, &again));
    dsv4_st_free(&again);
    dsv4_st_free(&st);
    free(copy);
}

Test(safetensors, tensors_come_out_in_data_order) {
    const char *h = "{\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,4]},"
                    "\"e2\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]},"
                    "\"a\":{\"dtype\":\"U16\",\"shape\":[1],\"data_offsets\":[0,2]},"
                    "\"e1\":{\"dtype\":\"F32\",\"shape\":[0],\"data_offsets\":[0,0]}}";
    size_t len;
    dsv4_st st;
    uint8_t *f = make_file(h, 4, &len);
    cr_assert_eq(dsv4_st_parse(f, len, &st, NULL, 0), DSV4_OK);
    cr_assert_eq(st.n_tensors, 4);
    cr_expect_str_eq(st.tensors[0].name, "e2", "empty tensors at 0 keep header order");
    cr_expect_str_eq(st.tensors[1].name, "e1");
    cr_expect_str_eq(st.tensors[2].name, "a");
    cr_expect_str_eq(st.tensors[3].name, "b");
    cr_expect(((const uint8_t *)st.tensors[3].data)[0] == 2, "b holds bytes 2 and 3");
    dsv4_st_free(&st);
    free(f);
}

Test(safetensors, file_round_trip) {
    char path[] = "/tmp/dsv4_test_st_XXXXXX";
    int fd = mkstemp(path);
    dsv4_st st, back;
    char err[256] = "";
    cr_assert(fd >= 0);
    close(fd);
    build_sample(&st);
    cr_assert_eq(dsv4_st_write(path, &st), DSV4_OK);
    cr_assert_eq(dsv4_st_read(path, &back, err, sizeof err), DSV4_OK, "%s", err);
    cr_expect(dsv4_test_st_equal(&st, &back));
    unlink(path);
    dsv4_st_free(&back);
    dsv4_st_free(&st);
}

Test(safetensors, read_errors_are_io) {
    dsv4_st st;
    char err[256] = "";
    cr_expect_eq(dsv4_st_read("/nonexistent/dir/x.safetensors", &st, err, sizeof err), DSV4_E_IO);
    cr_expect(strlen(err) > 0);
    err[0] = '\0';
    cr_expect_eq(dsv4_st_read("/tmp", &st, err, sizeof err), DSV4_E_IO, "a directory");
    cr_expect(strlen(err) > 0);
    cr_expect(st.n_tensors == 0 && st.tensors == NULL);
    cr_expect_eq(dsv4_st_read(NULL, &st, NULL, 0), DSV4_E_NULL);
    dsv4_st empty = {0};
    cr_expect_eq(dsv4_st_write("/nonexistent/dir/x.safetensors", &empty), DSV4_E_IO);
}

/* ---- malformed files ----------------------------------------------------------- */

Test(safetensors, shorter_than_length_field) {
    const uint8_t bytes[8] = {2, 0, 0, 0, 0, 0, 0, 0};
    for (size_t len = 0; len < 8; len++) expect_reject_bytes(bytes, len, DSV4_E_FORMAT, "shorter", "short");
    expect_reject_bytes(NULL, 0, DSV4_E_FORMAT, "shorter", "NULL, 0");
}

Test(safetensors, header_length_out_of_range) {
    uint8_t f[16] = {0};
    memcpy(f + 8, "{}      ", 8);
    f[0] = 9; /* one byte past the end */
    expect_reject_bytes(f, 16, DSV4_E_FORMAT, "past the end", "N = 9");
    uint64_t big = 100000001; /* over the 100 MB limit */
    for (int i = 0; i < 8; i++) f[i] = (uint8_t)(big >> (8 * i));
    expect_reject_bytes(f, 16, DSV4_E_FORMAT, "limit", "N = 1e8 + 1");
    big = 100000000;
    for (int i = 0; i < 8; i++) f[i] = (uint8_t)(big >> (8 * i));
    expect_reject_bytes(f, 16, DSV4_E_FORMAT, "past the end", "N = 1e8");
    memset(f, 0xFF, 8);
    expect_reject_bytes(f, 16, DSV4_E_FORMAT, "limit", "N = 2^64 - 1");
    memset(f, 0, 8);
    expect_reject_bytes(f, 16, DSV4_E_FORMAT, "'{'", "N = 0");
}

/* A valid entry "a" of 2 bytes, reused by the cases below. */
#define ENTRY_A "\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}"

Test(safetensors, malformed_headers) {
    static const struct {
        const char *header;
        size_t data_len;
        const char *why; /* must appear in the reason */
    } cases[] = {
        /* not JSON, not an object, bad JSON details */
        {"{\"a\":", 0, "JSON"},
        {"[1]", 0, "'{'"},
        {" {}", 0, "'{'"},
        {"{" ENTRY_A "," ENTRY_A "}", 2, "duplicate"},
        {"{" ENTRY_A ",}", 2, "JSON"},
        {"{" ENTRY_A "}x", 2, "JSON"},
        {"{\"a\xff\":{}}", 0, "UTF-8"},
        /* dtype */
        {"{\"a\":{\"dtype\":\"F16\",\"shape\":[1],\"data_offsets\":[0,2]}}", 2, "unsupported dtype F16"},
        {"{\"a\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8, "unsupported dtype I64"},
        {"{\"a\":{\"dtype\":\"f32\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "unsupported dtype f32"},
        {"{\"a\":{\"dtype\":\"F8_E4M3\",\"shape\":[1],\"data_offsets\":[0,1]}}", 1, "unsupported dtype"},
        {"{\"a\":{\"dtype\":4,\"shape\":[1],\"data_offsets\":[0,4]}}", 4, "dtype"},
        /* shape */
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":2,\"data_offsets\":[0,2]}}", 2, "shape"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[-2],\"data_offsets\":[0,2]}}", 2, "shape"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[2.0],\"data_offsets\":[0,2]}}", 2, "shape"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[\"2\"],\"data_offsets\":[0,2]}}", 2, "shape"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[null],\"data_offsets\":[0,2]}}", 2, "shape"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[18446744073709551616],\"data_offsets\":[0,2]}}", 2, "shape"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[1,1,1,1,1,1,1,1,1],\"data_offsets\":[0,1]}}", 1, "rank 9"},
        /* data_offsets */
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":0}}", 2, "data_offsets"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2]}}", 2, "data_offsets"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2,2]}}", 2, "data_offsets"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[-1,1]}}", 2, "data_offsets"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2.5]}}", 2, "data_offsets"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[2,0]}}", 2, "after end"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,3]}}", 2, "past the data"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,18446744073709551615]}}", 2, "past the data"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[3],\"data_offsets\":[0,2]}}", 2, "need 3"},
        {"{\"a\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, "need 8"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[],\"data_offsets\":[0,0]}}", 0, "need 1"},
        {"{\"a\":{\"dtype\":\"U16\",\"shape\":[4294967296,4294967296],\"data_offsets\":[0,0]}}", 0, "overflows"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[4294967296,4294967296,0],\"data_offsets\":[0,2]}}", 2, "need 0"},
        /* layout of the data buffer */
        {"{" ENTRY_A ",\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}", 3, "overlap"},
        {"{" ENTRY_A ",\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, "overlap"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[4],\"data_offsets\":[0,4]},"
         "\"e\":{\"dtype\":\"U8\",\"shape\":[0],\"data_offsets\":[2,2]}}", 4, "overlap"},
        {"{" ENTRY_A ",\"b\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[3,5]}}", 5, "hole"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[1,3]}}", 3, "hole"},
        {"{" ENTRY_A "}", 3, "1 trailing"},
        {"{}", 1, "1 trailing"},
        /* metadata */
        {"{\"__metadata__\":{\"k\":1}," ENTRY_A "}", 2, "not a string"},
        {"{\"__metadata__\":{\"k\":{\"x\":\"y\"}}}", 0, "not a string"},
        {"{\"__metadata__\":{\"k\":null}}", 0, "not a string"},
        {"{\"__metadata__\":\"k\"}", 0, "not an object"},
        {"{\"__metadata__\":[]}", 0, "not an object"},
        {"{\"__metadata__\":{\"k\":\"v\",\"k\":\"w\"}}", 0, "duplicate"},
        {"{\"__metadata__\":{},\"__metadata__\":{}}", 0, "duplicate"},
        /* entry fields */
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[2]}}", 2, "needs the fields"},
        {"{\"a\":{\"dtype\":\"U8\",\"data_offsets\":[0,2]}}", 2, "needs the fields"},
        {"{\"a\":{}}", 0, "needs the fields"},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2],\"x\":1}}", 2, "unexpected field \"x\""},
        {"{\"a\":{\"dtype\":\"U8\",\"shape\":[2],\"offsets\":[0,2]}}", 2, "unexpected field"},
        {"{\"a\":{\"dtype\":\"U8\",\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, "duplicate"},
        {"{\"a\":[1]}", 0, "not an object"},
        {"{\"a\":\"U8\"}", 0, "not an object"},
        {"{\"\":{\"dtype\":\"U8\",\"shape\":[2],\"data_offsets\":[0,2]}}", 2, "empty name"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        expect_reject_header(cases[i].header, cases[i].data_len, cases[i].why);
}

Test(safetensors, valid_edge_cases) {
    expect_accept_header("{}", 0, 0);
    expect_accept_header("{}   ", 0, 0);
    expect_accept_header("{\"__metadata__\":{}}", 0, 0);
    expect_accept_header("{\"__metadata__\":{\"k\":\"v\"}}", 0, 0);
    expect_accept_header("{" ENTRY_A "}   ", 2, 1);
    expect_accept_header("{ " ENTRY_A " , \"__metadata__\" : { \"x\" : \"\\u00e9\" } }", 2, 1);
    expect_accept_header("{" ENTRY_A ",\"e\":{\"dtype\":\"F64\",\"shape\":[3,0],\"data_offsets\":[2,2]}}", 2, 2);
    expect_accept_header("{\"e\":{\"dtype\":\"F64\",\"shape\":[0],\"data_offsets\":[0,0]}," ENTRY_A "}", 2, 2);
    expect_accept_header("{\"s\":{\"shape\":[],\"data_offsets\":[0,4],\"dtype\":\"I32\"}}", 4, 1);
    expect_accept_header("{\"r8\":{\"dtype\":\"BF16\",\"shape\":[1,1,1,1,1,1,1,2],\"data_offsets\":[0,4]}}", 4, 1);
}

/* Cutting a valid file short at any length must fail cleanly: the header
 * length then points past the end, or a tensor's data is missing. */
Test(safetensors, every_truncation_fails) {
    size_t len;
    rng_state = 2;
    uint8_t *full = serialize_sample(&len);
    for (size_t n = 0; n < len; n++) {
        /* An exact-size copy, so ASan sees any read past n. */
        uint8_t *cut = malloc(n > 0 ? n : 1);
        memcpy(cut, full, n);
        char label[32];
        snprintf(label, sizeof label, "cut at %zu", n);
        expect_reject_bytes(cut, n, DSV4_E_FORMAT, NULL, label);
        free(cut);
    }
    free(full);
}

/* Random byte changes in a valid file never crash; whatever still parses
 * must survive a write/read round trip unchanged. */
Test(safetensors, random_byte_flips) {
    size_t len;
    rng_state = 3;
    uint8_t *full = serialize_sample(&len);
    uint64_t hlen = read_le64(full);
    size_t accepted = 0;
    for (int iter = 0; iter < 4000; iter++) {
        uint8_t *f = malloc(len);
        memcpy(f, full, len);
        int flips = 1 + (int)(rng_next() % 3);
        for (int k = 0; k < flips; k++) {
            /* Mostly in the header, where the parser's decisions are. */
            size_t at = rng_next() % 4 ? 8 + rng_next() % hlen : rng_next() % len;
            f[at] = rng_next() % 2 ? (uint8_t)rng_next() : (uint8_t)(f[at] ^ (1u << (rng_next() % 8)));
        }
        dsv4_st st, back;
        char err[256] = "";
        dsv4_status s = dsv4_st_parse(f, len, &st, err, sizeof err);
        if (s == DSV4_OK) {
            uint8_t *buf;
            size_t blen;
            accepted++;
            cr_assert_eq(dsv4_st_serialize(&st, &buf, &blen), DSV4_OK, "iteration %d", iter);
            cr_assert_eq(dsv4_st_parse(buf, blen, &back, err, sizeof err), DSV4_OK, "%s", err);
            cr_expect(dsv4_test_st_equal(&st, &back), "iteration %d", iter);
            dsv4_st_free(&back);
            dsv4_st_free(&st);
            free(buf);
        } else {
            cr_expect_eq(s, DSV4_E_FORMAT, "iteration %d: %s", iter, err);
            cr_expect(strlen(err) > 0, "iteration %d: no reason", iter);
        }
        free(f);
    }
    /* Flips in tensor data or in padding leave a valid file: some must pass. */
    cr_expect(accepted > 0);
    free(full);
}

Test(safetensors, parse_null_arguments) {
    uint8_t f[16] = {8, 0, 0, 0, 0, 0, 0, 0, '{', '}', ' ', ' ', ' ', ' ', ' ', ' '};
    dsv4_st st;
    cr_expect_eq(dsv4_st_parse(f, 16, NULL, NULL, 0), DSV4_E_NULL);
    cr_expect_eq(dsv4_st_parse(NULL, 16, &st, NULL, 0), DSV4_E_NULL);
    cr_expect_eq(dsv4_st_parse(f, 16, &st, NULL, 0), DSV4_OK, "err may be NULL");
    dsv4_st_free(&st);
}
