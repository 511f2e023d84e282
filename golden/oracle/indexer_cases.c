/* indexer_cases.c - the shipped cases of the lightning indexer, `oracle
 * gen` for it, the self test against the worked case of spec/indexer.md
 * §9, and the og_op (spec/golden.md §6g).
 *
 * Inputs are drawn, the query side is computed exactly, and wherever a
 * bf16 rounding of (I1)-(I3) or (I5) has its exact value within its
 * tolerance of a rounding boundary, the inputs it depends on are drawn
 * again (the margin rule of spec/golden.md §5): with one token, the weight
 * row of that channel or head; with several, the token's own input (for
 * the query, the qr columns its head reads).  Every conforming
 * implementation then rounds every query and weight alike, the FP4 tiles
 * see the same values, and the scores and their ties are exact functions
 * of the inputs. */
#include "indexer.h"

#include "codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F32_NAN 0x7FC00000u
#define F32_ONE 0x3F800000u
#define MAX_REDRAWS 200000

static int oom(char *err, size_t errlen) {
    snprintf(err, errlen, "out of memory");
    return -1;
}

static int case_alloc(oi_case *in) {
    const oi_cfg *c = &in->c;
    in->wq_b = calloc(c->H * c->hd * c->q_lora + 1, sizeof(uint32_t));
    in->wp = calloc(c->H * c->dim + 1, sizeof(uint32_t));
    in->qr = calloc(in->T * c->q_lora + 1, sizeof(uint32_t));
    in->x = calloc(in->T * c->dim + 1, sizeof(uint32_t));
    in->k = calloc(in->E * c->hd + 1, sizeof(uint32_t));
    return in->wq_b && in->wp && in->qr && in->x && in->k ? 0 : -1;
}

static void case_free(oi_case *in) {
    free(in->wq_b);
    free(in->wp);
    free(in->qr);
    free(in->x);
    free(in->k);
}

/* ======================================================================== */
/* inputs                                                                    */
/* ======================================================================== */
/* Two kinds of data.  Normal: bf16 values ~ N(0, 1), weights ~ N(0, 1/n)
 * (n the input width).  Exact: the projections' results are exact bf16
 * values well away from 0, so their roundings keep a margin whatever the
 * width: positive activations of 9/8, 11/8 or 13/8 (for qr with act_fp8,
 * bf16 values that FP8 rounds to those: 1 + m/128 with m in 9..23, 41..55,
 * 73..87; the 1x128 tile's scale is then always 2^-8) and, for x, 3/4, 5/4
 * or 7/4; weight rows with min(15, width) nonzero entries, all 1/8 or all
 * -1/8 (a row of wq_b within its head's block of qr columns, below).  A
 * sum is then between 9 and 195 units of 1/64 (x: 45 to 105 units of
 * 1/32), exactly a bf16 value. */
typedef struct draw {
    ox_rng r;
    int exact_q, exact_x;
    size_t redraws;
} draw;

/* e with 2^e about n^-1/2. */
static long inv_sqrt_log2(size_t n) {
    long lg = 0;
    while (((size_t)1 << (lg + 1)) <= n) lg++;
    return -(lg + 1) / 2;
}

static uint32_t random_sign(ox_rng *r, uint32_t v) {
    return (ox_rng_next(r) >> 63) ? v | 0x80000000u : v;
}

/* A row of n entries with min(15, m) nonzeros in columns [lo, lo + m), all
 * 1/8 or all -1/8. */
static void sparse_row(ox_rng *r, uint32_t *w, size_t n, size_t lo, size_t m) {
    size_t nz = m >= 15 ? 15 : m;
    uint32_t v = random_sign(r, 0x3E000000u); /* +-1/8 */
    memset(w, 0, n * sizeof *w);
    for (size_t i = 0; i < nz; i++) {
        size_t j;
        do j = lo + ox_rng_below(r, (uint32_t)m);
        while (w[j] != 0);
        w[j] = v;
    }
}

/* Exact data: head h reads the qr columns [h B, h B + B), B = q_lora / H
 * (all of them when B = 0), so that redrawing those columns of a token
 * changes that head alone; the FP8 tile scale of exact qr is always 2^-8,
 * whatever the values. */
static size_t head_block(const oi_case *in) { return in->c.q_lora / in->c.H; }

static void draw_wq_row(oi_case *in, draw *d, size_t j) {
    size_t n = in->c.q_lora, B = head_block(in);
    uint32_t *w = &in->wq_b[j * n];
    if (d->exact_q) sparse_row(&d->r, w, n, B ? j / in->c.hd * B : 0, B ? B : n);
    else
        for (size_t i = 0; i < n; i++) w[i] = ox_normal_bf16(&d->r, inv_sqrt_log2(n));
}

static void draw_wp_row(oi_case *in, draw *d, size_t h) {
    size_t n = in->c.dim;
    uint32_t *w = &in->wp[h * n];
    if (d->exact_x) sparse_row(&d->r, w, n, 0, n);
    else
        for (size_t i = 0; i < n; i++) w[i] = ox_normal_bf16(&d->r, inv_sqrt_log2(n));
}

/* qr columns [lo, hi) of token t. */
static void draw_qr_cols(oi_case *in, draw *d, size_t t, size_t lo, size_t hi) {
    static const long unit[3] = {9, 11, 13}, m_lo[3] = {9, 41, 73};
    size_t n = in->c.q_lora;
    for (size_t i = lo; i < hi; i++) {
        uint32_t v;
        if (!d->exact_q) {
            v = ox_normal_bf16(&d->r, 0);
        } else {
            uint32_t u = ox_rng_below(&d->r, 3);
            v = in->c.act_fp8 ? ox_f32_of_dyadic(128 + m_lo[u] + ox_rng_below(&d->r, 15), -7)
                              : ox_f32_of_dyadic(unit[u], -3);
        }
        in->qr[t * n + i] = v;
    }
}

static void draw_qr(oi_case *in, draw *d, size_t t) { draw_qr_cols(in, d, t, 0, in->c.q_lora); }

static void draw_x(oi_case *in, draw *d, size_t t) {
    size_t n = in->c.dim;
    for (size_t i = 0; i < n; i++)
        in->x[t * n + i] = d->exact_x ? ox_f32_of_dyadic(3 + 2 * ox_rng_below(&d->r, 3), -2)
                                      : ox_normal_bf16(&d->r, 0);
}

/* A key as the indexer's compressor makes them: a bf16 row ~ N(0, 1)
 * fake-quantized to FP4 E2M1 in 1x32 tiles (rceil). */
static void draw_key(oi_case *in, draw *d, uint32_t *k) {
    static const oc_qcfg fp4 = {ON_E2M1, 1, 32, OC_RCEIL};
    size_t hd = in->c.hd;
    uint8_t codes[(1u << 15) / 2], scales[(1u << 15) / 32]; /* hd <= 2^15 (the registry) */
    for (size_t i = 0; i < hd; i++) k[i] = ox_normal_bf16(&d->r, 0);
    if (oc_quant(&fp4, k, 1, hd, codes, scales) == 0) oc_dequant(&fp4, codes, scales, 1, hd, k);
}

static void draw_inputs(oi_case *in, draw *d) {
    const oi_cfg *c = &in->c;
    for (size_t j = 0; j < c->H * c->hd; j++) draw_wq_row(in, d, j);
    for (size_t h = 0; h < c->H; h++) draw_wp_row(in, d, h);
    for (size_t t = 0; t < in->T; t++) {
        draw_qr(in, d, t);
        draw_x(in, d, t);
    }
    for (size_t e = 0; e < in->E; e++) draw_key(in, d, &in->k[e * c->hd]);
}

/* ======================================================================== */
/* the margin rule                                                           */
/* ======================================================================== */
static int too_many(draw *d, char *err, size_t errlen) {
    if (++d->redraws <= MAX_REDRAWS) return 0;
    snprintf(err, errlen, "no draw meets the margins after %d redraws (fewer tokens or "
                          "heads, or narrower inputs, would)", MAX_REDRAWS);
    return 1;
}

/* Query side, block (t, h) = the hd channels of head h of token t. */
static int repair_query(oi_case *in, oi_out *o, draw *d, char *err, size_t errlen) {
    size_t T = in->T, H = in->c.H, hd = in->c.hd, rd = in->c.rope.rope_dim;
    unsigned char *bad = malloc(T * H + 1);
    size_t *elem = malloc((T * H + 1) * sizeof *elem);
    if (!bad || !elem) {
        free(bad);
        free(elem);
        return oom(err, errlen);
    }
    for (size_t i = 0; i < T * H; i++)
        bad[i] = (unsigned char)oi_q_block(in, o, i / H, i % H, &elem[i]);
    int rc = 0;
    for (size_t i = 0; i < T * H && rc == 0;) {
        if (!bad[i]) {
            i++;
            continue;
        }
        if (too_many(d, err, errlen)) {
            rc = -1;
            break;
        }
        size_t t = i / H, h = i % H;
        if (T == 1) {
            /* one token: redraw the weight row of the channel (a channel
             * the rotation copies when the Hadamard transform is at fault) */
            size_t ch = elem[i];
            if (bad[i] == 3) ch = ox_rng_below(&d->r, (uint32_t)(hd > rd ? hd - rd : hd));
            draw_wq_row(in, d, h * hd + ch);
            oi_project(in, o, 0, h * hd + ch);
            oi_rope(in, o, 0, h);
            oi_rotate(in, o, 0, h);
            bad[i] = (unsigned char)oi_q_block(in, o, 0, h, &elem[i]);
        } else if (d->exact_q && head_block(in)) {
            /* several tokens, exact data: redraw the head's qr columns */
            size_t B = head_block(in);
            draw_qr_cols(in, d, t, h * B, h * B + B);
            if (oi_activation(in, o, t) != 0) {
                rc = oom(err, errlen);
                break;
            }
            for (size_t j = h * hd; j < h * hd + hd; j++) oi_project(in, o, t, j);
            oi_rope(in, o, t, h);
            oi_rotate(in, o, t, h);
            bad[i] = (unsigned char)oi_q_block(in, o, t, h, &elem[i]);
        } else {
            /* several tokens: redraw the token's qr, every head of it */
            draw_qr(in, d, t);
            if (oi_activation(in, o, t) != 0) {
                rc = oom(err, errlen);
                break;
            }
            for (size_t j = 0; j < H * hd; j++) oi_project(in, o, t, j);
            for (size_t g = 0; g < H; g++) {
                oi_rope(in, o, t, g);
                oi_rotate(in, o, t, g);
                bad[t * H + g] = (unsigned char)oi_q_block(in, o, t, g, &elem[t * H + g]);
            }
            i = t * H;
        }
    }
    free(bad);
    free(elem);
    return rc;
}

/* Head weights: one token, the head's row of weights_proj; several, the
 * token's x. */
static int repair_weights(oi_case *in, oi_out *o, draw *d, char *err, size_t errlen) {
    size_t T = in->T, H = in->c.H;
    for (size_t i = 0; i < T * H;) {
        size_t t = i / H, h = i % H;
        if (!oi_w_block(in, o, t, h)) {
            i++;
            continue;
        }
        if (too_many(d, err, errlen)) return -1;
        if (T == 1) {
            draw_wp_row(in, d, h);
            oi_weight(in, o, 0, h);
        } else {
            draw_x(in, d, t);
            for (size_t g = 0; g < H; g++) oi_weight(in, o, t, g);
            i = t * H;
        }
    }
    return 0;
}

/* Keys whose scores an fp32 implementation could round otherwise are drawn
 * again (rare: a dot product whose terms span more than fp32 holds). */
static int repair_keys(oi_case *in, oi_out *o, draw *d, char *err, size_t errlen) {
    for (size_t e = 0; e < in->E; e++)
        while (oi_score_column(in, o, e) != 0) {
            if (too_many(d, err, errlen)) return -1;
            draw_key(in, d, &in->k[e * in->c.hd]);
        }
    return 0;
}

/* ======================================================================== */
/* crafted keys                                                              */
/* ======================================================================== */
/* The rank order of spec/indexer.md §4.4 over the scores of query 0. */
static const uint32_t *g_scores;
static int64_t score_key(uint32_t s) {
    if (ox_f32_is_nan(s)) return INT64_MAX;
    int64_t m = (int64_t)(s & 0x7FFFFFFFu);
    return (s >> 31) ? -m : m;
}
static int by_score(const void *pa, const void *pb) {
    size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
    int64_t ka = score_key(g_scores[a]), kb = score_key(g_scores[b]);
    if (ka != kb) return ka > kb ? -1 : 1;
    return a < b ? -1 : a > b;
}

static void rank_entries(const oi_out *o, size_t E, size_t *order) {
    for (size_t e = 0; e < E; e++) order[e] = e;
    g_scores = o->scores;
    qsort(order, E, sizeof *order, by_score);
}

/* Exact ties (one query): the key at rank K + 1 becomes a copy of the key at
 * the K-th place, so two entries tie exactly across the cut; the key at rank
 * 2 a copy of the first, a tie inside the list. */
static int tie_keys(oi_case *in, oi_out *o, char *err, size_t errlen) {
    size_t E = in->E, K = o->K, hd = in->c.hd, order[64];
    if (E > 64 || K + 2 > E || K < 3) {
        snprintf(err, errlen, "tie case needs 3 <= K, K + 2 <= E <= 64");
        return -1;
    }
    rank_entries(o, E, order);
    memcpy(&in->k[order[K + 1] * hd], &in->k[order[K - 1] * hd], hd * sizeof *in->k);
    memcpy(&in->k[order[1] * hd], &in->k[order[0] * hd], hd * sizeof *in->k);
    oi_scores(in, o);
    rank_entries(o, E, order);
    if (o->scores[order[K - 1]] != o->scores[order[K]] ||
        o->scores[order[0]] != o->scores[order[1]] || o->scores[order[1]] == o->scores[order[2]]) {
        snprintf(err, errlen, "the crafted ties did not land at the cut");
        return -1;
    }
    return 0;
}

/* Near ties (one query): from a pool of random keys, the L keys of the
 * highest run of L consecutive bf16 scores, one ulp apart, placed at
 * shuffled entries so that the cut falls inside the run (L >= K + 2); the
 * other entries get the keys ranked next below the run. */
static int near_tie_keys(oi_case *in, oi_out *o, draw *d, size_t L, char *err, size_t errlen) {
    enum { POOL = 4096 };
    size_t hd = in->c.hd, E = in->E, K = o->K;
    uint32_t *pool = malloc((POOL * hd + 1) * sizeof *pool), *ps = malloc(POOL * sizeof *ps);
    size_t *rank = malloc(POOL * sizeof *rank), *pick = malloc((E + 1) * sizeof *pick);
    size_t *place = malloc((E + 1) * sizeof *place);
    int rc = -1;
    if (!pool || !ps || !rank || !pick || !place) {
        oom(err, errlen);
        goto done;
    }
    if (L + 1 > E || K + 2 > L) {
        snprintf(err, errlen, "near ties need K + 2 <= L < E");
        goto done;
    }
    for (size_t i = 0; i < POOL; i++) {
        int ok;
        draw_key(in, d, &pool[i * hd]);
        ps[i] = oi_score_key(in, o, 0, &pool[i * hd], &ok, NULL);
        if (!ok || ox_f32_is_nan(ps[i]) || (ps[i] & 0x7FFFFFFFu) == 0) ps[i] = 0x80000000u;
    }
    for (size_t i = 0; i < POOL; i++) rank[i] = i;
    g_scores = ps;
    qsort(rank, POOL, sizeof *rank, by_score);
    size_t n = 0, j = 0;
    for (size_t i = 0; i < POOL && n < L; i++) {
        uint32_t want = ps[rank[i]];
        if (want >> 31) break; /* only positive scores */
        n = 0;
        for (j = i; j < POOL && n < L; j++) {
            if (ps[rank[j]] == want) {
                pick[n++] = rank[j];
                want -= 0x10000u; /* one bf16 ulp down */
            } else if (ps[rank[j]] != want + 0x10000u) {
                break; /* a gap (a repeat of the last value is skipped) */
            }
        }
    }
    if (n < L) {
        snprintf(err, errlen, "no run of %zu consecutive bf16 scores in the pool", L);
        goto done;
    }
    for (; n < E && j < POOL; j++)
        if (ps[rank[j]] != 0x80000000u && ps[rank[j]] != ps[pick[n - 1]]) pick[n++] = rank[j];
    for (size_t e = 0; e < E; e++) place[e] = e;
    for (size_t e = E; e > 1; e--) {
        size_t r = ox_rng_below(&d->r, (uint32_t)e), t = place[e - 1];
        place[e - 1] = place[r];
        place[r] = t;
    }
    for (size_t e = 0; e < E; e++)
        memcpy(&in->k[place[e] * hd], &pool[pick[e] * hd], hd * sizeof *pool);
    rc = n == E ? 0 : -1;
    if (rc) snprintf(err, errlen, "the pool has too few keys below the run");
done:
    free(pool);
    free(ps);
    free(rank);
    free(pick);
    free(place);
    return rc;
}

/* All zero (one query): random keys whose dot with every head is <= 0. */
static int relu_zero_keys(oi_case *in, oi_out *o, draw *d, char *err, size_t errlen) {
    size_t hd = in->c.hd;
    for (size_t e = 0; e < in->E; e++) {
        int zero = 0, ok = 0;
        for (size_t n = 0; !(zero && ok); n++) {
            if (too_many(d, err, errlen)) return -1;
            draw_key(in, d, &in->k[e * hd]);
            oi_score_key(in, o, 0, &in->k[e * hd], &ok, &zero);
        }
    }
    return 0;
}

/* ======================================================================== */
/* the worked case (spec/indexer.md §9)                                      */
/* ======================================================================== */
/* H 1, hd 32 (the last 2 channels rotated), q_lora 1, dim 1, ratio 1, top 2,
 * window 8, act_fp8 no; one query at position 3 and 4 entries.  q is
 * (2, 1, 0, ..., 0), so RoPE turns two zeros; the Hadamard transform gives
 * 3/sqrt(32) in the even channels and 1/sqrt(32) in the odd ones, bf16
 * 0.53125 and 0.1767578125, FP4 (scale 2^-3) 0.5 and 0.1875; key e is a_e
 * in channel 0 (a = 3, -1, 5, 3), so s = a_e / 2 before ReLU. */
static const or_cfg WORKED_ROPE = {2, 10000.0, 16.0, 0, 32.0, 1.0, 0};

static void worked_inputs(oi_case *in) {
    in->wq_b[0] = 0x40000000u; /* wq_b [32, 1]: 2, 1, then zeros */
    in->wq_b[1] = F32_ONE;
    in->qr[0] = F32_ONE;
    in->x[0] = F32_ONE;
    in->wp[0] = 0x40000000u; /* 2 */
    static const uint32_t a[4] = {0x40400000u, 0xBF800000u, 0x40A00000u, 0x40400000u};
    for (size_t e = 0; e < 4; e++) in->k[e * 32] = a[e];
}

/* ======================================================================== */
/* shipped cases                                                             */
/* ======================================================================== */
static const or_cfg ROPE_V4 = {64, 160000.0, 16.0, 65536, 32.0, 1.0, 0};

/* dim 64, q_lora 128, 2 heads of 128 channels (the last 16 rotated), ratio 4,
 * top 4, window 8, act_fp8.  (With 64 channels 1/sqrt(64) is a power of two
 * and the Hadamard outputs, sums of bf16 values, fall on bf16 midpoints
 * about once in 64: too often for the margins.) */
static oi_cfg small_cfg(void) {
    oi_cfg c = {64, 128, 2, 128, 4, 4, 8, 1, ROPE_V4};
    c.rope.rope_dim = 16;
    return c;
}

enum { KEYS_RANDOM, KEYS_TIES, KEYS_NEAR, KEYS_RELU_ZERO, KEYS_WORKED };

enum { C_WORKED, C_PREFILL, C_DECODE, C_FEW, C_SEQ1, C_SEQ3, C_SEQ4, C_SEQ5, C_TIES, C_NEAR,
       C_RELU0, C_NAN, C_NO_FP8, C_FLASH, N_CASES };
static const char *const case_names[N_CASES] = {
    "worked", "prefill",  "decode",     "few_entries", "seq1", "seq3",       "seq4",
    "seq5",   "tie_kth",  "near_ties",  "relu_zero",   "nan",  "act_fp8_no", "v4_flash"};

static const char *case_name(size_t i) { return case_names[i]; }

/* The config, sizes and keys of case i; returns the start of its description. */
static const char *case_setup(size_t i, oi_case *in, int *keys) {
    in->c = small_cfg();
    in->T = 1;
    *keys = KEYS_RANDOM;
    switch (i) {
    case C_WORKED:
        in->c = (oi_cfg){1, 1, 1, 32, 1, 2, 8, 0, WORKED_ROPE};
        in->E = 4;
        in->pos = 3;
        *keys = KEYS_WORKED;
        return "The worked case of spec/indexer.md §9: one head of 32 channels, one query at "
               "position 3, four entries scoring 0.53125, 0 (ReLU), 0.8828125 and 0.53125, top "
               "2 = entries 2 and 0 (0 and 3 tie exactly at the cut), KV rows 10 and 8";
    case C_PREFILL:
        in->T = 40;
        in->E = 10;
        return "Prefill: 40 tokens at position 0 and the 10 entries they complete (dim 64, "
               "q_lora 128, 2 heads of 128 channels, rope_dim 16, ratio 4, top 4, window 8): "
               "rows 0-14 see fewer than 4 entries and end in -1, KV rows offset by T = 40";
    case C_DECODE:
        in->c.H = 4;
        in->c.rope.rope_dim = 64;
        in->c.topk = 5;
        in->c.window = 128;
        in->E = 30;
        in->pos = 122;
        return "Decode: one token at position 122 against 30 visible entries (4 heads of V4's "
               "128 channels, rope_dim 64, top 5, window 128: KV rows offset by 128)";
    case C_FEW:
        in->c.topk = 5;
        in->E = 3;
        in->pos = 13;
        return "Decode with fewer entries than top-k: one token at position 13, 3 entries, "
               "top 5, so the lists have K = 3 places";
    case C_SEQ1:
    case C_SEQ3:
    case C_SEQ4:
    case C_SEQ5: {
        static const size_t len[4] = {1, 3, 4, 5};
        in->T = len[i - C_SEQ1];
        in->E = in->T / 4;
        return in->E ? "A short prefill: the first 4 tokens complete entry 0, which only "
                       "the queries at positions 3 and on see; earlier rows are -1"
                     : "A short prefill that completes no entry: E = 0, so the scores and "
                       "the index lists have no columns";
    }
    case C_TIES:
        in->c.H = 4;
        in->E = 12;
        in->pos = 50;
        *keys = KEYS_TIES;
        return "Exact ties: 4 heads, one token at position 50, 12 entries, top 4; the key "
               "ranked 6th is a copy of the 4th (the two tie exactly across the cut, the "
               "lower index is selected) and the 2nd a copy of the 1st (a tie inside the "
               "list)";
    case C_NEAR:
        in->c.H = 4;
        in->E = 12;
        in->pos = 50;
        *keys = KEYS_NEAR;
        return "Near ties: 4 heads, one token at position 50, 12 entries, top 4; the 8 best "
               "score 8 consecutive bf16 values one ulp apart (from a pool of 4096 random "
               "keys), in shuffled entry order, so the cut separates scores one ulp apart";
    case C_RELU0:
        in->c.H = 4;
        in->E = 8;
        in->pos = 40;
        *keys = KEYS_RELU_ZERO;
        return "All scores zero: 4 heads, one token at position 40, 8 keys whose dot product with "
               "every head is <= 0, so ReLU zeroes every product and all 8 entries tie at 0 "
               "(any 4 distinct entries conform, the project's rule picks 0-3)";
    case C_NAN:
        in->T = 12;
        in->E = 3;
        return "NaN: prefill of 12 tokens, 3 entries; x of token 9 has a NaN, so its head "
               "weights and its visible scores (entries 0, 1) are NaN; key 1 has a NaN, so "
               "entry 1 scores NaN in rows 7-11; NaN ranks above every number (rows 7, 8, "
               "10 and 11 list entry 1 first) and NaNs among themselves by index (row 9: "
               "0, 1)";
    case C_NO_FP8:
        in->c = (oi_cfg){48, 96, 3, 32, 4, 3, 8, 0, ROPE_V4};
        in->c.rope.rope_dim = 16;
        in->T = 5;
        in->E = 11;
        in->pos = 37;
        return "act_fp8 no (qr used as given, q_lora 96, dim 48, 3 heads of 32 channels, top "
               "3): 5 tokens at positions 37-41 against 11 entries, rows 0-1 see 9 of them, "
               "rows 2-4 see 10, entry 10 none; KV rows offset by the window 8";
    default: /* C_FLASH */
        in->c = (oi_cfg){4096, 1024, 64, 128, 4, 512, 128, 1, ROPE_V4};
        in->E = 520;
        in->pos = 2083;
        return "V4-Flash's indexer (dim 4096, q_lora 1024, 64 heads of 128 channels, "
               "rope_dim 64, top 512, window 128): one decode token at position 2083 "
               "against 520 entries";
    }
}

/* Draws the inputs of in (sizes and config set), meets the margins,
 * crafts the keys as `keys` says, and computes every stage into o (which
 * the caller frees with oi_free, as in's arrays with case_free); nan: the
 * NaNs of C_NAN.  0, or -1 and err. */
static int compute(oi_case *in, oi_out *o, draw *d, int keys, int nan, char *err,
                   size_t errlen) {
    memset(o, 0, sizeof *o);
    /* exact data where normal data cannot meet the margins: several tokens
     * (the Hadamard transform mixes a whole head), or wide projections */
    d->exact_q = in->T > 1 || in->c.q_lora > 256;
    d->exact_x = in->c.dim > 256;
    if (case_alloc(in) != 0 || oi_alloc(in, o) != 0) return oom(err, errlen);
    if (keys == KEYS_WORKED) worked_inputs(in);
    else draw_inputs(in, d);
    if (oi_query(in, o, err, errlen) != 0 || repair_query(in, o, d, err, errlen) != 0 ||
        repair_weights(in, o, d, err, errlen) != 0)
        return -1;
    if (nan) {
        in->x[9 * in->c.dim + 3] = F32_NAN;
        for (size_t h = 0; h < in->c.H; h++) oi_weight(in, o, 9, h);
    }
    if (oi_quant(in, o) != 0) return oom(err, errlen);
    if ((keys == KEYS_RANDOM || keys == KEYS_TIES) && repair_keys(in, o, d, err, errlen) != 0)
        return -1;
    if ((keys == KEYS_TIES && tie_keys(in, o, err, errlen) != 0) ||
        (keys == KEYS_NEAR && near_tie_keys(in, o, d, 8, err, errlen) != 0) ||
        (keys == KEYS_RELU_ZERO && relu_zero_keys(in, o, d, err, errlen) != 0))
        return -1;
    if (nan) in->k[1 * in->c.hd + 5] = F32_NAN;
    return oi_finish(in, o, err, errlen);
}

static int build(og_file *f, const char *name, uint64_t seed, const char *what, oi_case *in,
                 int keys, int nan, char *err, size_t errlen) {
    oi_out o;
    draw d;
    memset(&d, 0, sizeof d);
    ox_rng_seed(&d.r, seed);
    int rc = compute(in, &o, &d, keys, nan, err, errlen);
    if (rc == 0) {
        char desc[1024];
        const char *data = keys == KEYS_WORKED ? ""
                           : d.exact_q && d.exact_x ? "; exact data (spec/golden.md §6g)"
                           : d.exact_q ? "; qr and wq_b exact (spec/golden.md §6g), x and "
                                         "weights_proj normal"
                                       : "; normal data";
        snprintf(desc, sizeof desc,
                 "%s%s; every bf16 rounding of I1-I3 and I5 lies farther than its tolerance "
                 "from a rounding boundary (%zu redraws of a weight row or a token's input, "
                 "smallest margin %#.3g times the tolerance), so the FP4 tiles, the scores "
                 "and their ties are exact functions of the inputs.",
                 what, data, d.redraws, oi_min_margin(in, &o));
        rc = oi_write(f, name, seed, desc, in, &o);
        if (rc != 0) snprintf(err, errlen, "%s", f->err);
    }
    oi_free(&o);
    case_free(in);
    return rc;
}

static int build_case(size_t i, og_file *f, char *err, size_t errlen) {
    oi_case in;
    int keys;
    memset(&in, 0, sizeof in);
    const char *what = case_setup(i, &in, &keys);
    return build(f, case_names[i], i == C_WORKED ? 0 : 2000 + i, what, &in, keys, i == C_NAN,
                 err, errlen);
}

/* ======================================================================== */
/* oracle gen                                                                */
/* ======================================================================== */
/* --shape T: a prefill of T tokens at position 0 with the T/ratio entries
 * they complete; --shape TxE: T tokens right after E complete entries
 * (position E*ratio, every entry visible); default 1 x min(topk + 8, 1024). */
static int gen(const dsv4_json *config, uint64_t seed, const char *name, const og_shape *shape,
               og_file *f, char *err, size_t errlen) {
    oi_case in;
    memset(&in, 0, sizeof in);
    oi_cfg *c = &in.c;
    c->dim = (size_t)dsv4_json_get(config, "dim")->u;
    c->q_lora = (size_t)dsv4_json_get(config, "q_lora")->u;
    c->H = (size_t)dsv4_json_get(config, "n_heads")->u;
    c->hd = (size_t)dsv4_json_get(config, "head_dim")->u;
    c->ratio = (size_t)dsv4_json_get(config, "ratio")->u;
    c->topk = (size_t)dsv4_json_get(config, "topk")->u;
    c->window = (size_t)dsv4_json_get(config, "window")->u;
    c->act_fp8 = strcmp(dsv4_json_get(config, "act_fp8")->string, "yes") == 0;
    c->rope = (or_cfg){(size_t)dsv4_json_get(config, "rope_dim")->u,
                       dsv4_json_get(config, "base")->number,
                       dsv4_json_get(config, "factor")->number,
                       dsv4_json_get(config, "original_seq_len")->u,
                       dsv4_json_get(config, "beta_fast")->number,
                       dsv4_json_get(config, "beta_slow")->number, 0};
    uint64_t T = 1, E = c->topk + 8 < 1024 ? c->topk + 8 : 1024, pos;
    if (shape) {
        T = shape->dim[0];
        E = shape->rank == 2 ? shape->dim[1] : T / c->ratio;
    }
    pos = shape && shape->rank == 1 ? 0 : E * c->ratio;
    uint64_t q = T * c->H * c->hd;
    if (pos + T > (1ull << 31) || q * c->q_lora > (1ull << 28) || q * E > (1ull << 28) ||
        T * c->dim * c->H > (1ull << 28)) {
        snprintf(err, errlen, "shape T[xE]: the positions must stay below 2^31 and each of "
                              "T*H*hd*q_lora, T*H*hd*E, T*H*dim at most 2^28");
        return -1;
    }
    in.T = (size_t)T;
    in.E = (size_t)E;
    in.pos = (int32_t)pos;
    char what[200];
    snprintf(what, sizeof what, "oracle gen: %zu token(s) at position %ld against %zu entries",
             in.T, (long)in.pos, in.E);
    return build(f, name, seed, what, &in, KEYS_RANDOM, 0, err, errlen);
}

/* ======================================================================== */
/* self test: spec/indexer.md §9                                             */
/* ======================================================================== */
static int selftest(void) {
    int fails = 0;
    /* V4's head-weight factor (spec/indexer.md §4.2) */
    fails += ox_check_bits("indexer c(64, 128)", oi_weight_scale(64, 128), 0x3C3504F3u);
    fails += ox_check_bits("indexer c(1, 32)", oi_weight_scale(1, 32), 0x3E3504F3u);
    /* the margin rule: 1 is 2^-9 from the boundary below it */
    fails += ox_check_bits("indexer margin 1, 2^-10",
                           (uint32_t)oi_margin(F32_ONE, 0x3A800000u, NULL), 1);
    fails += ox_check_bits("indexer margin 1, 2^-9",
                           (uint32_t)oi_margin(F32_ONE, 0x3B000000u, NULL), 0);
    fails += ox_check_bits("indexer margin at a midpoint",
                           (uint32_t)oi_margin(0x3F808000u, 0, NULL), 0);
    /* the worked case */
    oi_case in;
    oi_out o;
    draw d;
    int keys;
    char err[256];
    memset(&in, 0, sizeof in);
    memset(&d, 0, sizeof d);
    case_setup(C_WORKED, &in, &keys);
    if (compute(&in, &o, &d, keys, 0, err, sizeof err) != 0) {
        fprintf(stderr, "selftest FAIL indexer worked case: %s\n", err);
        fails++;
    } else {
        /* q_rotate: 3/sqrt(32) in the even channels, 1/sqrt(32) in the odd
         * ones; FP4 0.5 and 0.1875 */
        for (size_t i = 0; i < 32; i++) {
            uint32_t q = i == 0 ? 0x40000000u : i == 1 ? F32_ONE : 0u;
            fails += ox_check_bits("indexer worked q_proj", o.proj.y[i], q);
            /* channel 30: 0 cos 3 - 0 sin 3 = -0 - +0, cos 3 being negative */
            fails += ox_check_bits("indexer worked q_rope", o.rope.y[i], i == 30 ? 0x80000000u : q);
            fails += ox_check_bits("indexer worked q_rotate", o.rot.y[i],
                                   i % 2 ? 0x3E350000u : 0x3F080000u);
            fails += ox_check_bits("indexer worked q_quant", o.quant[i],
                                   i % 2 ? 0x3E400000u : 0x3F000000u);
        }
        fails += ox_check_bits("indexer worked w", o.w.y[0], 0x3EB50000u);
        static const uint32_t scores[4] = {0x3F080000u, 0u, 0x3F620000u, 0x3F080000u};
        for (size_t e = 0; e < 4; e++)
            fails += ox_check_bits("indexer worked scores", o.scores[e], scores[e]);
        static const int32_t idx[2] = {2, 0}, kv[2] = {10, 8};
        for (size_t j = 0; j < 2; j++) {
            fails += ox_check_bits("indexer worked idx", (uint32_t)o.idx[j], (uint32_t)idx[j]);
            fails += ox_check_bits("indexer worked kv", (uint32_t)o.kv[j], (uint32_t)kv[j]);
        }
    }
    oi_free(&o);
    case_free(&in);
    return fails;
}

const og_op og_op_indexer = {
    .name = "indexer",
    .n_cases = N_CASES,
    .case_name = case_name,
    .build_case = build_case,
    .gen = gen,
    .selftest = selftest,
};
