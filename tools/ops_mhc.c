/* ops_mhc.c - the mHC operators of the registry (spec/mhc.md): "hc_pre",
 * "sinkhorn", "hc_post" and "hc_head".  Each stage calls the library's
 * stage-level entry point (dsv4.h, "Stage-level entry points"), so a stage
 * fed with the golden inputs of that stage is checked on its own.
 *
 * split and the hc_head weights have no opt_ entry: spec/mhc.md makes opt's
 * split bit-exact with ref (same operations, same expf), so both
 * implementations run dsv4_hc_split / dsv4_hc_head_weights. */
#include "registry.h"

#include "internal.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- the library entry points of each implementation ---------------------------- */
typedef struct mhc_impl {
    dsv4_status (*rms)(const dsv4_mhc_cfg *cfg, size_t T, const float *x, float *r);
    dsv4_status (*mixes)(const dsv4_mhc_cfg *cfg, size_t T, size_t rows, const float *x,
                         const float *fn, const float *r, float *mixes);
    dsv4_status (*weighted_sum)(const dsv4_mhc_cfg *cfg, size_t T, const float *x, const float *w,
                                float *y);
    dsv4_status (*sinkhorn)(const dsv4_sinkhorn_cfg *cfg, size_t T, const float *logits,
                            float *out);
    dsv4_status (*sinkhorn_init)(const dsv4_sinkhorn_cfg *cfg, size_t T, const float *logits,
                                 float *out);
    dsv4_status (*sinkhorn_iterate)(const dsv4_sinkhorn_cfg *cfg, size_t T, const float *c,
                                    float *out);
    dsv4_status (*post)(const dsv4_mhc_cfg *cfg, size_t T, const float *f, const float *x,
                        const float *post, const float *comb, float *out);
} mhc_impl;

static const mhc_impl impls[DSV4_IMPL_COUNT] = {
    {dsv4_ref_hc_rms, dsv4_ref_hc_mixes, dsv4_ref_hc_weighted_sum, dsv4_ref_sinkhorn,
     dsv4_ref_sinkhorn_init, dsv4_ref_sinkhorn_iterate, dsv4_ref_hc_post},
    {dsv4_opt_hc_rms, dsv4_opt_hc_mixes, dsv4_opt_hc_weighted_sum, dsv4_opt_sinkhorn,
     dsv4_opt_sinkhorn_init, dsv4_opt_sinkhorn_iterate, dsv4_opt_hc_post},
};

/* ---- helpers ---------------------------------------------------------------------- */
#define ANY SIZE_MAX /* a dimension read from the tensor (the token count T) */

static dsv4_status no_memory(char *err, size_t errlen) {
    snprintf(err, errlen, "%s", dsv4_strerror(DSV4_E_NOMEM));
    return DSV4_E_NOMEM;
}

static dsv4_status lib_error(dsv4_status st, const char *stage, dsv4_impl impl, char *err,
                             size_t errlen) {
    snprintf(err, errlen, "stage %s (%s): %s", stage, dsv4_impl_name(impl), dsv4_strerror(st));
    return st;
}

/* F32 input `name` of the given rank whose dims equal `want` (ANY: not
 * checked; the first ANY dim, T, is returned in *T when T is not NULL). */
static dsv4_status input(const dsv4_st *src, const char *name, int rank, const size_t *want,
                         const dsv4_tensor **t, size_t *T, char *err, size_t errlen) {
    dsv4_status st = dsv4_stage_input(src, name, DSV4_DT_F32, rank, t, err, errlen);
    if (st != DSV4_OK) return st;
    for (int i = 0; i < rank; i++) {
        if (want[i] == ANY) {
            if (T) *T = (*t)->shape[i];
            continue;
        }
        if ((*t)->shape[i] != want[i]) {
            snprintf(err, errlen, "tensor %s: dimension %d is %zu, expected %zu (config)", name, i,
                     (*t)->shape[i], want[i]);
            return DSV4_E_DTYPE;
        }
    }
    return DSV4_OK;
}

/* A second input must have the same token count T as the first. */
static dsv4_status same_tokens(const char *name, size_t got, size_t T, char *err, size_t errlen) {
    if (got == T) return DSV4_OK;
    snprintf(err, errlen, "tensor %s has %zu tokens, expected %zu", name, got, T);
    return DSV4_E_DTYPE;
}

/* Output buffers: up to 3 arrays of float; all or none are allocated. */
typedef struct outbuf {
    float *p[3];
} outbuf;

static dsv4_status outbuf_alloc(outbuf *o, size_t n0, size_t n1, size_t n2, char *err,
                                size_t errlen) {
    const size_t n[3] = {n0, n1, n2};
    for (int i = 0; i < 3; i++) o->p[i] = dsv4_alloc_array(n[i], sizeof(float));
    if (o->p[0] && o->p[1] && o->p[2]) return DSV4_OK;
    for (int i = 0; i < 3; i++) free(o->p[i]);
    return no_memory(err, errlen);
}

static void outbuf_free(outbuf *o) {
    for (int i = 0; i < 3; i++) free(o->p[i]);
}

/* Store buffer i as output `name` of the given shape. */
static dsv4_status emit(dsv4_st *dst, const outbuf *o, int i, const char *name, int rank,
                        const size_t *shape, char *err, size_t errlen) {
    return dsv4_stage_output(dst, name, DSV4_DT_F32, rank, shape, o->p[i], err, errlen);
}

/* ---- configuration (hc_pre, hc_post, hc_head) ------------------------------------- */
/* An eps key: a finite number >= 0 (checked by the registry), used as the
 * nearest fp32 value, which must be finite too. */
static dsv4_status eps_value(const dsv4_json *cfg, const char *key, const char *op, float *out,
                             char *err, size_t errlen) {
    double v = dsv4_json_get(cfg, key)->number;
    *out = (float)v;
    if (isinf(*out)) {
        snprintf(err, errlen, "op %s: \"%s\" is beyond the fp32 range", op, key);
        return DSV4_E_ARG;
    }
    return DSV4_OK;
}

static dsv4_status mhc_configure(const dsv4_json *cfg, void **params, char *err, size_t errlen) {
    dsv4_mhc_cfg c;
    uint64_t hc = dsv4_json_get(cfg, "hc")->u, d = dsv4_json_get(cfg, "d")->u;
    uint64_t iters = dsv4_json_get(cfg, "sinkhorn_iters")->u;
    size_t rows, K;
    if (hc > 4096 || d > SIZE_MAX || iters > INT_MAX || !dsv4_mul_ok((size_t)hc, (size_t)d, &K) ||
        !dsv4_mul_ok((size_t)hc + 2, (size_t)hc, &rows) || !dsv4_mul_ok(rows, K, &rows)) {
        snprintf(err, errlen, "op mhc: hc (<= 4096), d or sinkhorn_iters too large");
        return DSV4_E_ARG;
    }
    c.hc = (size_t)hc;
    c.d = (size_t)d;
    c.sinkhorn_iters = (int)iters;
    dsv4_status st = eps_value(cfg, "hc_eps", "mhc", &c.hc_eps, err, errlen);
    if (st == DSV4_OK) st = eps_value(cfg, "norm_eps", "mhc", &c.norm_eps, err, errlen);
    if (st != DSV4_OK) return st;
    dsv4_mhc_cfg *p = malloc(sizeof *p);
    if (!p) return no_memory(err, errlen);
    *p = c;
    *params = p;
    return DSV4_OK;
}

#define MHC_KEYS                                                                              \
    {{.name = "hc", .kind = DSV4_KEY_UINT, .def = "4", .min = 1, .help = "streams (V4: 4)"},  \
     {.name = "d",                                                                            \
      .kind = DSV4_KEY_UINT,                                                                  \
      .def = "4096",                                                                          \
      .min = 1,                                                                               \
      .help = "width of one stream (V4-Flash 4096, V4-Pro 7168)"},                            \
     {.name = "sinkhorn_iters",                                                               \
      .kind = DSV4_KEY_UINT,                                                                  \
      .def = "20",                                                                            \
      .min = 1,                                                                               \
      .help = "Sinkhorn-Knopp rounds (V4: 20)"},                                              \
     {.name = "hc_eps",                                                                       \
      .kind = DSV4_KEY_NUMBER,                                                                \
      .def = "1e-6",                                                                          \
      .help = "eps of pre, the weights and Sinkhorn (used as the nearest fp32)"},             \
     {.name = "norm_eps",                                                                     \
      .kind = DSV4_KEY_NUMBER,                                                                \
      .def = "1e-6",                                                                          \
      .help = "eps inside the RMS factor (used as the nearest fp32)"}}

/* Default tolerances for outputs of `dsv4 run` (golden files carry their
 * own, derived per case by the oracle): mHC's recommended absolute bounds,
 * and one bf16 ulp (2^-7 relative) for bf16 outputs, which have no fp32
 * reference tensor outside golden files. */
#define TOL_RMS {.kind = DSV4_TOL_ABS_REL, .abs = 0.0, .rel = 1e-6}
#define TOL_MIXES {.kind = DSV4_TOL_ABS_REL, .abs = 3e-5, .rel = 1e-6}
#define TOL_GATE {.kind = DSV4_TOL_ABS_REL, .abs = 2e-5, .rel = 0.0}
#define TOL_COMB {.kind = DSV4_TOL_ABS_REL, .abs = 2e-5, .rel = 0.0}
#define TOL_SINKHORN {.kind = DSV4_TOL_ABS_REL, .abs = 5e-6, .rel = 0.0}
#define TOL_BF16 {.kind = DSV4_TOL_ABS_REL, .abs = 0.0, .rel = 0.0078125}

/* ---- shared stages: rms, mixes, weighted_sum (hc_pre and hc_head) -------------------- */
/* rms: in.x [T, hc, d] -> rms.r [T] */
static dsv4_status stage_rms(const dsv4_mhc_cfg *c, dsv4_impl impl, const dsv4_st *src,
                             dsv4_st *dst, char *err, size_t errlen) {
    const dsv4_tensor *x;
    size_t T = 0, wx[3] = {ANY, c->hc, c->d};
    outbuf o;
    dsv4_status st = input(src, "in.x", 3, wx, &x, &T, err, errlen);
    if (st == DSV4_OK) st = outbuf_alloc(&o, T, 0, 0, err, errlen);
    if (st != DSV4_OK) return st;
    st = impls[impl].rms(c, T, x->data, o.p[0]);
    if (st != DSV4_OK) st = lib_error(st, "rms", impl, err, errlen);
    else st = emit(dst, &o, 0, "rms.r", 1, &T, err, errlen);
    outbuf_free(&o);
    return st;
}

/* mixes: in.x [T, hc, d], in.fn [rows, hc*d], rms.r [T] -> mixes.m [T, rows] */
static dsv4_status stage_mixes(const dsv4_mhc_cfg *c, size_t rows, dsv4_impl impl,
                               const dsv4_st *src, dsv4_st *dst, char *err, size_t errlen) {
    const dsv4_tensor *x, *fn, *r;
    size_t T = 0, Tr = 0, wx[3] = {ANY, c->hc, c->d}, wfn[2] = {rows, c->hc * c->d}, wr[1] = {ANY};
    outbuf o;
    dsv4_status st = input(src, "in.x", 3, wx, &x, &T, err, errlen);
    if (st == DSV4_OK) st = input(src, "in.fn", 2, wfn, &fn, NULL, err, errlen);
    if (st == DSV4_OK) st = input(src, "rms.r", 1, wr, &r, &Tr, err, errlen);
    if (st == DSV4_OK) st = same_tokens("rms.r", Tr, T, err, errlen);
    if (st == DSV4_OK) st = outbuf_alloc(&o, T * rows, 0, 0, err, errlen);
    if (st != DSV4_OK) return st;
    st = impls[impl].mixes(c, T, rows, x->data, fn->data, r->data, o.p[0]);
    size_t shape[2] = {T, rows};
    if (st != DSV4_OK) st = lib_error(st, "mixes", impl, err, errlen);
    else st = emit(dst, &o, 0, "mixes.m", 2, shape, err, errlen);
    outbuf_free(&o);
    return st;
}

/* weighted_sum: in.x [T, hc, d], <w_name> [T, hc] -> weighted_sum.y [T, d] */
static dsv4_status stage_weighted_sum(const dsv4_mhc_cfg *c, const char *w_name, dsv4_impl impl,
                                      const dsv4_st *src, dsv4_st *dst, char *err,
                                      size_t errlen) {
    const dsv4_tensor *x, *w;
    size_t T = 0, Tw = 0, wx[3] = {ANY, c->hc, c->d}, ww[2] = {ANY, c->hc};
    outbuf o;
    dsv4_status st = input(src, "in.x", 3, wx, &x, &T, err, errlen);
    if (st == DSV4_OK) st = input(src, w_name, 2, ww, &w, &Tw, err, errlen);
    if (st == DSV4_OK) st = same_tokens(w_name, Tw, T, err, errlen);
    if (st == DSV4_OK) st = outbuf_alloc(&o, T * c->d, 0, 0, err, errlen);
    if (st != DSV4_OK) return st;
    st = impls[impl].weighted_sum(c, T, x->data, w->data, o.p[0]);
    size_t shape[2] = {T, c->d};
    if (st != DSV4_OK) st = lib_error(st, "weighted_sum", impl, err, errlen);
    else st = emit(dst, &o, 0, "weighted_sum.y", 2, shape, err, errlen);
    outbuf_free(&o);
    return st;
}

/* ============================ op "hc_pre" ===================================== */
static size_t pre_rows(const dsv4_mhc_cfg *c) { return (2 + c->hc) * c->hc; }

/* split: mixes.m [T, (2+hc)*hc], in.scale [3], in.base [(2+hc)*hc]
 *     -> split.pre, split.post [T, hc], split.logits [T, hc, hc] */
static dsv4_status pre_split(const dsv4_mhc_cfg *c, const dsv4_st *src, dsv4_st *dst, char *err,
                             size_t errlen) {
    const dsv4_tensor *m, *scale, *base;
    size_t T = 0, M = pre_rows(c), hc = c->hc;
    size_t wm[2] = {ANY, M}, ws[1] = {3}, wb[1] = {M};
    outbuf o;
    dsv4_status st = input(src, "mixes.m", 2, wm, &m, &T, err, errlen);
    if (st == DSV4_OK) st = input(src, "in.scale", 1, ws, &scale, NULL, err, errlen);
    if (st == DSV4_OK) st = input(src, "in.base", 1, wb, &base, NULL, err, errlen);
    if (st == DSV4_OK) st = outbuf_alloc(&o, T * hc, T * hc, T * hc * hc, err, errlen);
    if (st != DSV4_OK) return st;
    st = dsv4_hc_split(c, T, m->data, scale->data, base->data, o.p[0], o.p[1], o.p[2]);
    size_t s2[2] = {T, hc}, s3[3] = {T, hc, hc};
    if (st != DSV4_OK) st = lib_error(st, "split", DSV4_IMPL_REF, err, errlen);
    if (st == DSV4_OK) st = emit(dst, &o, 0, "split.pre", 2, s2, err, errlen);
    if (st == DSV4_OK) st = emit(dst, &o, 1, "split.post", 2, s2, err, errlen);
    if (st == DSV4_OK) st = emit(dst, &o, 2, "split.logits", 3, s3, err, errlen);
    outbuf_free(&o);
    return st;
}

/* sinkhorn: split.logits [T, hc, hc] -> sinkhorn.comb [T, hc, hc] */
static dsv4_status pre_sinkhorn(const dsv4_mhc_cfg *c, dsv4_impl impl, const dsv4_st *src,
                                dsv4_st *dst, char *err, size_t errlen) {
    const dsv4_tensor *L;
    size_t T = 0, hc = c->hc, wl[3] = {ANY, hc, hc};
    outbuf o;
    dsv4_status st = input(src, "split.logits", 3, wl, &L, &T, err, errlen);
    if (st == DSV4_OK) st = outbuf_alloc(&o, T * hc * hc, 0, 0, err, errlen);
    if (st != DSV4_OK) return st;
    const dsv4_sinkhorn_cfg sk = {hc, c->sinkhorn_iters, c->hc_eps};
    st = impls[impl].sinkhorn(&sk, T, L->data, o.p[0]);
    size_t s3[3] = {T, hc, hc};
    if (st != DSV4_OK) st = lib_error(st, "sinkhorn", impl, err, errlen);
    else st = emit(dst, &o, 0, "sinkhorn.comb", 3, s3, err, errlen);
    outbuf_free(&o);
    return st;
}

static dsv4_status pre_run_stage(const void *params, size_t stage, dsv4_impl impl,
                                 const dsv4_st *src, dsv4_st *dst, char *err, size_t errlen) {
    const dsv4_mhc_cfg *c = params;
    switch (stage) {
    case 0: return stage_rms(c, impl, src, dst, err, errlen);
    case 1: return stage_mixes(c, pre_rows(c), impl, src, dst, err, errlen);
    case 2: return pre_split(c, src, dst, err, errlen);
    case 3: return pre_sinkhorn(c, impl, src, dst, err, errlen);
    default: return stage_weighted_sum(c, "split.pre", impl, src, dst, err, errlen);
    }
}

const dsv4_op dsv4_op_hc_pre = {
    .name = "hc_pre",
    .description = "mHC before a sublayer: RMS factor, mixes, gates, Sinkhorn comb, bf16 input",
    .keys = MHC_KEYS,
    .inputs = {{"in.x", "F32", "[T, hc, d]"},
               {"in.fn", "F32", "[(2+hc)*hc, hc*d]"},
               {"in.scale", "F32", "[3]"},
               {"in.base", "F32", "[(2+hc)*hc]"}},
    .stages = {{.name = "rms",
                .inputs = {"in.x", NULL},
                .outputs = {{"rms.r", "F32", "[T]"}},
                .tol = TOL_RMS},
               {.name = "mixes",
                .inputs = {"in.x", "in.fn", "rms.r", NULL},
                .outputs = {{"mixes.m", "F32", "[T, (2+hc)*hc]"}},
                .tol = TOL_MIXES},
               {.name = "split",
                .inputs = {"mixes.m", "in.scale", "in.base", NULL},
                .outputs = {{"split.pre", "F32", "[T, hc]"},
                            {"split.post", "F32", "[T, hc]"},
                            {"split.logits", "F32", "[T, hc, hc]"}},
                .tol = TOL_GATE},
               {.name = "sinkhorn",
                .inputs = {"split.logits", NULL},
                .outputs = {{"sinkhorn.comb", "F32", "[T, hc, hc]"}},
                .tol = TOL_COMB},
               {.name = "weighted_sum",
                .inputs = {"in.x", "split.pre", NULL},
                .outputs = {{"weighted_sum.y", "F32 (bf16 values)", "[T, d]"}},
                .tol = TOL_BF16}},
    .configure = mhc_configure,
    .run_stage = pre_run_stage,
};

/* ============================ op "hc_head" ==================================== */
/* weights: mixes.m [T, hc], in.scale [1], in.base [hc] -> weights.w [T, hc] */
static dsv4_status head_weights(const dsv4_mhc_cfg *c, const dsv4_st *src, dsv4_st *dst,
                                char *err, size_t errlen) {
    const dsv4_tensor *m, *scale, *base;
    size_t T = 0, hc = c->hc, wm[2] = {ANY, hc}, ws[1] = {1}, wb[1] = {hc};
    outbuf o;
    dsv4_status st = input(src, "mixes.m", 2, wm, &m, &T, err, errlen);
    if (st == DSV4_OK) st = input(src, "in.scale", 1, ws, &scale, NULL, err, errlen);
    if (st == DSV4_OK) st = input(src, "in.base", 1, wb, &base, NULL, err, errlen);
    if (st == DSV4_OK) st = outbuf_alloc(&o, T * hc, 0, 0, err, errlen);
    if (st != DSV4_OK) return st;
    st = dsv4_hc_head_weights(c, T, m->data, scale->data, base->data, o.p[0]);
    size_t s2[2] = {T, hc};
    if (st != DSV4_OK) st = lib_error(st, "weights", DSV4_IMPL_REF, err, errlen);
    else st = emit(dst, &o, 0, "weights.w", 2, s2, err, errlen);
    outbuf_free(&o);
    return st;
}

static dsv4_status head_run_stage(const void *params, size_t stage, dsv4_impl impl,
                                  const dsv4_st *src, dsv4_st *dst, char *err, size_t errlen) {
    const dsv4_mhc_cfg *c = params;
    switch (stage) {
    case 0: return stage_rms(c, impl, src, dst, err, errlen);
    case 1: return stage_mixes(c, c->hc, impl, src, dst, err, errlen);
    case 2: return head_weights(c, src, dst, err, errlen);
    default: return stage_weighted_sum(c, "weights.w", impl, src, dst, err, errlen);
    }
}

const dsv4_op dsv4_op_hc_head = {
    .name = "hc_head",
    .description = "mHC before the final norm: sigmoid weights collapse the streams to bf16",
    .keys = MHC_KEYS,
    .inputs = {{"in.x", "F32", "[T, hc, d]"},
               {"in.fn", "F32", "[hc, hc*d]"},
               {"in.scale", "F32", "[1]"},
               {"in.base", "F32", "[hc]"}},
    .stages = {{.name = "rms",
                .inputs = {"in.x", NULL},
                .outputs = {{"rms.r", "F32", "[T]"}},
                .tol = TOL_RMS},
               {.name = "mixes",
                .inputs = {"in.x", "in.fn", "rms.r", NULL},
                .outputs = {{"mixes.m", "F32", "[T, hc]"}},
                .tol = TOL_MIXES},
               {.name = "weights",
                .inputs = {"mixes.m", "in.scale", "in.base", NULL},
                .outputs = {{"weights.w", "F32", "[T, hc]"}},
                .tol = TOL_GATE},
               {.name = "weighted_sum",
                .inputs = {"in.x", "weights.w", NULL},
                .outputs = {{"weighted_sum.y", "F32 (bf16 values)", "[T, d]"}},
                .tol = TOL_BF16}},
    .configure = mhc_configure,
    .run_stage = head_run_stage,
};

/* ============================ op "hc_post" ==================================== */
/* post: in.f [T, d], in.x [T, hc, d], in.post [T, hc], in.comb [T, hc, hc]
 *    -> post.out [T, hc, d] */
static dsv4_status post_run_stage(const void *params, size_t stage, dsv4_impl impl,
                                  const dsv4_st *src, dsv4_st *dst, char *err, size_t errlen) {
    const dsv4_mhc_cfg *c = params;
    const dsv4_tensor *f, *x, *post, *comb;
    size_t hc = c->hc, d = c->d, T = 0, Tx = 0, Tp = 0, Tc = 0;
    size_t wf[2] = {ANY, d}, wx[3] = {ANY, hc, d}, wp[2] = {ANY, hc}, wc[3] = {ANY, hc, hc};
    outbuf o;
    (void)stage; /* one stage */
    dsv4_status st = input(src, "in.f", 2, wf, &f, &T, err, errlen);
    if (st == DSV4_OK) st = input(src, "in.x", 3, wx, &x, &Tx, err, errlen);
    if (st == DSV4_OK) st = input(src, "in.post", 2, wp, &post, &Tp, err, errlen);
    if (st == DSV4_OK) st = input(src, "in.comb", 3, wc, &comb, &Tc, err, errlen);
    if (st == DSV4_OK) st = same_tokens("in.x", Tx, T, err, errlen);
    if (st == DSV4_OK) st = same_tokens("in.post", Tp, T, err, errlen);
    if (st == DSV4_OK) st = same_tokens("in.comb", Tc, T, err, errlen);
    if (st == DSV4_OK) st = outbuf_alloc(&o, T * hc * d, 0, 0, err, errlen);
    if (st != DSV4_OK) return st;
    st = impls[impl].post(c, T, f->data, x->data, post->data, comb->data, o.p[0]);
    size_t s3[3] = {T, hc, d};
    if (st != DSV4_OK) st = lib_error(st, "post", impl, err, errlen);
    else st = emit(dst, &o, 0, "post.out", 3, s3, err, errlen);
    outbuf_free(&o);
    return st;
}

const dsv4_op dsv4_op_hc_post = {
    .name = "hc_post",
    .description = "mHC after a sublayer: post-weighted output plus comb-mixed streams, bf16",
    .keys = MHC_KEYS,
    .inputs = {{"in.f", "F32", "[T, d]"},
               {"in.x", "F32", "[T, hc, d]"},
               {"in.post", "F32", "[T, hc]"},
               {"in.comb", "F32", "[T, hc, hc]"}},
    .stages = {{.name = "post",
                .inputs = {"in.f", "in.x", "in.post", "in.comb", NULL},
                .outputs = {{"post.out", "F32 (bf16 values)", "[T, hc, d]"}},
                .tol = TOL_BF16}},
    .configure = mhc_configure,
    .run_stage = post_run_stage,
};

/* ============================ op "sinkhorn" =================================== */
typedef struct sk_params {
    size_t n;
    int iters;
    float eps;
} sk_params;

static dsv4_status sk_configure(const dsv4_json *cfg, void **params, char *err, size_t errlen) {
    uint64_t n = dsv4_json_get(cfg, "n")->u, iters = dsv4_json_get(cfg, "iters")->u;
    sk_params p;
    if (n > 4096 || iters > INT_MAX) {
        snprintf(err, errlen, "op sinkhorn: n (<= 4096) or iters too large");
        return DSV4_E_ARG;
    }
    p.n = (size_t)n;
    p.iters = (int)iters;
    dsv4_status st = eps_value(cfg, "eps", "sinkhorn", &p.eps, err, errlen);
    if (st != DSV4_OK) return st;
    sk_params *q = malloc(sizeof *q);
    if (!q) return no_memory(err, errlen);
    *q = p;
    *params = q;
    return DSV4_OK;
}

/* init: in.logits [T, n, n] -> init.c (softmax + first column step, i.e.
 * Sinkhorn with 1 iteration); iterate: init.c -> iterate.comb (iters-1 more
 * rounds). */
static dsv4_status sk_run_stage(const void *params, size_t stage, dsv4_impl impl,
                                const dsv4_st *src, dsv4_st *dst, char *err, size_t errlen) {
    const sk_params *p = params;
    const dsv4_tensor *in;
    const char *in_name = stage == 0 ? "in.logits" : "init.c";
    const char *out_name = stage == 0 ? "init.c" : "iterate.comb";
    size_t T = 0, w[3] = {ANY, p->n, p->n};
    outbuf o;
    dsv4_status st = input(src, in_name, 3, w, &in, &T, err, errlen);
    if (st == DSV4_OK) st = outbuf_alloc(&o, T * p->n * p->n, 0, 0, err, errlen);
    if (st != DSV4_OK) return st;
    const dsv4_sinkhorn_cfg sk = {p->n, p->iters, p->eps};
    if (stage == 0) st = impls[impl].sinkhorn_init(&sk, T, in->data, o.p[0]);
    else st = impls[impl].sinkhorn_iterate(&sk, T, in->data, o.p[0]);
    size_t s3[3] = {T, p->n, p->n};
    if (st != DSV4_OK) st = lib_error(st, stage == 0 ? "init" : "iterate", impl, err, errlen);
    else st = emit(dst, &o, 0, out_name, 3, s3, err, errlen);
    outbuf_free(&o);
    return st;
}

const dsv4_op dsv4_op_sinkhorn = {
    .name = "sinkhorn",
    .description = "Sinkhorn-Knopp as V4 runs it: row softmax + eps, then column/row steps",
    .keys = {{.name = "n", .kind = DSV4_KEY_UINT, .def = "4", .min = 1, .help = "matrix size"},
             {.name = "iters",
              .kind = DSV4_KEY_UINT,
              .def = "20",
              .min = 1,
              .help = "row normalisations (the softmax is the first) (V4: 20)"},
             {.name = "eps",
              .kind = DSV4_KEY_NUMBER,
              .def = "1e-6",
              .help = "added after the softmax and to every divisor (nearest fp32)"}},
    .inputs = {{"in.logits", "F32", "[T, n, n]"}},
    .stages = {{.name = "init",
                .inputs = {"in.logits", NULL},
                .outputs = {{"init.c", "F32", "[T, n, n]"}},
                .tol = TOL_SINKHORN},
               {.name = "iterate",
                .inputs = {"init.c", NULL},
                .outputs = {{"iterate.comb", "F32", "[T, n, n]"}},
                .tol = TOL_SINKHORN}},
    .configure = sk_configure,
    .run_stage = sk_run_stage,
};
