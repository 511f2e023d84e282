/* mhc_inputs.c - inputs of the mHC golden cases.
 *
 * G1 follows the formulas of spec/mhc.md §10 (every value a short dyadic
 * number, exact in bf16).  Random inputs use the oracle's own
 * integer RNG: a normal draw is the Irwin-Hall sum of twelve 32-bit uniforms
 * minus 6, formed exactly in MPFR, so no libm function is involved and the
 * bits are the same on every machine. */
#include "mhc.h"

#include <stdlib.h>
#include <string.h>

#define F32_NAN 0x7FC00000u
#define F32_PINF 0x7F800000u
#define F32_NINF 0xFF800000u

/* ---- allocation ------------------------------------------------------------------ */
int om_gate_in_alloc(om_gate_in *in, size_t rows) {
    size_t K = in->c.hc * in->c.d;
    in->x = calloc(in->T * K + 1, sizeof *in->x);
    in->fn = calloc(rows * K + 1, sizeof *in->fn);
    in->scale = calloc(3, sizeof *in->scale);
    in->base = calloc(rows + 1, sizeof *in->base);
    return (in->x && in->fn && in->scale && in->base) ? 0 : -1;
}

void om_gate_in_free(om_gate_in *in) {
    free(in->x);
    free(in->fn);
    free(in->scale);
    free(in->base);
    in->x = in->fn = in->scale = in->base = NULL;
}

int om_post_in_alloc(om_post_in *in) {
    size_t hc = in->c.hc, d = in->c.d, T = in->T;
    in->f = calloc(T * d + 1, sizeof *in->f);
    in->x = calloc(T * hc * d + 1, sizeof *in->x);
    in->post = calloc(T * hc + 1, sizeof *in->post);
    in->comb = calloc(T * hc * hc + 1, sizeof *in->comb);
    return (in->f && in->x && in->post && in->comb) ? 0 : -1;
}

void om_post_in_free(om_post_in *in) {
    free(in->f);
    free(in->x);
    free(in->post);
    free(in->comb);
    in->f = in->x = in->post = in->comb = NULL;
}

int om_sk_in_alloc(om_sk_in *in) {
    in->logits = calloc(in->T * in->n * in->n + 1, sizeof *in->logits);
    return in->logits ? 0 : -1;
}

void om_sk_in_free(om_sk_in *in) {
    free(in->logits);
    in->logits = NULL;
}

/* ---- values ---------------------------------------------------------------------- */
/* Non-negative remainder. */
static long imod(long a, long m) { return ((a % m) + m) % m; }

/* An approximately standard normal value, exactly: (sum of 12 uniforms in
 * [0, 1) with 32 bits each) - 6. */
static void normal(ox_rng *r, mpfr_t out) {
    uint64_t s = 0;
    for (int i = 0; i < 12; i++) s += ox_rng_next(r) >> 32;
    mpfr_set_uj(out, s, MPFR_RNDN); /* < 2^36: exact */
    mpfr_div_2ui(out, out, 32, MPFR_RNDN);
    mpfr_sub_ui(out, out, 6, MPFR_RNDN);
}

/* sigma * N(0,1) rounded to fp32, or to the nearest bf16 value if bf16. */
static uint32_t draw(ox_rng *r, const mpfr_t sigma, int bf16) {
    mpfr_t v;
    mpfr_init(v);
    normal(r, v);
    mpfr_mul(v, v, sigma, MPFR_RNDN);
    uint32_t bits;
    if (bf16) {
        const on_format *bf = on_get(ON_BF16);
        bits = on_decode_f32(bf, on_encode(bf, v));
    } else {
        bits = ox_round_f32(v);
    }
    mpfr_clear(v);
    return bits;
}

/* n draws of sigma * N(0,1) with sigma = num * 2^e. */
static void draws(ox_rng *r, uint32_t *out, size_t n, long num, long e, int bf16) {
    mpfr_t sigma;
    mpfr_init(sigma);
    mpfr_set_si_2exp(sigma, num, e, MPFR_RNDN);
    for (size_t i = 0; i < n; i++) out[i] = draw(r, sigma, bf16);
    mpfr_clear(sigma);
}

/* A uniform value in (0, 1) with 24 bits, times num * 2^e, fp32. */
static uint32_t uniform(ox_rng *r, long num, long e) {
    mpfr_t v;
    mpfr_init(v);
    mpfr_set_ui(v, (unsigned long)(ox_rng_next(r) >> 40) | 1u, MPFR_RNDN);
    mpfr_mul_si(v, v, num, MPFR_RNDN);
    mpfr_mul_2si(v, v, e - 24, MPFR_RNDN);
    uint32_t bits = ox_round_f32(v);
    mpfr_clear(v);
    return bits;
}

/* ---- G1 -------------------------------------------------------------------------- */
#define G1_HC 4
#define G1_D 16
#define G1_T 3

static void g1_cfg(om_cfg *c, int iters) {
    c->hc = G1_HC;
    c->d = G1_D;
    c->iters = iters;
    c->hc_eps = OM_EPS_1E6;
    c->norm_eps = OM_EPS_1E6;
}

/* x [3, 4, 16]: a mixed token, identical streams, zeros. */
static void g1_x(uint32_t *x) {
    for (size_t j = 0; j < G1_HC; j++)
        for (size_t i = 0; i < G1_D; i++) {
            long a = (long)i, b = (long)j;
            x[0 * 64 + j * G1_D + i] = ox_f32_of_dyadic(imod(7 * a + 3 * b + 1, 17) - 8, -3);
            x[1 * 64 + j * G1_D + i] = ox_f32_of_dyadic(imod(5 * a + 2, 13) - 6, -2);
            x[2 * 64 + j * G1_D + i] = 0u;
        }
}

int om_g1_hc_pre(om_gate_in *in, int iters) {
    g1_cfg(&in->c, iters);
    in->T = G1_T;
    size_t M = (2 + G1_HC) * G1_HC, K = G1_HC * G1_D;
    if (om_gate_in_alloc(in, M) != 0) return -1;
    g1_x(in->x);
    for (size_t m = 0; m < M; m++)
        for (size_t k = 0; k < K; k++)
            in->fn[m * K + k] = ox_f32_of_dyadic(imod(31 * (long)m + 17 * (long)k, 29) - 14, -8);
    in->scale[0] = ox_f32_of_dyadic(1, -1);
    in->scale[1] = ox_f32_of_dyadic(-1, 0);
    in->scale[2] = ox_f32_of_dyadic(8, 0);
    for (size_t q = 0; q < M; q++) {
        long lq = (long)q;
        if (q < 8) {
            in->base[q] = ox_f32_of_dyadic(imod(13 * lq, 11) - 5, -2);
            continue;
        }
        size_t j = (q - 8) / 4, k = (q - 8) % 4;
        if (j == k) in->base[q] = ox_f32_of_dyadic(6, 0);
        else if (j == 3) in->base[q] = ox_f32_of_dyadic(-200, 0);
        else in->base[q] = ox_f32_of_dyadic(imod(7 * lq, 9) - 4, -1);
    }
    return 0;
}

int om_g1_hc_head(om_gate_in *in) {
    g1_cfg(&in->c, 20);
    in->T = G1_T;
    size_t K = G1_HC * G1_D;
    if (om_gate_in_alloc(in, G1_HC) != 0) return -1;
    g1_x(in->x);
    for (size_t j = 0; j < G1_HC; j++)
        for (size_t k = 0; k < K; k++)
            in->fn[j * K + k] = ox_f32_of_dyadic(imod(19 * (long)j + 5 * (long)k, 23) - 11, -7);
    in->scale[0] = ox_f32_of_dyadic(3, -2); /* 0.75 */
    in->base[0] = ox_f32_of_dyadic(1, -2);
    in->base[1] = ox_f32_of_dyadic(-1, -1);
    in->base[2] = ox_f32_of_dyadic(1, 0);
    in->base[3] = 0u;
    return 0;
}

int om_g1_hc_post(om_post_in *in) {
    om_gate_in pre;
    memset(&pre, 0, sizeof pre);
    if (om_g1_hc_pre(&pre, 20) != 0) {
        om_gate_in_free(&pre);
        return -1;
    }
    in->c = pre.c;
    in->T = G1_T;
    int rc = -1;
    uint32_t *post = NULL, *comb = NULL;
    if (om_post_in_alloc(in) != 0 || om_hc_pre_post_comb(&pre, &post, &comb) != 0) goto done;
    memcpy(in->x, pre.x, G1_T * G1_HC * G1_D * sizeof *in->x);
    memcpy(in->post, post, G1_T * G1_HC * sizeof *in->post);
    memcpy(in->comb, comb, G1_T * G1_HC * G1_HC * sizeof *in->comb);
    for (size_t t = 0; t < G1_T; t++)
        for (size_t i = 0; i < G1_D; i++)
            in->f[t * G1_D + i] = ox_f32_of_dyadic(imod(3 * (long)i + (long)t, 7) - 3, -1);
    rc = 0;
done:
    free(post);
    free(comb);
    om_gate_in_free(&pre);
    return rc;
}

/* ---- random gate inputs ---------------------------------------------------------- */
/* fn [rows, K] ~ N(0, 1/K): sigma = 1/sqrt(K), formed exactly then rounded. */
static void draw_fn(ox_rng *r, uint32_t *fn, size_t rows, size_t K) {
    mpfr_t sigma;
    mpfr_init(sigma);
    mpfr_set_ui(sigma, (unsigned long)K, MPFR_RNDN);
    mpfr_rec_sqrt(sigma, sigma, MPFR_RNDN);
    for (size_t i = 0; i < rows * K; i++) fn[i] = draw(r, sigma, 0);
    mpfr_clear(sigma);
}

int om_random_gate(om_gate_in *in, size_t rows, const uint32_t *scale, uint64_t seed) {
    size_t K = in->c.hc * in->c.d;
    if (om_gate_in_alloc(in, rows) != 0) return -1;
    ox_rng r;
    ox_rng_seed(&r, seed);
    draws(&r, in->x, in->T * K, 1, 0, 1);   /* bf16 values ~ N(0, 1) */
    draw_fn(&r, in->fn, rows, K);
    draws(&r, in->base, rows, 1, -1, 0);    /* N(0, 1/4) */
    size_t n_scale = (rows == in->c.hc) ? 1 : 3; /* hc_head: hc rows, one scale */
    memcpy(in->scale, scale, n_scale * sizeof *scale);
    return 0;
}

/* Tokens of the adversarial case, in order. */
enum {
    ADV_ZERO, ADV_IDENTICAL, ADV_RANDOM, ADV_LARGE, ADV_TINY, ADV_NAN, ADV_PINF, ADV_NINF,
    ADV_T
};

int om_adversarial_hc_pre(om_gate_in *in) {
    in->c.hc = 4;
    in->c.d = 16;
    in->c.iters = 20;
    in->c.hc_eps = in->c.norm_eps = OM_EPS_1E6;
    in->T = ADV_T;
    const uint32_t one = ox_f32_of_dyadic(1, 0);
    const uint32_t scale[3] = {one, one, one};
    size_t hc = 4, d = 16, K = 64, M = 24;
    if (om_random_gate(in, M, scale, 601) != 0) return -1;
    ox_rng r;
    ox_rng_seed(&r, 602);
    uint32_t *x = in->x;
    memset(&x[ADV_ZERO * K], 0, K * sizeof *x);
    for (size_t j = 1; j < hc; j++) /* the embedding copied into every stream */
        memcpy(&x[ADV_IDENTICAL * K + j * d], &x[ADV_IDENTICAL * K], d * sizeof *x);
    draws(&r, &x[ADV_LARGE * K], K, 1, 40, 1); /* |x| ~ 2^40: mixes do not change scale */
    draws(&r, &x[ADV_TINY * K], K, 1, -70, 1); /* x^2 underflows fp32 */
    x[ADV_NAN * K + 5] = F32_NAN;
    x[ADV_PINF * K + 37] = F32_PINF;
    x[ADV_NINF * K + 63] = F32_NINF;
    /* comb logits: column 0 at -200 in every row (an eps column), entries of
     * magnitude 200 that only the max subtraction keeps finite in fp32 */
    static const long comb[4][4] = {
        {-200, 200, 0, 1}, {-200, 5, 200, -3}, {-200, -200, 2, 200}, {-200, 1, -1, 0}};
    for (size_t j = 0; j < hc; j++)
        for (size_t k = 0; k < hc; k++)
            in->base[2 * hc + hc * j + k] = ox_f32_of_dyadic(comb[j][k], 0);
    return 0;
}

/* ---- hc_post ---------------------------------------------------------------------- */
int om_random_post(om_post_in *in, uint64_t seed) {
    size_t hc = in->c.hc, d = in->c.d, T = in->T;
    if (om_post_in_alloc(in) != 0) return -1;
    ox_rng r;
    ox_rng_seed(&r, seed);
    draws(&r, in->f, T * d, 1, 0, 1);
    draws(&r, in->x, T * hc * d, 1, 0, 1);
    for (size_t i = 0; i < T * hc; i++) in->post[i] = uniform(&r, 2, 0); /* (0, 2) */
    /* comb: positive, each column summing to about 1, like Sinkhorn's output */
    mpfr_t v, s;
    mpfr_inits(v, s, (mpfr_ptr)0);
    for (size_t t = 0; t < T; t++) {
        uint32_t *c = &in->comb[t * hc * hc];
        for (size_t i = 0; i < hc * hc; i++) c[i] = uniform(&r, 1, 0);
        for (size_t k = 0; k < hc; k++) {
            mpfr_set_ui(s, 0, MPFR_RNDN);
            for (size_t j = 0; j < hc; j++) {
                ox_set_f32_bits(v, c[j * hc + k]);
                mpfr_add(s, s, v, MPFR_RNDN);
            }
            for (size_t j = 0; j < hc; j++) {
                ox_set_f32_bits(v, c[j * hc + k]);
                mpfr_div(v, v, s, MPFR_RNDN);
                c[j * hc + k] = ox_round_f32(v);
            }
        }
    }
    mpfr_clears(v, s, (mpfr_ptr)0);
    return 0;
}

/* ---- sinkhorn --------------------------------------------------------------------- */
int om_sk_random(om_sk_in *in, uint64_t seed) {
    if (om_sk_in_alloc(in) != 0) return -1;
    ox_rng r;
    ox_rng_seed(&r, seed);
    /* logit scales 0.1 .. 30, one per matrix, cycled */
    static const char *const scales[] = {"0.1", "0.3", "1", "3", "10", "30"};
    size_t nn = in->n * in->n;
    mpfr_t sigma;
    mpfr_init(sigma);
    for (size_t t = 0; t < in->T; t++) {
        mpfr_set_str(sigma, scales[t % 6], 10, MPFR_RNDN);
        for (size_t i = 0; i < nn; i++) in->logits[t * nn + i] = draw(&r, sigma, 0);
    }
    mpfr_clear(sigma);
    return 0;
}

/* Matrix t of a 4x4 case, from integer logits. */
static void set_matrix(om_sk_in *in, size_t t, const long m[4][4]) {
    for (size_t j = 0; j < 4; j++)
        for (size_t k = 0; k < 4; k++)
            in->logits[t * 16 + j * 4 + k] = ox_f32_of_dyadic(m[j][k], 0);
}

/* Adds sigma * N(0,1) noise (sigma = 2^e) to matrix t, rounding to fp32. */
static void add_noise(om_sk_in *in, size_t t, ox_rng *r, long e) {
    mpfr_t a, b, sigma;
    mpfr_inits(a, b, sigma, (mpfr_ptr)0);
    mpfr_set_ui_2exp(sigma, 1, e, MPFR_RNDN);
    for (size_t i = 0; i < 16; i++) {
        ox_set_f32_bits(a, in->logits[t * 16 + i]);
        normal(r, b);
        mpfr_mul(b, b, sigma, MPFR_RNDN);
        mpfr_add(a, a, b, MPFR_RNDN);
        in->logits[t * 16 + i] = ox_round_f32(a);
    }
    mpfr_clears(a, b, sigma, (mpfr_ptr)0);
}

int om_sk_peaked(om_sk_in *in, uint64_t seed) {
    static const long m[8][4][4] = {
        {{10, 0, 0, 0}, {0, 10, 0, 0}, {0, 0, 10, 0}, {0, 0, 0, 10}},      /* diagonal */
        {{30, 0, 0, 0}, {0, 30, 0, 0}, {0, 0, 30, 0}, {0, 0, 0, 30}},      /* + noise */
        {{20, 0, 0, 0}, {20, 0, 0, 0}, {20, 0, 0, 0}, {20, 0, 0, 0}},      /* one column wins */
        {{50, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}},         /* one entry */
        {{0, 0, 0, 0}, {0, 5, 10, 15}, {0, 10, 20, 30}, {0, 15, 30, 45}},  /* rank one */
        {{0, 0, 0, 40}, {0, 0, 40, 0}, {0, 40, 0, 0}, {40, 0, 0, 0}},      /* anti-diagonal */
        {{16, 16, 0, 0}, {16, 16, 0, 0}, {0, 0, 8, 0}, {0, 0, 0, 8}},      /* shared peaks */
        {{0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}, {0, 0, 0, 0}},          /* uniform */
    };
    in->n = 4;
    in->T = 8;
    if (om_sk_in_alloc(in) != 0) return -1;
    ox_rng r;
    ox_rng_seed(&r, seed);
    for (size_t t = 0; t < 8; t++) set_matrix(in, t, m[t]);
    add_noise(in, 1, &r, 0);
    add_noise(in, 2, &r, -2);
    add_noise(in, 6, &r, -3);
    return 0;
}

int om_sk_underflow(om_sk_in *in) {
    static const long m[3][4][4] = {
        {{6, 1, 0, -2}, {-1, 6, 2, 0}, {1, -3, 6, 2}, {-200, -200, -200, 6}}, /* G1-like */
        {{-200, 1, 0, 2}, {-200, 0, 3, 1}, {-200, 2, 1, 0}, {-200, 1, 1, 1}},  /* eps column */
        {{-200, 3, -200, 0}, {-200, 0, -200, 1}, {-200, 1, -200, 2}, {-200, 2, -200, 0}},
    };
    in->n = 4;
    in->T = 5;
    if (om_sk_in_alloc(in) != 0) return -1;
    for (size_t t = 0; t < 3; t++) set_matrix(in, t, m[t]);
    /* exp(L - max) at and around fp32's subnormal range and underflow to 0:
     * -87.3 (subnormal), -103.5, -104 (about the last subnormal), -104.5 */
    const uint32_t lows[8] = {
        ox_f32_of_dyadic(-1397, -4), ox_f32_of_dyadic(-207, -1), ox_f32_of_dyadic(-104, 0),
        ox_f32_of_dyadic(-209, -1),  ox_f32_of_dyadic(-90, 0),   ox_f32_of_dyadic(-88, 0),
        ox_f32_of_dyadic(-150, 0),   ox_f32_of_dyadic(-100, 0)};
    for (size_t i = 0; i < 16; i++) {
        in->logits[3 * 16 + i] = (i % 5 == 0) ? 0u : lows[i % 8];
        in->logits[4 * 16 + i] = (i % 4 == i / 4) ? ox_f32_of_dyadic(1, -1) : lows[(i + 3) % 8];
    }
    return 0;
}

int om_sk_nonfinite(om_sk_in *in, uint64_t seed) {
    in->n = 4;
    in->T = 7;
    if (om_sk_in_alloc(in) != 0) return -1;
    ox_rng r;
    ox_rng_seed(&r, seed);
    mpfr_t one;
    mpfr_init_set_ui(one, 1, MPFR_RNDN);
    for (size_t i = 0; i < 7 * 16; i++) in->logits[i] = draw(&r, one, 0);
    mpfr_clear(one);
    in->logits[0 * 16 + 5] = F32_NAN;               /* NaN: that matrix is NaN */
    in->logits[1 * 16 + 10] = F32_PINF;             /* +Inf: Inf - Inf is NaN */
    in->logits[2 * 16 + 3] = F32_NINF;              /* -Inf beside finite: exactly eps */
    for (size_t k = 0; k < 4; k++) in->logits[3 * 16 + 8 + k] = F32_NINF; /* row of -Inf */
    in->logits[4 * 16 + 0] = 0x7F7FFFFFu;           /* fp32 max and -max in one row: */
    in->logits[4 * 16 + 1] = 0xFF7FFFFFu;           /* L - max overflows to -Inf in fp32 */
    in->logits[5 * 16 + 15] = 0xFFC00001u;          /* a negative NaN with a payload */
    return 0;                                       /* matrix 6 stays finite */
}
