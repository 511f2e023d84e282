/* test_hadamard.c - the reference Hadamard transform (spec/hadamard.md): the
 * worked values of §5, properties, NaN/Inf and bad input, and the trap
 * tests of §6 (each assertion names the mistake it guards against):
 *   W1 random signs (a randomized Hadamard transform)
 *   W2 sequency (Walsh) order instead of natural (Sylvester) order
 *   W3 the 1/sqrt(n) normalisation missing
 *   W4 the normalisation applied as 1/n */
#include "dsv4.h"

#include <criterion/criterion.h>
#include <math.h>
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
static int parity(unsigned v) {
    int p = 0;
    for (; v; v >>= 1) p ^= (int)(v & 1u);
    return p;
}

/* spec/hadamard.md §5: x = 1..8 -> (36, -4, -8, 0, -16, 0, 0, 0) / sqrt(8). */
Test(worked, n8_W2_W3_W4) {
    const float x[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    const uint32_t want[8] = {0x414C0000u, 0xBFB50000u, 0xC0350000u, 0u,
                              0xC0B50000u, 0u,          0u,          0u};
    float y[8];
    cr_assert_eq(dsv4_ref_hadamard(1, 8, x, y), DSV4_OK);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(bits(y[i]), want[i],
                     "y[%d] = %a, want %a (W2: sequency order; W3: no 1/sqrt(n); W4: 1/n)", i,
                     (double)y[i], (double)f32(want[i]));
}

/* W1: the transform is unsigned.  All ones go to (sqrt(n), 0, ..., 0) and a
 * one-hot input e_j to (+-1/sqrt(n)) with the signs of row j of H: any sign
 * flip of the input shows. */
Test(traps, no_random_signs_W1) {
    enum { N = 128 };
    static float x[N], y[N];
    for (int j = 0; j < N; j++) x[j] = 1.0f;
    cr_assert_eq(dsv4_ref_hadamard(1, N, x, y), DSV4_OK);
    cr_assert_eq(y[0], bf16(sqrtf((float)N)), "W1: all ones -> sqrt(n) e_0");
    for (int i = 1; i < N; i++) cr_assert_eq(y[i], 0.0f, "W1: all ones -> zeros after e_0");
    const float c = f32(0x3DB504F3u); /* RN32(1/sqrt(128)) */
    for (int j = 0; j < N; j++) {
        memset(x, 0, sizeof x);
        x[j] = 1.0f;
        cr_assert_eq(dsv4_ref_hadamard(1, N, x, y), DSV4_OK);
        for (int i = 0; i < N; i++) {
            int odd = parity((unsigned)(i & j));
            cr_assert_eq(y[i], bf16(odd ? -c : c), "W1/W2: e_%d -> H[%d][%d] / sqrt(n)", j, i,
                         j);
        }
    }
}

/* The normalised transform is its own inverse: applying it twice gives x
 * back to bf16 precision, for every n. */
Test(properties, involution_and_norm) {
    static float x[4096], y[4096], z[4096];
    unsigned long long s = 88172645463325252ull;
    for (size_t n = 1; n <= 4096; n *= 2) {
        double nx = 0, ny = 0;
        for (size_t j = 0; j < n; j++) {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            x[j] = bf16((float)((double)(s >> 11) * 0x1p-53 * 4.0 - 2.0));
            nx += (double)x[j] * x[j];
        }
        cr_assert_eq(dsv4_ref_hadamard(1, n, x, y), DSV4_OK);
        cr_assert_eq(dsv4_ref_hadamard(1, n, y, z), DSV4_OK);
        for (size_t j = 0; j < n; j++) {
            ny += (double)y[j] * y[j];
            cr_assert(fabsf(z[j] - x[j]) <= 0.04f, "n %zu: H(H x)[%zu] = %g, x = %g", n, j,
                      (double)z[j], (double)x[j]);
        }
        cr_assert(fabs(ny - nx) <= 0.01 * nx, "n %zu: the norm is kept (W3, W4)", n);
    }
}

Test(properties, in_place_and_rows_independent) {
    enum { R = 3, N = 32 };
    float x[R * N], y[R * N], one[N];
    for (int i = 0; i < R * N; i++) x[i] = bf16((float)((i * 37) % 23) - 11.0f);
    cr_assert_eq(dsv4_ref_hadamard(R, N, x, y), DSV4_OK);
    for (int r = 0; r < R; r++) {
        cr_assert_eq(dsv4_ref_hadamard(1, N, &x[r * N], one), DSV4_OK);
        cr_assert_eq(memcmp(one, &y[r * N], sizeof one), 0);
    }
    cr_assert_eq(dsv4_ref_hadamard(R, N, x, x), DSV4_OK);
    cr_assert_eq(memcmp(x, y, sizeof x), 0, "y may equal x");
    for (int i = 0; i < R * N; i++) cr_assert_eq(y[i], bf16(y[i]), "outputs are bf16 values");
}

/* spec/hadamard.md §3: a NaN fills its row; infinities follow IEEE sums. */
Test(properties, nonfinite) {
    enum { N = 4 };
    float x[3 * N] = {1, NAN, 2, 3, INFINITY, 1, 2, 3, INFINITY, -INFINITY, 0, 0}, y[3 * N];
    cr_assert_eq(dsv4_ref_hadamard(3, N, x, y), DSV4_OK);
    for (int i = 0; i < N; i++) {
        cr_assert(isnan(y[i]), "NaN in a row makes every output NaN");
        cr_assert(isinf(y[N + i]) && y[N + i] > 0, "+Inf appears with + in every output");
    }
    /* (Inf, -Inf, 0, 0): outputs i with i & 1 = 0 are Inf - Inf = NaN, the others Inf + Inf */
    cr_assert(isnan(y[2 * N + 0]) && isnan(y[2 * N + 2]));
    cr_assert(isinf(y[2 * N + 1]) && isinf(y[2 * N + 3]));
}

Test(args, errors) {
    float x[8] = {0}, y[8];
    cr_assert_eq(dsv4_ref_hadamard(1, 0, x, y), DSV4_E_ARG);
    cr_assert_eq(dsv4_ref_hadamard(1, 3, x, y), DSV4_E_ARG, "not a power of two");
    cr_assert_eq(dsv4_ref_hadamard(1, 65536, x, y), DSV4_E_ARG, "above 2^15");
    cr_assert_eq(dsv4_ref_hadamard(0, 8, NULL, NULL), DSV4_OK, "empty");
    cr_assert_eq(dsv4_ref_hadamard(1, 8, NULL, y), DSV4_E_NULL);
    cr_assert_eq(dsv4_ref_hadamard(1, 8, x, NULL), DSV4_E_NULL);
    cr_assert_eq(dsv4_ref_hadamard(SIZE_MAX / 4, 8, x, y), DSV4_E_OVERFLOW);
    /* n = 1: the identity, rounded to bf16 */
    x[0] = f32(0x3F808080u);
    cr_assert_eq(dsv4_ref_hadamard(1, 1, x, y), DSV4_OK);
    cr_assert_eq(bits(y[0]), 0x3F810000u);
}
