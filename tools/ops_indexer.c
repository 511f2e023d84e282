/* ops_indexer.c - the lightning indexer of the registry (spec/indexer.md;
 * tensor names in spec/golden.md): "indexer", one call per file (the
 * compressed keys it scores come in as in.k, the indexer compressor's cache
 * rows so far).  The width K = min(topk, E) of the index lists is bound by
 * the `derive` hook. */
#include "ops_shared.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- checks and symbols (shared with the oracle) -------------------------------------- */
static dsv4_status indexer_check(const dsv4_json *cfg, dsv4_binding *b, char *err,
                                 size_t errlen) {
    (void)b;
    dsv4_status st = dsv4_rope_keys_check(cfg, "indexer", err, errlen);
    if (st != DSV4_OK) return st;
    uint64_t hd = dsv4_json_get(cfg, "head_dim")->u, rd = dsv4_json_get(cfg, "rope_dim")->u;
    if ((hd & (hd - 1)) != 0 || hd % 32 != 0 || rd > hd) {
        snprintf(err, errlen, "op indexer: head_dim must be a power of two, a multiple of 32 and "
                 "at least rope_dim");
        return DSV4_E_ARG;
    }
    if (strcmp(dsv4_json_get(cfg, "act_fp8")->string, "yes") == 0 &&
        dsv4_json_get(cfg, "q_lora")->u % 128 != 0) {
        snprintf(err, errlen, "op indexer: act_fp8 needs q_lora a multiple of 128");
        return DSV4_E_ARG;
    }
    return DSV4_OK;
}

/* K = min(topk, E); the positions pos .. pos + T - 1 must stay below 2^31. */
static dsv4_status indexer_derive(const dsv4_view *v, dsv4_binding *b, char *err,
                                  size_t errlen) {
    const dsv4_tensor *pos = dsv4_view_find(v, "in.pos");
    uint64_t T = 0, E = 0, k = 0;
    int32_t p;
    memcpy(&p, pos->data, sizeof p);
    (void)dsv4_bind_get(b, "T", &T);
    (void)dsv4_bind_get(b, "E", &E);
    (void)dsv4_bind_get(b, "topk", &k);
    if (p < 0 || T > (uint64_t)INT32_MAX - (uint64_t)p) {
        snprintf(err, errlen, "in.pos %d with %llu tokens leaves [0, 2^31)", (int)p,
                 (unsigned long long)T);
        return DSV4_E_ARG;
    }
    return dsv4_bind_set(b, "K", k < E ? k : E);
}

#ifndef DSV4_SCHEMA_ONLY
static dsv4_status indexer_params(const dsv4_json *cfg, void **params, char *err,
                                  size_t errlen) {
    dsv4_indexer_cfg *p = malloc(sizeof *p);
    (void)err;
    (void)errlen;
    if (!p) return DSV4_E_NOMEM;
    p->dim = (size_t)dsv4_json_get(cfg, "dim")->u;
    p->q_lora = (size_t)dsv4_json_get(cfg, "q_lora")->u;
    p->n_heads = (size_t)dsv4_json_get(cfg, "n_heads")->u;
    p->head_dim = (size_t)dsv4_json_get(cfg, "head_dim")->u;
    p->ratio = (size_t)dsv4_json_get(cfg, "ratio")->u;
    p->topk = (size_t)dsv4_json_get(cfg, "topk")->u;
    p->window = (size_t)dsv4_json_get(cfg, "window")->u;
    p->act_fp8 = strcmp(dsv4_json_get(cfg, "act_fp8")->string, "yes") == 0;
    p->rope = dsv4_rope_keys_cfg(cfg);
    *params = p;
    return DSV4_OK;
}

static int64_t pos_of(const dsv4_tensor *t) {
    int32_t p;
    memcpy(&p, t->data, sizeof p);
    return p;
}

/* q_proj: in.qr, w.wq_b -> q_proj.q  (I1) */
static dsv4_status run_q_proj(const dsv4_stage_ctx *c) {
    dsv4_indexer_weights w = {dsv4_ctx_in_f32(c, 1), NULL};
    return dsv4_ctx_lib(c, (c->impl == DSV4_IMPL_REF ? dsv4_ref_indexer_project
                                                     : dsv4_opt_indexer_project)(
                               c->params, &w, dsv4_ctx_dim(c, "T"), dsv4_ctx_in_f32(c, 0),
                               dsv4_ctx_out_f32(c, 0)));
}

/* q_rope, q_rotate, q_quant: the query heads, in.pos -> the next form  (I2-I4) */
static dsv4_status query_stage(const dsv4_stage_ctx *c, dsv4_indexer_query_stage stage) {
    return dsv4_ctx_lib(c, dsv4_indexer_query(c->params, stage, pos_of(c->in[1]),
                                              dsv4_ctx_dim(c, "T"), dsv4_ctx_in_f32(c, 0),
                                              dsv4_ctx_out_f32(c, 0)));
}

static dsv4_status run_q_rope(const dsv4_stage_ctx *c) { return query_stage(c, DSV4_INDEXER_ROPE); }
static dsv4_status run_q_rotate(const dsv4_stage_ctx *c) {
    return query_stage(c, DSV4_INDEXER_ROTATE);
}
static dsv4_status run_q_quant(const dsv4_stage_ctx *c) {
    return query_stage(c, DSV4_INDEXER_QUANT);
}

/* weights: in.x, w.weights_proj -> weights.w  (I5) */
static dsv4_status run_weights(const dsv4_stage_ctx *c) {
    dsv4_indexer_weights w = {NULL, dsv4_ctx_in_f32(c, 1)};
    return dsv4_ctx_lib(c, (c->impl == DSV4_IMPL_REF ? dsv4_ref_indexer_weights
                                                     : dsv4_opt_indexer_weights)(
                               c->params, &w, dsv4_ctx_dim(c, "T"), dsv4_ctx_in_f32(c, 0),
                               dsv4_ctx_out_f32(c, 0)));
}

/* scores: q_quant.q, in.k, weights.w, in.pos -> scores.i  (I6) */
static dsv4_status run_scores(const dsv4_stage_ctx *c) {
    return dsv4_ctx_lib(c, (c->impl == DSV4_IMPL_REF ? dsv4_ref_indexer_scores
                                                     : dsv4_opt_indexer_scores)(
                               c->params, pos_of(c->in[3]), dsv4_ctx_dim(c, "T"),
                               dsv4_ctx_dim(c, "E"), dsv4_ctx_in_f32(c, 0), dsv4_ctx_in_f32(c, 1),
                               dsv4_ctx_in_f32(c, 2), dsv4_ctx_out_f32(c, 0)));
}

/* topk: scores.i, in.pos -> topk.idx, topk.kv  (I7, I8) */
static dsv4_status run_topk(const dsv4_stage_ctx *c) {
    return dsv4_ctx_lib(c, (c->impl == DSV4_IMPL_REF ? dsv4_ref_indexer_topk
                                                     : dsv4_opt_indexer_topk)(
                               c->params, pos_of(c->in[1]), dsv4_ctx_dim(c, "T"),
                               dsv4_ctx_dim(c, "E"), dsv4_ctx_in_f32(c, 0),
                               (int32_t *)c->out[0].data, (int32_t *)c->out[1].data));
}
#endif

/* ---- declaration ------------------------------------------------------------------------- */
/* Default tolerances of `dsv4 run` (golden files carry their own,
 * spec/indexer.md §6): one bf16 ulp for the bf16 stages, equal values for
 * the scores, the project's tie rule for the lists. */
#define TOL_EXACT {.kind = DSV4_TOL_EXACT}
#define TOL_BF16 {.kind = DSV4_TOL_ABS_REL, .abs = 0.0, .rel = 0.0078125}
#define TOL_VALUES {.kind = DSV4_TOL_ABS_REL, .abs = 0.0, .rel = 0.0}
#define HEADS "T, n_heads, head_dim"

const dsv4_op dsv4_op_indexer = {
    .name = "indexer",
    .description = "V4's lightning indexer: FP4 query heads against the compressed keys, "
                   "weighted ReLU scores, causal top-k",
    .keys = DSV4_KEYS({.name = "dim", .kind = DSV4_KEY_UINT, .def = "4096", .min = 1,
                       .max = 1u << 16, .help = "width of x (V4-Flash 4096, V4-Pro 7168)"},
                      {.name = "q_lora", .kind = DSV4_KEY_UINT, .def = "1024", .min = 1,
                       .max = 1u << 16, .help = "width of qr (V4-Flash 1024, V4-Pro 1536)"},
                      {.name = "n_heads", .kind = DSV4_KEY_UINT, .def = "64", .min = 1,
                       .max = 1024, .help = "indexer heads (V4: 64)"},
                      {.name = "head_dim", .kind = DSV4_KEY_UINT, .def = "128", .min = 32,
                       .max = 1u << 15, .help = "head and key width, a power of two (V4: 128)"},
                      {.name = "ratio", .kind = DSV4_KEY_UINT, .def = "4", .min = 1,
                       .max = 1u << 16, .help = "tokens per compressed entry (V4: 4)"},
                      {.name = "topk", .kind = DSV4_KEY_UINT, .def = "512", .min = 1,
                       .max = 1u << 20, .help = "entries per query (V4-Flash 512, V4-Pro 1024)"},
                      {.name = "window", .kind = DSV4_KEY_UINT, .def = "128", .min = 0,
                       .max = 1u << 20, .help = "KV rows before the entries in decode (V4: 128)"},
                      {.name = "act_fp8",
                       .kind = DSV4_KEY_ENUM,
                       .def = "yes",
                       .choices = DSV4_NAMES("yes", "no"),
                       .help = "yes: qr fake-quantized to FP8 1x128 before wq_b, as V4's FP8 "
                               "linear"},
                      DSV4_ROPE_KEYS),
    .weights = DSV4_TENSORS(DSV4_IN("w.wq_b", "F32", "n_heads*head_dim, q_lora"),
                            DSV4_IN("w.weights_proj", "F32", "n_heads, dim")),
    .inputs = DSV4_TENSORS(DSV4_IN("in.qr", "F32", "T, q_lora"), DSV4_IN("in.x", "F32", "T, dim"),
                           DSV4_IN("in.k", "F32", "E, head_dim"), DSV4_IN("in.pos", "I32", "1")),
    .stages = DSV4_STAGES(
        {.name = "q_proj",
         .inputs = DSV4_NAMES("in.qr", "w.wq_b"),
         .outputs = DSV4_TENSORS(DSV4_OUT("q_proj.q", "F32", HEADS, TOL_BF16)),
         .run = DSV4_RUN(run_q_proj)},
        {.name = "q_rope",
         .inputs = DSV4_NAMES("q_proj.q", "in.pos"),
         .outputs = DSV4_TENSORS(DSV4_OUT("q_rope.q", "F32", HEADS, TOL_BF16)),
         .run = DSV4_RUN(run_q_rope)},
        {.name = "q_rotate",
         .inputs = DSV4_NAMES("q_rope.q", "in.pos"),
         .outputs = DSV4_TENSORS(DSV4_OUT("q_rotate.q", "F32", HEADS, TOL_BF16)),
         .run = DSV4_RUN(run_q_rotate)},
        {.name = "q_quant",
         .inputs = DSV4_NAMES("q_rotate.q", "in.pos"),
         .outputs = DSV4_TENSORS(DSV4_OUT("q_quant.q", "F32", HEADS, TOL_EXACT)),
         .run = DSV4_RUN(run_q_quant)},
        {.name = "weights",
         .inputs = DSV4_NAMES("in.x", "w.weights_proj"),
         .outputs = DSV4_TENSORS(DSV4_OUT("weights.w", "F32", "T, n_heads", TOL_BF16)),
         .run = DSV4_RUN(run_weights)},
        {.name = "scores",
         .inputs = DSV4_NAMES("q_quant.q", "in.k", "weights.w", "in.pos"),
         .outputs = DSV4_TENSORS(DSV4_OUT("scores.i", "F32", "T, E", TOL_VALUES)),
         .run = DSV4_RUN(run_scores)},
        {.name = "topk",
         .inputs = DSV4_NAMES("scores.i", "in.pos"),
         .outputs = DSV4_TENSORS(DSV4_OUT("topk.idx", "I32", "T, K", TOL_EXACT),
                                 DSV4_OUT("topk.kv", "I32", "T, K", TOL_EXACT)),
         .run = DSV4_RUN(run_topk)}),
    .check = indexer_check,
    .params = DSV4_RUN(indexer_params),
    .derive = indexer_derive,
};
