/* test_mpfr_rope.c - the parts of the RoPE table that ref computes with
 * approximations (spec/rope.md §2), against MPFR on many configurations:
 *  - R2: B^e_i in double, then rounded: must equal the correctly rounded
 *    value (MPFR at 200 bits) for every frequency;
 *  - Y1, Y2: the YaRN correction range in double: the frequencies ref
 *    blends must be those of the exact floor and ceiling (Y3-Y6 are fp32
 *    operations, redone here one per statement). */
#include "dsv4.h"

#include <criterion/criterion.h>
#include <math.h>
#include <mpfr.h>
#include <string.h>

static uint32_t bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static const size_t DIMS[] = {2, 4, 6, 8, 10, 16, 24, 32, 48, 64, 80, 96, 128, 192, 256, 1024};
static const double BASES[] = {10000.0, 160000.0, 500000.0, 1e6, 10.0, 2.0, 1.5,
                               1e30,    3e38,     12345.678, 1.0001};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* f_i without YaRN, R1-R3, with R2 correctly rounded by MPFR. */
static void exact_frequencies(size_t d, double base, float *f) {
    mpfr_t B, e, p;
    mpfr_inits2(200, B, e, p, (mpfr_ptr)0);
    mpfr_set_flt(B, (float)base, MPFR_RNDN);
    float g = 1.0f / (float)d;
    for (size_t i = 0; i < d / 2; i++) {
        float ei = (float)(2 * i) * g;
        mpfr_set_flt(e, ei, MPFR_RNDN);
        mpfr_pow(p, B, e, MPFR_RNDN);
        float pi = mpfr_get_flt(p, MPFR_RNDN);
        f[i] = 1.0f / pi;
    }
    mpfr_clears(B, e, p, (mpfr_ptr)0);
}

Test(frequencies, power_correctly_rounded) {
    static float got[512], want[512];
    size_t checked = 0;
    for (size_t a = 0; a < COUNT(DIMS); a++)
        for (size_t b = 0; b < COUNT(BASES); b++) {
            dsv4_rope_cfg c = {DIMS[a], BASES[b], 1.0, 0, 32.0, 1.0};
            cr_assert_eq(dsv4_rope_inv_freq(&c, got), DSV4_OK);
            exact_frequencies(DIMS[a], BASES[b], want);
            for (size_t i = 0; i < DIMS[a] / 2; i++, checked++)
                cr_assert_eq(bits(got[i]), bits(want[i]),
                             "rope_dim %zu base %g f[%zu] = %a, correctly rounded %a", DIMS[a],
                             BASES[b], i, (double)got[i], (double)want[i]);
        }
    cr_assert(checked > 2000);
}

/* floor (up = 0) or ceiling of corr(beta) (Y1), exact, clamped to 2^20. */
static long corr_int(size_t d, double base, uint64_t L, double beta, int up) {
    mpfr_t v, t;
    mpfr_inits2(200, v, t, (mpfr_ptr)0);
    mpfr_const_pi(t, MPFR_RNDN);
    mpfr_mul_2ui(t, t, 1, MPFR_RNDN);
    mpfr_mul_d(t, t, beta, MPFR_RNDN);
    mpfr_set_uj(v, L, MPFR_RNDN);
    mpfr_div(v, v, t, MPFR_RNDN);
    mpfr_log(v, v, MPFR_RNDN);
    mpfr_mul_ui(v, v, (unsigned long)d, MPFR_RNDN);
    mpfr_set_d(t, base, MPFR_RNDN);
    mpfr_log(t, t, MPFR_RNDN);
    mpfr_mul_2ui(t, t, 1, MPFR_RNDN);
    mpfr_div(v, v, t, MPFR_RNDN);
    if (up) mpfr_ceil(v, v);
    else mpfr_floor(v, v);
    double r = mpfr_get_d(v, MPFR_RNDN);
    mpfr_clears(v, t, (mpfr_ptr)0);
    return r > 1048576.0 ? 1048576 : r < -1048576.0 ? -1048576 : (long)r;
}

/* Y2-Y6 on f [d/2] in place, one fp32 operation per statement. */
static void blend(size_t d, double factor, long low, long high, float *f) {
    if (low < 0) low = 0;
    if (high > (long)d - 1) high = (long)d - 1;
    double span = low == high ? ((double)high + 0.001) - (double)low : (double)(high - low);
    float h = 1.0f / (float)span, k = 1.0f / (float)factor;
    for (size_t i = 0; i < d / 2; i++) {
        float di = (float)(long)i - (float)low;
        float ramp = di * h;
        ramp = ramp < 0.0f ? 0.0f : ramp > 1.0f ? 1.0f : ramp;
        float smooth = 1.0f - ramp;
        float fk = f[i] * k, keep = 1.0f - smooth;
        float scaled = fk * keep, rest = f[i] * smooth;
        f[i] = scaled + rest;
    }
}

Test(frequencies, yarn_range_exact) {
    static const uint64_t LS[] = {1, 6, 100, 4096, 65536, 1000000, 1ull << 40};
    static const double BETAS[][2] = {{32, 1}, {64, 2}, {8, 0.5}, {1, 32}, {1000, 0.001}};
    static float got[512], want[512];
    size_t configs = 0;
    for (size_t a = 0; a < COUNT(DIMS); a++)
        for (size_t b = 0; b < COUNT(BASES); b++)
            for (size_t l = 0; l < COUNT(LS); l++)
                for (size_t k = 0; k < COUNT(BETAS); k++) {
                    dsv4_rope_cfg c = {DIMS[a], BASES[b], 16.0, LS[l], BETAS[k][0], BETAS[k][1]};
                    dsv4_rope_cfg plain = c;
                    plain.original_seq_len = 0;
                    cr_assert_eq(dsv4_rope_inv_freq(&c, got), DSV4_OK);
                    cr_assert_eq(dsv4_rope_inv_freq(&plain, want), DSV4_OK);
                    long low = corr_int(c.rope_dim, c.base, c.original_seq_len, c.beta_fast, 0);
                    long high = corr_int(c.rope_dim, c.base, c.original_seq_len, c.beta_slow, 1);
                    blend(c.rope_dim, c.factor, low, high, want);
                    cr_assert_eq(memcmp(got, want, c.rope_dim / 2 * sizeof(float)), 0,
                                 "rope_dim %zu base %g L %llu beta %g/%g: low %ld high %ld",
                                 c.rope_dim, c.base, (unsigned long long)c.original_seq_len,
                                 c.beta_fast, c.beta_slow, low, high);
                    configs++;
                }
    cr_assert(configs > 5000);
}
