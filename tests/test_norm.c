/* test_norm.c - the reference RMSNorm (spec/norm.md): the worked values of
 * §5, the stages against the whole operator, the factor shared with mHC,
 * NaN/Inf and bad input, and the trap tests of §6 (each assertion names
 * the mistake it guards against):
 *   N1 eps added after the square root
 *   N2 the sum of squares instead of their mean
 *   N3 the product x*r rounded to bf16 before the weight */
#include "dsv4.h"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

static uint32_t bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static const float EPS = 1e-6f; /* 0x358637BD */

/* spec/norm.md §5. */
Test(worked, four_channels_N2) {
    const float x[4] = {1, 2, 3, 4}, w[4] = {1, 0.5f, -2, 0};
    const uint32_t want[4] = {0x3EBB0000u, 0x3EBB0000u, 0xC00C0000u, 0u};
    float r, y[4];
    cr_assert_eq(dsv4_ref_rms_norm_factor(1, 4, EPS, x, &r), DSV4_OK);
    cr_assert_eq(bits(r), 0x3EBAF4BAu, "r = 0x%08x (N2: the sum would give 0.18)", bits(r));
    cr_assert_eq(dsv4_ref_rms_norm(1, 4, EPS, x, w, y), DSV4_OK);
    for (int k = 0; k < 4; k++)
        cr_assert_eq(bits(y[k]), want[k], "y[%d] = 0x%08x, want 0x%08x", k, bits(y[k]), want[k]);
}

/* N1: with mean(x^2) = eps, r = 1/sqrt(2 eps) = 707.1; eps after the root
 * would give 1/(sqrt(eps) + eps) = 999. */
Test(traps, eps_inside_the_root_N1) {
    float x[8], r;
    for (int k = 0; k < 8; k++) x[k] = 1e-3f;
    cr_assert_eq(dsv4_ref_rms_norm_factor(1, 8, EPS, x, &r), DSV4_OK);
    float ss = 0.0f;
    for (int k = 0; k < 8; k++) {
        float sq = x[k] * x[k];
        ss = ss + sq;
    }
    float ms = ss / 8.0f, den = ms + EPS, root = sqrtf(den), want = 1.0f / root;
    cr_assert_eq(bits(r), bits(want), "N1: r = %g, want %g", (double)r, (double)want);
    cr_assert(fabsf(r - 707.1f) < 0.1f);
}

/* N3: the weight multiplies the fp32 product x*r; rounding x*r to bf16
 * first (a port's `w * x.to(bf16)`) changes the result.  Through the apply
 * stage with a chosen r: 1 * 1.005859375 * 1.5 = 1.5087890625 -> bf16
 * 1.5078125, where bf16(1.005859375) * 1.5 = 1.51171875 -> 1.515625. */
Test(traps, weight_before_rounding_N3) {
    const float x = 1.0f, r = 1.005859375f, w = 1.5f;
    float y;
    cr_assert_eq(dsv4_ref_rms_norm_apply(1, 1, &x, &r, &w, &y), DSV4_OK);
    cr_assert_eq(y, 1.5078125f, "N3: y = %g (1.515625: x*r rounded to bf16 first)", (double)y);
}

static unsigned long long rng = 0x9E3779B97F4A7C15ull;
static float uniform(float lo, float hi) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return lo + (hi - lo) * (float)((rng >> 40) * (1.0 / 16777216.0));
}
static float bf16(float v) { return dsv4_bf16_decode(dsv4_bf16_encode(v)); }

Test(stages, compose_in_place_and_mhc) {
    enum { R = 5, D = 64 };
    static float x[R * D], w[D], y[R * D], y2[R * D], r[R], rh[R];
    for (int i = 0; i < R * D; i++) x[i] = bf16(uniform(-4, 4));
    for (int k = 0; k < D; k++) w[k] = bf16(uniform(0.5f, 1.5f));
    cr_assert_eq(dsv4_ref_rms_norm(R, D, EPS, x, w, y), DSV4_OK);
    cr_assert_eq(dsv4_ref_rms_norm_factor(R, D, EPS, x, r), DSV4_OK);
    cr_assert_eq(dsv4_ref_rms_norm_apply(R, D, x, r, w, y2), DSV4_OK);
    cr_assert_eq(memcmp(y, y2, sizeof y), 0, "rms_norm = apply(factor)");
    for (int i = 0; i < R * D; i++) cr_assert_eq(y[i], bf16(y[i]), "bf16 outputs");
    memcpy(y2, x, sizeof x);
    cr_assert_eq(dsv4_ref_rms_norm(R, D, EPS, y2, w, y2), DSV4_OK);
    cr_assert_eq(memcmp(y, y2, sizeof y), 0, "y may equal x");
    /* mHC's RMS factor over a token of hc * d channels is this factor */
    const dsv4_mhc_cfg cfg = {4, D / 4, 20, 1e-6f, EPS};
    cr_assert_eq(dsv4_ref_hc_rms(&cfg, R, x, rh), DSV4_OK);
    cr_assert_eq(memcmp(r, rh, sizeof r), 0, "one definition of the RMS factor");
}

/* spec/norm.md §3. */
Test(properties, nonfinite_and_zero) {
    enum { D = 4 };
    float x[5 * D] = {1, NAN, 2, 3, 1, INFINITY, 2, 3, 0, 0, 0, 0, 0x1p70f, 1, 2, 3, 1, 2, 3, 4};
    float w[D] = {1, 1, 1, 1}, y[5 * D], r[5];
    cr_assert_eq(dsv4_ref_rms_norm_factor(5, D, EPS, x, r), DSV4_OK);
    cr_assert_eq(dsv4_ref_rms_norm(5, D, EPS, x, w, y), DSV4_OK);
    for (int k = 0; k < D; k++) cr_assert(isnan(y[k]), "a NaN makes its row NaN");
    cr_assert_eq(r[1], 0.0f, "an infinite x: sum Inf, r = 0");
    cr_assert(isnan(y[D + 1]) && y[D] == 0.0f && y[D + 2] == 0.0f, "Inf * 0 = NaN, else 0");
    cr_assert_eq(r[2], 1.0f / sqrtf(EPS), "zero row: r = 1/sqrt(eps)");
    for (int k = 0; k < D; k++) cr_assert_eq(y[2 * D + k], 0.0f);
    cr_assert_eq(r[3], 0.0f, "x^2 beyond FLT_MAX: r = 0 (fp32, not the exact factor)");
    cr_assert(isfinite(y[4 * D]) && y[4 * D] > 0, "the other rows are untouched");
    /* eps = 0 with a zero row: r = 1/0 = +Inf, y = 0 * Inf = NaN */
    cr_assert_eq(dsv4_ref_rms_norm_factor(1, D, 0.0f, &x[2 * D], r), DSV4_OK);
    cr_assert(isinf(r[0]) && r[0] > 0);
    cr_assert_eq(dsv4_ref_rms_norm(1, D, 0.0f, &x[2 * D], w, y), DSV4_OK);
    cr_assert(isnan(y[0]));
    /* a NaN weight makes its column NaN */
    w[2] = NAN;
    cr_assert_eq(dsv4_ref_rms_norm(1, D, EPS, &x[4 * D], w, y), DSV4_OK);
    cr_assert(isnan(y[2]) && !isnan(y[1]));
}

Test(args, errors) {
    float x[4] = {1, 2, 3, 4}, w[4] = {1, 1, 1, 1}, y[4], r[1];
    cr_assert_eq(dsv4_ref_rms_norm(1, 0, EPS, x, w, y), DSV4_E_ARG, "d = 0");
    cr_assert_eq(dsv4_ref_rms_norm(1, 4, -1e-6f, x, w, y), DSV4_E_ARG);
    cr_assert_eq(dsv4_ref_rms_norm(1, 4, NAN, x, w, y), DSV4_E_ARG);
    cr_assert_eq(dsv4_ref_rms_norm(1, 4, INFINITY, x, w, y), DSV4_E_ARG);
    cr_assert_eq(dsv4_ref_rms_norm_factor(1, 4, NAN, x, r), DSV4_E_ARG);
    cr_assert_eq(dsv4_ref_rms_norm(0, 4, EPS, NULL, NULL, NULL), DSV4_OK, "empty");
    cr_assert_eq(dsv4_ref_rms_norm_factor(0, 4, EPS, NULL, NULL), DSV4_OK);
    cr_assert_eq(dsv4_ref_rms_norm_apply(0, 4, NULL, NULL, NULL, NULL), DSV4_OK);
    cr_assert_eq(dsv4_ref_rms_norm(1, 4, EPS, x, NULL, y), DSV4_E_NULL);
    cr_assert_eq(dsv4_ref_rms_norm_factor(1, 4, EPS, NULL, r), DSV4_E_NULL);
    cr_assert_eq(dsv4_ref_rms_norm_apply(1, 4, x, NULL, w, y), DSV4_E_NULL);
    cr_assert_eq(dsv4_ref_rms_norm_apply(1, 0, x, r, w, y), DSV4_E_ARG);
    cr_assert_eq(dsv4_ref_rms_norm(SIZE_MAX / 2, 4, EPS, x, w, y), DSV4_E_OVERFLOW);
}
