/* ops_rope.c - the RoPE operator of the registry (spec/rope.md; tensor
 * names in spec/golden.md §6c): "rope", the frequency table of V4's
 * precompute_freqs_cis with YaRN and the rotation of apply_rotary_emb.
 * The table has one implementation, which ref and opt share; the rotation
 * has no opt entry point yet, so both implementations run ref's. */
#include "registry.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>

/* ---- checks (shared with the oracle) --------------------------------------------- */
static double number(const dsv4_json *cfg, const char *key) {
    return dsv4_json_get(cfg, key)->number;
}

/* The limits of dsv4_rope_cfg (include/dsv4.h) that the key declarations
 * cannot state on their own. */
static dsv4_status rope_check(const dsv4_json *cfg, dsv4_binding *b, char *err, size_t errlen) {
    (void)b;
    if (dsv4_json_get(cfg, "rope_dim")->u % 2 != 0) {
        snprintf(err, errlen, "op rope: rope_dim must be even (channels rotate in pairs)");
        return DSV4_E_ARG;
    }
    if (!(number(cfg, "base") > 1.0) || !(number(cfg, "base") <= FLT_MAX)) {
        snprintf(err, errlen, "op rope: base must be above 1 and at most FLT_MAX");
        return DSV4_E_ARG;
    }
    if (dsv4_json_get(cfg, "original_seq_len")->u == 0) return DSV4_OK; /* no YaRN */
    if (!(number(cfg, "factor") >= 1.0) || !(number(cfg, "factor") <= FLT_MAX)) {
        snprintf(err, errlen, "op rope: with YaRN, factor must be in [1, FLT_MAX]");
        return DSV4_E_ARG;
    }
    if (!(number(cfg, "beta_fast") > 0.0) || !(number(cfg, "beta_slow") > 0.0)) {
        snprintf(err, errlen, "op rope: with YaRN, beta_fast and beta_slow must be above 0");
        return DSV4_E_ARG;
    }
    return DSV4_OK;
}

#ifndef DSV4_SCHEMA_ONLY
typedef struct rope_params {
    dsv4_rope_cfg cfg;
    int inverse;
} rope_params;

static dsv4_status rope_params_of(const dsv4_json *cfg, void **params, char *err,
                                  size_t errlen) {
    rope_params *p = malloc(sizeof *p);
    (void)err;
    (void)errlen;
    if (!p) return DSV4_E_NOMEM;
    p->cfg.rope_dim = (size_t)dsv4_json_get(cfg, "rope_dim")->u;
    p->cfg.base = number(cfg, "base");
    p->cfg.factor = number(cfg, "factor");
    p->cfg.original_seq_len = dsv4_json_get(cfg, "original_seq_len")->u;
    p->cfg.beta_fast = number(cfg, "beta_fast");
    p->cfg.beta_slow = number(cfg, "beta_slow");
    p->inverse = dsv4_json_get(cfg, "inverse")->string[0] == 'y';
    *params = p;
    return DSV4_OK;
}

/* table: in.pos [T] -> table.inv_freq [rope_dim/2], table.cos, table.sin
 * [T, rope_dim/2]  (R1-R5, Y1-Y6) */
static dsv4_status run_table(const dsv4_stage_ctx *c) {
    const rope_params *p = c->params;
    dsv4_status st = dsv4_rope_inv_freq(&p->cfg, dsv4_ctx_out_f32(c, 0));
    if (st == DSV4_OK)
        st = dsv4_rope_table(&p->cfg, dsv4_ctx_dim(c, "T"), (const int32_t *)c->in[0]->data,
                             dsv4_ctx_out_f32(c, 1), dsv4_ctx_out_f32(c, 2));
    return dsv4_ctx_lib(c, st);
}

/* rotate: in.x [T, rows, width], table.cos, table.sin -> rotate.y  (A1, A2) */
static dsv4_status run_rotate(const dsv4_stage_ctx *c) {
    const rope_params *p = c->params;
    return dsv4_ctx_lib(c, dsv4_ref_rope_apply(&p->cfg, dsv4_ctx_dim(c, "T"),
                                               dsv4_ctx_dim(c, "rows"), dsv4_ctx_dim(c, "width"),
                                               p->inverse, dsv4_ctx_in_f32(c, 1),
                                               dsv4_ctx_in_f32(c, 2), dsv4_ctx_in_f32(c, 0),
                                               dsv4_ctx_out_f32(c, 0)));
}
#endif

/* ---- declaration ----------------------------------------------------------------- */
/* Default tolerances of `dsv4 run` (golden files carry their own, spec/rope.md
 * §5): the frequencies exact; cosine and sine one fp32 ulp (2^-23 relative,
 * and the smallest subnormal); the bf16 rotation one bf16 ulp. */
#define TOL_EXACT {.kind = DSV4_TOL_EXACT}
#define TOL_TABLE {.kind = DSV4_TOL_ABS_REL, .abs = 0x1p-149, .rel = 0x1p-23}
#define TOL_BF16 {.kind = DSV4_TOL_ABS_REL, .abs = 0.0, .rel = 0.0078125}

const dsv4_op dsv4_op_rope = {
    .name = "rope",
    .description = "RoPE as V4 applies it: YaRN frequency table, interleaved pairs of the last "
                   "rope_dim channels, bf16",
    .keys = DSV4_KEYS({.name = "rope_dim",
                       .kind = DSV4_KEY_UINT,
                       .def = "64",
                       .min = 2,
                       .max = 65536,
                       .help = "channels rotated, the last of each row; even (V4: 64)"},
                      {.name = "base",
                       .kind = DSV4_KEY_NUMBER,
                       .def = "160000",
                       .help = "theta (V4: 160000 with a compressor, 10000 window-only)"},
                      {.name = "factor",
                       .kind = DSV4_KEY_NUMBER,
                       .def = "16",
                       .help = "YaRN scale factor (V4: 16)"},
                      {.name = "original_seq_len",
                       .kind = DSV4_KEY_UINT,
                       .def = "65536",
                       .min = 0,
                       .max = (1ull << 53) - 1,
                       .help = "YaRN's original context; 0 = no YaRN (V4: 65536 with a "
                               "compressor, 0 window-only)"},
                      {.name = "beta_fast",
                       .kind = DSV4_KEY_NUMBER,
                       .def = "32",
                       .help = "YaRN correction range, fast end in rotations (V4: 32)"},
                      {.name = "beta_slow",
                       .kind = DSV4_KEY_NUMBER,
                       .def = "1",
                       .help = "YaRN correction range, slow end in rotations (V4: 1)"},
                      {.name = "inverse",
                       .kind = DSV4_KEY_ENUM,
                       .def = "no",
                       .choices = DSV4_NAMES("no", "yes"),
                       .help = "yes: the conjugate rotation (V4's output de-rotation)"}),
    .inputs = DSV4_TENSORS(DSV4_IN("in.x", "F32", "T, rows, width"),
                           DSV4_IN("in.pos", "I32", "T")),
    .stages = DSV4_STAGES(
        {.name = "table",
         .inputs = DSV4_NAMES("in.pos"),
         .outputs = DSV4_TENSORS(DSV4_OUT("table.inv_freq", "F32", "rope_dim/2", TOL_EXACT),
                                 DSV4_OUT("table.cos", "F32", "T, rope_dim/2", TOL_TABLE),
                                 DSV4_OUT("table.sin", "F32", "T, rope_dim/2", TOL_TABLE)),
         .run = DSV4_RUN(run_table)},
        {.name = "rotate",
         .inputs = DSV4_NAMES("in.x", "table.cos", "table.sin"),
         .outputs = DSV4_TENSORS(DSV4_OUT("rotate.y", "F32", "T, rows, width", TOL_BF16)),
         .run = DSV4_RUN(run_rotate)}),
    .check = rope_check,
    .params = DSV4_RUN(rope_params_of),
};
