/* ops_compressor.c - the KV compressor of the registry (spec/compressor.md;
 * tensor names in spec/golden.md): "compressor", a streaming operator whose
 * state (state.kv, state.score, state.pos) carries the tokens of an
 * incomplete block from call to call.  The number of entries a call emits
 * depends on the value of state.pos: the `derive` hook binds it (n).
 * project has a ref and an opt entry point; pool, carry and the finishing
 * stages have one implementation, which both run. */
#include "ops_shared.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- checks and symbols (shared with the oracle) -------------------------------------- */
static int is(const dsv4_json *cfg, const char *key, const char *value) {
    return strcmp(dsv4_json_get(cfg, key)->string, value) == 0;
}

/* coff (2 with the overlapping window of ratio 4, else 1) and hadamard (1
 * for hadamard_fp4, which adds the rotate stage). */
static dsv4_status compressor_check(const dsv4_json *cfg, dsv4_binding *b, char *err,
                                    size_t errlen) {
    dsv4_status st = dsv4_rope_keys_check(cfg, "compressor", err, errlen);
    if (st != DSV4_OK) return st;
    uint64_t d = dsv4_json_get(cfg, "head_dim")->u, rd = dsv4_json_get(cfg, "rope_dim")->u;
    int fp4 = is(cfg, "quant", "hadamard_fp4");
    if (rd > d) {
        snprintf(err, errlen, "op compressor: rope_dim must be at most head_dim");
        return DSV4_E_ARG;
    }
    if (is(cfg, "quant", "fp8") && (d - rd) % 64 != 0) {
        snprintf(err, errlen, "op compressor: fp8 needs head_dim - rope_dim a multiple of 64");
        return DSV4_E_ARG;
    }
    if (fp4 && ((d & (d - 1)) != 0 || d % 32 != 0)) {
        snprintf(err, errlen, "op compressor: hadamard_fp4 needs head_dim a power of two, a "
                 "multiple of 32");
        return DSV4_E_ARG;
    }
    st = dsv4_bind_set(b, "coff", dsv4_json_get(cfg, "ratio")->u == 4 ? 2 : 1);
    if (st == DSV4_OK) st = dsv4_bind_set(b, "hadamard", fp4);
    return st;
}

/* n, the entries of the call: floor((p + T) / r) - floor(p / r), p the value
 * of state.pos (in [0, 2^31), p + T too). */
static dsv4_status compressor_derive(const dsv4_view *v, dsv4_binding *b, char *err,
                                     size_t errlen) {
    const dsv4_tensor *pos = dsv4_view_find(v, "state.pos");
    uint64_t T = 0, r = 0;
    int32_t p;
    memcpy(&p, pos->data, sizeof p);
    (void)dsv4_bind_get(b, "T", &T);
    (void)dsv4_bind_get(b, "ratio", &r);
    if (p < 0 || T > (uint64_t)INT32_MAX - (uint64_t)p) {
        snprintf(err, errlen, "state.pos %d with %llu tokens leaves [0, 2^31)", (int)p,
                 (unsigned long long)T);
        return DSV4_E_ARG;
    }
    return dsv4_bind_set(b, "n", ((uint64_t)p + T) / r - (uint64_t)p / r);
}

#ifndef DSV4_SCHEMA_ONLY
static dsv4_status compressor_params(const dsv4_json *cfg, void **params, char *err,
                                     size_t errlen) {
    dsv4_compressor_cfg *p = malloc(sizeof *p);
    (void)err;
    (void)errlen;
    if (!p) return DSV4_E_NOMEM;
    p->dim = (size_t)dsv4_json_get(cfg, "dim")->u;
    p->head_dim = (size_t)dsv4_json_get(cfg, "head_dim")->u;
    p->ratio = (size_t)dsv4_json_get(cfg, "ratio")->u;
    p->quant = is(cfg, "quant", "fp8")            ? DSV4_COMPRESS_FP8
               : is(cfg, "quant", "hadamard_fp4") ? DSV4_COMPRESS_HADAMARD_FP4
                                                  : DSV4_COMPRESS_NONE;
    p->norm_eps = (float)dsv4_json_get(cfg, "norm_eps")->number;
    p->rope = dsv4_rope_keys_cfg(cfg);
    *params = p;
    return DSV4_OK;
}

static int64_t pos_of(const dsv4_tensor *t) {
    int32_t p;
    memcpy(&p, t->data, sizeof p);
    return p;
}

/* The state the call starts from: inputs kv, score, pos at i, i+1, i+2
 * (only read, though the struct's arrays are not const). */
static dsv4_compressor_state state_in(const dsv4_stage_ctx *c, size_t i) {
    dsv4_compressor_state s = {(float *)c->in[i]->data, (float *)c->in[i + 1]->data,
                               pos_of(c->in[i + 2])};
    return s;
}

/* project: in.x, w.wkv, w.wgate, w.ape, state.pos -> project.kv, project.score  (C1) */
static dsv4_status run_project(const dsv4_stage_ctx *c) {
    dsv4_compressor_weights w = {dsv4_ctx_in_f32(c, 1), dsv4_ctx_in_f32(c, 2),
                                 dsv4_ctx_in_f32(c, 3), NULL};
    dsv4_status (*project)(const dsv4_compressor_cfg *, const dsv4_compressor_weights *, int64_t,
                           size_t, const float *, float *, float *) =
        c->impl == DSV4_IMPL_REF ? dsv4_ref_compress_project : dsv4_opt_compress_project;
    return dsv4_ctx_lib(c, project(c->params, &w, pos_of(c->in[4]), dsv4_ctx_dim(c, "T"),
                                   dsv4_ctx_in_f32(c, 0), dsv4_ctx_out_f32(c, 0),
                                   dsv4_ctx_out_f32(c, 1)));
}

/* pool: project.kv, project.score, state.kv, state.score, state.pos -> pool.e  (C2) */
static dsv4_status run_pool(const dsv4_stage_ctx *c) {
    dsv4_compressor_state s = state_in(c, 2);
    return dsv4_ctx_lib(c, dsv4_compress_pool(c->params, &s, dsv4_ctx_dim(c, "T"),
                                              dsv4_ctx_in_f32(c, 0), dsv4_ctx_in_f32(c, 1),
                                              dsv4_ctx_out_f32(c, 0)));
}

/* norm, rope, rotate, quant: their input (and for norm w.norm), and state.pos
 * last, whose block is the first entry's -> their output  (C3-C5) */
static dsv4_status finish(const dsv4_stage_ctx *c, dsv4_compress_stage stage) {
    const dsv4_compressor_cfg *cfg = c->params;
    dsv4_compressor_weights w = {NULL, NULL, NULL,
                                 stage == DSV4_COMPRESS_NORM ? dsv4_ctx_in_f32(c, 1) : NULL};
    int64_t first = pos_of(c->in[c->stage->n_inputs - 1]) / (int64_t)cfg->ratio;
    return dsv4_ctx_lib(c, dsv4_compress_finish(cfg, &w, stage, first, dsv4_ctx_dim(c, "n"),
                                                dsv4_ctx_in_f32(c, 0), dsv4_ctx_out_f32(c, 0)));
}

static dsv4_status run_norm(const dsv4_stage_ctx *c) { return finish(c, DSV4_COMPRESS_NORM); }
static dsv4_status run_rope(const dsv4_stage_ctx *c) { return finish(c, DSV4_COMPRESS_ROPE); }
static dsv4_status run_rotate(const dsv4_stage_ctx *c) { return finish(c, DSV4_COMPRESS_ROTATE); }
static dsv4_status run_quant(const dsv4_stage_ctx *c) { return finish(c, DSV4_COMPRESS_QUANT); }

/* carry: project.kv, project.score, state.kv, state.score, state.pos ->
 * carry.kv, carry.score, carry.pos: the state the next call starts from */
static dsv4_status run_carry(const dsv4_stage_ctx *c) {
    dsv4_ctx_copy(c, 0, 2);
    dsv4_ctx_copy(c, 1, 3);
    dsv4_compressor_state s = {dsv4_ctx_out_f32(c, 0), dsv4_ctx_out_f32(c, 1), pos_of(c->in[4])};
    dsv4_status st = dsv4_compress_carry(c->params, dsv4_ctx_dim(c, "T"), dsv4_ctx_in_f32(c, 0),
                                         dsv4_ctx_in_f32(c, 1), &s);
    int32_t p = (int32_t)s.pos;
    if (st == DSV4_OK) memcpy(c->out[2].data, &p, sizeof p);
    return dsv4_ctx_lib(c, st);
}
#endif

/* ---- declaration ------------------------------------------------------------------------- */
/* Default tolerances of `dsv4 run` (golden files carry their own, derived
 * per case, spec/compressor.md §7). */
#define TOL_EXACT {.kind = DSV4_TOL_EXACT}
#define TOL_F32 {.kind = DSV4_TOL_ABS_REL, .abs = 1e-5, .rel = 1e-5}
#define TOL_BF16 {.kind = DSV4_TOL_ABS_REL, .abs = 0.0, .rel = 0.0078125}
#define ENTRY_SHAPE "n, head_dim"

const dsv4_op dsv4_op_compressor = {
    .name = "compressor",
    .description = "V4's KV compressor: gated pooling of every ratio tokens per channel "
                   "(overlapping windows at ratio 4), RMSNorm, RoPE, FP8 or Hadamard+FP4",
    .keys = DSV4_KEYS({.name = "dim",
                       .kind = DSV4_KEY_UINT,
                       .def = "4096",
                       .min = 1,
                       .max = 1u << 16,
                       .help = "width of the layer input x (V4-Flash 4096, V4-Pro 7168)"},
                      {.name = "head_dim",
                       .kind = DSV4_KEY_UINT,
                       .def = "512",
                       .min = 1,
                       .max = 1u << 15,
                       .help = "width of an entry (512 main, 128 the indexer's)"},
                      {.name = "ratio",
                       .kind = DSV4_KEY_UINT,
                       .def = "4",
                       .min = 1,
                       .max = 1u << 16,
                       .help = "tokens per entry; 4 overlaps the windows (V4: 4 CSA, 128 HCA)"},
                      {.name = "quant",
                       .kind = DSV4_KEY_ENUM,
                       .def = "fp8",
                       .choices = DSV4_NAMES("fp8", "hadamard_fp4", "none"),
                       .help = "after RoPE: fp8 (main), hadamard_fp4 (the indexer's), none"},
                      {.name = "norm_eps",
                       .kind = DSV4_KEY_NUMBER,
                       .def = "1e-06",
                       .fp32 = 1,
                       .help = "RMSNorm eps (V4: 1e-6, used as the nearest fp32)"},
                      DSV4_ROPE_KEYS),
    .weights = DSV4_TENSORS(DSV4_IN("w.wkv", "F32", "coff*head_dim, dim"),
                            DSV4_IN("w.wgate", "F32", "coff*head_dim, dim"),
                            DSV4_IN("w.ape", "F32", "ratio, coff*head_dim"),
                            DSV4_IN("w.norm", "F32", "head_dim")),
    .inputs = DSV4_TENSORS(DSV4_IN("in.x", "F32", "T, dim")),
    .state = DSV4_TENSORS(DSV4_STATE("state.kv", "F32", "coff*ratio, coff*head_dim", "carry.kv"),
                          DSV4_STATE("state.score", "F32", "coff*ratio, coff*head_dim",
                                     "carry.score"),
                          DSV4_STATE("state.pos", "I32", "1", "carry.pos")),
    .stages = DSV4_STAGES(
        {.name = "project",
         .inputs = DSV4_NAMES("in.x", "w.wkv", "w.wgate", "w.ape", "state.pos"),
         .outputs = DSV4_TENSORS(DSV4_OUT("project.kv", "F32", "T, coff*head_dim", TOL_F32),
                                 DSV4_OUT("project.score", "F32", "T, coff*head_dim", TOL_F32)),
         .run = DSV4_RUN(run_project)},
        {.name = "pool",
         .inputs = DSV4_NAMES("project.kv", "project.score", "state.kv", "state.score",
                              "state.pos"),
         .outputs = DSV4_TENSORS(DSV4_OUT("pool.e", "F32", ENTRY_SHAPE, TOL_F32)),
         .run = DSV4_RUN(run_pool)},
        {.name = "norm",
         .inputs = DSV4_NAMES("pool.e", "w.norm", "state.pos"),
         .outputs = DSV4_TENSORS(DSV4_OUT("norm.y", "F32", ENTRY_SHAPE, TOL_BF16)),
         .run = DSV4_RUN(run_norm)},
        {.name = "rope",
         .inputs = DSV4_NAMES("norm.y", "state.pos"),
         .outputs = DSV4_TENSORS(DSV4_OUT("rope.y", "F32", ENTRY_SHAPE, TOL_BF16)),
         .run = DSV4_RUN(run_rope)},
        {.name = "rotate",
         .inputs = DSV4_NAMES("rope.y", "state.pos"),
         .outputs = DSV4_TENSORS(DSV4_OUT("rotate.y", "F32", ENTRY_SHAPE, TOL_BF16)),
         .when = "hadamard",
         .run = DSV4_RUN(run_rotate)},
        {.name = "quant",
         .inputs = DSV4_NAMES("rope.y", "state.pos"),
         .outputs = DSV4_TENSORS(DSV4_OUT("quant.y", "F32", ENTRY_SHAPE, TOL_EXACT)),
         .unless = "hadamard",
         .run = DSV4_RUN(run_quant)},
        {.name = "quant",
         .inputs = DSV4_NAMES("rotate.y", "state.pos"),
         .outputs = DSV4_TENSORS(DSV4_OUT("quant.y", "F32", ENTRY_SHAPE, TOL_EXACT)),
         .when = "hadamard",
         .run = DSV4_RUN(run_quant)},
        {.name = "carry",
         .inputs = DSV4_NAMES("project.kv", "project.score", "state.kv", "state.score",
                              "state.pos"),
         .outputs = DSV4_TENSORS(
             DSV4_OUT("carry.kv", "F32", "coff*ratio, coff*head_dim", TOL_EXACT),
             DSV4_OUT("carry.score", "F32", "coff*ratio, coff*head_dim", TOL_EXACT),
             DSV4_OUT("carry.pos", "I32", "1", TOL_EXACT)),
         .run = DSV4_RUN(run_carry)}),
    .check = compressor_check,
    .params = DSV4_RUN(compressor_params),
    .derive = compressor_derive,
};
