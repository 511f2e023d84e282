/* compare.c - tensor comparison under a stage tolerance (compare.h). */
#include "compare.h"

#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

/* A tensor name member of a tolerance object into buf (NUL-terminated). */
static dsv4_status tol_name(const dsv4_json *j, const char *key, int required, char *buf,
                            char *err, size_t errlen) {
    const dsv4_json *v = dsv4_json_get(j, key);
    buf[0] = '\0';
    if (!v && !required) return DSV4_OK;
    if (!v || v->type != DSV4_JSON_STRING || v->len == 0 || v->len >= DSV4_TOL_NAME_MAX) {
        snprintf(err, errlen, "bf16_boundary tolerance needs \"%s\": a tensor name of 1 to %d bytes",
                 key, DSV4_TOL_NAME_MAX - 1);
        return DSV4_E_FORMAT;
    }
    memcpy(buf, v->string, v->len + 1);
    return DSV4_OK;
}

/* abs and rel members: finite numbers >= 0. */
static dsv4_status tol_numbers(const dsv4_json *j, dsv4_tol_rule *r, char *err, size_t errlen) {
    const dsv4_json *a = dsv4_json_get(j, "abs"), *b = dsv4_json_get(j, "rel");
    if (!a || !b || a->type != DSV4_JSON_NUMBER || b->type != DSV4_JSON_NUMBER ||
        !(a->number >= 0.0) || !(b->number >= 0.0) || isinf(a->number) || isinf(b->number)) {
        snprintf(err, errlen, "tolerance needs finite numbers abs >= 0 and rel >= 0");
        return DSV4_E_FORMAT;
    }
    r->abs = a->number;
    r->rel = b->number;
    return DSV4_OK;
}

/* One element-wise rule (every kind but per_output). */
static dsv4_status rule_parse(const dsv4_json *j, dsv4_tol_rule *r, char *err, size_t errlen) {
    const dsv4_json *kind = dsv4_json_get(j, "kind");
    memset(r, 0, sizeof *r);
    if (!kind || kind->type != DSV4_JSON_STRING) {
        snprintf(err, errlen, "tolerance needs a string \"kind\"");
        return DSV4_E_FORMAT;
    }
    if (strcmp(kind->string, "exact") == 0) {
        r->kind = DSV4_TOL_EXACT;
        return DSV4_OK;
    }
    if (strcmp(kind->string, "abs_rel") == 0) {
        r->kind = DSV4_TOL_ABS_REL;
        return tol_numbers(j, r, err, errlen);
    }
    if (strcmp(kind->string, "bf16_boundary") == 0) {
        r->kind = DSV4_TOL_BF16_BOUNDARY;
        dsv4_status st = tol_name(j, "ref", 1, r->ref, err, errlen);
        if (st == DSV4_OK) st = tol_name(j, "tol", 0, r->tol, err, errlen);
        /* either a tolerance tensor or abs/rel numbers */
        if (st == DSV4_OK && r->tol[0] == '\0') st = tol_numbers(j, r, err, errlen);
        return st;
    }
    snprintf(err, errlen, "unknown tolerance kind \"%s\" (exact, abs_rel, bf16_boundary, per_output)",
             kind->string);
    return DSV4_E_FORMAT;
}

/* The rule part of a dsv4_tol, as a rule. */
static dsv4_tol_rule top_rule(const dsv4_tol *t) {
    dsv4_tol_rule r;
    r.kind = t->kind;
    r.abs = t->abs;
    r.rel = t->rel;
    memcpy(r.ref, t->ref, sizeof r.ref);
    memcpy(r.tol, t->tol, sizeof r.tol);
    r.ref_t = t->ref_t;
    r.tol_t = t->tol_t;
    return r;
}

static void set_top_rule(dsv4_tol *t, const dsv4_tol_rule *r) {
    t->kind = r->kind;
    t->abs = r->abs;
    t->rel = r->rel;
    memcpy(t->ref, r->ref, sizeof t->ref);
    memcpy(t->tol, r->tol, sizeof t->tol);
    t->ref_t = r->ref_t;
    t->tol_t = r->tol_t;
}

dsv4_status dsv4_tol_parse(const dsv4_json *j, dsv4_tol *t, char *err, size_t errlen) {
    memset(t, 0, sizeof *t);
    const dsv4_json *kind = dsv4_json_get(j, "kind");
    if (!kind || kind->type != DSV4_JSON_STRING || strcmp(kind->string, "per_output") != 0) {
        dsv4_tol_rule r;
        dsv4_status st = rule_parse(j, &r, err, errlen);
        if (st == DSV4_OK) set_top_rule(t, &r);
        return st;
    }
    const dsv4_json *outs = dsv4_json_get(j, "outputs");
    if (!outs || outs->type != DSV4_JSON_OBJECT || outs->n == 0 || outs->n > DSV4_TOL_MAX_OUTPUTS) {
        snprintf(err, errlen, "per_output tolerance needs \"outputs\": an object of 1 to %d rules",
                 DSV4_TOL_MAX_OUTPUTS);
        return DSV4_E_FORMAT;
    }
    t->kind = DSV4_TOL_PER_OUTPUT;
    for (size_t i = 0; i < outs->n; i++) {
        const dsv4_json *k = dsv4_json_get(&outs->items[i], "kind");
        if (strlen(outs->keys[i]) >= DSV4_TOL_NAME_MAX ||
            (k && k->type == DSV4_JSON_STRING && strcmp(k->string, "per_output") == 0)) {
            snprintf(err, errlen, "per_output rule \"%.40s\": bad name or nested per_output",
                     outs->keys[i]);
            return DSV4_E_FORMAT;
        }
        dsv4_status st = rule_parse(&outs->items[i], &t->rule[i], err, errlen);
        if (st != DSV4_OK) return st;
        snprintf(t->output[i], sizeof t->output[i], "%s", outs->keys[i]);
    }
    t->n_outputs = outs->n;
    return DSV4_OK;
}

/* Resolve one tensor name of a bf16_boundary rule in gold. */
static dsv4_status bind_tensor(const dsv4_st *gold, const char *name, const dsv4_tensor **out,
                               char *err, size_t errlen) {
    *out = NULL;
    if (name[0] == '\0') return DSV4_OK;
    const dsv4_tensor *t = dsv4_st_find(gold, name);
    if (!t || t->dtype != DSV4_DT_F32) {
        snprintf(err, errlen, "tolerance names tensor %s, which the file %s", name,
                 t ? "holds with a dtype other than F32" : "lacks");
        return DSV4_E_NOTFOUND;
    }
    *out = t;
    return DSV4_OK;
}

static dsv4_status bind_rule(dsv4_tol_rule *r, const dsv4_st *gold, char *err, size_t errlen) {
    if (r->kind != DSV4_TOL_BF16_BOUNDARY) return DSV4_OK;
    dsv4_status st = bind_tensor(gold, r->ref, &r->ref_t, err, errlen);
    if (st == DSV4_OK) st = bind_tensor(gold, r->tol, &r->tol_t, err, errlen);
    return st;
}

dsv4_status dsv4_tol_bind(dsv4_tol *t, const dsv4_st *gold, const char *const *outputs,
                          size_t n_outputs, char *err, size_t errlen) {
    if (t->kind != DSV4_TOL_PER_OUTPUT) {
        dsv4_tol_rule r = top_rule(t);
        dsv4_status st = bind_rule(&r, gold, err, errlen);
        if (st == DSV4_OK) set_top_rule(t, &r);
        return st;
    }
    if (t->n_outputs != n_outputs) {
        snprintf(err, errlen, "per_output tolerance has %zu rules for %zu outputs", t->n_outputs,
                 n_outputs);
        return DSV4_E_FORMAT;
    }
    for (size_t o = 0; o < n_outputs; o++) {
        size_t i = 0;
        while (i < t->n_outputs && strcmp(t->output[i], outputs[o]) != 0) i++;
        if (i == t->n_outputs) {
            snprintf(err, errlen, "per_output tolerance has no rule for %s", outputs[o]);
            return DSV4_E_FORMAT;
        }
        dsv4_status st = bind_rule(&t->rule[i], gold, err, errlen);
        if (st != DSV4_OK) return st;
    }
    return DSV4_OK;
}

static void rule_format(const dsv4_tol_rule *r, char *buf, size_t len) {
    if (r->kind == DSV4_TOL_EXACT)
        snprintf(buf, len, "exact");
    else if (r->kind == DSV4_TOL_ABS_REL)
        snprintf(buf, len, "abs=%.3g,rel=%.3g", r->abs, r->rel);
    else if (r->tol[0])
        snprintf(buf, len, "bf16b:%s", r->tol);
    else
        snprintf(buf, len, "bf16b:abs=%.3g,rel=%.3g", r->abs, r->rel);
}

void dsv4_tol_format(const dsv4_tol *t, char *buf, size_t len) {
    if (t->kind == DSV4_TOL_PER_OUTPUT) {
        snprintf(buf, len, "per-output(%zu)", t->n_outputs);
        return;
    }
    dsv4_tol_rule r = top_rule(t);
    rule_format(&r, buf, len);
}

static void rule_json(const dsv4_tol_rule *r, dsv4_sbuf *b) {
    static const char *const kinds[] = {"exact", "abs_rel", "bf16_boundary"};
    dsv4_sbuf_puts(b, "{\"kind\":");
    dsv4_sbuf_json_string(b, kinds[r->kind <= DSV4_TOL_BF16_BOUNDARY ? r->kind : 0]);
    if (r->kind == DSV4_TOL_BF16_BOUNDARY && r->tol[0]) {
        dsv4_sbuf_puts(b, ",\"tol\":");
        dsv4_sbuf_json_string(b, r->tol);
    } else if (r->kind != DSV4_TOL_EXACT) {
        dsv4_sbuf_puts(b, ",\"abs\":");
        dsv4_sbuf_json_number(b, r->abs);
        dsv4_sbuf_puts(b, ",\"rel\":");
        dsv4_sbuf_json_number(b, r->rel);
    }
    if (r->kind == DSV4_TOL_BF16_BOUNDARY) {
        dsv4_sbuf_puts(b, ",\"ref\":");
        dsv4_sbuf_json_string(b, r->ref);
    }
    dsv4_sbuf_puts(b, "}");
}

void dsv4_tol_json(const dsv4_tol *t, dsv4_sbuf *b) {
    if (t->kind != DSV4_TOL_PER_OUTPUT) {
        dsv4_tol_rule r = top_rule(t);
        rule_json(&r, b);
        return;
    }
    dsv4_sbuf_puts(b, "{\"kind\":\"per_output\",\"outputs\":{");
    for (size_t i = 0; i < t->n_outputs; i++) {
        if (i) dsv4_sbuf_puts(b, ",");
        dsv4_sbuf_json_string(b, t->output[i]);
        dsv4_sbuf_puts(b, ":");
        rule_json(&t->rule[i], b);
    }
    dsv4_sbuf_puts(b, "}}");
}

void dsv4_shape_format(const dsv4_tensor *t, char *buf, size_t len) {
    size_t used = 0;
    int w = snprintf(buf, len, "[");
    for (int d = 0; d < t->rank && w >= 0 && (size_t)w < len - used; d++) {
        used += (size_t)w;
        w = snprintf(buf + used, len - used, "%s%zu", d ? ", " : "", t->shape[d]);
    }
    if (w >= 0 && (size_t)w < len - used) {
        used += (size_t)w;
        snprintf(buf + used, len - used, "]");
    }
}

/* One element, both as its raw bit pattern (for exact comparison and for
 * printing) and as a double (for error sizes). */
typedef struct elem {
    uint64_t bits;
    double value;
    int is_float; /* F32, F64, BF16: NaN/Inf rules apply */
} elem;

static elem load_elem(const dsv4_tensor *t, size_t i) {
    const unsigned char *p = (const unsigned char *)t->data;
    elem e = {0, 0.0, 0};
    switch (t->dtype) {
    case DSV4_DT_F32: {
        uint32_t u;
        memcpy(&u, p + 4 * i, 4);
        e.bits = u;
        e.value = dsv4_f32_from_bits(u);
        e.is_float = 1;
        break;
    }
    case DSV4_DT_F64: {
        double d;
        memcpy(&e.bits, p + 8 * i, 8);
        memcpy(&d, p + 8 * i, 8);
        e.value = d;
        e.is_float = 1;
        break;
    }
    case DSV4_DT_BF16: {
        uint16_t u;
        memcpy(&u, p + 2 * i, 2);
        e.bits = u;
        e.value = dsv4_f32_from_bits((uint32_t)u << 16);
        e.is_float = 1;
        break;
    }
    case DSV4_DT_U8:
        e.bits = p[i];
        e.value = p[i];
        break;
    case DSV4_DT_U16: {
        uint16_t u;
        memcpy(&u, p + 2 * i, 2);
        e.bits = u;
        e.value = u;
        break;
    }
    case DSV4_DT_I32: {
        int32_t v;
        memcpy(&v, p + 4 * i, 4);
        e.bits = (uint32_t)v;
        e.value = v;
        break;
    }
    default: break;
    }
    return e;
}

/* Values print the way a reader compares them: codes in hex, floats as a
 * number with their bit pattern (so -0 vs +0 and NaN payloads are visible). */
static void format_elem(dsv4_dtype dt, elem e, char *buf, size_t len) {
    switch (dt) {
    case DSV4_DT_F32: snprintf(buf, len, "%.9g (0x%08x)", e.value, (unsigned)e.bits); break;
    case DSV4_DT_F64:
        snprintf(buf, len, "%.17g (0x%016llx)", e.value, (unsigned long long)e.bits);
        break;
    case DSV4_DT_BF16: snprintf(buf, len, "%.4g (0x%04x)", e.value, (unsigned)e.bits); break;
    case DSV4_DT_U8: snprintf(buf, len, "0x%02x", (unsigned)e.bits); break;
    case DSV4_DT_U16: snprintf(buf, len, "0x%04x", (unsigned)e.bits); break;
    case DSV4_DT_I32: snprintf(buf, len, "%d", (int)(int32_t)(uint32_t)e.bits); break;
    default: snprintf(buf, len, "?"); break;
    }
}

/* |got - exp| with the float special cases: two NaNs or two equal
 * infinities are 0 apart; any other disagreement involving NaN or Inf is
 * infinitely far. */
static double elem_distance(elem g, elem x) {
    if (g.is_float) {
        int gn = isnan(g.value), xn = isnan(x.value);
        if (gn || xn) return (gn && xn) ? 0.0 : INFINITY;
        if (isinf(g.value) || isinf(x.value)) return (g.value == x.value) ? 0.0 : INFINITY;
    }
    return fabs(g.value - x.value);
}

/* x rounded to the nearest bf16 value, ties to even, overflow to +-Inf, in
 * double (exact: the rounding is a scaling by a power of two, rint in the
 * default round-to-nearest-even mode, and the scaling back). */
static double bf16_round(double x) {
    if (x == 0.0 || !isfinite(x)) return x;
    int e;
    (void)frexp(fabs(x), &e);     /* |x| = m * 2^e, m in [0.5, 1) */
    int q = e - 8;                /* 8 significant bits */
    if (q < -133) q = -133;       /* the subnormal spacing 2^-133 */
    double r = ldexp(rint(ldexp(fabs(x), -q)), q);
    if (r >= ldexp(1.0, 128)) r = INFINITY; /* past the largest bf16 */
    return copysign(r, x);
}

/* The spacing of bf16 values at |x| (finite x). */
static double bf16_ulp(double x) {
    int e;
    if (x == 0.0) return ldexp(1.0, -133);
    (void)frexp(fabs(x), &e);
    return ldexp(1.0, e - 8 < -133 ? -133 : e - 8);
}

/* Is the element a bf16 value?  (Always for BF16; F32 needs 16 zero low bits.) */
static int is_bf16_value(const dsv4_tensor *t, elem g) {
    return t->dtype == DSV4_DT_BF16 || (t->dtype == DSV4_DT_F32 && (g.bits & 0xFFFFu) == 0);
}

static float f32_at(const dsv4_tensor *t, size_t i) {
    uint32_t u;
    memcpy(&u, (const unsigned char *)t->data + 4 * i, 4);
    return dsv4_f32_from_bits(u);
}

/* bf16_boundary: got must be bf16(v) for some v within t of the exact
 * value e, i.e. bf16(e - t) <= got <= bf16(e + t). */
static int bf16_boundary_ok(const dsv4_tensor *got, elem g, elem x, const dsv4_tol_rule *r,
                            size_t i) {
    double e = f32_at(r->ref_t, i);
    if (isnan(e) || isnan(x.value) || isnan(g.value)) return isnan(g.value) && isnan(x.value);
    if (isinf(e)) return g.value == e;
    if (!is_bf16_value(got, g)) return 0;
    double t = r->tol_t ? fabs((double)f32_at(r->tol_t, i)) : r->abs + r->rel * fabs(e);
    return bf16_round(e - t) <= g.value && g.value <= bf16_round(e + t);
}

/* Does one element pass?  Exact: identical bits.  Integers stay exact under
 * every tolerance; floats follow the rule. */
static int elem_matches(const dsv4_tensor *got, elem g, elem x, double dist,
                        const dsv4_tol_rule *r, size_t i) {
    if (r->kind == DSV4_TOL_EXACT || !g.is_float) return g.bits == x.bits;
    if (r->kind == DSV4_TOL_BF16_BOUNDARY) return bf16_boundary_ok(got, g, x, r, i);
    if (isnan(x.value) || isnan(g.value)) return isnan(x.value) && isnan(g.value);
    if (isinf(x.value) || isinf(g.value)) return g.value == x.value;
    return dist <= r->abs + r->rel * fabs(x.value);
}

static int layout_equal(const dsv4_tensor *got, const dsv4_tensor *exp, dsv4_cmp *r) {
    char gs[96], es[96];
    if (got->dtype != exp->dtype) {
        snprintf(r->reason, sizeof r->reason, "dtype %s, expected %s",
                 dsv4_dtype_name(got->dtype), dsv4_dtype_name(exp->dtype));
        return 0;
    }
    int same = got->rank == exp->rank;
    for (int d = 0; same && d < got->rank; d++) same = got->shape[d] == exp->shape[d];
    if (!same || got->nbytes != exp->nbytes) {
        dsv4_shape_format(got, gs, sizeof gs);
        dsv4_shape_format(exp, es, sizeof es);
        snprintf(r->reason, sizeof r->reason, "shape %s, expected %s", gs, es);
        return 0;
    }
    if (dsv4_tensor_numel(exp) * dsv4_dtype_size(exp->dtype) != exp->nbytes) {
        snprintf(r->reason, sizeof r->reason, "byte size does not match shape");
        return 0;
    }
    return 1;
}

/* The rule that applies to output exp, checked against exp's size; 0 and a
 * reason in r->reason when there is none. */
static int pick_rule(const dsv4_tol *tol, const dsv4_tensor *exp, dsv4_tol_rule *rule,
                     dsv4_cmp *r) {
    if (tol->kind != DSV4_TOL_PER_OUTPUT) {
        *rule = top_rule(tol);
    } else {
        size_t i = 0;
        while (i < tol->n_outputs && strcmp(tol->output[i], exp->name ? exp->name : "") != 0) i++;
        if (i == tol->n_outputs) {
            snprintf(r->reason, sizeof r->reason, "no per_output tolerance for %s",
                     exp->name ? exp->name : "(unnamed)");
            return 0;
        }
        *rule = tol->rule[i];
    }
    if (rule->kind != DSV4_TOL_BF16_BOUNDARY) return 1;
    const dsv4_tensor *need[2] = {rule->ref_t, rule->tol_t};
    const char *names[2] = {rule->ref, rule->tol};
    for (int k = 0; k < 2; k++) {
        if (k == 1 && names[1][0] == '\0') continue;
        if (!need[k]) {
            snprintf(r->reason, sizeof r->reason, "bf16_boundary tensor %s is not bound", names[k]);
            return 0;
        }
        if (dsv4_tensor_numel(need[k]) != dsv4_tensor_numel(exp) ||
            need[k]->nbytes != 4 * dsv4_tensor_numel(exp)) {
            snprintf(r->reason, sizeof r->reason, "bf16_boundary tensor %s does not match the "
                     "output's size", names[k]);
            return 0;
        }
    }
    return 1;
}

/* Flat row-major index i of a tensor of `shape` as "[c0, c1, ...]". */
static void format_coords(const dsv4_tensor *t, size_t i, char *buf, size_t len) {
    size_t c[DSV4_MAX_RANK];
    for (int d = t->rank - 1; d >= 0; d--) {
        c[d] = t->shape[d] ? i % t->shape[d] : 0;
        i = t->shape[d] ? i / t->shape[d] : 0;
    }
    size_t n = (size_t)snprintf(buf, len, "[");
    for (int d = 0; d < t->rank && n < len; d++)
        n += (size_t)snprintf(buf + n, len - n, d ? ", %zu" : "%zu", c[d]);
    if (n < len) snprintf(buf + n, len - n, "]");
}

void dsv4_compare(const dsv4_tensor *got, const dsv4_tensor *exp, const dsv4_tol *tol,
                  dsv4_cmp *r) {
    dsv4_tol_rule rule;
    memset(r, 0, sizeof *r);
    r->layout_ok = layout_equal(got, exp, r) && pick_rule(tol, exp, &rule, r);
    if (!r->layout_ok) return;
    r->n = dsv4_tensor_numel(exp);
    for (size_t i = 0; i < r->n; i++) {
        elem g = load_elem(got, i), x = load_elem(exp, i);
        double dist = elem_distance(g, x);
        if (dist > r->max_abs || isnan(dist)) r->max_abs = dist;
        if (x.value != 0.0 && isfinite(x.value)) {
            double rel = dist / fabs(x.value);
            if (rel > r->max_rel) r->max_rel = rel;
        }
        if (rule.kind == DSV4_TOL_BF16_BOUNDARY && x.is_float && isfinite(x.value)) {
            double ulps = dist / bf16_ulp(x.value);
            if (ulps > r->max_ulps || isnan(ulps)) r->max_ulps = ulps;
        }
        if (elem_matches(got, g, x, dist, &rule, i)) continue;
        if (r->mismatches++ == 0) {
            r->first_index = i;
            format_coords(exp, i, r->first_at, sizeof r->first_at);
            format_elem(exp->dtype, g, r->first_got, sizeof r->first_got);
            format_elem(exp->dtype, x, r->first_exp, sizeof r->first_exp);
        }
    }
}

int dsv4_cmp_passed(const dsv4_cmp *r) { return r->layout_ok && r->mismatches == 0; }

int dsv4_tensor_identical(const dsv4_tensor *a, const dsv4_tensor *b) {
    dsv4_cmp r;
    memset(&r, 0, sizeof r);
    if (!layout_equal(a, b, &r)) return 0;
    return a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0;
}
