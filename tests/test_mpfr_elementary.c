/* test_mpfr_elementary.c - dsv4_expf and dsv4_sigmoidf against MPFR.
 *
 * expf: every fp32 input.  The fast filter is the double-precision e^x of
 * the C library rounded to fp32; wherever it disagrees with dsv4_expf, MPFR
 * (correctly rounded, 200 bits) decides.  The spec promises faithful rounding
 * (the result is one of the two fp32 neighbours of e^x) and correct rounding
 * in all but a handful of cases; the test counts both. */
#include "dsv4.h"
#include "sweep.h"

#include <criterion/criterion.h>
#include <math.h>
#include <mpfr.h>
#include <stdio.h>

static float f32(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }
static uint32_t bits(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }

/* e^x correctly rounded to fp32 (with subnormals), by MPFR. */
static float mpfr_expf(float x, float *lo, float *hi) {
    mpfr_t t;
    mpfr_init2(t, 200);
    mpfr_set_flt(t, x, MPFR_RNDN);
    mpfr_exp(t, t, MPFR_RNDN);
    float rn = mpfr_get_flt(t, MPFR_RNDN);
    *lo = mpfr_get_flt(t, MPFR_RNDD);
    *hi = mpfr_get_flt(t, MPFR_RNDU);
    mpfr_clear(t);
    return rn;
}

typedef struct counts { uint64_t not_faithful, not_correct; } counts;
static counts totals[256];

static uint64_t sweep_exp(void *ctx, uint64_t lo, uint64_t n, uint64_t stride,
                          uint32_t *first_bad) {
    (void)ctx;
    uint64_t bad = 0;
    counts *c = &totals[lo >> 24];
    for (uint64_t i = 0; i < n; i += stride) {
        float x = f32((uint32_t)(lo + i));
        float got = dsv4_expf(x);
        if (isnan(x)) {
            if (!isnan(got)) { if (!bad) *first_bad = (uint32_t)(lo + i); bad++; }
            continue;
        }
        float quick = (float)exp((double)x);
        if (bits(got) == bits(quick)) continue;
        float dn, up, rn = mpfr_expf(x, &dn, &up);
        if (bits(got) != bits(rn)) c->not_correct++;
        if (bits(got) != bits(dn) && bits(got) != bits(up)) {
            c->not_faithful++;
            if (!bad) *first_bad = (uint32_t)(lo + i);
            bad++;
        }
    }
    return bad;
}

Test(exhaustive, expf_is_faithful, .timeout = 900) {
    uint32_t first = 0;
    uint64_t bad = sweep_all_f32(sweep_exp, NULL, &first);
    uint64_t not_correct = 0;
    for (int i = 0; i < 256; i++) not_correct += totals[i].not_correct;
    printf("expf: %llu inputs not correctly rounded (each still faithful)\n",
           (unsigned long long)not_correct);
    cr_assert_eq(bad, 0, "%llu inputs not faithfully rounded, e.g. 0x%08x",
                 (unsigned long long)bad, first);
    cr_assert(not_correct <= 64, "too many incorrectly rounded results: %llu",
              (unsigned long long)not_correct);
}

Test(expf, specials) {
    cr_assert_eq(dsv4_expf(0.0f), 1.0f);
    cr_assert_eq(dsv4_expf(-0.0f), 1.0f);
    cr_assert_eq(bits(dsv4_expf(INFINITY)), 0x7F800000u);
    cr_assert_eq(bits(dsv4_expf(-INFINITY)), 0u);
    cr_assert(isnan(dsv4_expf(NAN)));
    cr_assert_eq(bits(dsv4_expf(88.72283935546875f)), 0x7F800000u, "just past ln FLT_MAX");
    cr_assert(isfinite(dsv4_expf(88.72283172607421875f)));
    cr_assert_eq(bits(dsv4_expf(-103.97208f)), 0x00000001u, "smallest subnormal");
    cr_assert_eq(dsv4_expf(-104.0f), 0.0f);
}

Test(sigmoid, values) {
    cr_assert_eq(dsv4_sigmoidf(0.0f), 0.5f);
    cr_assert_eq(dsv4_sigmoidf(-200.0f), 0.0f, "exp overflows to Inf, 1/Inf = 0");
    cr_assert_eq(dsv4_sigmoidf(200.0f), 1.0f);
    cr_assert(isnan(dsv4_sigmoidf(NAN)));
    /* a few values against MPFR: 1/(1+e^-x) with three roundings stays within 2 ulp */
    for (int i = -400; i <= 400; i++) {
        float x = (float)i * 0.05f;
        mpfr_t t;
        mpfr_init2(t, 200);
        mpfr_set_flt(t, -x, MPFR_RNDN);
        mpfr_exp(t, t, MPFR_RNDN);
        mpfr_add_ui(t, t, 1, MPFR_RNDN);
        mpfr_ui_div(t, 1, t, MPFR_RNDN);
        float want = mpfr_get_flt(t, MPFR_RNDN);
        mpfr_clear(t);
        float got = dsv4_sigmoidf(x);
        cr_assert(fabsf(got - want) <= 2.0f * (nextafterf(want, INFINITY) - want),
                  "sigmoid(%g) = %a, MPFR %a", (double)x, (double)got, (double)want);
    }
}
