/* test_indexer.c - the lightning indexer (spec/indexer.md): each stage
 * against its definition, the causal visibility, the tie rule, the offsets,
 * a whole call against its stages, opt against ref on every ISA and thread
 * count, the trap tests of §8, bad input. */
#include <criterion/criterion.h>

#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* dim 32, q_lora 128, 2 heads of 64 channels (16 rotated), ratio 4, top 3. */
static dsv4_indexer_cfg small_cfg(void) {
    dsv4_indexer_cfg c = {.dim = 32, .q_lora = 128, .n_heads = 2, .head_dim = 64, .ratio = 4,
                          .topk = 3, .window = 8, .act_fp8 = 1, .rope = DSV4_ROPE_V4_COMPRESS};
    c.rope.rope_dim = 16;
    return c;
}

/* k/32, |k| <= 16: bf16 values whose products and short sums are exact. */
static void fill_dyadic(float *x, size_t n, unsigned seed) {
    unsigned s = seed * 2654435761u + 777u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((int)(s >> 27) - 16) / 32.0f;
    }
}

/* FP4 values (what the indexer's keys are): codes times 2^-2. */
static void fill_fp4(float *x, size_t n, unsigned seed) {
    static const float grid[8] = {0.0f, 0.5f, 1.0f, 1.5f, 2.0f, 3.0f, 4.0f, 6.0f};
    unsigned s = seed * 2246822519u + 3u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = grid[(s >> 24) & 7] * ((s >> 31) ? -0.25f : 0.25f);
    }
}

typedef struct world {
    dsv4_indexer_cfg cfg;
    float *wq_b, *wp, *qr, *x, *k;
    dsv4_indexer_weights w;
    size_t T, E;
} world;

static world make_world(size_t T, size_t E, unsigned seed) {
    world m;
    m.cfg = small_cfg();
    m.T = T;
    m.E = E;
    size_t H = m.cfg.n_heads, hd = m.cfg.head_dim;
    m.wq_b = malloc(H * hd * m.cfg.q_lora * sizeof(float));
    m.wp = malloc(H * m.cfg.dim * sizeof(float));
    m.qr = malloc((T + 1) * m.cfg.q_lora * sizeof(float));
    m.x = malloc((T + 1) * m.cfg.dim * sizeof(float));
    m.k = malloc((E + 1) * hd * sizeof(float));
    cr_assert(m.wq_b && m.wp && m.qr && m.x && m.k);
    fill_dyadic(m.wq_b, H * hd * m.cfg.q_lora, seed);
    fill_dyadic(m.wp, H * m.cfg.dim, seed + 1);
    fill_dyadic(m.qr, T * m.cfg.q_lora, seed + 2);
    fill_dyadic(m.x, T * m.cfg.dim, seed + 3);
    fill_fp4(m.k, E * hd, seed + 4);
    m.w = (dsv4_indexer_weights){m.wq_b, m.wp};
    return m;
}

static void free_world(world *m) {
    free(m->wq_b);
    free(m->wp);
    free(m->qr);
    free(m->x);
    free(m->k);
}

/* ---- the stages ---------------------------------------------------------------------------- */
/* The query heads of m after (I1)-(I4): q [T, H, hd]. */
static float *query_heads(const world *m, int64_t pos) {
    size_t n = m->T * m->cfg.n_heads * m->cfg.head_dim;
    float *q = malloc((n + 1) * sizeof *q);
    cr_assert_eq(dsv4_ref_indexer_project(&m->cfg, &m->w, m->T, m->qr, q), DSV4_OK);
    for (int s = DSV4_INDEXER_ROPE; s <= DSV4_INDEXER_QUANT; s++)
        cr_assert_eq(dsv4_indexer_query(&m->cfg, (dsv4_indexer_query_stage)s, pos, m->T, q, q),
                     DSV4_OK);
    return q;
}

/* Traps: ReLU missing, the weight factor missing and no causal mask all
 * move the scores away from this definition. */
Test(indexer, scores_match_their_definition) {
    world m = make_world(9, 5, 1);
    size_t H = m.cfg.n_heads, hd = m.cfg.head_dim, T = m.T, E = m.E;
    float *q = query_heads(&m, 0), wts[9 * 2], s[9 * 5];
    cr_assert_eq(dsv4_ref_indexer_weights(&m.cfg, &m.w, T, m.x, wts), DSV4_OK);
    float c = dsv4_indexer_weight_scale(&m.cfg); /* (64 * 2)^-1/2 */
    cr_expect_eq(c, (float)(1.0 / sqrt(128.0)));
    for (size_t t = 0; t < T; t++)
        for (size_t h = 0; h < H; h++) {
            double proj = 0.0;
            for (size_t i = 0; i < m.cfg.dim; i++) proj += (double)m.x[t * m.cfg.dim + i] * m.wp[h * m.cfg.dim + i];
            cr_expect_eq(wts[t * H + h], dsv4_round_bf16(dsv4_round_bf16((float)proj) * c));
        }
    cr_assert_eq(dsv4_ref_indexer_scores(&m.cfg, 0, T, E, q, m.k, wts, s), DSV4_OK);
    int negative_dots = 0;
    for (size_t t = 0; t < T; t++)
        for (size_t e = 0; e < E; e++) {
            if ((e + 1) * m.cfg.ratio > t + 1) {
                cr_expect(isinf(s[t * E + e]) && s[t * E + e] < 0, "t %zu e %zu visible", t, e);
                continue;
            }
            double sum = 0.0;
            for (size_t h = 0; h < H; h++) {
                double dot = 0.0;
                for (size_t i = 0; i < hd; i++) dot += (double)q[(t * H + h) * hd + i] * m.k[e * hd + i];
                negative_dots += dot < 0.0;
                float sb = dsv4_round_bf16_d(dot);
                sum += (double)dsv4_round_bf16_d((sb > 0 ? sb : 0.0f) * (double)wts[t * H + h]);
            }
            cr_expect_eq(s[t * E + e], dsv4_round_bf16_d(sum), "t %zu e %zu", t, e);
        }
    cr_expect(negative_dots > 0, "the data never exercise the ReLU");
    free(q);
    free_world(&m);
}

/* Trap: RoPE on the first rope_dim channels of a head. */
Test(indexer, rope_turns_the_last_channels_of_each_head) {
    world m = make_world(3, 1, 2);
    size_t H = m.cfg.n_heads, hd = m.cfg.head_dim, rd = m.cfg.rope.rope_dim, n = 3 * H * hd;
    float *q = malloc(n * sizeof *q), *r = malloc(n * sizeof *r);
    cr_assert_eq(dsv4_ref_indexer_project(&m.cfg, &m.w, 3, m.qr, q), DSV4_OK);
    cr_assert_eq(dsv4_indexer_query(&m.cfg, DSV4_INDEXER_ROPE, 5, 3, q, r), DSV4_OK);
    for (size_t row = 0; row < 3 * H; row++) {
        cr_expect_eq(memcmp(q + row * hd, r + row * hd, (hd - rd) * sizeof(float)), 0);
        cr_expect_neq(memcmp(q + row * hd + hd - rd, r + row * hd + hd - rd, rd * sizeof(float)),
                      0);
    }
    free(q);
    free(r);
    free_world(&m);
}

/* ---- selection ------------------------------------------------------------------------------- */
/* Traps: ties by the higher index; a NaN ranked last; the prefill offset in
 * decode; invisible entries selected. */
Test(indexer, ties_visibility_padding_and_offsets) {
    dsv4_indexer_cfg c = small_cfg();
    c.topk = 4;
    enum { E = 6 };
    /* query 0 (position 0) sees no entry; query 11 (position 11) sees e < 3 */
    float s[2 * E] = {1.0f, 2.0f, 2.0f, 3.0f, 0.5f, 0.5f,   /* row 0: nothing visible */
                      2.0f, NAN, 2.0f, 9.0f, 9.0f, 9.0f};   /* row 1: e < 3 visible */
    int32_t idx[2 * 4], kv[2 * 4];
    /* two rows as if at positions 0 and 11: run them one at a time */
    cr_assert_eq(dsv4_ref_indexer_topk(&c, 0, 1, E, s, idx, kv), DSV4_OK);
    for (int j = 0; j < 4; j++) cr_expect_eq(idx[j], -1);
    cr_assert_eq(dsv4_ref_indexer_topk(&c, 11, 1, E, s + E, idx, kv), DSV4_OK);
    int32_t want[4] = {1, 0, 2, -1}; /* NaN first, then the 2.0 tie by lower index, pad */
    for (int j = 0; j < 4; j++) {
        cr_expect_eq(idx[j], want[j], "position %d", j);
        cr_expect_eq(kv[j], want[j] < 0 ? -1 : want[j] + 8, "decode offset is the window");
    }
    /* prefill (pos 0): offset T */
    float p[3 * E];
    for (int i = 0; i < 3 * E; i++) p[i] = (float)(i % 5);
    int32_t pidx[3 * 4], pkv[3 * 4];
    cr_assert_eq(dsv4_ref_indexer_topk(&c, 0, 3, E, p, pidx, pkv), DSV4_OK);
    for (int i = 0; i < 12; i++) cr_expect_eq(pkv[i], pidx[i] < 0 ? -1 : pidx[i] + 3);
    cr_expect_eq(dsv4_indexer_width(&c, 2), 2);
    cr_expect_eq(dsv4_indexer_width(&c, 9), 4);
    /* the order itself */
    cr_expect(dsv4_indexer_before(2.0f, 1, 2.0f, 2));
    cr_expect(!dsv4_indexer_before(2.0f, 2, 2.0f, 1));
    cr_expect(dsv4_indexer_before(NAN, 5, INFINITY, 0));
    cr_expect(dsv4_indexer_before(-0.0f, 0, 0.0f, 1), "zeros tie as values");
}

/* ---- whole calls ------------------------------------------------------------------------------ */
/* The whole call equals its stages, across the 64-token chunks it works in. */
static void check_whole(dsv4_status (*whole)(const dsv4_indexer_cfg *, const dsv4_indexer_weights *,
                                             int64_t, size_t, size_t, const float *,
                                             const float *, const float *, int32_t *, int32_t *),
                        int64_t pos, size_t T, size_t E) {
    world m = make_world(T, E, 7);
    size_t K = dsv4_indexer_width(&m.cfg, E), H = m.cfg.n_heads;
    float *q = query_heads(&m, pos), *wts = malloc(T * H * sizeof(float));
    float *s = malloc((T * E + 1) * sizeof(float));
    int32_t *idx = malloc((T * K + 1) * sizeof(int32_t)), *kv = malloc((T * K + 1) * sizeof(int32_t));
    int32_t *idx2 = malloc((T * K + 1) * sizeof(int32_t)), *kv2 = malloc((T * K + 1) * sizeof(int32_t));
    cr_assert_eq(dsv4_ref_indexer_weights(&m.cfg, &m.w, T, m.x, wts), DSV4_OK);
    cr_assert_eq(dsv4_ref_indexer_scores(&m.cfg, pos, T, E, q, m.k, wts, s), DSV4_OK);
    cr_assert_eq(dsv4_ref_indexer_topk(&m.cfg, pos, T, E, s, idx, kv), DSV4_OK);
    cr_assert_eq(whole(&m.cfg, &m.w, pos, T, E, m.qr, m.x, m.k, idx2, kv2), DSV4_OK);
    cr_expect_eq(memcmp(idx, idx2, T * K * sizeof(int32_t)), 0, "pos %ld T %zu E %zu", (long)pos,
                 T, E);
    cr_expect_eq(memcmp(kv, kv2, T * K * sizeof(int32_t)), 0);
    free(q);
    free(wts);
    free(s);
    free(idx);
    free(kv);
    free(idx2);
    free(kv2);
    free_world(&m);
}

Test(indexer, whole_call_equals_its_stages) {
    check_whole(dsv4_ref_indexer, 0, 70, 17);   /* prefill across a chunk boundary */
    check_whole(dsv4_ref_indexer, 123, 1, 31);  /* decode */
    check_whole(dsv4_ref_indexer, 3, 5, 2);     /* fewer entries than topk */
}

/* With exact data (dyadic inputs and weights, FP4 keys) every projection is
 * exact, so opt gives ref's bits on every ISA and thread count. */
Test(indexer, opt_equals_ref_every_isa_and_thread_count) {
    for (int isa = 0; isa < DSV4_ISA_COUNT; isa++) {
        if (!dsv4_isa_supported((dsv4_isa)isa)) continue;
        cr_assert_eq(dsv4_isa_set((dsv4_isa)isa), DSV4_OK);
        for (int th = 1; th <= 3; th += 2) {
            cr_assert_eq(dsv4_threads_set(th), DSV4_OK);
            check_whole(dsv4_opt_indexer, 0, 70, 17);
            check_whole(dsv4_opt_indexer, 123, 1, 31);
        }
    }
}

/* ---- bad input --------------------------------------------------------------------------------- */
Test(indexer, bad_input_is_a_status) {
    world m = make_world(2, 3, 5);
    int32_t idx[8], kv[8];
    dsv4_indexer_cfg bad = m.cfg;
    bad.head_dim = 48;
    cr_expect_eq(dsv4_ref_indexer(&bad, &m.w, 0, 2, 3, m.qr, m.x, m.k, idx, kv), DSV4_E_ARG);
    bad = m.cfg;
    bad.q_lora = 100; /* act_fp8 needs multiples of 128 */
    cr_expect_eq(dsv4_opt_indexer(&bad, &m.w, 0, 2, 3, m.qr, m.x, m.k, idx, kv), DSV4_E_ARG);
    bad = m.cfg;
    bad.rope.rope_dim = 128;
    cr_expect_eq(dsv4_ref_indexer(&bad, &m.w, 0, 2, 3, m.qr, m.x, m.k, idx, kv), DSV4_E_ARG);
    cr_expect_eq(dsv4_ref_indexer(&m.cfg, &m.w, -1, 2, 3, m.qr, m.x, m.k, idx, kv), DSV4_E_ARG);
    cr_expect_eq(dsv4_ref_indexer(&m.cfg, &m.w, INT32_MAX, 2, 3, m.qr, m.x, m.k, idx, kv),
                 DSV4_E_OVERFLOW);
    cr_expect_eq(dsv4_ref_indexer(&m.cfg, NULL, 0, 2, 3, m.qr, m.x, m.k, idx, kv), DSV4_E_NULL);
    cr_expect_eq(dsv4_ref_indexer(&m.cfg, &m.w, 0, 2, 3, m.qr, m.x, NULL, idx, kv), DSV4_E_NULL);
    cr_expect_eq(dsv4_ref_indexer(&m.cfg, &m.w, 0, 2, 0, NULL, NULL, NULL, NULL, NULL), DSV4_OK,
                 "no entry: an empty list");
    cr_expect_eq(dsv4_indexer_query(&m.cfg, (dsv4_indexer_query_stage)9, 0, 1, m.k, m.k),
                 DSV4_E_ARG);
    dsv4_indexer_cfg huge = m.cfg;
    huge.n_heads = SIZE_MAX / 64;
    cr_expect_eq(dsv4_indexer_check(&huge), DSV4_E_OVERFLOW);
    free_world(&m);
}
