/* test_mpfr_elementary.c - the project's elementary functions against MPFR
 * (spec/elementary.md): dsv4_expf, dsv4_sigmoidf, dsv4_sincosf, dsv4_log_d
 * and dsv4_exp_d.
 *
 * expf and sincosf: every fp32 input (a sample of each 2^24 chunk with
 * DSV4_EXHAUSTIVE=0; a few whole binades always).  The fast filter is the C
 * library's double-precision function rounded to fp32; wherever it
 * disagrees with ours, MPFR (correctly rounded, 200 bits) decides.  The spec
 * promises faithful rounding (the result is one of the two fp32 neighbours
 * of the exact value) and correct rounding in all but a handful of cases;
 * the tests count both.  log_d and exp_d: random doubles over their whole
 * range against MPFR, in double ulps. */
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

/* ---- sincosf ------------------------------------------------------------------------ */
/* sin x and cos x correctly rounded to fp32, and their neighbours below and above. */
static void mpfr_sincosf(float x, float rn[2], float dn[2], float up[2]) {
    mpfr_t t, s, c;
    mpfr_inits2(200, t, s, c, (mpfr_ptr)0);
    mpfr_set_flt(t, x, MPFR_RNDN);
    mpfr_sin_cos(s, c, t, MPFR_RNDN);
    rn[0] = mpfr_get_flt(s, MPFR_RNDN);
    dn[0] = mpfr_get_flt(s, MPFR_RNDD);
    up[0] = mpfr_get_flt(s, MPFR_RNDU);
    rn[1] = mpfr_get_flt(c, MPFR_RNDN);
    dn[1] = mpfr_get_flt(c, MPFR_RNDD);
    up[1] = mpfr_get_flt(c, MPFR_RNDU);
    mpfr_clears(t, s, c, (mpfr_ptr)0);
}

/* Checks x; adds to c; returns 1 when a result is not faithful. */
static int check_sincos(float x, counts *c) {
    float got[2];
    dsv4_sincosf(x, &got[0], &got[1]);
    if (!isfinite(x)) return !isnan(got[0]) || !isnan(got[1]);
    float quick[2] = {(float)sin((double)x), (float)cos((double)x)};
    if (bits(got[0]) == bits(quick[0]) && bits(got[1]) == bits(quick[1])) return 0;
    float rn[2], dn[2], up[2];
    mpfr_sincosf(x, rn, dn, up);
    int bad = 0;
    for (int i = 0; i < 2; i++) {
        if (bits(got[i]) != bits(rn[i])) c->not_correct++;
        if (bits(got[i]) != bits(dn[i]) && bits(got[i]) != bits(up[i])) bad = 1;
    }
    c->not_faithful += (uint64_t)bad;
    return bad;
}

static counts sincos_totals[256];

static uint64_t sweep_sincos(void *ctx, uint64_t lo, uint64_t n, uint64_t stride,
                             uint32_t *first_bad) {
    (void)ctx;
    uint64_t bad = 0;
    counts *c = &sincos_totals[lo >> 24];
    for (uint64_t i = 0; i < n; i += stride)
        if (check_sincos(f32((uint32_t)(lo + i)), c)) {
            if (!bad) *first_bad = (uint32_t)(lo + i);
            bad++;
        }
    return bad;
}

Test(exhaustive, sincosf_is_faithful, .timeout = 1800) {
    uint32_t first = 0;
    uint64_t bad = sweep_all_f32(sweep_sincos, NULL, &first);
    uint64_t not_correct = 0;
    for (int i = 0; i < 256; i++) not_correct += sincos_totals[i].not_correct;
    printf("sincosf: %llu results not correctly rounded (each still faithful)\n",
           (unsigned long long)not_correct);
    cr_assert_eq(bad, 0, "%llu inputs not faithfully rounded, e.g. 0x%08x",
                 (unsigned long long)bad, first);
    cr_assert(not_correct <= 64, "too many incorrectly rounded results: %llu",
              (unsigned long long)not_correct);
}

/* Whole binades whatever DSV4_EXHAUSTIVE says: around pi/4, where the
 * reduction starts; the angles of RoPE tables up to 2^24 positions; the
 * largest int32 positions; the top of the fp32 range. */
Test(sincosf, whole_binades, .timeout = 600) {
    static const int binade[] = {-2, -1, 0, 19, 23, 30, 126};
    counts c = {0, 0};
    for (size_t b = 0; b < sizeof binade / sizeof binade[0]; b++) {
        uint32_t lo = (uint32_t)(binade[b] + 127) << 23;
        for (uint32_t i = 0; i < (1u << 23); i++) {
            uint32_t u = lo + i;
            cr_assert_eq(check_sincos(f32(u), &c), 0, "0x%08x not faithful", u);
            cr_assert_eq(check_sincos(f32(u | 0x80000000u), &c), 0, "0x%08x not faithful",
                         u | 0x80000000u);
        }
    }
    cr_assert(c.not_correct <= 16, "%llu incorrectly rounded", (unsigned long long)c.not_correct);
}

Test(sincosf, specials) {
    float s, c;
    dsv4_sincosf(0.0f, &s, &c);
    cr_assert(bits(s) == 0u && c == 1.0f);
    dsv4_sincosf(-0.0f, &s, &c);
    cr_assert(bits(s) == 0x80000000u && c == 1.0f, "sin keeps the sign of zero");
    dsv4_sincosf(INFINITY, &s, &c);
    cr_assert(isnan(s) && isnan(c));
    dsv4_sincosf(-INFINITY, &s, &c);
    cr_assert(isnan(s) && isnan(c));
    dsv4_sincosf(f32(0x7FA00001u), &s, &c);
    cr_assert_eq(bits(s), 0x7FE00001u, "a signalling NaN comes back quieted");
    dsv4_sincosf(f32(0x00000001u), &s, &c);
    cr_assert(bits(s) == 1u && c == 1.0f, "smallest subnormal");
    dsv4_sincosf(f32(0x7F7FFFFFu), &s, &c);
    float rn[2], dn[2], up[2];
    mpfr_sincosf(f32(0x7F7FFFFFu), rn, dn, up);
    cr_assert(bits(s) == bits(rn[0]) && bits(c) == bits(rn[1]), "FLT_MAX");
    dsv4_sincosf(1.0f, NULL, &c); /* either output may be left out */
    dsv4_sincosf(1.0f, &s, NULL);
    cr_assert(bits(s) == bits((float)sin(1.0)) && bits(c) == bits((float)cos(1.0)));
}

/* ---- log_d and exp_d ------------------------------------------------------------------- */
/* |got - want| in ulps of want (want a finite nonzero double). */
static double ulps_d(double got, double want) {
    double ulp = fabs(nextafter(want, INFINITY) - want);
    double ulp2 = fabs(want - nextafter(want, -INFINITY));
    return fabs(got - want) / (ulp < ulp2 ? ulp : ulp2);
}

static uint64_t lcg = 0x9E3779B97F4A7C15ull;
static uint64_t next64(void) {
    lcg = lcg * 6364136223846793005ull + 1442695040888963407ull;
    return lcg ^ (lcg >> 29);
}

static double mpfr_d(int (*fn)(mpfr_ptr, mpfr_srcptr, mpfr_rnd_t), double x) {
    mpfr_t t;
    mpfr_init2(t, 200);
    mpfr_set_d(t, x, MPFR_RNDN);
    fn(t, t, MPFR_RNDN);
    double r = mpfr_get_d(t, MPFR_RNDN);
    mpfr_clear(t);
    return r;
}

Test(log_d, within_two_ulps) {
    double worst = 0;
    for (int i = 0; i < 400000; i++) {
        uint64_t u = next64() & 0x7FFFFFFFFFFFFFFFull; /* every positive double pattern */
        double x;
        memcpy(&x, &u, 8);
        if (!isfinite(x) || x == 0) continue;
        if (i % 4 == 1) x = 1.0 + (double)(int64_t)(u >> 20) * 0x1p-52; /* near 1 */
        double got = dsv4_log_d(x), want = mpfr_d(mpfr_log, x);
        if (want == 0) {
            cr_assert_eq(got, 0.0, "log(1) = 0");
            continue;
        }
        double e = ulps_d(got, want);
        cr_assert(e <= 2.0, "log(%a) = %a, MPFR %a (%.2f ulps)", x, got, want, e);
        worst = fmax(worst, e);
    }
    printf("log_d: at most %.0f ulps\n", worst);
    cr_assert(isnan(dsv4_log_d(NAN)) && isnan(dsv4_log_d(-1.0)) && isnan(dsv4_log_d(-INFINITY)));
    cr_assert(dsv4_log_d(0.0) == -INFINITY && dsv4_log_d(-0.0) == -INFINITY);
    cr_assert(dsv4_log_d(INFINITY) == INFINITY && dsv4_log_d(1.0) == 0.0);
    cr_assert(ulps_d(dsv4_log_d(0x1p-1074), mpfr_d(mpfr_log, 0x1p-1074)) <= 2.0, "subnormal");
}

Test(exp_d, within_two_ulps) {
    double worst = 0;
    for (int i = 0; i < 400000; i++) {
        uint64_t u = next64();
        /* uniform over [-746, 710], and near 0 */
        double x = (double)(u >> 11) * 0x1p-53 * 1456.0 - 746.0;
        if (i % 4 == 1) x = ((double)(u >> 11) * 0x1p-53 - 0.5) * 0x1p-20;
        double got = dsv4_exp_d(x), want = mpfr_d(mpfr_exp, x);
        if (want == 0 || isinf(want)) {
            cr_assert(got == want, "exp(%a) = %a, MPFR %a", x, got, want);
            continue;
        }
        /* a subnormal result in units of the subnormal spacing 2^-1074 */
        int sub = fabs(want) < 0x1p-1022;
        double e = sub ? fabs(got - want) / 0x1p-1074 : ulps_d(got, want);
        cr_assert(e <= 2.0, "exp(%a) = %a, MPFR %a (%.2f ulps)", x, got, want, e);
        if (!sub) worst = fmax(worst, e);
    }
    printf("exp_d: at most %.0f ulps\n", worst);
    cr_assert(isnan(dsv4_exp_d(NAN)));
    cr_assert(dsv4_exp_d(INFINITY) == INFINITY && dsv4_exp_d(-INFINITY) == 0.0);
    cr_assert(dsv4_exp_d(0.0) == 1.0 && dsv4_exp_d(-0.0) == 1.0);
    cr_assert(dsv4_exp_d(709.79) == INFINITY && isfinite(dsv4_exp_d(709.78)));
    cr_assert(dsv4_exp_d(-745.2) == 0.0 && dsv4_exp_d(-745.1) > 0.0, "smallest subnormal");
}
