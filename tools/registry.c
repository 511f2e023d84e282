/* registry.c - the operator table and the generic parts of running one. */
#include "registry.h"

#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Operators defined in tools/ops_*.c. */
extern const dsv4_op dsv4_op_cast;
extern const dsv4_op dsv4_op_quant;
extern const dsv4_op dsv4_op_hc_pre;
extern const dsv4_op dsv4_op_sinkhorn;
extern const dsv4_op dsv4_op_hc_post;
extern const dsv4_op dsv4_op_hc_head;
extern const dsv4_op dsv4_op_newton_schulz, dsv4_op_muon_step, dsv4_op_adamw_step;

/* The table: one line per operator, in the order `dsv4 list` shows them. */
static const dsv4_op *const op_table[] = {
    &dsv4_op_cast,
    &dsv4_op_quant,
    &dsv4_op_hc_pre,
    &dsv4_op_sinkhorn,
    &dsv4_op_hc_post,
    &dsv4_op_hc_head,
    &dsv4_op_newton_schulz, &dsv4_op_muon_step, &dsv4_op_adamw_step,
};

size_t dsv4_op_count(void) { return sizeof op_table / sizeof op_table[0]; }

const dsv4_op *dsv4_op_at(size_t i) { return i < dsv4_op_count() ? op_table[i] : NULL; }

const dsv4_op *dsv4_op_find(const char *name) {
    if (!name) return NULL;
    for (size_t i = 0; i < dsv4_op_count(); i++)
        if (strcmp(op_table[i]->name, name) == 0) return op_table[i];
    return NULL;
}

size_t dsv4_op_n_stages(const dsv4_op *op) {
    size_t n = 0;
    while (n < DSV4_OP_MAX_STAGES && op->stages[n].name) n++;
    return n;
}

size_t dsv4_op_n_inputs(const dsv4_op *op) {
    size_t n = 0;
    while (n < DSV4_OP_MAX_INPUTS && op->inputs[n].name) n++;
    return n;
}

int dsv4_op_stage_index(const dsv4_op *op, const char *name) {
    for (size_t s = 0; s < dsv4_op_n_stages(op); s++)
        if (strcmp(op->stages[s].name, name) == 0) return (int)s;
    return -1;
}

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

/* ---- configuration ---------------------------------------------------------- */

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
        if (v->type != DSV4_JSON_NUMBER || !(v->number >= 0.0) || isinf(v->number)) {
            snprintf(err, errlen, "op %s: config key \"%s\" must be a finite number >= 0",
                     op->name, k->name);
            return DSV4_E_ARG;
        }
        dsv4_sbuf_json_number(b, v->number);
        return DSV4_OK;
    }
    if (v->type != DSV4_JSON_NUMBER || !v->is_uint || v->u < k->min) {
        snprintf(err, errlen, "op %s: config key \"%s\" must be an integer >= %llu", op->name,
                 k->name, (unsigned long long)k->min);
        return DSV4_E_ARG;
    }
    dsv4_sbuf_printf(b, "%llu", (unsigned long long)v->u);
    return DSV4_OK;
}

static void put_default(const dsv4_cfg_key *k, dsv4_sbuf *b) {
    if (k->kind == DSV4_KEY_ENUM)
        dsv4_sbuf_json_string(b, k->def);
    else
        dsv4_sbuf_puts(b, k->def);
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
        if (!v) {
            put_default(k, b);
            continue;
        }
        dsv4_status st = put_value(op, k, v, b, err, errlen);
        if (st != DSV4_OK) return st;
    }
    dsv4_sbuf_puts(b, "}");
    return b->oom ? DSV4_E_NOMEM : DSV4_OK;
}

dsv4_status dsv4_op_configure(const dsv4_op *op, const char *json_text, dsv4_opcfg *cfg,
                              char *err, size_t errlen) {
    char jerr[160];
    dsv4_json *given = NULL, *full = NULL;
    dsv4_sbuf b = {0};
    dsv4_status st = DSV4_OK;
    cfg->text = NULL;
    cfg->params = NULL;
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
    if (st == DSV4_OK) st = dsv4_json_parse(b.buf, b.len, &full, jerr, sizeof jerr);
    if (st == DSV4_OK) st = op->configure(full, &cfg->params, err, errlen);
    if (st == DSV4_OK) {
        cfg->text = b.buf;
        b.buf = NULL;
    }
    dsv4_sbuf_free(&b);
    dsv4_json_free(given);
    dsv4_json_free(full);
    return st;
}

void dsv4_opcfg_free(dsv4_opcfg *cfg) {
    free(cfg->text);
    free(cfg->params);
    cfg->text = NULL;
    cfg->params = NULL;
}

/* ---- running stages ----------------------------------------------------------- */

/* The outputs a stage appended must be exactly the declared ones, in order:
 * the generic code relies on it when it matches tensors by name. */
static dsv4_status check_outputs(const dsv4_op *op, size_t stage, const dsv4_st *dst,
                                 size_t before, char *err, size_t errlen) {
    const dsv4_stage_decl *sd = &op->stages[stage];
    size_t i = before;
    for (const dsv4_tensor_decl *o = sd->outputs; o->name; o++, i++)
        if (i >= dst->n_tensors || strcmp(dst->tensors[i].name, o->name) != 0) {
            snprintf(err, errlen, "internal: op %s stage %s did not produce %s", op->name,
                     sd->name, o->name);
            return DSV4_E_NOTFOUND;
        }
    return DSV4_OK;
}

dsv4_status dsv4_op_run_stage(const dsv4_op *op, const dsv4_opcfg *cfg, size_t stage,
                              dsv4_impl impl, const dsv4_st *src, dsv4_st *dst, char *err,
                              size_t errlen) {
    if (stage >= dsv4_op_n_stages(op)) {
        snprintf(err, errlen, "op %s has no stage %zu", op->name, stage);
        return DSV4_E_ARG;
    }
    size_t before = dst->n_tensors;
    dsv4_status st = op->run_stage(cfg->params, stage, impl, src, dst, err, errlen);
    if (st != DSV4_OK) return st;
    return check_outputs(op, stage, dst, before, err, errlen);
}

dsv4_status dsv4_st_copy_tensor(dsv4_st *dst, const dsv4_tensor *t) {
    return dsv4_st_add(dst, t->name, t->dtype, t->rank, t->shape, t->data);
}

static dsv4_status copy_inputs(const dsv4_op *op, const dsv4_st *inputs, dsv4_st *work,
                               char *err, size_t errlen) {
    for (const dsv4_tensor_decl *d = op->inputs; d->name; d++) {
        const dsv4_tensor *t = dsv4_st_find(inputs, d->name);
        if (!t) {
            snprintf(err, errlen, "op %s needs input tensor %s (%s %s)", op->name, d->name,
                     d->dtype, d->shape);
            return DSV4_E_NOTFOUND;
        }
        dsv4_status st = dsv4_st_copy_tensor(work, t);
        if (st != DSV4_OK) {
            snprintf(err, errlen, "copying %s: %s", d->name, dsv4_strerror(st));
            return st;
        }
    }
    return DSV4_OK;
}

dsv4_status dsv4_op_run_all(const dsv4_op *op, const dsv4_opcfg *cfg, dsv4_impl impl,
                            const dsv4_st *inputs, dsv4_st *work, char *err, size_t errlen) {
    dsv4_status st = copy_inputs(op, inputs, work, err, errlen);
    for (size_t s = 0; st == DSV4_OK && s < dsv4_op_n_stages(op); s++) {
        /* A stage writes into its own file first: appending to *work while
         * the stage still holds pointers into it would invalidate them. */
        dsv4_st out = {0};
        st = dsv4_op_run_stage(op, cfg, s, impl, work, &out, err, errlen);
        for (size_t i = 0; st == DSV4_OK && i < out.n_tensors; i++)
            st = dsv4_st_copy_tensor(work, &out.tensors[i]);
        dsv4_st_free(&out);
    }
    return st;
}

/* ---- helpers for operators ------------------------------------------------------ */

dsv4_status dsv4_stage_input(const dsv4_st *src, const char *name, dsv4_dtype dt, int rank,
                             const dsv4_tensor **out, char *err, size_t errlen) {
    const dsv4_tensor *t = dsv4_st_find(src, name);
    if (!t) {
        snprintf(err, errlen, "missing tensor %s", name);
        return DSV4_E_NOTFOUND;
    }
    if (t->dtype != dt || t->rank != rank) {
        snprintf(err, errlen, "tensor %s is %s rank %d, expected %s rank %d", name,
                 dsv4_dtype_name(t->dtype), t->rank, dsv4_dtype_name(dt), rank);
        return DSV4_E_DTYPE;
    }
    size_t bytes;
    if (!dsv4_mul_ok(dsv4_tensor_numel(t), dsv4_dtype_size(dt), &bytes) || bytes != t->nbytes) {
        snprintf(err, errlen, "tensor %s: byte size does not match its shape", name);
        return DSV4_E_DTYPE;
    }
    *out = t;
    return DSV4_OK;
}

dsv4_status dsv4_stage_output(dsv4_st *dst, const char *name, dsv4_dtype dt, int rank,
                              const size_t *shape, const void *data, char *err, size_t errlen) {
    dsv4_status st = dsv4_st_add(dst, name, dt, rank, shape, data);
    if (st != DSV4_OK) snprintf(err, errlen, "storing %s: %s", name, dsv4_strerror(st));
    return st;
}

void *dsv4_alloc_array(size_t count, size_t size) {
    size_t bytes;
    if (!dsv4_mul_ok(count, size, &bytes)) return NULL;
    return malloc(bytes ? bytes : 1);
}
