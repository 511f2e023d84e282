/* ops_sparse_attn.c - the sparse attention operator of the registry
 * (spec/sparse_attn.md; tensor names in spec/golden.md §6h):
 * "sparse_attn", V4's sparse_attn with its per-head sink, one stage. */
#include "registry.h"

#include <stdlib.h>

#ifndef DSV4_SCHEMA_ONLY
/* The configuration; the scale key 0 stands for fp32(head_dim^-1/2). */
static dsv4_status attn_params(const dsv4_json *cfg, void **params, char *err, size_t errlen) {
    dsv4_sparse_attn_cfg *p = malloc(sizeof *p);
    (void)err;
    (void)errlen;
    if (!p) return DSV4_E_NOMEM;
    p->n_heads = (size_t)dsv4_json_get(cfg, "n_heads")->u;
    p->head_dim = (size_t)dsv4_json_get(cfg, "head_dim")->u;
    double scale = dsv4_json_get(cfg, "scale")->number;
    p->scale = scale == 0.0 ? dsv4_sparse_attn_scale(p->head_dim) : (float)scale;
    *params = p;
    return DSV4_OK;
}

/* attn: in.q [T, H, D], in.kv [N, D], in.sink [H], in.idx [T, K]
 *       -> attn.o [T, H, D], attn.lse [T, H]  (A1-A4) */
static dsv4_status run_attn(const dsv4_stage_ctx *c) {
    const dsv4_sparse_attn_cfg *p = c->params;
    dsv4_status (*fn)(const dsv4_sparse_attn_cfg *, size_t, size_t, size_t, const float *,
                      const float *, const float *, const int32_t *, float *, float *) =
        c->impl == DSV4_IMPL_OPT ? dsv4_opt_sparse_attn : dsv4_ref_sparse_attn;
    return dsv4_ctx_lib(c, fn(p, dsv4_ctx_dim(c, "T"), dsv4_ctx_dim(c, "N"), dsv4_ctx_dim(c, "K"),
                              dsv4_ctx_in_f32(c, 0), dsv4_ctx_in_f32(c, 1), dsv4_ctx_in_f32(c, 2),
                              (const int32_t *)c->in[3]->data, dsv4_ctx_out_f32(c, 0),
                              dsv4_ctx_out_f32(c, 1)));
}
#endif

/* ---- declaration ----------------------------------------------------------------- */
/* Default tolerances of `dsv4 run` (golden files carry their own per-element
 * bound, spec/sparse_attn.md §5): o two bf16 ulps and an absolute term for
 * outputs that cancel; lse 1e-4 absolute. */
#define TOL_O {.kind = DSV4_TOL_ABS_REL, .abs = 0x1p-12, .rel = 0x1p-6}
#define TOL_LSE {.kind = DSV4_TOL_ABS_REL, .abs = 1e-4, .rel = 0x1p-22}

const dsv4_op dsv4_op_sparse_attn = {
    .name = "sparse_attn",
    .description = "V4's sparse attention: softmax over indexed rows of one shared KV array, "
                   "per-head sink in the denominator, bf16",
    .keys = DSV4_KEYS({.name = "n_heads",
                       .kind = DSV4_KEY_UINT,
                       .def = "64",
                       .min = 1,
                       .max = 4096,
                       .help = "query heads (V4-Flash 64, V4-Pro 128)"},
                      {.name = "head_dim",
                       .kind = DSV4_KEY_UINT,
                       .def = "512",
                       .min = 1,
                       .max = 65536,
                       .help = "width of a head and of a KV row (V4: 512)"},
                      {.name = "scale",
                       .kind = DSV4_KEY_NUMBER,
                       .def = "0",
                       .fp32 = 1,
                       .help = "multiplies q.k, used as the nearest fp32; 0 means "
                               "fp32(head_dim^-0.5), V4's"}),
    .inputs = DSV4_TENSORS(DSV4_IN("in.q", "F32", "T, n_heads, head_dim"),
                           DSV4_IN("in.kv", "F32", "N, head_dim"),
                           DSV4_IN("in.sink", "F32", "n_heads"), DSV4_IN("in.idx", "I32", "T, K")),
    .stages = DSV4_STAGES(
        {.name = "attn",
         .inputs = DSV4_NAMES("in.q", "in.kv", "in.sink", "in.idx"),
         .outputs = DSV4_TENSORS(DSV4_OUT("attn.o", "F32", "T, n_heads, head_dim", TOL_O),
                                 DSV4_OUT("attn.lse", "F32", "T, n_heads", TOL_LSE)),
         .run = DSV4_RUN(run_attn)}),
    .params = DSV4_RUN(attn_params),
};
