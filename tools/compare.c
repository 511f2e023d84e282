/* compare.c - tensor comparison under an output's tolerance rule (compare.h). */
#include "compare.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* fp32 bits -> value (compare.c is built into the oracle too, which sees
 * no ref/ header). */
static float f32_from_bits(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

static char *dup_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* A tensor-name member of a rule, copied into *out (NULL when absent and
 * not required). */
static dsv4_status rule_name(const dsv4_json *j, const char *kind, const char *key, int required,
                             char **out, char *err, size_t errlen) {
    const dsv4_json *v = dsv4_json_get(j, key);
    if (!v && !required) return DSV4_OK;
    if (!v || v->type != DSV4_JSON_STRING || v->len == 0) {
        snprintf(err, errlen, "%s tolerance needs \"%s\": a tensor name", kind, key);
        return DSV4_E_FORMAT;
    }
    *out = dup_string(v->string);
    return *out ? DSV4_OK : DSV4_E_NOMEM;
}

/* abs and rel members: finite numbers >= 0. */
static dsv4_status rule_numbers(const dsv4_json *j, dsv4_tol_rule *r, char *err, size_t errlen) {
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

static const char *const tie_names[] = {"lower_index", "unspecified"};

static dsv4_status rule_ties(const dsv4_json *j, dsv4_tol_rule *r, char *err, size_t errlen) {
    const dsv4_json *v = dsv4_json_get(j, "ties");
    for (int i = 0; v && v->type == DSV4_JSON_STRING && i < 2; i++)
        if (strcmp(v->string, tie_names[i]) == 0) {
            r->ties = (dsv4_ties)i;
            return DSV4_OK;
        }
    snprintf(err, errlen, "topk tolerance needs \"ties\": \"lower_index\" or \"unspecified\"");
    return DSV4_E_FORMAT;
}

dsv4_status dsv4_tol_parse(const dsv4_json *j, dsv4_tol_rule *r, char *err, size_t errlen) {
    const dsv4_json *kind = j ? dsv4_json_get(j, "kind") : NULL;
    dsv4_status st = DSV4_OK;
    memset(r, 0, sizeof *r);
    if (!kind || kind->type != DSV4_JSON_STRING) {
        snprintf(err, errlen, "tolerance needs a string \"kind\"");
        return DSV4_E_FORMAT;
    }
    if (strcmp(kind->string, "exact") == 0) {
        r->kind = DSV4_TOL_EXACT;
    } else if (strcmp(kind->string, "abs_rel") == 0) {
        r->kind = DSV4_TOL_ABS_REL;
        st = rule_numbers(j, r, err, errlen);
    } else if (strcmp(kind->string, "bf16_boundary") == 0) {
        r->kind = DSV4_TOL_BF16_BOUNDARY;
        st = rule_name(j, "bf16_boundary", "ref", 1, &r->ref, err, errlen);
        if (st == DSV4_OK) st = rule_name(j, "bf16_boundary", "tol", 0, &r->tol, err, errlen);
        /* either a tolerance tensor or abs/rel numbers */
        if (st == DSV4_OK && !r->tol) st = rule_numbers(j, r, err, errlen);
    } else if (strcmp(kind->string, "topk") == 0) {
        r->kind = DSV4_TOL_TOPK;
        st = rule_name(j, "topk", "scores", 1, &r->scores, err, errlen);
        if (st == DSV4_OK) st = rule_ties(j, r, err, errlen);
        const dsv4_json *off = dsv4_json_get(j, "offset");
        if (st == DSV4_OK && off) {
            if (off->type != DSV4_JSON_NUMBER || !off->is_uint || off->u > (uint64_t)INT32_MAX) {
                snprintf(err, errlen, "topk tolerance: \"offset\" must be an integer in "
                         "[0, 2^31)");
                st = DSV4_E_FORMAT;
            } else {
                r->offset = (size_t)off->u;
            }
        }
    } else {
        snprintf(err, errlen,
                 "unknown tolerance kind \"%s\" (exact, abs_rel, bf16_boundary, topk)",
                 kind->string);
        return DSV4_E_FORMAT;
    }
    if (st == DSV4_E_NOMEM) snprintf(err, errlen, "%s", dsv4_strerror(st));
    if (st != DSV4_OK) dsv4_tol_free(r);
    return st;
}

void dsv4_tol_free(dsv4_tol_rule *r) {
    free(r->ref);
    free(r->tol);
    free(r->scores);
    r->ref = r->tol = r->scores = NULL;
}

/* Resolve one tensor name of a rule in gold. */
static dsv4_status bind_tensor(const dsv4_st *gold, const char *prefix, const char *name,
                               const dsv4_tensor **out, char *err, size_t errlen) {
    char full[512];
    *out = NULL;
    if (!name) return DSV4_OK;
    snprintf(full, sizeof full, "%s%s", prefix, name);
    const dsv4_tensor *t = dsv4_st_find(gold, full);
    if (!t || t->dtype != DSV4_DT_F32) {
        snprintf(err, errlen, "tolerance names tensor %s, which the file %s", full,
                 t ? "holds with a dtype other than F32" : "lacks");
        return DSV4_E_NOTFOUND;
    }
    *out = t;
    return DSV4_OK;
}

dsv4_status dsv4_tol_bind(dsv4_tol_rule *r, const dsv4_st *gold, const char *prefix, char *err,
                          size_t errlen) {
    dsv4_status st = bind_tensor(gold, prefix, r->ref, &r->ref_t, err, errlen);
    if (st == DSV4_OK) st = bind_tensor(gold, prefix, r->tol, &r->tol_t, err, errlen);
    if (st == DSV4_OK) st = bind_tensor(gold, prefix, r->scores, &r->scores_t, err, errlen);
    return st;
}

void dsv4_tol_format(const dsv4_tol_rule *r, char *buf, size_t len) {
    switch (r->kind) {
    case DSV4_TOL_EXACT: snprintf(buf, len, "exact"); break;
    case DSV4_TOL_ABS_REL: snprintf(buf, len, "abs=%.3g,rel=%.3g", r->abs, r->rel); break;
    case DSV4_TOL_BF16_BOUNDARY:
        if (r->tol)
            snprintf(buf, len, "bf16b:%s", r->tol);
        else
            snprintf(buf, len, "bf16b:abs=%.3g,rel=%.3g", r->abs, r->rel);
        break;
    case DSV4_TOL_TOPK:
        snprintf(buf, len, "topk:%s%s", r->ties == DSV4_TIES_UNSPECIFIED ? "ties-unspecified"
                                                                         : "lower_index",
                 r->offset ? "+off" : "");
        break;
    }
}

void dsv4_tol_json(const dsv4_tol_rule *r, dsv4_sbuf *b) {
    static const char *const kinds[] = {"exact", "abs_rel", "bf16_boundary", "topk"};
    dsv4_sbuf_puts(b, "{\"kind\":");
    dsv4_sbuf_json_string(b, kinds[r->kind <= DSV4_TOL_TOPK ? r->kind : 0]);
    if (r->kind == DSV4_TOL_TOPK) {
        dsv4_sbuf_puts(b, ",\"scores\":");
        dsv4_sbuf_json_string(b, r->scores ? r->scores : "");
        dsv4_sbuf_puts(b, ",\"ties\":");
        dsv4_sbuf_json_string(b, tie_names[r->ties == DSV4_TIES_UNSPECIFIED]);
        if (r->offset) dsv4_sbuf_printf(b, ",\"offset\":%zu", r->offset);
    } else if (r->kind == DSV4_TOL_BF16_BOUNDARY && r->tol) {
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
        dsv4_sbuf_json_string(b, r->ref ? r->ref : "");
    }
    dsv4_sbuf_puts(b, "}");
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
        e.value = f32_from_bits(u);
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
        e.value = f32_from_bits((uint32_t)u << 16);
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
    return f32_from_bits(u);
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

/* Can rule r judge exp?  The tensors it names must be bound and fit exp;
 * 0 and a reason in c->reason when not. */
static int rule_fits(const dsv4_tol_rule *r, const dsv4_tensor *exp, dsv4_cmp *c) {
    if (r->kind == DSV4_TOL_TOPK) {
        const dsv4_tensor *s = r->scores_t;
        int ok = s && exp->dtype == DSV4_DT_I32 && exp->rank >= 1 && s->rank == exp->rank;
        for (int d = 0; ok && d + 1 < exp->rank; d++) ok = s->shape[d] == exp->shape[d];
        if (!ok)
            snprintf(c->reason, sizeof c->reason,
                     "topk needs I32 indices and a bound scores tensor %s with the same "
                     "leading dimensions", r->scores ? r->scores : "(unnamed)");
        return ok;
    }
    if (r->kind != DSV4_TOL_BF16_BOUNDARY) return 1;
    const dsv4_tensor *need[2] = {r->ref_t, r->tol_t};
    const char *names[2] = {r->ref, r->tol};
    for (int k = 0; k < 2; k++) {
        if (k == 1 && !names[1]) continue;
        if (!need[k]) {
            snprintf(c->reason, sizeof c->reason, "bf16_boundary tensor %s is not bound",
                     names[k] ? names[k] : "(unnamed)");
            return 0;
        }
        if (dsv4_tensor_numel(need[k]) != dsv4_tensor_numel(exp) ||
            need[k]->nbytes != 4 * dsv4_tensor_numel(exp)) {
            snprintf(c->reason, sizeof c->reason, "bf16_boundary tensor %s does not match the "
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

static void note_mismatch(const dsv4_tensor *exp, size_t i, elem g, elem x, dsv4_cmp *c) {
    if (c->mismatches++ != 0) return;
    c->first_index = i;
    format_coords(exp, i, c->first_at, sizeof c->first_at);
    format_elem(exp->dtype, g, c->first_got, sizeof c->first_got);
    format_elem(exp->dtype, x, c->first_exp, sizeof c->first_exp);
}

static int32_t i32_at(const dsv4_tensor *t, size_t i) {
    int32_t v;
    memcpy(&v, (const unsigned char *)t->data + 4 * i, 4);
    return v;
}

/* topk with ties unspecified, row by row (compare.h).  max_abs is the
 * largest difference between the scores of the candidate's entries and of
 * the golden ones (Inf where an entry is invalid). */
static void compare_topk_ties(const dsv4_tensor *got, const dsv4_tensor *exp,
                              const dsv4_tol_rule *r, dsv4_cmp *c) {
    const dsv4_tensor *sc = r->scores_t;
    size_t k = exp->shape[exp->rank - 1], n = sc->shape[sc->rank - 1];
    size_t rows = k ? c->n / k : 0;
    size_t *seen = calloc(n ? n : 1, sizeof *seen); /* [n] last row (1-based) using an entry */
    if (!seen) {
        c->layout_ok = 0;
        snprintf(c->reason, sizeof c->reason, "out of memory");
        return;
    }
    for (size_t row = 0; row < rows; row++) {
        size_t bad_before = c->mismatches;
        int differs = 0;
        for (size_t p = 0; p < k; p++) {
            size_t i = row * k + p;
            int32_t gi = i32_at(got, i), xi = i32_at(exp, i);
            /* score columns: the index less the offset (-1 and below stay invalid) */
            int64_t gc = gi < 0 ? -1 : (int64_t)gi - (int64_t)r->offset;
            int64_t xc = xi < 0 ? -1 : (int64_t)xi - (int64_t)r->offset;
            differs |= gi != xi;
            int ok;
            if (xi < 0) {
                ok = gi == xi;
            } else {
                ok = gc >= 0 && (size_t)gc < n && seen[gc] != row + 1;
                if (ok) {
                    seen[gc] = row + 1;
                    double sg = f32_at(sc, row * n + (size_t)gc);
                    double sx = xc >= 0 && (size_t)xc < n ? f32_at(sc, row * n + (size_t)xc) : NAN;
                    /* NaN scores rank together (spec/golden.md §5) */
                    int both_nan = isnan(sg) && isnan(sx) && xc >= 0 && (size_t)xc < n;
                    ok = sg == sx || both_nan;
                    double d = both_nan ? 0.0 : fabs(sg - sx);
                    if (!(d <= c->max_abs)) c->max_abs = isnan(d) ? INFINITY : d;
                }
            }
            if (!ok) {
                if (xi >= 0 || gi >= 0) c->max_abs = INFINITY;
                note_mismatch(exp, i, load_elem(got, i), load_elem(exp, i), c);
            }
        }
        if (differs && c->mismatches == bad_before) c->tie_rows++;
    }
    free(seen);
}

void dsv4_compare(const dsv4_tensor *got, const dsv4_tensor *exp, const dsv4_tol_rule *rule,
                  dsv4_cmp *r) {
    memset(r, 0, sizeof *r);
    r->layout_ok = layout_equal(got, exp, r) && rule_fits(rule, exp, r);
    if (!r->layout_ok) return;
    r->n = dsv4_tensor_numel(exp);
    if (rule->kind == DSV4_TOL_TOPK && rule->ties == DSV4_TIES_UNSPECIFIED) {
        compare_topk_ties(got, exp, rule, r);
        return;
    }
    for (size_t i = 0; i < r->n; i++) {
        elem g = load_elem(got, i), x = load_elem(exp, i);
        double dist = elem_distance(g, x);
        if (dist > r->max_abs || isnan(dist)) r->max_abs = dist;
        if (x.value != 0.0 && isfinite(x.value)) {
            double rel = dist / fabs(x.value);
            if (rel > r->max_rel) r->max_rel = rel;
        }
        if (rule->kind == DSV4_TOL_BF16_BOUNDARY && x.is_float && isfinite(x.value)) {
            double ulps = dist / bf16_ulp(x.value);
            if (ulps > r->max_ulps || isnan(ulps)) r->max_ulps = ulps;
        }
        if (!elem_matches(got, g, x, dist, rule, i)) note_mismatch(exp, i, g, x, r);
    }
}

int dsv4_cmp_passed(const dsv4_cmp *r) { return r->layout_ok && r->mismatches == 0; }

int dsv4_tensor_identical(const dsv4_tensor *a, const dsv4_tensor *b) {
    dsv4_cmp r;
    memset(&r, 0, sizeof r);
    if (!layout_equal(a, b, &r)) return 0;
    return a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0;
}
