/* mhc_scalar.c - the portable mHC kernels (the only ones on non-x86
 * machines).  Only the stages that have no bit-exact contract get a kernel
 * of their own here; for Sinkhorn, weighted_sum and hc_post the table is
 * NULL and opt/mhc.c runs ref's code on each chunk of tokens, which is the
 * plain-C statement of what the SIMD files do lane by lane. */
#include "mhc_kernels.h"

/* Sum of squares, left to right (no FMA contract: either rounding is within
 * the spec's tolerance). */
static float sumsq_scalar(const float *x, size_t K) {
    float ss = 0.0f;
    for (size_t k = 0; k < K; k++) {
        float sq = x[k] * x[k];
        ss = ss + sq;
    }
    return ss;
}

const dsv4_mhc_kernels dsv4_mhc_kernels_scalar = {
    .sumsq = sumsq_scalar,
    .mixes_seg = NULL,    /* dsv4_opt_sgemm */
    .sinkhorn = NULL,     /* ref */
    .sinkhorn_lanes = 1,
    .weighted_sum = NULL, /* ref */
    .post = NULL,         /* ref */
};
