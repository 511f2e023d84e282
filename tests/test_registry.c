/* test_registry.c - the operator registry (tools/registry.h): symbolic
 * shapes, configs, stage plans with repeated stages, streaming state, the
 * well-formedness of every declaration, and the agreement of the oracle
 * with the registry on every config. */
#include <criterion/criterion.h>

#include "cli.h"
#include "cli_call.h"
#include "golden.h"
#include "registry.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- shapes ------------------------------------------------------------------------ */
static dsv4_binding syms(void) {
    dsv4_binding b = {0};
    cr_assert_eq(dsv4_bind_set(&b, "hc", 4), DSV4_OK);
    cr_assert_eq(dsv4_bind_set(&b, "d", 4096), DSV4_OK);
    cr_assert_eq(dsv4_bind_set(&b, "block", 32), DSV4_OK);
    return b;
}

Test(shape, expressions_evaluate_exactly) {
    dsv4_binding b = syms();
    size_t dims[DSV4_MAX_RANK];
    int rank;
    char err[200];
    cr_assert_eq(dsv4_shape_eval(" (2+hc)*hc , hc*d,3 ,d/block - 1", &b, dims, &rank, err,
                                 sizeof err),
                 DSV4_OK, "%s", err);
    cr_expect_eq(rank, 4);
    cr_expect_eq(dims[0], 24);
    cr_expect_eq(dims[1], 16384);
    cr_expect_eq(dims[2], 3);
    cr_expect_eq(dims[3], 127);
    cr_assert_eq(dsv4_shape_eval("", &b, dims, &rank, err, sizeof err), DSV4_OK);
    cr_expect_eq(rank, 0);
    dsv4_bind_free(&b);
}

Test(shape, errors_say_why) {
    dsv4_binding b = syms();
    size_t dims[DSV4_MAX_RANK];
    int rank;
    static const struct {
        const char *shape, *why;
    } bad[] = {
        {"d/3", "not a multiple"},
        {"hc/0", "not a multiple"},
        {"T,hc", "T is not bound"},
        {"hc-d", "range"},
        {"18446744073709551615*2", "overflows"},
        {"99999999999999999999", "too large"},
        {"(hc", "missing ')'"},
        {"hc+", "missing operand"},
        {"hc$", "unexpected"},
        {"1,1,1,1,1,1,1,1,1", "more than"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char err[200] = "";
        cr_expect_neq(dsv4_shape_eval(bad[i].shape, &b, dims, &rank, err, sizeof err), DSV4_OK,
                      "%s", bad[i].shape);
        cr_expect(strstr(err, bad[i].why), "%s: %s", bad[i].shape, err);
    }
    dsv4_bind_free(&b);
}

Test(shape, bind_takes_free_dimensions_from_the_first_tensor) {
    dsv4_binding b = syms();
    float data[2 * 4 * 8] = {0};
    size_t s1[3] = {2, 4, 8}, s2[2] = {3, 4};
    dsv4_st st = {0};
    char err[200];
    cr_assert_eq(dsv4_st_add(&st, "in.x", DSV4_DT_F32, 3, s1, data), DSV4_OK);
    cr_assert_eq(dsv4_st_add(&st, "in.w", DSV4_DT_F32, 2, s2, data), DSV4_OK);
    cr_assert_eq(dsv4_shape_bind("F32", "T,hc,cols", &st.tensors[0], &b, err, sizeof err),
                 DSV4_OK, "%s", err);
    uint64_t v;
    cr_expect(dsv4_bind_get(&b, "T", &v) && v == 2);
    cr_expect(dsv4_bind_get(&b, "cols", &v) && v == 8);
    /* a later tensor must agree with what is bound */
    cr_expect_eq(dsv4_shape_bind("F32", "T,hc", &st.tensors[1], &b, err, sizeof err),
                 DSV4_E_DTYPE);
    cr_expect(strstr(err, "in.w: dimension 0 is 3, expected T = 2"), "%s", err);
    cr_expect_eq(dsv4_shape_bind("U8", "T,hc", &st.tensors[1], &b, err, sizeof err),
                 DSV4_E_DTYPE);
    cr_expect(strstr(err, "is F32, expected U8"), "%s", err);
    cr_expect_eq(dsv4_shape_bind("F32", "T", &st.tensors[1], &b, err, sizeof err), DSV4_E_DTYPE);
    cr_expect(strstr(err, "rank 2, expected 1"), "%s", err);
    /* a dtype symbol */
    cr_assert_eq(dsv4_bind_set_dtype(&b, "code", DSV4_DT_F32), DSV4_OK);
    cr_expect_eq(dsv4_shape_bind("code", "rows,hc", &st.tensors[1], &b, err, sizeof err),
                 DSV4_OK, "%s", err);
    dsv4_st_free(&st);
    dsv4_bind_free(&b);
}

/* ---- configs and plans ----------------------------------------------------------------------- */
Test(config, canonical_text_limits_and_symbols) {
    dsv4_opcfg cfg;
    char err[256];
    const dsv4_op *op = dsv4_op_find("hc_pre");
    cr_assert_eq(dsv4_op_configure(op, "{\"d\":64,\"hc_eps\":1e-6}", &cfg, err, sizeof err),
                 DSV4_OK, "%s", err);
    cr_expect_str_eq(cfg.text, "{\"hc\":4,\"d\":64,\"sinkhorn_iters\":20,\"hc_eps\":1e-06,"
                               "\"norm_eps\":1e-06}");
    uint64_t v;
    cr_expect(dsv4_bind_get(&cfg.syms, "d", &v) && v == 64);
    dsv4_opcfg_free(&cfg);
    cr_expect_eq(dsv4_op_configure(op, "{\"hc\":65}", &cfg, err, sizeof err), DSV4_E_ARG);
    cr_expect(strstr(err, "[1, 64]"), "%s", err);
    cr_expect_eq(dsv4_op_configure(op, "{\"hc_eps\":1e39}", &cfg, err, sizeof err), DSV4_E_ARG);
    cr_expect(strstr(err, "fp32"), "%s", err);
    cr_expect_eq(dsv4_op_configure(op, "{\"typo\":1}", &cfg, err, sizeof err), DSV4_E_ARG);
    cr_expect(strstr(err, "unknown config key \"typo\"") && strstr(err, "sinkhorn_iters"), "%s",
              err);
    cr_expect_eq(dsv4_op_configure(dsv4_op_find("quant"), "{\"block_cols\":33}", &cfg, err,
                                   sizeof err),
                 DSV4_E_ARG);
    cr_expect(strstr(err, "even"), "%s", err);
    cr_expect_eq(dsv4_op_configure(dsv4_op_find("adamw_step"), "{\"beta2\":1}", &cfg, err,
                                   sizeof err),
                 DSV4_E_ARG);
}

Test(config, a_repeated_stage_expands_per_config) {
    dsv4_opcfg cfg;
    char err[256];
    cr_assert_eq(dsv4_op_configure(dsv4_op_find("newton_schulz"), "{\"steps\":3}", &cfg, err,
                                   sizeof err),
                 DSV4_OK, "%s", err);
    cr_assert_eq(cfg.n_stages, 4);
    static const char *const names[4] = {"normalize", "step_1", "step_2", "step_3"};
    static const char *const in0[4] = {"in.z", "normalize.x", "step_1.x", "step_2.x"};
    for (size_t s = 0; s < 4; s++) {
        cr_expect_str_eq(cfg.stages[s].name, names[s]);
        cr_expect_eq(cfg.stages[s].k, s);
        cr_assert_eq(cfg.stages[s].n_inputs, 1);
        cr_expect_str_eq(cfg.stages[s].inputs[0], in0[s]);
    }
    cr_expect_str_eq(cfg.stages[3].outputs[0], "step_3.x");
    cr_expect_eq(dsv4_opcfg_producer(&cfg, "step_2.x"), 2);
    cr_expect_eq(dsv4_opcfg_producer(&cfg, "step_4.x"), -1);
    dsv4_opcfg_free(&cfg);
}

/* ---- every declaration is well formed --------------------------------------------------------- */
static int name_in(const char *name, const char *const *list) {
    for (; list && *list; list++)
        if (strcmp(*list, name) == 0) return 1;
    return 0;
}

Test(declarations, every_operator_is_well_formed) {
    for (size_t i = 0; i < dsv4_op_count(); i++) {
        const dsv4_op *op = dsv4_op_at(i);
        dsv4_opcfg cfg;
        char err[256];
        cr_assert_eq(dsv4_op_configure(op, NULL, &cfg, err, sizeof err), DSV4_OK, "%s: %s",
                     op->name, err);
        for (const dsv4_tensor_decl *d = op->inputs; d->name; d++)
            cr_expect(strncmp(d->name, "in.", 3) == 0, "%s: input %s", op->name, d->name);
        for (const dsv4_tensor_decl *d = dsv4_op_streaming(op) ? op->state : NULL; d && d->name;
             d++) {
            cr_expect(strncmp(d->name, "state.", 6) == 0, "%s: state %s", op->name, d->name);
            const dsv4_tensor_decl *next = d->next ? dsv4_opcfg_decl(&cfg, d->next) : NULL;
            cr_expect(next && strcmp(next->dtype, d->dtype) == 0 &&
                          strcmp(next->shape, d->shape) == 0,
                      "%s: state %s must name an output of its dtype and shape", op->name,
                      d->name);
        }
        for (size_t s = 0; s < cfg.n_stages; s++) {
            const dsv4_stage_inst *si = &cfg.stages[s];
            cr_expect(si->decl->run != NULL, "%s: stage %s has no run function", op->name,
                      si->name);
            for (size_t o = 0; o < si->n_outputs; o++) {
                size_t len = strlen(si->name);
                cr_expect(strncmp(si->outputs[o], si->name, len) == 0 &&
                              si->outputs[o][len] == '.',
                          "%s: output %s of stage %s", op->name, si->outputs[o], si->name);
                cr_expect_eq(dsv4_opcfg_producer(&cfg, si->outputs[o]), (long)s,
                             "%s: %s written twice", op->name, si->outputs[o]);
                dsv4_dtype dt;
                cr_expect_eq(dsv4_dtype_resolve(si->decl->outputs[o].dtype, &cfg.syms, &dt),
                             DSV4_OK, "%s: dtype of %s", op->name, si->outputs[o]);
            }
            /* every input is an operator input, state, or an earlier output */
            for (size_t in = 0; in < si->n_inputs; in++) {
                const char *n = si->inputs[in];
                long p = dsv4_opcfg_producer(&cfg, n);
                int ok = (p >= 0 && p < (long)s) || dsv4_opcfg_decl(&cfg, n) != NULL;
                if (p >= (long)s) ok = 0;
                cr_expect(ok, "%s: stage %s reads %s, which nothing before it writes", op->name,
                          si->name, n);
            }
        }
        for (const dsv4_cfg_key *k = op->keys; k->name; k++) {
            cr_expect(k->help && *k->help, "%s: key %s has no help", op->name, k->name);
            if (k->kind == DSV4_KEY_ENUM) cr_expect(name_in(k->def, k->choices));
        }
        dsv4_opcfg_free(&cfg);
    }
}

/* ---- streaming state ------------------------------------------------------------------------- */
/* adamw_step over three calls in one run equals three runs of one call each,
 * the state of one fed to the next: what a decode loop does. */
Test(streaming, one_run_of_three_calls_equals_three_chained_runs) {
    const dsv4_op *op = dsv4_op_find("adamw_step");
    dsv4_opcfg cfg;
    char err[256];
    cr_assert_eq(dsv4_op_configure(op, "{\"step\":5,\"lr\":0.1}", &cfg, err, sizeof err), DSV4_OK);
    size_t n = 7;
    float g[3][7], p[7], m[7] = {0}, v[7] = {0};
    for (size_t i = 0; i < n; i++) {
        p[i] = 0.25f * (float)i - 0.5f;
        for (int k = 0; k < 3; k++) g[k][i] = (float)((int)(i * 7 + (size_t)k * 3) % 5 - 2) / 8.0f;
    }
    dsv4_st in = {0}, all = {0};
    char name[64];
    for (int k = 0; k < 3; k++) {
        snprintf(name, sizeof name, "step%d.in.g", k);
        cr_assert_eq(dsv4_st_add(&in, name, DSV4_DT_F32, 1, &n, g[k]), DSV4_OK);
    }
    cr_assert_eq(dsv4_st_add(&in, "step0.state.p", DSV4_DT_F32, 1, &n, p), DSV4_OK);
    cr_assert_eq(dsv4_st_add(&in, "step0.state.m", DSV4_DT_F32, 1, &n, m), DSV4_OK);
    cr_assert_eq(dsv4_st_add(&in, "step0.state.v", DSV4_DT_F32, 1, &n, v), DSV4_OK);
    cr_assert_eq(dsv4_op_calls(op, &in), 3);
    cr_assert_eq(dsv4_op_run_all(&cfg, DSV4_IMPL_REF, &in, &all, NULL, NULL, err, sizeof err),
                 DSV4_OK, "%s", err);
    /* one call at a time, each from the state the last one left, with the
     * config's first step moved on */
    float sp[7], sm[7], sv[7];
    memcpy(sp, p, sizeof sp);
    memcpy(sm, m, sizeof sm);
    memcpy(sv, v, sizeof sv);
    for (int k = 0; k < 3; k++) {
        dsv4_opcfg one;
        char text[64];
        snprintf(text, sizeof text, "{\"step\":%d,\"lr\":0.1}", 5 + k);
        cr_assert_eq(dsv4_op_configure(op, text, &one, err, sizeof err), DSV4_OK);
        dsv4_st in1 = {0}, out1 = {0};
        cr_assert_eq(dsv4_st_add(&in1, "step0.in.g", DSV4_DT_F32, 1, &n, g[k]), DSV4_OK);
        cr_assert_eq(dsv4_st_add(&in1, "step0.state.p", DSV4_DT_F32, 1, &n, sp), DSV4_OK);
        cr_assert_eq(dsv4_st_add(&in1, "step0.state.m", DSV4_DT_F32, 1, &n, sm), DSV4_OK);
        cr_assert_eq(dsv4_st_add(&in1, "step0.state.v", DSV4_DT_F32, 1, &n, sv), DSV4_OK);
        cr_assert_eq(dsv4_op_run_all(&one, DSV4_IMPL_OPT, &in1, &out1, NULL, NULL, err, sizeof err),
                     DSV4_OK, "%s", err);
        static const char *const outs[3] = {"update.p", "update.m", "update.v"};
        float *keep[3] = {sp, sm, sv};
        for (int o = 0; o < 3; o++) {
            char a[64], b[64];
            snprintf(a, sizeof a, "step%d.%s", k, outs[o]);
            snprintf(b, sizeof b, "step0.%s", outs[o]);
            const dsv4_tensor *x = dsv4_st_find(&all, a), *y = dsv4_st_find(&out1, b);
            cr_assert(x && y, "%s", a);
            cr_expect_eq(memcmp(x->data, y->data, sizeof sp), 0, "call %d, %s", k, outs[o]);
            memcpy(keep[o], y->data, sizeof sp);
        }
        /* the state entering call k + 1 of the long run is this call's result */
        snprintf(name, sizeof name, "step%d.state.p", k + 1);
        const dsv4_tensor *st = dsv4_st_find(&all, name);
        if (k < 2) cr_expect(st && memcmp(st->data, sp, sizeof sp) == 0, "%s", name);
        dsv4_st_free(&in1);
        dsv4_st_free(&out1);
        dsv4_opcfg_free(&one);
    }
    /* the run's file is a valid golden file of three calls once its
     * metadata is there, and a broken state chain is caught */
    cr_assert_eq(dsv4_golden_write_meta(&all, &cfg, 3, "chain", "test"), DSV4_OK);
    dsv4_golden gl;
    cr_assert_eq(dsv4_golden_load(&all, &gl, err, sizeof err), DSV4_OK, "%s", err);
    cr_expect_eq(gl.n_calls, 3);
    dsv4_golden_free(&gl);
    for (size_t i = 0; i < all.n_tensors; i++)
        if (strcmp(all.tensors[i].name, "step2.state.m") == 0) ((float *)all.tensors[i].data)[3] += 1.0f;
    cr_expect_eq(dsv4_golden_load(&all, &gl, err, sizeof err), DSV4_E_FORMAT);
    cr_expect(strstr(err, "step2.state.m differs from step1.update.m"), "%s", err);
    dsv4_st_free(&in);
    dsv4_st_free(&all);
    dsv4_opcfg_free(&cfg);
}

Test(streaming, a_stream_without_its_step_names_is_a_clear_error) {
    const dsv4_op *op = dsv4_op_find("muon_step");
    dsv4_opcfg cfg;
    char err[256];
    cr_assert_eq(dsv4_op_configure(op, NULL, &cfg, err, sizeof err), DSV4_OK);
    float x[4] = {0};
    size_t s[3] = {1, 2, 2};
    dsv4_st in = {0}, out = {0};
    cr_assert_eq(dsv4_st_add(&in, "in.g", DSV4_DT_F32, 3, s, x), DSV4_OK);
    cr_expect_eq(dsv4_op_run_all(&cfg, DSV4_IMPL_REF, &in, &out, NULL, NULL, err, sizeof err),
                 DSV4_E_NOTFOUND);
    cr_expect(strstr(err, "step0.in."), "%s", err);
    /* the first call's state is required */
    cr_assert_eq(dsv4_st_add(&in, "step0.in.g", DSV4_DT_F32, 3, s, x), DSV4_OK);
    cr_expect_eq(dsv4_op_run_all(&cfg, DSV4_IMPL_REF, &in, &out, NULL, NULL, err, sizeof err),
                 DSV4_E_NOTFOUND);
    cr_expect(strstr(err, "step0.state.w"), "%s", err);
    dsv4_st_free(&in);
    dsv4_st_free(&out);
    dsv4_opcfg_free(&cfg);
}

/* ---- the oracle reads the same declarations -------------------------------------------------- */
/* The oracle binary beside the test binaries' folder: BUILD/oracle. */
static int oracle_path(char *buf, size_t len) {
    const char *env = getenv("DSV4_ORACLE");
    if (env && *env) return snprintf(buf, len, "%s", env) < (int)len;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return 0;
    self[n] = '\0';
    for (int up = 0; up < 2; up++) {
        char *slash = strrchr(self, '/');
        if (!slash) return 0;
        *slash = '\0';
    }
    return snprintf(buf, len, "%s/oracle", self) < (int)len;
}

/* `oracle config OP JSON`: its output line and exit status. */
static int oracle_config(const char *oracle, const char *op, const char *json, char *line,
                         size_t len) {
    char cmd[PATH_MAX + 256];
    cr_assert(snprintf(cmd, sizeof cmd, "'%.*s' config %.32s '%.96s' 2>/dev/null", PATH_MAX,
                       oracle, op, json) < (int)sizeof cmd);
    FILE *p = popen(cmd, "r");
    cr_assert(p);
    line[0] = '\0';
    if (!fgets(line, (int)len, p)) line[0] = '\0';
    line[strcspn(line, "\n")] = '\0';
    return pclose(p);
}

Test(oracle, completes_and_checks_every_config_as_the_program_does, .timeout = 120) {
    char oracle[PATH_MAX + 16];
    cr_assert(oracle_path(oracle, sizeof oracle) && access(oracle, X_OK) == 0,
              "the oracle is not built at %s", oracle);
    for (size_t i = 0; i < dsv4_op_count(); i++) {
        const dsv4_op *op = dsv4_op_at(i);
        /* the defaults, and each key at and past its limits */
        char configs[64][96];
        size_t n = 0;
        snprintf(configs[n++], sizeof configs[0], "{}");
        for (const dsv4_cfg_key *k = op->keys; k->name && n + 4 < 64; k++) {
            if (k->kind == DSV4_KEY_UINT) {
                snprintf(configs[n++], 96, "{\"%s\":%llu}", k->name, (unsigned long long)k->min);
                if (k->min) snprintf(configs[n++], 96, "{\"%s\":%llu}", k->name,
                                     (unsigned long long)k->min - 1);
                if (k->max) snprintf(configs[n++], 96, "{\"%s\":%llu}", k->name,
                                     (unsigned long long)k->max + 1);
            } else if (k->kind == DSV4_KEY_NUMBER) {
                snprintf(configs[n++], 96, "{\"%s\":0.999999}", k->name);
                snprintf(configs[n++], 96, "{\"%s\":-1}", k->name);
                snprintf(configs[n++], 96, "{\"%s\":1e300}", k->name);
            } else {
                snprintf(configs[n++], 96, "{\"%s\":\"%s\"}", k->name,
                         k->choices[1] ? k->choices[1] : k->choices[0]);
                snprintf(configs[n++], 96, "{\"%s\":\"nope\"}", k->name);
            }
        }
        snprintf(configs[n++], 96, "{\"no_such_key\":1}");
        for (size_t c = 0; c < n; c++) {
            dsv4_opcfg cfg;
            char err[256], line[512];
            int ours = dsv4_op_configure(op, configs[c], &cfg, err, sizeof err) == DSV4_OK;
            int theirs = oracle_config(oracle, op->name, configs[c], line, sizeof line) == 0;
            cr_expect_eq(ours, theirs, "%s %s: dsv4 %s, oracle %s", op->name, configs[c],
                         ours ? "accepts" : "rejects", theirs ? "accepts" : "rejects");
            if (ours && theirs)
                cr_expect_str_eq(line, cfg.text, "%s %s", op->name, configs[c]);
            if (ours) dsv4_opcfg_free(&cfg);
        }
    }
}

/* dsv4 run on a stream's golden file writes every call, carrying its own
 * state (not the golden one) from call to call; dsv4 check accepts it,
 * names the call of a planted error, and refuses a candidate that starts
 * from another state. */
Test(streaming, run_then_check_a_stream_call_by_call) {
    const char *env = getenv("DSV4_GOLDEN_DIR"), *dir = env && *env ? env : "golden";
    char gold[512], out[] = "/tmp/dsv4_test_stream_XXXXXX";
    snprintf(gold, sizeof gold, "%s/adamw_step.g3.safetensors", dir);
    int fd = mkstemp(out);
    cr_assert(fd >= 0);
    close(fd);
    result r = call(dsv4_cli_run, "run", "adamw_step", "--in", gold, "--out", out, "--impl",
                    "opt", NULL);
    cr_assert_eq(r.rc, 0, "%s%s", r.out, r.err);
    cr_expect(strstr(r.out, "3 call(s)"), "%s", r.out);
    result_free(&r);
    r = call(dsv4_cli_check, "check", out, NULL);
    cr_expect_eq(r.rc, 0, "%s%s", r.out, r.err);
    cr_expect(strstr(r.out, "update@2") && strstr(r.out, "CONFORMS"), "%s", r.out);
    result_free(&r);
    /* one element of call 1's update.p off by far more than its tolerance */
    dsv4_st st = {0};
    char err[256];
    cr_assert_eq(dsv4_st_read(out, &st, err, sizeof err), DSV4_OK, "%s", err);
    for (size_t i = 0; i < st.n_tensors; i++)
        if (strcmp(st.tensors[i].name, "step1.update.p") == 0) ((float *)st.tensors[i].data)[1] += 0.5f;
    cr_assert_eq(dsv4_st_write(out, &st), DSV4_OK);
    r = call(dsv4_cli_check, "check", out, NULL);
    cr_expect_eq(r.rc, 1, "%s", r.out);
    cr_expect(strstr(r.out, "first divergence: stage update@1, tensor step1.update.p"), "%s",
              r.out);
    result_free(&r);
    /* a starting state that is not the golden one */
    for (size_t i = 0; i < st.n_tensors; i++)
        if (strcmp(st.tensors[i].name, "step0.state.v") == 0) ((float *)st.tensors[i].data)[0] = 1.0f;
    cr_assert_eq(dsv4_st_write(out, &st), DSV4_OK);
    r = call(dsv4_cli_check, "check", out, NULL);
    cr_expect_eq(r.rc, 1, "%s", r.out);
    cr_expect(strstr(r.out, "different inputs (step0.state.v differs)"), "%s", r.out);
    result_free(&r);
    dsv4_st_free(&st);
    remove(out);
}
