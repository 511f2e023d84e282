/* ops_codec.c - the two codec operators of the registry: "cast" (element
 * encode/decode of one number format) and "quant" (block quantizer with a
 * UE8M0 scale per tile).  Stages and tensor names: spec/cli.md and
 * notes in spec/formats.md; the arithmetic is the library's (dsv4.h). */
#include "registry.h"

#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The library entry points of each implementation, so that a stage is
 * written once and runs with either. */
typedef struct codec_impl {
    dsv4_status (*encode)(dsv4_fmt f, size_t n, const float *x, void *codes);
    dsv4_status (*decode)(dsv4_fmt f, size_t n, const void *codes, float *y);
    dsv4_status (*quant)(const dsv4_quant_cfg *cfg, size_t rows, size_t cols, const float *x,
                         uint8_t *codes, uint8_t *scales);
    dsv4_status (*dequant)(const dsv4_quant_cfg *cfg, size_t rows, size_t cols,
                           const uint8_t *codes, const uint8_t *scales, float *y);
    dsv4_status (*fake_quant)(const dsv4_quant_cfg *cfg, size_t rows, size_t cols, const float *x,
                              float *y);
} codec_impl;

static const codec_impl impls[DSV4_IMPL_COUNT] = {
    {dsv4_ref_encode, dsv4_ref_decode, dsv4_ref_quant, dsv4_ref_dequant, dsv4_ref_fake_quant},
    {dsv4_opt_encode, dsv4_opt_decode, dsv4_opt_quant, dsv4_opt_dequant, dsv4_opt_fake_quant},
};

/* A library call failed: say which stage, which implementation and why. */
static dsv4_status lib_error(dsv4_status st, const char *stage, dsv4_impl impl, char *err,
                             size_t errlen) {
    snprintf(err, errlen, "stage %s (%s): %s", stage, dsv4_impl_name(impl), dsv4_strerror(st));
    return st;
}

/* Store a computed scratch buffer as an output tensor and release it. */
static dsv4_status emit(dsv4_st *dst, const char *name, dsv4_dtype dt, int rank,
                        const size_t *shape, void *buf, char *err, size_t errlen) {
    dsv4_status st = dsv4_stage_output(dst, name, dt, rank, shape, buf, err, errlen);
    free(buf);
    return st;
}

static dsv4_status no_memory(void *a, void *b, char *err, size_t errlen) {
    free(a);
    free(b);
    snprintf(err, errlen, "%s", dsv4_strerror(DSV4_E_NOMEM));
    return DSV4_E_NOMEM;
}

/* ============================ op "cast" ==================================== */

typedef struct cast_params {
    dsv4_fmt fmt;
} cast_params;

static dsv4_status cast_configure(const dsv4_json *cfg, void **params, char *err,
                                  size_t errlen) {
    cast_params *p = malloc(sizeof *p);
    if (!p) return no_memory(NULL, NULL, err, errlen);
    if (dsv4_fmt_parse(dsv4_json_get(cfg, "fmt")->string, &p->fmt) != DSV4_OK) {
        free(p);
        snprintf(err, errlen, "op cast: unknown fmt");
        return DSV4_E_ARG;
    }
    *params = p;
    return DSV4_OK;
}

/* BF16 codes are 16-bit patterns; every other format has one byte per code. */
static dsv4_dtype cast_code_dtype(dsv4_fmt f) { return f == DSV4_FMT_BF16 ? DSV4_DT_U16 : DSV4_DT_U8; }

/* encode: in.x F32 [n] -> encode.codes U16|U8 [n] */
static dsv4_status cast_encode(const cast_params *p, dsv4_impl impl, const dsv4_st *src,
                               dsv4_st *dst, char *err, size_t errlen) {
    const dsv4_tensor *x;
    dsv4_status st = dsv4_stage_input(src, "in.x", DSV4_DT_F32, 1, &x, err, errlen);
    if (st != DSV4_OK) return st;
    dsv4_dtype dt = cast_code_dtype(p->fmt);
    size_t n = x->shape[0];
    void *codes = dsv4_alloc_array(n, dsv4_dtype_size(dt)); /* [n] */
    if (!codes) return no_memory(NULL, NULL, err, errlen);
    st = impls[impl].encode(p->fmt, n, x->data, codes);
    if (st != DSV4_OK) {
        free(codes);
        return lib_error(st, "encode", impl, err, errlen);
    }
    return emit(dst, "encode.codes", dt, 1, &n, codes, err, errlen);
}

/* decode: encode.codes U16|U8 [n] -> decode.y F32 [n] */
static dsv4_status cast_decode(const cast_params *p, dsv4_impl impl, const dsv4_st *src,
                               dsv4_st *dst, char *err, size_t errlen) {
    const dsv4_tensor *c;
    dsv4_status st =
        dsv4_stage_input(src, "encode.codes", cast_code_dtype(p->fmt), 1, &c, err, errlen);
    if (st != DSV4_OK) return st;
    size_t n = c->shape[0];
    float *y = dsv4_alloc_array(n, sizeof *y); /* [n] */
    if (!y) return no_memory(NULL, NULL, err, errlen);
    st = impls[impl].decode(p->fmt, n, c->data, y);
    if (st != DSV4_OK) {
        free(y);
        return lib_error(st, "decode", impl, err, errlen);
    }
    return emit(dst, "decode.y", DSV4_DT_F32, 1, &n, y, err, errlen);
}

static dsv4_status cast_run_stage(const void *params, size_t stage, dsv4_impl impl,
                                  const dsv4_st *src, dsv4_st *dst, char *err, size_t errlen) {
    if (stage == 0) return cast_encode(params, impl, src, dst, err, errlen);
    return cast_decode(params, impl, src, dst, err, errlen);
}

const dsv4_op dsv4_op_cast = {
    .name = "cast",
    .description = "element-wise encode to a number format and decode back to fp32",
    .keys = {{.name = "fmt",
              .kind = DSV4_KEY_ENUM,
              .def = "bf16",
              .choices = {"bf16", "e4m3", "e5m2", "e2m1", "ue8m0", NULL},
              .help = "number format"}},
    .inputs = {{"in.x", "F32", "[n]"}},
    .stages = {{.name = "encode",
                .inputs = {"in.x", NULL},
                .outputs = {{"encode.codes", "U16 (bf16) or U8 (one code per byte)", "[n]"}},
                .tol = {.kind = DSV4_TOL_EXACT}},
               {.name = "decode",
                .inputs = {"encode.codes", NULL},
                .outputs = {{"decode.y", "F32", "[n]"}},
                .tol = {.kind = DSV4_TOL_EXACT}}},
    .configure = cast_configure,
    .run_stage = cast_run_stage,
};

/* ============================ op "quant" =================================== */

static dsv4_status quant_configure(const dsv4_json *cfg, void **params, char *err,
                                   size_t errlen) {
    dsv4_quant_cfg q;
    const dsv4_json *br = dsv4_json_get(cfg, "block_rows"), *bc = dsv4_json_get(cfg, "block_cols");
    if (dsv4_fmt_parse(dsv4_json_get(cfg, "fmt")->string, &q.fmt) != DSV4_OK) {
        snprintf(err, errlen, "op quant: unknown fmt");
        return DSV4_E_ARG;
    }
    q.rule = strcmp(dsv4_json_get(cfg, "rule")->string, "floor") == 0 ? DSV4_SCALE_FLOOR
                                                                        : DSV4_SCALE_RCEIL;
    if (br->u > SIZE_MAX || bc->u > SIZE_MAX) {
        snprintf(err, errlen, "op quant: block size too large");
        return DSV4_E_ARG;
    }
    q.block_rows = (size_t)br->u;
    q.block_cols = (size_t)bc->u;
    /* One tile is the smallest tensor the config must accept; the library
     * decides what is a valid tile (e.g. even block_cols for e2m1). */
    dsv4_status st = dsv4_quant_sizes(&q, q.block_rows, q.block_cols, NULL, NULL);
    if (st != DSV4_OK) {
        int odd_fp4 = q.fmt == DSV4_FMT_E2M1 && q.block_cols % 2 != 0;
        snprintf(err, errlen, "op quant: invalid config%s: %s",
                 odd_fp4 ? " (e2m1 packs two codes per byte: block_cols must be even)" : "",
                 dsv4_strerror(st));
        return st;
    }
    dsv4_quant_cfg *p = malloc(sizeof *p);
    if (!p) return no_memory(NULL, NULL, err, errlen);
    *p = q;
    *params = p;
    return DSV4_OK;
}

/* Output geometry of a [rows, cols] tensor under cfg, or a reason. */
typedef struct quant_shapes {
    size_t x[2];      /* [rows, cols] */
    size_t codes[2];  /* [rows, cols/2] for e2m1, else [rows, cols] */
    size_t scales[2]; /* [rows/block_rows, cols/block_cols] */
} quant_shapes;

static dsv4_status quant_geometry(const dsv4_quant_cfg *q, size_t rows, size_t cols,
                                  quant_shapes *s, char *err, size_t errlen) {
    dsv4_status st = dsv4_quant_sizes(q, rows, cols, NULL, NULL);
    if (st != DSV4_OK) {
        snprintf(err, errlen, "shape [%zu, %zu] does not fit tile %zux%zu: %s", rows, cols,
                 q->block_rows, q->block_cols, dsv4_strerror(st));
        return st;
    }
    s->x[0] = rows;
    s->x[1] = cols;
    s->codes[0] = rows;
    s->codes[1] = q->fmt == DSV4_FMT_E2M1 ? cols / 2 : cols;
    s->scales[0] = rows / q->block_rows;
    s->scales[1] = cols / q->block_cols;
    return DSV4_OK;
}

static size_t area(const size_t *shape) { return shape[0] * shape[1]; }

/* quant: in.x F32 [rows, cols] -> quant.codes U8, quant.scales U8 */
static dsv4_status quant_quant(const dsv4_quant_cfg *q, dsv4_impl impl, const dsv4_st *src,
                               dsv4_st *dst, char *err, size_t errlen) {
    const dsv4_tensor *x;
    quant_shapes s;
    dsv4_status st = dsv4_stage_input(src, "in.x", DSV4_DT_F32, 2, &x, err, errlen);
    if (st == DSV4_OK) st = quant_geometry(q, x->shape[0], x->shape[1], &s, err, errlen);
    if (st != DSV4_OK) return st;
    uint8_t *codes = dsv4_alloc_array(area(s.codes), 1);   /* s.codes */
    uint8_t *scales = dsv4_alloc_array(area(s.scales), 1); /* s.scales */
    if (!codes || !scales) return no_memory(codes, scales, err, errlen);
    st = impls[impl].quant(q, s.x[0], s.x[1], x->data, codes, scales);
    if (st != DSV4_OK) {
        free(codes);
        free(scales);
        return lib_error(st, "quant", impl, err, errlen);
    }
    st = emit(dst, "quant.codes", DSV4_DT_U8, 2, s.codes, codes, err, errlen);
    if (st != DSV4_OK) {
        free(scales);
        return st;
    }
    return emit(dst, "quant.scales", DSV4_DT_U8, 2, s.scales, scales, err, errlen);
}

/* dequant: quant.codes U8, quant.scales U8 -> dequant.y F32 [rows, cols] */
static dsv4_status quant_dequant(const dsv4_quant_cfg *q, dsv4_impl impl, const dsv4_st *src,
                                 dsv4_st *dst, char *err, size_t errlen) {
    const dsv4_tensor *c, *sc;
    quant_shapes s;
    dsv4_status st = dsv4_stage_input(src, "quant.codes", DSV4_DT_U8, 2, &c, err, errlen);
    if (st == DSV4_OK) st = dsv4_stage_input(src, "quant.scales", DSV4_DT_U8, 2, &sc, err, errlen);
    if (st != DSV4_OK) return st;
    size_t cols = c->shape[1];
    if (q->fmt == DSV4_FMT_E2M1 && !dsv4_mul_ok(cols, 2, &cols)) {
        snprintf(err, errlen, "quant.codes: too many columns");
        return DSV4_E_OVERFLOW;
    }
    st = quant_geometry(q, c->shape[0], cols, &s, err, errlen);
    if (st != DSV4_OK) return st;
    if (sc->shape[0] != s.scales[0] || sc->shape[1] != s.scales[1]) {
        snprintf(err, errlen, "quant.scales is [%zu, %zu], expected [%zu, %zu] for codes [%zu, %zu]",
                 sc->shape[0], sc->shape[1], s.scales[0], s.scales[1], c->shape[0], c->shape[1]);
        return DSV4_E_DTYPE;
    }
    float *y = dsv4_alloc_array(area(s.x), sizeof *y); /* s.x */
    if (!y) return no_memory(NULL, NULL, err, errlen);
    st = impls[impl].dequant(q, s.x[0], s.x[1], c->data, sc->data, y);
    if (st != DSV4_OK) {
        free(y);
        return lib_error(st, "dequant", impl, err, errlen);
    }
    return emit(dst, "dequant.y", DSV4_DT_F32, 2, s.x, y, err, errlen);
}

/* fake_quant: in.x F32 [rows, cols] -> fake_quant.y F32 [rows, cols] */
static dsv4_status quant_fake(const dsv4_quant_cfg *q, dsv4_impl impl, const dsv4_st *src,
                              dsv4_st *dst, char *err, size_t errlen) {
    const dsv4_tensor *x;
    quant_shapes s;
    dsv4_status st = dsv4_stage_input(src, "in.x", DSV4_DT_F32, 2, &x, err, errlen);
    if (st == DSV4_OK) st = quant_geometry(q, x->shape[0], x->shape[1], &s, err, errlen);
    if (st != DSV4_OK) return st;
    float *y = dsv4_alloc_array(area(s.x), sizeof *y); /* s.x */
    if (!y) return no_memory(NULL, NULL, err, errlen);
    st = impls[impl].fake_quant(q, s.x[0], s.x[1], x->data, y);
    if (st != DSV4_OK) {
        free(y);
        return lib_error(st, "fake_quant", impl, err, errlen);
    }
    return emit(dst, "fake_quant.y", DSV4_DT_F32, 2, s.x, y, err, errlen);
}

static dsv4_status quant_run_stage(const void *params, size_t stage, dsv4_impl impl,
                                   const dsv4_st *src, dsv4_st *dst, char *err, size_t errlen) {
    switch (stage) {
    case 0: return quant_quant(params, impl, src, dst, err, errlen);
    case 1: return quant_dequant(params, impl, src, dst, err, errlen);
    default: return quant_fake(params, impl, src, dst, err, errlen);
    }
}

const dsv4_op dsv4_op_quant = {
    .name = "quant",
    .description = "block quantizer: codes + one UE8M0 scale per block_rows x block_cols tile",
    .keys = {{.name = "fmt",
              .kind = DSV4_KEY_ENUM,
              .def = "e2m1",
              .choices = {"e2m1", "e4m3", "e5m2", NULL},
              .help = "element format"},
             {.name = "block_rows",
              .kind = DSV4_KEY_UINT,
              .def = "1",
              .min = 1,
              .help = "tile height (1 for activations, 128 for weights)"},
             {.name = "block_cols",
              .kind = DSV4_KEY_UINT,
              .def = "32",
              .min = 1,
              .help = "tile width (32 for FP4, 64 or 128 for FP8; even for e2m1)"},
             {.name = "rule",
              .kind = DSV4_KEY_ENUM,
              .def = "rceil",
              .choices = {"rceil", "floor", NULL},
              .help = "scale rule: rceil (DeepSeek-V4) or floor (OCP MX)"}},
    .inputs = {{"in.x", "F32", "[rows, cols]"}},
    .stages = {{.name = "quant",
                .inputs = {"in.x", NULL},
                .outputs = {{"quant.codes", "U8", "[rows, cols/2] (e2m1, packed) or [rows, cols]"},
                            {"quant.scales", "U8", "[rows/block_rows, cols/block_cols]"}},
                .tol = {.kind = DSV4_TOL_EXACT}},
               {.name = "dequant",
                .inputs = {"quant.codes", "quant.scales", NULL},
                .outputs = {{"dequant.y", "F32", "[rows, cols]"}},
                .tol = {.kind = DSV4_TOL_EXACT}},
               {.name = "fake_quant",
                .inputs = {"in.x", NULL},
                .outputs = {{"fake_quant.y", "F32", "[rows, cols]"}},
                .tol = {.kind = DSV4_TOL_EXACT}}},
    .configure = quant_configure,
    .run_stage = quant_run_stage,
};
