/* exact.c - MPFR setup, exact fp32 conversion, rounding to binary32, RNG. */
#include "exact.h"

#include <stdio.h>
#include <string.h>

void ox_init(void) { mpfr_set_default_prec(OX_PREC); }

const char *ox_oracle_name(void) {
    static char name[64];
    /* No MPFR version here: every MPFR result is correctly rounded, so the
     * files must not depend on which release made them. */
    if (name[0] == '\0') snprintf(name, sizeof name, "mpfr, %d bits", OX_PREC);
    return name;
}

/* ---- fp32 bit patterns ---------------------------------------------------- */
uint32_t ox_f32_bits(float x) {
    uint32_t u;
    memcpy(&u, &x, sizeof u);
    return u;
}

float ox_f32_from_bits(uint32_t u) {
    float x;
    memcpy(&x, &u, sizeof x);
    return x;
}

int ox_f32_is_nan(uint32_t u) { return (u & 0x7FFFFFFFu) > 0x7F800000u; }
int ox_f32_is_inf(uint32_t u) { return (u & 0x7FFFFFFFu) == 0x7F800000u; }

/* Positive fp32 patterns are ordered like their values, so stepping the
 * magnitude bits by one moves to the adjacent value; the sign decides the
 * direction. */
uint32_t ox_f32_nextup(uint32_t u) {
    if (ox_f32_is_nan(u) || u == 0x7F800000u) return u;
    if (u == 0x80000000u) return 0x00000001u; /* -0 -> min subnormal */
    return (u & 0x80000000u) ? u - 1 : u + 1;
}

uint32_t ox_f32_nextdown(uint32_t u) {
    if (ox_f32_is_nan(u) || u == 0xFF800000u) return u;
    if (u == 0x00000000u) return 0x80000001u; /* +0 -> -min subnormal */
    return (u & 0x80000000u) ? u + 1 : u - 1;
}

uint32_t ox_f32_pow2(int k, int negative) {
    uint32_t sign = negative ? 0x80000000u : 0u;
    if (k >= -126) return sign | ((uint32_t)(k + 127) << 23);
    return sign | (1u << (k + 149)); /* subnormal: a single mantissa bit */
}

uint32_t ox_f32_round_to_bf16_value(uint32_t u) {
    if (ox_f32_is_nan(u)) return u;
    /* Add just under half of the dropped 16 bits, plus one when the kept
     * lowest bit is odd, so an exact half rounds to the even neighbour. */
    uint32_t r = (u + 0x7FFFu + ((u >> 16) & 1u)) & 0xFFFF0000u;
    if (ox_f32_is_inf(r) && !ox_f32_is_inf(u)) r = (u & 0x80000000u) | 0x7F7F0000u;
    return r;
}

uint32_t ox_normal_bf16(ox_rng *r, long e) {
    long s = 0; /* sum of 12 uniforms in [0, 2^32), minus 6 * 2^32: |s| < 2^36 */
    for (int i = 0; i < 12; i++) s += (long)(ox_rng_next(r) >> 32);
    s -= 6L << 32;
    return ox_f32_round_to_bf16_value(ox_f32_of_dyadic(s, e - 32));
}

/* ---- exact conversions ---------------------------------------------------- */
void ox_set_f32_bits(mpfr_t r, uint32_t bits) {
    /* mpfr_set_flt is exact for every finite float when prec(r) >= 24. */
    if (ox_f32_is_nan(bits)) {
        mpfr_set_nan(r);
        return;
    }
    mpfr_set_flt(r, ox_f32_from_bits(bits), MPFR_RNDN);
}

uint32_t ox_round_f32(const mpfr_t x) {
    if (mpfr_nan_p(x)) return OX_F32_QNAN;
    uint32_t sign = mpfr_signbit(x) ? 0x80000000u : 0u;
    if (mpfr_inf_p(x)) return sign | 0x7F800000u;
    if (mpfr_zero_p(x)) return sign;
    /* MPFR exponent e means |x| in [2^(e-1), 2^e). */
    mpfr_exp_t e = mpfr_get_exp(x);
    if (e > 128) return sign | 0x7F800000u; /* |x| >= 2^128: beyond the overflow threshold */
    if (e < -149) return sign;              /* |x| < 2^-150: below half the min subnormal */
    /* Now x is inside the binary32 exponent window the emulation below is
     * allowed to see.  Round to 24 bits in the wide exponent range first,
     * then let MPFR re-round into binary32's range: mpfr_check_range applies
     * overflow/underflow and mpfr_subnormalize shortens the significand of
     * subnormal results, both using the ternary value of the first rounding
     * so that no double-rounding error can occur. */
    mpfr_t t;
    mpfr_init2(t, 24);
    int inex = mpfr_set(t, x, MPFR_RNDN);
    mpfr_exp_t old_emin = mpfr_get_emin(), old_emax = mpfr_get_emax();
    mpfr_set_emin(-148); /* min subnormal 2^-149 = 0.5 * 2^-148 */
    mpfr_set_emax(128);  /* max finite (1 - 2^-24) * 2^128 */
    inex = mpfr_check_range(t, inex, MPFR_RNDN);
    mpfr_subnormalize(t, inex, MPFR_RNDN);
    /* t is now a binary32 value (or +-Inf, or a signed zero): exact in float. */
    float f = mpfr_get_flt(t, MPFR_RNDN);
    mpfr_set_emin(old_emin);
    mpfr_set_emax(old_emax);
    mpfr_clear(t);
    uint32_t bits = ox_f32_bits(f);
    return (bits & 0x7FFFFFFFu) | sign; /* MPFR keeps the sign of an underflowed zero; be explicit */
}

/* ---- RNG --------------------------------------------------------------- */
static uint64_t splitmix64(uint64_t *state) {
    uint64_t z = (*state += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void ox_rng_seed(ox_rng *r, uint64_t seed) {
    uint64_t st = seed;
    for (int i = 0; i < 4; i++) r->s[i] = splitmix64(&st);
}

static uint64_t rotl64(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t ox_rng_next(ox_rng *r) {
    uint64_t *s = r->s;
    uint64_t result = rotl64(s[1] * 5, 7) * 9;
    uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl64(s[3], 45);
    return result;
}

uint32_t ox_rng_below(ox_rng *r, uint32_t n) {
    uint64_t hi = ox_rng_next(r) >> 32;
    return (uint32_t)((hi * n) >> 32);
}

int ox_rng_range(ox_rng *r, int lo, int hi) {
    return lo + (int)ox_rng_below(r, (uint32_t)(hi - lo + 1));
}

/* ---- fp32 of exact values ------------------------------------------------ */
uint32_t ox_f32_of_double(double d) {
    mpfr_t t;
    mpfr_init(t);
    mpfr_set_d(t, d, MPFR_RNDN);
    uint32_t bits = ox_round_f32(t);
    mpfr_clear(t);
    return bits;
}

uint32_t ox_f32_of_dyadic(long num, long e) {
    mpfr_t t;
    mpfr_init(t);
    mpfr_set_si_2exp(t, num, e, MPFR_RNDN);
    uint32_t bits = ox_round_f32(t);
    mpfr_clear(t);
    return bits;
}

uint32_t ox_f32_of_text(const char *s) {
    mpfr_t t;
    mpfr_init(t);
    mpfr_set_str(t, s, 0, MPFR_RNDN);
    uint32_t bits = ox_round_f32(t);
    mpfr_clear(t);
    return bits;
}

void ox_f32_decimal(uint32_t bits, char *buf, size_t len) {
    mpfr_t v, back;
    mpfr_inits(v, back, (mpfr_ptr)0);
    ox_set_f32_bits(v, bits);
    for (int p = 1; p <= 9; p++) {
        mpfr_snprintf(buf, len, "%.*Rg", p, v);
        mpfr_set_str(back, buf, 10, MPFR_RNDN);
        if (ox_round_f32(back) == bits) break;
    }
    mpfr_clears(v, back, (mpfr_ptr)0);
}

/* ---- self test -------------------------------------------------------- */
static uint32_t round_pow2_sum(long a, int sa, long b, int sb) {
    /* sa*2^a + sb*2^b, exactly (|a - b| < OX_PREC) */
    mpfr_t t, u;
    mpfr_inits(t, u, (mpfr_ptr)0);
    mpfr_set_si_2exp(t, sa, a, MPFR_RNDN);
    mpfr_set_si_2exp(u, sb, b, MPFR_RNDN);
    mpfr_add(t, t, u, MPFR_RNDN);
    uint32_t bits = ox_round_f32(t);
    mpfr_clears(t, u, (mpfr_ptr)0);
    return bits;
}

int ox_check_bits(const char *what, uint32_t got, uint32_t want) {
    if (got == want) return 0;
    fprintf(stderr, "selftest FAIL %s: got 0x%08X, want 0x%08X\n", what, (unsigned)got,
            (unsigned)want);
    return 1;
}

/* Checks ox_round_f32 against the machine's own double -> float conversion
 * (IEEE round-to-nearest-even in hardware, an independent implementation)
 * on random doubles across and below the binary32 range, on exact fp32
 * midpoints, and on values only 256-bit MPFR can hold. */
int ox_selftest(void) {
    int fails = 0;
    ox_rng r;
    ox_rng_seed(&r, 12345);
    for (int i = 0; i < 200000 && fails < 10; i++) {
        uint64_t u = ox_rng_next(&r);
        /* exponent field in [1023-160, 1023+130]: subnormal, normal and overflow fp32 */
        uint64_t e = (uint64_t)ox_rng_range(&r, 1023 - 160, 1023 + 130);
        uint64_t bits = (u & 0x800FFFFFFFFFFFFFull) | (e << 52);
        if (i % 4 == 0) bits &= ~0x000000000FFFFFFFull; /* short mantissas: many exact ties */
        double d;
        memcpy(&d, &bits, sizeof d);
        volatile float hw = (float)d;
        fails += ox_check_bits("round_f32 vs hardware", ox_f32_of_double(d), ox_f32_bits(hw));
    }
    mpfr_t t;
    mpfr_init(t);
    mpfr_set_str(t, "1e-4", 10, MPFR_RNDN);
    fails += ox_check_bits("fp32(1e-4)", ox_round_f32(t), 0x38D1B717u);
    mpfr_clear(t);
    fails += ox_check_bits("2^-150 tie", round_pow2_sum(-150, 1, -400, 0), 0x00000000u);
    fails += ox_check_bits("2^-150 + tiny", round_pow2_sum(-150, 1, -400, 1), 0x00000001u);
    fails += ox_check_bits("-(2^-150 - tiny)", round_pow2_sum(-150, -1, -400, 1), 0x80000000u);
    fails += ox_check_bits("3*2^-150 tie", round_pow2_sum(-149, 1, -150, 1), 0x00000002u);
    fails += ox_check_bits("overflow tie", ox_f32_of_text("0x1.ffffffp127"), 0x7F800000u);
    fails += ox_check_bits("below overflow tie", ox_f32_of_text("0x1.fffffefp127"), 0x7F7FFFFFu);
    fails += ox_check_bits("max subnormal + half tie", ox_f32_of_text("0x0.ffffffp-126"),
                           0x00800000u);
    fails += ox_check_bits("2^-151", round_pow2_sum(-151, 1, -151, 0), 0x00000000u);
    fails += ox_check_bits("bf16 value of 0x3F808000", ox_f32_round_to_bf16_value(0x3F808000u),
                           0x3F800000u);
    fails += ox_check_bits("bf16 value of 0x7F7FFFFF", ox_f32_round_to_bf16_value(0x7F7FFFFFu),
                           0x7F7F0000u);
    return fails;
}
