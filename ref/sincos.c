/* sincos.c - the project's own sine and cosine of an fp32 argument
 * (spec/elementary.md, "dsv4_sincosf").
 *
 * Both are evaluated in double from the exact value of x and rounded once
 * to fp32:
 *   (C1) |x| < pi/4: r = x, q = 0.
 *   (C2) otherwise Payne-Hanek: x = m * 2^e with m a 24-bit integer, so
 *        x * 2/pi = m * (2^e * 2/pi).  Only the bits of 2/pi from position
 *        e - 1 on matter modulo 4; a window of 160 of them times m is an
 *        exact integer product, whose bits give the quadrant q (mod 4) and
 *        the fraction g of a quarter turn, |g| <= 1/2, to 128 bits.  The
 *        reduction is exact to 2^-128 of a quarter turn for every fp32 x.
 *   (C3) r = g * pi/2 in double, |r| <= pi/4.
 *   (C4) sin r, cos r by their Taylor series (to r^17 and r^18), Horner in r^2.
 *   (C5) sin x, cos x from q and the sign of x, each rounded once to fp32.
 * Plain double operations and 32-bit integer products, no FMA, no libm:
 * the bits depend only on x. */
#include "internal.h"

/* 2/pi = 0.A2F9836E 4E441529 FC2757D1 ... in hexadecimal: its first 320
 * bits after the binary point, most significant word first. */
static const uint32_t TWO_OVER_PI[10] = {
    0xA2F9836Eu, 0x4E441529u, 0xFC2757D1u, 0xF534DDC0u, 0xDB629599u,
    0x3C439041u, 0xFE5163ABu, 0xDEBBC561u, 0xB7246E3Au, 0x424DD2E0u,
};
enum { WINDOW_WORDS = 5 }; /* 160 bits of 2/pi per reduction */

static const double PIO2 = 1.57079632679489655800e+00; /* 0x3FF921FB54442D18 */

/* 1/n! with alternating signs: S[n] = (-1)^n / (2n+1)!, C[n] = (-1)^n / (2n)!. */
static const double SIN_COEF[9] = {
    1.0,
    -1.0 / 6.0,
    1.0 / 120.0,
    -1.0 / 5040.0,
    1.0 / 362880.0,
    -1.0 / 39916800.0,
    1.0 / 6227020800.0,
    -1.0 / 1307674368000.0,
    1.0 / 355687428096000.0,
};
static const double COS_COEF[10] = {
    1.0,
    -1.0 / 2.0,
    1.0 / 24.0,
    -1.0 / 720.0,
    1.0 / 40320.0,
    -1.0 / 3628800.0,
    1.0 / 479001600.0,
    -1.0 / 87178291200.0,
    1.0 / 20922789888000.0,
    -1.0 / 6402373705728000.0,
};

/* ---- (C2) Payne-Hanek ------------------------------------------------------------ */
/* Bits s .. s+159 of 2/pi (bit 1 is the first after the binary point) as a
 * 160-bit integer w [5], least significant word first.  s in [1, 104]. */
static void two_over_pi_window(int s, uint32_t w[WINDOW_WORDS]) {
    int a = (s - 1) / 32, sh = (s - 1) % 32;
    for (int q = 0; q < WINDOW_WORDS; q++) {
        uint32_t hi = TWO_OVER_PI[a + q], lo = TWO_OVER_PI[a + q + 1];
        w[WINDOW_WORDS - 1 - q] = sh ? (hi << sh) | (lo >> (32 - sh)) : hi;
    }
}

/* Bits pos .. pos+31 and pos .. pos+63 of the integer p [n] (least
 * significant word first); bits beyond p are 0.  pos >= 0. */
static uint32_t bits32(const uint32_t *p, int n, int pos) {
    int w = pos / 32, sh = pos % 32;
    uint32_t lo = w < n ? p[w] : 0u, hi = w + 1 < n ? p[w + 1] : 0u;
    return sh ? (lo >> sh) | (hi << (32 - sh)) : lo;
}

static uint64_t bits64(const uint32_t *p, int n, int pos) {
    return ((uint64_t)bits32(p, n, pos + 32) << 32) | bits32(p, n, pos);
}

/* (hi, lo) / 2^128 as a double: the top 64 significant bits, converted with
 * one rounding to 53 bits; exact powers of two scale it. */
static double fraction_to_double(uint64_t hi, uint64_t lo) {
    int shift = 0;
    if (hi == 0) {
        hi = lo;
        lo = 0;
        shift = 64;
    }
    if (hi == 0) return 0.0;
    while (!(hi >> 63)) {
        hi = (hi << 1) | (lo >> 63);
        lo <<= 1;
        shift++;
    }
    return (double)hi * dsv4_pow2d(-64 - shift);
}

/* |x| = m * 2^e (abs_bits a finite fp32 pattern >= pi/4) -> r in
 * [-pi/4, pi/4] and q with |x| = (4j + q) * pi/2 + r for an integer j. */
static double reduce_payne_hanek(uint32_t abs_bits, int *q) {
    uint32_t m = (abs_bits & 0x7FFFFFu) | 0x800000u;
    int e = (int)(abs_bits >> 23) - 150;
    /* Bits j < e - 1 of 2/pi contribute m * 2^(e-j), a multiple of 4. */
    int s = e >= 2 ? e - 1 : 1;
    uint32_t w[WINDOW_WORDS], p[WINDOW_WORDS + 1];
    two_over_pi_window(s, w);
    uint64_t carry = 0;
    for (int i = 0; i < WINDOW_WORDS; i++) { /* p = m * w, exact */
        uint64_t t = (uint64_t)m * w[i] + carry;
        p[i] = (uint32_t)t;
        carry = t >> 32;
    }
    p[WINDOW_WORDS] = (uint32_t)carry;
    /* |x| * 2/pi = p * 2^-F (mod 4, to 2^-130): F fraction bits, F >= 158. */
    int F = s + 32 * WINDOW_WORDS - 1 - e;
    int quadrant = (int)(bits32(p, WINDOW_WORDS + 1, F) & 3u);
    uint64_t hi = bits64(p, WINDOW_WORDS + 1, F - 64);
    uint64_t lo = bits64(p, WINDOW_WORDS + 1, F - 128);
    double sign = 1.0;
    if (hi >> 63) { /* fraction >= 1/2: the next quadrant, a negative remainder */
        quadrant++;
        lo = ~lo + 1u;
        hi = ~hi + (lo == 0 ? 1u : 0u);
        sign = -1.0;
    }
    *q = quadrant & 3;
    return sign * (fraction_to_double(hi, lo) * PIO2); /* (C3) */
}

/* ---- (C4) the series on [-pi/4, pi/4] -------------------------------------------- */
static double sin_series(double r) {
    double z = r * r, p = SIN_COEF[8];
    for (int n = 7; n >= 1; n--) p = p * z + SIN_COEF[n];
    return r + r * (z * p);
}

static double cos_series(double r) {
    double z = r * r, p = COS_COEF[9];
    for (int n = 8; n >= 1; n--) p = p * z + COS_COEF[n];
    return 1.0 + z * p;
}

void dsv4_sincosf(float x, float *s, float *c) {
    uint32_t u = dsv4_f32_bits(x), a = u & 0x7FFFFFFFu;
    if (a >= 0x7F800000u) { /* NaN stays NaN (quieted), +-Inf gives NaN */
        float nan = dsv4_f32_from_bits(a > 0x7F800000u ? (u | 0x00400000u) : 0x7FC00000u);
        if (s) *s = nan;
        if (c) *c = nan;
        return;
    }
    int q = 0;
    double r;
    if (a < 0x3F490FDBu) r = dsv4_f32_from_bits(a); /* (C1) |x| < pi/4 */
    else r = reduce_payne_hanek(a, &q);              /* (C2), (C3) */
    double sr = sin_series(r), cr = cos_series(r);   /* (C4) */
    double sx, cx;                                   /* (C5) */
    switch (q) {
    case 0: sx = sr; cx = cr; break;
    case 1: sx = cr; cx = -sr; break;
    case 2: sx = -sr; cx = -cr; break;
    default: sx = -cr; cx = sr; break;
    }
    if (u >> 31) sx = -sx; /* sin is odd, cos even */
    if (s) *s = (float)sx;
    if (c) *c = (float)cx;
}
