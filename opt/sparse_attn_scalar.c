/* sparse_attn_scalar.c - the portable sparse attention kernels (the only
 * ones on non-x86 machines): the operations of sparse_attn_kernels.h one
 * element at a time.  The chains call fmaf, so the bits are those of the
 * vector kernels, which fuse in hardware; on a machine without a fused
 * instruction the C library computes fmaf in software (exactly, slowly). */
#include "sparse_attn_kernels.h"

#include <math.h>

static void transpose_q_scalar(const float *q, size_t ldq, size_t nh, size_t D, size_t hp,
                               float *qt) {
    for (size_t d = 0; d < D; d++)
        for (size_t h = 0; h < hp; h++) qt[d * hp + h] = h < nh ? q[h * ldq + d] : 0.0f;
}

static void logits_scalar(const float *qt, size_t hp, const float *const *rows, size_t nk,
                          size_t D, float scale, float *s) {
    for (size_t j = 0; j < nk; j++)
        for (size_t h = 0; h < hp; h++) {
            float dot = 0.0f;
            for (size_t d = 0; d < D; d++) dot = fmaf(rows[j][d], qt[d * hp + h], dot);
            s[j * hp + h] = dot * scale;
        }
}

static void softmax_scalar(float *s, size_t nk, size_t hp, float *m, float *w, float *bad,
                           float *alpha) {
    for (size_t h = 0; h < hp; h++) {
        float top = m[h], flag = bad[h];
        for (size_t j = 0; j < nk; j++) {
            float l = s[j * hp + h];
            top = l > top ? l : top; /* vf_max's rule */
            flag = flag + (l - l);   /* NaN for a NaN or infinite logit */
        }
        float a = dsv4_expf(m[h] - top), sum = w[h] * a;
        for (size_t j = 0; j < nk; j++) {
            float p = dsv4_expf(s[j * hp + h] - top);
            s[j * hp + h] = p;
            sum = sum + p;
        }
        m[h] = top;
        w[h] = sum;
        bad[h] = flag;
        alpha[h] = a;
    }
}

static void accumulate_scalar(float *O, size_t nh, size_t D, const float *p, size_t hp,
                              const float *alpha, int first, const float *const *rows,
                              size_t nk) {
    for (size_t h = 0; h < nh; h++)
        for (size_t i = 0; i < D; i++) {
            float acc = first ? 0.0f : O[h * D + i] * alpha[h];
            for (size_t j = 0; j < nk; j++) acc = fmaf(p[j * hp + h], rows[j][i], acc);
            O[h * D + i] = acc;
        }
}

static void finish_scalar(const float *O, size_t D, float f, float *out) {
    for (size_t i = 0; i < D; i++) out[i] = dsv4_round_bf16(O[i] * f);
}

const dsv4_attn_kernels dsv4_attn_kernels_scalar = {
    1, transpose_q_scalar, logits_scalar, softmax_scalar, accumulate_scalar, finish_scalar,
};
