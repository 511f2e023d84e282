/* compressor.c - the KV compressor of DeepSeek-V4's CSA and HCA layers
 * (spec/compressor.md): the projections (C1), the gated pooling of each
 * complete block per channel (C2), the state that keeps the tokens of an
 * incomplete block from one call to the next, and the bf16 rounding, RMSNorm,
 * RoPE and quantization of each entry (C3-C5).  Each line marked with an
 * equation label rounds once to fp32; ref is compiled with -ffp-contract=off.
 *
 * Rows of the state [coff*r, coff*d] (spec/compressor.md §3): with overlap
 * (coff = 2), rows 0..r-1 hold the last complete block and rows r + j the
 * tokens of the current block at position j in it; without overlap, rows j. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- configuration ------------------------------------------------------------------ */
/* coff: 2 when the window overlaps (ratio 4, as V4 fixes it), else 1. */
static size_t coff_of(const dsv4_compressor_cfg *cfg) { return cfg->ratio == 4 ? 2 : 1; }

static int is_pow2(size_t n) { return n && (n & (n - 1)) == 0; }

dsv4_status dsv4_compressor_check(const dsv4_compressor_cfg *cfg, size_t *state_floats) {
    if (!cfg) return DSV4_E_NULL;
    if (cfg->dim == 0 || cfg->ratio == 0 || cfg->head_dim == 0) return DSV4_E_ARG;
    if (cfg->rope.rope_dim > cfg->head_dim) return DSV4_E_ARG;
    if (!(cfg->norm_eps >= 0.0f) || isinf(cfg->norm_eps)) return DSV4_E_ARG;
    if (cfg->quant == DSV4_COMPRESS_FP8 && (cfg->head_dim - cfg->rope.rope_dim) % 64 != 0)
        return DSV4_E_ARG;
    if (cfg->quant == DSV4_COMPRESS_HADAMARD_FP4 &&
        (!is_pow2(cfg->head_dim) || cfg->head_dim % 32 != 0))
        return DSV4_E_ARG;
    if ((unsigned)cfg->quant > DSV4_COMPRESS_NONE) return DSV4_E_ARG;
    dsv4_status st = dsv4_rope_check(&cfg->rope);
    if (st != DSV4_OK) return st;
    size_t c = coff_of(cfg), rows, cols, n, bytes;
    if (!dsv4_mul_ok(c, cfg->ratio, &rows) || !dsv4_mul_ok(c, cfg->head_dim, &cols) ||
        !dsv4_mul_ok(rows, cols, &n) || !dsv4_mul_ok(n, sizeof(float), &bytes) ||
        !dsv4_mul_ok(cols, cfg->dim, &bytes) || !dsv4_mul_ok(bytes, sizeof(float), &bytes))
        return DSV4_E_OVERFLOW;
    if (state_floats) *state_floats = n;
    return DSV4_OK;
}

dsv4_status dsv4_compressor_reset(const dsv4_compressor_cfg *cfg, dsv4_compressor_state *state) {
    size_t n;
    dsv4_status st = dsv4_compressor_check(cfg, &n);
    if (st != DSV4_OK) return st;
    if (!state || !state->kv || !state->score) return DSV4_E_NULL;
    for (size_t i = 0; i < n; i++) {
        state->kv[i] = 0.0f;
        state->score[i] = -INFINITY;
    }
    state->pos = 0;
    return DSV4_OK;
}

size_t dsv4_compressor_emits(const dsv4_compressor_cfg *cfg, int64_t pos, size_t T) {
    if (!cfg || cfg->ratio == 0 || pos < 0) return 0;
    uint64_t p = (uint64_t)pos, r = cfg->ratio;
    return (size_t)((p + T) / r - p / r);
}

/* Checks shared by the entry points: cfg, a state whose pos is in
 * [0, 2^31), and T such that pos + T stays there. */
static dsv4_status call_check(const dsv4_compressor_cfg *cfg, const dsv4_compressor_state *state,
                              size_t T, size_t *state_floats) {
    dsv4_status st = dsv4_compressor_check(cfg, state_floats);
    if (st != DSV4_OK) return st;
    if (!state) return DSV4_E_NULL;
    if (state->pos < 0 || state->pos > INT32_MAX) return DSV4_E_ARG;
    if (T > (size_t)INT32_MAX - (size_t)state->pos) return DSV4_E_OVERFLOW;
    if (!state->kv || !state->score) return DSV4_E_NULL;
    return DSV4_OK;
}

/* ---- (C1) projections ------------------------------------------------------------------ */
/* sum_k x[k] * w[k] over n terms, left to right, each product and sum rounded. */
static float dot_f32(const float *x, const float *w, size_t n) {
    float acc = 0.0f;
    for (size_t k = 0; k < n; k++) {
        float prod = x[k] * w[k];
        acc = acc + prod;
    }
    return acc;
}

dsv4_status dsv4_ref_compress_project(const dsv4_compressor_cfg *cfg,
                                      const dsv4_compressor_weights *w, int64_t pos, size_t T,
                                      const float *x, float *kv, float *score) {
    dsv4_status st = dsv4_compressor_check(cfg, NULL);
    if (st != DSV4_OK) return st;
    if (pos < 0 || pos > INT32_MAX) return DSV4_E_ARG;
    if (T == 0) return DSV4_OK;
    if (!w || !w->wkv || !w->wgate || !w->ape || !x || !kv || !score) return DSV4_E_NULL;
    size_t cols = coff_of(cfg) * cfg->head_dim, dim = cfg->dim, tot;
    if (!dsv4_mul_ok(T, cols, &tot) || !dsv4_mul_ok(T, dim, &tot)) return DSV4_E_OVERFLOW;
    for (size_t t = 0; t < T; t++) {
        const float *xt = x + t * dim;                                   /* [dim] */
        const float *ape = w->ape + ((uint64_t)pos + t) % cfg->ratio * cols; /* [coff*d] */
        for (size_t o = 0; o < cols; o++) {
            kv[t * cols + o] = dot_f32(xt, w->wkv + o * dim, dim);              /* (C1a) */
            score[t * cols + o] = dot_f32(xt, w->wgate + o * dim, dim) + ape[o]; /* (C1b) */
        }
    }
    return DSV4_OK;
}

/* ---- where each token's projections are ------------------------------------------------- */
/* The rows of kv and score of token q (position in the sequence) during a
 * call of T tokens from position p: the call's own row q - p, or, for a
 * token of an earlier call, its row of the state (the current block, or,
 * with overlap, the last complete block).  Returns 0 for a token that is in
 * neither (never asked for by the callers). */
typedef struct sources {
    const dsv4_compressor_cfg *cfg;
    size_t cols;                        /* coff*d */
    int64_t p;                          /* state.pos */
    const float *kv, *score;            /* the call's projections [T, cols] */
    const float *skv, *sscore;          /* the state [coff*r, cols] */
} sources;

static int token_rows(const sources *s, int64_t q, const float **kv, const float **score) {
    size_t r = s->cfg->ratio, row;
    int64_t block_start = s->p - s->p % (int64_t)r;
    if (q >= s->p) {
        *kv = s->kv + (size_t)(q - s->p) * s->cols;
        *score = s->score + (size_t)(q - s->p) * s->cols;
        return 1;
    }
    if (q >= block_start) {
        row = (coff_of(s->cfg) == 2 ? r : 0) + (size_t)(q % (int64_t)r);
    } else if (coff_of(s->cfg) == 2 && q >= block_start - (int64_t)r && q >= 0) {
        row = (size_t)(q % (int64_t)r);
    } else {
        return 0;
    }
    *kv = s->skv + row * s->cols;
    *score = s->sscore + row * s->cols;
    return 1;
}

/* ---- (C2) pooling ------------------------------------------------------------------------- */
/* Entry g, channel c: the logits a [rows] and values v [rows] of its window
 * (C2a, C2b); rows = coff*r. */
static void window_of(const sources *s, int64_t g, size_t c, float *a, float *v) {
    size_t r = s->cfg->ratio, d = s->cfg->head_dim;
    size_t half = coff_of(s->cfg) == 2 ? r : 0; /* rows of block g - 1 */
    const float *kv, *score;
    for (size_t j = 0; j < half; j++) { /* (C2b) block g - 1, first d channels */
        int64_t q = (g - 1) * (int64_t)r + (int64_t)j;
        if (g == 0 || !token_rows(s, q, &kv, &score)) {
            a[j] = -INFINITY;
            v[j] = 0.0f;
            continue;
        }
        a[j] = score[c];
        v[j] = kv[c];
    }
    for (size_t j = 0; j < r; j++) { /* (C2a), (C2b) block g, last d channels with overlap */
        int64_t q = g * (int64_t)r + (int64_t)j;
        size_t ch = half ? d + c : c;
        (void)token_rows(s, q, &kv, &score);
        a[half + j] = score[ch];
        v[half + j] = kv[ch];
    }
}

/* The softmax of a [rows] and the weighted sum of v [rows]  (C2c). */
static float gated_sum(const float *a, const float *v, size_t rows, float *e /* [rows] */) {
    float m = a[0];
    for (size_t j = 1; j < rows; j++) m = a[j] > m || m != m ? a[j] : m;
    for (size_t j = 0; j < rows; j++) e[j] = dsv4_expf(a[j] - m);
    float s = 0.0f;
    for (size_t j = 0; j < rows; j++) s = s + e[j];
    float out = 0.0f;
    for (size_t j = 0; j < rows; j++) {
        float wj = e[j] / s;
        float prod = wj * v[j];
        out = out + prod;
    }
    return out;
}

dsv4_status dsv4_compress_pool(const dsv4_compressor_cfg *cfg, const dsv4_compressor_state *state,
                               size_t T, const float *kv, const float *score, float *e) {
    dsv4_status st = call_check(cfg, state, T, NULL);
    if (st != DSV4_OK) return st;
    size_t n = dsv4_compressor_emits(cfg, state->pos, T);
    if (n == 0) return DSV4_OK;
    if (!kv || !score || !e) return DSV4_E_NULL;
    size_t rows = coff_of(cfg) * cfg->ratio, d = cfg->head_dim;
    float *buf = malloc(3 * rows * sizeof *buf); /* a, v, exp terms [rows] each */
    if (!buf) return DSV4_E_NOMEM;
    sources s = {cfg, coff_of(cfg) * d, state->pos, kv, score, state->kv, state->score};
    int64_t first = state->pos / (int64_t)cfg->ratio;
    for (size_t i = 0; i < n; i++)
        for (size_t c = 0; c < d; c++) {
            window_of(&s, first + (int64_t)i, c, buf, buf + rows);
            e[i * d + c] = gated_sum(buf, buf + rows, rows, buf + 2 * rows);
        }
    free(buf);
    return DSV4_OK;
}

/* ---- the state after a call ----------------------------------------------------------------- */
dsv4_status dsv4_compress_carry(const dsv4_compressor_cfg *cfg, size_t T, const float *kv,
                                const float *score, dsv4_compressor_state *state) {
    size_t n;
    dsv4_status st = call_check(cfg, state, T, &n);
    if (st != DSV4_OK) return st;
    if (T == 0) return DSV4_OK;
    if (!kv || !score) return DSV4_E_NULL;
    size_t r = cfg->ratio, cols = coff_of(cfg) * cfg->head_dim;
    float *next = malloc(2 * n * sizeof *next); /* kv, score [coff*r, cols] */
    if (!next) return DSV4_E_NOMEM;
    for (size_t i = 0; i < n; i++) {
        next[i] = 0.0f;
        next[n + i] = -INFINITY;
    }
    sources s = {cfg, cols, state->pos, kv, score, state->kv, state->score};
    int64_t end = state->pos + (int64_t)T, cur = end - end % (int64_t)r;
    const float *k, *z;
    /* with overlap, rows 0..r-1: the last complete block, if there is one */
    for (int64_t q = cur - (int64_t)r; coff_of(cfg) == 2 && q >= 0 && q < cur; q++)
        if (token_rows(&s, q, &k, &z)) {
            memcpy(next + (size_t)(q % (int64_t)r) * cols, k, cols * sizeof *k);
            memcpy(next + n + (size_t)(q % (int64_t)r) * cols, z, cols * sizeof *z);
        }
    /* the tokens of the current, incomplete block */
    size_t base = coff_of(cfg) == 2 ? r : 0;
    for (int64_t q = cur; q < end; q++) {
        (void)token_rows(&s, q, &k, &z);
        memcpy(next + (base + (size_t)(q % (int64_t)r)) * cols, k, cols * sizeof *k);
        memcpy(next + n + (base + (size_t)(q % (int64_t)r)) * cols, z, cols * sizeof *z);
    }
    memcpy(state->kv, next, n * sizeof *next);
    memcpy(state->score, next + n, n * sizeof *next);
    state->pos = end;
    free(next);
    return DSV4_OK;
}

/* ---- (C3)-(C5) from entry to cache row --------------------------------------------------------- */
/* (C3) bf16(entry), then RMSNorm: in, out [n, d]. */
static dsv4_status finish_norm(const dsv4_compressor_cfg *cfg, const float *w, size_t n,
                               const float *in, float *out) {
    size_t d = cfg->head_dim;
    for (size_t i = 0; i < n * d; i++) out[i] = dsv4_round_bf16(in[i]);
    return dsv4_ref_rms_norm(n, d, cfg->norm_eps, out, w, out);
}

/* (C4) RoPE of the last rope_dim channels at position (first + i) * r. */
static dsv4_status finish_rope(const dsv4_compressor_cfg *cfg, int64_t first, size_t n,
                               const float *in, float *out) {
    size_t half = cfg->rope.rope_dim / 2, bytes;
    if (!dsv4_mul_ok(n, half, &bytes) || !dsv4_mul_ok(bytes, 2 * sizeof(float), &bytes))
        return DSV4_E_OVERFLOW;
    int32_t *pos = malloc((n ? n : 1) * sizeof *pos);       /* [n] */
    float *table = malloc(bytes ? bytes : 1);               /* cos, sin [n, rope_dim/2] */
    dsv4_status st = pos && table ? DSV4_OK : DSV4_E_NOMEM;
    for (size_t i = 0; st == DSV4_OK && i < n; i++) {
        int64_t p = (first + (int64_t)i) * (int64_t)cfg->ratio;
        if (p > INT32_MAX) st = DSV4_E_OVERFLOW;
        else pos[i] = (int32_t)p;
    }
    if (st == DSV4_OK) st = dsv4_rope_table(&cfg->rope, n, pos, table, table + n * half);
    if (st == DSV4_OK)
        st = dsv4_ref_rope_apply(&cfg->rope, n, 1, cfg->head_dim, 0, table, table + n * half,
                                 in, out);
    free(pos);
    free(table);
    return st;
}

/* (C5) the cfg's quantization (for HADAMARD_FP4 the FP4 step). */
static dsv4_status finish_quant(const dsv4_compressor_cfg *cfg, size_t n, const float *in,
                                float *out) {
    size_t d = cfg->head_dim, nope = d - cfg->rope.rope_dim;
    if (out != in) memmove(out, in, n * d * sizeof *out);
    if (cfg->quant == DSV4_COMPRESS_HADAMARD_FP4) {
        dsv4_quant_cfg q = DSV4_QUANT_FP4_ACT;
        return dsv4_ref_fake_quant(&q, n, d, out, out);
    }
    if (cfg->quant == DSV4_COMPRESS_FP8 && nope > 0) {
        dsv4_quant_cfg q = DSV4_QUANT_FP8_KV; /* E4M3, 1x64 */
        for (size_t i = 0; i < n; i++) {   /* the first d - rope_dim channels of each row */
            dsv4_status st = dsv4_ref_fake_quant(&q, 1, nope, out + i * d, out + i * d);
            if (st != DSV4_OK) return st;
        }
    }
    return DSV4_OK;
}

dsv4_status dsv4_compress_finish(const dsv4_compressor_cfg *cfg, const dsv4_compressor_weights *w,
                                 dsv4_compress_stage stage, int64_t first, size_t n,
                                 const float *in, float *out) {
    dsv4_status st = dsv4_compressor_check(cfg, NULL);
    if (st != DSV4_OK) return st;
    if (first < 0 || first > INT32_MAX) return DSV4_E_ARG;
    if ((unsigned)stage > DSV4_COMPRESS_QUANT) return DSV4_E_ARG;
    if (stage == DSV4_COMPRESS_ROTATE && cfg->quant != DSV4_COMPRESS_HADAMARD_FP4)
        return DSV4_E_ARG;
    if (n == 0) return DSV4_OK;
    size_t total;
    if (!dsv4_mul_ok(n, cfg->head_dim, &total)) return DSV4_E_OVERFLOW;
    if (!in || !out) return DSV4_E_NULL;
    switch (stage) {
    case DSV4_COMPRESS_NORM:
        if (!w || !w->norm) return DSV4_E_NULL;
        return finish_norm(cfg, w->norm, n, in, out);
    case DSV4_COMPRESS_ROPE: return finish_rope(cfg, first, n, in, out);
    case DSV4_COMPRESS_ROTATE: return dsv4_ref_hadamard(n, cfg->head_dim, in, out);
    default: return finish_quant(cfg, n, in, out);
    }
}

/* ---- one call ------------------------------------------------------------------------------------- */
dsv4_status dsv4_compress_with(dsv4_compress_project_fn project, const dsv4_compressor_cfg *cfg,
                               const dsv4_compressor_weights *w, size_t T, const float *x,
                               dsv4_compressor_state *state, float *entries) {
    size_t nstate;
    dsv4_status st = call_check(cfg, state, T, &nstate);
    if (st != DSV4_OK) return st;
    if (!w || !w->norm) return DSV4_E_NULL;
    size_t n = dsv4_compressor_emits(cfg, state->pos, T);
    if (n && !entries) return DSV4_E_NULL;
    if (T == 0) return DSV4_OK;
    size_t cols = coff_of(cfg) * cfg->head_dim, proj;
    if (!dsv4_mul_ok(T, cols, &proj) || !dsv4_mul_ok(proj, 2 * sizeof(float), &proj))
        return DSV4_E_OVERFLOW;
    float *kv = malloc(proj), *score; /* [T, cols] each */
    if (!kv) return DSV4_E_NOMEM;
    score = kv + T * cols;
    int64_t first = state->pos / (int64_t)cfg->ratio;
    st = project(cfg, w, state->pos, T, x, kv, score);
    if (st == DSV4_OK) st = dsv4_compress_pool(cfg, state, T, kv, score, entries);
    static const dsv4_compress_stage after_pool[3] = {DSV4_COMPRESS_NORM, DSV4_COMPRESS_ROPE,
                                                     DSV4_COMPRESS_ROTATE};
    for (int k = 0; st == DSV4_OK && k < 3; k++)
        if (after_pool[k] != DSV4_COMPRESS_ROTATE || cfg->quant == DSV4_COMPRESS_HADAMARD_FP4)
            st = dsv4_compress_finish(cfg, w, after_pool[k], first, n, entries, entries);
    if (st == DSV4_OK)
        st = dsv4_compress_finish(cfg, w, DSV4_COMPRESS_QUANT, first, n, entries, entries);
    if (st == DSV4_OK) st = dsv4_compress_carry(cfg, T, kv, score, state);
    free(kv);
    return st;
}

dsv4_status dsv4_ref_compress(const dsv4_compressor_cfg *cfg, const dsv4_compressor_weights *w,
                              size_t T, const float *x, dsv4_compressor_state *state,
                              float *entries) {
    return dsv4_compress_with(dsv4_ref_compress_project, cfg, w, T, x, state, entries);
}
