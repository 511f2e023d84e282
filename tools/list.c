/* list.c - `dsv4 list`: every operator of the registry with its config keys,
 * inputs, stages and default tolerances. */
#include "cli.h"
#include "registry.h"

static void list_key(const dsv4_cfg_key *k, FILE *out) {
    fprintf(out, "    %-12s default %-6s ", k->name, k->def);
    if (k->kind == DSV4_KEY_ENUM) {
        fputs("one of", out);
        for (const char *const *c = k->choices; *c; c++) fprintf(out, " %s", *c);
    } else if (k->kind == DSV4_KEY_NUMBER) {
        fputs("number >= 0", out);
    } else {
        fprintf(out, "integer >= %llu", (unsigned long long)k->min);
    }
    fprintf(out, "  (%s)\n", k->help);
}

static void list_stage(const dsv4_stage_decl *sd, FILE *out) {
    char tol[64];
    dsv4_tol_format(&sd->tol, tol, sizeof tol);
    fprintf(out, "    %-12s tolerance %s\n      reads ", sd->name, tol);
    for (const char *const *i = sd->inputs; *i; i++)
        fprintf(out, "%s%s", *i, i[1] ? ", " : "\n");
    for (const dsv4_tensor_decl *o = sd->outputs; o->name; o++)
        fprintf(out, "      writes %s %s %s\n", o->name, o->dtype, o->shape);
}

static void list_op(const dsv4_op *op, FILE *out) {
    fprintf(out, "%s - %s\n  config:\n", op->name, op->description);
    for (const dsv4_cfg_key *k = op->keys; k->name; k++) list_key(k, out);
    fputs("  inputs:\n", out);
    for (const dsv4_tensor_decl *d = op->inputs; d->name; d++)
        fprintf(out, "    %s %s %s\n", d->name, d->dtype, d->shape);
    fputs("  stages (in pipeline order):\n", out);
    for (size_t s = 0; s < dsv4_op_n_stages(op); s++) list_stage(&op->stages[s], out);
}

int dsv4_cli_list(int argc, char **argv, FILE *out, FILE *err) {
    if (argc > 1) return dsv4_cli_usage_error(err, "list", "unexpected argument \"%s\"", argv[1]);
    for (size_t i = 0; i < dsv4_op_count(); i++) {
        if (i) fputc('\n', out);
        list_op(dsv4_op_at(i), out);
    }
    return DSV4_EXIT_OK;
}
