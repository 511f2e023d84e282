/* test_quant.c - the reference block quantizers: the worked tiles of
 * spec/formats.md §4.3, the scale rules at every power-of-two boundary,
 * invalid tiles, tiles of 128x128, in-place fake quant, bad arguments, and
 * an exhaustive proof that V4's kernel formula for the scale,
 * log2ceil(fl(amax * fp32(1/M))), equals the spec's exact
 * ceil(log2(amax / M)) over every amax V4 can see. */
#include "dsv4.h"
#include "sweep.h"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

static uint32_t bits(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }
static float f32(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }

/* One 1x32 FP4 block with the first four elements given, the rest 0. */
typedef struct fp4_case {
    float x[4];
    uint8_t scale;
    uint8_t codes[4];
    float deq[4];
} fp4_case;

Test(fp4, worked_vectors) {
    /* spec/formats.md §4.3, "Worked tiles" */
    const fp4_case cases[] = {
        {{0, 0, 0, 0}, 0x01, {0, 0, 0, 0}, {0, 0, 0, 0}},
        {{-0.0f, 0, 0, 0}, 0x01, {8, 0, 0, 0}, {-0.0f, 0, 0, 0}},
        {{6, -3, 0.25f, 0.75f}, 0x7F, {7, 0xD, 0, 2}, {6, -3, 0, 1}},
        {{0x1.800002p+2f, 0.25f, 1.25f, 2.5f}, 0x80, {5, 0, 1, 2}, {6, 0, 1, 2}},
        {{12, 5, -5, 2.5f}, 0x80, {7, 4, 0xC, 2}, {12, 4, -4, 2}},
        {{4, 1, -0.1f, 0.3f}, 0x7F, {6, 2, 8, 1}, {4, 1, -0.0f, 0.5f}},
        {{448, 1, 0, 0}, 0x86, {6, 0, 0, 0}, {512, 0, 0, 0}},
        {{1e-40f, 0, 0, 0}, 0x01, {0, 0, 0, 0}, {0, 0, 0, 0}},
        {{7, 3.5f, 1.75f, 0.875f}, 0x80, {6, 4, 2, 1}, {8, 4, 2, 1}},
    };
    const dsv4_quant_cfg cfg = DSV4_QUANT_FP4_ACT;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        float x[32] = {0}, y[32], fq[32];
        uint8_t codes[16], scale;
        memcpy(x, cases[i].x, sizeof cases[i].x);
        cr_assert_eq(dsv4_ref_quant(&cfg, 1, 32, x, codes, &scale), DSV4_OK);
        cr_assert_eq(scale, cases[i].scale, "case %zu: scale 0x%02x", i, scale);
        for (int j = 0; j < 4; j++) {
            uint8_t c = (uint8_t)(j % 2 ? codes[j / 2] >> 4 : codes[j / 2] & 0xF);
            cr_assert_eq(c, cases[i].codes[j], "case %zu element %d: code 0x%x", i, j, c);
        }
        cr_assert_eq(dsv4_ref_dequant(&cfg, 1, 32, codes, &scale, y), DSV4_OK);
        cr_assert_eq(dsv4_ref_fake_quant(&cfg, 1, 32, x, fq), DSV4_OK);
        for (int j = 0; j < 4; j++) {
            cr_assert_eq(bits(y[j]), bits(cases[i].deq[j]), "case %zu element %d: %g", i, j, y[j]);
            cr_assert_eq(bits(fq[j]), bits(y[j]), "fake quant = dequant(quant)");
        }
    }
}

/* Scale byte of a one-tile tensor whose largest magnitude is amax. */
static uint8_t scale_of(dsv4_fmt fmt, dsv4_scale_rule rule, float amax) {
    dsv4_quant_cfg cfg = {fmt, 1, 2, rule};
    float x[2] = {amax, 0.0f};
    uint8_t codes[2], s = 0;
    cr_assert_eq(dsv4_ref_quant(&cfg, 1, 2, x, codes, &s), DSV4_OK);
    return s;
}

/* At every power-of-two boundary M*2^k the rceil byte steps exactly there;
 * the floor byte steps at the powers of two themselves. */
Test(scale, rules_at_every_boundary) {
    const struct { dsv4_fmt fmt; float M; int emax; int kmin, kmax; } fm[] = {
        {DSV4_FMT_E2M1, 6.0f, 2, -126, 125}, /* 6*2^126 is past FLT_MAX */
        {DSV4_FMT_E4M3, 448.0f, 8, -22, 119},
        {DSV4_FMT_E5M2, 57344.0f, 15, -29, 112},
    };
    for (size_t i = 0; i < 3; i++)
        for (int k = fm[i].kmin; k <= fm[i].kmax; k++) {
            float edge = ldexpf(fm[i].M, k); /* exact */
            cr_assert_eq(scale_of(fm[i].fmt, DSV4_SCALE_RCEIL, edge), k + 127, "%s k=%d",
                         dsv4_fmt_name(fm[i].fmt), k);
            cr_assert_eq(scale_of(fm[i].fmt, DSV4_SCALE_RCEIL, nextafterf(edge, INFINITY)),
                         k + 128, "%s just above M*2^%d", dsv4_fmt_name(fm[i].fmt), k);
            if (k > fm[i].kmin)
                cr_assert_eq(scale_of(fm[i].fmt, DSV4_SCALE_RCEIL, nextafterf(edge, 0.0f)),
                             k + 127);
            float p = ldexpf(1.0f, k + fm[i].emax);
            if (k > fm[i].kmin) {
                cr_assert_eq(scale_of(fm[i].fmt, DSV4_SCALE_FLOOR, p), k + 127, "floor 2^%d",
                             k + fm[i].emax);
                cr_assert_eq(scale_of(fm[i].fmt, DSV4_SCALE_FLOOR, nextafterf(p, 0.0f)),
                             k + 126);
            }
        }
}

Test(scale, floors_and_extremes) {
    /* all-zero tiles: 6*2^-126 -> 2^-126; 1e-4 -> 2^-22 (E4M3) */
    cr_assert_eq(scale_of(DSV4_FMT_E2M1, DSV4_SCALE_RCEIL, 0.0f), 0x01);
    cr_assert_eq(scale_of(DSV4_FMT_E4M3, DSV4_SCALE_RCEIL, 0.0f), 0x69);
    cr_assert_eq(scale_of(DSV4_FMT_E4M3, DSV4_SCALE_RCEIL, 1e-4f), 0x69);
    cr_assert_eq(scale_of(DSV4_FMT_E4M3, DSV4_SCALE_RCEIL, 1e-30f), 0x69);
    cr_assert_eq(scale_of(DSV4_FMT_E2M1, DSV4_SCALE_RCEIL, f32(1)), 0x01, "subnormal amax");
    /* bf16 max block -> 2^126 (byte 0xFD) */
    cr_assert_eq(scale_of(DSV4_FMT_E2M1, DSV4_SCALE_RCEIL, f32(0x7F7F0000u)), 0xFD);
    cr_assert_eq(scale_of(DSV4_FMT_E2M1, DSV4_SCALE_RCEIL, f32(0x7F7FFFFFu)), 0xFD);
    /* OCP floor rule: amax 6 -> 2^(2-2) = 1; amax 7 -> 1 too (7 saturates to 6) */
    cr_assert_eq(scale_of(DSV4_FMT_E2M1, DSV4_SCALE_FLOOR, 6.0f), 0x7F);
    cr_assert_eq(scale_of(DSV4_FMT_E2M1, DSV4_SCALE_FLOOR, 7.0f), 0x7F);
    cr_assert_eq(scale_of(DSV4_FMT_E2M1, DSV4_SCALE_RCEIL, 7.0f), 0x80);
}

Test(fp4, floor_rule_saturates) {
    const dsv4_quant_cfg cfg = {DSV4_FMT_E2M1, 1, 2, DSV4_SCALE_FLOOR};
    float x[2] = {7.0f, -7.5f}, y[2];
    cr_assert_eq(dsv4_ref_fake_quant(&cfg, 1, 2, x, y), DSV4_OK);
    cr_assert_eq(y[0], 6.0f);
    cr_assert_eq(y[1], -6.0f);
}

Test(tiles, invalid_tiles_are_nan) {
    const dsv4_quant_cfg cfg = {DSV4_FMT_E4M3, 1, 4, DSV4_SCALE_RCEIL};
    float x[12] = {1, 2, NAN, 4, 1, INFINITY, 3, 4, 1, 2, 3, -4};
    uint8_t codes[12], s[3];
    float y[12], fq[12];
    cr_assert_eq(dsv4_ref_quant(&cfg, 1, 12, x, codes, s), DSV4_OK);
    cr_assert_eq(s[0], 0xFF);
    cr_assert_eq(s[1], 0xFF);
    cr_assert_neq(s[2], 0xFF);
    for (int i = 0; i < 8; i++) cr_assert_eq(codes[i], 0, "codes of an invalid tile are 0");
    cr_assert_eq(dsv4_ref_dequant(&cfg, 1, 12, codes, s, y), DSV4_OK);
    cr_assert_eq(dsv4_ref_fake_quant(&cfg, 1, 12, x, fq), DSV4_OK);
    for (int i = 0; i < 12; i++) {
        cr_assert_eq(bits(fq[i]), bits(y[i]), "element %d", i);
        if (i < 8) cr_assert_eq(bits(y[i]), 0x7FC00000u);
    }
    cr_assert_eq(y[11], -4.0f);
}

Test(tiles, weight_tiles_128x128) {
    const dsv4_quant_cfg cfg = DSV4_QUANT_FP8_WEIGHT;
    enum { R = 256, C = 384 };
    static float x[R * C], y[R * C];
    static uint8_t codes[R * C];
    uint8_t s[2 * 3];
    for (int r = 0; r < R; r++)
        for (int c = 0; c < C; c++) x[r * C + c] = (float)((r * 7 + c * 13) % 101 - 50) * 0.01f;
    x[200 * C + 300] = 900.0f; /* tile (1, 2) */
    cr_assert_eq(dsv4_ref_quant(&cfg, R, C, x, codes, s), DSV4_OK);
    cr_assert_eq(s[5], 127 + 2, "900 / 448 -> 2^2");
    cr_assert_eq(s[0], 127 - 9, "amax just under 0.5: ceil(log2(0.5 / 448)) = -9");
    cr_assert_eq(dsv4_ref_dequant(&cfg, R, C, codes, s, y), DSV4_OK);
    cr_assert_eq(y[200 * C + 300], 896.0f, "900/4 = 225 -> 224 (E4M3 step 16 at 2^7)");
}

Test(fake_quant, in_place_equals_out_of_place) {
    const dsv4_quant_cfg cfgs[] = {DSV4_QUANT_FP4_ACT, DSV4_QUANT_FP8_KV, DSV4_QUANT_FP8_ACT};
    for (size_t k = 0; k < 3; k++) {
        enum { N = 256 };
        float x[N], y[N], z[N];
        for (int i = 0; i < N; i++) x[i] = sinf((float)i * 0.7f) * ldexpf(1.0f, i % 9 - 4);
        memcpy(z, x, sizeof x);
        cr_assert_eq(dsv4_ref_fake_quant(&cfgs[k], 1, N, x, y), DSV4_OK);
        cr_assert_eq(dsv4_ref_fake_quant(&cfgs[k], 1, N, z, z), DSV4_OK);
        cr_assert_eq(memcmp(y, z, sizeof y), 0);
    }
}

Test(args, errors_are_codes) {
    dsv4_quant_cfg cfg = DSV4_QUANT_FP4_ACT;
    float x[64] = {0};
    uint8_t c[64], s[4];
    size_t cb, sb;
    cr_assert_eq(dsv4_ref_quant(NULL, 1, 32, x, c, s), DSV4_E_NULL);
    cr_assert_eq(dsv4_ref_quant(&cfg, 1, 32, NULL, c, s), DSV4_E_NULL);
    cr_assert_eq(dsv4_ref_quant(&cfg, 1, 48, x, c, s), DSV4_E_ALIGN, "48 is not a multiple of 32");
    cr_assert_eq(dsv4_ref_quant(&cfg, 0, 32, NULL, NULL, NULL), DSV4_OK, "empty");
    cr_assert_eq(dsv4_ref_quant(&cfg, SIZE_MAX / 2, 64, x, c, s), DSV4_E_OVERFLOW);
    cfg.block_cols = 0;
    cr_assert_eq(dsv4_ref_quant(&cfg, 1, 32, x, c, s), DSV4_E_ARG);
    cfg.block_cols = 3;
    cr_assert_eq(dsv4_ref_quant(&cfg, 1, 3, x, c, s), DSV4_E_ARG, "odd FP4 block");
    cfg.block_cols = 32;
    cfg.fmt = DSV4_FMT_BF16;
    cr_assert_eq(dsv4_ref_quant(&cfg, 1, 32, x, c, s), DSV4_E_ARG, "bf16 is not an element format");
    cfg.fmt = DSV4_FMT_E2M1;
    cfg.rule = (dsv4_scale_rule)9;
    cr_assert_eq(dsv4_ref_fake_quant(&cfg, 1, 32, x, x), DSV4_E_ARG);
    dsv4_quant_cfg w = DSV4_QUANT_FP8_WEIGHT;
    cr_assert_eq(dsv4_quant_sizes(&w, 256, 384, &cb, &sb), DSV4_OK);
    cr_assert_eq(cb, 256 * 384);
    cr_assert_eq(sb, 6);
    cr_assert_eq(dsv4_quant_sizes(&w, 100, 128, &cb, &sb), DSV4_E_ALIGN);
    dsv4_quant_cfg f4 = DSV4_QUANT_FP4_ACT;
    cr_assert_eq(dsv4_quant_sizes(&f4, 3, 64, &cb, &sb), DSV4_OK);
    cr_assert_eq(cb, 96);
    cr_assert_eq(sb, 6);
}

/* ---- V4's kernel formula equals the exact rule ------------------------------- */
/* kernel.py: k = fast_log2_ceil(amax' * fp32(1/M)), from the bits of the
 * rounded product.  Exact: the smallest k with M * 2^k >= amax'. */
typedef struct v4_formula { float inv; double M; uint32_t floor_bits; } v4_formula;

static uint64_t sweep_v4_formula(void *ctx, uint64_t lo, uint64_t n, uint64_t stride,
                                 uint32_t *first_bad) {
    const v4_formula *v = ctx;
    uint64_t bad = 0;
    for (uint64_t i = 0; i < n; i += stride) {
        uint32_t u = (uint32_t)(lo + i);
        if (u < v->floor_bits || u >= 0x7F800000u) continue; /* amax' >= floor, finite */
        float amax = f32(u);
        uint32_t p = bits(amax * v->inv);
        int fast = (int)(p >> 23) - 127 + ((p & 0x7FFFFFu) != 0);
        int exact_ok = v->M * ldexp(1.0, fast) >= (double)amax &&
                       v->M * ldexp(1.0, fast - 1) < (double)amax;
        if (!exact_ok) {
            if (!bad) *first_bad = u;
            bad++;
        }
    }
    return bad;
}

Test(exhaustive, v4_scale_formula_is_exact_fp4, .timeout = 900) {
    v4_formula v = {1.0f / 6.0f, 6.0, 0x01C00000u};
    uint32_t first;
    cr_assert_eq(sweep_all_f32(sweep_v4_formula, &v, &first), 0, "amax 0x%08x", first);
}

Test(exhaustive, v4_scale_formula_is_exact_fp8, .timeout = 900) {
    v4_formula v = {1.0f / 448.0f, 448.0, 0x38D1B717u};
    uint32_t first;
    cr_assert_eq(sweep_all_f32(sweep_v4_formula, &v, &first), 0, "amax 0x%08x", first);
}
