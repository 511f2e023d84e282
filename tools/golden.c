/* golden.c - golden-format metadata against the operator registry (golden.h). */
#include "golden.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const dsv4_tol_rule *dsv4_golden_rule(const dsv4_golden *g, size_t k, size_t s, size_t o) {
    return &g->rules[k * g->n_outputs + g->first_output[s] + o];
}

void dsv4_golden_stage_text(const dsv4_golden *g, size_t k, size_t s, char *label,
                            size_t label_len, char *tol, size_t tol_len) {
    const dsv4_stage_inst *si = &g->cfg.stages[s];
    if (dsv4_op_streaming(g->op)) snprintf(label, label_len, "%s@%zu", si->name, k);
    else snprintf(label, label_len, "%s", si->name);
    tol[0] = '\0';
    for (size_t o = 0; o < si->n_outputs; o++) {
        char one[64];
        dsv4_tol_format(dsv4_golden_rule(g, k, s, o), one, sizeof one);
        if (o == 0) snprintf(tol, tol_len, "%s", one);
        else if (strcmp(one, tol) != 0) snprintf(tol, tol_len, "per-output");
    }
}

dsv4_view dsv4_golden_view(const dsv4_golden *g, const dsv4_st *st, size_t k, char *prefix,
                           size_t prefix_len) {
    dsv4_view v = {0};
    dsv4_call_name(g->op, k, "", prefix, prefix_len);
    dsv4_view_add(&v, st, prefix);
    if (*prefix) dsv4_view_add(&v, st, ""); /* the weights, stored once */
    return v;
}

/* ---- the "stages" metadata ------------------------------------------------------- */
/* A JSON array of strings must equal a list of names. */
static int names_match(const dsv4_json *arr, char *const *names, size_t n) {
    if (!arr || arr->type != DSV4_JSON_ARRAY || arr->n != n) return 0;
    for (size_t i = 0; i < n; i++)
        if (arr->items[i].type != DSV4_JSON_STRING || strcmp(arr->items[i].string, names[i]) != 0)
            return 0;
    return 1;
}

/* The rule of one output in call k: the member is one rule for every call,
 * or an array of one rule per call. */
static dsv4_status parse_rule(const dsv4_json *member, size_t k, size_t n_calls,
                              dsv4_tol_rule *r, char *err, size_t errlen) {
    if (member && member->type == DSV4_JSON_ARRAY) {
        if (member->n != n_calls) {
            snprintf(err, errlen, "holds %zu rules for %zu steps", member->n, n_calls);
            return DSV4_E_FORMAT;
        }
        member = &member->items[k];
    }
    if (!member || member->type != DSV4_JSON_OBJECT) {
        snprintf(err, errlen, "has no rule");
        return DSV4_E_FORMAT;
    }
    return dsv4_tol_parse(member, r, err, errlen);
}

/* Element s of "stages" against stage instance s of the plan. */
static dsv4_status load_stage(dsv4_golden *g, size_t s, const dsv4_json *j, char *err,
                              size_t errlen) {
    const dsv4_stage_inst *si = &g->cfg.stages[s];
    const dsv4_json *name = dsv4_json_get(j, "name");
    if (!name || name->type != DSV4_JSON_STRING || strcmp(name->string, si->name) != 0) {
        snprintf(err, errlen, "metadata stage %zu should be \"%s\" for op %s with this config", s,
                 si->name, g->op->name);
        return DSV4_E_FORMAT;
    }
    if (!names_match(dsv4_json_get(j, "inputs"), si->inputs, si->n_inputs) ||
        !names_match(dsv4_json_get(j, "outputs"), si->outputs, si->n_outputs)) {
        snprintf(err, errlen, "metadata stage %s: inputs/outputs differ from op %s", si->name,
                 g->op->name);
        return DSV4_E_FORMAT;
    }
    const dsv4_json *tol = dsv4_json_get(j, "tolerance");
    if (!tol || tol->type != DSV4_JSON_OBJECT || tol->n != si->n_outputs) {
        snprintf(err, errlen, "metadata stage %s: \"tolerance\" must map each of its %zu "
                 "outputs to a rule", si->name, si->n_outputs);
        return DSV4_E_FORMAT;
    }
    for (size_t o = 0; o < si->n_outputs; o++)
        for (size_t k = 0; k < g->n_calls; k++) {
            char why[200];
            dsv4_tol_rule *r = &g->rules[k * g->n_outputs + g->first_output[s] + o];
            dsv4_status st = parse_rule(dsv4_json_get(tol, si->outputs[o]), k, g->n_calls, r,
                                        why, sizeof why);
            if (st != DSV4_OK) {
                snprintf(err, errlen, "metadata stage %s, tolerance of %s: %s", si->name,
                         si->outputs[o], why);
                return st;
            }
        }
    return DSV4_OK;
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
    if (arr->type != DSV4_JSON_ARRAY || arr->n != g->cfg.n_stages) {
        snprintf(err, errlen, "metadata \"stages\" must list the %zu stages of op %s with this "
                 "config", g->cfg.n_stages, g->op->name);
        rc = DSV4_E_FORMAT;
    }
    for (size_t s = 0; rc == DSV4_OK && s < g->cfg.n_stages; s++)
        rc = load_stage(g, s, &arr->items[s], err, errlen);
    dsv4_json_free(arr);
    return rc;
}

/* ---- the tensors of each call ------------------------------------------------------- */
/* The state entering call k > 0 must be what call k - 1 left. */
static dsv4_status state_chain(const dsv4_golden *g, const dsv4_st *st, size_t k, char *err,
                               size_t errlen) {
    char now[512], next[512];
    for (const dsv4_tensor_decl *d = g->op->state; d->name; d++) {
        dsv4_call_name(g->op, k, d->name, now, sizeof now);
        dsv4_call_name(g->op, k - 1, d->next, next, sizeof next);
        const dsv4_tensor *a = dsv4_st_find(st, now), *b = dsv4_st_find(st, next);
        if (a && b && !dsv4_tensor_identical(a, b)) {
            snprintf(err, errlen, "%s differs from %s: the state entering a step must be what "
                     "the step before left", now, next);
            return DSV4_E_FORMAT;
        }
    }
    return DSV4_OK;
}

/* Call k: bind its symbols from its inputs and state, check every output's
 * presence, dtype and shape, and bind its rules' tensors. */
static dsv4_status load_call(const dsv4_st *st, dsv4_golden *g, size_t k, char *err,
                             size_t errlen) {
    char prefix[32], full[512];
    dsv4_view v = dsv4_golden_view(g, st, k, prefix, sizeof prefix);
    dsv4_status rc = dsv4_call_bind(&g->cfg, &v, &g->syms[k], err, errlen);
    for (size_t s = 0; rc == DSV4_OK && s < g->cfg.n_stages; s++) {
        const dsv4_stage_inst *si = &g->cfg.stages[s];
        for (size_t o = 0; rc == DSV4_OK && o < si->n_outputs; o++) {
            const dsv4_tensor *t = dsv4_view_find(&v, si->outputs[o]);
            snprintf(full, sizeof full, "%s%s", prefix, si->outputs[o]);
            if (!t) {
                snprintf(err, errlen, "file lacks stage output %s", full);
                rc = DSV4_E_NOTFOUND;
            } else {
                rc = dsv4_call_check(&g->cfg, &g->syms[k], si->outputs[o], t, err, errlen);
            }
            if (rc == DSV4_OK) {
                char why[200];
                dsv4_tol_rule *r = &g->rules[k * g->n_outputs + g->first_output[s] + o];
                rc = dsv4_tol_bind(r, st, prefix, why, sizeof why);
                if (rc != DSV4_OK) snprintf(err, errlen, "tolerance of %s: %s", full, why);
            }
        }
    }
    if (rc == DSV4_OK && k > 0) rc = state_chain(g, st, k, err, errlen);
    return rc;
}

/* "steps" of a streaming operator's file: a decimal integer >= 1. */
static dsv4_status load_steps(const dsv4_st *st, dsv4_golden *g, char *err, size_t errlen) {
    const char *text = dsv4_st_meta(st, "steps");
    g->n_calls = 1;
    if (!dsv4_op_streaming(g->op)) {
        if (!text) return DSV4_OK;
        snprintf(err, errlen, "metadata \"steps\" is only for streaming operators, not %s",
                 g->op->name);
        return DSV4_E_FORMAT;
    }
    char *end = NULL;
    unsigned long long n = text ? strtoull(text, &end, 10) : 0;
    if (!text || !*text || *end || n == 0 || n > 1000000 || text[0] == '-') {
        snprintf(err, errlen, "op %s is streaming: metadata \"steps\" must give the number of "
                 "calls (1 to 1000000)", g->op->name);
        return DSV4_E_FORMAT;
    }
    g->n_calls = (size_t)n;
    return DSV4_OK;
}

static dsv4_status allocate(dsv4_golden *g, char *err, size_t errlen) {
    g->first_output = calloc(g->cfg.n_stages + 1, sizeof *g->first_output);
    for (size_t s = 0; g->first_output && s < g->cfg.n_stages; s++) {
        g->first_output[s] = g->n_outputs;
        g->n_outputs += g->cfg.stages[s].n_outputs;
    }
    g->rules = calloc(g->n_calls * g->n_outputs + 1, sizeof *g->rules);
    g->syms = calloc(g->n_calls, sizeof *g->syms);
    if (g->first_output && g->rules && g->syms) return DSV4_OK;
    snprintf(err, errlen, "%s", dsv4_strerror(DSV4_E_NOMEM));
    return DSV4_E_NOMEM;
}

dsv4_status dsv4_golden_load(const dsv4_st *st, dsv4_golden *g, char *err, size_t errlen) {
    memset(g, 0, sizeof *g);
    const char *ver = dsv4_st_meta(st, "dsv4_golden"), *op = dsv4_st_meta(st, "op");
    const char *kase = dsv4_st_meta(st, "case");
    if (!ver || strcmp(ver, DSV4_GOLDEN_VERSION) != 0) {
        snprintf(err, errlen, "not a golden-format v%s file (metadata dsv4_golden is %s%s%s)",
                 DSV4_GOLDEN_VERSION, ver ? "\"" : "", ver ? ver : "missing", ver ? "\"" : "");
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
    if (rc != DSV4_OK) {
        g->op = NULL;
        return rc;
    }
    rc = load_steps(st, g, err, errlen);
    if (rc == DSV4_OK) rc = allocate(g, err, errlen);
    if (rc == DSV4_OK) rc = load_stages(st, g, err, errlen);
    for (size_t k = 0; rc == DSV4_OK && k < g->n_calls; k++)
        rc = load_call(st, g, k, err, errlen);
    if (rc != DSV4_OK) dsv4_golden_free(g);
    return rc;
}

void dsv4_golden_free(dsv4_golden *g) {
    for (size_t i = 0; g->rules && i < g->n_calls * g->n_outputs; i++) dsv4_tol_free(&g->rules[i]);
    for (size_t k = 0; g->syms && k < g->n_calls; k++) dsv4_bind_free(&g->syms[k]);
    free(g->rules);
    free(g->syms);
    free(g->first_output);
    dsv4_opcfg_free(&g->cfg);
    memset(g, 0, sizeof *g);
}

/* ---- writing ----------------------------------------------------------------------------- */
static void json_name_list(dsv4_sbuf *b, char *const *names, size_t n) {
    dsv4_sbuf_puts(b, "[");
    for (size_t i = 0; i < n; i++) {
        if (i) dsv4_sbuf_puts(b, ",");
        dsv4_sbuf_json_string(b, names[i]);
    }
    dsv4_sbuf_puts(b, "]");
}

/* 1 when the rule of output `at` is the same text in every call. */
static int same_in_every_call(const dsv4_tol_rule *rules, size_t n_calls, size_t n_outputs,
                              size_t at) {
    dsv4_sbuf a = {0}, b = {0};
    int same = 1;
    dsv4_tol_json(&rules[at], &a);
    for (size_t k = 1; same && k < n_calls; k++) {
        b.len = 0;
        if (b.buf) b.buf[0] = '\0';
        dsv4_tol_json(&rules[k * n_outputs + at], &b);
        same = !a.oom && !b.oom && strcmp(a.buf, b.buf) == 0;
    }
    dsv4_sbuf_free(&a);
    dsv4_sbuf_free(&b);
    return same;
}

dsv4_status dsv4_golden_stages_json(const dsv4_opcfg *cfg, size_t n_calls,
                                    const dsv4_tol_rule *rules, dsv4_sbuf *b) {
    size_t n_outputs = 0, at = 0;
    for (size_t s = 0; s < cfg->n_stages; s++) n_outputs += cfg->stages[s].n_outputs;
    dsv4_sbuf_puts(b, "[");
    for (size_t s = 0; s < cfg->n_stages; s++) {
        const dsv4_stage_inst *si = &cfg->stages[s];
        dsv4_sbuf_puts(b, s ? ",{\"name\":" : "{\"name\":");
        dsv4_sbuf_json_string(b, si->name);
        dsv4_sbuf_puts(b, ",\"inputs\":");
        json_name_list(b, si->inputs, si->n_inputs);
        dsv4_sbuf_puts(b, ",\"outputs\":");
        json_name_list(b, si->outputs, si->n_outputs);
        dsv4_sbuf_puts(b, ",\"tolerance\":{");
        for (size_t o = 0; o < si->n_outputs; o++, at++) {
            dsv4_sbuf_puts(b, o ? "," : "");
            dsv4_sbuf_json_string(b, si->outputs[o]);
            dsv4_sbuf_puts(b, ":");
            if (!rules) {
                dsv4_tol_json(&si->decl->outputs[o].tol, b);
            } else if (same_in_every_call(rules, n_calls, n_outputs, at)) {
                dsv4_tol_json(&rules[at], b);
            } else {
                dsv4_sbuf_puts(b, "[");
                for (size_t k = 0; k < n_calls; k++) {
                    dsv4_sbuf_puts(b, k ? "," : "");
                    dsv4_tol_json(&rules[k * n_outputs + at], b);
                }
                dsv4_sbuf_puts(b, "]");
            }
        }
        dsv4_sbuf_puts(b, "}}");
    }
    dsv4_sbuf_puts(b, "]");
    return b->oom ? DSV4_E_NOMEM : DSV4_OK;
}

dsv4_status dsv4_golden_write_meta(dsv4_st *st, const dsv4_opcfg *cfg, size_t n_calls,
                                   const char *case_name, const char *description) {
    dsv4_sbuf b = {0};
    char steps[32];
    dsv4_status rc = dsv4_golden_stages_json(cfg, n_calls, NULL, &b);
    if (rc == DSV4_OK) rc = dsv4_st_set_meta(st, "dsv4_golden", DSV4_GOLDEN_VERSION);
    if (rc == DSV4_OK) rc = dsv4_st_set_meta(st, "op", cfg->op->name);
    if (rc == DSV4_OK) rc = dsv4_st_set_meta(st, "case", case_name);
    if (rc == DSV4_OK) rc = dsv4_st_set_meta(st, "config", cfg->text);
    snprintf(steps, sizeof steps, "%zu", n_calls);
    if (rc == DSV4_OK && dsv4_op_streaming(cfg->op)) rc = dsv4_st_set_meta(st, "steps", steps);
    if (rc == DSV4_OK) rc = dsv4_st_set_meta(st, "stages", b.buf);
    if (rc == DSV4_OK) rc = dsv4_st_set_meta(st, "description", description);
    dsv4_sbuf_free(&b);
    return rc;
}
