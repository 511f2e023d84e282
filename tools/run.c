/* run.c - `dsv4 run OP --in IN --out OUT [--impl ref|opt] [--config JSON]`.
 *
 * Computes every stage of OP end to end from IN's in.* tensors and writes a
 * golden-format file (in.*, every stage output, metadata), so the result can
 * be given to `dsv4 check` or used as a golden file for other code.
 * Config: --config, else IN's "config" metadata (when IN is for the same op),
 * else the operator's defaults. */
#include "cli.h"
#include "golden.h"

#include <string.h>

typedef struct run_args {
    const char *op, *in, *out, *impl, *config;
} run_args;

static int parse_args(int argc, char **argv, run_args *a, FILE *err) {
    memset(a, 0, sizeof *a);
    for (int i = 1; i < argc; i++) {
        int m = dsv4_cli_opt(argc, argv, &i, "in", &a->in, err);
        if (!m) m = dsv4_cli_opt(argc, argv, &i, "out", &a->out, err);
        if (!m) m = dsv4_cli_opt(argc, argv, &i, "impl", &a->impl, err);
        if (!m) m = dsv4_cli_opt(argc, argv, &i, "config", &a->config, err);
        if (m < 0) return 0;
        if (m) continue;
        if (argv[i][0] == '-' || a->op) {
            dsv4_cli_usage_error(err, "run", "unexpected argument \"%s\"", argv[i]);
            return 0;
        }
        a->op = argv[i];
    }
    if (!a->op || !a->in || !a->out) {
        dsv4_cli_usage_error(err, "run", "needs OP, --in and --out");
        return 0;
    }
    return 1;
}

/* The config text to use: see the file comment for the order. */
static const char *pick_config(const run_args *a, const dsv4_st *in) {
    if (a->config) return a->config;
    const char *op = dsv4_st_meta(in, "op");
    if (op && strcmp(op, a->op) != 0) return NULL;
    return dsv4_st_meta(in, "config");
}

static dsv4_status compute(const dsv4_op *op, const run_args *a, dsv4_impl impl,
                           const dsv4_st *in, dsv4_st *res, char *why, size_t len) {
    dsv4_opcfg cfg;
    dsv4_status st = dsv4_op_configure(op, pick_config(a, in), &cfg, why, len);
    if (st != DSV4_OK) return st;
    st = dsv4_op_run_all(&cfg, impl, in, res, NULL, NULL, why, len);
    const char *kase = dsv4_st_meta(in, "case");
    char desc[160];
    snprintf(desc, sizeof desc, "computed by dsv4 run --impl %s (isa %s)", dsv4_impl_name(impl),
             dsv4_isa_name(dsv4_isa_active()));
    if (st == DSV4_OK)
        st = dsv4_golden_write_meta(res, &cfg, dsv4_op_calls(op, in), kase ? kase : "run", desc);
    if (st == DSV4_OK) st = dsv4_st_set_meta(res, "impl", dsv4_impl_name(impl));
    /* A golden input makes the output checkable with no --golden. */
    const char *gv = dsv4_st_meta(in, "dsv4_golden"), *gop = dsv4_st_meta(in, "op");
    if (st == DSV4_OK && gv && strcmp(gv, DSV4_GOLDEN_VERSION) == 0 && gop &&
        strcmp(gop, op->name) == 0)
        st = dsv4_st_set_meta(res, "golden", a->in);
    if (st != DSV4_OK && !*why) snprintf(why, len, "%s", dsv4_strerror(st));
    dsv4_opcfg_free(&cfg);
    return st;
}

int dsv4_cli_run(int argc, char **argv, FILE *out, FILE *err) {
    run_args a;
    if (!parse_args(argc, argv, &a, err)) return DSV4_EXIT_USAGE;
    const dsv4_op *op = dsv4_op_find(a.op);
    if (!op) return dsv4_cli_usage_error(err, "run", "unknown operator \"%s\" (see dsv4 list)", a.op);
    dsv4_impl impl = DSV4_IMPL_REF;
    if (a.impl && dsv4_impl_parse(a.impl, &impl) != DSV4_OK)
        return dsv4_cli_usage_error(err, "run", "--impl must be ref or opt, not \"%s\"", a.impl);
    dsv4_st in = {0}, res = {0};
    char why[256] = "";
    int rc = DSV4_EXIT_FAIL;
    if (dsv4_st_read(a.in, &in, why, sizeof why) != DSV4_OK) {
        fprintf(err, "dsv4 run: cannot read %s: %s\n", a.in, why);
    } else if (compute(op, &a, impl, &in, &res, why, sizeof why) != DSV4_OK) {
        fprintf(err, "dsv4 run: %s: %s\n", op->name, why);
    } else if (dsv4_st_write(a.out, &res) != DSV4_OK) {
        fprintf(err, "dsv4 run: cannot write %s\n", a.out);
    } else {
        fprintf(out, "dsv4 run: wrote %s (op %s, %zu call(s), impl %s, %zu tensors)\n", a.out,
                op->name, dsv4_op_calls(op, &in), dsv4_impl_name(impl), res.n_tensors);
        rc = DSV4_EXIT_OK;
    }
    dsv4_st_free(&in);
    dsv4_st_free(&res);
    return rc;
}
