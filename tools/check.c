/* check.c - `dsv4 check CANDIDATE [--golden FILE]`: judge another
 * implementation's outputs against a golden file.
 *
 * The candidate holds stage outputs under the golden tensor names (and
 * optionally the in.* tensors, which must then equal the golden inputs bit
 * for bit).  Stages are judged in pipeline order with the golden file's
 * tolerances; a stage none of whose outputs the candidate has is "not
 * provided" and skipped.  The first failing stage is named with its tensor,
 * element index and the two values, since that is where to start debugging. */
#include "cli.h"
#include "golden.h"

#include <stdlib.h>
#include <string.h>

typedef struct verdict {
    size_t passed, failed, skipped;
    int diverged;          /* a first divergence has been printed */
    char first[1024];      /* "first divergence: ..." */
} verdict;

static void note_divergence(verdict *v, const char *stage, const char *tensor,
                            const dsv4_cmp *r) {
    if (v->diverged) return;
    v->diverged = 1;
    if (!r->layout_ok)
        snprintf(v->first, sizeof v->first, "first divergence: stage %s, tensor %s: %s", stage,
                 tensor, r->reason);
    else
        snprintf(v->first, sizeof v->first,
                 "first divergence: stage %s, tensor %s, index %zu %s: got %s expected %s",
                 stage, tensor, r->first_index, r->first_at, r->first_got, r->first_exp);
}

/* w.* and in.* present in the candidate must be the golden ones, bit for
 * bit, and so must a stream's starting state (step0.state.*).  The state
 * entering a later call is the candidate's own result of the call before,
 * judged there. */
static int inputs_match(const dsv4_st *cand, const dsv4_st *gold, const dsv4_golden *g,
                        FILE *out) {
    const dsv4_tensor_decl *lists[3] = {g->op->weights, g->op->inputs, g->op->state};
    char name[512];
    for (size_t k = 0; k < g->n_calls; k++)
        for (int l = 0; l < (k == 0 ? 3 : 2); l++)
            for (const dsv4_tensor_decl *d = lists[l]; d && d->name; d++) {
                dsv4_call_name(g->op, k, d->name, name, sizeof name);
                const dsv4_tensor *c = dsv4_st_find(cand, name);
                if (c && !dsv4_tensor_identical(c, dsv4_st_find(gold, name))) {
                    fprintf(out, "inputs    FAIL  candidate was computed from different inputs "
                                 "(%s differs)\n", name);
                    return 0;
                }
            }
    return 1;
}

static void check_stage(const dsv4_st *cand, const dsv4_st *gold, const dsv4_golden *g, size_t k,
                        size_t s, verdict *v, FILE *out) {
    const dsv4_stage_inst *si = &g->cfg.stages[s];
    char tol[48] = "", detail[800] = "", label[96], name[256];
    size_t provided = 0, missing = 0, tie_rows = 0;
    int pass = 1;
    dsv4_golden_stage_text(g, k, s, label, sizeof label, tol, sizeof tol);
    for (size_t o = 0; o < si->n_outputs; o++) {
        const dsv4_tol_rule *rule = dsv4_golden_rule(g, k, s, o);
        dsv4_call_name(g->op, k, si->outputs[o], name, sizeof name);
        const dsv4_tensor *c = dsv4_st_find(cand, name);
        dsv4_cmp r;
        if (!c) {
            missing++;
            continue;
        }
        provided++;
        dsv4_compare(c, dsv4_st_find(gold, name), rule, &r);
        if (r.tie_rows > tie_rows) tie_rows = r.tie_rows; /* the rows of one stage */
        if (dsv4_cmp_passed(&r) || !pass) continue;
        pass = 0;
        note_divergence(v, label, name, &r);
        if (r.layout_ok)
            snprintf(detail, sizeof detail, "%s: %zu of %zu elements differ, max abs err %.3g",
                     name, r.mismatches, r.n, r.max_abs);
        else
            snprintf(detail, sizeof detail, "%s: %s", name, r.reason);
    }
    if (provided == 0) {
        fprintf(out, "stage %-12s SKIP  not provided\n", label);
        v->skipped++;
        return;
    }
    if (pass && missing) {
        /* Half a stage is not a conforming stage: its consumers need it all. */
        pass = 0;
        snprintf(detail, sizeof detail, "%zu of its outputs not provided", missing);
        if (!v->diverged) {
            v->diverged = 1;
            snprintf(v->first, sizeof v->first, "first divergence: stage %s: %s", label, detail);
        }
    }
    if (pass && tie_rows)
        snprintf(detail, sizeof detail, "the file leaves the order of tied scores unspecified: "
                 "%zu row(s) passed by it", tie_rows);
    fprintf(out, "stage %-12s %s  (%s)%s%s\n", label, pass ? "PASS" : "FAIL", tol,
            *detail ? "  " : "", detail);
    if (pass)
        v->passed++;
    else
        v->failed++;
}

/* A relative "golden" path in the candidate's metadata is tried as given,
 * then next to the candidate (where a producer most likely wrote it). */
static char *resolve_golden(const char *cand_path, const char *g) {
    size_t cap = strlen(cand_path) + strlen(g) + 2;
    char *p = malloc(cap);
    if (!p) return NULL;
    snprintf(p, cap, "%s", g);
    FILE *f = fopen(p, "rb");
    const char *slash = strrchr(cand_path, '/');
    if (!f && g[0] != '/' && slash)
        snprintf(p, cap, "%.*s/%s", (int)(slash - cand_path), cand_path, g);
    if (f) fclose(f);
    return p;
}

static int judge(const char *cand_path, const dsv4_st *cand, const char *gold_path, FILE *out,
                 FILE *err) {
    dsv4_st gold = {0};
    dsv4_golden g;
    char why[256];
    if (dsv4_st_read(gold_path, &gold, why, sizeof why) != DSV4_OK ||
        dsv4_golden_load(&gold, &g, why, sizeof why) != DSV4_OK) {
        fprintf(err, "dsv4 check: golden file %s: %s\n", gold_path, why);
        dsv4_st_free(&gold);
        return DSV4_EXIT_USAGE;
    }
    fprintf(out, "candidate %s\ngolden    %s (op %s, case %s)\n", cand_path, gold_path, g.op->name,
            g.case_name);
    const char *cand_op = dsv4_st_meta(cand, "op");
    verdict v;
    memset(&v, 0, sizeof v);
    int ok = 1;
    if (cand_op && strcmp(cand_op, g.op->name) != 0) {
        fprintf(out, "candidate is for op %s, golden for op %s\n", cand_op, g.op->name);
        ok = 0;
    }
    if (ok) ok = inputs_match(cand, &gold, &g, out);
    for (size_t k = 0; ok && k < g.n_calls; k++)
        for (size_t s = 0; s < g.cfg.n_stages; s++) check_stage(cand, &gold, &g, k, s, &v, out);
    if (ok && v.passed + v.failed == 0) fprintf(out, "no stage output provided\n");
    ok = ok && v.failed == 0 && v.passed > 0;
    if (v.diverged) fprintf(out, "%s\n", v.first);
    fprintf(out, "check: %s (%zu passed, %zu failed, %zu not provided)\n",
            ok ? "CONFORMS" : "DOES NOT CONFORM", v.passed, v.failed, v.skipped);
    dsv4_golden_free(&g);
    dsv4_st_free(&gold);
    return ok ? DSV4_EXIT_OK : DSV4_EXIT_FAIL;
}

int dsv4_cli_check(int argc, char **argv, FILE *out, FILE *err) {
    const char *cand_path = NULL, *gold_arg = NULL;
    for (int i = 1; i < argc; i++) {
        int m = dsv4_cli_opt(argc, argv, &i, "golden", &gold_arg, err);
        if (m < 0) return DSV4_EXIT_USAGE;
        if (m) continue;
        if (argv[i][0] == '-' || cand_path)
            return dsv4_cli_usage_error(err, "check", "unexpected argument \"%s\"", argv[i]);
        cand_path = argv[i];
    }
    if (!cand_path) return dsv4_cli_usage_error(err, "check", "missing CANDIDATE file");
    dsv4_st cand = {0};
    char why[256];
    if (dsv4_st_read(cand_path, &cand, why, sizeof why) != DSV4_OK) {
        fprintf(err, "dsv4 check: cannot read candidate %s: %s\n", cand_path, why);
        fprintf(out, "check: DOES NOT CONFORM (unreadable candidate)\n");
        return DSV4_EXIT_FAIL;
    }
    const char *meta = dsv4_st_meta(&cand, "golden");
    int rc = DSV4_EXIT_USAGE;
    if (!gold_arg && !meta) {
        fprintf(err, "dsv4 check: no golden file: pass --golden FILE or set the candidate's "
                     "metadata key \"golden\"\n");
    } else {
        char *gold_path = gold_arg ? NULL : resolve_golden(cand_path, meta);
        if (gold_arg || gold_path) rc = judge(cand_path, &cand, gold_arg ? gold_arg : gold_path, out, err);
        free(gold_path);
    }
    dsv4_st_free(&cand);
    return rc;
}
