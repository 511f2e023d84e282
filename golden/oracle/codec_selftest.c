/* codec_selftest.c - the oracle's codec stages against worked vectors.
 *
 * The expected values are written out by hand from spec/formats.md (the
 * element rules and policy of §1-§3, the quantizer of §4, its worked tiles
 * §4.3, the corner cases §6.1), not computed, so a wrong rule in numfmt.c or
 * codec.c (ties away from zero, a wrong scale rule, a lost sign) fails here. */
#include "codec.h"

#include <stdio.h>
#include <string.h>

static int g_fail;

static void expect(const char *what, uint32_t x, uint32_t got, uint32_t want) {
    if (got == want) return;
    fprintf(stderr, "selftest FAIL %s(0x%08X): got 0x%08X, want 0x%08X\n", what, (unsigned)x,
            (unsigned)got, (unsigned)want);
    g_fail++;
}

typedef struct pair {
    uint32_t in, out;
} pair;

static void check_encode(int fmt, const pair *p, size_t n) {
    char what[32];
    snprintf(what, sizeof what, "%s encode", oc_cast_fmt_name(fmt));
    for (size_t i = 0; i < n; i++) {
        uint32_t code;
        oc_cast_encode(fmt, &p[i].in, &code, 1);
        expect(what, p[i].in, code, p[i].out);
    }
}

static void check_decode(int fmt, const pair *p, size_t n) {
    char what[32];
    snprintf(what, sizeof what, "%s decode", oc_cast_fmt_name(fmt));
    for (size_t i = 0; i < n; i++) {
        uint32_t y;
        oc_cast_decode(fmt, &p[i].in, &y, 1);
        expect(what, p[i].in, y, p[i].out);
    }
}

#define N(a) (sizeof(a) / sizeof(a)[0])

static void cast_e2m1(void) {
    static const pair enc[] = {
        {0x3E800000u, 0x0}, /* 0.25 tie -> 0 */
        {0x3E800001u, 0x1}, /* just above -> 0.5 */
        {0x3F400000u, 0x2}, /* 0.75 tie -> 1 */
        {0x3F3FFFFFu, 0x1},
        {0x3FA00000u, 0x2}, /* 1.25 tie -> 1 */
        {0x3FE00000u, 0x4}, /* 1.75 tie -> 2 */
        {0x40200000u, 0x4}, /* 2.5 tie -> 2 */
        {0x40600000u, 0x6}, /* 3.5 tie -> 4 */
        {0x40A00000u, 0x6}, /* 5 tie -> 4 */
        {0x40A00001u, 0x7}, /* just above 5 -> 6 */
        {0x40C00000u, 0x7}, {0x7149F2CAu, 0x7}, /* 6, 1e30 */
        {0xC0200000u, 0xC}, {0xC0A00000u, 0xE}, /* -2.5, -5 */
        {0xBDCCCCCDu, 0x8}, {0x80000000u, 0x8}, {0x80000001u, 0x8}, /* -0.1, -0, -subnormal */
        {0x00000001u, 0x0},
        {0x7F800000u, 0x7}, {0xFF800000u, 0xF},
        {0x7FC00000u, 0x7}, {0xFFC00000u, 0x7}, {0xFF800001u, 0x7},
    };
    static const pair dec[] = {
        {0x8, 0x80000000u}, {0xF, 0xC0C00000u}, {0x1, 0x3F000000u}, {0x5, 0x40400000u},
        {0x17, 0x40C00000u}, /* low nibble only */
    };
    check_encode(ON_E2M1, enc, N(enc));
    check_decode(ON_E2M1, dec, N(dec));
}

static void cast_e4m3(void) {
    static const pair enc[] = {
        {0x43E00000u, 0x7E}, {0x43E80000u, 0x7E}, {0x43E80001u, 0x7E}, /* 448, 464, 464+ */
        {0x43F00000u, 0x7E}, {0x7149F2CAu, 0x7E},                      /* 480, 1e30 */
        {0x7F800000u, 0x7E}, {0xFF800000u, 0xFE},
        {0x7FC00000u, 0x7F}, {0xFFC00000u, 0x7F}, {0x7F800001u, 0x7F},
        {0x3A800000u, 0x00}, {0x3A800001u, 0x01},  /* 2^-10 tie -> 0; above -> min subnormal */
        {0x3B400000u, 0x02}, {0x3BA00000u, 0x02},  /* 1.5*2^-9, 2.5*2^-9 */
        {0x3BE00000u, 0x04}, {0x3C700000u, 0x08},  /* 3.5*2^-9, 7.5*2^-9 (carry) */
        {0x43680000u, 0x76}, {0x43780000u, 0x78},  /* 232, 248 */
        {0x80000000u, 0x80}, {0x3F800000u, 0x38}, {0xBF800000u, 0xB8},
    };
    static const pair dec[] = {
        {0x7F, 0x7FC00000u}, {0xFF, 0x7FC00000u}, {0x80, 0x80000000u}, {0x01, 0x3B000000u},
        {0x7E, 0x43E00000u}, {0x08, 0x3C800000u}, {0xFE, 0xC3E00000u},
    };
    check_encode(ON_E4M3, enc, N(enc));
    check_decode(ON_E4M3, dec, N(dec));
}

static void cast_e5m2(void) {
    static const pair enc[] = {
        {0x47600000u, 0x7B}, {0x476FFFFFu, 0x7B}, {0x47700000u, 0x7B}, /* 57344, 61440-, 61440 */
        {0x47800000u, 0x7B}, {0x7F800000u, 0x7B}, {0xFF800000u, 0xFB},
        {0x7FC00000u, 0x7F}, {0xFFC00000u, 0x7F},
        {0x37000000u, 0x00}, {0x37000001u, 0x01}, /* 2^-17 tie -> 0; above -> 0x01 */
        {0x37800000u, 0x01}, {0x38800000u, 0x04}, /* 2^-16, 2^-14 */
        {0x3F800000u, 0x3C}, {0x80000000u, 0x80},
        {0x40100000u, 0x40}, {0x40300000u, 0x42}, /* 2.25 tie -> 2, 2.75 tie -> 3 */
    };
    static const pair dec[] = {
        {0x7C, 0x7F800000u}, {0xFC, 0xFF800000u}, {0x7D, 0x7FC00000u}, {0xFF, 0x7FC00000u},
        {0x01, 0x37800000u}, {0x7B, 0x47600000u},
    };
    check_encode(ON_E5M2, enc, N(enc));
    check_decode(ON_E5M2, dec, N(dec));
}

static void cast_bf16(void) {
    static const pair enc[] = {
        {0x7F7FFFFFu, 0x7F80}, {0x7F7F7FFFu, 0x7F7F}, {0x7F7F8000u, 0x7F80}, /* overflow tie */
        {0x3F808000u, 0x3F80}, {0x3F818000u, 0x3F82}, {0x3F808001u, 0x3F81}, /* ties */
        {0x7FC00000u, 0x7FC0}, {0xFFC00001u, 0x7FC0}, {0x7F800001u, 0x7FC0},
        {0x80000000u, 0x8000}, {0x00008000u, 0x0000}, {0x00018000u, 0x0002},
        {0x80008001u, 0x8001}, {0x7F800000u, 0x7F80}, {0xFF800000u, 0xFF80},
    };
    static const pair dec[] = {
        {0x0001, 0x00010000u}, {0x8000, 0x80000000u}, {0x7F80, 0x7F800000u},
        {0xFFC1, 0xFFC10000u}, {0x7F7F, 0x7F7F0000u},
    };
    check_encode(ON_BF16, enc, N(enc));
    check_decode(ON_BF16, dec, N(dec));
}

static void cast_ue8m0(void) {
    static const pair enc[] = {
        {0x3F800000u, 0x7F}, {0x3F800001u, 0x80}, {0x3F7FFFFFu, 0x7F}, /* 1, 1+, 1- */
        {0x00400000u, 0x00}, {0x00400001u, 0x01}, {0x00000001u, 0x00}, /* 2^-127, sub */
        {0x00800000u, 0x01}, {0x7F000000u, 0xFE}, {0x7F000001u, 0xFE}, /* 2^-126, 2^127 */
        {0x7F7FFFFFu, 0xFE}, {0x7F800000u, 0xFE},
        {0x00000000u, 0x00}, {0x80000000u, 0x00},
        {0xBF800000u, 0xFF}, {0xFF800000u, 0xFF}, {0x7FC00000u, 0xFF}, {0x80000001u, 0xFF},
        {0x40C00000u, 0x82}, /* 6 -> 8 */
    };
    static const pair dec[] = {
        {0x00, 0x00400000u}, {0xFF, 0x7FC00000u}, {0x7F, 0x3F800000u},
        {0xFE, 0x7F000000u}, {0x01, 0x00800000u},
    };
    check_encode(OC_UE8M0, enc, N(enc));
    check_decode(OC_UE8M0, dec, N(dec));
}

/* encode(decode(c)) == c for every finite code of the table formats. */
static void cast_roundtrip(void) {
    for (int fmt = 0; fmt < ON_COUNT; fmt++) {
        const on_format *f = on_get((on_id)fmt);
        uint32_t ncodes = 1u << f->code_bits;
        mpfr_t v;
        mpfr_init(v);
        for (uint32_t c = 0; c < ncodes; c++) {
            if (on_code_value(f, c, v) != ON_FINITE) continue;
            uint32_t y, back;
            oc_cast_decode(fmt, &c, &y, 1);
            oc_cast_encode(fmt, &y, &back, 1);
            expect("roundtrip", c, back, c);
        }
        mpfr_clear(v);
    }
}

int oc_cast_selftest(void) {
    g_fail = 0;
    cast_e2m1();
    cast_e4m3();
    cast_e5m2();
    cast_bf16();
    cast_ue8m0();
    cast_roundtrip();
    return g_fail;
}

/* ---- quant ------------------------------------------------------------- */
/* One 1 x bc tile whose first n elements are given (rest +0): check the
 * scale byte, the first n codes (unpacked) and their dequantized values. */
typedef struct qvec {
    size_t n;
    uint32_t x[4];
    uint8_t scale;
    uint8_t codes[4];
    uint32_t y[4];
} qvec;

static void check_tile(const char *name, const oc_qcfg *c, const qvec *v) {
    uint32_t x[128] = {0}; /* [1, bc], bc <= 128 */
    uint8_t stored[128], scale;
    uint32_t y[128];
    memcpy(x, v->x, v->n * sizeof x[0]);
    if (oc_quant(c, x, 1, c->bc, stored, &scale) != 0) {
        expect("out of memory", 0, 1, 0);
        return;
    }
    oc_dequant(c, stored, &scale, 1, c->bc, y);
    char what[64];
    snprintf(what, sizeof what, "%s scale", name);
    expect(what, v->x[0], scale, v->scale);
    for (size_t i = 0; i < v->n; i++) {
        uint32_t code = (c->fmt == ON_E2M1) ? (stored[i / 2] >> (4 * (i % 2))) & 0xFu : stored[i];
        snprintf(what, sizeof what, "%s code[%zu]", name, i);
        expect(what, v->x[i], code, v->codes[i]);
        snprintf(what, sizeof what, "%s dequant[%zu]", name, i);
        expect(what, v->x[i], y[i], v->y[i]);
    }
}

int oc_quant_selftest(void) {
    g_fail = 0;
    const oc_qcfg fp4 = {ON_E2M1, 1, 32, OC_RCEIL}, fp4f = {ON_E2M1, 1, 32, OC_FLOOR};
    const oc_qcfg fp8 = {ON_E4M3, 1, 128, OC_RCEIL}, e5 = {ON_E5M2, 1, 32, OC_RCEIL};
    const uint32_t q = 0x7FC00000u;
    /* spec/formats.md §4.3, the worked tiles */
    static const qvec worked[] = {
        {4, {0, 0, 0, 0}, 0x01, {0, 0, 0, 0}, {0, 0, 0, 0}},
        {4, {0x80000000u, 0, 0, 0}, 0x01, {8, 0, 0, 0}, {0x80000000u, 0, 0, 0}},
        {4, {0x40C00000u, 0xC0400000u, 0x3E800000u, 0x3F400000u}, 0x7F, {7, 0xD, 0, 2},
         {0x40C00000u, 0xC0400000u, 0, 0x3F800000u}},
        {4, {0x40C00001u, 0x3E800000u, 0x3FA00000u, 0x40200000u}, 0x80, {5, 0, 1, 2},
         {0x40C00000u, 0, 0x3F800000u, 0x40000000u}},
        {4, {0x41400000u, 0x40A00000u, 0xC0A00000u, 0x40200000u}, 0x80, {7, 4, 0xC, 2},
         {0x41400000u, 0x40800000u, 0xC0800000u, 0x40000000u}},
        {4, {0x40800000u, 0x3F800000u, 0xBDCCCCCDu, 0x3E99999Au}, 0x7F, {6, 2, 8, 1},
         {0x40800000u, 0x3F800000u, 0x80000000u, 0x3F000000u}},
        {4, {0x43E00000u, 0x3F800000u, 0, 0}, 0x86, {6, 0, 0, 0}, {0x44000000u, 0, 0, 0}},
        {1, {0x000116C2u}, 0x01, {0}, {0}},
        {4, {0x40E00000u, 0x40600000u, 0x3FE00000u, 0x3F600000u}, 0x80, {6, 4, 2, 1},
         {0x41000000u, 0x40800000u, 0x40000000u, 0x3F800000u}},
        /* amax 6*2^125 exactly -> 0xFC; bf16 max -> 2^126 (0xFD) */
        {1, {0x7F400000u}, 0xFC, {7}, {0x7F400000u}},
        /* 3.98 rounds to 4 and 4 * 2^126 overflows fp32: dequant is +Inf */
        {1, {0x7F7F0000u}, 0xFD, {6}, {0x7F800000u}},
        /* invalid tiles */
        {2, {0x3F800000u, 0x7FC00000u}, 0xFF, {0, 0}, {q, q}},
        {2, {0xFF800000u, 0x3F800000u}, 0xFF, {0, 0}, {q, q}},
    };
    for (size_t i = 0; i < N(worked); i++) check_tile("fp4 rceil", &fp4, &worked[i]);
    /* packing: element 0 in the low nibble */
    {
        uint32_t x[32] = {0x40C00000u, 0xC0400000u, 0x3E800000u, 0x3F400000u};
        uint8_t stored[16], scale;
        if (oc_quant(&fp4, x, 1, 32, stored, &scale) != 0) expect("out of memory", 0, 1, 0);
        expect("fp4 pack byte0", 0, stored[0], 0xD7);
        expect("fp4 pack byte1", 0, stored[1], 0x20);
    }
    /* floor rule: 7 keeps scale 1 and saturates to 6; 8 -> scale 2 */
    static const qvec floor_vecs[] = {
        {1, {0x40E00000u}, 0x7F, {7}, {0x40C00000u}},
        {1, {0x41000000u}, 0x80, {6}, {0x41000000u}},
        {1, {0}, 0x01, {0}, {0}},
    };
    for (size_t i = 0; i < N(floor_vecs); i++) check_tile("fp4 floor", &fp4f, &floor_vecs[i]);
    /* FP8 e4m3: zero tile 0x69, amax 448*2^k, 1e-4 floor, -0 kept */
    static const qvec fp8_vecs[] = {
        {2, {0, 0x80000000u}, 0x69, {0, 0x80}, {0, 0x80000000u}},
        {2, {0x43E00000u, 0x43680000u}, 0x7F, {0x7E, 0x76}, {0x43E00000u, 0x43600000u}},
        {1, {0x43E00001u}, 0x80, {0x76}, {0x43E00000u}}, /* 448+ / 2 = 224+ -> 224 */
        {1, {0x38D1B717u}, 0x69, {0x7D}, {0x38D00000u}}, /* 1e-4 / 2^-22 = 419.4 -> 416 */
        {1, {0x38D1B716u}, 0x69, {0x7D}, {0x38D00000u}},
    };
    for (size_t i = 0; i < N(fp8_vecs); i++) check_tile("e4m3 rceil", &fp8, &fp8_vecs[i]);
    static const qvec e5_vecs[] = {
        {1, {0}, 0x62, {0}, {0}},
        {1, {0x47600000u}, 0x7F, {0x7B}, {0x47600000u}},
    };
    for (size_t i = 0; i < N(e5_vecs); i++) check_tile("e5m2 rceil", &e5, &e5_vecs[i]);
    return g_fail;
}
