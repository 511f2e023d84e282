/* test_opt_formats.c - dsv4_opt_encode / dsv4_opt_decode against the
 * reference, bit for bit, on every ISA this machine supports:
 *  - encoders over all 2^32 fp32 patterns (DSV4_EXHAUSTIVE=0: a sample of
 *    2^24 patterns spread by an odd multiplier, for sanitizer builds);
 *  - decoders over every code;
 *  - odd lengths, unaligned pointers, lengths that split into several pool
 *    tasks under 1, 2 and 3 threads, with guard bytes around the outputs;
 *  - bad arguments give the status ref gives. */
#include "dsv4.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float f32(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

static size_t code_size(dsv4_fmt f) { return f == DSV4_FMT_BF16 ? 2 : 1; }

/* The ISAs to test: every supported one. */
static int isa_list(dsv4_isa *out) {
    int n = 0;
    for (int i = 0; i < DSV4_ISA_COUNT; i++)
        if (dsv4_isa_supported((dsv4_isa)i)) out[n++] = (dsv4_isa)i;
    return n;
}

static uint64_t rng_state = 0x243F6A8885A308D3u;
static uint32_t rng32(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* ---- encoders over every fp32 pattern ---------------------------------------- */
enum { CHUNK = 1 << 20 };
static float xs[CHUNK];                        /* [CHUNK] */
static uint8_t ref_codes[2 * CHUNK], opt_codes[2 * CHUNK]; /* [CHUNK] codes of <= 2 bytes */

static int exhaustive(void) {
    const char *e = getenv("DSV4_EXHAUSTIVE");
    return !(e && strcmp(e, "0") == 0);
}

/* Pattern i of the sweep: i itself, or, sampling, i times an odd constant
 * (a bijection of 2^32 whose first 2^24 values spread over every exponent)
 * with, every other time, the low L bits replaced by a rounding boundary
 * (0, 1, half - 1, half, half + 1, all ones), L = 1..23: the ties and near-ties
 * of every format at every binade, which random bits almost never hit. */
static uint32_t pattern(uint64_t i, int all) {
    if (all) return (uint32_t)i;
    uint32_t h = (uint32_t)i * 0x9E3779B1u;
    if (i % 2 == 0) return h;
    uint32_t L = 1 + (uint32_t)(i / 2 % 23), half = 1u << (L - 1), mask = (1u << L) - 1u;
    const uint32_t low[6] = {0, 1, half - 1, half, half + 1, mask};
    return (h & ~mask) | (low[i / 64 % 6] & mask);
}

static void sweep_encoder(dsv4_fmt f) {
    dsv4_isa isas[DSV4_ISA_COUNT];
    int n_isa = isa_list(isas), all = exhaustive();
    uint64_t total = all ? (uint64_t)1 << 32 : (uint64_t)1 << 24;
    size_t cs = code_size(f);
    cr_assert_eq(dsv4_threads_set(1), DSV4_OK); /* criterion already runs 2 jobs */
    for (uint64_t base = 0; base < total; base += CHUNK) {
        for (size_t i = 0; i < CHUNK; i++) xs[i] = f32(pattern(base + i, all));
        cr_assert_eq(dsv4_ref_encode(f, CHUNK, xs, ref_codes), DSV4_OK);
        for (int k = 0; k < n_isa; k++) {
            cr_assert_eq(dsv4_isa_set(isas[k]), DSV4_OK);
            cr_assert_eq(dsv4_opt_encode(f, CHUNK, xs, opt_codes), DSV4_OK);
            if (memcmp(ref_codes, opt_codes, CHUNK * cs) == 0) continue;
            for (size_t i = 0; i < CHUNK; i++)
                if (memcmp(ref_codes + i * cs, opt_codes + i * cs, cs) != 0) {
                    unsigned r = 0, o = 0;
                    memcpy(&r, ref_codes + i * cs, cs); /* little-endian */
                    memcpy(&o, opt_codes + i * cs, cs);
                    cr_assert_fail("%s encode on %s: fp32 0x%08x -> opt 0x%x, ref 0x%x",
                                   dsv4_fmt_name(f), dsv4_isa_name(isas[k]),
                                   pattern(base + i, all), o, r);
                }
        }
    }
}

Test(encode_all_f32, bf16, .timeout = 1200) { sweep_encoder(DSV4_FMT_BF16); }
Test(encode_all_f32, e4m3, .timeout = 1200) { sweep_encoder(DSV4_FMT_E4M3); }
Test(encode_all_f32, e5m2, .timeout = 1200) { sweep_encoder(DSV4_FMT_E5M2); }
Test(encode_all_f32, e2m1, .timeout = 1200) { sweep_encoder(DSV4_FMT_E2M1); }
Test(encode_all_f32, ue8m0, .timeout = 1200) { sweep_encoder(DSV4_FMT_UE8M0); }

/* ---- decoders over every code -------------------------------------------------- */
Test(decode_all_codes, every_fmt_every_isa) {
    static uint16_t codes[1 << 16];
    static float want[1 << 16], got[1 << 16];
    for (size_t i = 0; i < (1u << 16); i++) codes[i] = (uint16_t)i;
    uint8_t bytes[256];
    for (int i = 0; i < 256; i++) bytes[i] = (uint8_t)i;
    dsv4_isa isas[DSV4_ISA_COUNT];
    int n_isa = isa_list(isas);
    for (int f = 0; f < DSV4_FMT_COUNT; f++) {
        const void *c = f == DSV4_FMT_BF16 ? (const void *)codes : (const void *)bytes;
        size_t n = f == DSV4_FMT_BF16 ? 1u << 16 : 256;
        cr_assert_eq(dsv4_ref_decode((dsv4_fmt)f, n, c, want), DSV4_OK);
        for (int k = 0; k < n_isa; k++) {
            cr_assert_eq(dsv4_isa_set(isas[k]), DSV4_OK);
            memset(got, 0xA5, sizeof got);
            cr_assert_eq(dsv4_opt_decode((dsv4_fmt)f, n, c, got), DSV4_OK);
            for (size_t i = 0; i < n; i++)
                cr_assert_eq(memcmp(&want[i], &got[i], 4), 0,
                             "%s decode on %s: code 0x%zx -> opt %a, ref %a",
                             dsv4_fmt_name((dsv4_fmt)f), dsv4_isa_name(isas[k]), i,
                             (double)got[i], (double)want[i]);
        }
    }
}

/* ---- lengths, offsets, threads, guards ------------------------------------------- */

/* Inputs with the cases that matter mixed in: specials, ties of every
 * format, subnormals, and random bits. */
static float interesting(void) {
    static const uint32_t special[] = {
        0x00000000u, 0x80000000u, 0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFC00001u,
        0x7F800001u, 0x00000001u, 0x80400000u, 0x00400000u, 0x00400001u, 0x3E800000u, /* 0.25 */
        0x3F400000u, 0x40A00000u, 0x43E80000u /* 464 */, 0x47700000u /* 61440 */,
        0x3A800000u /* 2^-10 */, 0x7F7FFFFFu, 0x7F7F8000u, 0x3F808000u, 0x3F818000u};
    uint32_t r = rng32();
    switch (r % 4) {
    case 0: return f32(special[(r >> 8) % (sizeof special / sizeof special[0])]);
    case 1: return f32(rng32());
    case 2: return f32((rng32() & 0x807FFFFFu) | ((uint32_t)(100 + (r >> 8) % 60) << 23));
    default: return f32(rng32() & 0x807FFFFFu); /* subnormal */
    }
}

enum { GUARD = 64, BIG = 3 * 65536 + 5 };

static void check_lengths(dsv4_fmt f) {
    static const size_t lens[] = {0, 1, 2, 3, 5, 7, 8, 9, 13, 15, 16, 17, 31, 32, 33, 47, 63, 64, 65,
                                  127, 128, 129, 251, 997, 65535, 65536, 65537, BIG};
    size_t cs = code_size(f);
    static float x[BIG + 1], want_y[BIG + 1], got_y[BIG + 1 + GUARD];
    static uint8_t want_c[2 * (BIG + 1)], got_c[2 * (BIG + 1) + GUARD];
    for (size_t i = 0; i <= BIG; i++) x[i] = interesting();
    dsv4_isa isas[DSV4_ISA_COUNT];
    int n_isa = isa_list(isas);
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
        for (size_t off = 0; off < 2; off++) { /* 1: start one element in, unaligned */
            size_t n = lens[li];
            const float *xin = x + off;
            cr_assert_eq(dsv4_ref_encode(f, n, xin, want_c), DSV4_OK);
            cr_assert_eq(dsv4_ref_decode(f, n, want_c, want_y), DSV4_OK);
            for (int k = 0; k < n_isa; k++)
                for (int threads = 1; threads <= 3; threads++) {
                    cr_assert_eq(dsv4_isa_set(isas[k]), DSV4_OK);
                    cr_assert_eq(dsv4_threads_set(threads), DSV4_OK);
                    memset(got_c, 0xA5, sizeof got_c);
                    memset(got_y, 0xA5, sizeof got_y);
                    uint8_t *c = got_c + off * cs;
                    float *y = got_y + off;
                    cr_assert_eq(dsv4_opt_encode(f, n, xin, c), DSV4_OK);
                    cr_assert_eq(memcmp(c, want_c, n * cs), 0, "%s encode n=%zu off=%zu %s x%d",
                                 dsv4_fmt_name(f), n, off, dsv4_isa_name(isas[k]), threads);
                    cr_assert_eq(dsv4_opt_decode(f, n, want_c, y), DSV4_OK);
                    cr_assert_eq(memcmp(y, want_y, n * 4), 0, "%s decode n=%zu off=%zu %s x%d",
                                 dsv4_fmt_name(f), n, off, dsv4_isa_name(isas[k]), threads);
                    for (size_t g = 0; g < GUARD; g++) {
                        cr_assert_eq(c[n * cs + g], 0xA5, "encode wrote past the end");
                        cr_assert_eq(((uint8_t *)(y + n))[g], 0xA5, "decode wrote past the end");
                    }
                    if (off) {
                        cr_assert_eq(got_c[0], 0xA5, "encode wrote before the start");
                        cr_assert_eq(((uint8_t *)got_y)[0], 0xA5, "decode wrote before the start");
                    }
                }
        }
}

Test(arrays, lengths_bf16) { check_lengths(DSV4_FMT_BF16); }
Test(arrays, lengths_e4m3) { check_lengths(DSV4_FMT_E4M3); }
Test(arrays, lengths_e5m2) { check_lengths(DSV4_FMT_E5M2); }
Test(arrays, lengths_e2m1) { check_lengths(DSV4_FMT_E2M1); }
Test(arrays, lengths_ue8m0) { check_lengths(DSV4_FMT_UE8M0); }

/* ---- arguments ----------------------------------------------------------------------- */
Test(arrays, bad_arguments_as_ref) {
    float x[4] = {1, 2, 3, 4};
    uint8_t c[8] = {0};
    const dsv4_fmt fmts[] = {DSV4_FMT_BF16, DSV4_FMT_E4M3, DSV4_FMT_E2M1, DSV4_FMT_UE8M0,
                             (dsv4_fmt)DSV4_FMT_COUNT, (dsv4_fmt)-1, (dsv4_fmt)99};
    const size_t ns[] = {0, 1, 4};
    dsv4_isa isas[DSV4_ISA_COUNT];
    int n_isa = isa_list(isas);
    for (int k = 0; k < n_isa; k++) {
        cr_assert_eq(dsv4_isa_set(isas[k]), DSV4_OK);
        for (size_t fi = 0; fi < sizeof fmts / sizeof fmts[0]; fi++)
            for (size_t ni = 0; ni < 3; ni++)
                for (int nulls = 0; nulls < 4; nulls++) {
                    dsv4_fmt f = fmts[fi];
                    size_t n = ns[ni];
                    const float *xp = nulls & 1 ? NULL : x;
                    void *cp = nulls & 2 ? NULL : c;
                    float *yp = nulls & 1 ? NULL : x;
                    const void *ccp = nulls & 2 ? NULL : c;
                    cr_assert_eq(dsv4_opt_encode(f, n, xp, cp), dsv4_ref_encode(f, n, xp, cp),
                                 "encode fmt %d n %zu nulls %d", (int)f, n, nulls);
                    cr_assert_eq(dsv4_opt_decode(f, n, ccp, yp), dsv4_ref_decode(f, n, ccp, yp),
                                 "decode fmt %d n %zu nulls %d", (int)f, n, nulls);
                }
    }
    cr_assert_eq(dsv4_opt_encode(DSV4_FMT_E4M3, 3, NULL, c), DSV4_E_NULL);
    cr_assert_eq(dsv4_opt_decode(DSV4_FMT_E4M3, 3, c, NULL), DSV4_E_NULL);
    cr_assert_eq(dsv4_opt_encode(DSV4_FMT_E4M3, 0, NULL, NULL), DSV4_OK);
}

/* An unusable DSV4_ISA makes every opt call fail until dsv4_isa_set picks a
 * supported ISA.  (Criterion runs each test in a fresh process, so the
 * dispatcher reads the environment here for the first time.) */
Test(dispatch, bad_isa_env_gives_e_isa) {
    setenv("DSV4_ISA", "mmx", 1);
    float x[2] = {1, 2};
    uint8_t c[2];
    dsv4_quant_cfg cfg = {DSV4_FMT_E2M1, 1, 2, DSV4_SCALE_RCEIL};
    cr_assert_eq(dsv4_opt_encode(DSV4_FMT_E4M3, 2, x, c), DSV4_E_ISA);
    cr_assert_eq(dsv4_opt_decode(DSV4_FMT_E4M3, 2, c, x), DSV4_E_ISA);
    cr_assert_eq(dsv4_opt_fake_quant(&cfg, 1, 2, x, x), DSV4_E_ISA);
    cr_assert_eq(dsv4_isa_set(DSV4_ISA_SCALAR), DSV4_OK);
    cr_assert_eq(dsv4_opt_encode(DSV4_FMT_E4M3, 2, x, c), DSV4_OK);
    cr_assert_eq(c[0], 0x38);
}
