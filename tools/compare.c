/* compare.c - tensor comparison under a stage tolerance (compare.h). */
#include "compare.h"

#include "internal.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

dsv4_status dsv4_tol_parse(const dsv4_json *j, dsv4_tol *t, char *err, size_t errlen) {
    const dsv4_json *kind = dsv4_json_get(j, "kind");
    if (!kind || kind->type != DSV4_JSON_STRING) {
        snprintf(err, errlen, "tolerance needs a string \"kind\"");
        return DSV4_E_FORMAT;
    }
    if (strcmp(kind->string, "exact") == 0) {
        t->kind = DSV4_TOL_EXACT;
        t->abs = t->rel = 0.0;
        return DSV4_OK;
    }
    if (strcmp(kind->string, "abs_rel") == 0) {
        const dsv4_json *a = dsv4_json_get(j, "abs"), *r = dsv4_json_get(j, "rel");
        if (!a || !r || a->type != DSV4_JSON_NUMBER || r->type != DSV4_JSON_NUMBER ||
            !(a->number >= 0.0) || !(r->number >= 0.0) || isinf(a->number) ||
            isinf(r->number)) {
            snprintf(err, errlen, "abs_rel tolerance needs finite numbers abs >= 0 and rel >= 0");
            return DSV4_E_FORMAT;
        }
        t->kind = DSV4_TOL_ABS_REL;
        t->abs = a->number;
        t->rel = r->number;
        return DSV4_OK;
    }
    snprintf(err, errlen, "unknown tolerance kind \"%s\" (exact, abs_rel)", kind->string);
    return DSV4_E_FORMAT;
}

void dsv4_tol_format(const dsv4_tol *t, char *buf, size_t len) {
    if (t->kind == DSV4_TOL_EXACT)
        snprintf(buf, len, "exact");
    else
        snprintf(buf, len, "abs=%.3g,rel=%.3g", t->abs, t->rel);
}

void dsv4_tol_json(const dsv4_tol *t, dsv4_sbuf *b) {
    if (t->kind == DSV4_TOL_EXACT) {
        dsv4_sbuf_puts(b, "{\"kind\":\"exact\"}");
        return;
    }
    dsv4_sbuf_puts(b, "{\"kind\":\"abs_rel\",\"abs\":");
    dsv4_sbuf_json_number(b, t->abs);
    dsv4_sbuf_puts(b, ",\"rel\":");
    dsv4_sbuf_json_number(b, t->rel);
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

/* Does one element pass?  Exact: identical bits.  abs_rel on a float dtype:
 * the distance bound; integers stay exact under every tolerance. */
static int elem_matches(elem g, elem x, double dist, const dsv4_tol *tol) {
    if (tol->kind == DSV4_TOL_EXACT || !g.is_float) return g.bits == x.bits;
    if (isnan(x.value) || isnan(g.value)) return isnan(x.value) && isnan(g.value);
    if (isinf(x.value) || isinf(g.value)) return g.value == x.value;
    return dist <= tol->abs + tol->rel * fabs(x.value);
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

void dsv4_compare(const dsv4_tensor *got, const dsv4_tensor *exp, const dsv4_tol *tol,
                  dsv4_cmp *r) {
    memset(r, 0, sizeof *r);
    r->layout_ok = layout_equal(got, exp, r);
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
        if (elem_matches(g, x, dist, tol)) continue;
        if (r->mismatches++ == 0) {
            r->first_index = i;
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
