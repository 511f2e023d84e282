/* mhc_cases.c - the shipped mHC cases, `oracle gen` for the mHC operators,
 * and their og_op entries (spec/golden.md §6, spec/mhc.md). */
#include "mhc.h"

#include <stdio.h>
#include <string.h>

/* fp32 bits of small dyadic constants used by the case table */
#define F32_HALF 0x3F000000u
#define F32_ONE 0x3F800000u
#define F32_TWO 0x40000000u
#define F32_FOUR 0x40800000u

static void v4_cfg(om_cfg *c, size_t d, int iters) {
    c->hc = 4;
    c->d = d;
    c->iters = iters;
    c->hc_eps = OM_EPS_1E6;
    c->norm_eps = OM_EPS_1E6;
}

static int input_oom(char *err, size_t errlen) {
    snprintf(err, errlen, "out of memory");
    return -1;
}

/* ======================================================================== */
/* hc_pre                                                                    */
/* ======================================================================== */
enum { PRE_G1, PRE_RANDOM_D64, PRE_ODD_D, PRE_ADVERSARIAL, PRE_ITERS_1, PRE_ITERS_2,
       PRE_FLASH, N_PRE };
static const char *const pre_names[N_PRE] = {"g1",      "random_d64", "odd_d",      "adversarial",
                                             "iters_1", "iters_2",    "flash_d4096"};

static const char *pre_case_name(size_t i) { return pre_names[i]; }

/* A random hc_pre case of T tokens of width d. */
static int pre_random(om_gate_in *in, size_t d, size_t T, uint32_t s0, uint32_t s1, uint32_t s2,
                      uint64_t seed) {
    const uint32_t scale[3] = {s0, s1, s2};
    v4_cfg(&in->c, d, 20);
    in->T = T;
    return om_random_gate(in, (2 + in->c.hc) * in->c.hc, scale, seed);
}

static int pre_build_case(size_t i, og_file *f, char *err, size_t errlen) {
    om_gate_in in;
    memset(&in, 0, sizeof in);
    uint64_t seed = 0;
    const char *desc = "";
    int rc = -1;
    switch (i) {
    case PRE_G1:
        rc = om_g1_hc_pre(&in, 20);
        desc = "G1 (spec/mhc.md section 10): hc 4, d 16, a mixed token, identical streams, a "
               "zero token; negative post scale, comb logits 6 on the diagonal and a -200 row "
               "(exp underflow).";
        break;
    case PRE_RANDOM_D64:
        seed = 201;
        rc = pre_random(&in, 64, 8, F32_ONE, F32_ONE, F32_FOUR, seed);
        desc = "8 random tokens, hc 4, d 64: bf16-valued x ~ N(0,1), fn ~ N(0,1/K), base ~ "
               "N(0,1/4), scale [1, 1, 4].";
        break;
    case PRE_ODD_D:
        seed = 202;
        rc = pre_random(&in, 17, 3, F32_HALF, F32_TWO, F32_ONE, seed);
        desc = "3 random tokens with an odd stream width d 17 (K 68), scale [0.5, 2, 1].";
        break;
    case PRE_ADVERSARIAL:
        rc = om_adversarial_hc_pre(&in);
        seed = 601;
        desc = "corner tokens: zero residual, identical streams, random, |x| ~ 2^40, x^2 "
               "underflowing, a NaN, a +Inf and a -Inf (NaN outputs for those tokens); comb "
               "logits of magnitude 200 and a column at -200 in every row (an eps column).";
        break;
    case PRE_ITERS_1:
    case PRE_ITERS_2:
        rc = om_g1_hc_pre(&in, i == PRE_ITERS_1 ? 1 : 2);
        desc = i == PRE_ITERS_1 ? "G1 inputs with sinkhorn_iters 1 (softmax and one column step)."
                                : "G1 inputs with sinkhorn_iters 2 (one extra round).";
        break;
    case PRE_FLASH:
        seed = 203;
        rc = pre_random(&in, 4096, 2, F32_ONE, F32_ONE, F32_TWO, seed);
        desc = "2 random tokens at the V4-Flash size: hc 4, d 4096, K 16384, fn [24, 16384].";
        break;
    default: break;
    }
    if (rc != 0) {
        om_gate_in_free(&in);
        return input_oom(err, errlen);
    }
    rc = om_build_hc_pre(f, pre_names[i], seed, desc, &in, err, errlen);
    om_gate_in_free(&in);
    return rc;
}

/* ---- oracle gen ----------------------------------------------------------------- */
/* The configs reach `oracle gen` completed and checked by the registry
 * (every key present, within its limits): these only read them. */
static size_t uint_of(const dsv4_json *cfg, const char *key) {
    return (size_t)dsv4_json_get(cfg, key)->u;
}

/* An eps key: the fp32 value nearest to the given number. */
static uint32_t eps_of(const dsv4_json *cfg, const char *key) {
    mpfr_t v;
    mpfr_init(v);
    mpfr_set_d(v, dsv4_json_get(cfg, key)->number, MPFR_RNDN); /* exact */
    uint32_t bits = ox_round_f32(v);
    mpfr_clear(v);
    return bits;
}

static void mhc_config(const dsv4_json *cfg, om_cfg *c) {
    c->hc = uint_of(cfg, "hc");
    c->d = uint_of(cfg, "d");
    c->iters = (int)uint_of(cfg, "sinkhorn_iters");
    c->hc_eps = eps_of(cfg, "hc_eps");
    c->norm_eps = eps_of(cfg, "norm_eps");
}

/* Tokens from --shape T (default 4); tensors stay below 2^24 elements. */
static int gen_tokens(const og_shape *shape, size_t K, size_t rows, size_t *T, char *err,
                      size_t errlen) {
    *T = (shape && shape->rank >= 1) ? shape->dim[0] : 4;
    if ((shape && shape->rank != 1) || *T * K > (1u << 24) || rows * K > (1u << 24)) {
        snprintf(err, errlen, "shape must be T (tokens), with T*hc*d and the fn size at most "
                              "2^24 elements");
        return -1;
    }
    return 0;
}

static int pre_gen(const dsv4_json *config, uint64_t seed, const char *case_name,
                   const og_shape *shape, og_file *f, char *err, size_t errlen) {
    om_gate_in in;
    memset(&in, 0, sizeof in);
    mhc_config(config, &in.c);
    size_t M = (2 + in.c.hc) * in.c.hc;
    if (gen_tokens(shape, in.c.hc * in.c.d, M, &in.T, err, errlen) != 0) return -1;
    const uint32_t scale[3] = {F32_ONE, F32_ONE, F32_FOUR};
    if (om_random_gate(&in, M, scale, seed) != 0) {
        om_gate_in_free(&in);
        return input_oom(err, errlen);
    }
    char desc[200];
    snprintf(desc, sizeof desc, "hc_pre on %zu random tokens, hc %zu, d %zu (oracle gen).", in.T,
             in.c.hc, in.c.d);
    int rc = om_build_hc_pre(f, case_name, seed, desc, &in, err, errlen);
    om_gate_in_free(&in);
    return rc;
}

const og_op og_op_hc_pre = {
    .name = "hc_pre",
    .n_cases = N_PRE,
    .case_name = pre_case_name,
    .build_case = pre_build_case,
    .gen = pre_gen,
    .selftest = om_selftest,
};

/* ======================================================================== */
/* hc_head                                                                   */
/* ======================================================================== */
static const char *const head_names[] = {"g1", "random"};

static const char *head_case_name(size_t i) { return head_names[i]; }

static int head_build_case(size_t i, og_file *f, char *err, size_t errlen) {
    om_gate_in in;
    memset(&in, 0, sizeof in);
    uint64_t seed = 0;
    const char *desc;
    int rc;
    if (i == 0) {
        rc = om_g1_hc_head(&in);
        desc = "G1 (spec/mhc.md section 10) for hc_head: hfn, scale 0.75, base [0.25, -0.5, "
               "1, 0]; a mixed token, identical streams, a zero token.";
    } else {
        const uint32_t scale[1] = {F32_ONE};
        seed = 401;
        v4_cfg(&in.c, 33, 20);
        in.T = 5;
        rc = om_random_gate(&in, in.c.hc, scale, seed);
        desc = "5 random tokens, hc 4, odd d 33: bf16-valued x ~ N(0,1), fn ~ N(0,1/K), scale 1.";
    }
    if (rc != 0) {
        om_gate_in_free(&in);
        return input_oom(err, errlen);
    }
    rc = om_build_hc_head(f, head_names[i], seed, desc, &in, err, errlen);
    om_gate_in_free(&in);
    return rc;
}

static int head_gen(const dsv4_json *config, uint64_t seed, const char *case_name,
                    const og_shape *shape, og_file *f, char *err, size_t errlen) {
    om_gate_in in;
    memset(&in, 0, sizeof in);
    mhc_config(config, &in.c);
    if (gen_tokens(shape, in.c.hc * in.c.d, in.c.hc, &in.T, err, errlen) != 0) return -1;
    const uint32_t scale[1] = {F32_ONE};
    if (om_random_gate(&in, in.c.hc, scale, seed) != 0) {
        om_gate_in_free(&in);
        return input_oom(err, errlen);
    }
    char desc[200];
    snprintf(desc, sizeof desc, "hc_head on %zu random tokens, hc %zu, d %zu (oracle gen).", in.T,
             in.c.hc, in.c.d);
    int rc = om_build_hc_head(f, case_name, seed, desc, &in, err, errlen);
    om_gate_in_free(&in);
    return rc;
}

const og_op og_op_hc_head = {
    .name = "hc_head",
    .n_cases = 2,
    .case_name = head_case_name,
    .build_case = head_build_case,
    .gen = head_gen,
    .selftest = NULL, /* hc_pre's self test covers the shared stages and G1's head */
};

/* ======================================================================== */
/* hc_post                                                                   */
/* ======================================================================== */
static const char *const post_names[] = {"random", "g1"};

static const char *post_case_name(size_t i) { return post_names[i]; }

static int post_build_case(size_t i, og_file *f, char *err, size_t errlen) {
    om_post_in in;
    memset(&in, 0, sizeof in);
    uint64_t seed = 0;
    const char *desc;
    int rc;
    if (i == 0) {
        seed = 301;
        v4_cfg(&in.c, 64, 20);
        in.T = 4;
        rc = om_random_post(&in, seed);
        desc = "4 random tokens, hc 4, d 64: bf16-valued f and x ~ N(0,1), post in (0, 2), comb "
               "positive with columns summing to about 1.";
    } else {
        rc = om_g1_hc_post(&in);
        desc = "G1 (spec/mhc.md section 10) for hc_post: G1's f and x, post and comb the "
               "golden outputs of hc_pre.g1.";
    }
    if (rc != 0) {
        om_post_in_free(&in);
        return input_oom(err, errlen);
    }
    rc = om_build_hc_post(f, post_names[i], seed, desc, &in, err, errlen);
    om_post_in_free(&in);
    return rc;
}

static int post_gen(const dsv4_json *config, uint64_t seed, const char *case_name,
                    const og_shape *shape, og_file *f, char *err, size_t errlen) {
    om_post_in in;
    memset(&in, 0, sizeof in);
    mhc_config(config, &in.c);
    if (gen_tokens(shape, in.c.hc * in.c.d, 1, &in.T, err, errlen) != 0) return -1;
    if (om_random_post(&in, seed) != 0) {
        om_post_in_free(&in);
        return input_oom(err, errlen);
    }
    char desc[200];
    snprintf(desc, sizeof desc, "hc_post on %zu random tokens, hc %zu, d %zu (oracle gen).", in.T,
             in.c.hc, in.c.d);
    int rc = om_build_hc_post(f, case_name, seed, desc, &in, err, errlen);
    om_post_in_free(&in);
    return rc;
}

const og_op og_op_hc_post = {
    .name = "hc_post",
    .n_cases = 2,
    .case_name = post_case_name,
    .build_case = post_build_case,
    .gen = post_gen,
    .selftest = NULL,
};

/* ======================================================================== */
/* sinkhorn                                                                  */
/* ======================================================================== */
enum { SK_RANDOM, SK_PEAKED, SK_UNDERFLOW, SK_ITERS_1, SK_ITERS_2, SK_NONFINITE, N_SK };
static const char *const sk_names[N_SK] = {"random",  "peaked",  "underflow",
                                           "iters_1", "iters_2", "nonfinite"};

static const char *sk_case_name(size_t i) { return sk_names[i]; }

static int sk_build_case(size_t i, og_file *f, char *err, size_t errlen) {
    om_sk_in in = {4, 64, 20, OM_EPS_1E6, NULL};
    uint64_t seed = 500 + i;
    const char *desc = "";
    int rc = -1;
    switch (i) {
    case SK_RANDOM:
        rc = om_sk_random(&in, seed);
        desc = "64 random 4x4 logit matrices, N(0, s^2) with s cycling 0.1, 0.3, 1, 3, 10, 30.";
        break;
    case SK_PEAKED:
        rc = om_sk_peaked(&in, seed);
        desc = "peaked logits (slow convergence, row sums far from 1): diagonal 10 and 30, one "
               "winning column, one entry 50, rank one, anti-diagonal 40, shared peaks, uniform.";
        break;
    case SK_UNDERFLOW:
        seed = 0;
        rc = om_sk_underflow(&in);
        desc = "exp underflow: a -200 row (G1), one and two columns at -200 in every row (eps "
               "columns), and logits 87 to 150 below the row maximum (fp32 subnormal range).";
        break;
    case SK_ITERS_1:
    case SK_ITERS_2:
        in.T = 16;
        in.iters = i == SK_ITERS_1 ? 1 : 2;
        rc = om_sk_random(&in, seed);
        desc = i == SK_ITERS_1 ? "16 random matrices with iters 1 (iterate is the identity)."
                               : "16 random matrices with iters 2 (one round after init).";
        break;
    case SK_NONFINITE:
        rc = om_sk_nonfinite(&in, seed);
        desc = "non-finite logits: NaN, +Inf, -Inf beside finite values, a row of -Inf, fp32 "
               "max and -max in one row, a negative NaN, and one finite matrix.";
        break;
    default: break;
    }
    if (rc != 0) {
        om_sk_in_free(&in);
        return input_oom(err, errlen);
    }
    rc = om_build_sinkhorn(f, sk_names[i], seed, desc, &in, err, errlen);
    om_sk_in_free(&in);
    return rc;
}

static int sk_gen(const dsv4_json *config, uint64_t seed, const char *case_name,
                  const og_shape *shape, og_file *f, char *err, size_t errlen) {
    om_sk_in in = {uint_of(config, "n"), 16, (int)uint_of(config, "iters"),
                   eps_of(config, "eps"), NULL};
    if (gen_tokens(shape, in.n * in.n, 1, &in.T, err, errlen) != 0) return -1;
    if (om_sk_random(&in, seed) != 0) {
        om_sk_in_free(&in);
        return input_oom(err, errlen);
    }
    char desc[200];
    snprintf(desc, sizeof desc, "Sinkhorn on %zu random %zux%zu logit matrices (oracle gen).",
             in.T, in.n, in.n);
    int rc = om_build_sinkhorn(f, case_name, seed, desc, &in, err, errlen);
    om_sk_in_free(&in);
    return rc;
}

const og_op og_op_sinkhorn = {
    .name = "sinkhorn",
    .n_cases = N_SK,
    .case_name = sk_case_name,
    .build_case = sk_build_case,
    .gen = sk_gen,
    .selftest = NULL,
};
