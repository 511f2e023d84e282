/* norm.c - RMSNorm as DeepSeek-V4 computes it (spec/norm.md):
 *   y = bf16( w * (x * r) ),  r = 1 / sqrt(mean(x^2) + eps)
 * over each row of d channels.  Stage `rms` gives r per row (N1, N2),
 * stage `norm` the bf16 output (N3).  One rounding to fp32 per operation,
 * sums left to right; ref is compiled with -ffp-contract=off. */
#include "internal.h"

#include <math.h>
#include <string.h>

/* ---- (N1), (N2) the RMS factor --------------------------------------------------- */
float dsv4_rms_factor(const float *x, size_t n, float eps) {
    float ss = 0.0f;
    for (size_t k = 0; k < n; k++) ss = ss + x[k] * x[k]; /* (N1) */
    float ms = ss / (float)n;                               /* (N2) */
    return 1.0f / sqrtf(ms + eps);
}

/* ---- argument checks ------------------------------------------------------------- */
/* d >= 1 and a finite eps >= 0 (else DSV4_E_ARG); rows * d fits. */
static dsv4_status norm_check(size_t rows, size_t d, float eps) {
    size_t n;
    if (d == 0 || !(eps >= 0.0f && eps < INFINITY)) return DSV4_E_ARG;
    if (!dsv4_mul_ok(rows, d, &n) || n > SIZE_MAX / sizeof(float)) return DSV4_E_OVERFLOW;
    return DSV4_OK;
}

/* ---- (N3) the normalised output -------------------------------------------------- */

/* x, w, y: [d]; y may equal x. */
static void norm_row(const float *x, float r, const float *w, size_t d, float *y) {
    for (size_t k = 0; k < d; k++) {
        float xr = x[k] * r;
        y[k] = dsv4_round_bf16(xr * w[k]); /* (N3) */
    }
}

/* ---- public entry points --------------------------------------------------------- */
dsv4_status dsv4_ref_rms_norm_factor(size_t rows, size_t d, float eps, const float *x, float *r) {
    dsv4_status st = norm_check(rows, d, eps);
    if (st != DSV4_OK || rows == 0) return st;
    if (!x || !r) return DSV4_E_NULL;
    for (size_t i = 0; i < rows; i++) r[i] = dsv4_rms_factor(&x[i * d], d, eps);
    return DSV4_OK;
}

dsv4_status dsv4_ref_rms_norm_apply(size_t rows, size_t d, const float *x, const float *r,
                                    const float *w, float *y) {
    dsv4_status st = norm_check(rows, d, 0.0f);
    if (st != DSV4_OK || rows == 0) return st;
    if (!x || !r || !w || !y) return DSV4_E_NULL;
    for (size_t i = 0; i < rows; i++) norm_row(&x[i * d], r[i], w, d, &y[i * d]);
    return DSV4_OK;
}

dsv4_status dsv4_ref_rms_norm(size_t rows, size_t d, float eps, const float *x, const float *w,
                              float *y) {
    dsv4_status st = norm_check(rows, d, eps);
    if (st != DSV4_OK || rows == 0) return st;
    if (!x || !w || !y) return DSV4_E_NULL;
    for (size_t i = 0; i < rows; i++) {
        float r = dsv4_rms_factor(&x[i * d], d, eps);
        norm_row(&x[i * d], r, w, d, &y[i * d]);
    }
    return DSV4_OK;
}
