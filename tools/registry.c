/* registry.c - the operator table, configurations and stage plans, and the
 * generic running of a stage (registry.h).  Nothing here knows an operator:
 * shapes, dtypes and names come from the declarations. */
#include "registry.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Operators defined in tools/ops_*.c. */
extern const dsv4_op dsv4_op_cast, dsv4_op_quant;
extern const dsv4_op dsv4_op_hc_pre, dsv4_op_sinkhorn, dsv4_op_hc_post, dsv4_op_hc_head;
extern const dsv4_op dsv4_op_newton_schulz, dsv4_op_muon_step, dsv4_op_adamw_step;
extern const dsv4_op dsv4_op_rope, dsv4_op_hadamard, dsv4_op_rms_norm;
extern const dsv4_op dsv4_op_compressor, dsv4_op_indexer, dsv4_op_sparse_attn;

/* The table: one line per operator, in the order `dsv4 list` shows them. */
static const dsv4_op *const op_table[] = {
    &dsv4_op_cast,          &dsv4_op_quant,
    &dsv4_op_hc_pre,        &dsv4_op_sinkhorn,  &dsv4_op_hc_post, &dsv4_op_hc_head,
    &dsv4_op_newton_schulz, &dsv4_op_muon_step, &dsv4_op_adamw_step,
    &dsv4_op_rope,          &dsv4_op_hadamard,  &dsv4_op_rms_norm,
    &dsv4_op_compressor,    &dsv4_op_indexer,   &dsv4_op_sparse_attn,
};

size_t dsv4_op_count(void) { return sizeof op_table / sizeof op_table[0]; }

const dsv4_op *dsv4_op_at(size_t i) { return i < dsv4_op_count() ? op_table[i] : NULL; }

const dsv4_op *dsv4_op_find(const char *name) {
    for (size_t i = 0; name && i < dsv4_op_count(); i++)
        if (strcmp(op_table[i]->name, name) == 0) return op_table[i];
    return NULL;
}

int dsv4_op_streaming(const dsv4_op *op) { return op->state != NULL && op->state[0].name != NULL; }

static const char *const impl_names[DSV4_IMPL_COUNT] = {"ref", "opt"};

const char *dsv4_impl_name(dsv4_impl impl) {
    return (unsigned)impl < DSV4_IMPL_COUNT ? impl_names[impl] : "?";
}

dsv4_status dsv4_impl_parse(const char *name, dsv4_impl *out) {
    for (int i = 0; i < DSV4_IMPL_COUNT; i++)
        if (name && strcmp(name, impl_names[i]) == 0) {
            *out = (dsv4_impl)i;
            return DSV4_OK;
        }
    return DSV4_E_ARG;
}

static dsv4_status no_memory(char *err, size_t errlen) {
    snprintf(err, errlen, "%s", dsv4_strerror(DSV4_E_NOMEM));
    return DSV4_E_NOMEM;
}

/* ---- configuration ---------------------------------------------------------------- */
static const dsv4_cfg_key *find_key(const dsv4_op *op, const char *name) {
    for (const dsv4_cfg_key *k = op->keys; k->name; k++)
        if (strcmp(k->name, name) == 0) return k;
    return NULL;
}

static int choice_ok(const dsv4_cfg_key *k, const char *s) {
    for (const char *const *c = k->choices; *c; c++)
        if (strcmp(*c, s) == 0) return 1;
    return 0;
}

/* Check one given value against its declaration and append it in canonical
 * form to b. */
static dsv4_status put_value(const dsv4_op *op, const dsv4_cfg_key *k, const dsv4_json *v,
                             dsv4_sbuf *b, char *err, size_t errlen) {
    if (k->kind == DSV4_KEY_ENUM) {
        if (v->type != DSV4_JSON_STRING || !choice_ok(k, v->string)) {
            int w = snprintf(err, errlen, "op %s: config key \"%s\" must be one of", op->name,
                             k->name);
            for (const char *const *c = k->choices; *c && w >= 0 && (size_t)w < errlen; c++)
                w += snprintf(err + w, errlen - (size_t)w, " %s", *c);
            return DSV4_E_ARG;
        }
        dsv4_sbuf_json_string(b, v->string);
        return DSV4_OK;
    }
    if (k->kind == DSV4_KEY_NUMBER) {
        if (v->type != DSV4_JSON_NUMBER || !(v->number >= 0.0) || isinf(v->number) ||
            (k->fp32 && isinf((float)v->number))) {
            snprintf(err, errlen, "op %s: config key \"%s\" must be a finite number >= 0%s",
                     op->name, k->name, k->fp32 ? " whose nearest fp32 is finite" : "");
            return DSV4_E_ARG;
        }
        dsv4_sbuf_json_number(b, v->number);
        return DSV4_OK;
    }
    if (v->type != DSV4_JSON_NUMBER || !v->is_uint || v->u < k->min || (k->max && v->u > k->max)) {
        if (k->max)
            snprintf(err, errlen, "op %s: config key \"%s\" must be an integer in [%llu, %llu]",
                     op->name, k->name, (unsigned long long)k->min, (unsigned long long)k->max);
        else
            snprintf(err, errlen, "op %s: config key \"%s\" must be an integer >= %llu", op->name,
                     k->name, (unsigned long long)k->min);
        return DSV4_E_ARG;
    }
    dsv4_sbuf_printf(b, "%llu", (unsigned long long)v->u);
    return DSV4_OK;
}

/* Given object (may be NULL) -> canonical text with every key. */
static dsv4_status canonical_config(const dsv4_op *op, const dsv4_json *given, dsv4_sbuf *b,
                                    char *err, size_t errlen) {
    for (size_t i = 0; given && i < given->n; i++)
        if (!find_key(op, given->keys[i])) {
            int w = snprintf(err, errlen, "op %s: unknown config key \"%s\" (keys:", op->name,
                             given->keys[i]);
            for (const dsv4_cfg_key *k = op->keys; k->name && w >= 0 && (size_t)w < errlen; k++)
                w += snprintf(err + w, errlen - (size_t)w, " %s", k->name);
            if (w >= 0 && (size_t)w < errlen) snprintf(err + w, errlen - (size_t)w, ")");
            return DSV4_E_ARG;
        }
    dsv4_sbuf_puts(b, "{");
    for (const dsv4_cfg_key *k = op->keys; k->name; k++) {
        if (k != op->keys) dsv4_sbuf_puts(b, ",");
        dsv4_sbuf_json_string(b, k->name);
        dsv4_sbuf_puts(b, ":");
        const dsv4_json *v = given ? dsv4_json_get(given, k->name) : NULL;
        if (!v && k->kind == DSV4_KEY_ENUM) {
            dsv4_sbuf_json_string(b, k->def);
            continue;
        }
        if (!v && k->kind == DSV4_KEY_NUMBER) { /* printed as a given number would be */
            dsv4_sbuf_json_number(b, strtod(k->def, NULL));
            continue;
        }
        if (!v) {
            dsv4_sbuf_puts(b, k->def);
            continue;
        }
        dsv4_status st = put_value(op, k, v, b, err, errlen);
        if (st != DSV4_OK) return st;
    }
    dsv4_sbuf_puts(b, "}");
    return b->oom ? DSV4_E_NOMEM : DSV4_OK;
}

/* The integer keys are symbols of every call. */
static dsv4_status key_symbols(const dsv4_op *op, const dsv4_json *cfg, dsv4_binding *b) {
    for (const dsv4_cfg_key *k = op->keys; k->name; k++) {
        if (k->kind != DSV4_KEY_UINT) continue;
        dsv4_status st = dsv4_bind_set(b, k->name, dsv4_json_get(cfg, k->name)->u);
        if (st != DSV4_OK) return st;
    }
    return DSV4_OK;
}

/* ---- the stage plan ------------------------------------------------------------------ */
/* `pattern` with "{k}" and "{k-1}" replaced by k and k - 1. */
static char *expand(const char *pattern, size_t k) {
    size_t cap = strlen(pattern) + 64;
    char *out = malloc(cap), *w = out;
    if (!out) return NULL;
    for (const char *p = pattern; *p;) {
        if (strncmp(p, "{k}", 3) == 0) {
            w += snprintf(w, cap - (size_t)(w - out), "%zu", k);
            p += 3;
        } else if (strncmp(p, "{k-1}", 5) == 0) {
            w += snprintf(w, cap - (size_t)(w - out), "%zu", k - 1);
            p += 5;
        } else {
            *w++ = *p++;
        }
        if ((size_t)(w - out) + 24 > cap) break; /* declared names are short */
    }
    *w = '\0';
    return out;
}

static size_t count_names(const char *const *names) {
    size_t n = 0;
    while (names && names[n]) n++;
    return n;
}

static void inst_free(dsv4_stage_inst *s) {
    for (size_t i = 0; i < s->n_inputs; i++) free(s->inputs[i]);
    for (size_t i = 0; i < s->n_outputs; i++) free(s->outputs[i]);
    free(s->inputs);
    free(s->outputs);
    free(s->name);
}

/* Stage instance k (0: not repeated) of declaration d. */
static dsv4_status make_inst(const dsv4_stage_decl *d, size_t k, dsv4_stage_inst *s) {
    const char *const *ins = (k == 1 && d->first_inputs) ? d->first_inputs : d->inputs;
    size_t n_out = 0;
    while (d->outputs[n_out].name) n_out++;
    memset(s, 0, sizeof *s);
    s->decl = d;
    s->k = k;
    s->name = expand(d->name, k);
    s->inputs = calloc(count_names(ins) + 1, sizeof *s->inputs);
    s->outputs = calloc(n_out + 1, sizeof *s->outputs);
    if (!s->name || !s->inputs || !s->outputs) return DSV4_E_NOMEM;
    for (; s->n_inputs < count_names(ins); s->n_inputs++)
        if (!(s->inputs[s->n_inputs] = expand(ins[s->n_inputs], k))) return DSV4_E_NOMEM;
    for (; s->n_outputs < n_out; s->n_outputs++)
        if (!(s->outputs[s->n_outputs] = expand(d->outputs[s->n_outputs].name, k)))
            return DSV4_E_NOMEM;
    return DSV4_OK;
}

/* The instances of declaration d under the config's symbols: 0 when its
 * `when` symbol is 0 or its `unless` symbol is not, else its `repeat`
 * symbol's value or 1.  -1 when a symbol it names is not bound. */
static int64_t instances(const dsv4_opcfg *cfg, const dsv4_stage_decl *d) {
    uint64_t v;
    if (d->when) {
        if (!dsv4_bind_get(&cfg->syms, d->when, &v)) return -1;
        if (v == 0) return 0;
    }
    if (d->unless) {
        if (!dsv4_bind_get(&cfg->syms, d->unless, &v)) return -1;
        if (v != 0) return 0;
    }
    if (!d->repeat) return 1;
    if (!dsv4_bind_get(&cfg->syms, d->repeat, &v) || v > INT64_MAX) return -1;
    return (int64_t)v;
}

static dsv4_status make_plan(dsv4_opcfg *cfg, char *err, size_t errlen) {
    size_t total = 0;
    for (const dsv4_stage_decl *d = cfg->op->stages; d->name; d++) {
        int64_t reps = instances(cfg, d);
        if (reps < 0) {
            snprintf(err, errlen, "internal: op %s stage %s names an unknown symbol",
                     cfg->op->name, d->name);
            return DSV4_E_FORMAT;
        }
        total += (size_t)reps;
    }
    cfg->stages = calloc(total ? total : 1, sizeof *cfg->stages);
    if (!cfg->stages) return no_memory(err, errlen);
    for (const dsv4_stage_decl *d = cfg->op->stages; d->name; d++) {
        uint64_t reps = (uint64_t)instances(cfg, d);
        for (uint64_t k = 1; k <= reps; k++) {
            dsv4_status st = make_inst(d, d->repeat ? (size_t)k : 0, &cfg->stages[cfg->n_stages]);
            cfg->n_stages++;
            if (st != DSV4_OK) return no_memory(err, errlen);
        }
    }
    return DSV4_OK;
}

dsv4_status dsv4_op_configure(const dsv4_op *op, const char *json_text, dsv4_opcfg *cfg,
                              char *err, size_t errlen) {
    char jerr[160];
    dsv4_json *given = NULL;
    dsv4_sbuf b = {0};
    dsv4_status st = DSV4_OK;
    memset(cfg, 0, sizeof *cfg);
    cfg->op = op;
    if (json_text && *json_text) {
        st = dsv4_json_parse(json_text, strlen(json_text), &given, jerr, sizeof jerr);
        if (st != DSV4_OK) {
            snprintf(err, errlen, "op %s: config is not valid JSON: %s", op->name, jerr);
            return DSV4_E_ARG;
        }
        if (given->type != DSV4_JSON_OBJECT) {
            snprintf(err, errlen, "op %s: config must be a JSON object", op->name);
            st = DSV4_E_ARG;
        }
    }
    if (st == DSV4_OK) st = canonical_config(op, given, &b, err, errlen);
    if (st == DSV4_OK) st = dsv4_json_parse(b.buf, b.len, &cfg->json, jerr, sizeof jerr);
    if (st == DSV4_OK) st = key_symbols(op, cfg->json, &cfg->syms);
    if (st == DSV4_OK && op->check) st = op->check(cfg->json, &cfg->syms, err, errlen);
    if (st == DSV4_OK) st = make_plan(cfg, err, errlen);
    if (st == DSV4_OK && op->params) st = op->params(cfg->json, &cfg->params, err, errlen);
    if (st == DSV4_E_NOMEM) no_memory(err, errlen);
    cfg->text = b.buf;
    dsv4_json_free(given);
    if (st != DSV4_OK) dsv4_opcfg_free(cfg);
    return st;
}

void dsv4_opcfg_free(dsv4_opcfg *cfg) {
    for (size_t s = 0; s < cfg->n_stages; s++) inst_free(&cfg->stages[s]);
    free(cfg->stages);
    free(cfg->text);
    free(cfg->params);
    dsv4_json_free(cfg->json);
    dsv4_bind_free(&cfg->syms);
    const dsv4_op *op = cfg->op;
    memset(cfg, 0, sizeof *cfg);
    cfg->op = op;
}

long dsv4_opcfg_producer(const dsv4_opcfg *cfg, const char *name) {
    for (size_t s = 0; s < cfg->n_stages; s++)
        for (size_t o = 0; o < cfg->stages[s].n_outputs; o++)
            if (strcmp(cfg->stages[s].outputs[o], name) == 0) return (long)s;
    return -1;
}

static const dsv4_tensor_decl *find_decl(const dsv4_tensor_decl *list, const char *name) {
    for (; list && list->name; list++)
        if (strcmp(list->name, name) == 0) return list;
    return NULL;
}

const dsv4_tensor_decl *dsv4_opcfg_decl(const dsv4_opcfg *cfg, const char *name) {
    const dsv4_tensor_decl *d = find_decl(cfg->op->inputs, name);
    if (!d) d = find_decl(cfg->op->weights, name);
    if (!d) d = find_decl(cfg->op->state, name);
    long s = d ? -1 : dsv4_opcfg_producer(cfg, name);
    if (s < 0) return d;
    const dsv4_stage_inst *si = &cfg->stages[s];
    for (size_t o = 0; o < si->n_outputs; o++)
        if (strcmp(si->outputs[o], name) == 0) return &si->decl->outputs[o];
    return NULL;
}

/* ---- the tensors of a call -------------------------------------------------------------- */
void dsv4_view_add(dsv4_view *v, const dsv4_st *st, const char *prefix) {
    if (v->n < DSV4_VIEW_LAYERS) {
        v->st[v->n] = st;
        v->prefix[v->n++] = prefix ? prefix : "";
    }
}

/* The prefix of the call's own names (for messages): the first non-empty
 * one of the layers, or "". */
static const char *call_prefix(const dsv4_view *v) {
    for (size_t i = 0; i < v->n; i++)
        if (*v->prefix[i]) return v->prefix[i];
    return "";
}

const dsv4_tensor *dsv4_view_find(const dsv4_view *v, const char *name) {
    char full[512];
    for (size_t i = 0; i < v->n; i++) {
        snprintf(full, sizeof full, "%s%s", v->prefix[i], name);
        const dsv4_tensor *t = dsv4_st_find(v->st[i], full);
        if (t) return t;
    }
    return NULL;
}

void dsv4_call_name(const dsv4_op *op, size_t step, const char *name, char *buf, size_t len) {
    if (dsv4_op_streaming(op) && strncmp(name, "w.", 2) != 0)
        snprintf(buf, len, "step%zu.%s", step, name);
    else
        snprintf(buf, len, "%s", name);
}

dsv4_status dsv4_call_check(const dsv4_opcfg *cfg, const dsv4_binding *b, const char *name,
                            const dsv4_tensor *t, char *err, size_t errlen) {
    const dsv4_tensor_decl *d = dsv4_opcfg_decl(cfg, name);
    if (!d) {
        snprintf(err, errlen, "op %s has no tensor %s", cfg->op->name, name);
        return DSV4_E_NOTFOUND;
    }
    /* A copy: an output's shape has no free symbol, so nothing is bound. */
    dsv4_binding tmp = {0};
    dsv4_status st = dsv4_bind_copy(&tmp, b);
    if (st == DSV4_OK) st = dsv4_shape_bind(d->dtype, d->shape, t, &tmp, err, errlen);
    else no_memory(err, errlen);
    dsv4_bind_free(&tmp);
    return st;
}

static dsv4_status bind_list(const dsv4_tensor_decl *list, const dsv4_view *v, dsv4_binding *b,
                             char *err, size_t errlen) {
    for (const dsv4_tensor_decl *d = list; d && d->name; d++) {
        const dsv4_tensor *t = dsv4_view_find(v, d->name);
        if (!t) {
            int weight = strncmp(d->name, "w.", 2) == 0;
            snprintf(err, errlen, "missing tensor %s%s (%s [%s])", weight ? "" : call_prefix(v),
                     d->name, d->dtype, d->shape);
            return DSV4_E_NOTFOUND;
        }
        dsv4_status st = dsv4_shape_bind(d->dtype, d->shape, t, b, err, errlen);
        if (st != DSV4_OK) return st;
    }
    return DSV4_OK;
}

dsv4_status dsv4_call_bind(const dsv4_opcfg *cfg, const dsv4_view *v, dsv4_binding *b, char *err,
                           size_t errlen) {
    dsv4_status st = dsv4_bind_copy(b, &cfg->syms);
    if (st != DSV4_OK) return no_memory(err, errlen);
    st = bind_list(cfg->op->weights, v, b, err, errlen);
    if (st == DSV4_OK) st = bind_list(cfg->op->inputs, v, b, err, errlen);
    if (st == DSV4_OK) st = bind_list(cfg->op->state, v, b, err, errlen);
    if (st == DSV4_OK && cfg->op->derive) st = cfg->op->derive(v, b, err, errlen);
    return st;
}

/* ---- running a stage --------------------------------------------------------------------- */
size_t dsv4_ctx_dim(const dsv4_stage_ctx *c, const char *sym) {
    uint64_t v = 0;
    return dsv4_bind_get(c->syms, sym, &v) ? (size_t)v : 0;
}

void dsv4_ctx_copy(const dsv4_stage_ctx *c, size_t o, size_t i) {
    size_t n = c->out[o].nbytes < c->in[i]->nbytes ? c->out[o].nbytes : c->in[i]->nbytes;
    if (n) memcpy(c->out[o].data, c->in[i]->data, n);
}

dsv4_status dsv4_ctx_lib(const dsv4_stage_ctx *c, dsv4_status st) {
    if (st != DSV4_OK)
        snprintf(c->err, c->errlen, "stage %s (%s): %s", c->stage->name, dsv4_impl_name(c->impl),
                 dsv4_strerror(st));
    return st;
}

static void free_outputs(dsv4_tensor *out, size_t n) {
    for (size_t o = 0; o < n; o++) free(out[o].data);
    free(out);
}

/* The stage's outputs, allocated and zeroed at their bound shapes. */
static dsv4_status alloc_outputs(const dsv4_opcfg *cfg, const dsv4_stage_inst *s,
                                 const dsv4_binding *b, dsv4_tensor **out, char *err,
                                 size_t errlen) {
    dsv4_tensor *t = calloc(s->n_outputs + 1, sizeof *t);
    if (!t) return no_memory(err, errlen);
    for (size_t o = 0; o < s->n_outputs; o++) {
        const dsv4_tensor_decl *d = &s->decl->outputs[o];
        char why[200];
        dsv4_status st = dsv4_dtype_resolve(d->dtype, b, &t[o].dtype);
        if (st == DSV4_OK) st = dsv4_shape_eval(d->shape, b, t[o].shape, &t[o].rank, why, sizeof why);
        else snprintf(why, sizeof why, "unknown dtype %s", d->dtype);
        size_t n = 1;
        for (int r = 0; st == DSV4_OK && r < t[o].rank; r++)
            if (t[o].shape[r] != 0 && n > SIZE_MAX / t[o].shape[r]) st = DSV4_E_OVERFLOW;
            else n *= t[o].shape[r];
        if (st == DSV4_OK && n > SIZE_MAX / dsv4_dtype_size(t[o].dtype)) st = DSV4_E_OVERFLOW;
        if (st != DSV4_OK) {
            snprintf(err, errlen, "output %s [%s] of op %s: %s", s->outputs[o], d->shape,
                     cfg->op->name, st == DSV4_E_OVERFLOW ? "size overflows" : why);
            free_outputs(t, o);
            return st;
        }
        t[o].name = s->outputs[o];
        t[o].nbytes = n * dsv4_dtype_size(t[o].dtype);
        t[o].data = calloc(t[o].nbytes ? t[o].nbytes : 1, 1);
        if (!t[o].data) {
            free_outputs(t, o);
            return no_memory(err, errlen);
        }
    }
    *out = t;
    return DSV4_OK;
}

/* The stage's inputs from v, each checked against its declaration. */
static dsv4_status gather_inputs(const dsv4_opcfg *cfg, const dsv4_stage_inst *s,
                                 const dsv4_view *v, const dsv4_binding *b,
                                 const dsv4_tensor **in, char *err, size_t errlen) {
    for (size_t i = 0; i < s->n_inputs; i++) {
        in[i] = dsv4_view_find(v, s->inputs[i]);
        if (!in[i]) {
            snprintf(err, errlen, "stage %s needs tensor %s%s", s->name,
                     strncmp(s->inputs[i], "w.", 2) == 0 ? "" : call_prefix(v), s->inputs[i]);
            return DSV4_E_NOTFOUND;
        }
        dsv4_status st = dsv4_call_check(cfg, b, s->inputs[i], in[i], err, errlen);
        if (st != DSV4_OK) return st;
    }
    return DSV4_OK;
}

dsv4_status dsv4_op_run_stage(const dsv4_opcfg *cfg, size_t s, dsv4_impl impl, size_t step,
                              const dsv4_view *v, const dsv4_binding *b, dsv4_st *dst,
                              const char *prefix, char *err, size_t errlen) {
    if (s >= cfg->n_stages) {
        snprintf(err, errlen, "op %s has no stage %zu", cfg->op->name, s);
        return DSV4_E_ARG;
    }
    const dsv4_stage_inst *si = &cfg->stages[s];
    if (!si->decl->run) {
        snprintf(err, errlen, "op %s stage %s cannot run in this program", cfg->op->name,
                 si->name);
        return DSV4_E_ARG;
    }
    const dsv4_tensor **in = calloc(si->n_inputs + 1, sizeof *in);
    dsv4_tensor *out = NULL;
    if (!in) return no_memory(err, errlen);
    dsv4_status st = gather_inputs(cfg, si, v, b, in, err, errlen);
    if (st == DSV4_OK) st = alloc_outputs(cfg, si, b, &out, err, errlen);
    if (st != DSV4_OK) {
        free(in);
        return st;
    }
    dsv4_stage_ctx ctx = {cfg, cfg->params, impl, si, step, b, in, out, err, errlen};
    st = si->decl->run(&ctx);
    char name[512];
    for (size_t o = 0; st == DSV4_OK && o < si->n_outputs; o++) {
        snprintf(name, sizeof name, "%s%s", prefix ? prefix : "", si->outputs[o]);
        st = dsv4_st_copy_tensor(dst, &out[o], name);
        if (st != DSV4_OK) snprintf(err, errlen, "storing %s: %s", name, dsv4_strerror(st));
    }
    free_outputs(out, si->n_outputs);
    free(in);
    return st;
}

/* ---- whole files ---------------------------------------------------------------------------- */
size_t dsv4_op_calls(const dsv4_op *op, const dsv4_st *in) {
    if (!dsv4_op_streaming(op)) return 1;
    const char *first = op->inputs[0].name ? op->inputs[0].name : op->state[0].name;
    size_t k = 0;
    char name[512];
    for (;; k++) {
        dsv4_call_name(op, k, first, name, sizeof name);
        if (!dsv4_st_find(in, name)) return k;
    }
}

/* Copy the tensors of `list` from view v into out under call `step`'s names
 * (a weight only once). */
static dsv4_status copy_decls(const dsv4_opcfg *cfg, const dsv4_tensor_decl *list,
                              const dsv4_view *v, size_t step, dsv4_st *out, char *err,
                              size_t errlen) {
    char name[512];
    for (const dsv4_tensor_decl *d = list; d && d->name; d++) {
        dsv4_call_name(cfg->op, step, d->name, name, sizeof name);
        if (dsv4_st_find(out, name)) continue;
        dsv4_status st = dsv4_st_copy_tensor(out, dsv4_view_find(v, d->name), name);
        if (st != DSV4_OK) {
            snprintf(err, errlen, "copying %s: %s", name, dsv4_strerror(st));
            return st;
        }
    }
    return DSV4_OK;
}

/* The state the call just computed, named state.* for the next call. */
static dsv4_status carry_state(const dsv4_opcfg *cfg, const dsv4_st *out, const char *prefix,
                               dsv4_st *state, char *err, size_t errlen) {
    dsv4_st next = {0};
    char name[512];
    for (const dsv4_tensor_decl *d = cfg->op->state; d->name; d++) {
        snprintf(name, sizeof name, "%s%s", prefix, d->next);
        const dsv4_tensor *t = dsv4_st_find(out, name);
        dsv4_status st = t ? dsv4_st_copy_tensor(&next, t, d->name) : DSV4_E_NOTFOUND;
        if (st != DSV4_OK) {
            snprintf(err, errlen, "internal: op %s state %s: output %s missing", cfg->op->name,
                     d->name, d->next);
            dsv4_st_free(&next);
            return st;
        }
    }
    dsv4_st_free(state);
    *state = next;
    return DSV4_OK;
}

dsv4_status dsv4_op_run_all(const dsv4_opcfg *cfg, dsv4_impl impl, const dsv4_st *in,
                            dsv4_st *out, dsv4_stage_hook hook, void *hook_ctx, char *err,
                            size_t errlen) {
    const dsv4_op *op = cfg->op;
    size_t calls = dsv4_op_calls(op, in);
    dsv4_st state = {0};
    dsv4_status st = DSV4_OK;
    if (calls == 0) {
        snprintf(err, errlen, "op %s is streaming: its inputs are step0.in.*, step1.in.*, ... "
                 "and the initial state step0.state.* (none found)", op->name);
        return DSV4_E_NOTFOUND;
    }
    for (size_t k = 0; st == DSV4_OK && k < calls; k++) {
        char prefix[32] = "";
        if (dsv4_op_streaming(op)) snprintf(prefix, sizeof prefix, "step%zu.", k);
        dsv4_view v = {0};
        dsv4_binding b = {0};
        dsv4_view_add(&v, out, prefix);                /* this call's outputs so far */
        if (k > 0) dsv4_view_add(&v, &state, "");      /* the state the last call left */
        dsv4_view_add(&v, in, prefix);                 /* the call's inputs */
        dsv4_view_add(&v, in, "");                     /* the weights, stored once */
        st = dsv4_call_bind(cfg, &v, &b, err, errlen);
        if (st == DSV4_OK) st = copy_decls(cfg, op->weights, &v, k, out, err, errlen);
        if (st == DSV4_OK) st = copy_decls(cfg, op->inputs, &v, k, out, err, errlen);
        if (st == DSV4_OK) st = copy_decls(cfg, op->state, &v, k, out, err, errlen);
        for (size_t s = 0; st == DSV4_OK && s < cfg->n_stages; s++) {
            /* A stage writes into a file of its own first: appending to out
             * while the stage reads tensors of out would move them. */
            dsv4_st res = {0};
            st = dsv4_op_run_stage(cfg, s, impl, k, &v, &b, &res, prefix, err, errlen);
            for (size_t i = 0; st == DSV4_OK && i < res.n_tensors; i++)
                st = dsv4_st_copy_tensor(out, &res.tensors[i], NULL);
            dsv4_st_free(&res);
            if (st == DSV4_OK && hook) hook(hook_ctx, k, s, prefix, out);
        }
        if (st == DSV4_OK && dsv4_op_streaming(op))
            st = carry_state(cfg, out, prefix, &state, err, errlen);
        dsv4_bind_free(&b);
    }
    dsv4_st_free(&state);
    return st;
}

/* ---- helpers ------------------------------------------------------------------------------------ */
void *dsv4_alloc_array(size_t count, size_t size) {
    if (size != 0 && count > SIZE_MAX / size) return NULL;
    size_t bytes = count * size;
    return malloc(bytes ? bytes : 1);
}

dsv4_status dsv4_st_copy_tensor(dsv4_st *dst, const dsv4_tensor *t, const char *name) {
    if (!t) return DSV4_E_NOTFOUND;
    return dsv4_st_add(dst, name ? name : t->name, t->dtype, t->rank, t->shape, t->data);
}
