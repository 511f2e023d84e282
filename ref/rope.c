/* rope.c - rotary position embedding with YaRN (spec/rope.md).
 *
 * Stage `table`: the frequencies (R1-R3, YaRN's Y1-Y6), then per token the
 * fp32 angles and their cosine and sine (R4, R5).  Stage `rotate`: the
 * interleaved pairs of the last rope_dim channels turned by those angles
 * and rounded to bf16 (A1, A2).  Each line marked with an equation label
 * rounds once, to fp32 unless it says double; ref is compiled with
 * -ffp-contract=off. */
#include "internal.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

/* ---- configuration --------------------------------------------------------------- */
static int finite_d(double v) { return v == v && v - v == 0.0; }

dsv4_status dsv4_rope_check(const dsv4_rope_cfg *cfg) {
    if (!cfg) return DSV4_E_NULL;
    if (cfg->rope_dim < 2 || cfg->rope_dim > 65536 || cfg->rope_dim % 2) return DSV4_E_ARG;
    if (!(cfg->base > 1.0) || !(cfg->base <= FLT_MAX)) return DSV4_E_ARG;
    if (cfg->original_seq_len == 0) return DSV4_OK; /* no YaRN: the rest is unused */
    if (cfg->original_seq_len >= (1ull << 53)) return DSV4_E_ARG;
    if (!(cfg->factor >= 1.0) || !(cfg->factor <= FLT_MAX)) return DSV4_E_ARG;
    if (!(cfg->beta_fast > 0.0) || !finite_d(cfg->beta_fast)) return DSV4_E_ARG;
    if (!(cfg->beta_slow > 0.0) || !finite_d(cfg->beta_slow)) return DSV4_E_ARG;
    return DSV4_OK;
}

/* ---- (R1)-(R3) the frequencies without YaRN -------------------------------------- */
/* f [rope_dim/2]: f_i = 1 / B^(2i/rope_dim), B = fp32(base). */
static void base_frequencies(const dsv4_rope_cfg *cfg, float *f) {
    float inv_dim = 1.0f / (float)cfg->rope_dim;
    double ln_base = dsv4_log_d((double)(float)cfg->base);
    for (size_t i = 0; i < cfg->rope_dim / 2; i++) {
        float e = (float)(2 * i) * inv_dim;                  /* (R1) */
        float p = (float)dsv4_exp_d((double)e * ln_base);    /* (R2) B^e */
        f[i] = 1.0f / p;                                     /* (R3) */
    }
}

/* ---- (Y1)-(Y6) YaRN -------------------------------------------------------------- */
static const double TWO_PI = 6.28318530717958623200e+00; /* 0x401921FB54442D18 */
/* corr beyond +-2^20 is clamped there (spec/rope.md Y1). */
static const double CORR_LIMIT = 1048576.0;

/* (Y1) corr(beta) = rope_dim * ln(L / (2 pi beta)) / (2 ln base), in double,
 * clamped to [-2^20, 2^20]. */
static double correction_dim(const dsv4_rope_cfg *cfg, double beta) {
    double num = (double)cfg->rope_dim *
                 dsv4_log_d((double)cfg->original_seq_len / (TWO_PI * beta));
    double c = num / (2.0 * dsv4_log_d(cfg->base));
    return c > CORR_LIMIT ? CORR_LIMIT : c < -CORR_LIMIT ? -CORR_LIMIT : c;
}

/* floor and ceiling of a double of magnitude <= 2^20. */
static long floor_d(double v) {
    long t = (long)v; /* rounds toward zero */
    return (double)t > v ? t - 1 : t;
}
static long ceil_d(double v) {
    long t = (long)v;
    return (double)t < v ? t + 1 : t;
}

/* (Y2)-(Y6): f [rope_dim/2] blended between f and f / factor. */
static void yarn_blend(const dsv4_rope_cfg *cfg, float *f) {
    long low = floor_d(correction_dim(cfg, cfg->beta_fast));     /* (Y2) */
    long high = ceil_d(correction_dim(cfg, cfg->beta_slow));
    long top = (long)cfg->rope_dim - 1;
    if (low < 0) low = 0;
    if (high > top) high = top;
    double span = low == high ? ((double)high + 0.001) - (double)low  /* (Y3), in double */
                              : (double)(high - low);
    float h = 1.0f / (float)span;
    float k = 1.0f / (float)cfg->factor;
    for (size_t i = 0; i < cfg->rope_dim / 2; i++) {
        float ramp = ((float)(long)i - (float)low) * h;          /* (Y4) */
        ramp = ramp < 0.0f ? 0.0f : ramp > 1.0f ? 1.0f : ramp;
        float smooth = 1.0f - ramp;                              /* (Y5) */
        float scaled = (f[i] * k) * (1.0f - smooth);             /* (Y6) */
        f[i] = scaled + f[i] * smooth;
    }
}

dsv4_status dsv4_rope_inv_freq(const dsv4_rope_cfg *cfg, float *inv_freq) {
    dsv4_status st = dsv4_rope_check(cfg);
    if (st != DSV4_OK) return st;
    if (!inv_freq) return DSV4_E_NULL;
    base_frequencies(cfg, inv_freq);
    if (cfg->original_seq_len > 0) yarn_blend(cfg, inv_freq);
    return DSV4_OK;
}

/* ---- (R4), (R5) the table -------------------------------------------------------- */
dsv4_status dsv4_rope_table(const dsv4_rope_cfg *cfg, size_t T, const int32_t *pos,
                            float *cos_t, float *sin_t) {
    dsv4_status st = dsv4_rope_check(cfg);
    size_t half, n;
    if (st != DSV4_OK) return st;
    half = cfg->rope_dim / 2;
    if (!dsv4_mul_ok(T, half, &n) || n > SIZE_MAX / sizeof(float)) return DSV4_E_OVERFLOW;
    if (T == 0) return DSV4_OK;
    if (!pos || !cos_t || !sin_t) return DSV4_E_NULL;
    for (size_t t = 0; t < T; t++)
        if (pos[t] < 0) return DSV4_E_ARG;
    float *f = malloc(half * sizeof(float)); /* the frequencies [rope_dim/2] */
    if (!f) return DSV4_E_NOMEM;
    dsv4_rope_inv_freq(cfg, f);
    for (size_t t = 0; t < T; t++) {
        float p = (float)pos[t]; /* exact below 2^24, nearest even above */
        for (size_t i = 0; i < half; i++) {
            float theta = p * f[i];                                  /* (R4) */
            dsv4_sincosf(theta, &sin_t[t * half + i], &cos_t[t * half + i]); /* (R5) */
        }
    }
    free(f);
    return DSV4_OK;
}

/* ---- (A1), (A2) the rotation ----------------------------------------------------- */

/* One pair (a, b) turned by the angle whose cosine is c and sine s. */
static void rotate_pair(float a, float b, float c, float s, float *y0, float *y1) {
    float ac = a * c, bs = b * s, as = a * s, bc = b * c;
    *y0 = dsv4_round_bf16(ac - bs); /* (A1), (A2) */
    *y1 = dsv4_round_bf16(as + bc);
}

dsv4_status dsv4_ref_rope_apply(const dsv4_rope_cfg *cfg, size_t T, size_t rows, size_t width,
                                int inverse, const float *cos_t, const float *sin_t,
                                const float *x, float *y) {
    dsv4_status st = dsv4_rope_check(cfg);
    size_t tr, n, half;
    if (st != DSV4_OK) return st;
    if (width < cfg->rope_dim) return DSV4_E_SIZE;
    if (!dsv4_mul_ok(T, rows, &tr) || !dsv4_mul_ok(tr, width, &n) ||
        n > SIZE_MAX / sizeof(float))
        return DSV4_E_OVERFLOW;
    if (n == 0) return DSV4_OK;
    if (!cos_t || !sin_t || !x || !y) return DSV4_E_NULL;
    half = cfg->rope_dim / 2;
    size_t nope = width - cfg->rope_dim; /* channels before the rotated ones */
    for (size_t t = 0; t < T; t++) {
        const float *c = &cos_t[t * half], *s = &sin_t[t * half];
        for (size_t r = 0; r < rows; r++) {
            const float *xr = &x[(t * rows + r) * width];
            float *yr = &y[(t * rows + r) * width];
            if (yr != xr) memcpy(yr, xr, nope * sizeof(float));
            for (size_t i = 0; i < half; i++) {
                float sn = inverse ? -s[i] : s[i];
                rotate_pair(xr[nope + 2 * i], xr[nope + 2 * i + 1], c[i], sn,
                            &yr[nope + 2 * i], &yr[nope + 2 * i + 1]);
            }
        }
    }
    return DSV4_OK;
}
