/* list.c - `dsv4 list [OP...]`: every operator of the registry with its
 * config keys, inputs, state, stages, tensor dtypes and shapes (as declared,
 * and with the default config's values put in) and default tolerances. */
#include "cli.h"
#include "registry.h"

#include <string.h>

static void list_key(const dsv4_cfg_key *k, FILE *out) {
    fprintf(out, "    %-14s default %-7s ", k->name, k->def);
    if (k->kind == DSV4_KEY_ENUM) {
        fputs("one of", out);
        for (const char *const *c = k->choices; *c; c++) fprintf(out, " %s", *c);
    } else if (k->kind == DSV4_KEY_NUMBER) {
        fputs(k->fp32 ? "number >= 0 (as fp32)" : "number >= 0", out);
    } else if (k->max) {
        fprintf(out, "integer in [%llu, %llu]", (unsigned long long)k->min,
                (unsigned long long)k->max);
    } else {
        fprintf(out, "integer >= %llu", (unsigned long long)k->min);
    }
    fprintf(out, "  (%s)\n", k->help);
}

/* A shape with every dimension the config fixes evaluated: "T,hc,d" ->
 * "[T, 4, 4096]"; a dimension that needs a tensor's size stays as written. */
static void shape_text(const char *shape, const dsv4_binding *syms, char *buf, size_t len) {
    size_t used = (size_t)snprintf(buf, len, "[");
    const char *p = shape;
    for (int d = 0; *p && used < len; d++) {
        const char *end = strchr(p, ',');
        char dim[128], why[128];
        size_t dims[DSV4_MAX_RANK];
        int rank;
        int n = end ? (int)(end - p) : (int)strlen(p);
        /* a dimension holds no comma outside parentheses in the declarations */
        while (n > 0 && *p == ' ') p++, n--;
        snprintf(dim, sizeof dim, "%.*s", n, p);
        if (syms && dsv4_shape_eval(dim, syms, dims, &rank, why, sizeof why) == DSV4_OK &&
            rank == 1)
            used += (size_t)snprintf(buf + used, len - used, "%s%zu", d ? ", " : "", dims[0]);
        else
            used += (size_t)snprintf(buf + used, len - used, "%s%s", d ? ", " : "", dim);
        p = end ? end + 1 : p + n;
    }
    if (used < len) snprintf(buf + used, len - used, "]");
}

static void list_tensor(const char *verb, const dsv4_tensor_decl *d, const dsv4_opcfg *cfg,
                        FILE *out) {
    char bound[160], declared[160];
    shape_text(d->shape, &cfg->syms, bound, sizeof bound);
    shape_text(d->shape, NULL, declared, sizeof declared);
    dsv4_dtype dt;
    const char *dtype =
        dsv4_dtype_resolve(d->dtype, &cfg->syms, &dt) == DSV4_OK ? dsv4_dtype_name(dt) : d->dtype;
    fprintf(out, "    %s%-16s %-4s %s", verb, d->name, dtype, declared);
    if (strcmp(bound, declared) != 0) fprintf(out, " = %s by default", bound);
    if (d->next) fprintf(out, "  (next call: %s)", d->next);
    fputc('\n', out);
}

static void list_stage(const dsv4_stage_decl *sd, FILE *out, const dsv4_opcfg *cfg) {
    fprintf(out, "    %s", sd->name);
    if (sd->repeat) fprintf(out, "   (k = 1..%s, one stage each)", sd->repeat);
    if (sd->when) fprintf(out, "   (when %s is not 0)", sd->when);
    if (sd->unless) fprintf(out, "   (when %s is 0)", sd->unless);
    fputs("\n      reads ", out);
    for (const char *const *i = sd->inputs; *i; i++) fprintf(out, "%s%s", *i, i[1] ? ", " : "");
    if (sd->first_inputs) {
        fputs(" (k = 1: ", out);
        for (const char *const *i = sd->first_inputs; *i; i++)
            fprintf(out, "%s%s", *i, i[1] ? ", " : ")");
    }
    fputc('\n', out);
    for (const dsv4_tensor_decl *o = sd->outputs; o->name; o++) {
        char tol[64];
        dsv4_tol_format(&o->tol, tol, sizeof tol);
        list_tensor("  writes ", o, cfg, out);
        fprintf(out, "        tolerance %s\n", tol);
    }
}

static void list_op(const dsv4_op *op, FILE *out) {
    dsv4_opcfg cfg;
    char err[256];
    fprintf(out, "%s - %s\n", op->name, op->description);
    if (dsv4_op_configure(op, NULL, &cfg, err, sizeof err) != DSV4_OK) {
        fprintf(out, "  (the default config does not configure: %s)\n", err);
        return;
    }
    fputs("  config:\n", out);
    for (const dsv4_cfg_key *k = op->keys; k->name; k++) list_key(k, out);
    if (op->weights && op->weights[0].name) {
        fputs("  weights (the same for every call):\n", out);
        for (const dsv4_tensor_decl *d = op->weights; d->name; d++) list_tensor("", d, &cfg, out);
    }
    fputs("  inputs:\n", out);
    for (const dsv4_tensor_decl *d = op->inputs; d->name; d++) list_tensor("", d, &cfg, out);
    if (dsv4_op_streaming(op)) {
        fputs("  state (streaming: the file holds calls step0., step1., ...):\n", out);
        for (const dsv4_tensor_decl *d = op->state; d->name; d++) list_tensor("", d, &cfg, out);
    }
    fputs("  stages (in pipeline order):\n", out);
    for (const dsv4_stage_decl *sd = op->stages; sd->name; sd++) list_stage(sd, out, &cfg);
    dsv4_opcfg_free(&cfg);
}

int dsv4_cli_list(int argc, char **argv, FILE *out, FILE *err) {
    for (int i = 1; i < argc; i++)
        if (!dsv4_op_find(argv[i]))
            return dsv4_cli_usage_error(err, "list", "unknown operator \"%s\"", argv[i]);
    int first = 1;
    for (size_t i = 0; i < dsv4_op_count(); i++) {
        const dsv4_op *op = dsv4_op_at(i);
        int wanted = argc < 2;
        for (int a = 1; a < argc; a++) wanted |= strcmp(argv[a], op->name) == 0;
        if (!wanted) continue;
        if (!first) fputc('\n', out);
        first = 0;
        list_op(op, out);
    }
    return DSV4_EXIT_OK;
}
