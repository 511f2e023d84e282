/* ops_muon.c - the optimizer operators of the registry (spec/muon.md; tensor
 * names in spec/golden.md §10): "newton_schulz", "muon_step" and
 * "adamw_step".
 *
 * newton_schulz has one stage per step (step_1 .. step_S, S the config's
 * `steps`), each a single Newton-Schulz step from the stored result of the
 * step before.  muon_step and adamw_step are streaming operators: the
 * weights and the moments are state that each call (one optimizer step)
 * reads and leaves for the next; the gradient is the call's input. */
#include "registry.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- checks (shared with the oracle) ------------------------------------------------ */
static dsv4_status adamw_check(const dsv4_json *cfg, dsv4_binding *b, char *err, size_t errlen) {
    (void)b;
    if (!(dsv4_json_get(cfg, "beta1")->number < 1.0) ||
        !(dsv4_json_get(cfg, "beta2")->number < 1.0)) {
        snprintf(err, errlen, "op adamw_step: beta1 and beta2 must be < 1");
        return DSV4_E_ARG;
    }
    return DSV4_OK;
}

#ifndef DSV4_SCHEMA_ONLY
/* ---- the library entry points of each implementation ----------------------------------- */
typedef struct muon_impl {
    dsv4_status (*newton_schulz)(const dsv4_ns_cfg *cfg, size_t rows, size_t cols,
                                 const float *z, float *out, float *steps_out);
    dsv4_status (*ns_iterate)(const dsv4_ns_cfg *cfg, size_t rows, size_t cols,
                              const float *x0, float *out, float *steps_out);
    dsv4_status (*adamw_step)(const dsv4_adamw_cfg *cfg, long step, size_t n, const float *g,
                              float *p, float *m, float *v);
} muon_impl;

static const muon_impl impls[DSV4_IMPL_COUNT] = {
    {dsv4_ref_newton_schulz, dsv4_ref_ns_iterate, dsv4_ref_adamw_step},
    {dsv4_opt_newton_schulz, dsv4_opt_ns_iterate, dsv4_opt_adamw_step},
};

static int is(const dsv4_json *cfg, const char *key, const char *value) {
    return strcmp(dsv4_json_get(cfg, key)->string, value) == 0;
}

/* ---- Newton-Schulz parameters (newton_schulz and muon_step) ---------------------------- */
/* The coefficients live inside the parameter block (one malloc, freed with
 * the config); cfg.coef points at them. */
typedef struct ns_params {
    dsv4_ns_cfg cfg;
    float coef[64 * 3]; /* [steps, 3]; the steps keys allow at most 64 */
} ns_params;

/* schedule "v4": V4's list, steps beyond its 10 keep its last triple
 * (2, -1.5, 0.5); "classic5": the first triple at every step. */
static void ns_setup(ns_params *p, const dsv4_json *cfg, uint64_t steps, const char *eps_key) {
    int classic = is(cfg, "schedule", "classic5");
    for (uint64_t s = 0; s < steps; s++) {
        uint64_t from = classic ? 0 : (s < 10 ? s : 9);
        memcpy(&p->coef[3 * s], &dsv4_ns_v4_coef[3 * from], 3 * sizeof(float));
    }
    p->cfg.steps = (int)steps;
    p->cfg.coef = p->coef;
    p->cfg.eps = (float)dsv4_json_get(cfg, eps_key)->number;
    p->cfg.eps_form = is(cfg, "eps_form", "max") ? DSV4_NS_EPS_MAX : DSV4_NS_EPS_ADD;
}

static dsv4_status ns_params_of(const dsv4_json *cfg, void **params, char *err, size_t errlen) {
    ns_params *p = malloc(sizeof *p);
    (void)err;
    (void)errlen;
    if (!p) return DSV4_E_NOMEM;
    ns_setup(p, cfg, dsv4_json_get(cfg, "steps")->u, "eps");
    *params = p;
    return DSV4_OK;
}

/* normalize: in.z [rows, cols] -> normalize.x (N1; no products: one
 * function for both implementations) */
static dsv4_status run_normalize(const dsv4_stage_ctx *c) {
    const ns_params *p = c->params;
    return dsv4_ctx_lib(c, dsv4_ns_normalize(&p->cfg, dsv4_ctx_dim(c, "rows"),
                                             dsv4_ctx_dim(c, "cols"), dsv4_ctx_in_f32(c, 0),
                                             dsv4_ctx_out_f32(c, 0)));
}

/* step_k: step_{k-1}.x (normalize.x for k = 1) -> step_k.x, one step with
 * the coefficients of step k (N2-N4) */
static dsv4_status run_ns_step(const dsv4_stage_ctx *c) {
    const ns_params *p = c->params;
    dsv4_ns_cfg one = p->cfg;
    one.steps = 1;
    one.coef = &p->coef[3 * (c->stage->k - 1)];
    return dsv4_ctx_lib(c, impls[c->impl].ns_iterate(&one, dsv4_ctx_dim(c, "rows"),
                                                      dsv4_ctx_dim(c, "cols"),
                                                      dsv4_ctx_in_f32(c, 0),
                                                      dsv4_ctx_out_f32(c, 0), NULL));
}

/* ---- muon_step ------------------------------------------------------------------------------ */
typedef struct muon_params {
    dsv4_muon_cfg cfg; /* cfg.ns.coef points into ns.coef */
    ns_params ns;
} muon_params;

static dsv4_status muon_params_of(const dsv4_json *cfg, void **params, char *err,
                                  size_t errlen) {
    muon_params *p = malloc(sizeof *p);
    (void)err;
    (void)errlen;
    if (!p) return DSV4_E_NOMEM;
    /* ns_steps 0: the schedule's own count, v4 10, classic5 5 */
    uint64_t steps = dsv4_json_get(cfg, "ns_steps")->u;
    if (steps == 0) steps = is(cfg, "schedule", "classic5") ? 5 : 10;
    ns_setup(&p->ns, cfg, steps, "ns_eps");
    p->cfg.ns = p->ns.cfg;
    p->cfg.lr = dsv4_json_get(cfg, "lr")->number;
    p->cfg.momentum = dsv4_json_get(cfg, "momentum")->number;
    p->cfg.weight_decay = dsv4_json_get(cfg, "weight_decay")->number;
    p->cfg.gamma = dsv4_json_get(cfg, "gamma")->number;
    p->cfg.momentum_form =
        is(cfg, "momentum_form", "lerp") ? DSV4_MUON_MOMENTUM_LERP : DSV4_MUON_MOMENTUM_SUM;
    p->cfg.scale_rule = is(cfg, "scale_rule", "aspect") ? DSV4_MUON_SCALE_ASPECT
                                                        : DSV4_MUON_SCALE_RMS;
    *params = p;
    return DSV4_OK;
}

/* The muon config with its coefficients where this block holds them now. */
static dsv4_muon_cfg muon_cfg(const muon_params *p) {
    dsv4_muon_cfg c = p->cfg;
    c.ns.coef = p->ns.coef;
    return c;
}

/* momentum: in.g, state.m [E, rows, cols] -> momentum.m (M1), momentum.u
 * (M2).  Element-wise: one function for both implementations. */
static dsv4_status run_momentum(const dsv4_stage_ctx *c) {
    dsv4_muon_cfg m = muon_cfg(c->params);
    dsv4_ctx_copy(c, 0, 1);
    return dsv4_ctx_lib(c, dsv4_muon_nesterov(&m, dsv4_ctx_dim(c, "E"), dsv4_ctx_dim(c, "rows"),
                                              dsv4_ctx_dim(c, "cols"), dsv4_ctx_in_f32(c, 0),
                                              dsv4_ctx_out_f32(c, 0), dsv4_ctx_out_f32(c, 1)));
}

/* ns: momentum.u -> ns.o, Newton-Schulz of each of the E matrices (M3) */
static dsv4_status run_muon_ns(const dsv4_stage_ctx *c) {
    dsv4_muon_cfg m = muon_cfg(c->params);
    size_t E = dsv4_ctx_dim(c, "E"), rows = dsv4_ctx_dim(c, "rows"), cols = dsv4_ctx_dim(c, "cols");
    const float *u = dsv4_ctx_in_f32(c, 0);
    float *o = dsv4_ctx_out_f32(c, 0);
    dsv4_status st = DSV4_OK;
    for (size_t e = 0; e < E && st == DSV4_OK; e++)
        st = impls[c->impl].newton_schulz(&m.ns, rows, cols, u + e * rows * cols,
                                          o + e * rows * cols, NULL);
    return dsv4_ctx_lib(c, st);
}

/* update: ns.o, state.w -> update.w = w * decay - sigma * o (M4, M5).
 * Element-wise: one function for both implementations. */
static dsv4_status run_update_w(const dsv4_stage_ctx *c) {
    dsv4_muon_cfg m = muon_cfg(c->params);
    dsv4_ctx_copy(c, 0, 1);
    return dsv4_ctx_lib(c, dsv4_muon_update(&m, dsv4_ctx_dim(c, "E"), dsv4_ctx_dim(c, "rows"),
                                            dsv4_ctx_dim(c, "cols"), dsv4_ctx_in_f32(c, 0),
                                            dsv4_ctx_out_f32(c, 0)));
}

/* ---- adamw_step ------------------------------------------------------------------------------- */
typedef struct adamw_params {
    dsv4_adamw_cfg cfg;
    long step; /* t of the first call */
} adamw_params;

static dsv4_status adamw_params_of(const dsv4_json *cfg, void **params, char *err,
                                   size_t errlen) {
    adamw_params *p = malloc(sizeof *p);
    (void)err;
    (void)errlen;
    if (!p) return DSV4_E_NOMEM;
    p->cfg.lr = dsv4_json_get(cfg, "lr")->number;
    p->cfg.beta1 = dsv4_json_get(cfg, "beta1")->number;
    p->cfg.beta2 = dsv4_json_get(cfg, "beta2")->number;
    p->cfg.eps = dsv4_json_get(cfg, "eps")->number;
    p->cfg.weight_decay = dsv4_json_get(cfg, "weight_decay")->number;
    p->step = (long)dsv4_json_get(cfg, "step")->u;
    *params = p;
    return DSV4_OK;
}

/* update: in.g, state.p, state.m, state.v [n] -> update.p, update.m,
 * update.v (A1-A5); call k of a stream is step t + k. */
static dsv4_status run_adamw(const dsv4_stage_ctx *c) {
    const adamw_params *p = c->params;
    for (size_t o = 0; o < 3; o++) dsv4_ctx_copy(c, o, o + 1);
    return dsv4_ctx_lib(c, impls[c->impl].adamw_step(&p->cfg, p->step + (long)c->step,
                                                      dsv4_ctx_dim(c, "n"), dsv4_ctx_in_f32(c, 0),
                                                      dsv4_ctx_out_f32(c, 0),
                                                      dsv4_ctx_out_f32(c, 1),
                                                      dsv4_ctx_out_f32(c, 2)));
}
#endif

/* ---- declarations ---------------------------------------------------------------------------- */
/* Keys shared by newton_schulz and muon_step. */
#define NS_SCHEDULE_KEY                                                                       \
    {.name = "schedule",                                                                      \
     .kind = DSV4_KEY_ENUM,                                                                   \
     .def = "v4",                                                                             \
     .choices = DSV4_NAMES("v4", "classic5"),                                                 \
     .help = "coefficients: v4 = 8 x (3.4445, -4.7750, 2.0315) then (2, -1.5, 0.5); "         \
             "classic5 = (3.4445, -4.7750, 2.0315) at every step"}
#define NS_EPS_FORM_KEY                                                                       \
    {.name = "eps_form",                                                                      \
     .kind = DSV4_KEY_ENUM,                                                                   \
     .def = "add",                                                                            \
     .choices = DSV4_NAMES("add", "max"),                                                     \
     .help = "X0 = Z/(||Z||_F + eps) (add: V4, Moonlight) or Z/max(||Z||_F, eps) (torch)"}

#define TOL_NS {.kind = DSV4_TOL_ABS_REL, .abs = 2e-5, .rel = 0.0}
#define TOL_ELEMENTWISE {.kind = DSV4_TOL_ABS_REL, .abs = 1e-7, .rel = 2.384185791015625e-7}

const dsv4_op dsv4_op_newton_schulz = {
    .name = "newton_schulz",
    .description = "hybrid Newton-Schulz orthogonalization, one stage per step",
    .keys = DSV4_KEYS({.name = "steps",
                       .kind = DSV4_KEY_UINT,
                       .def = "10",
                       .min = 1,
                       .max = 64,
                       .help = "number of steps (one stage each)"},
                      NS_SCHEDULE_KEY,
                      {.name = "eps",
                       .kind = DSV4_KEY_NUMBER,
                       .def = "1e-07",
                       .fp32 = 1,
                       .help = "normalization eps, used as fp32(eps)"},
                      NS_EPS_FORM_KEY),
    .inputs = DSV4_TENSORS(DSV4_IN("in.z", "F32", "rows, cols")),
    .stages = DSV4_STAGES(
        {.name = "normalize",
         .inputs = DSV4_NAMES("in.z"),
         .outputs = DSV4_TENSORS(DSV4_OUT("normalize.x", "F32", "rows, cols", {.kind = DSV4_TOL_ABS_REL, .abs = 0.0, .rel = 1e-5})),
         .run = DSV4_RUN(run_normalize)},
        {.name = "step_{k}",
         .inputs = DSV4_NAMES("step_{k-1}.x"),
         .first_inputs = DSV4_NAMES("normalize.x"),
         .repeat = "steps",
         .outputs = DSV4_TENSORS(DSV4_OUT("step_{k}.x", "F32", "rows, cols", TOL_NS)),
         .run = DSV4_RUN(run_ns_step)}),
    .params = DSV4_RUN(ns_params_of),
};

const dsv4_op dsv4_op_muon_step = {
    .name = "muon_step",
    .description = "Muon steps (momentum, Nesterov input, Newton-Schulz, decayed update) on "
                   "E independent matrices; the weights and momentum are the state",
    .keys = DSV4_KEYS({.name = "lr", .kind = DSV4_KEY_NUMBER, .def = "0.02",
                       .help = "learning rate eta"},
                      {.name = "momentum", .kind = DSV4_KEY_NUMBER, .def = "0.95",
                       .help = "mu, used as fp32(mu)"},
                      {.name = "weight_decay", .kind = DSV4_KEY_NUMBER, .def = "0.1",
                       .help = "lambda: W *= fp32(1 - lr*lambda)"},
                      {.name = "gamma", .kind = DSV4_KEY_NUMBER, .def = "0.18",
                       .help = "update RMS for scale_rule rms (V4 0.18, Moonlight 0.2)"},
                      {.name = "momentum_form",
                       .kind = DSV4_KEY_ENUM,
                       .def = "sum",
                       .choices = DSV4_NAMES("sum", "lerp"),
                       .help = "sum: M = mu M + G (V4); lerp: M = M + (1-mu)(G - M)"},
                      {.name = "scale_rule",
                       .kind = DSV4_KEY_ENUM,
                       .def = "rms",
                       .choices = DSV4_NAMES("rms", "aspect"),
                       .help = "rms: lr*gamma*sqrt(max(rows, cols)) (V4); aspect: "
                               "lr*sqrt(max(1, rows/cols))"},
                      NS_SCHEDULE_KEY,
                      NS_EPS_FORM_KEY,
                      {.name = "ns_steps",
                       .kind = DSV4_KEY_UINT,
                       .def = "0",
                       .min = 0,
                       .max = 64,
                       .help = "Newton-Schulz steps; 0 = the schedule's count (v4 10, classic5 5)"},
                      {.name = "ns_eps",
                       .kind = DSV4_KEY_NUMBER,
                       .def = "1e-07",
                       .fp32 = 1,
                       .help = "Newton-Schulz normalization eps, used as fp32(eps)"}),
    .inputs = DSV4_TENSORS(DSV4_IN("in.g", "F32", "E, rows, cols")),
    .state = DSV4_TENSORS(DSV4_STATE("state.w", "F32", "E, rows, cols", "update.w"),
                          DSV4_STATE("state.m", "F32", "E, rows, cols", "momentum.m")),
    .stages = DSV4_STAGES(
        {.name = "momentum",
         .inputs = DSV4_NAMES("in.g", "state.m"),
         .outputs = DSV4_TENSORS(DSV4_OUT("momentum.m", "F32", "E, rows, cols", TOL_ELEMENTWISE),
                                 DSV4_OUT("momentum.u", "F32", "E, rows, cols", TOL_ELEMENTWISE)),
         .run = DSV4_RUN(run_momentum)},
        {.name = "ns",
         .inputs = DSV4_NAMES("momentum.u"),
         .outputs = DSV4_TENSORS(DSV4_OUT("ns.o", "F32", "E, rows, cols", TOL_NS)),
         .run = DSV4_RUN(run_muon_ns)},
        {.name = "update",
         .inputs = DSV4_NAMES("ns.o", "state.w"),
         .outputs = DSV4_TENSORS(DSV4_OUT("update.w", "F32", "E, rows, cols", TOL_ELEMENTWISE)),
         .run = DSV4_RUN(run_update_w)}),
    .params = DSV4_RUN(muon_params_of),
};

const dsv4_op dsv4_op_adamw_step = {
    .name = "adamw_step",
    .description = "AdamW steps (PyTorch order, decoupled decay, bias correction); the "
                   "parameters and moments are the state",
    .keys = DSV4_KEYS({.name = "lr", .kind = DSV4_KEY_NUMBER, .def = "0.01",
                       .help = "learning rate"},
                      {.name = "beta1", .kind = DSV4_KEY_NUMBER, .def = "0.9",
                       .help = "< 1 (V4 0.9)"},
                      {.name = "beta2", .kind = DSV4_KEY_NUMBER, .def = "0.95",
                       .help = "< 1 (V4 0.95)"},
                      {.name = "eps", .kind = DSV4_KEY_NUMBER, .def = "1e-20",
                       .help = "added to sqrt(v)/sqrt(1 - beta2^t) (V4 1e-20)"},
                      {.name = "weight_decay", .kind = DSV4_KEY_NUMBER, .def = "0.1",
                       .help = "lambda"},
                      {.name = "step",
                       .kind = DSV4_KEY_UINT,
                       .def = "1",
                       .min = 1,
                       .max = 1000000000,
                       .help = "step number t >= 1 of the first call (call k is step t + k)"}),
    .inputs = DSV4_TENSORS(DSV4_IN("in.g", "F32", "n")),
    .state = DSV4_TENSORS(DSV4_STATE("state.p", "F32", "n", "update.p"),
                          DSV4_STATE("state.m", "F32", "n", "update.m"),
                          DSV4_STATE("state.v", "F32", "n", "update.v")),
    .stages = DSV4_STAGES({.name = "update",
                           .inputs = DSV4_NAMES("in.g", "state.p", "state.m", "state.v"),
                           .outputs = DSV4_TENSORS(DSV4_OUT("update.p", "F32", "n", TOL_ELEMENTWISE),
                                                   DSV4_OUT("update.m", "F32", "n", TOL_ELEMENTWISE),
                                                   DSV4_OUT("update.v", "F32", "n", TOL_ELEMENTWISE)),
                           .run = DSV4_RUN(run_adamw)}),
    .check = adamw_check,
    .params = DSV4_RUN(adamw_params_of),
};
