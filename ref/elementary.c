/* elementary.c - the project's own exp and sigmoid in fp32, and log and exp
 * in double (spec/elementary.md); sine and cosine are in sincos.c.
 *
 * expf is evaluated in double from the fp32 input and rounded once to fp32:
 *   (E1) k = nearest integer to x / ln 2            (x = k ln2 + r, |r| <= ln2/2)
 *   (E2) r = (x - k * LN2_HI) - k * LN2_LO          (Cody-Waite: LN2_HI has 32
 *        trailing zero bits, so k * LN2_HI is exact for |k| < 2^20)
 *   (E3) p = e^r by its Taylor series to degree 13, Horner form
 *        (|error| < 2^-53 * 4 relative on |r| <= 0.35)
 *   (E4) e^x = p * 2^k, exact in double, then one rounding to fp32, which
 *        also places subnormal results and overflows to +Inf.
 * Plain double multiplies and adds, no FMA, no libm, no table: the bits
 * depend only on the input.  opt/ vectorizes the same steps in the same order
 * and gets the same bits. */
#include "internal.h"

/* fdlibm's split of ln 2 and 1/ln 2 (IEEE double constants). */
static const double LN2_HI = 6.93147180369123816490e-01;  /* 0x3FE62E42FEE00000 */
static const double LN2_LO = 1.90821492927058770002e-10;  /* 0x3DEA39EF35793C76 */
static const double INV_LN2 = 1.44269504088896338700e+00; /* 0x3FF71547652B82FE */
/* Adding and subtracting 1.5 * 2^52 rounds a double of magnitude < 2^51 to
 * the nearest integer, ties to even. */
static const double ROUND_SHIFTER = 6755399441055744.0;

/* 1/n! for n = 2..13, each the double nearest to it. */
static const double INV_FACT[14] = {
    1.0, 1.0, 1.0 / 2.0, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0, 1.0 / 5040.0,
    1.0 / 40320.0, 1.0 / 362880.0, 1.0 / 3628800.0, 1.0 / 39916800.0, 1.0 / 479001600.0,
    1.0 / 6227020800.0,
};

float dsv4_expf(float x) {
    uint32_t u = dsv4_f32_bits(x);
    if ((u & 0x7FFFFFFFu) > 0x7F800000u) return dsv4_f32_from_bits(u | 0x00400000u); /* quiet NaN */
    /* Outside (-150, 128) the fp32 result is 0 or +Inf whatever the error of
     * the evaluation: e^-150 < 2^-216 is far below half the smallest
     * subnormal 2^-150, and e^128 > 2^184 is far above FLT_MAX. */
    if (x <= -150.0f) return 0.0f;
    if (x >= 128.0f) return dsv4_f32_from_bits(0x7F800000u);

    double xd = (double)x;
    double kd = (xd * INV_LN2 + ROUND_SHIFTER) - ROUND_SHIFTER;       /* (E1) */
    double r = (xd - kd * LN2_HI) - kd * LN2_LO;                      /* (E2) */
    double p = INV_FACT[13];                                          /* (E3) */
    for (int n = 12; n >= 0; n--) p = p * r + INV_FACT[n];
    return (float)(p * dsv4_pow2d((int)kd));                          /* (E4) */
}

float dsv4_sigmoidf(float x) {
    float t = dsv4_expf(-x);
    float denom = 1.0f + t;
    return 1.0f / denom;
}

/* ---- log and exp in double ------------------------------------------------- */
static uint64_t f64_bits(double x) {
    union { double d; uint64_t u; } v;
    v.d = x;
    return v.u;
}
static double f64_from_bits(uint64_t u) {
    union { double d; uint64_t u; } v;
    v.u = u;
    return v.d;
}

#define F64_QNAN 0x7FF8000000000000ull
#define F64_PINF 0x7FF0000000000000ull
#define F64_NINF 0xFFF0000000000000ull

/* 2/(2n+1) for n = 1..10: ln m = 2s + s*z*(2/3 + z*(2/5 + ...)), z = s^2. */
static const double LOG_COEF[11] = {
    2.0,        2.0 / 3.0,  2.0 / 5.0,  2.0 / 7.0,  2.0 / 9.0,  2.0 / 11.0,
    2.0 / 13.0, 2.0 / 15.0, 2.0 / 17.0, 2.0 / 19.0, 2.0 / 21.0,
};

/* sqrt(2) rounded down to double: mantissas at or above it are halved. */
#define F64_SQRT2_BITS 0x3FF6A09E667F3BCDull

double dsv4_log_d(double x) {
    uint64_t u = f64_bits(x);
    if ((u & 0x7FFFFFFFFFFFFFFFull) > F64_PINF) return f64_from_bits(u | (1ull << 51)); /* NaN */
    if (x == 0.0) return f64_from_bits(F64_NINF);
    if (u >> 63) return f64_from_bits(F64_QNAN);                   /* x < 0 */
    if (u == F64_PINF) return x;
    int k = 0;
    if ((u >> 52) == 0) { /* subnormal: scale into the normal range (exact) */
        u = f64_bits(x * dsv4_pow2d(54));
        k = -54;
    }
    /* (L1) x = 2^k * m with m in [sqrt(2)/2, sqrt(2)) */
    k += (int)(u >> 52) - 1023;
    uint64_t mant = (u & 0x000FFFFFFFFFFFFFull) | 0x3FF0000000000000ull; /* [1, 2) */
    if (mant >= F64_SQRT2_BITS) {
        mant -= 1ull << 52; /* halve m: [sqrt(2)/2, 1) */
        k += 1;
    }
    double m = f64_from_bits(mant);
    /* (L2) s = (m - 1) / (m + 1), |s| <= 0.1716; m - 1 is exact */
    double f = m - 1.0;
    double s = f / (2.0 + f);
    /* (L3) ln m = 2 atanh(s) = sum_n 2 s^(2n+1) / (2n+1), to s^21 */
    double z = s * s, p = LOG_COEF[10];
    for (int n = 9; n >= 1; n--) p = p * z + LOG_COEF[n];
    double lnm = 2.0 * s + s * (z * p);
    /* (L4) k ln 2 + ln m, with k * LN2_HI exact */
    double kd = (double)k;
    return kd * LN2_HI + (kd * LN2_LO + lnm);
}

/* e^x overflows double above ln(DBL_MAX) and is below half the smallest
 * subnormal (2^-1075) below -745.1332191019412. */
static const double EXP_D_OVER = 709.782712893383973096;   /* 0x40862E42FEFA39EF */
static const double EXP_D_UNDER = -745.13321910194110842;  /* 0xC0874910D52D3051 */

/* 1/n! for n = 0..15. */
static const double INV_FACT_D[16] = {
    1.0,
    1.0,
    1.0 / 2.0,
    1.0 / 6.0,
    1.0 / 24.0,
    1.0 / 120.0,
    1.0 / 720.0,
    1.0 / 5040.0,
    1.0 / 40320.0,
    1.0 / 362880.0,
    1.0 / 3628800.0,
    1.0 / 39916800.0,
    1.0 / 479001600.0,
    1.0 / 6227020800.0,
    1.0 / 87178291200.0,
    1.0 / 1307674368000.0,
};

double dsv4_exp_d(double x) {
    uint64_t u = f64_bits(x);
    if ((u & 0x7FFFFFFFFFFFFFFFull) > F64_PINF) return f64_from_bits(u | (1ull << 51)); /* NaN */
    if (x > EXP_D_OVER) return f64_from_bits(F64_PINF);
    if (x < EXP_D_UNDER) return 0.0;
    double kd = (x * INV_LN2 + ROUND_SHIFTER) - ROUND_SHIFTER;        /* (X1) */
    double r = (x - kd * LN2_HI) - kd * LN2_LO;                       /* (X2) */
    double p = INV_FACT_D[15];                                        /* (X3) */
    for (int n = 14; n >= 0; n--) p = p * r + INV_FACT_D[n];
    int k = (int)kd;                                                  /* (X4) */
    if (k > 1023) return (p * 2.0) * dsv4_pow2d(k - 1);
    if (k < -1021) return (p * dsv4_pow2d(k + 600)) * dsv4_pow2d(-600); /* one rounding */
    return p * dsv4_pow2d(k);
}
