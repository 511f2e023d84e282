/* sparse_attn_cases.c - the shipped sparse attention cases, `oracle gen`
 * for sparse_attn, the self test against the worked values of
 * spec/sparse_attn.md §6, and the og_op (spec/golden.md §6h). */
#include "sparse_attn_oracle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F32_NAN 0x7FC00000u
#define F32_PINF 0x7F800000u
#define F32_NINF 0xFF800000u

static int oom(char *err, size_t errlen) {
    snprintf(err, errlen, "out of memory");
    return -1;
}

static int case_alloc(oa_case *c) {
    c->q = calloc(c->T * c->H * c->D + 1, sizeof *c->q);
    c->kv = calloc(c->N * c->D + 1, sizeof *c->kv);
    c->sink = calloc(c->H + 1, sizeof *c->sink);
    c->idx = calloc(c->T * c->K + 1, sizeof *c->idx);
    return c->q && c->kv && c->sink && c->idx ? 0 : -1;
}

static void case_free(oa_case *c) {
    free(c->q);
    free(c->kv);
    free(c->sink);
    free(c->idx);
}

/* fp32 bits of RN32(d^-1/2): V4's scale (spec/sparse_attn.md §1). */
static uint32_t default_scale(size_t d) {
    mpfr_t v;
    mpfr_init(v);
    mpfr_set_ui(v, (unsigned long)d, MPFR_RNDN);
    mpfr_rec_sqrt(v, v, MPFR_RNDN);
    uint32_t u = ox_round_f32(v);
    mpfr_clear(v);
    return u;
}

/* A sink: an fp32 value with 24 random bits, uniform in [-2, 2). */
static uint32_t sink_value(ox_rng *r) {
    return ox_f32_of_dyadic((long)ox_rng_below(r, 1u << 24) - (1L << 23), -22);
}

/* q and kv bf16 ~ N(0, 2^qe) and N(0, 1); sinks uniform in [-2, 2). */
static void random_values(oa_case *c, ox_rng *r, long qe) {
    for (size_t i = 0; i < c->T * c->H * c->D; i++) c->q[i] = ox_normal_bf16(r, qe);
    for (size_t i = 0; i < c->N * c->D; i++) c->kv[i] = ox_normal_bf16(r, 0);
    for (size_t h = 0; h < c->H; h++) c->sink[h] = sink_value(r);
}

/* Out-of-range entries of every kind. */
static int32_t out_of_range(ox_rng *r, size_t N) {
    const int32_t kinds[5] = {(int32_t)N, (int32_t)N + 7, -2, INT32_MIN, INT32_MAX};
    return kinds[ox_rng_below(r, 5)];
}

/* Index lists: about 15 % -1, 10 % out of range, the rest uniform rows
 * (repeats by chance). */
static void random_idx(oa_case *c, ox_rng *r) {
    for (size_t i = 0; i < c->T * c->K; i++) {
        uint32_t u = ox_rng_below(r, 100);
        c->idx[i] = u < 15 ? -1 : u < 25 ? out_of_range(r, c->N) : (int32_t)ox_rng_below(r, (uint32_t)c->N);
    }
}

/* q[t][h] = factor * kv[row] (exact: factor is a power of two and the
 * values stay normal). */
static void aim(oa_case *c, size_t t, size_t h, size_t row, long factor) {
    mpfr_t v;
    mpfr_init(v);
    for (size_t d = 0; d < c->D; d++) {
        ox_set_f32_bits(v, c->kv[row * c->D + d]);
        mpfr_mul_si(v, v, factor, MPFR_RNDN);
        c->q[(t * c->H + h) * c->D + d] = ox_round_f32(v);
    }
    mpfr_clear(v);
}

/* ======================================================================== */
/* shipped cases                                                             */
/* ======================================================================== */
enum { C_RANDOM, C_DUP, C_EMPTY_LIST, C_NO_KV, C_INVALID, C_SINKS, C_NONFINITE, C_PEAKED,
       C_SHARP, C_ODD, C_FLASH, N_CASES };
static const char *const case_names[N_CASES] = {
    "random", "duplicates", "empty_list", "no_kv", "invalid_rows", "sinks",
    "nonfinite", "peaked", "sharp", "odd", "v4_flash_decode"};

static const char *case_name(size_t i) { return case_names[i]; }

/* Shape of case i: T, H, D, N, K. */
static const size_t SHAPE[N_CASES][5] = {
    [C_RANDOM] = {6, 4, 64, 40, 12},    [C_DUP] = {4, 4, 64, 16, 24},
    [C_EMPTY_LIST] = {2, 2, 8, 4, 0},   [C_NO_KV] = {2, 3, 8, 0, 3},
    [C_INVALID] = {5, 3, 16, 6, 8},     [C_SINKS] = {2, 8, 32, 20, 16},
    [C_NONFINITE] = {4, 4, 16, 10, 6},  [C_PEAKED] = {4, 4, 64, 32, 16},
    [C_SHARP] = {4, 8, 64, 48, 32},     [C_ODD] = {3, 3, 17, 9, 5},
    [C_FLASH] = {1, 64, 512, 656, 640},
};

static const char *const DESC[N_CASES] = {
    [C_RANDOM] = "6 tokens, 4 heads, d 64, 40 rows, lists of 12 with -1 and out-of-range "
                 "entries (N, N+7, -2, INT32_MIN, INT32_MAX) mixed in; bf16 q, kv ~ N(0,1), "
                 "fp32 sinks in [-2, 2).",
    [C_DUP] = "repeated rows: one row 4 times among others, a list of one row 24 times, all "
              "16 rows then 8 of them again, every row twice.",
    [C_EMPTY_LIST] = "K = 0: every row empty, o = 0 and lse = -Inf, with a NaN and a +Inf sink.",
    [C_NO_KV] = "N = 0: every entry out of range (-1, 0, 5), o = 0 and lse = -Inf whatever "
                "the sink (0.5, NaN, +Inf).",
    [C_INVALID] = "lists of -1 only, of out-of-range values only, seven invalid entries then one "
                  "valid, and mixed lists; sinks NaN (o NaN, lse kept), +Inf (o = 0), 0.25.",
    [C_SINKS] = "one sink per head: +Inf, -Inf, 1e30, -1e30, 200, -200, 88.8 (exp(sink - max) "
                "overflows fp32 in V4's order) and 0, logits about N(0,1).",
    [C_NONFINITE] = "NaN and +Inf in a query head (that head's row NaN), NaN and +Inf in rows "
                    "of kv (NaN rows for the tokens that attend to them only), a NaN sink "
                    "(o NaN, lse kept), a -Inf row nobody attends to.",
    [C_PEAKED] = "a logit 60 above the rest, one 60 below, a list whose keys are equal with "
                 "logits near 128, differences of keys; sinks 0, 50, -3, 70.",
    [C_SHARP] = "queries 4 times larger: logits spread over about +-12, where rounding the "
                "logits to bf16 moves outputs far outside the tolerance.",
    [C_ODD] = "3 heads, d 17, lists of 5, scale 0.3.",
    [C_FLASH] = "V4-Flash decode: 64 heads, d 512, one token, 128 window rows in ring order "
                "then 512 distinct compressed rows of 528.",
};

static void case_inputs(size_t i, oa_case *c, ox_rng *r) {
    size_t K = c->K, N = c->N;
    random_values(c, r, i == C_SHARP ? 2 : 0);
    if (i == C_ODD) c->scale = ox_f32_of_text("0.3");
    switch (i) {
    case C_RANDOM:
    case C_SHARP:
    case C_ODD:
        random_idx(c, r);
        if (i != C_RANDOM) /* valid lists only, repeats by chance */
            for (size_t e = 0; e < c->T * K; e++) c->idx[e] = (int32_t)ox_rng_below(r, (uint32_t)N);
        break;
    case C_DUP:
        for (size_t e = 0; e < K; e++) {
            c->idx[0 * K + e] = (int32_t)ox_rng_below(r, (uint32_t)N);
            c->idx[1 * K + e] = 3;
            c->idx[2 * K + e] = (int32_t)(e < 16 ? e : (3 + 2 * (e - 16)) % 16);
            c->idx[3 * K + e] = (int32_t)(e / 2);
        }
        c->idx[0] = c->idx[7] = c->idx[8] = c->idx[20] = 5;
        break;
    case C_EMPTY_LIST:
        c->sink[0] = F32_NAN;
        c->sink[1] = F32_PINF;
        break;
    case C_NO_KV: {
        const int32_t v[3] = {-1, 0, 5};
        for (size_t e = 0; e < c->T * K; e++) c->idx[e] = v[e % 3];
        c->sink[0] = 0x3F000000u;
        c->sink[1] = F32_NAN;
        c->sink[2] = F32_PINF;
        break;
    }
    case C_INVALID:
        for (size_t e = 0; e < K; e++) {
            c->idx[0 * K + e] = -1;
            c->idx[1 * K + e] = out_of_range(r, N);
            c->idx[2 * K + e] = e + 1 < K ? -1 : 2;
            c->idx[3 * K + e] = ox_rng_below(r, 3) == 0 ? -1 : (int32_t)ox_rng_below(r, (uint32_t)N);
            c->idx[4 * K + e] = e % 2 ? -1 : (int32_t)N + (int32_t)e;
        }
        c->sink[0] = F32_NAN;
        c->sink[1] = F32_PINF;
        c->sink[2] = 0x3E800000u;
        break;
    case C_SINKS: {
        const char *s[8] = {"inf", "-inf", "1e30", "-1e30", "200", "-200", "88.8", "0"};
        for (size_t h = 0; h < 8; h++)
            c->sink[h] = h == 0 ? F32_PINF : h == 1 ? F32_NINF : ox_f32_of_text(s[h]);
        for (size_t e = 0; e < c->T * K; e++) c->idx[e] = (int32_t)ox_rng_below(r, (uint32_t)N);
        break;
    }
    case C_NONFINITE: {
        const int32_t lists[4][6] = {{0, 1, 2, 4, 6, 8}, {0, 3, 4, -1, 6, 1},
                                     {5, 1, 2, 8, -1, 9}, {0, 1, 9, -1, 8, 2}};
        memcpy(c->idx, lists, sizeof lists);
        c->kv[3 * c->D + 5] = F32_NAN;
        c->kv[5 * c->D + 2] = F32_PINF;
        c->kv[7 * c->D + 0] = F32_NINF;
        c->q[(0 * c->H + 1) * c->D + 3] = F32_NAN;
        c->q[(0 * c->H + 2) * c->D + 9] = F32_PINF;
        c->q[(3 * c->H + 0) * c->D + 0] = F32_PINF;
        c->sink[3] = F32_NAN;
        break;
    }
    case C_PEAKED:
        for (size_t e = 0; e < c->T * K; e++) c->idx[e] = (int32_t)(e % K) + (int32_t)(e / K) * 4;
        for (size_t h = 0; h < c->H; h++) {
            aim(c, 0, h, (size_t)c->idx[0 * K + 3], 8);   /* one logit about 64 */
            aim(c, 1, h, (size_t)c->idx[1 * K + 5], -8);  /* one about -64 */
            aim(c, 2, h, 19, 16);                         /* equal keys, logits about 128 */
        }
        for (size_t e = 0; e < K; e += 2) c->idx[2 * K + e] = 19 + (int32_t)(e / 2 % 8);
        for (size_t row = 20; row < 27; row++)
            memcpy(&c->kv[row * c->D], &c->kv[19 * c->D], c->D * sizeof *c->kv);
        for (size_t h = 0; h < c->H; h++) /* q = 4 (k_a - k_b), bf16 */
            for (size_t d = 0; d < c->D; d++) {
                mpfr_t a, b;
                mpfr_inits(a, b, (mpfr_ptr)0);
                ox_set_f32_bits(a, c->kv[(size_t)c->idx[3 * K + h] * c->D + d]);
                ox_set_f32_bits(b, c->kv[(size_t)c->idx[3 * K + h + 4] * c->D + d]);
                mpfr_sub(a, a, b, MPFR_RNDN);
                mpfr_mul_2si(a, a, 2, MPFR_RNDN);
                c->q[(3 * c->H + h) * c->D + d] = ox_f32_round_to_bf16_value(ox_round_f32(a));
                mpfr_clears(a, b, (mpfr_ptr)0);
            }
        c->sink[0] = 0;
        c->sink[1] = ox_f32_of_text("50");
        c->sink[2] = ox_f32_of_text("-3");
        c->sink[3] = ox_f32_of_text("70");
        break;
    case C_FLASH: {
        size_t p = 37; /* the ring slot of the newest token */
        for (size_t e = 0; e < 128; e++) c->idx[e] = (int32_t)((p + 1 + e) % 128);
        int32_t cand[528]; /* 512 distinct compressed rows of [128, 656), in random order */
        for (size_t e = 0; e < 528; e++) cand[e] = 128 + (int32_t)e;
        for (size_t e = 0; e < K - 128; e++) {
            size_t s = e + ox_rng_below(r, (uint32_t)(528 - e));
            int32_t tmp = cand[e];
            cand[e] = cand[s];
            cand[s] = tmp;
            c->idx[128 + e] = cand[e];
        }
        break;
    }
    default:
        break;
    }
}

static int build_case(size_t i, og_file *f, char *err, size_t errlen) {
    oa_case c = {SHAPE[i][0], SHAPE[i][1], SHAPE[i][2], SHAPE[i][3], SHAPE[i][4],
                 default_scale(SHAPE[i][2]), NULL, NULL, NULL, NULL};
    uint64_t seed = 2600 + i;
    ox_rng r;
    ox_rng_seed(&r, seed);
    if (case_alloc(&c) != 0) {
        case_free(&c);
        return oom(err, errlen);
    }
    case_inputs(i, &c, &r);
    int rc = oa_build(f, case_names[i], seed, DESC[i], &c, err, errlen);
    case_free(&c);
    return rc;
}

/* `oracle gen sparse_attn --shape T[xK]`: random lists over N = K + 8 rows
 * with -1 and out-of-range entries, as the `random` case. */
static int gen(const dsv4_json *config, uint64_t seed, const char *case_name_,
               const og_shape *shape, og_file *f, char *err, size_t errlen) {
    size_t T = shape && shape->rank >= 1 ? shape->dim[0] : 4;
    size_t K = shape && shape->rank == 2 ? shape->dim[1] : 16;
    oa_case c = {T, (size_t)dsv4_json_get(config, "n_heads")->u,
                 (size_t)dsv4_json_get(config, "head_dim")->u, K + 8, K, 0, NULL, NULL, NULL,
                 NULL};
    if ((double)T * (double)c.H * (double)c.D * (double)K > (double)(1u << 26)) {
        snprintf(err, errlen, "T * n_heads * head_dim * K must be at most 2^26");
        return -1;
    }
    double scale = dsv4_json_get(config, "scale")->number;
    if (scale == 0.0) {
        c.scale = default_scale(c.D);
    } else {
        mpfr_t v;
        mpfr_init(v);
        mpfr_set_d(v, scale, MPFR_RNDN);
        c.scale = ox_round_f32(v);
        mpfr_clear(v);
    }
    ox_rng r;
    ox_rng_seed(&r, seed);
    if (case_alloc(&c) != 0) {
        case_free(&c);
        return oom(err, errlen);
    }
    random_values(&c, &r, 0);
    random_idx(&c, &r);
    char desc[200];
    snprintf(desc, sizeof desc,
             "sparse_attn on %zu random tokens, %zu heads, d %zu, lists of %zu (oracle gen).", T,
             c.H, c.D, K);
    int rc = oa_build(f, case_name_, seed, desc, &c, err, errlen);
    case_free(&c);
    return rc;
}

/* ---- self test: spec/sparse_attn.md §1 and §6 ------------------------------------- */
static int selftest(void) {
    int fails = 0;
    fails += ox_check_bits("sparse_attn scale 512", default_scale(512), 0x3D3504F3u);
    fails += ox_check_bits("sparse_attn scale 64", default_scale(64), 0x3E000000u);
    fails += ox_check_bits("sparse_attn scale 3", default_scale(3), 0x3F13CD3Au);
    /* the worked case: D 4, H 2, N 3, K 5, scale 0.5 */
    uint32_t kv[12], q[16], sink[2] = {0x3F000000u, 0x40000000u};
    const float kvf[12] = {1, 2, 0, -1, 0, 1, 1, 1, 2, 0, -1, 0};
    const float qf[8] = {1, 1, 0, 0, 0, 0, 2, -2};
    int32_t idx[10] = {2, -1, 0, 3, 2, -1, 5, -7, 3, 3};
    for (int i = 0; i < 12; i++) kv[i] = ox_f32_bits(kvf[i]);
    for (int i = 0; i < 16; i++) q[i] = ox_f32_bits(qf[i % 8]);
    oa_case c = {2, 2, 4, 3, 5, 0x3F000000u, q, kv, sink, idx};
    uint32_t o[16], o_f32[16], tol[16], lse[4];
    char abs_text[64];
    if (oa_attend(&c, o, o_f32, tol, lse, abs_text, sizeof abs_text) != 0) return 1;
    const uint32_t want_o[8] = {0x3FAA0000u, 0x3F460000u, 0xBEF10000u, 0xBEC60000u,
                                0x3EC60000u, 0x3F000000u, 0xBD8B0000u, 0xBE800000u};
    const uint32_t want_f32[8] = {0x3FA9EA8Du, 0x3F466095u, 0xBEF0A4D0u, 0xBEC66095u,
                                  0x3EC5D68Cu, 0x3F005AC1u, 0xBD8AF797u, 0xBE805AC1u};
    for (int i = 0; i < 8; i++) {
        fails += ox_check_bits("sparse_attn worked o", o[i], want_o[i]);
        fails += ox_check_bits("sparse_attn worked o_f32", o_f32[i], want_f32[i]);
    }
    for (int i = 8; i < 16; i++) fails += ox_check_bits("sparse_attn empty row o", o[i], 0);
    fails += ox_check_bits("sparse_attn worked lse 0", lse[0], 0x4012D712u);
    fails += ox_check_bits("sparse_attn worked lse 1", lse[1], 0x3F9EA967u);
    fails += ox_check_bits("sparse_attn empty lse", lse[2], F32_NINF);
    return fails;
}

const og_op og_op_sparse_attn = {
    .name = "sparse_attn",
    .n_cases = N_CASES,
    .case_name = case_name,
    .build_case = build_case,
    .gen = gen,
    .selftest = selftest,
};
