/* ops_mhc.c - the mHC operators of the registry (spec/mhc.md; tensor names
 * in spec/golden.md §6): "hc_pre", "sinkhorn", "hc_post" and "hc_head".
 * Each stage calls the library's stage-level entry point (dsv4.h,
 * "Stage-level entry points"), so a stage fed with the golden inputs of
 * that stage is checked on its own.  split and the hc_head weights have one
 * implementation, bit-exact by the spec, which both ref and opt run. */
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- checks (shared with the oracle) ---------------------------------------------- */
/* The sizes the stages allocate, (2+hc)*hc * hc*d floats of fn among them,
 * must fit in size_t. */
static dsv4_status mhc_check(const dsv4_json *cfg, dsv4_binding *b, char *err, size_t errlen) {
    uint64_t hc = dsv4_json_get(cfg, "hc")->u, d = dsv4_json_get(cfg, "d")->u;
    (void)b;
    if ((2 + hc) * hc * hc * d > SIZE_MAX / sizeof(float)) {
        snprintf(err, errlen, "op mhc: fn [(2+hc)*hc, hc*d] does not fit in memory");
        return DSV4_E_ARG;
    }
    return DSV4_OK;
}

#ifndef DSV4_SCHEMA_ONLY
/* ---- the library entry points of each implementation ------------------------------- */
typedef struct mhc_impl {
    dsv4_status (*rms)(const dsv4_mhc_cfg *cfg, size_t T, const float *x, float *r);
    dsv4_status (*mixes)(const dsv4_mhc_cfg *cfg, size_t T, size_t rows, const float *x,
                         const float *fn, const float *r, float *mixes);
    dsv4_status (*weighted_sum)(const dsv4_mhc_cfg *cfg, size_t T, const float *x, const float *w,
                                float *y);
    dsv4_status (*sinkhorn_init)(const dsv4_sinkhorn_cfg *cfg, size_t T, const float *logits,
                                 float *out);
    dsv4_status (*sinkhorn_iterate)(const dsv4_sinkhorn_cfg *cfg, size_t T, const float *c,
                                    float *out);
    dsv4_status (*sinkhorn)(const dsv4_sinkhorn_cfg *cfg, size_t T, const float *logits,
                            float *out);
    dsv4_status (*post)(const dsv4_mhc_cfg *cfg, size_t T, const float *f, const float *x,
                        const float *post, const float *comb, float *out);
} mhc_impl;

static const mhc_impl impls[DSV4_IMPL_COUNT] = {
    {dsv4_ref_hc_rms, dsv4_ref_hc_mixes, dsv4_ref_hc_weighted_sum, dsv4_ref_sinkhorn_init,
     dsv4_ref_sinkhorn_iterate, dsv4_ref_sinkhorn, dsv4_ref_hc_post},
    {dsv4_opt_hc_rms, dsv4_opt_hc_mixes, dsv4_opt_hc_weighted_sum, dsv4_opt_sinkhorn_init,
     dsv4_opt_sinkhorn_iterate, dsv4_opt_sinkhorn, dsv4_opt_hc_post},
};

/* An eps key as the fp32 value nearest to it (finite: the key says fp32). */
static float eps_of(const dsv4_json *cfg, const char *key) {
    return (float)dsv4_json_get(cfg, key)->number;
}

static dsv4_status mhc_params(const dsv4_json *cfg, void **params, char *err, size_t errlen) {
    dsv4_mhc_cfg *p = malloc(sizeof *p);
    (void)err;
    (void)errlen;
    if (!p) return DSV4_E_NOMEM;
    p->hc = (size_t)dsv4_json_get(cfg, "hc")->u;
    p->d = (size_t)dsv4_json_get(cfg, "d")->u;
    p->sinkhorn_iters = (int)dsv4_json_get(cfg, "sinkhorn_iters")->u;
    p->hc_eps = eps_of(cfg, "hc_eps");
    p->norm_eps = eps_of(cfg, "norm_eps");
    *params = p;
    return DSV4_OK;
}

static dsv4_status sinkhorn_params(const dsv4_json *cfg, void **params, char *err,
                                   size_t errlen) {
    dsv4_sinkhorn_cfg *p = malloc(sizeof *p);
    (void)err;
    (void)errlen;
    if (!p) return DSV4_E_NOMEM;
    p->n = (size_t)dsv4_json_get(cfg, "n")->u;
    p->iters = (int)dsv4_json_get(cfg, "iters")->u;
    p->eps = eps_of(cfg, "eps");
    *params = p;
    return DSV4_OK;
}

/* The Sinkhorn of hc_pre: n = hc, iters = sinkhorn_iters, eps = hc_eps. */
static dsv4_sinkhorn_cfg pre_sinkhorn_cfg(const dsv4_mhc_cfg *m) {
    dsv4_sinkhorn_cfg s = {.n = m->hc, .iters = m->sinkhorn_iters, .eps = m->hc_eps};
    return s;
}

/* ---- stages ---------------------------------------------------------------------------- */
/* rms: in.x [T, hc, d] -> rms.r [T]  (H1) */
static dsv4_status run_rms(const dsv4_stage_ctx *c) {
    return dsv4_ctx_lib(c, impls[c->impl].rms(c->params, dsv4_ctx_dim(c, "T"),
                                               dsv4_ctx_in_f32(c, 0), dsv4_ctx_out_f32(c, 0)));
}

/* mixes: in.x, in.fn [rows, hc*d], rms.r -> mixes.m [T, rows]  (H2) */
static dsv4_status run_mixes(const dsv4_stage_ctx *c) {
    size_t rows = c->out[0].shape[1]; /* (2+hc)*hc for hc_pre, hc for hc_head */
    return dsv4_ctx_lib(c, impls[c->impl].mixes(c->params, dsv4_ctx_dim(c, "T"), rows,
                                                 dsv4_ctx_in_f32(c, 0), dsv4_ctx_in_f32(c, 1),
                                                 dsv4_ctx_in_f32(c, 2), dsv4_ctx_out_f32(c, 0)));
}

/* split: mixes.m, in.scale [3], in.base -> split.pre, split.post, split.logits  (H3) */
static dsv4_status run_split(const dsv4_stage_ctx *c) {
    return dsv4_ctx_lib(c, dsv4_hc_split(c->params, dsv4_ctx_dim(c, "T"), dsv4_ctx_in_f32(c, 0),
                                         dsv4_ctx_in_f32(c, 1), dsv4_ctx_in_f32(c, 2),
                                         dsv4_ctx_out_f32(c, 0), dsv4_ctx_out_f32(c, 1),
                                         dsv4_ctx_out_f32(c, 2)));
}

/* sinkhorn: split.logits [T, hc, hc] -> sinkhorn.comb  (S1-S3) */
static dsv4_status run_pre_sinkhorn(const dsv4_stage_ctx *c) {
    dsv4_sinkhorn_cfg s = pre_sinkhorn_cfg(c->params);
    return dsv4_ctx_lib(c, impls[c->impl].sinkhorn(&s, dsv4_ctx_dim(c, "T"),
                                                    dsv4_ctx_in_f32(c, 0), dsv4_ctx_out_f32(c, 0)));
}

/* weighted_sum: in.x, (split.pre | weights.w) [T, hc] -> weighted_sum.y [T, d]  (H5) */
static dsv4_status run_weighted_sum(const dsv4_stage_ctx *c) {
    return dsv4_ctx_lib(c, impls[c->impl].weighted_sum(c->params, dsv4_ctx_dim(c, "T"),
                                                        dsv4_ctx_in_f32(c, 0),
                                                        dsv4_ctx_in_f32(c, 1),
                                                        dsv4_ctx_out_f32(c, 0)));
}

/* weights: mixes.m [T, hc], in.scale [1], in.base [hc] -> weights.w [T, hc] */
static dsv4_status run_head_weights(const dsv4_stage_ctx *c) {
    return dsv4_ctx_lib(c, dsv4_hc_head_weights(c->params, dsv4_ctx_dim(c, "T"),
                                                dsv4_ctx_in_f32(c, 0), dsv4_ctx_in_f32(c, 1),
                                                dsv4_ctx_in_f32(c, 2), dsv4_ctx_out_f32(c, 0)));
}

/* post: in.f, in.x, in.post, in.comb -> post.out [T, hc, d]  (H6) */
static dsv4_status run_post(const dsv4_stage_ctx *c) {
    return dsv4_ctx_lib(c, impls[c->impl].post(c->params, dsv4_ctx_dim(c, "T"),
                                                dsv4_ctx_in_f32(c, 0), dsv4_ctx_in_f32(c, 1),
                                                dsv4_ctx_in_f32(c, 2), dsv4_ctx_in_f32(c, 3),
                                                dsv4_ctx_out_f32(c, 0)));
}

/* init: in.logits [T, n, n] -> init.c (softmax + first column step) */
static dsv4_status run_sinkhorn_init(const dsv4_stage_ctx *c) {
    return dsv4_ctx_lib(c, impls[c->impl].sinkhorn_init(c->params, dsv4_ctx_dim(c, "T"),
                                                         dsv4_ctx_in_f32(c, 0),
                                                         dsv4_ctx_out_f32(c, 0)));
}

/* iterate: init.c -> iterate.comb (iters - 1 more rounds) */
static dsv4_status run_sinkhorn_iterate(const dsv4_stage_ctx *c) {
    return dsv4_ctx_lib(c, impls[c->impl].sinkhorn_iterate(c->params, dsv4_ctx_dim(c, "T"),
                                                            dsv4_ctx_in_f32(c, 0),
                                                            dsv4_ctx_out_f32(c, 0)));
}
#endif

/* ---- declarations ------------------------------------------------------------------------ */
/* Default tolerances for the outputs of `dsv4 run` (golden files carry their
 * own, derived per case by the oracle): mHC's recommended absolute bounds,
 * and one bf16 ulp (2^-7 relative) for bf16 outputs, which have no fp32
 * reference tensor outside golden files. */
#define TOL_RMS {.kind = DSV4_TOL_ABS_REL, .abs = 0.0, .rel = 1e-6}
#define TOL_MIXES {.kind = DSV4_TOL_ABS_REL, .abs = 3e-5, .rel = 1e-6}
#define TOL_GATE {.kind = DSV4_TOL_ABS_REL, .abs = 2e-5, .rel = 0.0}
#define TOL_SINKHORN {.kind = DSV4_TOL_ABS_REL, .abs = 5e-6, .rel = 0.0}
#define TOL_BF16 {.kind = DSV4_TOL_ABS_REL, .abs = 0.0, .rel = 0.0078125}

#define MHC_KEYS                                                                              \
    DSV4_KEYS({.name = "hc",                                                                  \
               .kind = DSV4_KEY_UINT,                                                         \
               .def = "4",                                                                    \
               .min = 1,                                                                      \
               .max = 64,                                                                     \
               .help = "streams (V4: 4)"},                                                    \
              {.name = "d",                                                                   \
               .kind = DSV4_KEY_UINT,                                                         \
               .def = "4096",                                                                 \
               .min = 1,                                                                      \
               .max = 1u << 16,                                                               \
               .help = "width of one stream (V4-Flash 4096, V4-Pro 7168)"},                   \
              {.name = "sinkhorn_iters",                                                      \
               .kind = DSV4_KEY_UINT,                                                         \
               .def = "20",                                                                   \
               .min = 1,                                                                      \
               .max = 10000,                                                                  \
               .help = "Sinkhorn-Knopp rounds (V4: 20)"},                                     \
              {.name = "hc_eps",                                                              \
               .kind = DSV4_KEY_NUMBER,                                                       \
               .def = "1e-06",                                                                \
               .fp32 = 1,                                                                     \
               .help = "eps of pre, the weights and Sinkhorn (used as the nearest fp32)"},    \
              {.name = "norm_eps",                                                            \
               .kind = DSV4_KEY_NUMBER,                                                       \
               .def = "1e-06",                                                                \
               .fp32 = 1,                                                                     \
               .help = "eps inside the RMS factor (used as the nearest fp32)"})

/* The stages hc_pre and hc_head share. */
#define STAGE_RMS                                                                             \
    {.name = "rms",                                                                           \
     .inputs = DSV4_NAMES("in.x"),                                                            \
     .outputs = DSV4_TENSORS(DSV4_OUT("rms.r", "F32", "T", TOL_RMS)),                                 \
     .run = DSV4_RUN(run_rms)}
#define STAGE_MIXES(rows)                                                                     \
    {.name = "mixes",                                                                         \
     .inputs = DSV4_NAMES("in.x", "in.fn", "rms.r"),                                          \
     .outputs = DSV4_TENSORS(DSV4_OUT("mixes.m", "F32", "T, " rows, TOL_MIXES)),                       \
     .run = DSV4_RUN(run_mixes)}
#define STAGE_WEIGHTED_SUM(weights)                                                           \
    {.name = "weighted_sum",                                                                  \
     .inputs = DSV4_NAMES("in.x", weights),                                                   \
     .outputs = DSV4_TENSORS(DSV4_OUT("weighted_sum.y", "F32", "T, d", TOL_BF16)),                     \
     .run = DSV4_RUN(run_weighted_sum)}

const dsv4_op dsv4_op_hc_pre = {
    .name = "hc_pre",
    .description = "mHC before a sublayer: RMS factor, mixes, gates, Sinkhorn comb, bf16 input",
    .keys = MHC_KEYS,
    .inputs = DSV4_TENSORS(DSV4_IN("in.x", "F32", "T, hc, d"),
                           DSV4_IN("in.fn", "F32", "(2+hc)*hc, hc*d"),
                           DSV4_IN("in.scale", "F32", "3"),
                           DSV4_IN("in.base", "F32", "(2+hc)*hc")),
    .stages = DSV4_STAGES(
        STAGE_RMS,
        STAGE_MIXES("(2+hc)*hc"),
        {.name = "split",
         .inputs = DSV4_NAMES("mixes.m", "in.scale", "in.base"),
         .outputs = DSV4_TENSORS(DSV4_OUT("split.pre", "F32", "T, hc", TOL_GATE),
                                 DSV4_OUT("split.post", "F32", "T, hc", TOL_GATE),
                                 DSV4_OUT("split.logits", "F32", "T, hc, hc", TOL_GATE)),
         .run = DSV4_RUN(run_split)},
        {.name = "sinkhorn",
         .inputs = DSV4_NAMES("split.logits"),
         .outputs = DSV4_TENSORS(DSV4_OUT("sinkhorn.comb", "F32", "T, hc, hc", TOL_GATE)),
         .run = DSV4_RUN(run_pre_sinkhorn)},
        STAGE_WEIGHTED_SUM("split.pre")),
    .check = mhc_check,
    .params = DSV4_RUN(mhc_params),
};

const dsv4_op dsv4_op_hc_head = {
    .name = "hc_head",
    .description = "mHC before the final norm: sigmoid weights collapse the streams to bf16",
    .keys = MHC_KEYS,
    .inputs = DSV4_TENSORS(DSV4_IN("in.x", "F32", "T, hc, d"),
                           DSV4_IN("in.fn", "F32", "hc, hc*d"),
                           DSV4_IN("in.scale", "F32", "1"),
                           DSV4_IN("in.base", "F32", "hc")),
    .stages = DSV4_STAGES(
        STAGE_RMS,
        STAGE_MIXES("hc"),
        {.name = "weights",
         .inputs = DSV4_NAMES("mixes.m", "in.scale", "in.base"),
         .outputs = DSV4_TENSORS(DSV4_OUT("weights.w", "F32", "T, hc", TOL_GATE)),
         .run = DSV4_RUN(run_head_weights)},
        STAGE_WEIGHTED_SUM("weights.w")),
    .check = mhc_check,
    .params = DSV4_RUN(mhc_params),
};

const dsv4_op dsv4_op_hc_post = {
    .name = "hc_post",
    .description = "mHC after a sublayer: post-weighted output plus comb-mixed streams, bf16",
    .keys = MHC_KEYS,
    .inputs = DSV4_TENSORS(DSV4_IN("in.f", "F32", "T, d"),
                           DSV4_IN("in.x", "F32", "T, hc, d"),
                           DSV4_IN("in.post", "F32", "T, hc"),
                           DSV4_IN("in.comb", "F32", "T, hc, hc")),
    .stages = DSV4_STAGES({.name = "post",
                           .inputs = DSV4_NAMES("in.f", "in.x", "in.post", "in.comb"),
                           .outputs = DSV4_TENSORS(DSV4_OUT("post.out", "F32", "T, hc, d", TOL_BF16)),
                           .run = DSV4_RUN(run_post)}),
    .check = mhc_check,
    .params = DSV4_RUN(mhc_params),
};

const dsv4_op dsv4_op_sinkhorn = {
    .name = "sinkhorn",
    .description = "Sinkhorn-Knopp as V4 runs it: row softmax + eps, then column/row steps",
    .keys = DSV4_KEYS({.name = "n",
                       .kind = DSV4_KEY_UINT,
                       .def = "4",
                       .min = 1,
                       .max = 64,
                       .help = "matrix size"},
                      {.name = "iters",
                       .kind = DSV4_KEY_UINT,
                       .def = "20",
                       .min = 1,
                       .max = 10000,
                       .help = "row normalisations (the softmax is the first) (V4: 20)"},
                      {.name = "eps",
                       .kind = DSV4_KEY_NUMBER,
                       .def = "1e-06",
                       .fp32 = 1,
                       .help = "added after the softmax and to every divisor (nearest fp32)"}),
    .inputs = DSV4_TENSORS(DSV4_IN("in.logits", "F32", "T, n, n")),
    .stages = DSV4_STAGES(
        {.name = "init",
         .inputs = DSV4_NAMES("in.logits"),
         .outputs = DSV4_TENSORS(DSV4_OUT("init.c", "F32", "T, n, n", TOL_SINKHORN)),
         .run = DSV4_RUN(run_sinkhorn_init)},
        {.name = "iterate",
         .inputs = DSV4_NAMES("init.c"),
         .outputs = DSV4_TENSORS(DSV4_OUT("iterate.comb", "F32", "T, n, n", TOL_SINKHORN)),
         .run = DSV4_RUN(run_sinkhorn_iterate)}),
    .params = DSV4_RUN(sinkhorn_params),
};
