/* rope.c - the exact RoPE stages of the oracle (spec/rope.md).
 *
 * The table is a chain of fp32 operations (R1-R5, Y1-Y6): each is done
 * exactly in MPFR on the exact fp32 operands and rounded once to fp32, so
 * the oracle's frequencies and angles are the spec's bit for bit.  B^e, the
 * logarithms of YaRN's correction dimensions and the cosine and sine are
 * computed at OX_PREC bits and rounded once.  The rotation is exact from
 * the stored (rounded) table, then rounded once to bf16 and once to fp32
 * (its reference value). */
#include "rope.h"

#include <stdio.h>
#include <stdlib.h>

/* fp32 bits of the rounding of a * b, a + b, a - b, a / b (fp32 operands). */
enum { OP_MUL, OP_ADD, OP_SUB, OP_DIV };
static uint32_t f32_op(int op, uint32_t a, uint32_t b) {
    mpfr_t x, y;
    mpfr_inits(x, y, (mpfr_ptr)0);
    ox_set_f32_bits(x, a);
    ox_set_f32_bits(y, b);
    switch (op) {
    case OP_MUL: mpfr_mul(x, x, y, MPFR_RNDN); break; /* exact at OX_PREC */
    case OP_ADD: mpfr_add(x, x, y, MPFR_RNDN); break; /* exact for fp32 operands */
    case OP_SUB: mpfr_sub(x, x, y, MPFR_RNDN); break;
    default: mpfr_div(x, x, y, MPFR_RNDN); break;     /* never an fp32 midpoint */
    }
    uint32_t r = ox_round_f32(x);
    mpfr_clears(x, y, (mpfr_ptr)0);
    return r;
}

/* fp32 bits of an integer or a double, rounded once. */
static uint32_t f32_of_long(long v) {
    mpfr_t x;
    mpfr_init(x);
    mpfr_set_si(x, v, MPFR_RNDN);
    uint32_t r = ox_round_f32(x);
    mpfr_clear(x);
    return r;
}

#define F32_ONE 0x3F800000u
#define F32_ZERO 0x00000000u

/* ---- (R1)-(R3) ------------------------------------------------------------------- */
/* 0 when v (> 0, finite) is at least 2^-40 |v| away from every midpoint
 * between two fp32 values. */
static int has_margin(const mpfr_t v) {
    uint32_t p = ox_round_f32(v);
    mpfr_t m, d, lim;
    mpfr_inits(m, d, lim, (mpfr_ptr)0);
    mpfr_mul_2si(lim, v, -40, MPFR_RNDN);
    int ok = 1;
    for (int side = 0; side < 2; side++) {
        ox_set_f32_bits(m, side ? ox_f32_nextup(p) : ox_f32_nextdown(p));
        ox_set_f32_bits(d, p);
        mpfr_add(m, m, d, MPFR_RNDN);
        mpfr_div_2ui(m, m, 1, MPFR_RNDN); /* the midpoint, exact */
        mpfr_sub(d, v, m, MPFR_RNDN);
        if (mpfr_cmpabs(d, lim) < 0) ok = 0;
    }
    mpfr_clears(m, d, lim, (mpfr_ptr)0);
    return ok;
}

static int base_frequencies(const or_cfg *c, uint32_t *f, char *err, size_t errlen) {
    uint32_t inv_dim = f32_op(OP_DIV, F32_ONE, f32_of_long((long)c->rope_dim));
    mpfr_t B, e, p;
    mpfr_inits(B, e, p, (mpfr_ptr)0);
    mpfr_set_d(B, c->base, MPFR_RNDN);
    ox_set_f32_bits(B, ox_round_f32(B)); /* B = fp32(base) */
    int rc = 0;
    for (size_t i = 0; i < c->rope_dim / 2; i++) {
        uint32_t ei = f32_op(OP_MUL, f32_of_long((long)(2 * i)), inv_dim); /* (R1) */
        ox_set_f32_bits(e, ei);
        mpfr_pow(p, B, e, MPFR_RNDN);                                       /* (R2) */
        if (!has_margin(p)) {
            snprintf(err, errlen, "B^e of frequency %zu lies within 2^-40 of an fp32 midpoint", i);
            rc = -1;
        }
        f[i] = f32_op(OP_DIV, F32_ONE, ox_round_f32(p));                    /* (R3) */
    }
    mpfr_clears(B, e, p, (mpfr_ptr)0);
    return rc;
}

/* ---- (Y1)-(Y6) ------------------------------------------------------------------- */
#define CORR_LIMIT 1048576L

/* (Y1) corr(beta) = rope_dim ln(L / (2 pi beta)) / (2 ln base), exact, into v. */
static void correction_dim(const or_cfg *c, double beta, mpfr_t v) {
    mpfr_t t, u;
    mpfr_inits(t, u, (mpfr_ptr)0);
    mpfr_const_pi(t, MPFR_RNDN);
    mpfr_mul_2ui(t, t, 1, MPFR_RNDN);
    mpfr_mul_d(t, t, beta, MPFR_RNDN);
    mpfr_set_uj(v, c->original_seq_len, MPFR_RNDN);
    mpfr_div(v, v, t, MPFR_RNDN);
    mpfr_log(v, v, MPFR_RNDN);
    mpfr_mul_ui(v, v, (unsigned long)c->rope_dim, MPFR_RNDN);
    mpfr_set_d(u, c->base, MPFR_RNDN);
    mpfr_log(u, u, MPFR_RNDN);
    mpfr_mul_2ui(u, u, 1, MPFR_RNDN);
    mpfr_div(v, v, u, MPFR_RNDN);
    mpfr_clears(t, u, (mpfr_ptr)0);
}

/* floor (up = 0) or ceiling (up = 1) of corr(beta) clamped to [-2^20, 2^20];
 * -1 when corr lies within max(1e-9, 2^-40 |corr|) of an integer inside
 * that range. */
static int corr_round(const or_cfg *c, double beta, int up, long *out) {
    mpfr_t v, r, d;
    mpfr_inits(v, r, d, (mpfr_ptr)0);
    correction_dim(c, beta, v);
    int rc = 0;
    if (mpfr_cmp_si(v, CORR_LIMIT) >= 0) *out = CORR_LIMIT;
    else if (mpfr_cmp_si(v, -CORR_LIMIT) <= 0) *out = -CORR_LIMIT;
    else {
        mpfr_rint(r, v, MPFR_RNDN);
        mpfr_sub(d, v, r, MPFR_RNDN); /* distance to the nearest integer */
        mpfr_t m;
        mpfr_init(m);
        mpfr_mul_2si(m, v, -40, MPFR_RNDN);
        mpfr_abs(m, m, MPFR_RNDN);
        if (mpfr_cmp_d(m, 1e-9) < 0) mpfr_set_d(m, 1e-9, MPFR_RNDN);
        if (mpfr_cmpabs(d, m) < 0) rc = -1;
        mpfr_clear(m);
        if (up) mpfr_ceil(r, v);
        else mpfr_floor(r, v);
        *out = mpfr_get_si(r, MPFR_RNDN);
    }
    mpfr_clears(v, r, d, (mpfr_ptr)0);
    return rc;
}

int or_yarn_range(const or_cfg *c, long *low, long *high, char *err, size_t errlen) {
    int rc = corr_round(c, c->beta_fast, 0, low) | corr_round(c, c->beta_slow, 1, high);
    if (rc) snprintf(err, errlen, "a YaRN correction dimension lies too close to an integer");
    if (*low < 0) *low = 0;                                        /* (Y2) */
    if (*high > (long)c->rope_dim - 1) *high = (long)c->rope_dim - 1;
    return rc;
}

/* (Y3) the span as V4's Python computes it: high - low, or, when they are
 * equal, (high + 0.001) - low in double arithmetic; fp32 bits. */
static uint32_t ramp_span(long low, long high) {
    if (low != high) return f32_of_long(high - low);
    mpfr_t s, t;
    mpfr_init2(s, 53);
    mpfr_init2(t, 53);
    mpfr_set_si(s, high, MPFR_RNDN);
    mpfr_set_d(t, 0.001, MPFR_RNDN);
    mpfr_add(s, s, t, MPFR_RNDN); /* rounded to double */
    mpfr_sub_si(s, s, low, MPFR_RNDN);
    uint32_t r = ox_round_f32(s);
    mpfr_clears(s, t, (mpfr_ptr)0);
    return r;
}

static int yarn_blend(const or_cfg *c, uint32_t *f, char *err, size_t errlen) {
    long low, high;
    int rc = or_yarn_range(c, &low, &high, err, errlen);
    uint32_t h = f32_op(OP_DIV, F32_ONE, ramp_span(low, high));
    mpfr_t fac;
    mpfr_init(fac);
    mpfr_set_d(fac, c->factor, MPFR_RNDN);
    uint32_t k = f32_op(OP_DIV, F32_ONE, ox_round_f32(fac));
    mpfr_clear(fac);
    for (size_t i = 0; i < c->rope_dim / 2; i++) {
        uint32_t ramp = f32_op(OP_MUL, f32_op(OP_SUB, f32_of_long((long)i), f32_of_long(low)), h);
        if (!(ramp & 0x7FFFFFFFu) || (ramp >> 31)) ramp = F32_ZERO; /* clamp(., 0, 1) */
        else if (ramp > F32_ONE) ramp = F32_ONE;                    /* (Y4) */
        uint32_t smooth = f32_op(OP_SUB, F32_ONE, ramp);             /* (Y5) */
        uint32_t scaled = f32_op(OP_MUL, f32_op(OP_MUL, f[i], k),
                                 f32_op(OP_SUB, F32_ONE, smooth));   /* (Y6) */
        f[i] = f32_op(OP_ADD, scaled, f32_op(OP_MUL, f[i], smooth));
    }
    return rc;
}

int or_inv_freq(const or_cfg *c, uint32_t *f, char *err, size_t errlen) {
    int rc = base_frequencies(c, f, err, errlen);
    if (c->original_seq_len > 0 && yarn_blend(c, f, err, errlen) != 0) rc = -1;
    return rc;
}

/* ---- (R4), (R5) ------------------------------------------------------------------ */
void or_table(const or_cfg *c, const uint32_t *f, size_t T, const int32_t *pos,
              uint32_t *cos_t, uint32_t *sin_t) {
    size_t half = c->rope_dim / 2;
    mpfr_t th, s, co;
    mpfr_inits(th, s, co, (mpfr_ptr)0);
    for (size_t t = 0; t < T; t++) {
        uint32_t p = f32_of_long(pos[t]);
        for (size_t i = 0; i < half; i++) {
            ox_set_f32_bits(th, f32_op(OP_MUL, p, f[i])); /* (R4) */
            mpfr_sin_cos(s, co, th, MPFR_RNDN);            /* (R5) */
            cos_t[t * half + i] = ox_round_f32(co);
            sin_t[t * half + i] = ox_round_f32(s);
        }
    }
    mpfr_clears(th, s, co, (mpfr_ptr)0);
}

/* ---- (A1), (A2) ------------------------------------------------------------------ */
static uint32_t round_bf16(const mpfr_t v) {
    const on_format *bf = on_get(ON_BF16);
    return on_decode_f32(bf, on_encode(bf, v));
}

/* v = a*c - b*s (or a*s + b*c) exactly, and the tolerance of spec/rope.md §5:
 * 2^-22 (1 + 2^-10) (|a c| + |b s|) + 2^-147, 0 when v is not a number. */
static void rotate_one(const mpfr_t p1, const mpfr_t p2, int subtract, uint32_t *y,
                       uint32_t *y_f32, uint32_t *y_tol) {
    mpfr_t v, t, u;
    mpfr_inits(v, t, u, (mpfr_ptr)0);
    if (subtract) mpfr_sub(v, p1, p2, MPFR_RNDN);
    else mpfr_add(v, p1, p2, MPFR_RNDN);
    *y = round_bf16(v);
    *y_f32 = ox_round_f32(v);
    mpfr_abs(t, p1, MPFR_RNDN);
    mpfr_abs(u, p2, MPFR_RNDN);
    mpfr_add(t, t, u, MPFR_RNDN);
    mpfr_mul_2si(t, t, -22, MPFR_RNDN);
    mpfr_mul_2si(u, t, -10, MPFR_RNDN);
    mpfr_add(t, t, u, MPFR_RNDN);
    mpfr_set_ui_2exp(u, 1, -147, MPFR_RNDN);
    mpfr_add(t, t, u, MPFR_RNDN);
    *y_tol = mpfr_number_p(v) ? ox_round_f32(t) : 0u;
    mpfr_clears(v, t, u, (mpfr_ptr)0);
}

void or_rotate(const or_cfg *c, size_t T, size_t rows, size_t width, const uint32_t *cos_t,
               const uint32_t *sin_t, const uint32_t *x, uint32_t *y, uint32_t *y_f32,
               uint32_t *y_tol) {
    size_t half = c->rope_dim / 2, nope = width - c->rope_dim;
    mpfr_t a, b, co, s, ac, bs, as, bc;
    mpfr_inits(a, b, co, s, ac, bs, as, bc, (mpfr_ptr)0);
    for (size_t t = 0; t < T; t++)
        for (size_t r = 0; r < rows; r++) {
            size_t row = (t * rows + r) * width;
            for (size_t j = 0; j < nope; j++) { /* copied unchanged */
                y[row + j] = y_f32[row + j] = x[row + j];
                y_tol[row + j] = 0u;
            }
            for (size_t i = 0; i < half; i++) {
                size_t k = row + nope + 2 * i;
                ox_set_f32_bits(a, x[k]);
                ox_set_f32_bits(b, x[k + 1]);
                ox_set_f32_bits(co, cos_t[t * half + i]);
                ox_set_f32_bits(s, sin_t[t * half + i]);
                if (c->inverse) mpfr_neg(s, s, MPFR_RNDN);
                mpfr_mul(ac, a, co, MPFR_RNDN); /* exact */
                mpfr_mul(bs, b, s, MPFR_RNDN);
                mpfr_mul(as, a, s, MPFR_RNDN);
                mpfr_mul(bc, b, co, MPFR_RNDN);
                rotate_one(ac, bs, 1, &y[k], &y_f32[k], &y_tol[k]);             /* a c - b s */
                rotate_one(as, bc, 0, &y[k + 1], &y_f32[k + 1], &y_tol[k + 1]); /* a s + b c */
            }
        }
    mpfr_clears(a, b, co, s, ac, bs, as, bc, (mpfr_ptr)0);
}

/* ---- the file of a case ---------------------------------------------------------- */
static void number_text(double v, char *buf, size_t len) { snprintf(buf, len, "%.17g", v); }

void or_config_text(const or_cfg *c, char *buf, size_t len) {
    char base[40], factor[40], bf[40], bs[40];
    number_text(c->base, base, sizeof base);
    number_text(c->factor, factor, sizeof factor);
    number_text(c->beta_fast, bf, sizeof bf);
    number_text(c->beta_slow, bs, sizeof bs);
    snprintf(buf, len,
             "{\"rope_dim\":%zu,\"base\":%s,\"factor\":%s,\"original_seq_len\":%llu,"
             "\"beta_fast\":%s,\"beta_slow\":%s,\"inverse\":\"%s\"}",
             c->rope_dim, base, factor, (unsigned long long)c->original_seq_len, bf, bs,
             c->inverse ? "yes" : "no");
}

#define TOL_TABLE                                                                             \
    "{\"table.inv_freq\":{\"kind\":\"exact\"},"                                             \
    "\"table.cos\":{\"kind\":\"abs_rel\",\"abs\":1.4013e-45,\"rel\":1.1920928955078125e-07}," \
    "\"table.sin\":{\"kind\":\"abs_rel\",\"abs\":1.4013e-45,\"rel\":1.1920928955078125e-07}}"
#define TOL_ROTATE "{\"kind\":\"bf16_boundary\",\"tol\":\"rotate.y_tol\",\"ref\":\"rotate.y_f32\"}"

int or_build(og_file *f, const char *case_name, uint64_t seed, const char *desc,
             const or_case *in, char *err, size_t errlen) {
    const or_cfg *c = &in->c;
    size_t half = c->rope_dim / 2, n = in->T * in->rows * in->width;
    uint32_t *freq = malloc((half + 1) * sizeof *freq);
    uint32_t *cos_t = malloc((in->T * half + 1) * sizeof *cos_t);
    uint32_t *sin_t = malloc((in->T * half + 1) * sizeof *sin_t);
    uint32_t *y = malloc((3 * n + 1) * sizeof *y);
    int rc = -1;
    if (!freq || !cos_t || !sin_t || !y) {
        snprintf(err, errlen, "out of memory");
        goto done;
    }
    if (or_inv_freq(c, freq, err, errlen) != 0) goto done;
    or_table(c, freq, in->T, in->pos, cos_t, sin_t);
    or_rotate(c, in->T, in->rows, in->width, cos_t, sin_t, in->x, y, y + n, y + 2 * n);

    char config[512];
    or_config_text(c, config, sizeof config);
    og_begin(f, "rope", case_name, config, seed, desc);
    size_t sx[3] = {in->T, in->rows, in->width}, sp[1] = {in->T}, sf[1] = {half};
    size_t st[2] = {in->T, half};
    og_add(f, "in.x", DSV4_DT_F32, 3, sx, in->x);
    og_add(f, "in.pos", DSV4_DT_I32, 1, sp, in->pos);
    og_add(f, "table.inv_freq", DSV4_DT_F32, 1, sf, freq);
    og_add(f, "table.cos", DSV4_DT_F32, 2, st, cos_t);
    og_add(f, "table.sin", DSV4_DT_F32, 2, st, sin_t);
    og_stage(f, "table", (const char *const[]){"in.pos", NULL},
             (const char *const[]){"table.inv_freq", "table.cos", "table.sin", NULL}, TOL_TABLE);
    og_add(f, "rotate.y", DSV4_DT_F32, 3, sx, y);
    og_add(f, "rotate.y_f32", DSV4_DT_F32, 3, sx, y + n);
    og_add(f, "rotate.y_tol", DSV4_DT_F32, 3, sx, y + 2 * n);
    og_stage(f, "rotate", (const char *const[]){"in.x", "table.cos", "table.sin", NULL},
             (const char *const[]){"rotate.y", NULL}, TOL_ROTATE);
    rc = 0;
done:
    free(freq);
    free(cos_t);
    free(sin_t);
    free(y);
    return rc;
}
