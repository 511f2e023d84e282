/* compressor_cases.c - the inputs and the shipped cases of the compressor
 * (spec/compressor.md §7, spec/golden.md §6f), `oracle gen`, the og_op.
 *
 * Exact-grid data.  x holds multiples of 2^-5 below 8 in magnitude, the
 * projection weights multiples of 2^-qw with at most 8 significant bits
 * (bf16 values), ape multiples of 2^-(5+qw), with qw chosen from dim so
 * that every |sum of products| + |ape| stays below 2^(19-qw): every partial
 * sum of a projection is then an fp32 number, so (C1) is exact in any
 * order, with or without FMA, and an end-to-end run feeds pool the golden
 * projections (and carry holds them bit for bit).  The generator checks
 * that bound on every projection.
 *
 * Margins.  A sequence is shipped in one or more splits into calls (a
 * stream, one prefill, prefixes).  The draw is redrawn until, in every
 * split, every bf16 rounding of the chain has its margin (compressor_seq.c):
 * a channel whose entries lack one gets new projection weights and ape
 * (its rows only: the pooling is per channel), a channel whose RMSNorm or
 * RoPE output lacks one a new norm weight (with its RoPE partner), and a
 * Hadamard output without one a new norm weight vector.  Every redraw
 * continues the case's random stream, so a seed gives one file. */
#include "compressor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F32_NAN 0x7FC00000u
#define F32_PINF 0x7F800000u
#define MAX_PASSES 200

/* ---- draws ------------------------------------------------------------------------------- */
/* round(N(0,1) * 2^e), N from the Irwin-Hall sum of twelve 32-bit uniforms,
 * 0 <= e <= 30; integers only. */
static long normal_int(ox_rng *r, int e) {
    long s = 0;
    for (int i = 0; i < 12; i++) s += (long)(ox_rng_next(r) >> 32);
    s -= 6L << 32;
    return (s + (1L << (31 - e))) >> (32 - e); /* arithmetic shift: floor */
}

static long clip(long v, long lim) { return v > lim ? lim : v < -lim ? -lim : v; }

/* The grid of the projection weights: W = k 2^-qw with k ~ N(0, 2^(2(qw-s)))
 * (|W| about 2^-s = 1/sqrt(dim)), s = ceil(log2(dim) / 2), qw = min(6 + s,
 * 17 - s): the projections' magnitudes then stay far below 2^(19-qw). */
static int grid_s(size_t dim) {
    int b = 0;
    while (((size_t)1 << b) < dim) b++;
    return (b + 1) / 2;
}
static int grid_qw(size_t dim) {
    int s = grid_s(dim);
    return 6 + s < 17 - s ? 6 + s : 17 - s;
}

static uint32_t draw_x(ox_rng *r) { return ox_f32_of_dyadic(clip(normal_int(r, 5), 255), -5); }

/* A nonzero weight (an infinite input then gives infinite projections, not
 * Inf * 0 = NaN). */
static uint32_t draw_w(ox_rng *r, size_t dim) {
    int qw = grid_qw(dim);
    long k = clip(normal_int(r, qw - grid_s(dim)), 255);
    if (k == 0) k = (ox_rng_next(r) >> 63) ? 1 : -1;
    return ox_f32_of_dyadic(k, -qw);
}

static uint32_t draw_ape(ox_rng *r, size_t dim) {
    int g = 5 + grid_qw(dim);
    return ox_f32_of_dyadic(normal_int(r, g - 1), -g); /* ~ N(0, 1/4) */
}

/* A bf16 norm weight about 1 + N(0, 1/16). */
static uint32_t draw_norm(ox_rng *r) {
    return ox_f32_round_to_bf16_value(ox_f32_of_dyadic(128 + normal_int(r, 5), -7));
}

/* The rows of pool channel ch: ch, and d + ch with overlap. */
static void draw_channel(ocp_seq *s, ox_rng *r, size_t ch) {
    const ocp_cfg *c = &s->c;
    size_t cd = c->coff * c->d;
    for (size_t h = 0; h < c->coff; h++) {
        size_t row = h * c->d + ch;
        for (size_t k = 0; k < c->dim; k++) s->w.wkv[row * c->dim + k] = draw_w(r, c->dim);
        for (size_t k = 0; k < c->dim; k++) s->w.wgate[row * c->dim + k] = draw_w(r, c->dim);
        for (size_t j = 0; j < c->r; j++) s->w.ape[j * cd + row] = draw_ape(r, c->dim);
    }
}

static void draw_all(ocp_seq *s, ox_rng *r) {
    for (size_t i = 0; i < s->N * s->c.dim; i++) s->x[i] = draw_x(r);
    for (size_t ch = 0; ch < s->c.d; ch++) draw_channel(s, r, ch);
    for (size_t ch = 0; ch < s->c.d; ch++) s->w.norm[ch] = draw_norm(r);
}

static void project_channel(ocp_seq *s, size_t ch) {
    for (size_t h = 0; h < s->c.coff; h++) ocp_seq_project(s, h * s->c.d + ch, h * s->c.d + ch + 1);
}

/* 1 when a projection of channel ch is 2^(19-qw) or more in magnitude
 * (sum |x W| (+ |ape|)): its fp32 sums might round. */
static int off_grid(const ocp_seq *s, size_t ch) {
    const ocp_cfg *c = &s->c;
    size_t cd = c->coff * c->d;
    uint32_t lim = ox_f32_pow2(19 - grid_qw(c->dim), 0);
    for (size_t q = 0; q < s->N; q++)
        for (size_t h = 0; h < c->coff; h++) {
            size_t i = q * cd + h * c->d + ch;
            if (s->kv_mag[i] >= lim || s->score_mag[i] >= lim) return 1;
        }
    return 0;
}

/* ---- settling: redraw until every margin holds ------------------------------------------- */
typedef struct redraws {
    size_t channels, norms, norm_vectors;
} redraws;

/* Runs every split, measures the margins and redraws what lacks one (the
 * header comment), until all hold; with redraw 0 it only measures.  0, or
 * -1 and err. */
static int settle(ocp_seq *s, ocp_run *runs, size_t n_runs, ox_rng *r, redraws *rd,
                  int redraw, char *err, size_t errlen) {
    size_t d = s->c.d;
    uint8_t *dirty = calloc(d + 1, 1);
    ocp_margins m;
    memset(rd, 0, sizeof *rd);
    if (!dirty || ocp_margins_alloc(&m, d) != 0) {
        free(dirty);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    int rc = -1, first = 1;
    for (int pass = 0; pass < MAX_PASSES; pass++) {
        for (size_t i = 0; i < n_runs; i++)
            if (ocp_run_stages(s, &runs[i], first ? NULL : dirty, err, errlen) != 0) goto done;
        first = 0;
        ocp_margins_clear(&m, d);
        for (size_t i = 0; i < n_runs; i++) ocp_margins_measure(s, &runs[i], &m);
        int grid = 0;
        for (size_t ch = 0; ch < d; ch++) {
            dirty[ch] = m.entry[ch] || off_grid(s, ch);
            grid |= dirty[ch];
        }
        if (!grid && ocp_margins_hold(&m)) {
            rc = 0;
            goto done;
        }
        if (!redraw) break;
        if (grid) { /* new projection weights for those channels first */
            for (size_t ch = 0; ch < d; ch++)
                if (dirty[ch]) {
                    draw_channel(s, r, ch);
                    project_channel(s, ch);
                    rd->channels++;
                }
            continue;
        }
        if (m.n_norm + m.n_rope > 0) {
            for (size_t ch = 0; ch < d; ch++)
                if (m.norm[ch] || m.rope[ch]) {
                    s->w.norm[ch] = draw_norm(r);
                    rd->norms++;
                }
        } else {
            for (size_t ch = 0; ch < d; ch++) s->w.norm[ch] = draw_norm(r);
            rd->norm_vectors++;
        }
    }
    snprintf(err, errlen, "margins not met (entries %zu, norm %zu, rope %zu, rotate %zu)",
             m.n_entry, m.n_norm, m.n_rope, m.n_rotate);
done:
    free(dirty);
    ocp_margins_free(&m);
    return rc;
}

static void redraws_text(const redraws *rd, char *buf, size_t len) {
    if (rd->channels + rd->norms + rd->norm_vectors == 0)
        snprintf(buf, len, "every margin held at the first draw");
    else
        snprintf(buf, len, "redrawn until every margin held: %zu channel(s) of projection "
                 "weights, %zu norm weight(s), %zu norm weight vector(s)",
                 rd->channels, rd->norms, rd->norm_vectors);
}

/* ---- a family: one sequence and the splits shipped of it --------------------------------- */
enum { K_RANDOM, K_NONFINITE, K_TIES_FP8, K_TIES_FP4, K_WORKED };
#define MAX_CALLS 16

typedef struct family {
    size_t dim, d, r;
    ocp_quant quant;
    size_t N;
    uint64_t seed;
    int kind;
    const char *what;
} family;

typedef struct split {
    const char *name; /* the case */
    size_t family;    /* index in FAMILIES */
    size_t n;         /* calls */
    size_t T[MAX_CALLS];
    const char *what;
} split;

/* The tokens of a split: it may cover only a prefix of the sequence. */
static size_t split_tokens(const split *sp) {
    size_t n = 0;
    for (size_t i = 0; i < sp->n; i++) n += sp->T[i];
    return n;
}

/* ---- the tie cases: every channel of an entry equal -------------------------------------- */
/* wkv, wgate and ape the same in every channel of a half, so each entry is
 * one value E_i in all d channels, RMSNorm's E_i r_i is sign(E_i) (1 - O(eps
 * / E_i^2)), and norm.y is +-w.norm rounded to bf16: w.norm chooses the
 * quantizer's inputs. */
static void same_channels(ocp_seq *s) {
    const ocp_cfg *c = &s->c;
    size_t cd = c->coff * c->d;
    for (size_t h = 0; h < c->coff; h++) {
        size_t row0 = h * c->d;
        for (size_t ch = 1; ch < c->d; ch++) {
            size_t row = row0 + ch;
            memcpy(&s->w.wkv[row * c->dim], &s->w.wkv[row0 * c->dim], c->dim * sizeof(uint32_t));
            memcpy(&s->w.wgate[row * c->dim], &s->w.wgate[row0 * c->dim],
                   c->dim * sizeof(uint32_t));
            for (size_t j = 0; j < c->r; j++) s->w.ape[j * cd + row] = s->w.ape[j * cd + row0];
        }
    }
}

/* E4M3 targets of ties_fp8 (spec/golden.md §6f) in units of the tile's
 * scale 2^k, as num * 2^exp: tile 0 has amax 448 * 2^-8 exactly (k = -8),
 * tile 1 amax 450 * 2^-8, the next bf16 above it (k = -7). */
typedef struct target {
    long num;
    int exp;
} target;

static const target TILE0[] = {
    {448, 0},  {232, 0}, {-232, 0}, {248, 0}, {-248, 0}, {231, 0}, {233, 0},  {17, 0},
    {-17, 0},  {19, 0},  {17, -4},  {19, -4}, {3, -10},  {5, -10}, {-3, -10}, {7, -10},
    {1, -10},  {15, -10}, {1, -9},  {240, 0}, {-224, 0}, {9, -3},  {11, -3},  {0, 0}};
static const target TILE1[] = {{225, 0}, {200, 0}, {-200, 0}, {216, 0}, {136, 0}, {152, 0},
                               {-152, 0}, {3, -10}, {5, -10}, {1, -10}, {192, 0}, {208, 0}};

static void tile_targets(uint32_t *w, const target *t, size_t n, int k) {
    for (size_t i = 0; i < n; i++) w[i] = ox_f32_of_dyadic(t[i].num, t[i].exp + k);
}

/* ties_fp8: the 128 quantized channels from the targets, the rest of each
 * tile bf16 values of magnitude at most 1.5 (below both amaxes); the RoPE
 * channels' weights as drawn. */
static void ties_fp8_norm(ocp_seq *s, ox_rng *r) {
    uint32_t *w = s->w.norm;
    for (size_t ch = 0; ch < 128; ch++) w[ch] = ox_f32_of_dyadic(clip(normal_int(r, 6), 96), -6);
    tile_targets(w, TILE0, sizeof TILE0 / sizeof TILE0[0], -8);
    tile_targets(w + 64, TILE1, sizeof TILE1 / sizeof TILE1[0], -7);
}

/* ties_fp4: norm.y = +-(21.25, 7.09375, 0, ..., 0): the Hadamard outputs
 * are +-28.34375/(8 sqrt 2) -> bf16 2.5 and +-14.15625/(8 sqrt 2) -> 1.25
 * (2e-3 and 1e-3 relative from a bf16 boundary), every FP4 tile has amax
 * 2.5, scale 2^-1, and every element is a tie: 5 -> 4, 2.5 -> 2. */
static void ties_fp4_norm(ocp_seq *s) {
    memset(s->w.norm, 0, s->c.d * sizeof *s->w.norm);
    s->w.norm[0] = ox_f32_of_dyadic(85, -2);  /* 21.25 */
    s->w.norm[1] = ox_f32_of_dyadic(227, -5); /* 7.09375 */
}

/* ---- building a family ------------------------------------------------------------------- */
/* 1 when every split of a sequence gives entry i the same bits in every
 * stage, whatever call it came in (spec §4.3): the state must carry what
 * a prefill sees. */
static int splits_agree(const ocp_seq *s, const ocp_run *runs, size_t n_runs) {
    size_t d = s->c.d;
    for (size_t a = 0; a < n_runs; a++)
        for (size_t k = 0; k < runs[a].n_calls; k++) {
            const ocp_call *c = &runs[a].calls[k];
            for (size_t i = 0; i < c->n; i++) {
                size_t at = (c->first + i) * d;
                for (size_t b = 0; b < a; b++) /* the same entry in the earlier splits */
                    for (size_t j = 0; j < runs[b].n_calls; j++) {
                        const ocp_call *ref = &runs[b].calls[j];
                        if (c->first + i < ref->first || c->first + i >= ref->first + ref->n)
                            continue;
                        size_t o = at - ref->first * d, bytes = d * sizeof(uint32_t);
                        if (memcmp(&ref->e[o], &c->e[i * d], bytes) ||
                            memcmp(&ref->ny[0][o], &c->ny[0][i * d], bytes) ||
                            memcmp(&ref->ry[0][o], &c->ry[0][i * d], bytes) ||
                            memcmp(&ref->hy[0][o], &c->hy[0][i * d], bytes) ||
                            memcmp(&ref->q[o], &c->q[i * d], bytes))
                            return 0;
                    }
            }
        }
    return 1;
}


/* Draws the sequence of family fa with config c from the family's seed and
 * settles it in the splits sp [n_sp]; runs [n_sp].  A tie case keeps its
 * shape: it is redrawn whole, from the next seed. */
static int build_family(const family *fa, const ocp_cfg *c, const split *const *sp, size_t n_sp,
                        ocp_seq *s, ocp_run *runs, uint64_t *seed_used, redraws *rd, char *err,
                        size_t errlen) {
    memset(s, 0, sizeof *s);
    s->c = *c;
    s->N = fa->N;
    if (ocp_cfg_finish(&s->c, err, errlen) != 0) return -1;
    size_t made = 0;
    int rc = ocp_seq_alloc(s);
    for (; rc == 0 && made < n_sp; made++) {
        ocp_seq view = *s; /* a split over a prefix sees N = its tokens */
        view.N = split_tokens(sp[made]);
        rc = ocp_run_alloc(&runs[made], &view, sp[made]->T, sp[made]->n);
    }
    if (rc != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (ocp_seq_table(s, err, errlen) != 0) goto fail;
    int structured = fa->kind == K_TIES_FP8 || fa->kind == K_TIES_FP4;
    for (uint64_t a = 0; a < (structured ? 64 : 1); a++) {
        ox_rng r;
        *seed_used = fa->seed + a;
        ox_rng_seed(&r, *seed_used);
        draw_all(s, &r);
        if (fa->kind == K_NONFINITE) {
            s->x[5 * s->c.dim + 17] = F32_NAN;  /* token 5: every projection NaN */
            s->x[13 * s->c.dim + 3] = F32_PINF; /* token 13: every projection +-Inf */
        }
        if (structured) same_channels(s);
        if (fa->kind == K_TIES_FP8) ties_fp8_norm(s, &r);
        if (fa->kind == K_TIES_FP4) ties_fp4_norm(s);
        ocp_seq_project(s, 0, s->c.coff * s->c.d);
        if (settle(s, runs, n_sp, &r, rd, !structured, err, errlen) == 0) {
            if (splits_agree(s, runs, n_sp)) return 0;
            snprintf(err, errlen, "the splits of one sequence give an entry different bits");
            goto fail;
        }
    }
fail:
    for (size_t i = 0; i < made; i++) ocp_run_free(&runs[i]);
    ocp_seq_free(s);
    return -1;
}

/* ---- the shipped cases ------------------------------------------------------------------- */
enum { F_W1, F_W2, F_CSA, F_D512, F_HCA8, F_HCA128, F_INDEXER, F_NONE, F_NONFINITE, F_TIES8,
       F_TIES4 };

static const family FAMILIES[] = {
    /* the worked cases: the seed is the index of the table in compressor_selftest.c */
    [F_W1] = {2, 4, 2, OCP_NONE, 4, 0, K_WORKED,
              "worked case W1 of spec/compressor.md §10: ratio 2 (no overlap), dim 2, head_dim "
              "4, rope_dim 2, quant none, small dyadic inputs"},
    [F_W2] = {2, 2, 4, OCP_NONE, 8, 1, K_WORKED,
              "worked case W2 of spec/compressor.md §10: ratio 4 (overlapping windows), dim 2, "
              "head_dim 2, rope_dim 2, quant none, small dyadic inputs"},
    [F_CSA] = {64, 128, 4, OCP_FP8, 18, 2100, K_RANDOM,
               "CSA: ratio 4 (overlapping windows), fp8, dim 64, head_dim 128 (64 + 64 rope)"},
    [F_D512] = {32, 512, 4, OCP_FP8, 12, 2110, K_RANDOM,
                "CSA with V4's head_dim 512 (448 + 64 rope), ratio 4, fp8, dim 32"},
    [F_HCA8] = {64, 128, 8, OCP_FP8, 25, 2120, K_RANDOM,
                "the HCA path at ratio 8 (no overlap), fp8, dim 64, head_dim 128"},
    [F_HCA128] = {32, 512, 128, OCP_FP8, 129, 2130, K_RANDOM,
                  "HCA: ratio 128, V4's head_dim 512, fp8, dim 32"},
    [F_INDEXER] = {64, 128, 4, OCP_FP4, 14, 2140, K_RANDOM,
                   "the indexer's compressor: ratio 4, head_dim 128, hadamard_fp4, dim 64"},
    [F_NONE] = {64, 128, 4, OCP_NONE, 12, 2150, K_RANDOM,
                "quant none (V4-Flash's release-day code): ratio 4, head_dim 128, dim 64"},
    [F_NONFINITE] = {64, 128, 4, OCP_FP8, 20, 2160, K_NONFINITE,
                     "CSA fp8, dim 64, head_dim 128; x of token 5 holds a NaN, x of token 13 "
                     "a +Inf"},
    [F_TIES8] = {16, 192, 4, OCP_FP8, 12, 2170, K_TIES_FP8,
                 "CSA fp8, head_dim 192 (128 + 64 rope), dim 16; every channel of an entry "
                 "equal, so norm.y = +-w.norm"},
    [F_TIES4] = {16, 128, 4, OCP_FP4, 12, 2180, K_TIES_FP4,
                 "the indexer's compressor, dim 16; every channel of an entry equal, so "
                 "norm.y = +-w.norm = +-(21.25, 7.09375, 0, ...)"},
};
#define N_FAMILIES (sizeof FAMILIES / sizeof FAMILIES[0])

static const split SPLITS[] = {
    {"worked_w1", F_W1, 0, {0}, "calls of 1, 2 and 1 tokens"},
    {"worked_w2", F_W2, 0, {0}, "calls of 3, 0, 2 and 3 tokens"},
    {"csa_stream", F_CSA, 10, {6, 1, 1, 1, 1, 1, 1, 1, 0, 5},
     "a prefill of 6 tokens (entry 0), decode steps at positions 6 to 12 (entries 1 and 2 at "
     "7 and 11), an empty call, a chunk of 5 (entry 3 at 15)"},
    {"csa_prefill", F_CSA, 1, {18},
     "the 18 tokens of csa_stream as one prefill: its quant.y rows are csa_stream's, bit for "
     "bit"},
    {"csa_short_calls", F_CSA, 7, {0, 1, 2, 0, 1, 1, 3},
     "the first 8 tokens of csa_stream in calls of 0, 1, 2, 0, 1, 1, 3 tokens: first calls "
     "shorter than the ratio emit nothing, empty calls leave the state as it is"},
    {"csa_len1", F_CSA, 1, {1}, "a sequence of 1 token (no entry)"},
    {"csa_len3", F_CSA, 1, {3}, "a sequence of 3 tokens (no entry)"},
    {"csa_len4", F_CSA, 1, {4}, "a sequence of 4 tokens (entry 0)"},
    {"csa_len5", F_CSA, 1, {5}, "a sequence of 5 tokens (entry 0, one token left in the state)"},
    {"csa_d512", F_D512, 5, {8, 1, 1, 1, 1}, "a prefill of 8 tokens, then 4 decode steps"},
    {"hca8_stream", F_HCA8, 5, {5, 3, 1, 7, 9},
     "calls of 5, 3, 1, 7 and 9 tokens (entries at 7, 15 and 23)"},
    {"hca128_stream", F_HCA128, 3, {127, 1, 1},
     "a prefill of 127 tokens (no entry), then decode steps at 127 (entry 0) and 128: "
     "sequences of 127, 128 and 129 tokens"},
    {"indexer_stream", F_INDEXER, 4, {7, 1, 1, 5},
     "a prefill of 7 tokens, 2 decode steps, a chunk of 5"},
    {"indexer_prefill", F_INDEXER, 1, {14}, "the 14 tokens of indexer_stream as one prefill"},
    {"quant_none", F_NONE, 4, {9, 1, 1, 1}, "a prefill of 9 tokens, 3 decode steps"},
    {"nonfinite", F_NONFINITE, 5, {10, 1, 1, 2, 6},
     "NaN projections in token 5 make entries 1 and 2 NaN (its block and the next); +-Inf "
     "projections in token 13 make entries 3 and 4 NaN (+Inf logits, and -Inf logits whose "
     "weight 0 meets an infinite kv); NaN and Inf rows travel in the state"},
    {"ties_fp8", F_TIES8, 5, {5, 1, 1, 1, 4},
     "FP8 ties after the norm: tile 0 with amax 448*2^-8 exactly, ties 232, 248, 17, 19, 1.0625 "
     "and 1.1875, the subnormal ties 0.5, 1.5, 2.5, 3.5 and 7.5 (*2^-9) at its scale; tile 1 with "
     "amax one bf16 above (scale 2^-7) and ties 200, 216, 136, 152; both signs"},
    {"ties_fp4", F_TIES4, 5, {5, 1, 1, 1, 4},
     "FP4 ties after the Hadamard rotation: every output is +-2.5 or +-1.25, every tile has "
     "scale 2^-1 and every element is a tie (5 -> 4, 2.5 -> 2)"},
};
#define N_CASES (sizeof SPLITS / sizeof SPLITS[0])

static ocp_cfg family_cfg(const family *fa) {
    ocp_cfg c = {fa->dim, fa->d, fa->r, 1, fa->quant, 0x358637BDu, /* fp32(1e-6) */
                 {64, 160000.0, 16.0, 65536, 32.0, 1.0, 0}};       /* V4's compressing table */
    return c;
}

static const char *case_name(size_t i) { return SPLITS[i].name; }

/* A worked case: its inputs and split from the table; every margin must
 * hold as it is (nothing is redrawn). */
static int build_worked(size_t i, og_file *f, char *err, size_t errlen) {
    const family *fa = &FAMILIES[SPLITS[i].family];
    split sp = SPLITS[i];
    ocp_seq s;
    ocp_run run = {0, NULL};
    redraws rd;
    if (ocp_worked_seq((size_t)fa->seed, &s, &sp.n, sp.T, err, errlen) != 0) return -1;
    int rc = ocp_run_alloc(&run, &s, sp.T, sp.n);
    if (rc != 0) snprintf(err, errlen, "out of memory");
    if (rc == 0) rc = settle(&s, &run, 1, NULL, &rd, 0, err, errlen);
    char desc[600];
    snprintf(desc, sizeof desc, "%s: %s; every margin holds.", fa->what, sp.what);
    if (rc == 0) rc = ocp_write(f, sp.name, 0, desc, &s, &run, err, errlen);
    ocp_run_free(&run);
    ocp_seq_free(&s);
    return rc;
}

static int build_case(size_t i, og_file *f, char *err, size_t errlen) {
    const family *fa = &FAMILIES[SPLITS[i].family];
    if (fa->kind == K_WORKED) return build_worked(i, f, err, errlen);
    const split *sp[N_CASES];
    size_t n_sp = 0, me = 0;
    for (size_t j = 0; j < N_CASES; j++) /* every split of the family: the margins hold in all */
        if (SPLITS[j].family == SPLITS[i].family) {
            if (j == i) me = n_sp;
            sp[n_sp++] = &SPLITS[j];
        }
    ocp_seq s;
    ocp_run runs[N_CASES];
    uint64_t seed;
    redraws rd;
    ocp_cfg c = family_cfg(fa);
    if (build_family(fa, &c, sp, n_sp, &s, runs, &seed, &rd, err, errlen) != 0) return -1;
    char desc[1200], how[200];
    redraws_text(&rd, how, sizeof how);
    snprintf(desc, sizeof desc, "%s: %s; exact-grid data (x on 2^-5, weights on 2^-%d), %s%s.",
             fa->what, SPLITS[i].what, grid_qw(fa->dim), how,
             seed != fa->seed ? " (the seeds before this one lacked a margin)" : "");
    int rc = ocp_write(f, SPLITS[i].name, seed, desc, &s, &runs[me], err, errlen);
    for (size_t j = 0; j < n_sp; j++) ocp_run_free(&runs[j]);
    ocp_seq_free(&s);
    return rc;
}

/* ---- oracle gen -------------------------------------------------------------------------- */
static int gen(const dsv4_json *config, uint64_t seed, const char *case_name_,
               const og_shape *shape, og_file *f, char *err, size_t errlen) {
    const char *q = dsv4_json_get(config, "quant")->string;
    ocp_cfg c = {(size_t)dsv4_json_get(config, "dim")->u,
                 (size_t)dsv4_json_get(config, "head_dim")->u,
                 (size_t)dsv4_json_get(config, "ratio")->u,
                 1,
                 strcmp(q, "fp8") == 0            ? OCP_FP8
                 : strcmp(q, "hadamard_fp4") == 0 ? OCP_FP4
                                                  : OCP_NONE,
                 0,
                 {(size_t)dsv4_json_get(config, "rope_dim")->u,
                  dsv4_json_get(config, "base")->number, dsv4_json_get(config, "factor")->number,
                  dsv4_json_get(config, "original_seq_len")->u,
                  dsv4_json_get(config, "beta_fast")->number,
                  dsv4_json_get(config, "beta_slow")->number, 0}};
    mpfr_t e;
    mpfr_init(e);
    mpfr_set_d(e, dsv4_json_get(config, "norm_eps")->number, MPFR_RNDN);
    c.eps = ox_round_f32(e);
    mpfr_clear(e);
    family fa = {c.dim, c.d, c.r, c.quant, 3 * c.r + 2, seed, K_RANDOM, ""};
    if (shape && shape->rank >= 1) fa.N = shape->dim[0];
    size_t K = shape && shape->rank == 2 ? shape->dim[1] : 3;
    if (K > MAX_CALLS || K > fa.N + 1 || fa.N * c.dim > (1u << 22)) {
        snprintf(err, errlen, "shape is N (tokens) or NxK (K <= %d calls: a prefill of N-K+1 "
                 "tokens, then single tokens), N*dim at most 2^22", MAX_CALLS);
        return -1;
    }
    split sp = {case_name_, 0, K, {0}, ""};
    sp.T[0] = fa.N - (K - 1);
    for (size_t k = 1; k < K; k++) sp.T[k] = 1;
    const split *spp = &sp;
    ocp_seq s;
    ocp_run run;
    uint64_t used;
    redraws rd;
    if (build_family(&fa, &c, &spp, 1, &s, &run, &used, &rd, err, errlen) != 0) return -1;
    char desc[600], how[200];
    redraws_text(&rd, how, sizeof how);
    snprintf(desc, sizeof desc,
             "compressor on %zu random tokens in %zu call(s), a prefill of %zu then single "
             "tokens (oracle gen); exact-grid data (x on 2^-5, weights on 2^-%d), %s.",
             fa.N, K, sp.T[0], grid_qw(c.dim), how);
    int rc = ocp_write(f, case_name_, used, desc, &s, &run, err, errlen);
    ocp_run_free(&run);
    ocp_seq_free(&s);
    return rc;
}

const og_op og_op_compressor = {
    .name = "compressor",
    .n_cases = N_CASES,
    .case_name = case_name,
    .build_case = build_case,
    .gen = gen,
    .selftest = ocp_selftest,
};
