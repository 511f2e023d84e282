/* muon_cases.c - the optimizer operators of the oracle: the files of
 * "newton_schulz", "muon_step" and "adamw_step" (stages, rounding and the
 * tolerances of spec/golden.md §10), their shipped cases, `oracle gen`, and
 * the og_op entries. */
#include "muon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOL_TEXT 200

static int fail(char *err, size_t errlen, const char *what) {
    snprintf(err, errlen, "%s", what);
    return -1;
}

static uint32_t *words(size_t n) { return calloc(n ? n : 1, sizeof(uint32_t)); }

/* ---- tolerance texts --------------------------------------------------------- */
/* {"kind":"abs_rel","abs":A,"rel":R}, both rounded up to 7 digits. */
static void tol_text(char *buf, size_t len, const mpfr_t abs, const mpfr_t rel) {
    mpfr_snprintf(buf, len, "{\"kind\":\"abs_rel\",\"abs\":%.6RUe,\"rel\":%.6RUe}", abs, rel);
}

/* The smallest abs with abs + rel |exp_i| >= bound_i for every element, exp
 * the rounded golden values (what the comparison sees).  Elements that are
 * not numbers (NaN, Inf) are compared by identity and skipped. */
static void abs_for(mpfr_t abs, const mpfr_t rel, mpfr_t *bound, const uint32_t *exp,
                    size_t n) {
    mpfr_t e, need;
    mpfr_inits(e, need, (mpfr_ptr)0);
    mpfr_set_ui(abs, 0, MPFR_RNDN);
    for (size_t i = 0; i < n; i++) {
        ox_set_f32_bits(e, exp[i]);
        if (!mpfr_number_p(e) || !mpfr_number_p(bound[i])) continue;
        mpfr_abs(e, e, MPFR_RNDN);
        mpfr_mul(e, e, rel, MPFR_RNDD);
        mpfr_sub(need, bound[i], e, MPFR_RNDU);
        if (mpfr_cmp(need, abs) > 0) mpfr_set(abs, need, MPFR_RNDN);
    }
    mpfr_clears(e, need, (mpfr_ptr)0);
}

/* rel = 2^-22: four unit roundoffs, the element-wise stages' relative part. */
static void rel_4u(mpfr_t rel) { mpfr_set_ui_2exp(rel, 1, -22, MPFR_RNDN); }

/* Bounds of n elements (an ou_mat used as a plain array). */
static void elementwise_tol(char *buf, size_t len, const ou_mat *bound, const uint32_t *exp) {
    mpfr_t abs, rel;
    mpfr_inits(abs, rel, (mpfr_ptr)0);
    rel_4u(rel);
    abs_for(abs, rel, bound->v, exp, bound->rows * bound->cols);
    tol_text(buf, len, abs, rel);
    mpfr_clears(abs, rel, (mpfr_ptr)0);
}

/* ---- config texts -------------------------------------------------------------- */
/* The shortest %g text that reads back to the double x. */
static void num_text(char *buf, size_t len, double x) {
    for (int p = 1; p <= 17; p++) {
        snprintf(buf, len, "%.*g", p, x);
        if (strtod(buf, NULL) == x) return;
    }
}

static const char *schedule_name(const ou_ns *c) { return c->classic ? "classic5" : "v4"; }
static const char *eps_form_name(const ou_ns *c) { return c->eps_max ? "max" : "add"; }

static void ns_config_text(const ou_ns *c, double eps, char *buf, size_t len) {
    char e[32];
    num_text(e, sizeof e, eps);
    snprintf(buf, len, "{\"steps\":%d,\"schedule\":\"%s\",\"eps\":%s,\"eps_form\":\"%s\"}",
             c->steps, schedule_name(c), e, eps_form_name(c));
}

/* The NS step count and eps of muon_step are written only when they differ
 * from their defaults (the schedule's count: v4 10, classic5 5; eps 1e-7),
 * so files made before those keys existed keep their bytes; readers fill in
 * missing keys with the defaults.  ns_eps: the configuration's value. */
static void muon_config_text(const ou_muon_hp *hp, double ns_eps, char *buf, size_t len) {
    char lr[32], mu[32], wd[32], ga[32], ep[32], extra[96] = "";
    num_text(lr, sizeof lr, hp->lr);
    num_text(mu, sizeof mu, hp->momentum);
    num_text(wd, sizeof wd, hp->weight_decay);
    num_text(ga, sizeof ga, hp->gamma);
    num_text(ep, sizeof ep, ns_eps);
    size_t n = 0;
    if (hp->ns.steps != (hp->ns.classic ? 5 : 10))
        n += (size_t)snprintf(extra + n, sizeof extra - n, ",\"ns_steps\":%d", hp->ns.steps);
    if (ns_eps != 1e-7) snprintf(extra + n, sizeof extra - n, ",\"ns_eps\":%s", ep);
    snprintf(buf, len,
             "{\"lr\":%s,\"momentum\":%s,\"weight_decay\":%s,\"gamma\":%s,\"momentum_form\":\"%s\","
             "\"scale_rule\":\"%s\",\"schedule\":\"%s\",\"eps_form\":\"%s\"%s}",
             lr, mu, wd, ga, hp->lerp ? "lerp" : "sum", hp->aspect ? "aspect" : "rms",
             schedule_name(&hp->ns), eps_form_name(&hp->ns), extra);
}

static void adamw_config_text(const ou_adamw_hp *hp, char *buf, size_t len) {
    char lr[32], b1[32], b2[32], ep[32], wd[32];
    num_text(lr, sizeof lr, hp->lr);
    num_text(b1, sizeof b1, hp->beta1);
    num_text(b2, sizeof b2, hp->beta2);
    num_text(ep, sizeof ep, hp->eps);
    num_text(wd, sizeof wd, hp->weight_decay);
    snprintf(buf, len,
             "{\"lr\":%s,\"beta1\":%s,\"beta2\":%s,\"eps\":%s,\"weight_decay\":%s,\"step\":%ld}", lr,
             b1, b2, ep, wd, hp->step);
}

/* ======================================================================== */
/* newton_schulz                                                             */
/* ======================================================================== */
/* Stage "normalize": in.z -> normalize.x; stages "step_1".."step_S":
 * step_s.x [rows, cols], X after step s in z's orientation, computed
 * exactly from the rounded (stored) X of step s-1 (step 1 from normalize.x).
 *
 * Tolerances: normalize.x relative (0.51 n + 5) u, n = rows*cols: the sum of
 * n squares in any order is within n u (1 + n u) relative, its square root
 * half that, then the sqrt, the eps and the division round once each, and
 * the golden value is half an ulp away.  step_s.x: abs = tier * max_s ||X_s||_F
 * (the element-wise bound implied by spec/muon.md §5's relative Frobenius
 * tolerance: no element of an error of Frobenius norm t ||X||_F exceeds it). */
typedef struct ns_in {
    ou_ns c;
    double eps;  /* the configuration's eps (c.eps is its fp32 value) */
    size_t rows, cols;
    uint32_t *z; /* [rows, cols] */
} ns_in;

static void normalize_tol(size_t n, char *buf, size_t len) {
    mpfr_t abs, rel;
    mpfr_inits(abs, rel, (mpfr_ptr)0);
    mpfr_set_ui(abs, 0, MPFR_RNDN);
    mpfr_set_ui(rel, 51 * n + 500, MPFR_RNDN);
    mpfr_div_ui(rel, rel, 100, MPFR_RNDU);
    mpfr_div_2ui(rel, rel, 24, MPFR_RNDU);
    tol_text(buf, len, abs, rel);
    mpfr_clears(abs, rel, (mpfr_ptr)0);
}

/* X0 and the S steps, each rounded: x0 [rows, cols], xs [S, rows, cols];
 * fro_max = max_s ||X_s||_F. */
static int ns_compute(const ns_in *in, uint32_t *x0, uint32_t *xs, mpfr_t fro_max) {
    ou_mat x;
    size_t n = in->rows * in->cols;
    if (ou_mat_init(&x, in->rows, in->cols) != 0) return -1;
    mpfr_t f;
    mpfr_init(f);
    mpfr_set_ui(fro_max, 0, MPFR_RNDN);
    ou_mat_set_bits(&x, in->z);
    ou_ns_normalize(&in->c, &x);
    ou_mat_round(&x, x0);
    int rc = 0;
    for (int s = 1; s <= in->c.steps && rc == 0; s++) {
        ou_mat_set_bits(&x, s == 1 ? x0 : &xs[(size_t)(s - 2) * n]);
        rc = ou_ns_step(&in->c, s, &x);
        ou_mat_round(&x, &xs[(size_t)(s - 1) * n]);
        ou_mat_fro(&x, f);
        if (mpfr_number_p(f)) mpfr_max(fro_max, fro_max, f, MPFR_RNDN);
    }
    mpfr_clear(f);
    ou_mat_clear(&x);
    return rc;
}

static int build_ns(og_file *f, const char *case_name, uint64_t seed, const char *desc,
                    const ns_in *in, char *err, size_t errlen) {
    size_t n = in->rows * in->cols, S = (size_t)in->c.steps;
    uint32_t *x0 = words(n), *xs = words(S * n);
    ou_mat z;
    if (!x0 || !xs || ou_mat_init(&z, in->rows, in->cols) != 0) {
        free(x0);
        free(xs);
        return fail(err, errlen, "out of memory");
    }
    mpfr_t fro, tier, ratio;
    mpfr_inits(fro, tier, ratio, (mpfr_ptr)0);
    ou_mat_set_bits(&z, in->z);
    int rc = ou_ns_tier(&z, tier, ratio);
    if (rc == 0) rc = ns_compute(in, x0, xs, fro);
    if (rc != 0) {
        fail(err, errlen, "out of memory");
    } else {
        char cfg[200], text[600], tn[TOL_TEXT], ts[TOL_TEXT];
        ns_config_text(&in->c, in->eps, cfg, sizeof cfg);
        mpfr_snprintf(text, sizeof text, "%s (sigma_min/||Z||_F = %.3Rg: tier %.0Re)", desc,
                      ratio, tier);
        normalize_tol(n, tn, sizeof tn);
        mpfr_mul(fro, fro, tier, MPFR_RNDU);
        mpfr_set_ui(ratio, 0, MPFR_RNDN);
        tol_text(ts, sizeof ts, fro, ratio);
        og_begin(f, "newton_schulz", case_name, cfg, seed, text);
        const size_t shape[2] = {in->rows, in->cols};
        og_add(f, "in.z", DSV4_DT_F32, 2, shape, in->z);
        og_add(f, "normalize.x", DSV4_DT_F32, 2, shape, x0);
        const char *in_z[] = {"in.z", NULL}, *o_norm[] = {"normalize.x", NULL};
        og_stage(f, "normalize", in_z, o_norm, tn);
        /* stage step_s reads the stored X of the step before (X0 for s = 1) */
        char prev[32] = "normalize.x", name[32], out[32];
        for (size_t s = 1; s <= S; s++) {
            snprintf(name, sizeof name, "step_%zu", s);
            snprintf(out, sizeof out, "step_%zu.x", s);
            og_add(f, out, DSV4_DT_F32, 2, shape, &xs[(s - 1) * n]);
            const char *ins[] = {prev, NULL}, *outs[] = {out, NULL};
            og_stage(f, name, ins, outs, ts);
            snprintf(prev, sizeof prev, "%s", out);
        }
    }
    mpfr_clears(fro, tier, ratio, (mpfr_ptr)0);
    ou_mat_clear(&z);
    free(x0);
    free(xs);
    return rc;
}

/* ======================================================================== */
/* muon_step                                                                 */
/* ======================================================================== */
/* A streaming operator: the weights W and momentum M are the state
 * (state.w, state.m), the gradient the input of a call (in.g).  Stages:
 * "momentum" in.g, state.m -> momentum.m, momentum.u (u from the exact new
 * m); "ns" momentum.u -> ns.o (the 10 steps exact from the rounded u,
 * rounded once); "update" ns.o, state.w -> update.w (from the rounded ns.o).
 * The next call starts from update.w and momentum.m as stored.
 * Tolerances: momentum and update per element from the bounds of muon.c
 * (rel 2^-22 and the abs that covers every element); ns.o abs = max over the
 * matrices of tier * ||O'||_F; the update bound adds sigma times that abs,
 * the deviation of an implementation's own O'. */
typedef struct mu_in {
    ou_muon_hp hp;
    double ns_eps;       /* the configuration's NS eps (hp.ns.eps is fp32 of it) */
    size_t E, rows, cols;
    uint32_t *w, *m, *g; /* [E, rows, cols] each */
} mu_in;

typedef struct mu_out {
    uint32_t *m1, *u, *o, *w1; /* [E, rows, cols] each */
    char tol_mom[2 * TOL_TEXT + 100], tol_ns[TOL_TEXT], tol_upd[TOL_TEXT];
} mu_out;

static void mu_out_free(mu_out *o) {
    free(o->m1);
    free(o->u);
    free(o->o);
    free(o->w1);
    memset(o, 0, sizeof *o);
}

/* Stage momentum: out->m1, out->u and the tolerance text. */
static void mu_momentum(const mu_in *in, const ou_muon_k *k, size_t total, mu_out *out,
                        ou_mat *bm, ou_mat *bu) {
    mpfr_t mu, omm, m, g, m1, u;
    mpfr_inits(mu, omm, m, g, m1, u, (mpfr_ptr)0);
    ox_set_f32_bits(mu, k->mu);
    ox_set_f32_bits(omm, k->one_minus_mu);
    for (size_t i = 0; i < total; i++) {
        ox_set_f32_bits(m, in->m[i]);
        ox_set_f32_bits(g, in->g[i]);
        ou_momentum(in->hp.lerp, m, g, mu, omm, m1, u, bm->v[i], bu->v[i]);
        out->m1[i] = ox_round_f32(m1);
        out->u[i] = ox_round_f32(u);
    }
    char tm[TOL_TEXT], tu[TOL_TEXT];
    elementwise_tol(tm, sizeof tm, bm, out->m1);
    elementwise_tol(tu, sizeof tu, bu, out->u);
    snprintf(out->tol_mom, sizeof out->tol_mom, "{\"momentum.m\":%s,\"momentum.u\":%s}", tm, tu);
    mpfr_clears(mu, omm, m, g, m1, u, (mpfr_ptr)0);
}

/* Stage ns: out->o from the rounded out->u; odev = max_e tier_e ||O'_e||_F. */
static int mu_ns(const mu_in *in, mu_out *out, mpfr_t odev) {
    size_t count = in->rows * in->cols;
    ou_mat x;
    if (ou_mat_init(&x, in->rows, in->cols) != 0) return -1;
    mpfr_t tier, f, zero;
    mpfr_inits(tier, f, zero, (mpfr_ptr)0);
    mpfr_set_ui(odev, 0, MPFR_RNDN);
    int rc = 0;
    for (size_t e = 0; e < in->E && rc == 0; e++) {
        ou_mat_set_bits(&x, &out->u[e * count]);
        rc = ou_ns_tier(&x, tier, NULL);
        if (rc == 0) rc = ou_ns_run(&in->hp.ns, &x);
        ou_mat_round(&x, &out->o[e * count]);
        ou_mat_fro(&x, f);
        mpfr_mul(f, f, tier, MPFR_RNDU);
        if (mpfr_number_p(f)) mpfr_max(odev, odev, f, MPFR_RNDU);
    }
    mpfr_set_ui(zero, 0, MPFR_RNDN);
    tol_text(out->tol_ns, sizeof out->tol_ns, odev, zero);
    mpfr_clears(tier, f, zero, (mpfr_ptr)0);
    ou_mat_clear(&x);
    return rc;
}

/* Stage update: out->w1 from in->w and the rounded out->o. */
static void mu_update(const mu_in *in, const ou_muon_k *k, size_t total, const mpfr_t odev,
                      mu_out *out, ou_mat *bw) {
    mpfr_t decay, sigma, w, o, w1;
    mpfr_inits(decay, sigma, w, o, w1, (mpfr_ptr)0);
    ox_set_f32_bits(decay, k->decay);
    ox_set_f32_bits(sigma, k->sigma);
    for (size_t i = 0; i < total; i++) {
        ox_set_f32_bits(w, in->w[i]);
        ox_set_f32_bits(o, out->o[i]);
        ou_muon_apply(w, o, decay, sigma, odev, w1, bw->v[i]);
        out->w1[i] = ox_round_f32(w1);
    }
    elementwise_tol(out->tol_upd, sizeof out->tol_upd, bw, out->w1);
    mpfr_clears(decay, sigma, w, o, w1, (mpfr_ptr)0);
}

static int mu_compute(const mu_in *in, mu_out *out) {
    size_t total = in->E * in->rows * in->cols;
    memset(out, 0, sizeof *out);
    out->m1 = words(total);
    out->u = words(total);
    out->o = words(total);
    out->w1 = words(total);
    ou_mat bm, bu, bw;
    int ok_m = ou_mat_init(&bm, total, 1), ok_u = ou_mat_init(&bu, total, 1),
        ok_w = ou_mat_init(&bw, total, 1);
    int rc = (!out->m1 || !out->u || !out->o || !out->w1 || ok_m || ok_u || ok_w) ? -1 : 0;
    if (rc == 0) {
        ou_muon_k k;
        mpfr_t odev;
        mpfr_init(odev);
        ou_muon_scalars(&in->hp, in->rows, in->cols, &k);
        mu_momentum(in, &k, total, out, &bm, &bu);
        rc = mu_ns(in, out, odev);
        if (rc == 0) mu_update(in, &k, total, odev, out, &bw);
        mpfr_clear(odev);
    }
    if (!ok_m) ou_mat_clear(&bm);
    if (!ok_u) ou_mat_clear(&bu);
    if (!ok_w) ou_mat_clear(&bw);
    if (rc != 0) mu_out_free(out);
    return rc;
}

/* Call k of a muon_step file: the call's gradient, the state it starts
 * from (in->w, in->m) and its stages. */
static void write_muon_call(og_file *f, size_t k, const mu_in *in, const mu_out *o) {
    const size_t shape[3] = {in->E, in->rows, in->cols};
    og_call(f, k);
    og_add(f, "in.g", DSV4_DT_F32, 3, shape, in->g);
    og_add(f, "state.w", DSV4_DT_F32, 3, shape, in->w);
    og_add(f, "state.m", DSV4_DT_F32, 3, shape, in->m);
    og_add(f, "momentum.m", DSV4_DT_F32, 3, shape, o->m1);
    og_add(f, "momentum.u", DSV4_DT_F32, 3, shape, o->u);
    og_add(f, "ns.o", DSV4_DT_F32, 3, shape, o->o);
    og_add(f, "update.w", DSV4_DT_F32, 3, shape, o->w1);
    const char *i_mom[] = {"in.g", "state.m", NULL}, *o_mom[] = {"momentum.m", "momentum.u", NULL};
    const char *i_ns[] = {"momentum.u", NULL}, *o_ns[] = {"ns.o", NULL};
    const char *i_up[] = {"ns.o", "state.w", NULL}, *o_up[] = {"update.w", NULL};
    og_stage(f, "momentum", i_mom, o_mom, o->tol_mom);
    og_stage(f, "ns", i_ns, o_ns, o->tol_ns);
    og_stage(f, "update", i_up, o_up, o->tol_upd);
}

static void muon_begin(og_file *f, const char *case_name, uint64_t seed, const char *desc,
                       const mu_in *in) {
    char cfg[400];
    muon_config_text(&in->hp, in->ns_eps, cfg, sizeof cfg);
    og_begin(f, "muon_step", case_name, cfg, seed, desc);
}

/* A one-call file. */
static int build_muon(og_file *f, const char *case_name, uint64_t seed, const char *desc,
                      const mu_in *in, char *err, size_t errlen) {
    mu_out o;
    if (mu_compute(in, &o) != 0) return fail(err, errlen, "out of memory");
    muon_begin(f, case_name, seed, desc, in);
    write_muon_call(f, 0, in, &o);
    mu_out_free(&o);
    return 0;
}

/* ======================================================================== */
/* adamw_step                                                                */
/* ======================================================================== */
/* A streaming operator: the parameters and moments are the state (state.p,
 * state.m, state.v), the gradient the input of a call (in.g); call k is
 * step t + k.  One stage "update": in.g, state.p, state.m, state.v ->
 * update.p, update.m, update.v, a rule per output from the per-element
 * bounds of muon.c (which add the absolute error of roundings below the
 * normal range: case subnormal). */
typedef struct aw_in {
    ou_adamw_hp hp;
    size_t n;
    uint32_t *p, *m, *v, *g; /* [n] each */
} aw_in;

typedef struct aw_out {
    uint32_t *p, *m, *v; /* [n] each */
    char tol[3 * TOL_TEXT + 120];
} aw_out;

static void aw_out_free(aw_out *o) {
    free(o->p);
    free(o->m);
    free(o->v);
    memset(o, 0, sizeof *o);
}

static int aw_compute(const aw_in *in, aw_out *out) {
    memset(out, 0, sizeof *out);
    out->p = words(in->n);
    out->m = words(in->n);
    out->v = words(in->n);
    ou_mat bp, bm, bv;
    int ok_p = ou_mat_init(&bp, in->n, 1), ok_m = ou_mat_init(&bm, in->n, 1),
        ok_v = ou_mat_init(&bv, in->n, 1);
    int rc = (!out->p || !out->m || !out->v || ok_p || ok_m || ok_v) ? -1 : 0;
    if (rc == 0) {
        ou_adamw_k k;
        ou_adamw_kv kv;
        ou_adamw_scalars(&in->hp, &k);
        ou_adamw_kv_init(&kv, &k);
        mpfr_t p, m, v, g, p1, m1, v1;
        mpfr_inits(p, m, v, g, p1, m1, v1, (mpfr_ptr)0);
        for (size_t i = 0; i < in->n; i++) {
            ox_set_f32_bits(p, in->p[i]);
            ox_set_f32_bits(m, in->m[i]);
            ox_set_f32_bits(v, in->v[i]);
            ox_set_f32_bits(g, in->g[i]);
            ou_adamw(&kv, p, m, v, g, p1, m1, v1, bp.v[i], bm.v[i], bv.v[i]);
            out->p[i] = ox_round_f32(p1);
            out->m[i] = ox_round_f32(m1);
            out->v[i] = ox_round_f32(v1);
        }
        mpfr_clears(p, m, v, g, p1, m1, v1, (mpfr_ptr)0);
        ou_adamw_kv_clear(&kv);
        char tp[TOL_TEXT], tm[TOL_TEXT], tv[TOL_TEXT];
        elementwise_tol(tp, sizeof tp, &bp, out->p);
        elementwise_tol(tm, sizeof tm, &bm, out->m);
        elementwise_tol(tv, sizeof tv, &bv, out->v);
        snprintf(out->tol, sizeof out->tol,
                 "{\"update.p\":%s,\"update.m\":%s,\"update.v\":%s}", tp, tm, tv);
    }
    if (!ok_p) ou_mat_clear(&bp);
    if (!ok_m) ou_mat_clear(&bm);
    if (!ok_v) ou_mat_clear(&bv);
    if (rc != 0) aw_out_free(out);
    return rc;
}

/* Call k of an adamw_step file: the call's gradient, the state it starts
 * from (in->p, in->m, in->v) and its stage. */
static void write_adamw_call(og_file *f, size_t k, const aw_in *in, const aw_out *o) {
    og_call(f, k);
    og_add(f, "in.g", DSV4_DT_F32, 1, &in->n, in->g);
    og_add(f, "state.p", DSV4_DT_F32, 1, &in->n, in->p);
    og_add(f, "state.m", DSV4_DT_F32, 1, &in->n, in->m);
    og_add(f, "state.v", DSV4_DT_F32, 1, &in->n, in->v);
    og_add(f, "update.p", DSV4_DT_F32, 1, &in->n, o->p);
    og_add(f, "update.m", DSV4_DT_F32, 1, &in->n, o->m);
    og_add(f, "update.v", DSV4_DT_F32, 1, &in->n, o->v);
    const char *ins[] = {"in.g", "state.p", "state.m", "state.v", NULL};
    const char *outs[] = {"update.p", "update.m", "update.v", NULL};
    og_stage(f, "update", ins, outs, o->tol);
}

static void adamw_begin(og_file *f, const char *case_name, uint64_t seed, const char *desc,
                        const aw_in *in) {
    char cfg[300];
    adamw_config_text(&in->hp, cfg, sizeof cfg);
    og_begin(f, "adamw_step", case_name, cfg, seed, desc);
}

/* A one-call file. */
static int build_adamw(og_file *f, const char *case_name, uint64_t seed, const char *desc,
                       const aw_in *in, char *err, size_t errlen) {
    aw_out o;
    if (aw_compute(in, &o) != 0) return fail(err, errlen, "out of memory");
    adamw_begin(f, case_name, seed, desc, in);
    write_adamw_call(f, 0, in, &o);
    aw_out_free(&o);
    return 0;
}

/* ======================================================================== */
/* inputs                                                                    */
/* ======================================================================== */
/* A roughly normal value of standard deviation ~1.15 * 2^e: the sum of four
 * uniform integers in [-2^20, 2^20), times 2^(e-20); exact in fp32. */
static uint32_t normalish(ox_rng *r, long e) {
    long s = 0;
    for (int i = 0; i < 4; i++) s += (long)ox_rng_below(r, 1u << 21) - (1L << 20);
    return ox_f32_of_dyadic(s, e - 20);
}

static void fill_normal(ox_rng *r, uint32_t *x, size_t n, long e) {
    for (size_t i = 0; i < n; i++) x[i] = normalish(r, e);
}

static long imod(long a, long m) { return ((a % m) + m) % m; }

/* ======================================================================== */
/* shipped cases: newton_schulz                                              */
/* ======================================================================== */
enum { NS_WIDE, NS_TALL, NS_SQUARE, NS_RANKDEF, NS_ILL, NS_ZERO, NS_TINY, NS_CLASSIC, NS_EPSMAX,
       NS_ODD, N_NS };
static const char *const ns_names[N_NS] = {
    "wide_4x8", "tall_8x4", "square_6x6", "rank_deficient", "ill_conditioned",
    "zero",     "tiny_norm", "classic5",  "eps_max",        "odd_17x5"};

static const char *ns_case_name(size_t i) { return ns_names[i]; }

static void ns_v4(ns_in *in, size_t rows, size_t cols) {
    in->c.steps = 10;
    in->c.classic = 0;
    in->c.eps = OU_EPS_1E7;
    in->c.eps_max = 0;
    in->eps = 1e-7;
    in->rows = rows;
    in->cols = cols;
}

/* z [8, 12] = A [8, 3] B [3, 12] / 8 with small integer factors: exactly rank 3. */
static void rank3(ox_rng *r, uint32_t *z) {
    long a[8][3], b[3][12];
    for (int i = 0; i < 8; i++)
        for (int k = 0; k < 3; k++) a[i][k] = ox_rng_range(r, -3, 3);
    for (int k = 0; k < 3; k++)
        for (int j = 0; j < 12; j++) b[k][j] = ox_rng_range(r, -3, 3);
    for (int i = 0; i < 8; i++)
        for (int j = 0; j < 12; j++) {
            long s = 0;
            for (int k = 0; k < 3; k++) s += a[i][k] * b[k][j];
            z[i * 12 + j] = ox_f32_of_dyadic(s, -3);
        }
}

static int ns_build_case(size_t i, og_file *f, char *err, size_t errlen) {
    static const size_t shapes[N_NS][2] = {{4, 8}, {8, 4},  {6, 6}, {8, 12}, {4, 8},
                                           {6, 4}, {4, 6},  {6, 10}, {4, 6}, {17, 5}};
    static const char *const desc[N_NS] = {
        "V4 hybrid schedule on a wide random 4x8 matrix",
        "V4 schedule on a tall 8x4 matrix: the transposed path",
        "V4 schedule on a square 6x6 matrix",
        ("an exactly rank-3 8x12 matrix: directions with sigma = 0 only see amplified rounding "
         "noise, so the loose tier applies"),
        "a 4x8 matrix whose last row is 2^-8 of the others: the middle tier",
        "all zeros: X0 = 0/(0 + eps) = 0 and every step stays exactly 0",
        "a 4x6 matrix with ||Z||_F below eps: the add form gives X0 = Z/(||Z||_F + eps)",
        "Keller Jordan's classic schedule, 5 x (3.4445, -4.7750, 2.0315), on 6x10",
        "the same tiny-norm 4x6 input with eps form max: X0 = Z/eps",
        "a tall odd 17x5 matrix"};
    ns_in in;
    memset(&in, 0, sizeof in);
    ns_v4(&in, shapes[i][0], shapes[i][1]);
    size_t n = in.rows * in.cols;
    uint64_t seed = 300 + i;
    in.z = words(n);
    if (!in.z) return fail(err, errlen, "out of memory");
    ox_rng r;
    ox_rng_seed(&r, seed);
    switch (i) {
    case NS_RANKDEF: rank3(&r, in.z); break;
    case NS_ILL:
        fill_normal(&r, in.z, n, 0);
        for (size_t j = 0; j < in.cols; j++)
            in.z[(in.rows - 1) * in.cols + j] = normalish(&r, -8);
        break;
    case NS_ZERO: seed = 0; break;
    case NS_TINY:
    case NS_EPSMAX:
        seed = 308; /* the same input for both eps forms */
        ox_rng_seed(&r, seed);
        fill_normal(&r, in.z, n, -27);
        in.c.eps_max = i == NS_EPSMAX;
        break;
    case NS_CLASSIC:
        fill_normal(&r, in.z, n, 0);
        in.c.classic = 1;
        in.c.steps = 5;
        break;
    default: fill_normal(&r, in.z, n, 0); break;
    }
    int rc = build_ns(f, ns_names[i], seed, desc[i], &in, err, errlen);
    free(in.z);
    return rc;
}

/* ======================================================================== */
/* shipped cases: muon_step                                                  */
/* ======================================================================== */
/* The worked case G2 (spec/muon.md §7): parameters p0..p3 of shapes 4x8, 8x4,
 * 6x6, 3x5 over three steps; case g2_p<p> holds the three calls, each
 * starting from the state the one before left (W0 and M = 0 first). */
enum { MU_BATCH = 4, N_MU = 7 }; /* cases batch, ns_keys, nonfinite follow G2 */

static const char *const mu_names[N_MU] = {"g2_p0", "g2_p1", "g2_p2", "g2_p3",
                                           "batch", "ns_keys", "nonfinite"};

static const char *mu_case_name(size_t i) { return mu_names[i]; }

static void g2_hp(ou_muon_hp *hp) {
    hp->lr = 0.02;
    hp->momentum = 0.95;
    hp->weight_decay = 0.1;
    hp->gamma = 0.18;
    hp->lerp = 0;
    hp->aspect = 0;
    hp->ns.steps = 10;
    hp->ns.classic = 0;
    hp->ns.eps = OU_EPS_1E7;
    hp->ns.eps_max = 0;
}

static int mu_alloc(mu_in *in) {
    size_t total = in->E * in->rows * in->cols;
    in->w = words(total);
    in->m = words(total);
    in->g = words(total);
    return (in->w && in->m && in->g) ? 0 : -1;
}

static void mu_free(mu_in *in) {
    free(in->w);
    free(in->m);
    free(in->g);
    in->w = in->m = in->g = NULL;
}

/* An E x rows x cols case with G2's hyperparameters and NS eps 1e-7 (the
 * callers change what differs), its arrays allocated. */
static int mu_setup(mu_in *in, size_t E, size_t rows, size_t cols) {
    memset(in, 0, sizeof *in);
    g2_hp(&in->hp);
    in->ns_eps = 1e-7;
    in->E = E;
    in->rows = rows;
    in->cols = cols;
    return mu_alloc(in);
}

void ou_g2_shape(int p, size_t *rows, size_t *cols) {
    static const size_t shapes[4][2] = {{4, 8}, {8, 4}, {6, 6}, {3, 5}};
    *rows = shapes[p][0];
    *cols = shapes[p][1];
}

void ou_g2_w0(int p, uint32_t *w) {
    size_t rows, cols;
    ou_g2_shape(p, &rows, &cols);
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++)
            w[i * cols + j] = ox_f32_of_dyadic(imod(5 * (long)i + 3 * (long)j + p, 11) - 5, -4);
}

void ou_g2_grad(int p, int t, uint32_t *g) {
    size_t rows, cols;
    ou_g2_shape(p, &rows, &cols);
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) {
            long k = imod(7 * (long)i + 13 * (long)j + 5 * t + 3 * p, 19) - 9;
            if (i == j) k += 8 * (p + 1); /* + 0.25 (p+1) = 8 (p+1) / 32 */
            g[i * cols + j] = (p == 3 && t != 2) ? 0u : ox_f32_of_dyadic(k, -5);
        }
}

/* G2 inputs of step t of parameter p (computing steps 1..t-1 on the way). */
static int g2_inputs(int p, int t, mu_in *in) {
    size_t rows, cols;
    ou_g2_shape(p, &rows, &cols);
    if (mu_setup(in, 1, rows, cols) != 0) return -1;
    ou_g2_w0(p, in->w);
    size_t total = in->rows * in->cols;
    for (int s = 1; s < t; s++) { /* carry W and M through the earlier steps */
        mu_out o;
        ou_g2_grad(p, s, in->g);
        if (mu_compute(in, &o) != 0) return -1;
        memcpy(in->w, o.w1, total * sizeof *in->w);
        memcpy(in->m, o.m1, total * sizeof *in->m);
        mu_out_free(&o);
    }
    ou_g2_grad(p, t, in->g);
    return 0;
}

/* Every matrix random: w ~ 2^-3, m ~ 2^-2, g ~ 2^-1 (normalish), in that
 * order from one generator seeded with `seed`. */
static void mu_fill_random(mu_in *in, uint64_t seed) {
    size_t n = in->E * in->rows * in->cols;
    ox_rng r;
    ox_rng_seed(&r, seed);
    fill_normal(&r, in->w, n, -3);
    fill_normal(&r, in->m, n, -2);
    fill_normal(&r, in->g, n, -1);
}

/* Three 7x5 matrices, lerp momentum and the aspect rule: a random one, one
 * with zero gradient and zero momentum (only the decay acts), one with zero
 * gradient and a nonzero momentum (it keeps moving). */
static int mu_batch(mu_in *in, uint64_t seed) {
    if (mu_setup(in, 3, 7, 5) != 0) return -1;
    in->hp.lerp = 1;
    in->hp.aspect = 1;
    size_t c = in->rows * in->cols;
    ox_rng r;
    ox_rng_seed(&r, seed);
    fill_normal(&r, in->w, 3 * c, -3);
    fill_normal(&r, in->m, c, -2);
    fill_normal(&r, in->g, c, -1);
    fill_normal(&r, &in->m[2 * c], c, -2); /* matrix 1: m = g = 0; matrix 2: g = 0 */
    return 0;
}

/* One random 5x9 matrix stepped with 5 Newton-Schulz steps of the v4
 * schedule and eps 0.25: an implementation that ignores ns_steps or ns_eps
 * (10 steps, eps 1e-7) fails stage ns. */
static int mu_ns_keys(mu_in *in, uint64_t seed) {
    if (mu_setup(in, 1, 5, 9) != 0) return -1;
    in->hp.ns.steps = 5;
    in->ns_eps = 0.25;
    in->hp.ns.eps = ox_f32_of_double(in->ns_eps);
    mu_fill_random(in, seed);
    return 0;
}

/* Three random 4x6 matrices; one gradient element of matrix 1 is NaN and
 * one of matrix 2 is +Inf (spec/muon.md §4).  The momentum stage is
 * element-wise, so only those elements become NaN / Inf there; NS mixes all
 * entries (Inf / (Inf + eps) is NaN), so ns.o and update.w of matrices 1
 * and 2 are NaN throughout, and matrix 0 is untouched by its neighbours. */
static int mu_nonfinite(mu_in *in, uint64_t seed) {
    if (mu_setup(in, 3, 4, 6) != 0) return -1;
    mu_fill_random(in, seed);
    size_t c = in->rows * in->cols;
    in->g[c + 7] = OX_F32_QNAN;
    in->g[2 * c + 10] = 0x7F800000u; /* +Inf */
    return 0;
}

/* The cases after G2 (index MU_BATCH on, in the order of mu_names), each
 * made from its seed. */
typedef struct mu_seeded {
    uint64_t seed;
    int (*build)(mu_in *in, uint64_t seed);
    const char *desc;
} mu_seeded;

static const mu_seeded mu_seeded_cases[N_MU - MU_BATCH] = {
    {401, mu_batch,
     "three 7x5 matrices stepped independently with lerp momentum and the aspect rule: random; "
     "zero gradient and zero momentum (decay only); zero gradient with momentum"},
    {402, mu_ns_keys,
     "a random 5x9 matrix with ns_steps 5 and ns_eps 0.25 (not the defaults 10 and 1e-7): checks "
     "that both keys reach Newton-Schulz"},
    {403, mu_nonfinite,
     "three random 4x6 matrices, gradient element 7 of matrix 1 NaN and element 10 of matrix 2 "
     "+Inf: NaN/Inf stay in their element through momentum, fill their matrix's ns.o and "
     "update.w, and never reach matrix 0"},
};

/* G2 of parameter p: three calls, the state carried as stored. */
static int build_g2(og_file *f, int p, char *err, size_t errlen) {
    mu_in in;
    char desc[300];
    size_t rows, cols;
    ou_g2_shape(p, &rows, &cols);
    snprintf(desc, sizeof desc,
             "worked case G2 (spec/muon.md section 7), parameter p%d (%s): three steps from W0 and M = 0, "
             "each starting from the state the step before left%s",
             p, p == 0 ? "4x8" : p == 1 ? "8x4, transposed" : p == 2 ? "6x6" : "3x5",
             p == 3 ? "; zero gradients at steps 1 and 3 (decay only, then momentum only)" : "");
    if (mu_setup(&in, 1, rows, cols) != 0) {
        mu_free(&in);
        return fail(err, errlen, "out of memory");
    }
    ou_g2_w0(p, in.w);
    muon_begin(f, mu_names[p], 0, desc, &in);
    int rc = 0;
    for (int t = 1; t <= 3 && rc == 0; t++) {
        mu_out o;
        ou_g2_grad(p, t, in.g);
        rc = mu_compute(&in, &o);
        if (rc != 0) break;
        write_muon_call(f, (size_t)t - 1, &in, &o);
        memcpy(in.w, o.w1, rows * cols * sizeof *in.w);
        memcpy(in.m, o.m1, rows * cols * sizeof *in.m);
        mu_out_free(&o);
    }
    mu_free(&in);
    return rc ? fail(err, errlen, "out of memory") : 0;
}

static int mu_build_case(size_t i, og_file *f, char *err, size_t errlen) {
    if (i < MU_BATCH) return build_g2(f, (int)i, err, errlen);
    const mu_seeded *c = &mu_seeded_cases[i - MU_BATCH];
    mu_in in;
    int rc = c->build(&in, c->seed);
    if (rc != 0) {
        mu_free(&in);
        return fail(err, errlen, "out of memory");
    }
    rc = build_muon(f, mu_case_name(i), c->seed, c->desc, &in, err, errlen);
    mu_free(&in);
    return rc;
}

/* ======================================================================== */
/* shipped cases: adamw_step                                                 */
/* ======================================================================== */
enum { AW_G3, AW_RANDOM, AW_SUBNORMAL, N_AW };
static const char *const aw_names[N_AW] = {"g3", "random_1000", "subnormal"};

static const char *aw_case_name(size_t i) { return aw_names[i]; }

static void v4_adamw(ou_adamw_hp *hp, double lr, long step) {
    hp->lr = lr;
    hp->beta1 = 0.9;
    hp->beta2 = 0.95;
    hp->eps = 1e-20;
    hp->weight_decay = 0.1;
    hp->step = step;
}

static int aw_alloc(aw_in *in, size_t n) {
    in->n = n;
    in->p = words(n);
    in->m = words(n);
    in->v = words(n);
    in->g = words(n);
    return (in->p && in->m && in->v && in->g) ? 0 : -1;
}

static void aw_free(aw_in *in) {
    free(in->p);
    free(in->m);
    free(in->v);
    free(in->g);
    memset(in, 0, sizeof *in);
}

void ou_g3_data(int t, uint32_t *p0, uint32_t *g) {
    static const char *const p0_text[6] = {"-0.5", "-0.25", "0", "0.25", "0.5", "0.75"};
    static const char *const g_text[3][6] = {{"0.5", "-0.25", "0", "1e-3", "2", "-1"},
                                             {"-0.5", "-0.25", "0", "1e-3", "0", "1"},
                                             {"0.5", "0.125", "0", "-1e-3", "-2", "-1"}};
    for (int i = 0; i < 6; i++) {
        p0[i] = ox_f32_of_text(p0_text[i]);
        g[i] = ox_f32_of_text(g_text[t - 1][i]);
    }
}

void ou_g3_hp(int t, ou_adamw_hp *hp) {
    hp->lr = 0.01;
    hp->beta1 = 0.9;
    hp->beta2 = 0.95;
    hp->eps = 1e-20;
    hp->weight_decay = 0.1;
    hp->step = t;
}

/* G3 of spec/muon.md §7: inputs of step t (steps 1..t-1 computed on the way). */
static int g3_inputs(int t, aw_in *in) {
    memset(in, 0, sizeof *in);
    if (aw_alloc(in, 6) != 0) return -1;
    for (int s = 1; s <= t; s++) {
        uint32_t p0[6];
        ou_g3_data(s, p0, in->g);
        if (s == 1) memcpy(in->p, p0, sizeof p0);
        ou_g3_hp(s, &in->hp);
        if (s == t) break;
        aw_out o;
        if (aw_compute(in, &o) != 0) return -1;
        memcpy(in->p, o.p, 6 * sizeof *in->p);
        memcpy(in->m, o.m, 6 * sizeof *in->m);
        memcpy(in->v, o.v, 6 * sizeof *in->v);
        aw_out_free(&o);
    }
    return 0;
}

/* Random state of a later step, each element at its own scale 2^e, e
 * uniform in [-40, 1]: g = +-[1, 2) 2^e (1 in 16 exactly zero), m =
 * +-[1, 2) 2^(e-2..e), v = [1, 2) 2^(2e-1..2e+1), so |m| / sqrt(v) stays
 * O(1) as in a real run and every value, g^2 included, is a normal fp32
 * (|g| >= 2^-40 ~ 9e-13, far above 1e-18); p ~ N(0, 0.5^2). */
static uint32_t scaled(ox_rng *r, int e, int negative_ok) {
    uint32_t mant = (uint32_t)(ox_rng_next(r) >> 41); /* 23 bits */
    uint32_t sign = negative_ok ? (uint32_t)(ox_rng_next(r) >> 63) << 31 : 0u;
    return sign | ((uint32_t)(e + 127) << 23) | mant;
}

static int aw_random(aw_in *in, size_t n, uint64_t seed) {
    memset(in, 0, sizeof *in);
    if (aw_alloc(in, n) != 0) return -1;
    ox_rng r;
    ox_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        int e = ox_rng_range(&r, -40, 1);
        in->p[i] = normalish(&r, -1);
        in->g[i] = ox_rng_below(&r, 16) == 0 ? 0u : scaled(&r, e, 1);
        in->m[i] = scaled(&r, e - ox_rng_range(&r, 0, 2), 1);
        in->v[i] = scaled(&r, 2 * e + ox_rng_range(&r, -1, 1), 0);
    }
    return 0;
}

/* Gradients so small that v lives below the normal range: |g| = [1, 2)
 * 2^e with e uniform in [-74, -62], so g^2 and v (= [1, 2) 2^(2e-1..2e+1),
 * rounded once to fp32) are mostly subnormal, and (1 - beta2) g^2 sometimes
 * underflows to 0; m = +-[1, 2) 2^(e-2..e); p ~ N(0, 0.5^2).  sqrt(v) /
 * bc2 (~1e-22..1e-18) is then comparable to V4's eps 1e-20.  An
 * implementation that flushes subnormal inputs or results to zero (DAZ,
 * FTZ) changes update.v by far more than the tolerance, and update.p for
 * most elements. */
static int aw_subnormal(aw_in *in, size_t n, uint64_t seed) {
    memset(in, 0, sizeof *in);
    if (aw_alloc(in, n) != 0) return -1;
    ox_rng r;
    ox_rng_seed(&r, seed);
    for (size_t i = 0; i < n; i++) {
        int e = ox_rng_range(&r, -74, -62);
        in->p[i] = normalish(&r, -1);
        in->g[i] = scaled(&r, e, 1);
        in->m[i] = scaled(&r, e - ox_rng_range(&r, 0, 2), 1);
        long mant = (long)(ox_rng_next(&r) >> 41) | (1L << 23); /* [1, 2) 2^23 */
        in->v[i] = ox_f32_of_dyadic(mant, 2 * e + ox_rng_range(&r, -1, 1) - 23);
    }
    return 0;
}

/* The worked case G3 (spec/muon.md §7): three calls from p0, m = v = 0, the
 * state carried as stored (config step 1: call k is step k + 1). */
static int build_g3(og_file *f, char *err, size_t errlen) {
    aw_in in;
    memset(&in, 0, sizeof in);
    if (aw_alloc(&in, 6) != 0) {
        aw_free(&in);
        return fail(err, errlen, "out of memory");
    }
    int rc = 0;
    for (int t = 1; t <= 3 && rc == 0; t++) {
        uint32_t p0[6];
        aw_out o;
        ou_g3_data(t, p0, in.g);
        ou_g3_hp(t, &in.hp);
        if (t == 1) {
            memcpy(in.p, p0, sizeof p0);
            adamw_begin(f, aw_names[AW_G3], 0,
                        "worked case G3 (spec/muon.md section 7): three AdamW steps on six elements (an "
                        "always-zero element, a sign flip, a zero gradient with v > 0)",
                        &in);
        }
        rc = aw_compute(&in, &o);
        if (rc != 0) break;
        write_adamw_call(f, (size_t)t - 1, &in, &o);
        memcpy(in.p, o.p, 6 * sizeof *in.p);
        memcpy(in.m, o.m, 6 * sizeof *in.m);
        memcpy(in.v, o.v, 6 * sizeof *in.v);
        aw_out_free(&o);
    }
    aw_free(&in);
    return rc ? fail(err, errlen, "out of memory") : 0;
}

static int aw_build_case(size_t i, og_file *f, char *err, size_t errlen) {
    if (i == AW_G3) return build_g3(f, err, errlen);
    aw_in in;
    char desc[300];
    uint64_t seed;
    int rc;
    if (i == AW_SUBNORMAL) {
        seed = 502;
        rc = aw_subnormal(&in, 64, seed);
        snprintf(desc, sizeof desc,
                 "64 elements at step 7, lr 2.7e-4, with gradients 2^-74..2^-61: v and g^2 below "
                 "the normal range (subnormal, some products underflow to 0), sqrt(v) near eps; "
                 "strict IEEE needed (no FTZ/DAZ)");
    } else {
        seed = 501;
        rc = aw_random(&in, 1000, seed);
        snprintf(desc, sizeof desc,
                 "1000 random elements at step 7 with V4's Flash peak lr 2.7e-4, each at its own "
                 "scale 2^-40..2^1 (g, m ~ 2^e, v ~ 2^2e; 1 in 16 gradients zero)");
    }
    v4_adamw(&in.hp, 2.7e-4, 7);
    if (rc != 0) {
        aw_free(&in);
        return fail(err, errlen, "out of memory");
    }
    rc = build_adamw(f, aw_names[i], seed, desc, &in, err, errlen);
    aw_free(&in);
    return rc;
}

/* ---- the G2/G3 results the self test checks ----------------------------------- */
int ou_g2_row0(int p, int t, uint32_t *o_row, uint32_t *w_row, size_t *cols) {
    mu_in in;
    mu_out o;
    int rc = g2_inputs(p, t, &in);
    if (rc == 0) rc = mu_compute(&in, &o);
    if (rc == 0) {
        *cols = in.cols;
        memcpy(o_row, o.o, in.cols * sizeof *o_row);
        memcpy(w_row, o.w1, in.cols * sizeof *w_row);
        mu_out_free(&o);
    }
    mu_free(&in);
    return rc;
}

int ou_g3_p(int t, uint32_t *p) {
    aw_in in;
    aw_out o;
    int rc = g3_inputs(t, &in);
    if (rc == 0) rc = aw_compute(&in, &o);
    if (rc == 0) {
        memcpy(p, o.p, 6 * sizeof *p);
        aw_out_free(&o);
    }
    aw_free(&in);
    return rc;
}

/* ======================================================================== */
/* oracle gen                                                                */
/* ======================================================================== */
/* The configs reach `oracle gen` completed and checked by the registry
 * (every key present, within its limits): these only read them. */
static double number_of(const dsv4_json *cfg, const char *key) {
    return dsv4_json_get(cfg, key)->number;
}

static int is(const dsv4_json *cfg, const char *key, const char *value) {
    return strcmp(dsv4_json_get(cfg, key)->string, value) == 0;
}

/* rows x cols from --shape (R or RxC; R alone means a square matrix). */
static void gen_dims(const og_shape *shape, size_t r0, size_t c0, size_t *rows, size_t *cols) {
    *rows = shape ? shape->dim[0] : r0;
    *cols = shape ? (shape->rank == 2 ? shape->dim[1] : shape->dim[0]) : c0;
}

static int ns_gen(const dsv4_json *cfg, uint64_t seed, const char *case_name,
                  const og_shape *shape, og_file *f, char *err, size_t errlen) {
    ns_in in;
    memset(&in, 0, sizeof in);
    in.c.steps = (int)dsv4_json_get(cfg, "steps")->u;
    in.c.classic = is(cfg, "schedule", "classic5");
    in.eps = number_of(cfg, "eps");
    in.c.eps_max = is(cfg, "eps_form", "max");
    in.c.eps = ox_f32_of_double(in.eps);
    gen_dims(shape, 8, 16, &in.rows, &in.cols);
    if (in.rows * in.cols > 64 * 256) return fail(err, errlen, "shape too large (at most 16384 elements)");
    in.z = words(in.rows * in.cols);
    if (!in.z) return fail(err, errlen, "out of memory");
    ox_rng r;
    ox_rng_seed(&r, seed);
    fill_normal(&r, in.z, in.rows * in.cols, 0);
    int rc = build_ns(f, case_name, seed, "random normal input", &in, err, errlen);
    free(in.z);
    return rc;
}

static int mu_gen(const dsv4_json *cfg, uint64_t seed, const char *case_name,
                  const og_shape *shape, og_file *f, char *err, size_t errlen) {
    mu_in in;
    memset(&in, 0, sizeof in);
    in.hp.lr = number_of(cfg, "lr");
    in.hp.momentum = number_of(cfg, "momentum");
    in.hp.weight_decay = number_of(cfg, "weight_decay");
    in.hp.gamma = number_of(cfg, "gamma");
    in.hp.lerp = is(cfg, "momentum_form", "lerp");
    in.hp.aspect = is(cfg, "scale_rule", "aspect");
    in.hp.ns.classic = is(cfg, "schedule", "classic5");
    in.hp.ns.eps_max = is(cfg, "eps_form", "max");
    /* ns_steps 0 = the schedule's count */
    uint64_t steps = dsv4_json_get(cfg, "ns_steps")->u;
    in.hp.ns.steps = steps ? (int)steps : in.hp.ns.classic ? 5 : 10;
    in.ns_eps = number_of(cfg, "ns_eps");
    in.hp.ns.eps = ox_f32_of_double(in.ns_eps);
    in.E = 2;
    gen_dims(shape, 6, 10, &in.rows, &in.cols);
    if (in.rows * in.cols > 64 * 256) return fail(err, errlen, "shape too large (at most 16384 elements)");
    if (mu_alloc(&in) != 0) {
        mu_free(&in);
        return fail(err, errlen, "out of memory");
    }
    size_t total = in.E * in.rows * in.cols;
    ox_rng r;
    ox_rng_seed(&r, seed);
    fill_normal(&r, in.w, total, -3);
    fill_normal(&r, in.m, total, -2);
    fill_normal(&r, in.g, total, -1);
    int rc = build_muon(f, case_name, seed, "two random matrices", &in, err, errlen);
    mu_free(&in);
    return rc;
}

static int aw_gen(const dsv4_json *cfg, uint64_t seed, const char *case_name,
                  const og_shape *shape, og_file *f, char *err, size_t errlen) {
    aw_in in;
    ou_adamw_hp hp;
    hp.lr = number_of(cfg, "lr");
    hp.beta1 = number_of(cfg, "beta1");
    hp.beta2 = number_of(cfg, "beta2");
    hp.eps = number_of(cfg, "eps");
    hp.weight_decay = number_of(cfg, "weight_decay");
    hp.step = (long)dsv4_json_get(cfg, "step")->u;
    size_t n = shape ? shape->dim[0] * (shape->rank == 2 ? shape->dim[1] : 1) : 1000;
    if (n > (1u << 24)) return fail(err, errlen, "shape too large (at most 2^24 elements)");
    if (aw_random(&in, n, seed) != 0) {
        aw_free(&in);
        return fail(err, errlen, "out of memory");
    }
    in.hp = hp;
    int rc = build_adamw(f, case_name, seed, "random state and gradients", &in, err, errlen);
    aw_free(&in);
    return rc;
}

/* ======================================================================== */
/* the operators                                                             */
/* ======================================================================== */
const og_op og_op_newton_schulz = {"newton_schulz", N_NS, ns_case_name, ns_build_case, ns_gen,
                                   ou_selftest};
const og_op og_op_muon_step = {"muon_step", N_MU, mu_case_name, mu_build_case, mu_gen, NULL};
const og_op og_op_adamw_step = {"adamw_step", N_AW, aw_case_name, aw_build_case, aw_gen, NULL};
