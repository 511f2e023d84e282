/* norm.c - the RMSNorm operator of the oracle (spec/norm.md, spec/golden.md
 * §6e).  Stage rms: r = 1 / sqrt(sum(x^2) / d + eps) at OX_PREC bits from
 * the exact fp32 inputs, rounded once to fp32.  Stage norm, from the STORED
 * r (what a stage check feeds it): e = x * r * w exactly, rounded once to
 * bf16 (the output) and once to fp32 (its reference value). */
#include "norm.h"

#include "numfmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL_TEXT 256

typedef struct on_case {
    size_t rows, d;
    uint32_t eps;    /* fp32 bits */
    uint32_t *x, *w; /* [rows, d], [d] */
} on_case;

void onr_rms(const uint32_t *x, size_t d, uint32_t eps, mpfr_t r) {
    mpfr_t ss, t;
    mpfr_inits(ss, t, (mpfr_ptr)0);
    mpfr_set_ui(ss, 0, MPFR_RNDN);
    for (size_t k = 0; k < d; k++) {
        ox_set_f32_bits(t, x[k]);
        mpfr_sqr(t, t, MPFR_RNDN);
        mpfr_add(ss, ss, t, MPFR_RNDN);
    }
    mpfr_div_ui(ss, ss, (unsigned long)d, MPFR_RNDN);
    ox_set_f32_bits(t, eps);
    mpfr_add(ss, ss, t, MPFR_RNDN);
    mpfr_rec_sqrt(r, ss, MPFR_RNDN); /* 1/sqrt(+0) = +Inf, 1/sqrt(+Inf) = +0 */
    mpfr_clears(ss, t, (mpfr_ptr)0);
}

void onr_apply(const uint32_t *x, const mpfr_t r, const uint32_t *w, size_t d, uint32_t *y,
               uint32_t *y_f32) {
    const on_format *bf = on_get(ON_BF16);
    mpfr_t e, t;
    mpfr_inits(e, t, (mpfr_ptr)0);
    for (size_t k = 0; k < d; k++) {
        ox_set_f32_bits(e, x[k]);
        mpfr_mul(e, e, r, MPFR_RNDN); /* exact for an fp32 r; r exact to OX_PREC bits otherwise */
        ox_set_f32_bits(t, w[k]);
        mpfr_mul(e, e, t, MPFR_RNDN);
        y[k] = on_decode_f32(bf, on_encode(bf, e));
        y_f32[k] = ox_round_f32(e);
    }
    mpfr_clears(e, t, (mpfr_ptr)0);
}

/* Stage rms: (N1), (N2) exactly, then one rounding. */
static uint32_t rms_row(const uint32_t *x, size_t d, uint32_t eps) {
    mpfr_t r;
    mpfr_init(r);
    onr_rms(x, d, eps, r);
    uint32_t bits = ox_round_f32(r);
    mpfr_clear(r);
    return bits;
}

/* Stage norm: (N3) from the stored r: y (bf16 values) and y_f32 [d]. */
static void norm_row(const uint32_t *x, uint32_t r, const uint32_t *w, size_t d, uint32_t *y,
                     uint32_t *y_f32) {
    mpfr_t rr;
    mpfr_init(rr);
    ox_set_f32_bits(rr, r);
    onr_apply(x, rr, w, d, y, y_f32);
    mpfr_clear(rr);
}

/* The tolerances of spec/norm.md §4: r relative tau_d = 8 sqrt(d) u; y
 * boundary-aware with abs 2^-148 and relative (tau_d + 2u)(1 + 2^-10),
 * both rounded up to 7 digits. */
static void tolerances(size_t d, char *rms, char *norm, size_t len) {
    mpfr_t tau, rel;
    mpfr_inits(tau, rel, (mpfr_ptr)0);
    mpfr_set_ui(tau, (unsigned long)d, MPFR_RNDN);
    mpfr_sqrt(tau, tau, MPFR_RNDN);
    mpfr_mul_2si(tau, tau, 3 - 24, MPFR_RNDN);
    mpfr_snprintf(rms, len, "{\"kind\":\"abs_rel\",\"abs\":0,\"rel\":%.6RUe}", tau);
    mpfr_set_ui_2exp(rel, 2, -24, MPFR_RNDN);
    mpfr_add(rel, rel, tau, MPFR_RNDN);
    mpfr_mul_2si(tau, rel, -10, MPFR_RNDN);
    mpfr_add(rel, rel, tau, MPFR_RNDN);
    mpfr_snprintf(norm, len,
                  "{\"kind\":\"bf16_boundary\",\"abs\":2.8026e-45,\"rel\":%.6RUe,"
                  "\"ref\":\"norm.y_f32\"}",
                  rel);
    mpfr_clears(tau, rel, (mpfr_ptr)0);
}

static int build(og_file *f, const char *case_name, uint64_t seed, const char *desc,
                 const on_case *in, char *err, size_t errlen) {
    size_t n = in->rows * in->d;
    uint32_t *r = malloc((in->rows + 1) * sizeof *r), *y = malloc((2 * n + 1) * sizeof *y);
    if (!r || !y) {
        free(r);
        free(y);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    for (size_t i = 0; i < in->rows; i++) {
        r[i] = rms_row(&in->x[i * in->d], in->d, in->eps);
        norm_row(&in->x[i * in->d], r[i], in->w, in->d, &y[i * in->d], &y[n + i * in->d]);
    }
    char config[128], eps[40], tol_rms[TOL_TEXT], tol_norm[TOL_TEXT];
    ox_f32_decimal(in->eps, eps, sizeof eps);
    snprintf(config, sizeof config, "{\"d\":%zu,\"eps\":%s}", in->d, eps);
    tolerances(in->d, tol_rms, tol_norm, TOL_TEXT);
    og_begin(f, "rms_norm", case_name, config, seed, desc);
    size_t sx[2] = {in->rows, in->d}, sw[1] = {in->d}, sr[1] = {in->rows};
    og_add(f, "in.x", DSV4_DT_F32, 2, sx, in->x);
    og_add(f, "in.w", DSV4_DT_F32, 1, sw, in->w);
    og_add(f, "rms.r", DSV4_DT_F32, 1, sr, r);
    og_stage(f, "rms", (const char *const[]){"in.x", NULL}, (const char *const[]){"rms.r", NULL},
             tol_rms);
    og_add(f, "norm.y", DSV4_DT_F32, 2, sx, y);
    og_add(f, "norm.y_f32", DSV4_DT_F32, 2, sx, y + n);
    og_stage(f, "norm", (const char *const[]){"in.x", "rms.r", "in.w", NULL},
             (const char *const[]){"norm.y", NULL}, tol_norm);
    free(r);
    free(y);
    return 0;
}

/* ---- inputs ---------------------------------------------------------------------- */
#define EPS_1E6 0x358637BDu /* fp32(1e-6) */
#define F32_NAN 0x7FC00000u
#define F32_PINF 0x7F800000u

/* A bf16 weight about 1 + N(0, 1/64): RMSNorm weights stay near 1. */
static uint32_t weight(ox_rng *r) {
    long s = 0;
    for (int i = 0; i < 4; i++) s += (long)ox_rng_below(r, 1u << 15) - (1L << 14);
    return ox_f32_round_to_bf16_value(ox_f32_of_dyadic((1L << 17) + s, -17));
}

static int alloc_case(on_case *in) {
    in->x = calloc(in->rows * in->d + 1, sizeof *in->x);
    in->w = calloc(in->d + 1, sizeof *in->w);
    return in->x && in->w ? 0 : -1;
}

static void free_case(on_case *in) {
    free(in->x);
    free(in->w);
}

static void random_case(on_case *in, ox_rng *r, long scale_e) {
    for (size_t i = 0; i < in->rows * in->d; i++) in->x[i] = ox_normal_bf16(r, scale_e);
    for (size_t k = 0; k < in->d; k++) in->w[k] = weight(r);
}

/* The adversarial rows (d 64), each a corner of spec/norm.md §3. */
enum { ADV_ROWS = 9 };
static void adversarial_case(on_case *in, ox_rng *r) {
    size_t d = in->d;
    random_case(in, r, 0);
    in->w[3] = 0u;          /* a zero weight */
    in->w[4] = 0xBF800000u; /* -1 */
    uint32_t *x = in->x;
    memset(&x[0 * d], 0, d * sizeof *x); /* zero row: r = 1/sqrt(eps), y = 0 */
    for (size_t k = 0; k < d; k++) {
        x[1 * d + k] = ox_normal_bf16(r, -70);  /* x^2 underflows: r from eps */
        x[2 * d + k] = ox_normal_bf16(r, -10);  /* mean(x^2) about eps */
        x[3 * d + k] = ox_normal_bf16(r, 50);   /* large: r about 2^-50 */
        x[4 * d + k] = k % 2 ? 0x80000000u : 0x3F800000u; /* ones and -0 */
    }
    x[5 * d + 7] = F32_NAN;   /* NaN: the row NaN */
    x[6 * d + 9] = F32_PINF;  /* Inf: r = 0, NaN at that entry, +-0 elsewhere */
    x[7 * d + 0] = 0x5E800000u; /* 2^62 among values about 1: it sets r alone */
    for (size_t k = 0; k < d; k++) x[8 * d + k] = 0x3F800000u; /* constant row: r about 1 */
}

/* ---- cases ----------------------------------------------------------------------- */
enum { N_KV, N_Q, N_FLASH, N_INDEX, N_ODD, N_ADV, N_EPS0, N_CASES };
static const char *const names[N_CASES] = {"v4_kv512", "v4_q1024", "v4_flash4096", "index128",
                                           "odd_d",    "adversarial", "eps0"};

static const char *case_name(size_t i) { return names[i]; }

static int build_case(size_t i, og_file *f, char *err, size_t errlen) {
    static const size_t D[N_CASES] = {512, 1024, 4096, 128, 17, 64, 8};
    static const size_t ROWS[N_CASES] = {6, 3, 2, 4, 5, ADV_ROWS, 3};
    static const char *const desc[N_CASES] = {
        "V4's kv_norm and the compressor's norm: d 512, 6 rows of bf16 x ~ N(0,1), bf16 weights "
        "about 1, eps 1e-6.",
        "V4-Flash's q_norm: d 1024, 3 rows.",
        "V4-Flash's hidden size: d 4096, 2 rows.",
        "the indexer's compressor norm: d 128, 4 rows.",
        "an odd width d 17, 5 rows.",
        "d 64: a zero row, x^2 underflowing (2^-70), mean(x^2) about eps, 2^50 values, ones "
        "and -0, a NaN, +Inf (r = 0), one 2^62 among values about 1, a constant row; zero "
        "and -1 weights.",
        "eps 0: a zero row gives r = +Inf and NaN outputs; the other rows are as with eps."};
    on_case in = {ROWS[i], D[i], i == N_EPS0 ? 0u : EPS_1E6, NULL, NULL};
    uint64_t seed = 1900 + i;
    ox_rng r;
    ox_rng_seed(&r, seed);
    if (alloc_case(&in) != 0) {
        free_case(&in);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (i == N_ADV) adversarial_case(&in, &r);
    else random_case(&in, &r, 0);
    if (i == N_EPS0) memset(in.x, 0, in.d * sizeof *in.x);
    int rc = build(f, names[i], seed, desc[i], &in, err, errlen);
    free_case(&in);
    return rc;
}

static int gen(const dsv4_json *config, uint64_t seed, const char *case_name_,
               const og_shape *shape, og_file *f, char *err, size_t errlen) {
    on_case in = {shape && shape->rank >= 1 ? shape->dim[0] : 4,
                  (size_t)dsv4_json_get(config, "d")->u, 0, NULL, NULL};
    if ((shape && shape->rank != 1) || in.rows * in.d > (1u << 24)) {
        snprintf(err, errlen, "shape must be rows, with rows * d at most 2^24");
        return -1;
    }
    mpfr_t e;
    mpfr_init(e);
    mpfr_set_d(e, dsv4_json_get(config, "eps")->number, MPFR_RNDN);
    in.eps = ox_round_f32(e);
    mpfr_clear(e);
    ox_rng r;
    ox_rng_seed(&r, seed);
    if (alloc_case(&in) != 0) {
        free_case(&in);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    random_case(&in, &r, 0);
    char desc[200];
    snprintf(desc, sizeof desc, "rms_norm on %zu random rows, d %zu (oracle gen).", in.rows,
             in.d);
    int rc = build(f, case_name_, seed, desc, &in, err, errlen);
    free_case(&in);
    return rc;
}

/* ---- self test: spec/norm.md §5 -------------------------------------------------- */
static int selftest(void) {
    const uint32_t x[4] = {0x3F800000u, 0x40000000u, 0x40400000u, 0x40800000u}; /* 1, 2, 3, 4 */
    const uint32_t w[4] = {0x3F800000u, 0x3F000000u, 0xC0000000u, 0u};        /* 1, 0.5, -2, 0 */
    const uint32_t want_y[4] = {0x3EBB0000u, 0x3EBB0000u, 0xC00C0000u, 0u};
    uint32_t y[4], y_f32[4];
    int fails = 0;
    uint32_t r = rms_row(x, 4, EPS_1E6);
    fails += ox_check_bits("rms_norm worked r", r, 0x3EBAF4B9u);
    norm_row(x, r, w, 4, y, y_f32);
    for (int k = 0; k < 4; k++) fails += ox_check_bits("rms_norm worked y", y[k], want_y[k]);
    fails += ox_check_bits("rms_norm worked y_f32[2]", y_f32[2], 0xC00C378Bu);
    /* the zero row: r = 1/sqrt(eps) = 1000.0000013, fp32 1000 */
    const uint32_t zero[4] = {0, 0, 0, 0};
    fails += ox_check_bits("rms_norm zero row r", rms_row(zero, 4, EPS_1E6), 0x447A0000u);
    return fails;
}

const og_op og_op_rms_norm = {
    .name = "rms_norm",
    .n_cases = N_CASES,
    .case_name = case_name,
    .build_case = build_case,
    .gen = gen,
    .selftest = selftest,
};
