/* golden.c - golden-format metadata against the operator registry (golden.h). */
#include "golden.h"

#include <stdio.h>
#include <string.h>

/* A JSON array of strings must equal a NULL-terminated list of names. */
static int names_match(const dsv4_json *arr, const char *const *names, size_t n_names) {
    if (!arr || arr->type != DSV4_JSON_ARRAY || arr->n != n_names) return 0;
    for (size_t i = 0; i < n_names; i++)
        if (arr->items[i].type != DSV4_JSON_STRING || strcmp(arr->items[i].string, names[i]) != 0)
            return 0;
    return 1;
}

static size_t stage_output_names(const dsv4_stage_decl *sd, const char **names) {
    size_t n = 0;
    for (const dsv4_tensor_decl *o = sd->outputs; o->name; o++) names[n++] = o->name;
    return n;
}

static size_t stage_input_names(const dsv4_stage_decl *sd, const char **names) {
    size_t n = 0;
    for (const char *const *i = sd->inputs; *i; i++) names[n++] = *i;
    return n;
}

/* One element of the "stages" array against the registry's stage s. */
static dsv4_status load_stage(const dsv4_op *op, size_t s, const dsv4_json *j, dsv4_gstage *gs,
                              char *err, size_t errlen) {
    const dsv4_stage_decl *sd = &op->stages[s];
    const char *ins[DSV4_STAGE_MAX_IO], *outs[DSV4_STAGE_MAX_IO];
    const dsv4_json *name = dsv4_json_get(j, "name");
    if (!name || name->type != DSV4_JSON_STRING || strcmp(name->string, sd->name) != 0) {
        snprintf(err, errlen, "metadata stage %zu should be \"%s\" for op %s", s, sd->name,
                 op->name);
        return DSV4_E_FORMAT;
    }
    size_t n_in = stage_input_names(sd, ins), n_out = stage_output_names(sd, outs);
    if (!names_match(dsv4_json_get(j, "inputs"), ins, n_in) ||
        !names_match(dsv4_json_get(j, "outputs"), outs, n_out)) {
        snprintf(err, errlen, "metadata stage %s: inputs/outputs differ from op %s", sd->name,
                 op->name);
        return DSV4_E_FORMAT;
    }
    const dsv4_json *tol = dsv4_json_get(j, "tolerance");
    char terr[120];
    if (!tol || dsv4_tol_parse(tol, &gs->tol, terr, sizeof terr) != DSV4_OK) {
        snprintf(err, errlen, "metadata stage %s: %s", sd->name,
                 tol ? terr : "missing tolerance");
        return DSV4_E_FORMAT;
    }
    gs->index = s;
    return DSV4_OK;
}

/* Tensors a tolerance names (bf16_boundary references) and per-output rules
 * are checked against the file and the stage here, once. */
static dsv4_status bind_tolerance(const dsv4_st *st, const dsv4_op *op, size_t s, dsv4_tol *tol,
                                  char *err, size_t errlen) {
    const char *outs[DSV4_STAGE_MAX_IO];
    char why[200];
    size_t n_out = stage_output_names(&op->stages[s], outs);
    dsv4_status rc = dsv4_tol_bind(tol, st, outs, n_out, why, sizeof why);
    if (rc != DSV4_OK) snprintf(err, errlen, "metadata stage %s: %s", op->stages[s].name, why);
    return rc;
}

static dsv4_status load_stages(const dsv4_st *st, dsv4_golden *g, char *err, size_t errlen) {
    const char *text = dsv4_st_meta(st, "stages");
    dsv4_json *arr = NULL;
    char jerr[120];
    if (!text) {
        snprintf(err, errlen, "metadata has no \"stages\"");
        return DSV4_E_FORMAT;
    }
    if (dsv4_json_parse(text, strlen(text), &arr, jerr, sizeof jerr) != DSV4_OK) {
        snprintf(err, errlen, "metadata \"stages\" is not JSON: %s", jerr);
        return DSV4_E_FORMAT;
    }
    dsv4_status rc = DSV4_OK;
    size_t n = dsv4_op_n_stages(g->op);
    if (arr->type != DSV4_JSON_ARRAY || arr->n != n) {
        snprintf(err, errlen, "metadata \"stages\" must list the %zu stages of op %s", n,
                 g->op->name);
        rc = DSV4_E_FORMAT;
    }
    for (size_t s = 0; rc == DSV4_OK && s < n; s++) {
        rc = load_stage(g->op, s, &arr->items[s], &g->stages[s], err, errlen);
        if (rc == DSV4_OK) rc = bind_tolerance(st, g->op, s, &g->stages[s].tol, err, errlen);
    }
    if (rc == DSV4_OK) g->n_stages = n;
    dsv4_json_free(arr);
    return rc;
}

static dsv4_status require_tensors(const dsv4_st *st, const dsv4_op *op, int outputs,
                                   char *err, size_t errlen) {
    for (const dsv4_tensor_decl *d = op->inputs; d->name; d++)
        if (!dsv4_st_find(st, d->name)) {
            snprintf(err, errlen, "file lacks input tensor %s", d->name);
            return DSV4_E_NOTFOUND;
        }
    for (size_t s = 0; outputs && s < dsv4_op_n_stages(op); s++)
        for (const dsv4_tensor_decl *o = op->stages[s].outputs; o->name; o++)
            if (!dsv4_st_find(st, o->name)) {
                snprintf(err, errlen, "file lacks stage output %s", o->name);
                return DSV4_E_NOTFOUND;
            }
    return DSV4_OK;
}

dsv4_status dsv4_golden_load(const dsv4_st *st, int require_outputs, dsv4_golden *g, char *err,
                             size_t errlen) {
    memset(g, 0, sizeof *g);
    const char *ver = dsv4_st_meta(st, "dsv4_golden"), *op = dsv4_st_meta(st, "op");
    const char *kase = dsv4_st_meta(st, "case");
    if (!ver || strcmp(ver, "1") != 0) {
        snprintf(err, errlen, "not a golden-format v1 file (metadata dsv4_golden is %s%s%s)",
                 ver ? "\"" : "", ver ? ver : "missing", ver ? "\"" : "");
        return DSV4_E_FORMAT;
    }
    if (!op) {
        snprintf(err, errlen, "metadata has no \"op\"");
        return DSV4_E_FORMAT;
    }
    g->op = dsv4_op_find(op);
    if (!g->op) {
        snprintf(err, errlen, "unknown operator \"%s\" (see dsv4 list)", op);
        return DSV4_E_NOTFOUND;
    }
    g->case_name = kase ? kase : "-";
    dsv4_status rc = dsv4_op_configure(g->op, dsv4_st_meta(st, "config"), &g->cfg, err, errlen);
    if (rc == DSV4_OK) rc = load_stages(st, g, err, errlen);
    if (rc == DSV4_OK) rc = require_tensors(st, g->op, require_outputs, err, errlen);
    if (rc != DSV4_OK) dsv4_golden_free(g);
    return rc;
}

void dsv4_golden_free(dsv4_golden *g) {
    dsv4_opcfg_free(&g->cfg);
    g->n_stages = 0;
}

static void json_name_list(dsv4_sbuf *b, const char *const *names, size_t n) {
    dsv4_sbuf_puts(b, "[");
    for (size_t i = 0; i < n; i++) {
        if (i) dsv4_sbuf_puts(b, ",");
        dsv4_sbuf_json_string(b, names[i]);
    }
    dsv4_sbuf_puts(b, "]");
}

static void stages_json(const dsv4_op *op, dsv4_sbuf *b) {
    const char *names[DSV4_STAGE_MAX_IO];
    dsv4_sbuf_puts(b, "[");
    for (size_t s = 0; s < dsv4_op_n_stages(op); s++) {
        const dsv4_stage_decl *sd = &op->stages[s];
        dsv4_sbuf_puts(b, s ? ",{\"name\":" : "{\"name\":");
        dsv4_sbuf_json_string(b, sd->name);
        dsv4_sbuf_puts(b, ",\"inputs\":");
        json_name_list(b, names, stage_input_names(sd, names));
        dsv4_sbuf_puts(b, ",\"outputs\":");
        json_name_list(b, names, stage_output_names(sd, names));
        dsv4_sbuf_puts(b, ",\"tolerance\":");
        dsv4_tol_json(&sd->tol, b);
        dsv4_sbuf_puts(b, "}");
    }
    dsv4_sbuf_puts(b, "]");
}

dsv4_status dsv4_golden_write_meta(dsv4_st *st, const dsv4_op *op, const dsv4_opcfg *cfg,
                                   const char *case_name, const char *description) {
    dsv4_sbuf b = {0};
    stages_json(op, &b);
    if (b.oom) {
        dsv4_sbuf_free(&b);
        return DSV4_E_NOMEM;
    }
    dsv4_status rc = dsv4_st_set_meta(st, "dsv4_golden", "1");
    if (rc == DSV4_OK) rc = dsv4_st_set_meta(st, "op", op->name);
    if (rc == DSV4_OK) rc = dsv4_st_set_meta(st, "case", case_name);
    if (rc == DSV4_OK) rc = dsv4_st_set_meta(st, "config", cfg->text);
    if (rc == DSV4_OK) rc = dsv4_st_set_meta(st, "stages", b.buf);
    if (rc == DSV4_OK) rc = dsv4_st_set_meta(st, "description", description);
    dsv4_sbuf_free(&b);
    return rc;
}
