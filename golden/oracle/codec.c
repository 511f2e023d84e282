/* codec.c - the shipped cases and random cases of the operators "cast" and
 * "quant" (spec/formats.md; golden semantics in spec/golden.md): inputs from
 * codec_inputs.c, every stage from codec_stages.c. */
#include "codec.h"
#include "codec_inputs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int cast_fmt_parse(const char *s) {
    if (strcmp(s, "ue8m0") == 0) return OC_UE8M0;
    return on_parse(s);
}

/* ======================================================================== */
/* cast                                                                      */
/* ======================================================================== */

static int cast_build(og_file *f, int fmt, const char *case_name, uint64_t seed,
                      const char *description, const og_vec *x, char *err, size_t errlen) {
    size_t n = x->n;
    uint32_t *codes = malloc((n + 1) * sizeof *codes);  /* [n] */
    uint32_t *y = malloc((n + 1) * sizeof *y);          /* [n] */
    uint16_t *c16 = malloc((n + 1) * sizeof *c16);      /* [n] bf16 codes */
    uint8_t *c8 = malloc(n + 1);                        /* [n] other codes */
    int rc = -1;
    if (!codes || !y || !c16 || !c8 || x->oom) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    oc_cast_encode(fmt, x->v, codes, n);
    oc_cast_decode(fmt, codes, y, n);
    for (size_t i = 0; i < n; i++) {
        c16[i] = (uint16_t)codes[i];
        c8[i] = (uint8_t)codes[i];
    }
    char config[64];
    snprintf(config, sizeof config, "{\"fmt\":\"%s\"}", oc_cast_fmt_name(fmt));
    og_begin(f, "cast", case_name, config, seed, description);
    size_t shape[1] = {n};
    og_add(f, "in.x", DSV4_DT_F32, 1, shape, x->v);
    if (fmt == ON_BF16) og_add(f, "encode.codes", DSV4_DT_U16, 1, shape, c16);
    else og_add(f, "encode.codes", DSV4_DT_U8, 1, shape, c8);
    og_add(f, "decode.y", DSV4_DT_F32, 1, shape, y);
    static const char *const enc_in[] = {"in.x", NULL}, *const enc_out[] = {"encode.codes", NULL};
    static const char *const dec_in[] = {"encode.codes", NULL}, *const dec_out[] = {"decode.y", NULL};
    og_stage(f, "encode", enc_in, enc_out, OG_TOL_EXACT);
    og_stage(f, "decode", dec_in, dec_out, OG_TOL_EXACT);
    rc = 0;
done:
    free(codes);
    free(y);
    free(c16);
    free(c8);
    return rc;
}

/* Shipped cast cases: for each format, index 2*fmt is "<fmt>_special" and
 * 2*fmt+1 is "<fmt>_random". */
#define CAST_RANDOM_N 4096
static const char *cast_case_name(size_t i) {
    static char name[32];
    snprintf(name, sizeof name, "%s_%s", oc_cast_fmt_name((int)(i / 2)),
             (i % 2) ? "random" : "special");
    return name;
}

static int cast_build_case(size_t i, og_file *f, char *err, size_t errlen) {
    int fmt = (int)(i / 2);
    uint64_t seed = 1000 + i;
    og_vec x = {0};
    char desc[400];
    if (i % 2 == 0) {
        oc_cast_special_inputs(fmt, seed, &x);
        if (fmt == OC_UE8M0)
            snprintf(desc, sizeof desc,
                     "ue8m0 encode/decode corners: every fp32 power of two with its fp32 "
                     "neighbours, zeros, negatives, infinities, NaN payloads and subnormals.");
        else
            snprintf(desc, sizeof desc,
                     "%s encode/decode corners: every%s representable value and every midpoint "
                     "(ties) with their fp32 neighbours, both signs, the overflow threshold, "
                     "zeros, infinities, NaN payloads and fp32 subnormals.",
                     oc_cast_fmt_name(fmt), fmt == ON_BF16 ? " selected" : "");
    } else {
        oc_cast_random_inputs(fmt, seed, CAST_RANDOM_N, &x);
        snprintf(desc, sizeof desc,
                 "%s encode/decode of %d random fp32 values, log-uniform magnitudes over the "
                 "format's range and beyond, random signs.",
                 oc_cast_fmt_name(fmt), CAST_RANDOM_N);
    }
    int rc = cast_build(f, fmt, cast_case_name(i), seed, desc, &x, err, errlen);
    og_vec_free(&x);
    return rc;
}

/* A dimension from og_shape, or a default. */
static size_t shape_dim(const og_shape *s, int i, size_t dflt) {
    return (s && s->rank > i && s->dim[i]) ? s->dim[i] : dflt;
}

static int cast_gen(const dsv4_json *config, uint64_t seed, const char *case_name,
                    const og_shape *shape, og_file *f, char *err, size_t errlen) {
    int fmt = cast_fmt_parse(dsv4_json_get(config, "fmt")->string);
    if (shape && shape->rank > 1) {
        snprintf(err, errlen, "cast takes a 1-D shape");
        return -1;
    }
    og_vec x = {0};
    size_t n = shape_dim(shape, 0, CAST_RANDOM_N);
    oc_cast_random_inputs(fmt, seed, n, &x);
    char desc[200];
    snprintf(desc, sizeof desc, "%s encode/decode of %zu random fp32 values (oracle gen).",
             oc_cast_fmt_name(fmt), n);
    int rc = cast_build(f, fmt, case_name, seed, desc, &x, err, errlen);
    og_vec_free(&x);
    return rc;
}

const og_op og_op_cast = {
    .name = "cast",
    .n_cases = 2 * OC_CAST_FMTS,
    .case_name = cast_case_name,
    .build_case = cast_build_case,
    .gen = cast_gen,
    .selftest = oc_cast_selftest,
};

/* ======================================================================== */
/* quant                                                                     */
/* ======================================================================== */


static void quant_config_text(const oc_qcfg *c, char *buf, size_t len) {
    snprintf(buf, len, "{\"fmt\":\"%s\",\"block_rows\":%zu,\"block_cols\":%zu,\"rule\":\"%s\"}",
             on_get(c->fmt)->name, c->br, c->bc, c->rule == OC_RCEIL ? "rceil" : "floor");
}

/* Computes the three stages from x[rows, cols] and writes them. */
static int quant_build(og_file *f, const oc_qcfg *c, const char *case_name, uint64_t seed,
                       const char *description, const uint32_t *x, size_t rows, size_t cols,
                       char *err, size_t errlen) {
    size_t ncb = oc_code_bytes(c, rows, cols), nsc = (rows / c->br) * (cols / c->bc);
    uint8_t *stored = malloc(ncb + 1);                       /* quant.codes */
    uint8_t *scales = malloc(nsc + 1);                       /* quant.scales */
    uint32_t *y = malloc((rows * cols + 1) * sizeof *y);      /* dequant.y */
    uint8_t *stored2 = malloc(ncb + 1), *scales2 = malloc(nsc + 1);
    uint32_t *fq = malloc((rows * cols + 1) * sizeof *fq);    /* fake_quant.y */
    int rc = -1;
    if (!stored || !scales || !y || !stored2 || !scales2 || !fq) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    /* fake_quant is its own stage from in.x: quantize again, then dequantize. */
    if (oc_quant(c, x, rows, cols, stored, scales) != 0 ||
        oc_quant(c, x, rows, cols, stored2, scales2) != 0) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    oc_dequant(c, stored, scales, rows, cols, y);
    oc_dequant(c, stored2, scales2, rows, cols, fq);
    char config[160];
    quant_config_text(c, config, sizeof config);
    og_begin(f, "quant", case_name, config, seed, description);
    size_t xs[2] = {rows, cols};
    size_t cs[2] = {rows, c->fmt == ON_E2M1 ? cols / 2 : cols};
    size_t ss[2] = {rows / c->br, cols / c->bc};
    og_add(f, "in.x", DSV4_DT_F32, 2, xs, x);
    og_add(f, "quant.codes", DSV4_DT_U8, 2, cs, stored);
    og_add(f, "quant.scales", DSV4_DT_U8, 2, ss, scales);
    og_add(f, "dequant.y", DSV4_DT_F32, 2, xs, y);
    og_add(f, "fake_quant.y", DSV4_DT_F32, 2, xs, fq);
    static const char *const q_in[] = {"in.x", NULL};
    static const char *const q_out[] = {"quant.codes", "quant.scales", NULL};
    static const char *const d_out[] = {"dequant.y", NULL};
    static const char *const fq_out[] = {"fake_quant.y", NULL};
    og_stage(f, "quant", q_in, q_out, OG_TOL_EXACT);
    og_stage(f, "dequant", q_out, d_out, OG_TOL_EXACT);
    og_stage(f, "fake_quant", q_in, fq_out, OG_TOL_EXACT);
    rc = 0;
done:
    free(stored);
    free(scales);
    free(y);
    free(stored2);
    free(scales2);
    free(fq);
    return rc;
}

/* The shipped quant cases. */
typedef struct quant_case {
    const char *name;
    oc_qcfg cfg;
    int adversarial;    /* 0: random [rows, cols]; 1: one corner per row */
    size_t rows, cols;  /* random cases only */
    uint64_t seed;
    const char *what;   /* start of the description */
} quant_case;

static const quant_case quant_cases[] = {
    {"fp4_rceil_random", {ON_E2M1, 1, 32, OC_RCEIL}, 0, 8, 256, 101,
     "FP4 e2m1 1x32 rceil (DeepSeek-V4 indexer) on random bf16-valued inputs across magnitudes"},
    {"fp4_rceil_adversarial", {ON_E2M1, 1, 32, OC_RCEIL}, 1, 0, 0, 0,
     "FP4 e2m1 1x32 rceil, one corner per row"},
    {"fp4_floor_random", {ON_E2M1, 1, 32, OC_FLOOR}, 0, 8, 256, 102,
     "FP4 e2m1 1x32 floor (OCP MX) on random bf16-valued inputs across magnitudes"},
    {"fp4_floor_adversarial", {ON_E2M1, 1, 32, OC_FLOOR}, 1, 0, 0, 0,
     "FP4 e2m1 1x32 floor (OCP MX), one corner per row"},
    {"e4m3_act_rceil_random", {ON_E4M3, 1, 128, OC_RCEIL}, 0, 4, 512, 103,
     "FP8 e4m3 1x128 rceil (activations) on random bf16-valued inputs across magnitudes"},
    {"e4m3_kv_rceil_random", {ON_E4M3, 1, 64, OC_RCEIL}, 0, 8, 448, 104,
     "FP8 e4m3 1x64 rceil (KV cache, 7 tiles per 448-dim row) on random bf16-valued inputs"},
    {"e4m3_weight_rceil_random", {ON_E4M3, 128, 128, OC_RCEIL}, 0, 256, 256, 105,
     "FP8 e4m3 128x128 rceil (weight tiles) on random bf16-valued inputs"},
    {"e4m3_act_rceil_adversarial", {ON_E4M3, 1, 128, OC_RCEIL}, 1, 0, 0, 0,
     "FP8 e4m3 1x128 rceil, one corner per row"},
    {"e4m3_act_floor_random", {ON_E4M3, 1, 128, OC_FLOOR}, 0, 4, 512, 106,
     "FP8 e4m3 1x128 floor (OCP MX) on random bf16-valued inputs across magnitudes"},
    {"e5m2_1x32_rceil_random", {ON_E5M2, 1, 32, OC_RCEIL}, 0, 8, 256, 107,
     "FP8 e5m2 1x32 rceil on random bf16-valued inputs across magnitudes"},
    {"e5m2_1x32_rceil_adversarial", {ON_E5M2, 1, 32, OC_RCEIL}, 1, 0, 0, 0,
     "FP8 e5m2 1x32 rceil, one corner per row"},
};
#define N_QUANT_CASES (sizeof quant_cases / sizeof quant_cases[0])

static const char *quant_case_name(size_t i) { return quant_cases[i].name; }

static int quant_build_case(size_t i, og_file *f, char *err, size_t errlen) {
    const quant_case *q = &quant_cases[i];
    char desc[600];
    int rc;
    if (q->adversarial) {
        og_vec x = {0};
        size_t rows = oc_quant_adversarial_inputs(&q->cfg, &x);
        if (x.oom) {
            og_vec_free(&x);
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        snprintf(desc, sizeof desc,
                 "%s: zero and -0 tiles, amax exactly max*2^k and just above for the smallest, "
                 "-1, 0, 1 and largest k, powers of two, 448, the amax floor and its neighbours, "
                 "every tie both signs with fp32 neighbours at three scales, bf16-max and fp32 "
                 "subnormal inputs, NaN, +Inf, -Inf and all-NaN tiles%s.",
                 q->what,
                 q->cfg.fmt == ON_E2M1 ? ", and the worked tiles of spec/formats.md section 4.3"
                                       : "");
        rc = quant_build(f, &q->cfg, q->name, q->seed, desc, x.v, rows, q->cfg.bc, err, errlen);
        og_vec_free(&x);
        return rc;
    }
    uint32_t *x = malloc(q->rows * q->cols * sizeof *x); /* [rows, cols] */
    if (!x) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    oc_quant_random_inputs(&q->cfg, q->rows, q->cols, q->seed, x);
    snprintf(desc, sizeof desc, "%s, shape [%zu, %zu].", q->what, q->rows, q->cols);
    rc = quant_build(f, &q->cfg, q->name, q->seed, desc, x, q->rows, q->cols, err, errlen);
    free(x);
    return rc;
}

static int quant_gen(const dsv4_json *config, uint64_t seed, const char *case_name,
                     const og_shape *shape, og_file *f, char *err, size_t errlen) {
    oc_qcfg c;
    c.fmt = (on_id)on_parse(dsv4_json_get(config, "fmt")->string);
    c.br = (size_t)dsv4_json_get(config, "block_rows")->u;
    c.bc = (size_t)dsv4_json_get(config, "block_cols")->u;
    c.rule = strcmp(dsv4_json_get(config, "rule")->string, "floor") == 0 ? OC_FLOOR : OC_RCEIL;
    size_t rows = shape_dim(shape, 0, c.br == 1 ? 8 : 2 * c.br);
    size_t cols = shape_dim(shape, 1, 4 * c.bc);
    if ((shape && shape->rank == 1) || rows % c.br || cols % c.bc || rows > (1u << 24) ||
        cols > (1u << 24) || rows * cols > (1u << 24)) {
        snprintf(err, errlen, "shape must be ROWSxCOLS, multiples of the tile, at most 2^24 "
                              "elements");
        return -1;
    }
    uint32_t *x = malloc(rows * cols * sizeof *x); /* [rows, cols] */
    if (!x) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    oc_quant_random_inputs(&c, rows, cols, seed, x);
    char desc[200];
    snprintf(desc, sizeof desc, "%s quant of random bf16-valued inputs [%zu, %zu] (oracle gen).",
             on_get(c.fmt)->name, rows, cols);
    int rc = quant_build(f, &c, case_name, seed, desc, x, rows, cols, err, errlen);
    free(x);
    return rc;
}

const og_op og_op_quant = {
    .name = "quant",
    .n_cases = N_QUANT_CASES,
    .case_name = quant_case_name,
    .build_case = quant_build_case,
    .gen = quant_gen,
    .selftest = oc_quant_selftest,
};
