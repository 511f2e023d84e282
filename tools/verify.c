/* verify.c - `dsv4 verify`: ref and opt against golden files.
 *
 * For each file and each implementation, two modes per stage:
 *  - stage: the stage alone, fed with the golden tensors it reads;
 *  - e2e:   the whole pipeline from in.* only, each stage fed with the
 *           outputs this implementation computed for the earlier stages.
 * Each (file, impl, stage, mode) is one row of the table; a file that cannot
 * be read or understood is one FAIL row with the reason. */
#include "cli.h"
#include "golden.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct tally {
    size_t passed, failed;
} tally;

#define ROW_FMT "%-24s %-4s %-12s %-5s %-10s %-16s %s\n"

static void row(FILE *out, tally *t, const char *kase, const char *impl, const char *stage,
                const char *mode, const char *maxerr, const char *tol, int pass,
                const char *detail) {
    char result[1100];
    snprintf(result, sizeof result, "%s%s%s", pass ? "PASS" : "FAIL", *detail ? "  " : "", detail);
    fprintf(out, ROW_FMT, kase, impl, stage, mode, maxerr, tol, result);
    if (pass)
        t->passed++;
    else
        t->failed++;
}

/* Compare the outputs of stage s of call k (found in `got` as
 * `<prefix><output>`) with the golden file; one row. */
static void compare_stage(FILE *out, tally *t, const dsv4_st *gold, const dsv4_golden *g,
                          size_t k, size_t s, dsv4_impl impl, const char *mode,
                          const dsv4_st *got, const char *prefix) {
    const dsv4_stage_inst *si = &g->cfg.stages[s];
    char tol_txt[48] = "", err_txt[32], detail[1024] = "", label[80], name[200];
    double max_abs = 0.0;
    size_t tie_rows = 0;
    int pass = 1;
    dsv4_golden_stage_text(g, k, s, label, sizeof label, tol_txt, sizeof tol_txt);
    for (size_t o = 0; o < si->n_outputs; o++) {
        const dsv4_tol_rule *rule = dsv4_golden_rule(g, k, s, o);
        snprintf(name, sizeof name, "%s%s", prefix, si->outputs[o]);
        const dsv4_tensor *gt = dsv4_st_find(got, name), *xt = dsv4_st_find(gold, name);
        dsv4_cmp r;
        if (!gt || !xt) {
            snprintf(detail, sizeof detail, "%s not computed", name);
            pass = 0;
            break;
        }
        dsv4_compare(gt, xt, rule, &r);
        if (r.max_abs > max_abs || isnan(r.max_abs)) max_abs = r.max_abs;
        if (r.tie_rows > tie_rows) tie_rows = r.tie_rows; /* the rows of one stage */
        if (dsv4_cmp_passed(&r) || !pass) continue;
        pass = 0;
        if (!r.layout_ok)
            snprintf(detail, sizeof detail, "%s: %s", name, r.reason);
        else
            snprintf(detail, sizeof detail,
                     "%s: %zu of %zu differ, first index %zu %s: got %s expected %s", name,
                     r.mismatches, r.n, r.first_index, r.first_at, r.first_got, r.first_exp);
    }
    if (pass && tie_rows)
        snprintf(detail, sizeof detail, "%zu row(s) equal only up to the order of tied scores",
                 tie_rows);
    snprintf(err_txt, sizeof err_txt, "%.3g", max_abs);
    row(out, t, g->case_name, dsv4_impl_name(impl), label, mode, err_txt, tol_txt, pass, detail);
}

/* Stage s of call k could not run: FAIL row carrying the reason. */
static void stage_error(FILE *out, tally *t, const dsv4_golden *g, size_t k, size_t s,
                        dsv4_impl impl, const char *mode, const char *why) {
    char tol_txt[48], label[80];
    dsv4_golden_stage_text(g, k, s, label, sizeof label, tol_txt, sizeof tol_txt);
    row(out, t, g->case_name, dsv4_impl_name(impl), label, mode, "-", tol_txt, 0, why);
}

/* Every stage of every call alone, fed with the golden tensors it reads. */
static void verify_stages(FILE *out, tally *t, const dsv4_st *gold, const dsv4_golden *g,
                          dsv4_impl impl) {
    for (size_t k = 0; k < g->n_calls; k++) {
        char prefix[32];
        dsv4_view v = dsv4_golden_view(g, gold, k, prefix, sizeof prefix);
        for (size_t s = 0; s < g->cfg.n_stages; s++) {
            dsv4_st got = {0};
            char err[256];
            if (dsv4_op_run_stage(&g->cfg, s, impl, k, &v, &g->syms[k], &got, prefix, err,
                                  sizeof err) == DSV4_OK)
                compare_stage(out, t, gold, g, k, s, impl, "stage", &got, prefix);
            else
                stage_error(out, t, g, k, s, impl, "stage", err);
            dsv4_st_free(&got);
        }
    }
}

/* The end-to-end run compares each stage as soon as it has run. */
typedef struct e2e_ctx {
    FILE *out;
    tally *t;
    const dsv4_st *gold;
    const dsv4_golden *g;
    dsv4_impl impl;
    size_t done; /* stages compared, over all calls */
} e2e_ctx;

static void e2e_hook(void *ctx, size_t k, size_t s, const char *prefix, const dsv4_st *got) {
    e2e_ctx *e = ctx;
    compare_stage(e->out, e->t, e->gold, e->g, k, s, e->impl, "e2e", got, prefix);
    e->done++;
}

/* The whole pipeline from the inputs (and the initial state) alone, each
 * stage fed with what this implementation computed before it. */
static void verify_e2e(FILE *out, tally *t, const dsv4_st *gold, const dsv4_golden *g,
                       dsv4_impl impl) {
    dsv4_st work = {0};
    char err[256] = "";
    e2e_ctx e = {out, t, gold, g, impl, 0};
    if (dsv4_op_run_all(&g->cfg, impl, gold, &work, e2e_hook, &e, err, sizeof err) != DSV4_OK) {
        size_t n = g->cfg.n_stages;
        stage_error(out, t, g, e.done / n, e.done % n, impl, "e2e", err);
        for (size_t i = e.done + 1; i < g->n_calls * n; i++)
            stage_error(out, t, g, i / n, i % n, impl, "e2e", "not run: an earlier stage failed");
    }
    dsv4_st_free(&work);
}

static void verify_file(FILE *out, tally *t, const char *path) {
    dsv4_st gold = {0};
    dsv4_golden g;
    char err[256];
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    fprintf(out, "# %s\n", path);
    if (dsv4_st_read(path, &gold, err, sizeof err) != DSV4_OK ||
        dsv4_golden_load(&gold, &g, err, sizeof err) != DSV4_OK) {
        row(out, t, base, "-", "-", "-", "-", "-", 0, err);
        dsv4_st_free(&gold);
        return;
    }
    for (int impl = 0; impl < DSV4_IMPL_COUNT; impl++) {
        verify_stages(out, t, &gold, &g, (dsv4_impl)impl);
        verify_e2e(out, t, &gold, &g, (dsv4_impl)impl);
    }
    dsv4_golden_free(&g);
    dsv4_st_free(&gold);
}

int dsv4_cli_verify(int argc, char **argv, FILE *out, FILE *err) {
    dsv4_pathlist files = {0};
    int ok = 1;
    for (int i = 1; i < argc && ok; i++) {
        if (argv[i][0] == '-' && argv[i][1] != '\0') {
            dsv4_pathlist_free(&files);
            return dsv4_cli_usage_error(err, "verify", "unknown option \"%s\"", argv[i]);
        }
        ok = dsv4_pathlist_add(&files, argv[i], err);
    }
    if (ok && argc < 2) {
        const char *dir = getenv("DSV4_GOLDEN_DIR");
        ok = dsv4_pathlist_add(&files, dir && *dir ? dir : "golden", err);
    }
    if (!ok) {
        dsv4_pathlist_free(&files);
        return DSV4_EXIT_FAIL;
    }
    tally t = {0, 0};
    fprintf(out, "dsv4 verify: isa %s, threads %d, %zu file(s)\n",
            dsv4_isa_name(dsv4_isa_active()), dsv4_threads_get(), files.n);
    fprintf(out, ROW_FMT, "case", "impl", "stage", "mode", "max_err", "tolerance", "result");
    for (size_t i = 0; i < files.n; i++) verify_file(out, &t, files.paths[i]);
    fprintf(out, "verify: %zu passed, %zu failed\n", t.passed, t.failed);
    if (files.n == 0) fprintf(err, "dsv4 verify: no golden files found\n");
    dsv4_pathlist_free(&files);
    return (t.failed == 0 && t.passed > 0) ? DSV4_EXIT_OK : DSV4_EXIT_FAIL;
}
