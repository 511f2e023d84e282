/* numfmt.c - narrow formats as tables of exact values (see numfmt.h). */
#include "numfmt.h"

#include <stdlib.h>
#include <string.h>

/* The definitions (spec/formats.md).  Everything else is derived from them. */
static on_format g_fmt[ON_COUNT] = {
    [ON_BF16] = {.name = "bf16", .code_bits = 16, .exp_bits = 8, .man_bits = 7, .bias = 127,
                 .has_inf = 1, .nan_rule = ON_NAN_IEEE, .saturate = 0, .nan_code = 0x7FC0u,
                 .nan_widen = 1},
    [ON_E4M3] = {.name = "e4m3", .code_bits = 8, .exp_bits = 4, .man_bits = 3, .bias = 7,
                 .has_inf = 0, .nan_rule = ON_NAN_ALLONES, .saturate = 1, .nan_code = 0x7Fu},
    [ON_E5M2] = {.name = "e5m2", .code_bits = 8, .exp_bits = 5, .man_bits = 2, .bias = 15,
                 .has_inf = 1, .nan_rule = ON_NAN_IEEE, .saturate = 1, .nan_code = 0x7Fu},
    [ON_E2M1] = {.name = "e2m1", .code_bits = 4, .exp_bits = 2, .man_bits = 1, .bias = 1,
                 .has_inf = 0, .nan_rule = ON_NAN_NONE, .saturate = 1, .nan_code = 0x7u},
};
static int g_ready;

static uint32_t field_mask(int bits) { return (1u << bits) - 1u; }
static uint32_t sign_bit(const on_format *f) { return 1u << (f->code_bits - 1); }
static uint32_t inf_code(const on_format *f) { return field_mask(f->exp_bits) << f->man_bits; }

on_class on_code_value(const on_format *f, uint32_t code, mpfr_t value) {
    code &= field_mask(f->code_bits);
    int negative = (code & sign_bit(f)) != 0;
    uint32_t e = (code >> f->man_bits) & field_mask(f->exp_bits);
    uint32_t m = code & field_mask(f->man_bits);
    if (e == field_mask(f->exp_bits)) {
        if (f->has_inf && m == 0) return ON_INF;
        if (f->nan_rule == ON_NAN_IEEE && m != 0) return ON_NAN;
        if (f->nan_rule == ON_NAN_ALLONES && m == field_mask(f->man_bits)) return ON_NAN;
    }
    /* Subnormal (e = 0): m * 2^(1 - bias - man_bits);
     * normal: (2^man_bits + m) * 2^(e - bias - man_bits). */
    uint32_t significand = (e == 0) ? m : ((1u << f->man_bits) | m);
    long scale = (long)((e == 0) ? 1 : e) - f->bias - f->man_bits;
    mpfr_set_ui_2exp(value, significand, scale, MPFR_RNDN); /* exact: few bits */
    if (negative) mpfr_neg(value, value, MPFR_RNDN);
    return ON_FINITE;
}

static void fmt_free(on_format *f) {
    if (f->val) {
        for (size_t i = 0; i < f->n; i++) mpfr_clear(f->val[i]);
        mpfr_clear(f->beyond);
    }
    free(f->val);
    free(f->code);
    f->val = NULL;
    f->code = NULL;
    f->n = 0;
}

/* Enumerate the sign-clear codes in increasing order, keep the finite ones.
 * For all four formats the finite values then come out ascending; that is
 * checked rather than assumed, since encode's search depends on it. */
static int fmt_build(on_format *f) {
    size_t n_codes = (size_t)1 << (f->code_bits - 1);
    f->val = malloc(n_codes * sizeof *f->val);
    f->code = malloc(n_codes * sizeof *f->code);
    if (!f->val || !f->code) {
        free(f->val);
        free(f->code);
        f->val = NULL;
        f->code = NULL;
        return -1;
    }
    f->n = 0;
    mpfr_t v;
    mpfr_init(v);
    for (uint32_t c = 0; c < n_codes; c++) {
        if (on_code_value(f, c, v) != ON_FINITE) continue;
        mpfr_init_set(f->val[f->n], v, MPFR_RNDN);
        f->code[f->n] = c;
        f->n++;
    }
    mpfr_clear(v);
    int ok = f->n >= 2;
    for (size_t i = 1; ok && i < f->n; i++) ok = mpfr_cmp(f->val[i - 1], f->val[i]) < 0;
    /* The overflow neighbour: max + one unit in the last place of max. */
    uint32_t cmax = f->code[f->n - 1];
    uint32_t emax_field = (cmax >> f->man_bits) & field_mask(f->exp_bits);
    mpfr_init(f->beyond);
    mpfr_set_ui_2exp(f->beyond, 1, (long)emax_field - f->bias - f->man_bits, MPFR_RNDN);
    mpfr_add(f->beyond, f->beyond, f->val[f->n - 1], MPFR_RNDN);
    f->beyond_code = cmax + 1;
    /* A format that does not saturate must have an Inf to overflow to. */
    if (!f->saturate && !f->has_inf) ok = 0;
    return ok ? 0 : -1;
}

int on_init(void) {
    if (g_ready) return 0;
    for (int i = 0; i < ON_COUNT; i++) {
        if (fmt_build(&g_fmt[i]) != 0) {
            for (int j = 0; j <= i; j++) fmt_free(&g_fmt[j]);
            return -1;
        }
    }
    g_ready = 1;
    return 0;
}

void on_fini(void) {
    for (int i = 0; i < ON_COUNT; i++) fmt_free(&g_fmt[i]);
    g_ready = 0;
}

const on_format *on_get(on_id id) { return &g_fmt[id]; }

int on_parse(const char *name) {
    for (int i = 0; i < ON_COUNT; i++)
        if (strcmp(name, g_fmt[i].name) == 0) return i;
    return -1;
}

const mpfr_t *on_max(const on_format *f) { return (const mpfr_t *)&f->val[f->n - 1]; }

/* Index of the largest table value <= a (a >= 0, so index 0 always holds). */
static size_t floor_index(const on_format *f, const mpfr_t a) {
    size_t lo = 0, hi = f->n; /* val[lo] <= a < val[hi] (val[n] = +inf) */
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        if (mpfr_cmp(f->val[mid], a) <= 0) lo = mid;
        else hi = mid;
    }
    return lo;
}

/* Between the bracketing pair (lo_v, lo_c) <= a < (hi_v, hi_c): nearest,
 * and at the exact midpoint the code whose lowest bit is 0. */
static uint32_t nearest_code(const mpfr_t a, const mpfr_t lo_v, uint32_t lo_c, const mpfr_t hi_v,
                             uint32_t hi_c) {
    if (mpfr_equal_p(a, lo_v)) return lo_c;
    mpfr_t mid;
    mpfr_init(mid);
    mpfr_add(mid, lo_v, hi_v, MPFR_RNDN); /* exact: both have a few bits */
    mpfr_div_2ui(mid, mid, 1, MPFR_RNDN);
    int c = mpfr_cmp(a, mid);
    mpfr_clear(mid);
    if (c < 0) return lo_c;
    if (c > 0) return hi_c;
    return (lo_c & 1u) == 0 ? lo_c : hi_c;
}

uint32_t on_encode(const on_format *f, const mpfr_t x) {
    if (mpfr_nan_p(x)) return f->nan_code; /* any sign, any payload */
    uint32_t sbit = mpfr_signbit(x) ? sign_bit(f) : 0u;
    uint32_t cmax = f->code[f->n - 1];
    uint32_t overflow_code = f->saturate ? cmax : inf_code(f);
    if (mpfr_inf_p(x)) return sbit | overflow_code;
    mpfr_t a;
    mpfr_init(a);
    mpfr_abs(a, x, MPFR_RNDN);
    size_t i = floor_index(f, a);
    uint32_t c;
    if (i + 1 < f->n) c = nearest_code(a, f->val[i], f->code[i], f->val[i + 1], f->code[i + 1]);
    else c = nearest_code(a, f->val[i], f->code[i], f->beyond, f->beyond_code);
    mpfr_clear(a);
    if (c == f->beyond_code) c = overflow_code;
    return sbit | c; /* the sign is kept on zero results too */
}

uint32_t on_decode_f32(const on_format *f, uint32_t code) {
    mpfr_t v;
    mpfr_init(v);
    uint32_t bits;
    switch (on_code_value(f, code, v)) {
    case ON_NAN:
        bits = f->nan_widen ? (code & field_mask(f->code_bits)) << (32 - f->code_bits) : OX_F32_QNAN;
        break;
    case ON_INF: bits = ((code & sign_bit(f)) ? 0x80000000u : 0u) | 0x7F800000u; break;
    default: bits = ox_round_f32(v); break;
    }
    mpfr_clear(v);
    return bits;
}

uint8_t on_ue8m0_encode(const mpfr_t x) {
    if (mpfr_nan_p(x)) return 0xFF;
    if (mpfr_zero_p(x)) return 0x00;   /* +0 and -0 */
    if (mpfr_signbit(x)) return 0xFF;  /* negative nonzero, -Inf included */
    if (mpfr_inf_p(x)) return 0xFE;
    /* |x| in [2^(e-1), 2^e): the smallest power of two >= x is 2^(e-1) when
     * x is exactly that power, else 2^e. */
    mpfr_exp_t e = mpfr_get_exp(x);
    mpfr_exp_t k = (mpfr_cmp_ui_2exp(x, 1, e - 1) == 0) ? e - 1 : e;
    if (k < -127) k = -127;
    if (k > 127) k = 127;
    return (uint8_t)(k + 127);
}

uint32_t on_ue8m0_decode_f32(uint8_t b) {
    if (b == 0xFF) return OX_F32_QNAN;
    mpfr_t v;
    mpfr_init(v);
    mpfr_set_ui_2exp(v, 1, (long)b - 127, MPFR_RNDN);
    uint32_t bits = ox_round_f32(v);
    mpfr_clear(v);
    return bits;
}
