/* shape.c - the symbols of a call and the symbolic shapes of the registry's
 * declarations (registry.h): "T,hc,d", "(2+hc)*hc", "rows/block_rows".
 *
 * Grammar of one dimension (spaces allowed anywhere):
 *     expr   = term { ("+" | "-") term }
 *     term   = factor { ("*" | "/") factor }
 *     factor = integer | name | "(" expr ")"
 * Values are unsigned 64-bit; overflow, a negative difference, division by
 * zero and a division that leaves a remainder are errors, so a shape either
 * evaluates exactly or says why not. */
#include "registry.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- bindings ----------------------------------------------------------------- */
static dsv4_sym *find_sym(const dsv4_binding *b, const char *name, size_t len) {
    for (size_t i = 0; i < b->n; i++)
        if (strlen(b->syms[i].name) == len && memcmp(b->syms[i].name, name, len) == 0)
            return &b->syms[i];
    return NULL;
}

static dsv4_status set_sym(dsv4_binding *b, const char *name, uint64_t value, int is_dtype) {
    dsv4_sym *s = find_sym(b, name, strlen(name));
    if (!s) {
        if (b->n == b->cap) {
            size_t cap = b->cap ? 2 * b->cap : 16;
            dsv4_sym *p = realloc(b->syms, cap * sizeof *p);
            if (!p) return DSV4_E_NOMEM;
            b->syms = p;
            b->cap = cap;
        }
        size_t len = strlen(name) + 1;
        char *copy = malloc(len);
        if (!copy) return DSV4_E_NOMEM;
        memcpy(copy, name, len);
        s = &b->syms[b->n++];
        s->name = copy;
    }
    s->value = value;
    s->is_dtype = is_dtype;
    return DSV4_OK;
}

dsv4_status dsv4_bind_set(dsv4_binding *b, const char *name, uint64_t value) {
    return set_sym(b, name, value, 0);
}

dsv4_status dsv4_bind_set_dtype(dsv4_binding *b, const char *name, dsv4_dtype dt) {
    return set_sym(b, name, (uint64_t)dt, 1);
}

int dsv4_bind_get(const dsv4_binding *b, const char *name, uint64_t *value) {
    const dsv4_sym *s = find_sym(b, name, strlen(name));
    if (!s || s->is_dtype) return 0;
    *value = s->value;
    return 1;
}

dsv4_status dsv4_bind_copy(dsv4_binding *dst, const dsv4_binding *src) {
    for (size_t i = 0; i < src->n; i++) {
        dsv4_status st = set_sym(dst, src->syms[i].name, src->syms[i].value, src->syms[i].is_dtype);
        if (st != DSV4_OK) return st;
    }
    return DSV4_OK;
}

void dsv4_bind_free(dsv4_binding *b) {
    for (size_t i = 0; i < b->n; i++) free(b->syms[i].name);
    free(b->syms);
    b->syms = NULL;
    b->n = b->cap = 0;
}

dsv4_status dsv4_dtype_resolve(const char *dtype, const dsv4_binding *b, dsv4_dtype *out) {
    for (int d = 0; d < DSV4_DT_COUNT; d++)
        if (strcmp(dtype, dsv4_dtype_name((dsv4_dtype)d)) == 0) {
            *out = (dsv4_dtype)d;
            return DSV4_OK;
        }
    const dsv4_sym *s = b ? find_sym(b, dtype, strlen(dtype)) : NULL;
    if (!s || !s->is_dtype) return DSV4_E_NOTFOUND;
    *out = (dsv4_dtype)s->value;
    return DSV4_OK;
}

/* ---- expressions ------------------------------------------------------------------ */
typedef struct parser {
    const char *p, *end;          /* the dimension's text */
    const dsv4_binding *b;
    char *err;
    size_t errlen;
    int failed;
} parser;

static void skip_space(parser *ps) {
    while (ps->p < ps->end && isspace((unsigned char)*ps->p)) ps->p++;
}

static uint64_t fail(parser *ps, const char *fmt, const char *a, size_t alen) {
    if (!ps->failed) snprintf(ps->err, ps->errlen, fmt, (int)alen, a);
    ps->failed = 1;
    return 0;
}

static uint64_t parse_expr(parser *ps);

static uint64_t parse_factor(parser *ps) {
    skip_space(ps);
    if (ps->p >= ps->end) return fail(ps, "shape: missing operand%.*s", "", 0);
    if (*ps->p == '(') {
        ps->p++;
        uint64_t v = parse_expr(ps);
        skip_space(ps);
        if (ps->p >= ps->end || *ps->p != ')') return fail(ps, "shape: missing ')'%.*s", "", 0);
        ps->p++;
        return v;
    }
    if (isdigit((unsigned char)*ps->p)) {
        uint64_t v = 0;
        const char *start = ps->p;
        while (ps->p < ps->end && isdigit((unsigned char)*ps->p)) {
            unsigned d = (unsigned)(*ps->p++ - '0');
            if (v > (UINT64_MAX - d) / 10) return fail(ps, "shape: number %.*s too large", start, (size_t)(ps->p - start));
            v = 10 * v + d;
        }
        return v;
    }
    if (isalpha((unsigned char)*ps->p) || *ps->p == '_') {
        const char *start = ps->p;
        while (ps->p < ps->end && (isalnum((unsigned char)*ps->p) || *ps->p == '_')) ps->p++;
        const dsv4_sym *s = find_sym(ps->b, start, (size_t)(ps->p - start));
        if (!s || s->is_dtype)
            return fail(ps, "shape: symbol %.*s is not bound", start, (size_t)(ps->p - start));
        return s->value;
    }
    return fail(ps, "shape: unexpected '%.*s'", ps->p, 1);
}

static uint64_t parse_term(parser *ps) {
    uint64_t v = parse_factor(ps);
    for (;;) {
        skip_space(ps);
        if (ps->failed || ps->p >= ps->end || (*ps->p != '*' && *ps->p != '/')) return v;
        char op = *ps->p++;
        const char *rhs = ps->p;
        uint64_t w = parse_factor(ps);
        if (ps->failed) return 0;
        if (op == '*') {
            if (w != 0 && v > UINT64_MAX / w) return fail(ps, "shape: %.*s overflows", rhs - 1, 1);
            v *= w;
        } else {
            if (w == 0 || v % w != 0) {
                char msg[160];
                snprintf(msg, sizeof msg, "%llu is not a multiple of %llu (%%.*s)",
                         (unsigned long long)v, (unsigned long long)w);
                return fail(ps, msg, rhs, (size_t)(ps->p - rhs));
            }
            v /= w;
        }
    }
}

static uint64_t parse_expr(parser *ps) {
    uint64_t v = parse_term(ps);
    for (;;) {
        skip_space(ps);
        if (ps->failed || ps->p >= ps->end || (*ps->p != '+' && *ps->p != '-')) return v;
        char op = *ps->p++;
        uint64_t w = parse_term(ps);
        if (ps->failed) return 0;
        if (op == '+' ? v > UINT64_MAX - w : w > v)
            return fail(ps, "shape: %.*s leaves the unsigned 64-bit range", op == '+' ? "+" : "-", 1);
        v = op == '+' ? v + w : v - w;
    }
}

/* Evaluate dimension text [p, end) into *v. */
static dsv4_status eval_dim(const char *p, const char *end, const dsv4_binding *b, uint64_t *v,
                            char *err, size_t errlen) {
    parser ps = {p, end, b, err, errlen, 0};
    *v = parse_expr(&ps);
    skip_space(&ps);
    if (!ps.failed && ps.p != ps.end) fail(&ps, "shape: unexpected '%.*s'", ps.p, 1);
    return ps.failed ? DSV4_E_DTYPE : DSV4_OK;
}

/* The end of the dimension starting at p: the next ',' outside parentheses. */
static const char *dim_end(const char *p) {
    int depth = 0;
    for (; *p; p++) {
        if (*p == '(') depth++;
        else if (*p == ')') depth--;
        else if (*p == ',' && depth == 0) break;
    }
    return p;
}

/* 1 when [p, end) is one name, possibly with spaces around it. */
static int lone_name(const char *p, const char *end, const char **name, size_t *len) {
    while (p < end && isspace((unsigned char)*p)) p++;
    while (end > p && isspace((unsigned char)end[-1])) end--;
    if (p == end || !(isalpha((unsigned char)*p) || *p == '_')) return 0;
    for (const char *q = p; q < end; q++)
        if (!isalnum((unsigned char)*q) && *q != '_') return 0;
    *name = p;
    *len = (size_t)(end - p);
    return 1;
}

static int blank(const char *s) {
    while (*s && isspace((unsigned char)*s)) s++;
    return *s == '\0';
}

dsv4_status dsv4_shape_eval(const char *shape, const dsv4_binding *b, size_t *dims, int *rank,
                            char *err, size_t errlen) {
    *rank = 0;
    if (blank(shape)) return DSV4_OK;
    for (const char *p = shape;; p++) {
        const char *end = dim_end(p);
        uint64_t v;
        if (*rank == DSV4_MAX_RANK) {
            snprintf(err, errlen, "shape \"%s\": more than %d dimensions", shape, DSV4_MAX_RANK);
            return DSV4_E_FORMAT;
        }
        dsv4_status st = eval_dim(p, end, b, &v, err, errlen);
        if (st != DSV4_OK) return st;
        if (v > SIZE_MAX) {
            snprintf(err, errlen, "shape \"%s\": a dimension exceeds size_t", shape);
            return DSV4_E_OVERFLOW;
        }
        dims[(*rank)++] = (size_t)v;
        if (*end == '\0') return DSV4_OK;
        p = end;
    }
}

dsv4_status dsv4_shape_bind(const char *dtype, const char *shape, const dsv4_tensor *t,
                            dsv4_binding *b, char *err, size_t errlen) {
    dsv4_dtype want;
    char why[200];
    if (dsv4_dtype_resolve(dtype, b, &want) != DSV4_OK) {
        snprintf(err, errlen, "internal: tensor %s is declared with unknown dtype %s", t->name, dtype);
        return DSV4_E_FORMAT;
    }
    if (t->dtype != want) {
        snprintf(err, errlen, "tensor %s is %s, expected %s", t->name, dsv4_dtype_name(t->dtype),
                 dsv4_dtype_name(want));
        return DSV4_E_DTYPE;
    }
    int want_rank = 0;
    if (!blank(shape))
        for (const char *p = shape;; p++) {
            want_rank++;
            if (*(p = dim_end(p)) == '\0') break;
        }
    if (t->rank != want_rank) {
        snprintf(err, errlen, "tensor %s has rank %d, expected %d [%s]", t->name, t->rank,
                 want_rank, shape);
        return DSV4_E_DTYPE;
    }
    const char *p = shape;
    for (int d = 0; d < want_rank; d++, p++) {
        const char *end = dim_end(p), *name;
        size_t len;
        uint64_t v;
        while (p < end && isspace((unsigned char)*p)) p++; /* for the messages */
        if (lone_name(p, end, &name, &len) && !find_sym(b, name, len)) {
            char sym[64];
            snprintf(sym, sizeof sym, "%.*s", (int)len, name);
            if (dsv4_bind_set(b, sym, t->shape[d]) != DSV4_OK) return DSV4_E_NOMEM;
        } else if (eval_dim(p, end, b, &v, why, sizeof why) != DSV4_OK) {
            snprintf(err, errlen, "tensor %s, dimension %d (%.*s): %s", t->name, d,
                     (int)(end - p), p, why);
            return DSV4_E_DTYPE;
        } else if (v != t->shape[d]) {
            snprintf(err, errlen, "tensor %s: dimension %d is %zu, expected %.*s = %llu", t->name,
                     d, t->shape[d], (int)(end - p), p, (unsigned long long)v);
            return DSV4_E_DTYPE;
        }
        p = end;
    }
    return DSV4_OK;
}
