/* mhc.c - the exact arithmetic of the mHC stages (spec/mhc.md §2-§4).
 *
 * Every function here computes one stage of one token in MPFR at OX_PREC
 * bits and leaves the result unrounded.  The products of two fp32 values are
 * exact at that precision; the sums, quotients, square roots and exponentials
 * are correctly rounded to 256 bits, so the only error left when a builder
 * rounds the result to fp32 or bf16 is that one final rounding.
 *
 * Unlike ref/, the oracle needs no particular order of operations (the value
 * is exact whatever the order) and no max subtraction for exp to stay finite;
 * Sinkhorn still subtracts the row maximum, because an fp32 logit can be as
 * large as 3.4e38 and e^(3.4e38) is beyond even MPFR's exponent range.  The
 * subtraction is exact (both values are fp32) up to the 256-bit rounding of
 * the difference, and it cancels in the softmax quotient. */
#include "mhc.h"

#include <stdlib.h>

/* ---- arrays of MPFR values ------------------------------------------------- */
int om_vec_init(om_vec *a, size_t n) {
    a->n = 0;
    a->v = malloc((n ? n : 1) * sizeof *a->v);
    if (!a->v) return -1;
    for (size_t i = 0; i < n; i++) mpfr_init_set_ui(a->v[i], 0, MPFR_RNDN);
    a->n = n;
    return 0;
}

void om_vec_clear(om_vec *a) {
    for (size_t i = 0; i < a->n; i++) mpfr_clear(a->v[i]);
    free(a->v);
    a->v = NULL;
    a->n = 0;
}

void om_vec_set_bits(om_vec *a, const uint32_t *bits) {
    for (size_t i = 0; i < a->n; i++) ox_set_f32_bits(a->v[i], bits[i]);
}

void om_vec_round(const om_vec *a, uint32_t *bits) {
    for (size_t i = 0; i < a->n; i++) bits[i] = ox_round_f32(a->v[i]);
}

/* ---- (H1) rms ---------------------------------------------------------------- */
void om_rms(const uint32_t *x, size_t K, const mpfr_t norm_eps, mpfr_t r) {
    mpfr_t v, ss;
    mpfr_inits(v, ss, (mpfr_ptr)0);
    mpfr_set_ui(ss, 0, MPFR_RNDN);
    for (size_t k = 0; k < K; k++) {
        ox_set_f32_bits(v, x[k]);
        mpfr_sqr(v, v, MPFR_RNDN); /* exact: 48 significant bits */
        mpfr_add(ss, ss, v, MPFR_RNDN);
    }
    mpfr_div_ui(ss, ss, (unsigned long)K, MPFR_RNDN);
    mpfr_add(ss, ss, norm_eps, MPFR_RNDN);
    mpfr_rec_sqrt(r, ss, MPFR_RNDN); /* rec_sqrt(+Inf) = +0, as 1/sqrt(Inf) */
    mpfr_clears(v, ss, (mpfr_ptr)0);
}

/* ---- (H2) mixes ---------------------------------------------------------------- */
void om_mixes(const uint32_t *x, const uint32_t *fn, size_t rows, size_t K, const mpfr_t r,
              mpfr_t *mixes, mpfr_t amag) {
    mpfr_t a, b, acc, mag;
    mpfr_inits(a, b, acc, mag, (mpfr_ptr)0);
    mpfr_set_ui(amag, 0, MPFR_RNDN);
    int finite = mpfr_number_p(r);
    for (size_t m = 0; m < rows; m++) {
        mpfr_set_ui(acc, 0, MPFR_RNDN);
        mpfr_set_ui(mag, 0, MPFR_RNDN);
        for (size_t k = 0; k < K; k++) {
            ox_set_f32_bits(a, x[k]);
            ox_set_f32_bits(b, fn[m * K + k]);
            mpfr_mul(a, a, b, MPFR_RNDN); /* exact */
            mpfr_add(acc, acc, a, MPFR_RNDN);
            mpfr_sqr(a, a, MPFR_RNDN);
            mpfr_add(mag, mag, a, MPFR_RNDN);
        }
        mpfr_mul(mixes[m], acc, r, MPFR_RNDN);
        mpfr_sqrt(mag, mag, MPFR_RNDN); /* ||x . fn[m]||_2 (spec/mhc.md §7) */
        mpfr_mul(mag, mag, r, MPFR_RNDN);
        mpfr_abs(mag, mag, MPFR_RNDN);
        finite = finite && mpfr_number_p(mag) && mpfr_number_p(mixes[m]);
        if (mpfr_cmp(mag, amag) > 0) mpfr_set(amag, mag, MPFR_RNDN);
    }
    /* A token with NaN or Inf has no meaningful magnitude: NaN tells the
     * caller to leave it out of the case's A. */
    if (!finite) mpfr_set_nan(amag);
    mpfr_clears(a, b, acc, mag, (mpfr_ptr)0);
}

/* ---- (H3) split and the hc_head weights ------------------------------------------ */
void om_gate(mpfr_t g, const mpfr_t m, const mpfr_t scale, const mpfr_t base) {
    mpfr_t z;
    mpfr_init(z);
    mpfr_mul(z, m, scale, MPFR_RNDN);
    mpfr_add(z, z, base, MPFR_RNDN);
    mpfr_neg(z, z, MPFR_RNDN);
    mpfr_exp(z, z, MPFR_RNDN); /* overflow -> +Inf, then the gate is 0 */
    mpfr_add_ui(z, z, 1, MPFR_RNDN);
    mpfr_ui_div(g, 1, z, MPFR_RNDN);
    mpfr_clear(z);
}

void om_split(mpfr_t *mixes, mpfr_t *scale, mpfr_t *base, size_t hc,
              const mpfr_t hc_eps, mpfr_t *pre, mpfr_t *post, mpfr_t *L) {
    for (size_t j = 0; j < hc; j++) {
        om_gate(pre[j], mixes[j], scale[0], base[j]);
        mpfr_add(pre[j], pre[j], hc_eps, MPFR_RNDN);
        om_gate(post[j], mixes[hc + j], scale[1], base[hc + j]);
        mpfr_mul_2ui(post[j], post[j], 1, MPFR_RNDN);
    }
    for (size_t q = 0; q < hc * hc; q++) {
        mpfr_mul(L[q], mixes[2 * hc + q], scale[2], MPFR_RNDN);
        mpfr_add(L[q], L[q], base[2 * hc + q], MPFR_RNDN);
    }
}

void om_head_weights(mpfr_t *mixes, const mpfr_t scale, mpfr_t *base, size_t hc,
                     const mpfr_t hc_eps, mpfr_t *w) {
    for (size_t j = 0; j < hc; j++) {
        om_gate(w[j], mixes[j], scale, base[j]);
        mpfr_add(w[j], w[j], hc_eps, MPFR_RNDN);
    }
}

/* ---- (S1)-(S3) Sinkhorn-Knopp ------------------------------------------------------ */
/* Divide every line of c by (its sum + eps): rows when row_step, else
 * columns.  All n sums are taken before any entry changes. */
static void sk_normalize(mpfr_t *c, size_t n, const mpfr_t eps, int row_step, mpfr_t *sum) {
    for (size_t a = 0; a < n; a++) {
        mpfr_set_ui(sum[a], 0, MPFR_RNDN);
        for (size_t b = 0; b < n; b++)
            mpfr_add(sum[a], sum[a], row_step ? c[a * n + b] : c[b * n + a], MPFR_RNDN);
        mpfr_add(sum[a], sum[a], eps, MPFR_RNDN);
    }
    for (size_t j = 0; j < n; j++)
        for (size_t k = 0; k < n; k++)
            mpfr_div(c[j * n + k], c[j * n + k], sum[row_step ? j : k], MPFR_RNDN);
}

/* Row softmax + eps, in place on one row of n logits. */
static void sk_softmax_row(mpfr_t *row, size_t n, const mpfr_t eps, mpfr_t s) {
    mpfr_t mx;
    mpfr_init_set(mx, row[0], MPFR_RNDN);
    for (size_t k = 1; k < n; k++) mpfr_max(mx, mx, row[k], MPFR_RNDN);
    mpfr_set_ui(s, 0, MPFR_RNDN);
    for (size_t k = 0; k < n; k++) {
        /* -Inf - -Inf and +Inf - +Inf are NaN, as in fp32: such rows are NaN */
        mpfr_sub(row[k], row[k], mx, MPFR_RNDN);
        mpfr_exp(row[k], row[k], MPFR_RNDN);
        mpfr_add(s, s, row[k], MPFR_RNDN);
    }
    for (size_t k = 0; k < n; k++) {
        mpfr_div(row[k], row[k], s, MPFR_RNDN);
        mpfr_add(row[k], row[k], eps, MPFR_RNDN);
    }
    mpfr_clear(mx);
}

void om_sinkhorn_init(mpfr_t *c, size_t n, const mpfr_t eps, mpfr_t *sum) {
    for (size_t j = 0; j < n; j++) sk_softmax_row(&c[j * n], n, eps, sum[0]);
    sk_normalize(c, n, eps, 0, sum);
}

void om_sinkhorn_rounds(mpfr_t *c, size_t n, int rounds, const mpfr_t eps, mpfr_t *sum) {
    for (int t = 0; t < rounds; t++) {
        sk_normalize(c, n, eps, 1, sum);
        sk_normalize(c, n, eps, 0, sum);
    }
}

/* ---- (H5) weighted sum and hc_post ------------------------------------------------- */
/* acc += a * bits, mag += |a * bits|; p is scratch. */
static void add_product(mpfr_t acc, mpfr_t mag, const mpfr_t a, uint32_t bits, mpfr_t p) {
    ox_set_f32_bits(p, bits);
    mpfr_mul(p, p, a, MPFR_RNDN);
    mpfr_add(acc, acc, p, MPFR_RNDN);
    mpfr_abs(p, p, MPFR_RNDN);
    mpfr_add(mag, mag, p, MPFR_RNDN);
}

void om_weighted_sum(const uint32_t *x, mpfr_t *w, size_t hc, size_t d, mpfr_t *y,
                     mpfr_t *absum) {
    mpfr_t p;
    mpfr_init(p);
    for (size_t i = 0; i < d; i++) {
        mpfr_set_ui(y[i], 0, MPFR_RNDN);
        mpfr_set_ui(absum[i], 0, MPFR_RNDN);
        for (size_t j = 0; j < hc; j++) add_product(y[i], absum[i], w[j], x[j * d + i], p);
    }
    mpfr_clear(p);
}

void om_post(const uint32_t *f, const uint32_t *x, mpfr_t *post, mpfr_t *comb,
             size_t hc, size_t d, mpfr_t *out, mpfr_t *absum) {
    mpfr_t p;
    mpfr_init(p);
    for (size_t k = 0; k < hc; k++)
        for (size_t i = 0; i < d; i++) {
            mpfr_t *o = &out[k * d + i], *m = &absum[k * d + i];
            mpfr_set_ui(*o, 0, MPFR_RNDN);
            mpfr_set_ui(*m, 0, MPFR_RNDN);
            add_product(*o, *m, post[k], f[i], p);
            /* comb's first index j is the old stream: column k of comb */
            for (size_t j = 0; j < hc; j++) add_product(*o, *m, comb[j * hc + k], x[j * d + i], p);
        }
    mpfr_clear(p);
}
