/* test_cli_muon.c - the registry entries of newton_schulz, muon_step and
 * adamw_step (tools/ops_muon.c): configuration checks, input checks, and the
 * stages that the library does not expose one by one. */
#include <criterion/criterion.h>

#include "cli.h"
#include "cli_call.h"
#include "internal.h"
#include "registry.h"

#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <xmmintrin.h>
#endif

static dsv4_status configure(const char *op, const char *json, dsv4_opcfg *cfg) {
    char err[256] = "";
    const dsv4_op *o = dsv4_op_find(op);
    cr_assert(o != NULL, "op %s not registered", op);
    return dsv4_op_configure(o, json, cfg, err, sizeof err);
}

Test(cli_muon, config_rejects_bad_values) {
    const char *bad[][2] = {{"newton_schulz", "{\"steps\":65}"},
                            {"newton_schulz", "{\"steps\":0}"},
                            {"newton_schulz", "{\"eps\":1e300}"},
                            {"newton_schulz", "{\"schedule\":\"v5\"}"},
                            {"muon_step", "{\"steps\":3}"},
                            {"muon_step", "{\"ns_steps\":65}"},
                            {"muon_step", "{\"ns_steps\":-1}"},
                            {"muon_step", "{\"ns_eps\":1e300}"},
                            {"muon_step", "{\"momentum_form\":\"ema\"}"},
                            {"adamw_step", "{\"beta1\":1}"},
                            {"adamw_step", "{\"beta2\":1.5}"},
                            {"adamw_step", "{\"step\":0}"}};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dsv4_opcfg cfg;
        cr_expect_eq(configure(bad[i][0], bad[i][1], &cfg), DSV4_E_ARG, "%s %s accepted",
                     bad[i][0], bad[i][1]);
    }
    dsv4_opcfg cfg;
    cr_assert_eq(configure("muon_step", "", &cfg), DSV4_OK);
    dsv4_opcfg_free(&cfg);
}

/* Stage s of the config's plan on the tensors of src (named as in call 0
 * of a stream: step0.* for a streaming operator), outputs into dst with the
 * same names. */
static dsv4_status run_stage(const dsv4_opcfg *cfg, size_t s, dsv4_impl impl, const dsv4_st *src,
                             dsv4_st *dst, char *err, size_t errlen) {
    char prefix[16];
    dsv4_call_name(cfg->op, 0, "", prefix, sizeof prefix);
    dsv4_view v = {0};
    dsv4_binding b = {0};
    dsv4_view_add(&v, src, prefix);
    dsv4_status st = dsv4_call_bind(cfg, &v, &b, err, errlen);
    if (st == DSV4_OK) st = dsv4_op_run_stage(cfg, s, impl, 0, &v, &b, dst, prefix, err, errlen);
    dsv4_bind_free(&b);
    return st;
}

/* Deterministic test data in [-1, 1). */
static void fill(float *x, size_t n, unsigned seed) {
    unsigned s = seed * 2654435761u + 1u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((double)(s >> 8) / 8388608.0 - 1.0);
    }
}

/* muon_step's ns_steps and ns_eps reach Newton-Schulz: stage ns of a
 * configuration with 3 steps and eps 0.5 equals the library's Newton-Schulz
 * with those settings bit for bit, and differs from the defaults' result;
 * ns_steps 0 means the schedule's count (classic5: 5). */
static void ns_stage(const char *json, const float *u, size_t rows, size_t cols, float *o) {
    const dsv4_op *op = dsv4_op_find("muon_step");
    dsv4_opcfg cfg;
    char err[256] = "";
    cr_assert_eq(dsv4_op_configure(op, json, &cfg, err, sizeof err), DSV4_OK, "%s", err);
    size_t shape[3] = {1, rows, cols};
    dsv4_st src = {0}, dst = {0};
    /* the call's gradient and state give the shape; the stage reads u only */
    static const char *const call[] = {"step0.in.g", "step0.state.w", "step0.state.m"};
    for (int i = 0; i < 3; i++)
        cr_assert_eq(dsv4_st_add(&src, call[i], DSV4_DT_F32, 3, shape, u), DSV4_OK);
    cr_assert_eq(dsv4_st_add(&src, "step0.momentum.u", DSV4_DT_F32, 3, shape, u), DSV4_OK);
    cr_assert_eq(run_stage(&cfg, 1, DSV4_IMPL_REF, &src, &dst, err, sizeof err), DSV4_OK, "%s",
                 err);
    memcpy(o, dsv4_st_find(&dst, "step0.ns.o")->data, rows * cols * sizeof *o);
    dsv4_st_free(&src);
    dsv4_st_free(&dst);
    dsv4_opcfg_free(&cfg);
}

Test(cli_muon, ns_steps_and_ns_eps_reach_newton_schulz) {
    enum { R = 5, C = 7 };
    float u[R * C], got[R * C], want[R * C], dflt[R * C];
    fill(u, R * C, 9);
    ns_stage("{\"ns_steps\":3,\"ns_eps\":0.5}", u, R, C, got);
    dsv4_ns_cfg ns = {3, dsv4_ns_v4_coef, 0.5f, DSV4_NS_EPS_ADD};
    cr_assert_eq(dsv4_ref_newton_schulz(&ns, R, C, u, want, NULL), DSV4_OK);
    cr_expect_eq(memcmp(got, want, sizeof got), 0, "ns_steps 3, ns_eps 0.5 not applied");
    ns_stage("", u, R, C, dflt);
    cr_expect_neq(memcmp(got, dflt, sizeof got), 0, "the keys changed nothing");
    /* defaults: the schedule's 10 steps and eps 1e-7 */
    ns = (dsv4_ns_cfg){10, dsv4_ns_v4_coef, 1e-7f, DSV4_NS_EPS_ADD};
    cr_assert_eq(dsv4_ref_newton_schulz(&ns, R, C, u, want, NULL), DSV4_OK);
    cr_expect_eq(memcmp(dflt, want, sizeof dflt), 0, "defaults are not 10 steps, eps 1e-7");
    /* classic5 with ns_steps 0: five steps of the first triple */
    float classic[5 * 3];
    for (int s = 0; s < 5; s++) memcpy(&classic[3 * s], dsv4_ns_v4_coef, 3 * sizeof(float));
    ns_stage("{\"schedule\":\"classic5\",\"ns_steps\":0}", u, R, C, got);
    ns = (dsv4_ns_cfg){5, classic, 1e-7f, DSV4_NS_EPS_ADD};
    cr_assert_eq(dsv4_ref_newton_schulz(&ns, R, C, u, want, NULL), DSV4_OK);
    cr_expect_eq(memcmp(got, want, sizeof got), 0, "classic5 with ns_steps 0 is not 5 steps");
}

/* The momentum stage obtains U through a second momentum update; U must be
 * bit for bit the library's own Nesterov input, which the NS output of the
 * whole step reveals: NS(momentum.u) == ns_out of dsv4_ref_muon_step. */
static void check_u(const char *json, size_t E, size_t rows, size_t cols) {
    const dsv4_op *op = dsv4_op_find("muon_step");
    dsv4_opcfg cfg;
    char err[256] = "";
    cr_assert_eq(dsv4_op_configure(op, json, &cfg, err, sizeof err), DSV4_OK, "%s", err);
    size_t total = E * rows * cols, shape[3] = {E, rows, cols};
    float *w = malloc(total * sizeof *w), *m = malloc(total * sizeof *m);
    float *g = malloc(total * sizeof *g), *o = malloc(total * sizeof *o);
    float *o2 = malloc(total * sizeof *o2);
    cr_assert(w && m && g && o && o2);
    fill(w, total, 1);
    fill(m, total, 2);
    fill(g, total, 3);
    dsv4_st src = {0};
    cr_assert_eq(dsv4_st_add(&src, "step0.in.g", DSV4_DT_F32, 3, shape, g), DSV4_OK);
    cr_assert_eq(dsv4_st_add(&src, "step0.state.w", DSV4_DT_F32, 3, shape, w), DSV4_OK);
    cr_assert_eq(dsv4_st_add(&src, "step0.state.m", DSV4_DT_F32, 3, shape, m), DSV4_OK);
    for (int impl = 0; impl < DSV4_IMPL_COUNT; impl++) {
        /* stages momentum and ns end to end: the same NS as the step */
        dsv4_st all = {0};
        cr_assert_eq(dsv4_op_run_all(&cfg, (dsv4_impl)impl, &src, &all, NULL, NULL, err,
                                     sizeof err),
                     DSV4_OK, "%s", err);
        cr_assert(dsv4_st_find(&all, "step0.momentum.u") != NULL);
        memcpy(o2, dsv4_st_find(&all, "step0.ns.o")->data, total * sizeof *o2);
        dsv4_st_free(&all);
        /* the library's own step, same implementation */
        dsv4_muon_cfg mc = {DSV4_NS_V4, 0.02, 0.95, 0.1, 0.18, DSV4_MUON_MOMENTUM_SUM,
                            DSV4_MUON_SCALE_RMS};
        if (strstr(json, "lerp")) mc.momentum_form = DSV4_MUON_MOMENTUM_LERP;
        float *wc = malloc(total * sizeof *wc), *mcp = malloc(total * sizeof *mcp);
        cr_assert(wc && mcp);
        memcpy(wc, w, total * sizeof *wc);
        memcpy(mcp, m, total * sizeof *mcp);
        cr_assert_eq((impl ? dsv4_opt_muon_step : dsv4_ref_muon_step)(&mc, E, rows, cols, g, wc,
                                                                       mcp, o),
                     DSV4_OK);
        cr_expect_eq(memcmp(o, o2, total * sizeof *o), 0, "%s: NS(momentum.u) != ns_out", json);
        free(wc);
        free(mcp);
    }
    dsv4_st_free(&src);
    dsv4_opcfg_free(&cfg);
    free(w);
    free(m);
    free(g);
    free(o);
    free(o2);
}

Test(cli_muon, momentum_u_is_the_library_nesterov_input) {
    check_u("{\"momentum_form\":\"sum\"}", 2, 5, 7);
    check_u("{\"momentum_form\":\"lerp\"}", 2, 5, 7);
    check_u("{\"momentum_form\":\"lerp\"}", 1, 9, 4);
    check_u("{\"momentum_form\":\"sum\"}", 3, 1, 1);
}

Test(cli_muon, mismatched_shapes_are_reported) {
    const dsv4_op *op = dsv4_op_find("adamw_step");
    dsv4_opcfg cfg;
    char err[256] = "";
    cr_assert_eq(dsv4_op_configure(op, "", &cfg, err, sizeof err), DSV4_OK);
    float a[5] = {0}, b[4] = {0};
    size_t n5 = 5, n4 = 4;
    dsv4_st src = {0}, dst = {0};
    cr_assert_eq(dsv4_st_add(&src, "step0.in.g", DSV4_DT_F32, 1, &n5, a), DSV4_OK);
    cr_assert_eq(dsv4_st_add(&src, "step0.state.p", DSV4_DT_F32, 1, &n5, a), DSV4_OK);
    cr_assert_eq(dsv4_st_add(&src, "step0.state.m", DSV4_DT_F32, 1, &n5, a), DSV4_OK);
    cr_assert_eq(dsv4_st_add(&src, "step0.state.v", DSV4_DT_F32, 1, &n4, b), DSV4_OK);
    cr_expect_neq(run_stage(&cfg, 0, DSV4_IMPL_REF, &src, &dst, err, sizeof err), DSV4_OK);
    cr_expect(strstr(err, "state.v: dimension 0 is 4, expected n = 5") != NULL, "reason: %s",
              err);
    dsv4_st_free(&src);
    dsv4_st_free(&dst);
    dsv4_opcfg_free(&cfg);
}

/* Golden case adamw_step.subnormal needs strict IEEE: it verifies as built,
 * and fails with the x86 flush-to-zero and denormals-are-zero modes set in
 * the calling thread (where verify runs ref), while random_1000, all in the
 * normal range, still passes there. */
Test(cli_muon, adamw_subnormal_case_catches_ftz_daz) {
    const char *env = getenv("DSV4_GOLDEN_DIR"), *dir = env && *env ? env : "golden";
    char sub[512], rnd[512];
    snprintf(sub, sizeof sub, "%s/adamw_step.subnormal.safetensors", dir);
    snprintf(rnd, sizeof rnd, "%s/adamw_step.random_1000.safetensors", dir);
    result r = call(dsv4_cli_verify, "verify", sub, NULL);
    cr_expect_eq(r.rc, 0, "%s%s", r.out, r.err);
    result_free(&r);
#if defined(__x86_64__)
    unsigned csr = _mm_getcsr();
    _mm_setcsr(csr | 0x8040u); /* FTZ (bit 15) | DAZ (bit 6) */
    result f = call(dsv4_cli_verify, "verify", sub, NULL);
    result g = call(dsv4_cli_verify, "verify", rnd, NULL);
    _mm_setcsr(csr);
    cr_expect_neq(f.rc, 0, "FTZ/DAZ not caught:\n%s", f.out);
    cr_expect(strstr(f.out, "update.p") != NULL, "%s", f.out);
    cr_expect_eq(g.rc, 0, "random_1000 failed under FTZ/DAZ:\n%s", g.out);
    result_free(&f);
    result_free(&g);
#endif
}
