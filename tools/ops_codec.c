/* ops_codec.c - the codec operators of the registry (spec/formats.md;
 * tensor names in spec/golden.md §6): "cast" (element encode/decode of one
 * number format) and "quant" (block quantizer with a UE8M0 scale per tile).
 * Each stage calls the library entry point of the implementation asked for. */
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- checks and symbols (shared with the oracle) -------------------------------- */
static int is(const dsv4_json *cfg, const char *key, const char *value) {
    return strcmp(dsv4_json_get(cfg, key)->string, value) == 0;
}

/* cast: BF16 codes are 16-bit patterns, every other format one byte each. */
static dsv4_status cast_check(const dsv4_json *cfg, dsv4_binding *b, char *err, size_t errlen) {
    (void)err;
    (void)errlen;
    return dsv4_bind_set_dtype(b, "code", is(cfg, "fmt", "bf16") ? DSV4_DT_U16 : DSV4_DT_U8);
}

/* quant: e2m1 packs two codes per byte (pack = 2), so a tile is an even
 * number of columns. */
static dsv4_status quant_check(const dsv4_json *cfg, dsv4_binding *b, char *err, size_t errlen) {
    int fp4 = is(cfg, "fmt", "e2m1");
    if (fp4 && dsv4_json_get(cfg, "block_cols")->u % 2 != 0) {
        snprintf(err, errlen, "op quant: e2m1 packs two codes per byte: block_cols must be even");
        return DSV4_E_ARG;
    }
    return dsv4_bind_set(b, "pack", fp4 ? 2 : 1);
}

#ifndef DSV4_SCHEMA_ONLY
/* ---- the library entry points of each implementation ------------------------------ */
typedef struct codec_impl {
    dsv4_status (*encode)(dsv4_fmt f, size_t n, const float *x, void *codes);
    dsv4_status (*decode)(dsv4_fmt f, size_t n, const void *codes, float *y);
    dsv4_status (*quant)(const dsv4_quant_cfg *cfg, size_t rows, size_t cols, const float *x,
                         uint8_t *codes, uint8_t *scales);
    dsv4_status (*dequant)(const dsv4_quant_cfg *cfg, size_t rows, size_t cols,
                           const uint8_t *codes, const uint8_t *scales, float *y);
    dsv4_status (*fake_quant)(const dsv4_quant_cfg *cfg, size_t rows, size_t cols,
                              const float *x, float *y);
} codec_impl;

static const codec_impl impls[DSV4_IMPL_COUNT] = {
    {dsv4_ref_encode, dsv4_ref_decode, dsv4_ref_quant, dsv4_ref_dequant, dsv4_ref_fake_quant},
    {dsv4_opt_encode, dsv4_opt_decode, dsv4_opt_quant, dsv4_opt_dequant, dsv4_opt_fake_quant},
};

/* One parameter block serves both operators: cast uses fmt only. */
static dsv4_status codec_params(const dsv4_json *cfg, void **params, char *err, size_t errlen) {
    dsv4_quant_cfg *q = calloc(1, sizeof *q);
    if (!q) return DSV4_E_NOMEM;
    dsv4_status st = dsv4_fmt_parse(dsv4_json_get(cfg, "fmt")->string, &q->fmt);
    const dsv4_json *br = dsv4_json_get(cfg, "block_rows"), *bc = dsv4_json_get(cfg, "block_cols");
    q->block_rows = br ? (size_t)br->u : 1;
    q->block_cols = bc ? (size_t)bc->u : 1;
    q->rule = dsv4_json_get(cfg, "rule") && is(cfg, "rule", "floor") ? DSV4_SCALE_FLOOR
                                                                     : DSV4_SCALE_RCEIL;
    if (st != DSV4_OK) {
        snprintf(err, errlen, "internal: unknown fmt");
        free(q);
        return st;
    }
    *params = q;
    return DSV4_OK;
}

/* encode: in.x [n] -> encode.codes [n] */
static dsv4_status run_encode(const dsv4_stage_ctx *c) {
    const dsv4_quant_cfg *q = c->params;
    return dsv4_ctx_lib(c, impls[c->impl].encode(q->fmt, dsv4_ctx_dim(c, "n"),
                                                  dsv4_ctx_in_f32(c, 0), c->out[0].data));
}

/* decode: encode.codes [n] -> decode.y [n] */
static dsv4_status run_decode(const dsv4_stage_ctx *c) {
    const dsv4_quant_cfg *q = c->params;
    return dsv4_ctx_lib(c, impls[c->impl].decode(q->fmt, dsv4_ctx_dim(c, "n"), c->in[0]->data,
                                                  dsv4_ctx_out_f32(c, 0)));
}

/* quant: in.x [rows, cols] -> quant.codes, quant.scales */
static dsv4_status run_quant(const dsv4_stage_ctx *c) {
    return dsv4_ctx_lib(c, impls[c->impl].quant(c->params, dsv4_ctx_dim(c, "rows"),
                                                 dsv4_ctx_dim(c, "cols"), dsv4_ctx_in_f32(c, 0),
                                                 c->out[0].data, c->out[1].data));
}

/* dequant: quant.codes, quant.scales -> dequant.y [rows, cols] */
static dsv4_status run_dequant(const dsv4_stage_ctx *c) {
    return dsv4_ctx_lib(c, impls[c->impl].dequant(c->params, dsv4_ctx_dim(c, "rows"),
                                                   dsv4_ctx_dim(c, "cols"), c->in[0]->data,
                                                   c->in[1]->data, dsv4_ctx_out_f32(c, 0)));
}

/* fake_quant: in.x [rows, cols] -> fake_quant.y [rows, cols] */
static dsv4_status run_fake_quant(const dsv4_stage_ctx *c) {
    return dsv4_ctx_lib(c, impls[c->impl].fake_quant(c->params, dsv4_ctx_dim(c, "rows"),
                                                      dsv4_ctx_dim(c, "cols"),
                                                      dsv4_ctx_in_f32(c, 0),
                                                      dsv4_ctx_out_f32(c, 0)));
}
#endif

#define EXACT {.kind = DSV4_TOL_EXACT}

const dsv4_op dsv4_op_cast = {
    .name = "cast",
    .description = "element-wise encode to a number format and decode back to fp32",
    .keys = DSV4_KEYS({.name = "fmt",
                       .kind = DSV4_KEY_ENUM,
                       .def = "bf16",
                       .choices = DSV4_NAMES("bf16", "e4m3", "e5m2", "e2m1", "ue8m0"),
                       .help = "number format"}),
    .inputs = DSV4_TENSORS(DSV4_IN("in.x", "F32", "n")),
    .stages = DSV4_STAGES(
        {.name = "encode",
         .inputs = DSV4_NAMES("in.x"),
         .outputs = DSV4_TENSORS(DSV4_OUT("encode.codes", "code", "n", EXACT)),
         .run = DSV4_RUN(run_encode)},
        {.name = "decode",
         .inputs = DSV4_NAMES("encode.codes"),
         .outputs = DSV4_TENSORS(DSV4_OUT("decode.y", "F32", "n", EXACT)),
         .run = DSV4_RUN(run_decode)}),
    .check = cast_check,
    .params = DSV4_RUN(codec_params),
};

const dsv4_op dsv4_op_quant = {
    .name = "quant",
    .description = "block quantizer: codes + one UE8M0 scale per block_rows x block_cols tile",
    .keys = DSV4_KEYS({.name = "fmt",
                       .kind = DSV4_KEY_ENUM,
                       .def = "e2m1",
                       .choices = DSV4_NAMES("e2m1", "e4m3", "e5m2"),
                       .help = "element format"},
                      {.name = "block_rows",
                       .kind = DSV4_KEY_UINT,
                       .def = "1",
                       .min = 1,
                       .max = 1u << 20,
                       .help = "tile height (1 for activations, 128 for weights)"},
                      {.name = "block_cols",
                       .kind = DSV4_KEY_UINT,
                       .def = "32",
                       .min = 1,
                       .max = 1u << 20,
                       .help = "tile width (32 for FP4, 64 or 128 for FP8; even for e2m1)"},
                      {.name = "rule",
                       .kind = DSV4_KEY_ENUM,
                       .def = "rceil",
                       .choices = DSV4_NAMES("rceil", "floor"),
                       .help = "scale rule: rceil (DeepSeek-V4) or floor (OCP MX)"}),
    .inputs = DSV4_TENSORS(DSV4_IN("in.x", "F32", "rows, cols")),
    .stages = DSV4_STAGES(
        {.name = "quant",
         .inputs = DSV4_NAMES("in.x"),
         .outputs = DSV4_TENSORS(DSV4_OUT("quant.codes", "U8", "rows, cols/pack", EXACT),
                                 DSV4_OUT("quant.scales", "U8", "rows/block_rows, cols/block_cols", EXACT)),
         .run = DSV4_RUN(run_quant)},
        {.name = "dequant",
         .inputs = DSV4_NAMES("quant.codes", "quant.scales"),
         .outputs = DSV4_TENSORS(DSV4_OUT("dequant.y", "F32", "rows, cols", EXACT)),
         .run = DSV4_RUN(run_dequant)},
        {.name = "fake_quant",
         .inputs = DSV4_NAMES("in.x"),
         .outputs = DSV4_TENSORS(DSV4_OUT("fake_quant.y", "F32", "rows, cols", EXACT)),
         .run = DSV4_RUN(run_fake_quant)}),
    .check = quant_check,
    .params = DSV4_RUN(codec_params),
};
