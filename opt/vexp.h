/* vexp.h - dsv4_expf on every lane of a vector (vec.h), for the lane-wise
 * kernels that need e^x (Sinkhorn's row softmax, the elementary kernel
 * table, attention's softmax).  Include after vec.h.
 *
 * Each half of the vector is widened to doubles and goes through ref's steps
 * E1-E4 (spec/elementary.md, ref/elementary.c) with the same constants and
 * the same separate multiplies, adds and subtracts in the same order, then
 * is rounded once to fp32 by the narrowing, as ref's cast does: the same
 * bits as dsv4_expf.  E0 (NaN, x <= -150, x >= 128) is applied afterwards by
 * selects, so what the other steps computed on those lanes is discarded.
 * 2^k is built from the bits of x / ln 2 + 1.5 * 2^52, whose low mantissa
 * bits hold k: the integer ref gets by (int)kd. */
#ifndef DSV4_VEXP_H
#define DSV4_VEXP_H

#include "vec.h"

/* E1-E4 on the exact widenings of fp32 inputs; the doubles of ref. */
VEC_INLINE vd vexp_steps(vd xd) {
    static const double inv_fact[14] = {
        1.0, 1.0, 1.0 / 2.0, 1.0 / 6.0, 1.0 / 24.0, 1.0 / 120.0, 1.0 / 720.0, 1.0 / 5040.0,
        1.0 / 40320.0, 1.0 / 362880.0, 1.0 / 3628800.0, 1.0 / 39916800.0, 1.0 / 479001600.0,
        1.0 / 6227020800.0,
    };
    const vd ln2_hi = vd_set1(6.93147180369123816490e-01);
    const vd ln2_lo = vd_set1(1.90821492927058770002e-10);
    const vd inv_ln2 = vd_set1(1.44269504088896338700e+00);
    const vd shifter = vd_set1(6755399441055744.0); /* 1.5 * 2^52 */
    vd shifted = vd_add(vd_mul(xd, inv_ln2), shifter);
    vd kd = vd_sub(shifted, shifter);                                           /* E1 */
    vd r = vd_sub(vd_sub(xd, vd_mul(kd, ln2_hi)), vd_mul(kd, ln2_lo));          /* E2 */
    vd p = vd_set1(inv_fact[13]);                                               /* E3 */
    for (int n = 12; n >= 0; n--) p = vd_add(vd_mul(p, r), vd_set1(inv_fact[n]));
    /* k = bits(shifted) - bits(shifter); 2^k has the bits (k + 1023) << 52 */
    vq k = vq_sub(vd_as_vq(shifted), vd_as_vq(shifter));
    vd pow2 = vq_as_vd(vq_slli(vq_add(k, vq_set1(1023)), 52));
    return vd_mul(p, pow2);                                                     /* E4 */
}

/* e^x on every lane: the bits of dsv4_expf. */
VEC_INLINE vf vexp(vf x) {
    vf y = vf_narrow(vexp_steps(vd_widen_lo(x)), vexp_steps(vd_widen_hi(x)));
    /* E0, in ref's order: NaN first (quieted), then the two range ends */
    y = vf_where(vf_le(x, vf_set1(-150.0f)), vf_zero(), y);
    y = vf_where(vf_ge(x, vf_set1(128.0f)), vf_bits(0x7F800000u), y);
    vf quiet = vi_as_vf(vi_or(vf_as_vi(x), vi_set1(0x00400000u)));
    return vf_where(vf_unord(x, x), quiet, y);
}

#endif
