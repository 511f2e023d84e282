/* sparse_attn.c - sparse attention with a sink, as DeepSeek-V4 computes it
 * (spec/sparse_attn.md).  For each token t and head h, over J, the entries
 * j of idx[t] that name a row of kv (0 <= idx[t][j] < N), in index order,
 * a repeated row once per entry, with k_j = kv[idx[t][j]]:
 *
 *   (A1) l_j = scale * (q[t][h] . k_j)
 *   (A2) m = max_J l_j,  w_j = e^(l_j - m),  W = sum_J w_j       (W >= 1)
 *   (A3) lse[t][h] = m + ln W
 *   (A4) o[t][h][i] = bf16( F * sum_J w_j k_j[i] ),
 *        F = c / (c W + e^(s - M)),  M = max(m, s),  c = e^(m - M),  s = sink[h]
 *
 * which is sum_J e^l_j k_j / (sum_J e^l_j + e^s) with every exponent at
 * most 0, so nothing overflows whatever the sink.  ref evaluates it in
 * double in this order (the dot products over d ascending, the sums over J
 * in index order; the project's dsv4_exp_d and dsv4_log_d) and rounds
 * once, to fp32 (lse) or through fp32 to bf16 (o).  Empty J: o = 0, lse =
 * -Inf.  A NaN or infinite l_j: o[t][h] and lse[t][h] NaN. */
#include "sparse_attn.h"

#include "policy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- checks shared with opt ------------------------------------------------------ */
/* n * size bytes fit in size_t. */
static int bytes_ok(size_t n, size_t size) { return n <= SIZE_MAX / size; }

dsv4_status dsv4_sparse_attn_check(const dsv4_sparse_attn_cfg *cfg, size_t T, size_t N, size_t K,
                                   const float *q, const float *kv, const float *sink,
                                   const int32_t *idx, const float *o) {
    size_t th, thd, nd, tk;
    if (!cfg) return DSV4_E_NULL;
    if (cfg->n_heads == 0 || cfg->head_dim == 0 || !isfinite(cfg->scale)) return DSV4_E_ARG;
    if (!dsv4_mul_ok(T, cfg->n_heads, &th) || !dsv4_mul_ok(th, cfg->head_dim, &thd) ||
        !dsv4_mul_ok(N, cfg->head_dim, &nd) || !dsv4_mul_ok(T, K, &tk) ||
        !bytes_ok(thd, sizeof(float)) || !bytes_ok(nd, sizeof(float)) ||
        !bytes_ok(tk, sizeof(int32_t)))
        return DSV4_E_OVERFLOW;
    if (T == 0) return DSV4_OK;
    if (!q || !sink || !o || (N > 0 && !kv) || (K > 0 && !idx)) return DSV4_E_NULL;
    return DSV4_OK;
}

double dsv4_sparse_attn_factor(double m, double W, float sink) {
    double s = (double)sink;
    if (isnan(s)) return s;
    if (s == INFINITY) return 0.0; /* all the weight on the sink */
    double M = s > m ? s : m;
    double c = dsv4_exp_d(m - M), sigma = dsv4_exp_d(s - M); /* one of them is 1 */
    return c / (c * W + sigma);
}

/* ---- V4's scale ------------------------------------------------------------------ */
/* A candidate y = RN32(RN64(1 / RN64(sqrt(d)))) is within an fp32 ulp of
 * d^-1/2; it moves to a neighbour while the midpoint between them lies on
 * the wrong side of d^-1/2.  A midpoint mu has 25 significant bits, so mu^2
 * is exact in double and fma(mu^2, d, -1) has the sign of mu^2 d - 1 (d <
 * 2^53 is exact too). */
float dsv4_sparse_attn_scale(size_t head_dim) {
    if (head_dim == 0) return INFINITY;
    double d = (double)head_dim;
    float y = (float)(1.0 / sqrt(d));
    for (;;) {
        float up = dsv4_f32_from_bits(dsv4_f32_bits(y) + 1u);
        float down = dsv4_f32_from_bits(dsv4_f32_bits(y) - 1u);
        double mu_up = ((double)y + (double)up) / 2.0, mu_down = ((double)y + (double)down) / 2.0;
        if (fma(mu_up * mu_up, d, -1.0) < 0.0) y = up;          /* d^-1/2 above mu_up */
        else if (fma(mu_down * mu_down, d, -1.0) > 0.0) y = down; /* below mu_down */
        else return y;
    }
}

/* ---- one row (t, h) -------------------------------------------------------------- */
/* (A1) in double: the products of two fp32 values are exact, the sum over
 * d ascending rounds. */
static double logit(const float *q, const float *k, size_t D, float scale) {
    double dot = 0.0;
    for (size_t d = 0; d < D; d++) dot += (double)q[d] * (double)k[d];
    return (double)scale * dot;
}

/* The row (t, h): rows [n] are the valid entries of idx[t], in order; w [n]
 * scratch.  Writes o [D] (after the last read of q, which o may equal) and
 * *lse. */
static void attend_row(const float *q, const float *kv, size_t D, float scale, float sink,
                       const int32_t *rows, size_t n, double *w, float *o, float *lse) {
    if (n == 0) { /* nothing to attend to: o = 0 whatever the sink */
        for (size_t i = 0; i < D; i++) o[i] = 0.0f;
        *lse = -INFINITY;
        return;
    }
    double m = -INFINITY;
    for (size_t j = 0; j < n; j++) { /* (A1) */
        w[j] = logit(q, &kv[(size_t)rows[j] * D], D, scale);
        if (!isfinite(w[j])) {
            float nan = dsv4_f32_from_bits(DSV4_POLICY_BF16_NAN << 16);
            for (size_t i = 0; i < D; i++) o[i] = nan;
            *lse = nan;
            return;
        }
        if (w[j] > m) m = w[j];
    }
    double W = 0.0;
    for (size_t j = 0; j < n; j++) { /* (A2) */
        w[j] = dsv4_exp_d(w[j] - m);
        W += w[j];
    }
    *lse = (float)(m + dsv4_log_d(W));            /* (A3) */
    double F = dsv4_sparse_attn_factor(m, W, sink); /* (A4) */
    for (size_t i = 0; i < D; i++) {
        double acc = 0.0;
        for (size_t j = 0; j < n; j++) acc += w[j] * (double)kv[(size_t)rows[j] * D + i];
        o[i] = dsv4_round_bf16((float)(F * acc));
    }
}

/* ---- public entry point ---------------------------------------------------------- */
dsv4_status dsv4_ref_sparse_attn(const dsv4_sparse_attn_cfg *cfg, size_t T, size_t N, size_t K,
                                 const float *q, const float *kv, const float *sink,
                                 const int32_t *idx, float *o, float *lse) {
    dsv4_status st = dsv4_sparse_attn_check(cfg, T, N, K, q, kv, sink, idx, o);
    if (st != DSV4_OK || T == 0) return st;
    size_t H = cfg->n_heads, D = cfg->head_dim;
    int32_t *rows = malloc((K ? K : 1) * sizeof *rows);
    double *w = malloc((K ? K : 1) * sizeof *w);
    if (!rows || !w) {
        free(rows);
        free(w);
        return DSV4_E_NOMEM;
    }
    for (size_t t = 0; t < T; t++) {
        size_t n = 0; /* J: the valid entries of idx[t], in order, repeats kept */
        for (size_t j = 0; j < K; j++)
            if (dsv4_sparse_attn_valid(idx[t * K + j], N)) rows[n++] = idx[t * K + j];
        for (size_t h = 0; h < H; h++) {
            float row_lse;
            attend_row(&q[(t * H + h) * D], kv, D, cfg->scale, sink[h], rows, n, w,
                       &o[(t * H + h) * D], &row_lse);
            if (lse) lse[t * H + h] = row_lse;
        }
    }
    free(rows);
    free(w);
    return DSV4_OK;
}
