/* golden_io.c - assemble and write golden files (spec/golden.md). */
#include "golden_io.h"

#include "exact.h"
#include "golden.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_meta(og_file *f, const char *key, const char *value) {
    if (f->status != DSV4_OK) return;
    f->status = dsv4_st_set_meta(&f->st, key, value);
    if (f->status != DSV4_OK) snprintf(f->err, sizeof f->err, "%s", dsv4_strerror(f->status));
}

/* Record the first failure and its reason. */
static void failf(og_file *f, dsv4_status st, const char *fmt, const char *a, const char *b) {
    if (f->status != DSV4_OK) return;
    f->status = st;
    snprintf(f->err, sizeof f->err, fmt, a, b);
}

static char *dup_text(og_file *f, const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (!d) failf(f, DSV4_E_NOMEM, "out of memory%s%s", "", "");
    else memcpy(d, s, n);
    return d;
}

void og_begin(og_file *f, const char *op, const char *case_name, const char *config_json,
              uint64_t seed, const char *description) {
    memset(f, 0, sizeof *f);
    char seed_text[32];
    snprintf(seed_text, sizeof seed_text, "%llu", (unsigned long long)seed);
    f->meta[0] = dup_text(f, case_name);
    f->meta[1] = dup_text(f, seed_text);
    f->meta[2] = dup_text(f, description);
    const dsv4_op *o = dsv4_op_find(op);
    if (!o) {
        failf(f, DSV4_E_NOTFOUND, "operator %s is not in the registry%s", op, "");
        return;
    }
    f->status = dsv4_op_configure(o, config_json, &f->cfg, f->err, sizeof f->err);
    for (size_t s = 0; f->status == DSV4_OK && s < f->cfg.n_stages; s++)
        f->n_outputs += f->cfg.stages[s].n_outputs;
    og_call(f, 0);
}

void og_call(og_file *f, size_t k) {
    if (f->status != DSV4_OK) return;
    if (k > 0 && !dsv4_op_streaming(f->cfg.op)) {
        failf(f, DSV4_E_ARG, "operator %s has one call per file%s", f->cfg.op->name, "");
        return;
    }
    if (k >= f->n_calls) {
        size_t n = f->n_outputs * (k + 1) + 1;
        dsv4_tol_rule *r = realloc(f->rules, n * sizeof *r);
        unsigned char *m = r ? realloc(f->ruled, n) : NULL;
        if (r) f->rules = r;
        if (m) f->ruled = m;
        if (!r || !m) {
            failf(f, DSV4_E_NOMEM, "out of memory%s%s", "", "");
            return;
        }
        size_t old = f->n_outputs * f->n_calls;
        memset(f->rules + old, 0, (n - old) * sizeof *r);
        memset(f->ruled + old, 0, n - old);
        f->n_calls = k + 1;
    }
    f->call = k;
}

/* Host integers -> little-endian bytes, whatever the host's byte order. */
static void store_le(uint8_t *out, dsv4_dtype dt, const void *data, size_t numel) {
    size_t width = dsv4_dtype_size(dt);
    for (size_t i = 0; i < numel; i++) {
        uint32_t w;
        if (width == 4) w = ((const uint32_t *)data)[i];
        else if (width == 2) w = ((const uint16_t *)data)[i];
        else w = ((const uint8_t *)data)[i];
        for (size_t b = 0; b < width; b++) out[i * width + b] = (uint8_t)(w >> (8 * b));
    }
}

void og_add(og_file *f, const char *name, dsv4_dtype dt, int rank, const size_t *shape,
            const void *data) {
    if (f->status != DSV4_OK) return;
    size_t width = dsv4_dtype_size(dt);
    if (width != 1 && width != 2 && width != 4) {
        failf(f, DSV4_E_DTYPE, "tensor %s: the oracle writes no %s", name, dsv4_dtype_name(dt));
        return;
    }
    size_t numel = 1;
    for (int i = 0; i < rank; i++) numel *= shape[i];
    uint8_t *bytes = malloc(numel * width + 1);
    if (!bytes) {
        failf(f, DSV4_E_NOMEM, "out of memory%s%s", "", "");
        return;
    }
    char full[256];
    dsv4_call_name(f->cfg.op, f->call, name, full, sizeof full);
    store_le(bytes, dt, data, numel);
    f->status = dsv4_st_add(&f->st, full, dt, rank, shape, bytes);
    if (f->status != DSV4_OK) snprintf(f->err, sizeof f->err, "tensor %s: %s", full,
                                       dsv4_strerror(f->status));
    free(bytes);
}

/* names (NULL-terminated) must equal list[0..n). */
static int same_names(const char *const *names, char *const *list, size_t n) {
    size_t i = 0;
    for (; names[i]; i++)
        if (i >= n || strcmp(names[i], list[i]) != 0) return 0;
    return i == n;
}

void og_stage(og_file *f, const char *name, const char *const *inputs,
              const char *const *outputs, const char *tolerance_json) {
    if (f->status != DSV4_OK) return;
    size_t s = 0, first = 0;
    while (s < f->cfg.n_stages && strcmp(f->cfg.stages[s].name, name) != 0)
        first += f->cfg.stages[s++].n_outputs;
    if (s == f->cfg.n_stages) {
        failf(f, DSV4_E_NOTFOUND, "stage %s is not in the plan of %s", name, f->cfg.op->name);
        return;
    }
    const dsv4_stage_inst *si = &f->cfg.stages[s];
    if (!same_names(inputs, si->inputs, si->n_inputs) ||
        !same_names(outputs, si->outputs, si->n_outputs)) {
        failf(f, DSV4_E_FORMAT, "stage %s: inputs or outputs differ from the registry's (%s)",
              name, f->cfg.op->name);
        return;
    }
    dsv4_json *tol = NULL;
    char why[160];
    if (dsv4_json_parse(tolerance_json, strlen(tolerance_json), &tol, why, sizeof why) !=
        DSV4_OK) {
        failf(f, DSV4_E_FORMAT, "stage %s: tolerance is not JSON: %s", name, why);
        return;
    }
    int one_rule = dsv4_json_get(tol, "kind") != NULL;
    for (size_t o = 0; f->status == DSV4_OK && o < si->n_outputs; o++) {
        size_t at = f->call * f->n_outputs + first + o;
        const dsv4_json *j = one_rule ? tol : dsv4_json_get(tol, si->outputs[o]);
        dsv4_tol_free(&f->rules[at]);
        f->status = dsv4_tol_parse(j, &f->rules[at], why, sizeof why);
        if (f->status != DSV4_OK)
            snprintf(f->err, sizeof f->err, "stage %s, tolerance of %s: %s", name,
                     si->outputs[o], why);
        f->ruled[at] = 1;
    }
    dsv4_json_free(tol);
}

/* The metadata is set here, in the order spec/golden.md lists the keys. */
dsv4_status og_write(og_file *f, const char *path) {
    if (f->status != DSV4_OK) return f->status;
    for (size_t i = 0; i < f->n_calls * f->n_outputs; i++)
        if (!f->ruled[i]) {
            failf(f, DSV4_E_FORMAT, "no tolerance for an output of %s (stage missing in a call)%s",
                  f->cfg.op->name, "");
            return f->status;
        }
    dsv4_sbuf stages = {0};
    char steps[32];
    snprintf(steps, sizeof steps, "%zu", f->n_calls);
    if (dsv4_golden_stages_json(&f->cfg, f->n_calls, f->rules, &stages) != DSV4_OK)
        failf(f, DSV4_E_NOMEM, "out of memory%s%s", "", "");
    set_meta(f, "dsv4_golden", DSV4_GOLDEN_VERSION);
    set_meta(f, "op", f->cfg.op->name);
    set_meta(f, "case", f->meta[0]);
    set_meta(f, "config", f->cfg.text);
    if (dsv4_op_streaming(f->cfg.op)) set_meta(f, "steps", steps);
    set_meta(f, "stages", stages.buf);
    set_meta(f, "oracle", ox_oracle_name());
    set_meta(f, "seed", f->meta[1]);
    set_meta(f, "description", f->meta[2]);
    dsv4_sbuf_free(&stages);
    if (f->status != DSV4_OK) return f->status;
    /* The file must be one the dsv4 program accepts. */
    dsv4_golden g;
    char why[256];
    f->status = dsv4_golden_load(&f->st, &g, why, sizeof why);
    if (f->status != DSV4_OK) {
        snprintf(f->err, sizeof f->err, "the registry rejects the file: %s", why);
        return f->status;
    }
    dsv4_golden_free(&g);
    f->status = dsv4_st_write(path, &f->st);
    if (f->status != DSV4_OK) snprintf(f->err, sizeof f->err, "%s", dsv4_strerror(f->status));
    return f->status;
}

void og_free(og_file *f) {
    for (size_t i = 0; f->rules && i < f->n_calls * f->n_outputs; i++) dsv4_tol_free(&f->rules[i]);
    free(f->rules);
    free(f->ruled);
    dsv4_st_free(&f->st);
    dsv4_opcfg_free(&f->cfg);
    for (size_t i = 0; i < sizeof f->meta / sizeof f->meta[0]; i++) free(f->meta[i]);
    memset(f, 0, sizeof *f);
}

void og_vec_push(og_vec *a, uint32_t x) {
    if (a->oom) return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 256;
        uint32_t *v = realloc(a->v, cap * sizeof *v);
        if (!v) {
            a->oom = 1;
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
}

void og_vec_free(og_vec *a) {
    free(a->v);
    memset(a, 0, sizeof *a);
}
