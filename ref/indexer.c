/* indexer.c - the lightning indexer of DeepSeek-V4's CSA layers
 * (spec/indexer.md): the query path (I1-I4), the head weights (I5), the
 * scores with V4's rounding points and the causal visibility of the
 * compressed entries (I6), and the selection with its tie rule (I7, I8).
 * Each line marked with an equation label rounds once; ref is compiled
 * with -ffp-contract=off. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- configuration ---------------------------------------------------------------- */
static int is_pow2(size_t n) { return n && (n & (n - 1)) == 0; }

dsv4_status dsv4_indexer_check(const dsv4_indexer_cfg *cfg) {
    if (!cfg) return DSV4_E_NULL;
    if (!cfg->dim || !cfg->q_lora || !cfg->n_heads || !cfg->head_dim || !cfg->ratio ||
        !cfg->topk)
        return DSV4_E_ARG;
    if (!is_pow2(cfg->head_dim) || cfg->head_dim % 32 != 0) return DSV4_E_ARG;
    if (cfg->rope.rope_dim > cfg->head_dim) return DSV4_E_ARG;
    if (cfg->act_fp8 && cfg->q_lora % 128 != 0) return DSV4_E_ARG;
    dsv4_status st = dsv4_rope_check(&cfg->rope);
    if (st != DSV4_OK) return st;
    size_t width, n;
    if (!dsv4_mul_ok(cfg->n_heads, cfg->head_dim, &width) ||
        !dsv4_mul_ok(width, cfg->q_lora, &n) || !dsv4_mul_ok(n, sizeof(float), &n) ||
        !dsv4_mul_ok(cfg->n_heads, cfg->dim, &n) || !dsv4_mul_ok(n, sizeof(float), &n))
        return DSV4_E_OVERFLOW;
    return DSV4_OK;
}

size_t dsv4_indexer_width(const dsv4_indexer_cfg *cfg, size_t E) {
    return !cfg ? 0 : cfg->topk < E ? cfg->topk : E;
}

/* pos in [0, 2^31) and pos + T too. */
static dsv4_status pos_check(int64_t pos, size_t T) {
    if (pos < 0 || pos > INT32_MAX) return DSV4_E_ARG;
    if (T > (size_t)INT32_MAX - (size_t)pos) return DSV4_E_OVERFLOW;
    return DSV4_OK;
}

/* rows x cols floats of out fit in size_t. */
static dsv4_status size_check(size_t rows, size_t cols) {
    size_t n;
    if (!dsv4_mul_ok(rows, cols, &n) || !dsv4_mul_ok(n, sizeof(float), &n)) return DSV4_E_OVERFLOW;
    return DSV4_OK;
}

/* ---- (I1) the query projection ---------------------------------------------------------- */
/* sum_k x[k] * w[k] over n terms, left to right, each product and sum rounded. */
static float dot_f32(const float *x, const float *w, size_t n) {
    float acc = 0.0f;
    for (size_t k = 0; k < n; k++) {
        float prod = x[k] * w[k];
        acc = acc + prod;
    }
    return acc;
}

/* The activation of (I1): qr, or with act_fp8 its FP8 E4M3 1x128 fake-quant,
 * into a [T, q_lora] (a malloc'ed copy; *owned says whether to free it). */
dsv4_status dsv4_indexer_activation(const dsv4_indexer_cfg *cfg, size_t T, const float *qr,
                                    const float **a, float **owned) {
    *owned = NULL;
    *a = qr;
    if (!cfg->act_fp8) return DSV4_OK;
    float *buf = malloc(T * cfg->q_lora * sizeof *buf); /* [T, q_lora] */
    if (!buf) return DSV4_E_NOMEM;
    dsv4_quant_cfg q = DSV4_QUANT_FP8_ACT;
    dsv4_status st = dsv4_ref_fake_quant(&q, T, cfg->q_lora, qr, buf);
    if (st != DSV4_OK) {
        free(buf);
        return st;
    }
    *a = *owned = buf;
    return DSV4_OK;
}

dsv4_status dsv4_ref_indexer_project(const dsv4_indexer_cfg *cfg, const dsv4_indexer_weights *w,
                                     size_t T, const float *qr, float *q) {
    dsv4_status st = dsv4_indexer_check(cfg);
    if (st != DSV4_OK) return st;
    if (T == 0) return DSV4_OK;
    if (!w || !w->wq_b || !qr || !q) return DSV4_E_NULL;
    size_t width = cfg->n_heads * cfg->head_dim;
    if ((st = size_check(T, width)) != DSV4_OK || (st = size_check(T, cfg->q_lora)) != DSV4_OK)
        return st;
    const float *a;
    float *owned;
    st = dsv4_indexer_activation(cfg, T, qr, &a, &owned);
    if (st != DSV4_OK) return st;
    for (size_t t = 0; t < T; t++)
        for (size_t o = 0; o < width; o++)                                    /* (I1) */
            q[t * width + o] = dsv4_round_bf16(dot_f32(a + t * cfg->q_lora,
                                                       w->wq_b + o * cfg->q_lora, cfg->q_lora));
    free(owned);
    return DSV4_OK;
}

/* ---- (I2)-(I4) RoPE, Hadamard, FP4 of the query heads ------------------------------------ */
static dsv4_status query_rope(const dsv4_indexer_cfg *cfg, int64_t pos, size_t T,
                              const float *in, float *out) {
    size_t half = cfg->rope.rope_dim / 2;
    int32_t *p = malloc(T * sizeof *p);                    /* [T] */
    float *table = malloc(2 * T * half * sizeof *table);   /* cos, sin [T, rope_dim/2] */
    dsv4_status st = p && table ? DSV4_OK : DSV4_E_NOMEM;
    for (size_t t = 0; st == DSV4_OK && t < T; t++) p[t] = (int32_t)(pos + (int64_t)t);
    if (st == DSV4_OK) st = dsv4_rope_table(&cfg->rope, T, p, table, table + T * half);
    if (st == DSV4_OK)                                                        /* (I2) */
        st = dsv4_ref_rope_apply(&cfg->rope, T, cfg->n_heads, cfg->head_dim, 0, table,
                                 table + T * half, in, out);
    free(p);
    free(table);
    return st;
}

dsv4_status dsv4_indexer_query(const dsv4_indexer_cfg *cfg, dsv4_indexer_query_stage stage,
                               int64_t pos, size_t T, const float *in, float *out) {
    dsv4_status st = dsv4_indexer_check(cfg);
    if (st == DSV4_OK) st = pos_check(pos, T);
    if (st != DSV4_OK) return st;
    if ((unsigned)stage > DSV4_INDEXER_QUANT) return DSV4_E_ARG;
    if (T == 0) return DSV4_OK;
    if (!in || !out) return DSV4_E_NULL;
    size_t rows;
    if (!dsv4_mul_ok(T, cfg->n_heads, &rows)) return DSV4_E_OVERFLOW;
    if ((st = size_check(rows, cfg->head_dim)) != DSV4_OK) return st;
    if (stage == DSV4_INDEXER_ROPE) return query_rope(cfg, pos, T, in, out);
    if (stage == DSV4_INDEXER_ROTATE) return dsv4_ref_hadamard(rows, cfg->head_dim, in, out); /* (I3) */
    dsv4_quant_cfg q = DSV4_QUANT_FP4_ACT;                                             /* (I4) */
    return dsv4_ref_fake_quant(&q, rows, cfg->head_dim, in, out);
}

/* ---- (I5) head weights -------------------------------------------------------------------- */
/* RN64(n^-1/2): exact for powers of four, RN64(sqrt(1/2)) * 2^-k for 2 * 4^k
 * (V4's 128 and 64 heads' channels), 1 / sqrt(n) otherwise. */
static double inv_sqrt_d(size_t n) {
    int k = 0;
    while (n % 4 == 0) {
        n /= 4;
        k++;
    }
    if (n == 1) return dsv4_pow2d(-k);
    if (n == 2) return sqrt(0.5) * dsv4_pow2d(-k);
    return 1.0 / sqrt((double)n * (double)((size_t)1 << (2 * k)));
}

/* c = fp32(hd^-1/2 * H^-1/2), the product formed in double. */
float dsv4_indexer_weight_scale(const dsv4_indexer_cfg *cfg) {
    return (float)(inv_sqrt_d(cfg->head_dim) * inv_sqrt_d(cfg->n_heads));
}

dsv4_status dsv4_ref_indexer_weights(const dsv4_indexer_cfg *cfg, const dsv4_indexer_weights *w,
                                     size_t T, const float *x, float *wts) {
    dsv4_status st = dsv4_indexer_check(cfg);
    if (st != DSV4_OK) return st;
    if (T == 0) return DSV4_OK;
    if (!w || !w->weights_proj || !x || !wts) return DSV4_E_NULL;
    if ((st = size_check(T, cfg->dim)) != DSV4_OK || (st = size_check(T, cfg->n_heads)) != DSV4_OK)
        return st;
    float c = dsv4_indexer_weight_scale(cfg);
    for (size_t t = 0; t < T; t++)
        for (size_t h = 0; h < cfg->n_heads; h++) {
            float proj = dsv4_round_bf16(dot_f32(x + t * cfg->dim, w->weights_proj + h * cfg->dim,
                                                 cfg->dim));
            wts[t * cfg->n_heads + h] = dsv4_round_bf16(proj * c);            /* (I5) */
        }
    return DSV4_OK;
}

/* ---- (I6) scores --------------------------------------------------------------------------- */
/* bf16 of the exact dot product q . k over n terms: the products of bf16
 * values are exact in double, and so is their sum as long as the terms'
 * exponents span less than 2^37 (spec/indexer.md §4.3). */
static float dot_bf16(const float *q, const float *k, size_t n) {
    double acc = 0.0;
    for (size_t i = 0; i < n; i++) acc += (double)q[i] * (double)k[i];
    return dsv4_round_bf16_d(acc);
}

/* Is entry e visible to the query at position t?  Its block is complete:
 * (e + 1) * r <= t + 1. */
static int visible(size_t e, size_t r, int64_t t) {
    return (uint64_t)(e + 1) * r <= (uint64_t)t + 1;
}

/* The scores of query row t [E]: I_e = bf16(sum_h bf16(relu(s_h,e) * w_h)). */
static void score_row(const dsv4_indexer_cfg *cfg, int64_t t_pos, size_t E,
                            const float *q_t /* [H, hd] */, const float *k, const float *w_t,
                            float *s /* [E] */) {
    size_t H = cfg->n_heads, hd = cfg->head_dim;
    for (size_t e = 0; e < E; e++) {
        if (!visible(e, cfg->ratio, t_pos)) {
            s[e] = -INFINITY;
            continue;
        }
        double sum = 0.0;
        for (size_t h = 0; h < H; h++) {
            float dot = dot_bf16(q_t + h * hd, k + e * hd, hd);              /* (I6) s */
            float relu = dot > 0.0f ? dot : (dot != dot ? dot : 0.0f);       /* ReLU, NaN kept */
            float prod = dsv4_round_bf16_d((double)relu * (double)w_t[h]);   /* P */
            sum += (double)prod;
        }
        s[e] = dsv4_round_bf16_d(sum);                                       /* I */
    }
}

dsv4_status dsv4_ref_indexer_scores(const dsv4_indexer_cfg *cfg, int64_t pos, size_t T, size_t E,
                                    const float *q, const float *k, const float *wts, float *s) {
    dsv4_status st = dsv4_indexer_check(cfg);
    if (st == DSV4_OK) st = pos_check(pos, T);
    if (st != DSV4_OK) return st;
    if (T == 0 || E == 0) return DSV4_OK;
    if (!q || !k || !wts || !s) return DSV4_E_NULL;
    if ((st = size_check(T, E)) != DSV4_OK || (st = size_check(E, cfg->head_dim)) != DSV4_OK)
        return st;
    size_t row = cfg->n_heads * cfg->head_dim;
    for (size_t t = 0; t < T; t++)
        score_row(cfg, pos + (int64_t)t, E, q + t * row, k, wts + t * cfg->n_heads,
                               s + t * E);
    return DSV4_OK;
}

/* ---- (I7), (I8) selection ---------------------------------------------------------------------- */
/* Does entry a come before entry b?  The higher score first (NaN above
 * every number), exact ties by the lower index. */
int dsv4_indexer_before(float sa, size_t a, float sb, size_t b) {
    int na = sa != sa, nb = sb != sb;
    if (na || nb) return na && nb ? a < b : na;
    if (sa != sb) return sa > sb;
    return a < b;
}

typedef struct ranked {
    float s;
    size_t e;
} ranked;

static int rank_cmp(const void *pa, const void *pb) {
    const ranked *a = pa, *b = pb;
    return dsv4_indexer_before(a->s, a->e, b->s, b->e) ? -1 : 1;
}

/* One row: the visible entries of s [E] for the query at position t,
 * sorted, the first K into idx [K], -1 after them. */
static dsv4_status select_row(const dsv4_indexer_cfg *cfg, int64_t t, size_t E, const float *s,
                              ranked *buf, int32_t *idx) {
    size_t K = dsv4_indexer_width(cfg, E), n = 0;
    for (size_t e = 0; e < E; e++)
        if (visible(e, cfg->ratio, t)) buf[n++] = (ranked){s[e], e};
    qsort(buf, n, sizeof *buf, rank_cmp);                                    /* (I7) */
    for (size_t j = 0; j < K; j++) idx[j] = j < n ? (int32_t)buf[j].e : -1;
    return DSV4_OK;
}

/* (I8) kv = idx + (pos == 0 ? T : window), -1 kept. */
void dsv4_indexer_offset(const dsv4_indexer_cfg *cfg, int64_t pos, size_t T, size_t K,
                         const int32_t *idx, int32_t *kv) {
    int64_t off = pos == 0 ? (int64_t)T : (int64_t)cfg->window;
    for (size_t i = 0; i < T * K; i++) kv[i] = idx[i] < 0 ? -1 : (int32_t)(idx[i] + off);
}

/* Checks of topk: the offsets of the largest index must fit in int32. */
dsv4_status dsv4_indexer_topk_check(const dsv4_indexer_cfg *cfg, int64_t pos, size_t T, size_t E) {
    dsv4_status st = dsv4_indexer_check(cfg);
    if (st == DSV4_OK) st = pos_check(pos, T);
    if (st != DSV4_OK) return st;
    uint64_t off = pos == 0 ? T : cfg->window;
    if (E > (uint64_t)INT32_MAX || off > (uint64_t)INT32_MAX - E) return DSV4_E_OVERFLOW;
    return size_check(T, E);
}

dsv4_status dsv4_ref_indexer_topk(const dsv4_indexer_cfg *cfg, int64_t pos, size_t T, size_t E,
                                  const float *s, int32_t *idx, int32_t *kv) {
    dsv4_status st = dsv4_indexer_topk_check(cfg, pos, T, E);
    if (st != DSV4_OK) return st;
    size_t K = dsv4_indexer_width(cfg, E);
    if (T == 0 || K == 0) return DSV4_OK;
    if (!s || !idx) return DSV4_E_NULL;
    ranked *buf = malloc(E * sizeof *buf); /* [E] */
    if (!buf) return DSV4_E_NOMEM;
    for (size_t t = 0; t < T; t++) select_row(cfg, pos + (int64_t)t, E, s + t * E, buf, idx + t * K);
    free(buf);
    if (kv) dsv4_indexer_offset(cfg, pos, T, K, idx, kv);
    return DSV4_OK;
}

/* ---- the whole indexer --------------------------------------------------------------------- */
/* Tokens per chunk: the query heads of a chunk, and one row of scores at a
 * time, are all the scratch a call needs, whatever T and E. */
enum { CHUNK = 64 };

dsv4_status dsv4_indexer_with(const dsv4_indexer_impl *impl, const dsv4_indexer_cfg *cfg,
                              const dsv4_indexer_weights *w, int64_t pos, size_t T, size_t E,
                              const float *qr, const float *x, const float *k, int32_t *idx,
                              int32_t *kv) {
    dsv4_status st = dsv4_indexer_topk_check(cfg, pos, T, E);
    if (st != DSV4_OK) return st;
    size_t K = dsv4_indexer_width(cfg, E), H = cfg->n_heads, row = H * cfg->head_dim;
    if (T == 0 || K == 0) return DSV4_OK;
    if (!w || !qr || !x || !k || !idx) return DSV4_E_NULL;
    if ((st = size_check(CHUNK, row)) != DSV4_OK) return st;
    float *q = malloc(CHUNK * row * sizeof *q);  /* [CHUNK, H, hd] */
    float *wts = malloc(CHUNK * H * sizeof *wts); /* [CHUNK, H] */
    float *s = malloc(E * sizeof *s);             /* [E], one query at a time */
    st = q && wts && s ? DSV4_OK : DSV4_E_NOMEM;
    for (size_t t0 = 0; st == DSV4_OK && t0 < T; t0 += CHUNK) {
        size_t n = T - t0 < CHUNK ? T - t0 : CHUNK;
        int64_t p0 = pos + (int64_t)t0;
        st = impl->project(cfg, w, n, qr + t0 * cfg->q_lora, q);
        for (int stage = DSV4_INDEXER_ROPE; st == DSV4_OK && stage <= DSV4_INDEXER_QUANT; stage++)
            st = dsv4_indexer_query(cfg, (dsv4_indexer_query_stage)stage, p0, n, q, q);
        if (st == DSV4_OK) st = impl->weights(cfg, w, n, x + t0 * cfg->dim, wts);
        for (size_t t = 0; st == DSV4_OK && t < n; t++) {
            st = impl->scores(cfg, p0 + (int64_t)t, 1, E, q + t * row, k, wts + t * H, s);
            if (st == DSV4_OK)
                st = impl->topk(cfg, p0 + (int64_t)t, 1, E, s, idx + (t0 + t) * K, NULL);
        }
    }
    if (st == DSV4_OK && kv) dsv4_indexer_offset(cfg, pos, T, K, idx, kv);
    free(q);
    free(wts);
    free(s);
    return st;
}

dsv4_status dsv4_ref_indexer(const dsv4_indexer_cfg *cfg, const dsv4_indexer_weights *w,
                             int64_t pos, size_t T, size_t E, const float *qr, const float *x,
                             const float *k, int32_t *idx, int32_t *kv) {
    static const dsv4_indexer_impl ref = {dsv4_ref_indexer_project, dsv4_ref_indexer_weights,
                                          dsv4_ref_indexer_scores, dsv4_ref_indexer_topk};
    return dsv4_indexer_with(&ref, cfg, w, pos, T, E, qr, x, k, idx, kv);
}
