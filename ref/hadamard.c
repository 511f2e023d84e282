/* hadamard.c - the normalised Walsh-Hadamard transform of V4's
 * rotate_activation (spec/hadamard.md): y = bf16((1/sqrt(n)) H_n x) over each
 * row, H_n the Sylvester (natural order) matrix, H[i][j] = (-1)^popcount(i & j).
 *
 *   (H1) z = x
 *   (H2) the in-place butterfly over strides h = 1, 2, 4, ..., n/2:
 *        (z[k], z[k+h]) = (z[k] + z[k+h], z[k] - z[k+h]), each rounded to fp32,
 *        for k in each block [j, j + h), j a multiple of 2h
 *   (H3) y = bf16(z * c), c = RN32(1/sqrt(n)): one fp32 product, one bf16 rounding
 * ref is compiled with -ffp-contract=off. */
#include "internal.h"

#include <string.h>

/* The largest transform length (2^15). */
#define HADAMARD_MAX_N 32768u

/* c = RN32(n^-1/2) for n = 2^k: 2^(-k/2) for even k; RN32(1/sqrt(2)) =
 * 0x3F3504F3 times 2^(-(k-1)/2) (exact: a power of two) for odd k. */
static float inverse_sqrt_pow2(unsigned k) {
    if (k % 2 == 0) return dsv4_pow2f(-(int)(k / 2));
    return dsv4_f32_from_bits(0x3F3504F3u) * dsv4_pow2f(-(int)((k - 1) / 2));
}


/* (H2): z [n] in place, natural order. */
static void butterfly(float *z, size_t n) {
    for (size_t h = 1; h < n; h *= 2)
        for (size_t j = 0; j < n; j += 2 * h)
            for (size_t k = j; k < j + h; k++) {
                float a = z[k], b = z[k + h];
                z[k] = a + b;
                z[k + h] = a - b;
            }
}

dsv4_status dsv4_ref_hadamard(size_t rows, size_t n, const float *x, float *y) {
    size_t total;
    unsigned k = 0;
    if (n == 0 || n > HADAMARD_MAX_N || (n & (n - 1)) != 0) return DSV4_E_ARG;
    while ((1u << k) < n) k++; /* n = 2^k */
    if (!dsv4_mul_ok(rows, n, &total) || total > SIZE_MAX / sizeof(float)) return DSV4_E_OVERFLOW;
    if (rows == 0) return DSV4_OK;
    if (!x || !y) return DSV4_E_NULL;
    float c = inverse_sqrt_pow2(k);
    for (size_t r = 0; r < rows; r++) {
        float *z = &y[r * n]; /* the output row holds z (y may equal x) */
        if (z != &x[r * n]) memcpy(z, &x[r * n], n * sizeof(float)); /* (H1) */
        butterfly(z, n);                                              /* (H2) */
        for (size_t i = 0; i < n; i++) z[i] = dsv4_round_bf16(z[i] * c);   /* (H3) */
    }
    return DSV4_OK;
}
