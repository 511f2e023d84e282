/* test_rope.c - the reference RoPE (spec/rope.md): the worked values of §6,
 * the rotation's definition, NaN/Inf and bad input, and the trap tests of
 * §7 (each assertion names the mistake it guards against):
 *   R1 YaRN on a window-only table or missing on a compressing one
 *   R2 pairs as two halves instead of adjacent channels
 *   R3 the first rope_dim channels rotated instead of the last
 *   R4 the inverse rotation equal to the forward one
 *   R5 true division where V4 multiplies by the fp32 reciprocal
 *   R6 cosine and sine of an angle not rounded to fp32 */
#include "dsv4.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

static uint32_t bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}
static float f32(uint32_t u) {
    float x;
    memcpy(&x, &u, 4);
    return x;
}
static float bf16(float v) { return dsv4_bf16_decode(dsv4_bf16_encode(v)); }

static const dsv4_rope_cfg COMPRESS = DSV4_ROPE_V4_COMPRESS;
static const dsv4_rope_cfg WINDOW = DSV4_ROPE_V4_WINDOW;

/* ---- worked values (spec/rope.md §6) --------------------------------------------- */
static const struct {
    int i;
    uint32_t compress, window;
} FREQ[] = {
    {0, 0x3F800000u, 0x3F800000u},  {1, 0x3F300A3Au, 0x3F3FF911u},
    {15, 0x3B6E4237u, 0x3C5A7BF2u}, {16, 0x3B147AE1u, 0x3C23D70Au},
    {20, 0x399BB3AFu, 0x3B4F3E38u}, {24, 0x37A3D708u, 0x3A83126Fu},
    {25, 0x36B443D0u, 0x3A44948Cu}, {31, 0x35187C4Du, 0x390BD472u},
};

Test(worked, frequencies_R1) {
    float fc[32], fw[32];
    cr_assert_eq(dsv4_rope_inv_freq(&COMPRESS, fc), DSV4_OK);
    cr_assert_eq(dsv4_rope_inv_freq(&WINDOW, fw), DSV4_OK);
    for (size_t k = 0; k < sizeof FREQ / sizeof FREQ[0]; k++) {
        int i = FREQ[k].i;
        cr_assert_eq(bits(fc[i]), FREQ[k].compress,
                     "compressing f[%d] = 0x%08x, want 0x%08x (R1: YaRN missing or wrong)", i,
                     bits(fc[i]), FREQ[k].compress);
        cr_assert_eq(bits(fw[i]), FREQ[k].window,
                     "window-only f[%d] = 0x%08x, want 0x%08x (R1: YaRN on a window table)", i,
                     bits(fw[i]), FREQ[k].window);
    }
    /* the three regions of the compressing table against its frequencies
     * without YaRN: unscaled up to 15, divided by 16 (exactly: a power of
     * two) from 25, strictly between on the ramp */
    dsv4_rope_cfg plain = COMPRESS;
    float fp[32];
    plain.original_seq_len = 0;
    cr_assert_eq(dsv4_rope_inv_freq(&plain, fp), DSV4_OK);
    for (int i = 0; i < 32; i++) {
        if (i <= 15) cr_assert_eq(bits(fc[i]), bits(fp[i]), "R1: f[%d] unscaled", i);
        else if (i >= 25) cr_assert_eq(bits(fc[i]), bits(fp[i] / 16.0f), "R1: f[%d] / 16", i);
        else cr_assert(fp[i] / 16.0f < fc[i] && fc[i] < fp[i], "R1: f[%d] on the ramp", i);
    }
}

/* R5: (i - low) / (high - low) at i = 24 is 9 * fp32(0.1) (0x3F666667), not
 * 9 / 10 (0x3F666666); the quotient would give f_24 = 0x37A3D70C. */
Test(traps, reciprocal_not_division_R5) {
    float f[32];
    cr_assert_eq(dsv4_rope_inv_freq(&COMPRESS, f), DSV4_OK);
    cr_assert_eq(bits(f[24]), 0x37A3D708u, "R5: f_24 = 0x%08x (0x37A3D70C: true division)",
                 bits(f[24]));
}

static const struct {
    int32_t pos;
    int i;
    uint32_t cos, sin;
} ANGLE[] = {
    {1, 16, 0x3F7FFFD5u, 0x3B147AD9u},       {65536, 0, 0xBF38CA2Au, 0x3F312B34u},
    {65536, 24, 0x3E92CC5Fu, 0x3F754086u},   {1048575, 0, 0x3F49BD23u, 0xBF1D9959u},
    {1048575, 16, 0x3F4E4C20u, 0x3F17953Du}, {1048575, 24, 0xBD7413AFu, 0x3F7F8B8Bu},
    {1048575, 31, 0x3F53E9CCu, 0x3F0FA08Fu},
};

/* got is want or one of its fp32 neighbours: ref's sine and cosine are
 * faithful, the worked values correctly rounded. */
static int within_ulp(float got, uint32_t want) {
    float w = f32(want);
    return got == w || got == nextafterf(w, INFINITY) || got == nextafterf(w, -INFINITY);
}

Test(worked, table) {
    size_t n = sizeof ANGLE / sizeof ANGLE[0];
    int32_t pos[8];
    float c[8 * 32], s[8 * 32];
    for (size_t k = 0; k < n; k++) pos[k] = ANGLE[k].pos;
    cr_assert_eq(dsv4_rope_table(&COMPRESS, n, pos, c, s), DSV4_OK);
    for (size_t k = 0; k < n; k++) {
        float ck = c[k * 32 + ANGLE[k].i], sk = s[k * 32 + ANGLE[k].i];
        cr_assert(within_ulp(ck, ANGLE[k].cos), "cos at %d, %d: 0x%08x, want 0x%08x",
                  ANGLE[k].pos, ANGLE[k].i, bits(ck), ANGLE[k].cos);
        cr_assert(within_ulp(sk, ANGLE[k].sin), "sin at %d, %d: 0x%08x, want 0x%08x",
                  ANGLE[k].pos, ANGLE[k].i, bits(sk), ANGLE[k].sin);
    }
    /* position 0: angle 0 exactly */
    int32_t zero = 0;
    cr_assert_eq(dsv4_rope_table(&COMPRESS, 1, &zero, c, s), DSV4_OK);
    for (int i = 0; i < 32; i++) cr_assert(c[i] == 1.0f && bits(s[i]) == 0u);
}

/* R6: the angle is RN32(fp32(pos) * f).  At position 1048575 and frequency
 * 16 that rounding moves the angle by ~1e-4, so a cosine of the unrounded
 * (double) angle is far from V4's. */
Test(traps, angle_rounded_to_fp32_R6) {
    float f[32], c[32], s[32];
    int32_t pos = 1048575;
    dsv4_rope_inv_freq(&COMPRESS, f);
    cr_assert_eq(dsv4_rope_table(&COMPRESS, 1, &pos, c, s), DSV4_OK);
    float theta = (float)pos * f[16];
    float want_c, want_s;
    dsv4_sincosf(theta, &want_s, &want_c);
    cr_assert(bits(c[16]) == bits(want_c) && bits(s[16]) == bits(want_s));
    double unrounded = cos((double)pos * (double)f[16]);
    cr_assert(fabs(unrounded - (double)c[16]) > 1e-6,
              "R6: the unrounded angle must give a visibly different cosine");
    /* positions above 2^24 are rounded to fp32 first: 2^24 + 1 is 2^24 */
    int32_t p2[2] = {16777216, 16777217};
    float c2[64], s2[64];
    cr_assert_eq(dsv4_rope_table(&COMPRESS, 2, p2, c2, s2), DSV4_OK);
    cr_assert_eq(memcmp(c2, c2 + 32, 32 * sizeof(float)), 0, "fp32(2^24 + 1) = 2^24");
}

/* ---- the rotation ---------------------------------------------------------------- */
/* A1, A2 written out, one operation per statement. */
static void rotate_expected(float a, float b, float c, float s, float *y0, float *y1) {
    float ac = a * c, bs = b * s, as = a * s, bc = b * c;
    float d = ac - bs, e = as + bc;
    *y0 = bf16(d);
    *y1 = bf16(e);
}

static unsigned long long rng = 0x2545F4914F6CDD1Dull;
static float uniform(float lo, float hi) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return lo + (hi - lo) * (float)((rng >> 40) * (1.0 / 16777216.0));
}

enum { T = 3, ROWS = 2, WIDTH = 128, HALF = 32, NOPE = WIDTH - 64 };

typedef struct rope_case {
    int32_t pos[T];
    float c[T * HALF], s[T * HALF];
    float x[T * ROWS * WIDTH], y[T * ROWS * WIDTH];
} rope_case;

static void rope_case_make(rope_case *k) {
    const int32_t pos[T] = {0, 7, 1000000};
    memcpy(k->pos, pos, sizeof pos);
    cr_assert_eq(dsv4_rope_table(&COMPRESS, T, k->pos, k->c, k->s), DSV4_OK);
    for (int i = 0; i < T * ROWS * WIDTH; i++) k->x[i] = bf16(uniform(-3, 3));
}

Test(rotate, definition_and_copied_channels_R3) {
    static rope_case k;
    rope_case_make(&k);
    for (int inverse = 0; inverse < 2; inverse++) {
        cr_assert_eq(dsv4_ref_rope_apply(&COMPRESS, T, ROWS, WIDTH, inverse, k.c, k.s, k.x, k.y),
                     DSV4_OK);
        for (int t = 0; t < T; t++)
            for (int r = 0; r < ROWS; r++) {
                const float *x = &k.x[(t * ROWS + r) * WIDTH], *y = &k.y[(t * ROWS + r) * WIDTH];
                cr_assert_eq(memcmp(x, y, NOPE * sizeof(float)), 0,
                             "R3: the first width - rope_dim channels are copied unchanged");
                for (int i = 0; i < HALF; i++) {
                    float c = k.c[t * HALF + i], s = k.s[t * HALF + i], y0, y1;
                    rotate_expected(x[NOPE + 2 * i], x[NOPE + 2 * i + 1], c, inverse ? -s : s,
                                    &y0, &y1);
                    cr_assert(bits(y[NOPE + 2 * i]) == bits(y0) &&
                                  bits(y[NOPE + 2 * i + 1]) == bits(y1),
                              "token %d row %d pair %d (inverse %d)", t, r, i, inverse);
                }
            }
    }
}

/* R2: a unit vector in the first channel of the rotated part turns into
 * (cos, sin) in channels 0 and 1 of that part; the two-halves mistake
 * would put sin in channel d/2. */
Test(traps, interleaved_pairs_R2) {
    float c[HALF], s[HALF], x[64] = {0}, y[64];
    int32_t pos = 3;
    cr_assert_eq(dsv4_rope_table(&COMPRESS, 1, &pos, c, s), DSV4_OK);
    x[0] = 1.0f;
    x[2 * 5 + 1] = 1.0f; /* pair 5: (0, 1) -> (-sin, cos) */
    cr_assert_eq(dsv4_ref_rope_apply(&COMPRESS, 1, 1, 64, 0, c, s, x, y), DSV4_OK);
    cr_assert(y[0] == bf16(c[0]) && y[1] == bf16(s[0]), "R2: pair 0 is channels 0 and 1");
    cr_assert(y[32] == 0.0f, "R2: channel d/2 is not pair 0's partner");
    cr_assert(y[10] == bf16(-s[5]) && y[11] == bf16(c[5]), "R2: pair 5 is channels 10 and 11");
}

/* R4: the inverse undoes the rotation (up to the bf16 roundings); applying
 * the forward rotation twice does not. */
Test(traps, inverse_is_the_conjugate_R4) {
    static rope_case k;
    static float back[T * ROWS * WIDTH], twice[T * ROWS * WIDTH];
    rope_case_make(&k);
    cr_assert_eq(dsv4_ref_rope_apply(&COMPRESS, T, ROWS, WIDTH, 0, k.c, k.s, k.x, k.y), DSV4_OK);
    cr_assert_eq(dsv4_ref_rope_apply(&COMPRESS, T, ROWS, WIDTH, 1, k.c, k.s, k.y, back), DSV4_OK);
    cr_assert_eq(dsv4_ref_rope_apply(&COMPRESS, T, ROWS, WIDTH, 0, k.c, k.s, k.y, twice),
                 DSV4_OK);
    double worst_back = 0, worst_twice = 0;
    for (int t = 1; t < T; t++) /* token 0 is at angle 0 */
        for (int j = 0; j < ROWS * WIDTH; j++) {
            int i = t * ROWS * WIDTH + j;
            worst_back = fmax(worst_back, fabs(back[i] - k.x[i]));
            worst_twice = fmax(worst_twice, fabs(twice[i] - k.x[i]));
        }
    cr_assert(worst_back <= 3.0 / 64, "inverse(forward(x)) = x to bf16 precision: %g",
              worst_back);
    cr_assert(worst_twice > 0.5, "R4: forward twice must not give x back (%g)", worst_twice);
}

Test(rotate, in_place_and_rows_independent) {
    static rope_case k;
    static float z[T * ROWS * WIDTH];
    rope_case_make(&k);
    cr_assert_eq(dsv4_ref_rope_apply(&COMPRESS, T, ROWS, WIDTH, 0, k.c, k.s, k.x, k.y), DSV4_OK);
    memcpy(z, k.x, sizeof z);
    cr_assert_eq(dsv4_ref_rope_apply(&COMPRESS, T, ROWS, WIDTH, 0, k.c, k.s, z, z), DSV4_OK);
    cr_assert_eq(memcmp(z, k.y, sizeof z), 0, "y may equal x");
    /* one token at a time, one row at a time: the same bits */
    for (int t = 0; t < T; t++)
        for (int r = 0; r < ROWS; r++) {
            float one[WIDTH];
            cr_assert_eq(dsv4_ref_rope_apply(&COMPRESS, 1, 1, WIDTH, 0, &k.c[t * HALF],
                                             &k.s[t * HALF], &k.x[(t * ROWS + r) * WIDTH], one),
                         DSV4_OK);
            cr_assert_eq(memcmp(one, &k.y[(t * ROWS + r) * WIDTH], sizeof one), 0);
        }
}

/* spec/rope.md §3: IEEE arithmetic, the rotation by 0 not skipped. */
Test(rotate, nonfinite) {
    float c[HALF], s[HALF], x[64] = {0}, y[64];
    int32_t pos = 0;
    cr_assert_eq(dsv4_rope_table(&COMPRESS, 1, &pos, c, s), DSV4_OK);
    x[0] = INFINITY; /* pair 0 = (Inf, 0): y0 = Inf, y1 = Inf * 0 + 0 = NaN */
    x[3] = -INFINITY; /* pair 1 = (0, -Inf): y0 = 0 - (-Inf * 0) = NaN, y1 = -Inf */
    x[4] = NAN;
    x[6] = 0x1.FEp127f; /* pair 3 = (bf16 max, bf16 max) at angle 0: unchanged */
    x[7] = 0x1.FEp127f;
    cr_assert_eq(dsv4_ref_rope_apply(&COMPRESS, 1, 1, 64, 0, c, s, x, y), DSV4_OK);
    cr_assert(isinf(y[0]) && y[0] > 0 && isnan(y[1]));
    cr_assert(isnan(y[2]) && isinf(y[3]) && y[3] < 0);
    cr_assert(isnan(y[4]) && isnan(y[5]), "NaN reaches both entries of its pair");
    cr_assert_eq(bits(y[4]), 0x7FC00000u, "bf16's canonical NaN");
    cr_assert(y[6] == x[6] && y[7] == x[7]);
    /* at a nonzero angle, a pair of bf16 max overflows to Inf where the
     * rotated sum exceeds the range */
    pos = 1;
    cr_assert_eq(dsv4_rope_table(&COMPRESS, 1, &pos, c, s), DSV4_OK);
    cr_assert_eq(dsv4_ref_rope_apply(&COMPRESS, 1, 1, 64, 0, c, s, x, y), DSV4_OK);
    cr_assert(isinf(y[7]) && y[7] > 0, "a s + b c = (sin + cos) max overflows");
    cr_assert(isfinite(y[6]), "a c - b s = (cos - sin) max does not");
}

/* ---- bad input ------------------------------------------------------------------- */
Test(args, config) {
    float f[32];
    dsv4_rope_cfg c = COMPRESS;
    cr_assert_eq(dsv4_rope_inv_freq(NULL, f), DSV4_E_NULL);
    cr_assert_eq(dsv4_rope_inv_freq(&c, NULL), DSV4_E_NULL);
    c.rope_dim = 63;
    cr_assert_eq(dsv4_rope_inv_freq(&c, f), DSV4_E_ARG, "odd rope_dim");
    c.rope_dim = 0;
    cr_assert_eq(dsv4_rope_inv_freq(&c, f), DSV4_E_ARG);
    c.rope_dim = 65538;
    cr_assert_eq(dsv4_rope_inv_freq(&c, f), DSV4_E_ARG);
    const double bad_base[] = {1.0, 0.5, -2.0, NAN, INFINITY, 1e39};
    for (size_t i = 0; i < sizeof bad_base / sizeof bad_base[0]; i++) {
        c = COMPRESS;
        c.base = bad_base[i];
        cr_assert_eq(dsv4_rope_inv_freq(&c, f), DSV4_E_ARG, "base %g", bad_base[i]);
    }
    c = COMPRESS;
    c.factor = 0.5;
    cr_assert_eq(dsv4_rope_inv_freq(&c, f), DSV4_E_ARG, "factor below 1 with YaRN");
    c.original_seq_len = 0;
    cr_assert_eq(dsv4_rope_inv_freq(&c, f), DSV4_OK, "factor unused without YaRN");
    c = COMPRESS;
    c.beta_slow = 0.0;
    cr_assert_eq(dsv4_rope_inv_freq(&c, f), DSV4_E_ARG);
    c = COMPRESS;
    c.beta_fast = NAN;
    cr_assert_eq(dsv4_rope_inv_freq(&c, f), DSV4_E_ARG);
    c = COMPRESS;
    c.original_seq_len = 1ull << 53;
    cr_assert_eq(dsv4_rope_inv_freq(&c, f), DSV4_E_ARG);
}

Test(args, table_and_rotate) {
    float c[64], s[64], x[256] = {0}, y[256];
    int32_t pos[2] = {5, -1};
    c[0] = 42.0f;
    cr_assert_eq(dsv4_rope_table(&COMPRESS, 2, pos, c, s), DSV4_E_ARG, "negative position");
    cr_assert_eq(c[0], 42.0f, "nothing written on bad input");
    cr_assert_eq(dsv4_rope_table(&COMPRESS, 0, NULL, NULL, NULL), DSV4_OK, "empty");
    cr_assert_eq(dsv4_rope_table(&COMPRESS, 1, NULL, c, s), DSV4_E_NULL);
    cr_assert_eq(dsv4_rope_table(&COMPRESS, SIZE_MAX / 16, pos, c, s), DSV4_E_OVERFLOW);
    cr_assert_eq(dsv4_ref_rope_apply(&COMPRESS, 1, 1, 63, 0, c, s, x, y), DSV4_E_SIZE,
                 "width < rope_dim");
    cr_assert_eq(dsv4_ref_rope_apply(&COMPRESS, 0, 1, 64, 0, NULL, NULL, NULL, NULL), DSV4_OK);
    cr_assert_eq(dsv4_ref_rope_apply(&COMPRESS, 1, 0, 64, 0, NULL, NULL, NULL, NULL), DSV4_OK);
    cr_assert_eq(dsv4_ref_rope_apply(&COMPRESS, 1, 1, 64, 0, c, s, NULL, y), DSV4_E_NULL);
    cr_assert_eq(dsv4_ref_rope_apply(&COMPRESS, SIZE_MAX / 64, 3, 64, 0, c, s, x, y),
                 DSV4_E_OVERFLOW);
    cr_assert_eq(dsv4_ref_rope_apply(NULL, 1, 1, 64, 0, c, s, x, y), DSV4_E_NULL);
}
