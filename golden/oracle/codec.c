/* codec.c - oracle stages and shipped cases of the operators "cast" and
 * "quant" (spec/formats.md; golden semantics in spec/golden.md).
 *
 * Every value is handled exactly in MPFR: the quotient x / 2^k of the block
 * quantizer, the scale exponent (by exact comparisons, never log2), the
 * dequantized product; each output is rounded once, to a code by numfmt.c or
 * to fp32 by ox_round_f32. */
#include "codec.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *oc_cast_fmt_name(int fmt) {
    return fmt == OC_UE8M0 ? "ue8m0" : on_get((on_id)fmt)->name;
}

static int cast_fmt_parse(const char *s) {
    if (strcmp(s, "ue8m0") == 0) return OC_UE8M0;
    return on_parse(s);
}

/* ======================================================================== */
/* cast                                                                      */
/* ======================================================================== */

/* Stage "encode": x[n] -> codes[n]. */
void oc_cast_encode(int fmt, const uint32_t *x, uint32_t *codes, size_t n) {
    mpfr_t v;
    mpfr_init(v);
    for (size_t i = 0; i < n; i++) {
        ox_set_f32_bits(v, x[i]);
        codes[i] = (fmt == OC_UE8M0) ? on_ue8m0_encode(v) : on_encode(on_get((on_id)fmt), v);
    }
    mpfr_clear(v);
}

/* Stage "decode": codes[n] -> y[n]. */
void oc_cast_decode(int fmt, const uint32_t *codes, uint32_t *y, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] = (fmt == OC_UE8M0) ? on_ue8m0_decode_f32((uint8_t)codes[i])
                                 : on_decode_f32(on_get((on_id)fmt), codes[i]);
}

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
    const dsv4_json *jf = dsv4_json_get(config, "fmt");
    int fmt = (jf && jf->type == DSV4_JSON_STRING) ? cast_fmt_parse(jf->string) : -1;
    if (fmt < 0) {
        snprintf(err, errlen, "cast config needs \"fmt\": bf16, e4m3, e5m2, e2m1 or ue8m0");
        return -1;
    }
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

void oc_quant_floor(on_id fmt, mpfr_t out) {
    if (fmt == ON_E2M1) {
        mpfr_set_ui_2exp(out, 6, -126, MPFR_RNDN); /* 6 * 2^-126, an fp32 normal */
        return;
    }
    /* The fp32 nearest to decimal 1e-4, as the policy names it. */
    mpfr_set_str(out, "1e-4", 10, MPFR_RNDN);
    uint32_t bits = ox_round_f32(out);
    ox_set_f32_bits(out, bits);
}

long oc_quant_k(const oc_qcfg *c, const mpfr_t amax) {
    const mpfr_t *m = on_max(on_get(c->fmt)); /* M = 6, 448, 57344 */
    if (c->rule == OC_FLOOR) {
        /* floor(log2 a) - emax with emax = floor(log2 M); for a > 0 in
         * [2^(e-1), 2^e), floor(log2 a) is e - 1 exactly. */
        return (long)(mpfr_get_exp(amax) - 1) - (long)(mpfr_get_exp(*m) - 1);
    }
    /* rceil: the smallest integer k with M * 2^k >= amax, found by exact
     * comparisons starting from the exponent difference (off by at most 1). */
    long k = (long)(mpfr_get_exp(amax) - mpfr_get_exp(*m));
    mpfr_t t;
    mpfr_init(t);
    for (;;) {
        mpfr_mul_2si(t, *m, k, MPFR_RNDN); /* exact */
        if (mpfr_cmp(t, amax) >= 0) break;
        k++;
    }
    for (;;) {
        mpfr_mul_2si(t, *m, k - 1, MPFR_RNDN);
        if (mpfr_cmp(t, amax) < 0) break;
        k--;
    }
    mpfr_clear(t);
    return k;
}

size_t oc_code_bytes(const oc_qcfg *c, size_t rows, size_t cols) {
    return c->fmt == ON_E2M1 ? rows * cols / 2 : rows * cols;
}

/* One tile: codes (unpacked, [rows, cols] layout) and its scale byte. */
static uint8_t quant_tile(const oc_qcfg *c, const uint32_t *x, size_t cols, size_t r0,
                          size_t c0, uint8_t *codes) {
    const on_format *f = on_get(c->fmt);
    int invalid = 0;
    for (size_t r = r0; r < r0 + c->br; r++)
        for (size_t j = c0; j < c0 + c->bc; j++)
            invalid |= ox_f32_is_nan(x[r * cols + j]) || ox_f32_is_inf(x[r * cols + j]);
    if (invalid) {
        /* Policy: an invalid tile has scale 0xFF and all codes 0. */
        for (size_t r = r0; r < r0 + c->br; r++)
            for (size_t j = c0; j < c0 + c->bc; j++) codes[r * cols + j] = 0;
        return 0xFF;
    }
    mpfr_t amax, v;
    mpfr_inits(amax, v, (mpfr_ptr)0);
    oc_quant_floor(c->fmt, amax); /* start from the floor: amax' = max(amax, floor) */
    for (size_t r = r0; r < r0 + c->br; r++)
        for (size_t j = c0; j < c0 + c->bc; j++) {
            ox_set_f32_bits(v, x[r * cols + j]);
            if (mpfr_cmpabs(v, amax) > 0) mpfr_abs(amax, v, MPFR_RNDN);
        }
    long k = oc_quant_k(c, amax);
    if (k < -127) k = -127;
    if (k > 127) k = 127;
    for (size_t r = r0; r < r0 + c->br; r++)
        for (size_t j = c0; j < c0 + c->bc; j++) {
            ox_set_f32_bits(v, x[r * cols + j]);
            mpfr_mul_2si(v, v, -k, MPFR_RNDN); /* x / 2^k, exact */
            codes[r * cols + j] = (uint8_t)on_encode(f, v);
        }
    mpfr_clears(amax, v, (mpfr_ptr)0);
    return (uint8_t)(k + 127);
}

int oc_quant(const oc_qcfg *c, const uint32_t *x, size_t rows, size_t cols, uint8_t *stored,
             uint8_t *scales) {
    uint8_t *codes = malloc(rows * cols + 1); /* [rows, cols] unpacked */
    if (!codes) return -1;
    size_t tiles_c = cols / c->bc;
    for (size_t tr = 0; tr < rows / c->br; tr++)
        for (size_t tc = 0; tc < tiles_c; tc++)
            scales[tr * tiles_c + tc] = quant_tile(c, x, cols, tr * c->br, tc * c->bc, codes);
    if (c->fmt == ON_E2M1) {
        /* element 2i in the low nibble of byte i, 2i+1 in the high nibble */
        for (size_t i = 0; i < rows * cols / 2; i++)
            stored[i] = (uint8_t)(codes[2 * i] | (codes[2 * i + 1] << 4));
    } else {
        memcpy(stored, codes, rows * cols);
    }
    free(codes);
    return 0;
}

void oc_dequant(const oc_qcfg *c, const uint8_t *stored, const uint8_t *scales, size_t rows,
                size_t cols, uint32_t *y) {
    const on_format *f = on_get(c->fmt);
    size_t tiles_c = cols / c->bc;
    mpfr_t v;
    mpfr_init(v);
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < cols; j++) {
            size_t e = r * cols + j;
            uint32_t code = (c->fmt == ON_E2M1) ? (uint32_t)(stored[e / 2] >> (4 * (e % 2))) & 0xFu
                                                : stored[e];
            uint8_t b = scales[(r / c->br) * tiles_c + j / c->bc];
            if (b == 0xFF || on_code_value(f, code, v) != ON_FINITE) {
                y[e] = OX_F32_QNAN;
                continue;
            }
            mpfr_mul_2si(v, v, (long)b - 127, MPFR_RNDN); /* exact product, rounded once below */
            y[e] = ox_round_f32(v);
        }
    mpfr_clear(v);
}

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
                 q->what, q->cfg.fmt == ON_E2M1 ? ", and the worked vectors of the format notes"
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

/* A positive integer member of the config, or dflt when absent; 0 on error. */
static size_t config_size(const dsv4_json *config, const char *key, size_t dflt) {
    const dsv4_json *j = dsv4_json_get(config, key);
    if (!j) return dflt;
    if (j->type != DSV4_JSON_NUMBER || !j->is_uint || j->u == 0 || j->u > 65536) return 0;
    return (size_t)j->u;
}

static int quant_gen(const dsv4_json *config, uint64_t seed, const char *case_name,
                     const og_shape *shape, og_file *f, char *err, size_t errlen) {
    oc_qcfg c;
    const dsv4_json *jf = dsv4_json_get(config, "fmt");
    const dsv4_json *jr = dsv4_json_get(config, "rule");
    int fmt = (jf && jf->type == DSV4_JSON_STRING) ? on_parse(jf->string) : -1;
    if (fmt != ON_E2M1 && fmt != ON_E4M3 && fmt != ON_E5M2) {
        snprintf(err, errlen, "quant config needs \"fmt\": e2m1, e4m3 or e5m2");
        return -1;
    }
    c.fmt = (on_id)fmt;
    c.br = config_size(config, "block_rows", 1);
    c.bc = config_size(config, "block_cols", fmt == ON_E2M1 ? 32 : 128);
    c.rule = OC_RCEIL;
    if (jr && (jr->type != DSV4_JSON_STRING ||
               (strcmp(jr->string, "rceil") != 0 && strcmp(jr->string, "floor") != 0))) {
        snprintf(err, errlen, "quant \"rule\" must be \"rceil\" or \"floor\"");
        return -1;
    }
    if (jr && strcmp(jr->string, "floor") == 0) c.rule = OC_FLOOR;
    if (c.br == 0 || c.bc == 0 || (fmt == ON_E2M1 && c.bc % 2)) {
        snprintf(err, errlen, "block_rows and block_cols must be integers in [1, 65536], "
                              "block_cols even for e2m1");
        return -1;
    }
    size_t rows = shape_dim(shape, 0, c.br == 1 ? 8 : 2 * c.br);
    size_t cols = shape_dim(shape, 1, 4 * c.bc);
    if ((shape && shape->rank == 1) || rows % c.br || cols % c.bc || rows * cols > (1u << 24)) {
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
