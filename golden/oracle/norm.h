/* norm.h - the RMSNorm operator of the oracle ("rms_norm"; spec/norm.md),
 * in norm.c: the exact stages, the cases, the self test against the worked
 * values of spec/norm.md §5. */
#ifndef DSV4_ORACLE_NORM_H
#define DSV4_ORACLE_NORM_H

#include "exact.h"
#include "golden_io.h"

/* The exact RMSNorm of one row, shared with the compressor's oracle:
 * r = 1 / sqrt(sum_k x_k^2 / d + eps) at OX_PREC bits, unrounded (x [d],
 * eps fp32 bits); and y = x * r * w per channel, exact, rounded once to
 * bf16 (y, bf16 values as fp32 bits) and once to fp32 (y_f32), [d] each. */
void onr_rms(const uint32_t *x, size_t d, uint32_t eps, mpfr_t r);
void onr_apply(const uint32_t *x, const mpfr_t r, const uint32_t *w, size_t d, uint32_t *y,
               uint32_t *y_f32);

extern const og_op og_op_rms_norm;

#endif
