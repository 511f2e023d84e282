/* test_formats.c - the reference encoders and decoders against a second,
 * independently written definition: the format's value set, built from its
 * bit layout in double, searched for the nearest value with the tie rule.
 * Every encoder is checked over all 2^32 fp32 patterns (DSV4_EXHAUSTIVE=0
 * samples them instead), every decoder over all its codes, and the corner
 * cases of spec/formats.md §6.1 are checked by name. */
#include "dsv4.h"
#include "sweep.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

static float f32(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }
static uint32_t bits(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }

/* ---- the independent definition ------------------------------------------ */
typedef struct layout {
    const char *name;
    int ebits, mbits, bias;
    int fn_style;   /* E4M3FN: only S.1111.111 is NaN, no Inf */
    int ieee_style; /* E5M2 / BF16: exponent all ones is Inf/NaN */
    int saturate;   /* overflow -> largest finite (else -> Inf) */
    uint32_t nan_code;
} layout;

static const layout L_BF16 = {"bf16", 8, 7, 127, 0, 1, 0, 0x7FC0};
static const layout L_E4M3 = {"e4m3", 4, 3, 7, 1, 0, 1, 0x7F};
static const layout L_E5M2 = {"e5m2", 5, 2, 15, 0, 1, 1, 0x7F};
static const layout L_E2M1 = {"e2m1", 2, 1, 1, 0, 0, 1, 0x7};

typedef struct table {
    const layout *L;
    int n;           /* finite non-negative values, ascending */
    double v[1 << 15];
    uint32_t code[1 << 15];
} table;

static void build_table(table *t, const layout *L) {
    t->L = L;
    t->n = 0;
    int emax_field = (1 << L->ebits) - 1;
    for (uint32_t c = 0; c < (1u << (L->ebits + L->mbits)); c++) {
        int e = (int)(c >> L->mbits);
        int m = (int)(c & ((1u << L->mbits) - 1));
        if (L->ieee_style && e == emax_field) continue;
        if (L->fn_style && e == emax_field && m == (1 << L->mbits) - 1) continue;
        double v = e == 0 ? ldexp(m, 1 - L->bias - L->mbits)
                          : ldexp((1 << L->mbits) + m, e - L->bias - L->mbits);
        t->v[t->n] = v;
        t->code[t->n] = c;
        t->n++;
    }
}

/* Nearest value to |x|, ties to the even code; overflow per the layout. */
static uint32_t indep_encode(const table *t, float x) {
    const layout *L = t->L;
    uint32_t sign = (bits(x) >> 31) << (L->ebits + L->mbits);
    if (isnan(x)) return L->nan_code;
    double a = fabs((double)x);
    double max = t->v[t->n - 1];
    uint32_t inf_code = (uint32_t)((1 << L->ebits) - 1) << L->mbits;
    if (a >= max) {
        if (L->saturate || a == max) return sign | t->code[t->n - 1];
        /* IEEE: round to Inf from max + half an ulp on (a tie there goes to
         * the even neighbour, which for an odd max mantissa is Inf). */
        double half_ulp = ldexp(1.0, (1 << L->ebits) - 2 - L->bias - L->mbits - 1);
        int max_even = (t->code[t->n - 1] & 1u) == 0;
        if (a > max + half_ulp || (a == max + half_ulp && !max_even) || isinf(x))
            return sign | inf_code;
        return sign | t->code[t->n - 1];
    }
    int lo = 0, hi = t->n - 1; /* v[lo] <= a < v[hi] */
    while (hi - lo > 1) {
        int mid = (lo + hi) / 2;
        if (t->v[mid] <= a) lo = mid;
        else hi = mid;
    }
    double dlo = a - t->v[lo], dhi = t->v[hi] - a;
    uint32_t c;
    if (dlo < dhi) c = t->code[lo];
    else if (dhi < dlo) c = t->code[hi];
    else c = (t->code[lo] & 1u) == 0 ? t->code[lo] : t->code[hi];
    return sign | c;
}

static uint32_t ref_encode(const layout *L, float x) {
    if (L == &L_BF16) return dsv4_bf16_encode(x);
    if (L == &L_E4M3) return dsv4_e4m3_encode(x);
    if (L == &L_E5M2) return dsv4_e5m2_encode(x);
    return dsv4_e2m1_encode(x);
}

static uint64_t sweep_encoder(void *ctx, uint64_t lo, uint64_t n, uint64_t stride,
                              uint32_t *first_bad) {
    const table *t = ctx;
    uint64_t bad = 0;
    for (uint64_t i = 0; i < n; i += stride) {
        float x = f32((uint32_t)(lo + i));
        if (ref_encode(t->L, x) != indep_encode(t, x)) {
            if (!bad) *first_bad = (uint32_t)(lo + i);
            bad++;
        }
    }
    return bad;
}

static table tab; /* large: static, one test process per test */

static void check_all_patterns(const layout *L) {
    build_table(&tab, L);
    uint32_t first = 0;
    uint64_t bad = sweep_all_f32(sweep_encoder, &tab, &first);
    cr_assert_eq(bad, 0, "%s: %llu fp32 patterns encode differently, e.g. 0x%08x: ref 0x%x, "
                 "definition 0x%x", L->name, (unsigned long long)bad, first,
                 ref_encode(L, f32(first)), indep_encode(&tab, f32(first)));
}

Test(exhaustive, bf16_encode, .timeout = 900) { check_all_patterns(&L_BF16); }
Test(exhaustive, e4m3_encode, .timeout = 900) { check_all_patterns(&L_E4M3); }
Test(exhaustive, e5m2_encode, .timeout = 900) { check_all_patterns(&L_E5M2); }
Test(exhaustive, e2m1_encode, .timeout = 900) { check_all_patterns(&L_E2M1); }

/* UE8M0: the smallest power of two >= x, exponent clamped to [-127, 127].
 * frexp writes x = f * 2^e with f in [0.5, 1): 2^e >= x, and 2^(e-1) >= x
 * exactly when f == 0.5. */
static uint8_t indep_ue8m0(float x) {
    if (isnan(x)) return 0xFF;
    if (x == 0.0f) return 0x00;
    if (x < 0.0f) return 0xFF;
    if (isinf(x)) return 0xFE;
    int e;
    double f = frexp((double)x, &e);
    int k = f == 0.5 ? e - 1 : e;
    if (k < -127) k = -127;
    if (k > 127) k = 127;
    return (uint8_t)(k + 127);
}

static uint64_t sweep_ue8m0(void *ctx, uint64_t lo, uint64_t n, uint64_t stride,
                            uint32_t *first_bad) {
    (void)ctx;
    uint64_t bad = 0;
    for (uint64_t i = 0; i < n; i += stride) {
        float x = f32((uint32_t)(lo + i));
        if (dsv4_ue8m0_encode(x) != indep_ue8m0(x)) {
            if (!bad) *first_bad = (uint32_t)(lo + i);
            bad++;
        }
    }
    return bad;
}

Test(exhaustive, ue8m0_encode, .timeout = 900) {
    uint32_t first = 0;
    uint64_t bad = sweep_all_f32(sweep_ue8m0, NULL, &first);
    cr_assert_eq(bad, 0, "ue8m0: %llu mismatches, e.g. 0x%08x -> 0x%02x, definition 0x%02x",
                 (unsigned long long)bad, first, dsv4_ue8m0_encode(f32(first)),
                 indep_ue8m0(f32(first)));
}

/* ---- decoders: every code ---------------------------------------------------- */
static void check_decode_all(const layout *L, float (*dec)(uint32_t), int ncodes) {
    build_table(&tab, L);
    int found = 0;
    for (int c = 0; c < ncodes; c++) {
        float y = dec((uint32_t)c);
        uint32_t mag = (uint32_t)c & ((1u << (L->ebits + L->mbits)) - 1u);
        int negative = (c >> (L->ebits + L->mbits)) & 1;
        int idx = -1;
        for (int i = 0; i < tab.n; i++)
            if (tab.code[i] == mag) idx = i;
        if (idx < 0) { /* a special code */
            if (isnan(y)) {
                /* BF16 decode is the exact widening b << 16, payload and all;
                 * FP8 NaN codes decode to the canonical NaN (policy P2) */
                uint32_t want = L == &L_BF16 ? (uint32_t)c << 16 : 0x7FC00000u;
                cr_assert_eq(bits(y), want, "%s 0x%x: NaN bits 0x%08x", L->name, c, bits(y));
            } else {
                cr_assert(isinf(y) && L->ieee_style, "%s code 0x%x decodes to %g", L->name, c, y);
                cr_assert_eq(signbit(y) != 0, negative);
            }
            continue;
        }
        found++;
        cr_assert_eq((double)fabsf(y), tab.v[idx], "%s code 0x%x: %g, expected %g", L->name, c,
                     y, tab.v[idx]);
        cr_assert_eq(signbit(y) != 0, negative, "%s code 0x%x: wrong sign", L->name, c);
    }
    cr_assert(found > 0);
}

static float dec_bf16(uint32_t c) { return dsv4_bf16_decode((uint16_t)c); }
static float dec_e4m3(uint32_t c) { return dsv4_e4m3_decode((uint8_t)c); }
static float dec_e5m2(uint32_t c) { return dsv4_e5m2_decode((uint8_t)c); }
static float dec_e2m1(uint32_t c) { return dsv4_e2m1_decode((uint8_t)c); }

Test(decode, bf16_all) { check_decode_all(&L_BF16, dec_bf16, 1 << 16); }
Test(decode, e4m3_all) { check_decode_all(&L_E4M3, dec_e4m3, 256); }
Test(decode, e5m2_all) { check_decode_all(&L_E5M2, dec_e5m2, 256); }
Test(decode, e2m1_all) { check_decode_all(&L_E2M1, dec_e2m1, 16); }

Test(decode, e2m1_table) {
    static const float want[16] = {0, 0.5f, 1, 1.5f, 2, 3, 4, 6,
                                   -0.0f, -0.5f, -1, -1.5f, -2, -3, -4, -6};
    for (int c = 0; c < 16; c++) {
        cr_assert_eq(bits(dsv4_e2m1_decode((uint8_t)c)), bits(want[c]), "code 0x%x", c);
        cr_assert_eq(bits(dsv4_e2m1_decode((uint8_t)(c | 0xF0))), bits(want[c]),
                     "only the low nibble counts");
    }
}

Test(decode, ue8m0_all) {
    for (int b = 0; b < 256; b++) {
        float y = dsv4_ue8m0_decode((uint8_t)b);
        if (b == 0xFF) cr_assert_eq(bits(y), 0x7FC00000u);
        else if (b == 0) cr_assert_eq(bits(y), 0x00400000u, "0x00 is 2^-127");
        else cr_assert_eq((double)y, ldexp(1.0, b - 127), "byte 0x%02x", b);
    }
}

/* encode(decode(c)) == c for every finite code (Inf saturates, NaN is canonical) */
Test(decode, round_trips) {
    for (int c = 0; c < 256; c++) {
        if ((c & 0x7F) != 0x7F) cr_assert_eq(dsv4_e4m3_encode(dsv4_e4m3_decode((uint8_t)c)), c);
        if ((c & 0x7F) < 0x7C) cr_assert_eq(dsv4_e5m2_encode(dsv4_e5m2_decode((uint8_t)c)), c);
        if (c < 16) cr_assert_eq(dsv4_e2m1_encode(dsv4_e2m1_decode((uint8_t)c)), c);
        if (c < 0xFF) cr_assert_eq(dsv4_ue8m0_encode(dsv4_ue8m0_decode((uint8_t)c)), c);
    }
    for (uint32_t c = 0; c < 65536; c++) {
        uint32_t u = c << 16;
        if ((u & 0x7FFFFFFFu) > 0x7F800000u) continue;
        cr_assert_eq(dsv4_bf16_encode(dsv4_bf16_decode((uint16_t)c)), c);
    }
}

/* ---- named corners (spec/formats.md §6.1) --------------------------------------- */
typedef struct corner { float x; uint32_t code; } corner;

static void check_corners(const char *name, uint32_t (*enc)(float), const corner *c, size_t n) {
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(enc(c[i].x), c[i].code, "%s(%a) = 0x%x, expected 0x%x", name,
                     (double)c[i].x, enc(c[i].x), c[i].code);
}
static uint32_t enc_e2m1(float x) { return dsv4_e2m1_encode(x); }
static uint32_t enc_e4m3(float x) { return dsv4_e4m3_encode(x); }
static uint32_t enc_e5m2(float x) { return dsv4_e5m2_encode(x); }
static uint32_t enc_bf16(float x) { return dsv4_bf16_encode(x); }
static uint32_t enc_ue8m0(float x) { return dsv4_ue8m0_encode(x); }

Test(corners, e2m1) {
    const corner c[] = {
        {0.25f, 0x0}, {0x1.000002p-2f, 0x1}, {0.75f, 0x2}, {0x1.7ffffep-1f, 0x1},
        {1.25f, 0x2}, {0x1.400002p+0f, 0x3}, {1.75f, 0x4}, {2.5f, 0x4}, {0x1.400002p+1f, 0x5},
        {3.5f, 0x6}, {5.0f, 0x6}, {0x1.400002p+2f, 0x7}, {6.0f, 0x7}, {0x1.800002p+2f, 0x7},
        {1e30f, 0x7}, {-0.25f, 0x8}, {-0.75f, 0xA}, {-2.5f, 0xC}, {-5.0f, 0xE},
        {-1e30f, 0xF}, {-0.1f, 0x8}, {-0.0f, 0x8}, {0.0f, 0x0}, {INFINITY, 0x7},
        {-INFINITY, 0xF}, {NAN, 0x7}, {-NAN, 0x7}, {f32(0x7F800001u), 0x7},
        {f32(0xFFC00001u), 0x7}, {f32(0x00000001u), 0x0}, {f32(0x807FFFFFu), 0x8},
    };
    check_corners("e2m1", enc_e2m1, c, sizeof c / sizeof c[0]);
}

Test(corners, e4m3) {
    const corner c[] = {
        {448.0f, 0x7E}, {464.0f, 0x7E}, {0x1.d00002p+8f, 0x7E}, {480.0f, 0x7E}, {1e30f, 0x7E},
        {INFINITY, 0x7E}, {-INFINITY, 0xFE}, {NAN, 0x7F}, {-NAN, 0x7F}, {0x1p-10f, 0x00},
        {0x1.000002p-10f, 0x01}, {1.5f * 0x1p-9f, 0x02}, {2.5f * 0x1p-9f, 0x02},
        {3.5f * 0x1p-9f, 0x04}, {232.0f, 0x76}, {248.0f, 0x78}, {0.0146484375f, 0x08},
        {-0.0f, 0x80}, {f32(1), 0x00}, {f32(0x80000001u), 0x80}, {-232.0f, 0xF6},
    };
    check_corners("e4m3", enc_e4m3, c, sizeof c / sizeof c[0]);
}

Test(corners, e5m2) {
    const corner c[] = {
        {57344.0f, 0x7B}, {0x1.dffffep+15f, 0x7B}, {61440.0f, 0x7B}, {INFINITY, 0x7B},
        {-INFINITY, 0xFB}, {NAN, 0x7F}, {0x1p-17f, 0x00}, {0x1.000002p-17f, 0x01},
        {-0.0f, 0x80}, {0x1p-14f, 0x04}, {1.0f, 0x3C},
    };
    check_corners("e5m2", enc_e5m2, c, sizeof c / sizeof c[0]);
}

Test(corners, bf16) {
    const corner c[] = {
        {f32(0x3F808000u), 0x3F80}, /* tie, even lsb stays */
        {f32(0x3F818000u), 0x3F82}, /* tie, odd lsb rounds up */
        {f32(0x3F808001u), 0x3F81},
        {f32(0x7F7FFFFFu), 0x7F80}, /* past the largest bf16: Inf */
        {f32(0x7F7F7FFFu), 0x7F7F},
        {f32(0x00018000u), 0x0002}, /* subnormal tie */
        {f32(0x80000001u), 0x8000},
        {-0.0f, 0x8000}, {INFINITY, 0x7F80}, {-INFINITY, 0xFF80},
        {NAN, 0x7FC0}, {f32(0xFF800001u), 0x7FC0}, {f32(0x7FFFFFFFu), 0x7FC0},
    };
    check_corners("bf16", enc_bf16, c, sizeof c / sizeof c[0]);
}

Test(corners, ue8m0) {
    const corner c[] = {
        {1.0f, 0x7F}, {0x1.000002p+0f, 0x80}, {0x1.fffffep-1f, 0x7F}, {0x1p-126f, 0x01},
        {0x1p-127f, 0x00}, {f32(0x00400001u), 0x01}, {f32(1), 0x00}, {0.0f, 0x00},
        {-0.0f, 0x00}, {-1.0f, 0xFF}, {INFINITY, 0xFE}, {-INFINITY, 0xFF}, {NAN, 0xFF},
        {0x1p127f, 0xFE}, {0x1.000002p+127f, 0xFE}, {f32(0x01C00000u) / 6.0f, 0x01},
        {1e-4f / 448.0f, 0x69},
    };
    check_corners("ue8m0", enc_ue8m0, c, sizeof c / sizeof c[0]);
}

/* ---- array forms and packing -------------------------------------------------- */
Test(arrays, encode_decode_match_scalars) {
    float x[37];
    for (int i = 0; i < 37; i++) x[i] = (float)(i - 18) * 0.37f;
    uint8_t c8[37];
    uint16_t c16[37];
    float y[37];
    cr_assert_eq(dsv4_ref_encode(DSV4_FMT_E4M3, 37, x, c8), DSV4_OK);
    cr_assert_eq(dsv4_ref_decode(DSV4_FMT_E4M3, 37, c8, y), DSV4_OK);
    for (int i = 0; i < 37; i++) {
        cr_assert_eq(c8[i], dsv4_e4m3_encode(x[i]));
        cr_assert_eq(bits(y[i]), bits(dsv4_e4m3_decode(c8[i])));
    }
    cr_assert_eq(dsv4_ref_encode(DSV4_FMT_BF16, 37, x, c16), DSV4_OK);
    for (int i = 0; i < 37; i++) cr_assert_eq(c16[i], dsv4_bf16_encode(x[i]));
}

Test(arrays, bad_arguments) {
    float x[2] = {1, 2};
    uint8_t c[2];
    cr_assert_eq(dsv4_ref_encode(DSV4_FMT_E4M3, 2, NULL, c), DSV4_E_NULL);
    cr_assert_eq(dsv4_ref_encode(DSV4_FMT_E4M3, 2, x, NULL), DSV4_E_NULL);
    cr_assert_eq(dsv4_ref_encode(DSV4_FMT_E4M3, 0, NULL, NULL), DSV4_OK);
    cr_assert_eq(dsv4_ref_encode((dsv4_fmt)99, 2, x, c), DSV4_E_ARG);
    cr_assert_eq(dsv4_ref_decode((dsv4_fmt)-1, 2, c, x), DSV4_E_ARG);
    cr_assert_eq(dsv4_fp4_pack(3, c, c), DSV4_E_ALIGN);
    cr_assert_eq(dsv4_fp4_pack(2, NULL, c), DSV4_E_NULL);
}

Test(arrays, fp4_packing_layout) {
    uint8_t codes[32], packed[16], back[32];
    for (int i = 0; i < 32; i++) codes[i] = (uint8_t)(i & 0xF);
    cr_assert_eq(dsv4_fp4_pack(32, codes, packed), DSV4_OK);
    cr_assert_eq(packed[0], 0x10, "element 0 in the low nibble, element 1 in the high");
    cr_assert_eq(packed[7], 0xFE);
    cr_assert_eq(dsv4_fp4_unpack(32, packed, back), DSV4_OK);
    cr_assert_eq(memcmp(codes, back, 32), 0);
}

Test(names, formats_and_status) {
    dsv4_fmt f;
    for (int i = 0; i < DSV4_FMT_COUNT; i++) {
        cr_assert_eq(dsv4_fmt_parse(dsv4_fmt_name((dsv4_fmt)i), &f), DSV4_OK);
        cr_assert_eq((int)f, i);
    }
    cr_assert_eq(dsv4_fmt_parse("fp4", &f), DSV4_E_ARG);
    cr_assert_str_eq(dsv4_fmt_name((dsv4_fmt)77), "?");
    for (int s = 0; s <= DSV4_STATUS_COUNT; s++) cr_assert_not_null(dsv4_strerror((dsv4_status)s));
    cr_assert_str_eq(dsv4_strerror(DSV4_OK), "success");
}
