/* ops_rope.c - the RoPE operator of the registry (spec/rope.md; tensor
 * names in spec/golden.md §6c): "rope", the frequency table of V4's
 * precompute_freqs_cis with YaRN and the rotation of apply_rotary_emb.
 * The table has one implementation, which ref and opt share; the rotation
 * has no opt entry point yet, so both implementations run ref's. */
#include "ops_shared.h"

#include <stdlib.h>

/* ---- checks (shared with the oracle) --------------------------------------------- */
static dsv4_status rope_check(const dsv4_json *cfg, dsv4_binding *b, char *err, size_t errlen) {
    (void)b;
    return dsv4_rope_keys_check(cfg, "rope", err, errlen);
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
    p->cfg = dsv4_rope_keys_cfg(cfg);
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
    .keys = DSV4_KEYS(DSV4_ROPE_KEYS,
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
