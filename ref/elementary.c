/* elementary.c - the project's own exp and sigmoid (spec/elementary.md).
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
