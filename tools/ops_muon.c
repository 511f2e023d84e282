/* ops_muon.c - the optimizer operators of the registry (spec/muon.md):
 * "newton_schulz", "muon_step" and "adamw_step".  Stages and tensor names:
 * spec/golden.md §10.
 *
 * Every stage runs from the golden inputs of that stage, through the
 * library's stage entry points: dsv4_ns_normalize and dsv4_*_ns_iterate for
 * Newton-Schulz, dsv4_muon_nesterov, dsv4_*_newton_schulz and
 * dsv4_muon_update for the Muon step (the element-wise stages are shared by
 * ref and opt), dsv4_*_adamw_step. */
#include "registry.h"

#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NS_MAX_STEPS 64

/* ---- the library entry points of each implementation -------------------------- */
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

/* ---- helpers ---------------------------------------------------------------------- */
static dsv4_status no_memory(char *err, size_t errlen) {
    snprintf(err, errlen, "%s", dsv4_strerror(DSV4_E_NOMEM));
    return DSV4_E_NOMEM;
}

static dsv4_status lib_error(dsv4_status st, const char *stage, dsv4_impl impl, char *err,
                             size_t errlen) {
    snprintf(err, errlen, "stage %s (%s): %s", stage, dsv4_impl_name(impl), dsv4_strerror(st));
    return st;
}

/* A malloc'ed copy of an F32 tensor's data (never NULL for an empty one). */
static float *copy_of(const dsv4_tensor *t) {
    size_t n = dsv4_tensor_numel(t);
    float *c = dsv4_alloc_array(n, sizeof *c);
    if (c) memcpy(c, t->data, n * sizeof *c);
    return c;
}

/* Store a computed buffer as an output tensor and release it. */
static dsv4_status emit(dsv4_st *dst, const char *name, int rank, const size_t *shape, float *buf,
                        char *err, size_t errlen) {
    dsv4_status st = dsv4_stage_output(dst, name, DSV4_DT_F32, rank, shape, buf, err, errlen);
    free(buf);
    return st;
}

/* F32 inputs of one rank that must all have the shape of the first. */
static dsv4_status same_shape_inputs(const dsv4_st *src, const char *const *names, int rank,
                                     const dsv4_tensor **t, char *err, size_t errlen) {
    for (size_t i = 0; names[i]; i++) {
        dsv4_status st = dsv4_stage_input(src, names[i], DSV4_DT_F32, rank, &t[i], err, errlen);
        if (st != DSV4_OK) return st;
        for (int d = 0; d < rank && i > 0; d++)
            if (t[i]->shape[d] != t[0]->shape[d]) {
                snprintf(err, errlen, "tensor %s: dimension %d is %zu, but %s has %zu", names[i],
                         d, t[i]->shape[d], names[0], t[0]->shape[d]);
                return DSV4_E_DTYPE;
            }
    }
    return DSV4_OK;
}

/* ---- Newton-Schulz configuration (shared by newton_schulz and muon_step) ------------ */
/* The coefficients live inside the params block (one malloc, freed by the
 * registry); cfg.coef is pointed at them when a stage runs. */
typedef struct ns_params {
    dsv4_ns_cfg cfg;
    float coef[NS_MAX_STEPS * 3];
} ns_params;

/* schedule "v4": V4's list, steps beyond its 10 keep its last triple
 * (2, -1.5, 0.5); "classic5": the first triple at every step. */
static void ns_schedule(ns_params *p, int steps, int classic) {
    for (int s = 0; s < steps; s++) {
        int from = classic ? 0 : (s < 10 ? s : 9);
        memcpy(&p->coef[3 * s], &dsv4_ns_v4_coef[3 * from], 3 * sizeof(float));
    }
    p->cfg.steps = steps;
    p->cfg.coef = NULL;
}

static int is(const dsv4_json *cfg, const char *key, const char *value) {
    return strcmp(dsv4_json_get(cfg, key)->string, value) == 0;
}

/* A usable configuration for a stage run. */
static dsv4_ns_cfg ns_bind(const ns_params *p) {
    dsv4_ns_cfg c = p->cfg;
    c.coef = p->coef;
    return c;
}

/* ============================ op "newton_schulz" ============================== */

/* The Newton-Schulz part of a configuration: step count, schedule, eps and
 * its form (keys named by the operator); checks the count and that eps fits
 * in fp32. */
static dsv4_status ns_setup(ns_params *p, const char *op, uint64_t steps, double eps,
                            const dsv4_json *cfg, char *err, size_t errlen) {
    if (steps > NS_MAX_STEPS) {
        snprintf(err, errlen, "op %s: the Newton-Schulz step count must be <= %d", op,
                 NS_MAX_STEPS);
        return DSV4_E_ARG;
    }
    if (!((float)eps < INFINITY)) {
        snprintf(err, errlen, "op %s: the Newton-Schulz eps does not fit in fp32", op);
        return DSV4_E_ARG;
    }
    ns_schedule(p, (int)steps, is(cfg, "schedule", "classic5"));
    p->cfg.eps = (float)eps;
    p->cfg.eps_form = is(cfg, "eps_form", "max") ? DSV4_NS_EPS_MAX : DSV4_NS_EPS_ADD;
    return DSV4_OK;
}

static dsv4_status ns_configure(const dsv4_json *cfg, void **params, char *err, size_t errlen) {
    ns_params *p = malloc(sizeof *p);
    if (!p) return no_memory(err, errlen);
    dsv4_status st = ns_setup(p, "newton_schulz", dsv4_json_get(cfg, "steps")->u,
                              dsv4_json_get(cfg, "eps")->number, cfg, err, errlen);
    if (st != DSV4_OK) {
        free(p);
        return st;
    }
    *params = p;
    return DSV4_OK;
}

/* normalize: in.z [rows, cols] -> normalize.x [rows, cols] (no products:
 * the same function for both implementations). */
static dsv4_status ns_normalize(const ns_params *p, dsv4_impl impl, const dsv4_st *src,
                                dsv4_st *dst, char *err, size_t errlen) {
    const dsv4_tensor *z;
    dsv4_status st = dsv4_stage_input(src, "in.z", DSV4_DT_F32, 2, &z, err, errlen);
    if (st != DSV4_OK) return st;
    dsv4_ns_cfg c = ns_bind(p);
    float *x = dsv4_alloc_array(dsv4_tensor_numel(z), sizeof *x); /* [rows, cols] */
    if (!x) return no_memory(err, errlen);
    st = dsv4_ns_normalize(&c, z->shape[0], z->shape[1], z->data, x);
    if (st != DSV4_OK) {
        free(x);
        return lib_error(st, "normalize", impl, err, errlen);
    }
    return emit(dst, "normalize.x", 2, z->shape, x, err, errlen);
}

/* steps: normalize.x [rows, cols] -> steps.x [steps, rows, cols]. */
static dsv4_status ns_steps(const ns_params *p, dsv4_impl impl, const dsv4_st *src, dsv4_st *dst,
                            char *err, size_t errlen) {
    const dsv4_tensor *x0;
    dsv4_status st = dsv4_stage_input(src, "normalize.x", DSV4_DT_F32, 2, &x0, err, errlen);
    if (st != DSV4_OK) return st;
    dsv4_ns_cfg c = ns_bind(p);
    size_t count = dsv4_tensor_numel(x0), shape[3] = {(size_t)c.steps, x0->shape[0], x0->shape[1]};
    float *out = dsv4_alloc_array(count, sizeof *out);          /* [rows, cols] */
    float *xs = dsv4_alloc_array(count, shape[0] * sizeof *xs); /* [steps, rows, cols] */
    if (!out || !xs) {
        free(out);
        free(xs);
        return no_memory(err, errlen);
    }
    st = impls[impl].ns_iterate(&c, shape[1], shape[2], x0->data, out, xs);
    free(out);
    if (st != DSV4_OK) {
        free(xs);
        return lib_error(st, "steps", impl, err, errlen);
    }
    return emit(dst, "steps.x", 3, shape, xs, err, errlen);
}

static dsv4_status ns_run_stage(const void *params, size_t stage, dsv4_impl impl,
                                const dsv4_st *src, dsv4_st *dst, char *err, size_t errlen) {
    if (stage == 0) return ns_normalize(params, impl, src, dst, err, errlen);
    return ns_steps(params, impl, src, dst, err, errlen);
}

/* Keys shared by newton_schulz and muon_step. */
#define NS_SCHEDULE_KEY                                                                       \
    {.name = "schedule",                                                                      \
     .kind = DSV4_KEY_ENUM,                                                                   \
     .def = "v4",                                                                             \
     .choices = {"v4", "classic5", NULL},                                                     \
     .help = "coefficients: v4 = 8 x (3.4445, -4.7750, 2.0315) then (2, -1.5, 0.5); "         \
             "classic5 = (3.4445, -4.7750, 2.0315) at every step"}
#define NS_EPS_FORM_KEY                                                                       \
    {.name = "eps_form",                                                                      \
     .kind = DSV4_KEY_ENUM,                                                                   \
     .def = "add",                                                                            \
     .choices = {"add", "max", NULL},                                                         \
     .help = "X0 = Z/(||Z||_F + eps) (add: V4, Moonlight) or Z/max(||Z||_F, eps) (torch)"}

const dsv4_op dsv4_op_newton_schulz = {
    .name = "newton_schulz",
    .description = "hybrid Newton-Schulz orthogonalization, X after every step",
    .keys = {{.name = "steps",
              .kind = DSV4_KEY_UINT,
              .def = "10",
              .min = 1,
              .help = "number of steps (at most 64)"},
             NS_SCHEDULE_KEY,
             {.name = "eps",
              .kind = DSV4_KEY_NUMBER,
              .def = "1e-7",
              .help = "normalization eps, used as fp32(eps)"},
             NS_EPS_FORM_KEY},
    .inputs = {{"in.z", "F32", "[rows, cols]"}},
    .stages = {{.name = "normalize",
                .inputs = {"in.z", NULL},
                .outputs = {{"normalize.x", "F32", "[rows, cols]"}},
                .tol = {.kind = DSV4_TOL_ABS_REL, .abs = 0.0, .rel = 1e-5}},
               {.name = "steps",
                .inputs = {"normalize.x", NULL},
                .outputs = {{"steps.x", "F32", "[steps, rows, cols]"}},
                .tol = {.kind = DSV4_TOL_ABS_REL, .abs = 2e-5, .rel = 0.0}}},
    .configure = ns_configure,
    .run_stage = ns_run_stage,
};

/* ============================ op "muon_step" ================================== */

typedef struct muon_params {
    dsv4_muon_cfg cfg; /* cfg.ns.coef is bound to ns.coef at run time */
    ns_params ns;
} muon_params;

static dsv4_status muon_configure(const dsv4_json *cfg, void **params, char *err,
                                  size_t errlen) {
    muon_params *p = malloc(sizeof *p);
    if (!p) return no_memory(err, errlen);
    /* ns_steps 0: the schedule's own count, v4 10, classic5 5 */
    uint64_t steps = dsv4_json_get(cfg, "ns_steps")->u;
    if (steps == 0) steps = is(cfg, "schedule", "classic5") ? 5 : 10;
    dsv4_status st = ns_setup(&p->ns, "muon_step", steps, dsv4_json_get(cfg, "ns_eps")->number,
                              cfg, err, errlen);
    if (st != DSV4_OK) {
        free(p);
        return st;
    }
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

static dsv4_muon_cfg muon_bind(const muon_params *p) {
    dsv4_muon_cfg c = p->cfg;
    c.ns = ns_bind(&p->ns);
    return c;
}

/* momentum: in.m, in.g [E, rows, cols] -> momentum.m (M1), momentum.u (M2).
 * Element-wise: the same function for both implementations. */
static dsv4_status muon_momentum(const muon_params *p, dsv4_impl impl, const dsv4_st *src,
                                 dsv4_st *dst, char *err, size_t errlen) {
    static const char *const names[] = {"in.m", "in.g", NULL};
    const dsv4_tensor *t[2];
    dsv4_status st = same_shape_inputs(src, names, 3, t, err, errlen);
    if (st != DSV4_OK) return st;
    const size_t *sh = t[0]->shape;
    float *m1 = copy_of(t[0]);                                      /* M' [E, rows, cols] */
    float *u = dsv4_alloc_array(dsv4_tensor_numel(t[0]), sizeof *u); /* U  [E, rows, cols] */
    if (!m1 || !u) {
        free(m1);
        free(u);
        return no_memory(err, errlen);
    }
    dsv4_muon_cfg c = muon_bind(p);
    st = dsv4_muon_nesterov(&c, sh[0], sh[1], sh[2], t[1]->data, m1, u);
    if (st != DSV4_OK) {
        free(m1);
        free(u);
        return lib_error(st, "momentum", impl, err, errlen);
    }
    st = emit(dst, "momentum.m", 3, sh, m1, err, errlen);
    if (st != DSV4_OK) {
        free(u);
        return st;
    }
    return emit(dst, "momentum.u", 3, sh, u, err, errlen);
}

/* ns: momentum.u [E, rows, cols] -> ns.o, Newton-Schulz of each matrix. */
static dsv4_status muon_ns(const muon_params *p, dsv4_impl impl, const dsv4_st *src,
                           dsv4_st *dst, char *err, size_t errlen) {
    const dsv4_tensor *u;
    dsv4_status st = dsv4_stage_input(src, "momentum.u", DSV4_DT_F32, 3, &u, err, errlen);
    if (st != DSV4_OK) return st;
    const size_t *sh = u->shape;
    size_t count = sh[1] * sh[2];
    float *o = dsv4_alloc_array(dsv4_tensor_numel(u), sizeof *o); /* [E, rows, cols] */
    if (!o) return no_memory(err, errlen);
    dsv4_ns_cfg c = ns_bind(&p->ns);
    const float *ud = u->data;
    for (size_t e = 0; e < sh[0] && st == DSV4_OK; e++)
        st = impls[impl].newton_schulz(&c, sh[1], sh[2], &ud[e * count], &o[e * count], NULL);
    if (st != DSV4_OK) {
        free(o);
        return lib_error(st, "ns", impl, err, errlen);
    }
    return emit(dst, "ns.o", 3, sh, o, err, errlen);
}

/* update: in.w, ns.o [E, rows, cols] -> update.w (M4, M5).  Element-wise:
 * the same function for both implementations. */
static dsv4_status muon_update(const muon_params *p, dsv4_impl impl, const dsv4_st *src,
                               dsv4_st *dst, char *err, size_t errlen) {
    static const char *const names[] = {"in.w", "ns.o", NULL};
    const dsv4_tensor *t[2];
    dsv4_status st = same_shape_inputs(src, names, 3, t, err, errlen);
    if (st != DSV4_OK) return st;
    const size_t *sh = t[0]->shape;
    float *w = copy_of(t[0]); /* [E, rows, cols] */
    if (!w) return no_memory(err, errlen);
    dsv4_muon_cfg c = muon_bind(p);
    st = dsv4_muon_update(&c, sh[0], sh[1], sh[2], t[1]->data, w);
    if (st != DSV4_OK) {
        free(w);
        return lib_error(st, "update", impl, err, errlen);
    }
    return emit(dst, "update.w", 3, sh, w, err, errlen);
}

static dsv4_status muon_run_stage(const void *params, size_t stage, dsv4_impl impl,
                                  const dsv4_st *src, dsv4_st *dst, char *err, size_t errlen) {
    switch (stage) {
    case 0: return muon_momentum(params, impl, src, dst, err, errlen);
    case 1: return muon_ns(params, impl, src, dst, err, errlen);
    default: return muon_update(params, impl, src, dst, err, errlen);
    }
}

#define ELEMENTWISE_TOL {.kind = DSV4_TOL_ABS_REL, .abs = 1e-7, .rel = 2.384185791015625e-7}

const dsv4_op dsv4_op_muon_step = {
    .name = "muon_step",
    .description = "one Muon step (momentum, Nesterov input, Newton-Schulz, decayed update) on "
                   "E independent matrices",
    .keys = {{.name = "lr", .kind = DSV4_KEY_NUMBER, .def = "0.02", .help = "learning rate eta"},
             {.name = "momentum",
              .kind = DSV4_KEY_NUMBER,
              .def = "0.95",
              .help = "mu, used as fp32(mu)"},
             {.name = "weight_decay",
              .kind = DSV4_KEY_NUMBER,
              .def = "0.1",
              .help = "lambda: W *= fp32(1 - lr*lambda)"},
             {.name = "gamma",
              .kind = DSV4_KEY_NUMBER,
              .def = "0.18",
              .help = "update RMS for scale_rule rms (V4 0.18, Moonlight 0.2)"},
             {.name = "momentum_form",
              .kind = DSV4_KEY_ENUM,
              .def = "sum",
              .choices = {"sum", "lerp", NULL},
              .help = "sum: M = mu M + G (V4); lerp: M = M + (1-mu)(G - M)"},
             {.name = "scale_rule",
              .kind = DSV4_KEY_ENUM,
              .def = "rms",
              .choices = {"rms", "aspect", NULL},
              .help = "rms: lr*gamma*sqrt(max(rows, cols)) (V4); aspect: lr*sqrt(max(1, rows/cols))"},
             NS_SCHEDULE_KEY,
             NS_EPS_FORM_KEY,
             {.name = "ns_steps",
              .kind = DSV4_KEY_UINT,
              .def = "0",
              .min = 0,
              .help = "Newton-Schulz steps, at most 64; 0 = the schedule's count (v4 10, "
                      "classic5 5)"},
             {.name = "ns_eps",
              .kind = DSV4_KEY_NUMBER,
              .def = "1e-7",
              .help = "Newton-Schulz normalization eps, used as fp32(eps)"}},
    .inputs = {{"in.w", "F32", "[E, rows, cols]"},
               {"in.m", "F32", "[E, rows, cols]"},
               {"in.g", "F32", "[E, rows, cols]"}},
    .stages = {{.name = "momentum",
                .inputs = {"in.m", "in.g", NULL},
                .outputs = {{"momentum.m", "F32", "[E, rows, cols]"},
                            {"momentum.u", "F32", "[E, rows, cols]"}},
                .tol = ELEMENTWISE_TOL},
               {.name = "ns",
                .inputs = {"momentum.u", NULL},
                .outputs = {{"ns.o", "F32", "[E, rows, cols]"}},
                .tol = {.kind = DSV4_TOL_ABS_REL, .abs = 2e-5, .rel = 0.0}},
               {.name = "update",
                .inputs = {"in.w", "ns.o", NULL},
                .outputs = {{"update.w", "F32", "[E, rows, cols]"}},
                .tol = ELEMENTWISE_TOL}},
    .configure = muon_configure,
    .run_stage = muon_run_stage,
};

/* ============================ op "adamw_step" ================================= */

typedef struct adamw_params {
    dsv4_adamw_cfg cfg;
    long step;
} adamw_params;

static dsv4_status adamw_configure(const dsv4_json *cfg, void **params, char *err,
                                   size_t errlen) {
    adamw_params q;
    q.cfg.lr = dsv4_json_get(cfg, "lr")->number;
    q.cfg.beta1 = dsv4_json_get(cfg, "beta1")->number;
    q.cfg.beta2 = dsv4_json_get(cfg, "beta2")->number;
    q.cfg.eps = dsv4_json_get(cfg, "eps")->number;
    q.cfg.weight_decay = dsv4_json_get(cfg, "weight_decay")->number;
    uint64_t step = dsv4_json_get(cfg, "step")->u;
    if (!(q.cfg.beta1 < 1.0) || !(q.cfg.beta2 < 1.0)) {
        snprintf(err, errlen, "op adamw_step: beta1 and beta2 must be < 1");
        return DSV4_E_ARG;
    }
    if (step > 1000000000) {
        snprintf(err, errlen, "op adamw_step: step must be <= 1000000000");
        return DSV4_E_ARG;
    }
    q.step = (long)step;
    adamw_params *p = malloc(sizeof *p);
    if (!p) return no_memory(err, errlen);
    *p = q;
    *params = p;
    return DSV4_OK;
}

/* update: in.p, in.m, in.v, in.g [n] -> update.p, update.m, update.v. */
static dsv4_status adamw_update(const adamw_params *p, dsv4_impl impl, const dsv4_st *src,
                                dsv4_st *dst, char *err, size_t errlen) {
    static const char *const names[] = {"in.p", "in.m", "in.v", "in.g", NULL};
    const dsv4_tensor *t[4];
    dsv4_status st = same_shape_inputs(src, names, 1, t, err, errlen);
    if (st != DSV4_OK) return st;
    size_t n = t[0]->shape[0];
    float *pp = copy_of(t[0]), *m = copy_of(t[1]), *v = copy_of(t[2]); /* [n] each */
    if (!pp || !m || !v) {
        free(pp);
        free(m);
        free(v);
        return no_memory(err, errlen);
    }
    st = impls[impl].adamw_step(&p->cfg, p->step, n, t[3]->data, pp, m, v);
    if (st != DSV4_OK) {
        free(pp);
        free(m);
        free(v);
        return lib_error(st, "update", impl, err, errlen);
    }
    st = emit(dst, "update.p", 1, &n, pp, err, errlen);
    if (st == DSV4_OK) st = emit(dst, "update.m", 1, &n, m, err, errlen);
    else free(m);
    if (st == DSV4_OK) st = emit(dst, "update.v", 1, &n, v, err, errlen);
    else free(v);
    return st;
}

static dsv4_status adamw_run_stage(const void *params, size_t stage, dsv4_impl impl,
                                   const dsv4_st *src, dsv4_st *dst, char *err, size_t errlen) {
    (void)stage;
    return adamw_update(params, impl, src, dst, err, errlen);
}

const dsv4_op dsv4_op_adamw_step = {
    .name = "adamw_step",
    .description = "one AdamW step (PyTorch order, decoupled decay, bias correction)",
    .keys = {{.name = "lr", .kind = DSV4_KEY_NUMBER, .def = "0.01", .help = "learning rate"},
             {.name = "beta1", .kind = DSV4_KEY_NUMBER, .def = "0.9", .help = "< 1 (V4 0.9)"},
             {.name = "beta2", .kind = DSV4_KEY_NUMBER, .def = "0.95", .help = "< 1 (V4 0.95)"},
             {.name = "eps",
              .kind = DSV4_KEY_NUMBER,
              .def = "1e-20",
              .help = "added to sqrt(v)/sqrt(1 - beta2^t) (V4 1e-20)"},
             {.name = "weight_decay", .kind = DSV4_KEY_NUMBER, .def = "0.1", .help = "lambda"},
             {.name = "step",
              .kind = DSV4_KEY_UINT,
              .def = "1",
              .min = 1,
              .help = "step number t >= 1 (bias correction)"}},
    .inputs = {{"in.p", "F32", "[n]"},
               {"in.m", "F32", "[n]"},
               {"in.v", "F32", "[n]"},
               {"in.g", "F32", "[n]"}},
    .stages = {{.name = "update",
                .inputs = {"in.p", "in.m", "in.v", "in.g", NULL},
                .outputs = {{"update.p", "F32", "[n]"},
                            {"update.m", "F32", "[n]"},
                            {"update.v", "F32", "[n]"}},
                .tol = ELEMENTWISE_TOL}},
    .configure = adamw_configure,
    .run_stage = adamw_run_stage,
};
