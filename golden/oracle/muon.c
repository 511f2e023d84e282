/* muon.c - exact arithmetic of the optimizer family (spec/muon.md): MPFR
 * matrices, hybrid Newton-Schulz, the conditioning tier, the fp32 scalars
 * and the element-wise updates with their error bounds. */
#include "muon.h"

#include <stdlib.h>

/* ---- matrices ---------------------------------------------------------------- */
int ou_mat_init(ou_mat *a, size_t rows, size_t cols) {
    size_t n = rows * cols;
    a->rows = rows;
    a->cols = cols;
    a->v = malloc((n ? n : 1) * sizeof *a->v);
    if (!a->v) return -1;
    for (size_t i = 0; i < n; i++) mpfr_init_set_ui(a->v[i], 0, MPFR_RNDN);
    return 0;
}

void ou_mat_clear(ou_mat *a) {
    if (!a->v) return;
    for (size_t i = 0; i < a->rows * a->cols; i++) mpfr_clear(a->v[i]);
    free(a->v);
    a->v = NULL;
}

void ou_mat_set_bits(ou_mat *a, const uint32_t *bits) {
    for (size_t i = 0; i < a->rows * a->cols; i++) ox_set_f32_bits(a->v[i], bits[i]);
}

void ou_mat_round(const ou_mat *a, uint32_t *bits) {
    for (size_t i = 0; i < a->rows * a->cols; i++) bits[i] = ox_round_f32(a->v[i]);
}

void ou_mat_fro(const ou_mat *a, mpfr_t f) {
    mpfr_t sq;
    mpfr_init(sq);
    mpfr_set_ui(f, 0, MPFR_RNDN);
    for (size_t i = 0; i < a->rows * a->cols; i++) {
        mpfr_sqr(sq, a->v[i], MPFR_RNDN);
        mpfr_add(f, f, sq, MPFR_RNDN);
    }
    mpfr_sqrt(f, f, MPFR_RNDN);
    mpfr_clear(sq);
}

/* a <-> a^T by moving the MPFR values (no rounding). */
static int mat_transpose(ou_mat *a) {
    ou_mat t;
    if (ou_mat_init(&t, a->cols, a->rows) != 0) return -1;
    for (size_t i = 0; i < a->rows; i++)
        for (size_t j = 0; j < a->cols; j++) mpfr_swap(t.v[j * a->rows + i], a->v[i * a->cols + j]);
    ou_mat_clear(a);
    *a = t;
    return 0;
}

/* c [n, m] = a [n, k] * b [k, m] (c distinct from a and b), or with
 * b_transposed, a * b^T for b stored [m, k]. */
static void mat_mul(const ou_mat *a, const ou_mat *b, int b_transposed, ou_mat *c, mpfr_t tmp) {
    size_t n = a->rows, k = a->cols, m = c->cols;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++) {
            mpfr_ptr acc = c->v[i * m + j];
            mpfr_set_ui(acc, 0, MPFR_RNDN);
            for (size_t p = 0; p < k; p++) {
                mpfr_srcptr bv = b_transposed ? b->v[j * k + p] : b->v[p * m + j];
                mpfr_mul(tmp, a->v[i * k + p], bv, MPFR_RNDN);
                mpfr_add(acc, acc, tmp, MPFR_RNDN);
            }
        }
}

/* ---- Newton-Schulz ---------------------------------------------------------- */
/* fp32 bit patterns of spec/muon.md §1: 3.4445, -4.7750, 2.0315 and the
 * exact 2, -1.5, 0.5. */
static const uint32_t coef_quintic[3] = {0x405C72B0u, 0xC098CCCDu, 0x40020419u};
static const uint32_t coef_quadratic[3] = {0x40000000u, 0xBFC00000u, 0x3F000000u};

void ou_ns_coef(const ou_ns *c, int s, mpfr_t a, mpfr_t b, mpfr_t cc) {
    const uint32_t *k = (c->classic || s <= 8) ? coef_quintic : coef_quadratic;
    ox_set_f32_bits(a, k[0]);
    ox_set_f32_bits(b, k[1]);
    ox_set_f32_bits(cc, k[2]);
}

void ou_ns_normalize(const ou_ns *c, ou_mat *x) {
    mpfr_t f, eps;
    mpfr_inits(f, eps, (mpfr_ptr)0);
    ou_mat_fro(x, f);
    ox_set_f32_bits(eps, c->eps);
    if (c->eps_max) mpfr_max(f, f, eps, MPFR_RNDN);
    else mpfr_add(f, f, eps, MPFR_RNDN);
    for (size_t i = 0; i < x->rows * x->cols; i++) mpfr_div(x->v[i], x->v[i], f, MPFR_RNDN);
    mpfr_clears(f, eps, (mpfr_ptr)0);
}

/* One step on y [r, c], r <= c:  A = Y Y^T;  B = b A + c (A A);  Y = a Y + B Y. */
static int step_wide(const ou_ns *cfg, int s, ou_mat *y) {
    size_t r = y->rows, c = y->cols;
    ou_mat A, AA, BY;
    int okA = ou_mat_init(&A, r, r), okAA = ou_mat_init(&AA, r, r), okBY = ou_mat_init(&BY, r, c);
    if (okA || okAA || okBY) {
        if (!okA) ou_mat_clear(&A);
        if (!okAA) ou_mat_clear(&AA);
        if (!okBY) ou_mat_clear(&BY);
        return -1;
    }
    mpfr_t a, b, cc, t;
    mpfr_inits(a, b, cc, t, (mpfr_ptr)0);
    ou_ns_coef(cfg, s, a, b, cc);
    mat_mul(y, y, 1, &A, t);   /* A [r, r] */
    mat_mul(&A, &A, 0, &AA, t); /* A A [r, r] */
    for (size_t i = 0; i < r * r; i++) { /* B = b A + c AA, kept in AA */
        mpfr_mul(t, b, A.v[i], MPFR_RNDN);
        mpfr_mul(AA.v[i], cc, AA.v[i], MPFR_RNDN);
        mpfr_add(AA.v[i], t, AA.v[i], MPFR_RNDN);
    }
    mat_mul(&AA, y, 0, &BY, t); /* B Y [r, c] */
    for (size_t i = 0; i < r * c; i++) {
        mpfr_mul(t, a, y->v[i], MPFR_RNDN);
        mpfr_add(y->v[i], t, BY.v[i], MPFR_RNDN);
    }
    mpfr_clears(a, b, cc, t, (mpfr_ptr)0);
    ou_mat_clear(&A);
    ou_mat_clear(&AA);
    ou_mat_clear(&BY);
    return 0;
}

int ou_ns_step(const ou_ns *c, int s, ou_mat *x) {
    int tall = x->rows > x->cols;
    if (tall && mat_transpose(x) != 0) return -1;
    int rc = step_wide(c, s, x);
    if (tall && mat_transpose(x) != 0) rc = -1;
    return rc;
}

int ou_ns_run(const ou_ns *c, ou_mat *x) {
    ou_ns_normalize(c, x);
    for (int s = 1; s <= c->steps; s++)
        if (ou_ns_step(c, s, x) != 0) return -1;
    return 0;
}

/* ---- conditioning tier ------------------------------------------------------ */
/* One Jacobi rotation of the symmetric g [n, n] that zeroes g[p][q]. */
static void jacobi_rotate(mpfr_t *g, size_t n, size_t p, size_t q, mpfr_t *w) {
    mpfr_ptr theta = w[0], t = w[1], c = w[2], s = w[3], x = w[4], y = w[5];
    /* theta = (g_qq - g_pp) / (2 g_pq);  t = sign(theta) / (|theta| + sqrt(theta^2 + 1)) */
    mpfr_sub(theta, g[q * n + q], g[p * n + p], MPFR_RNDN);
    mpfr_div(theta, theta, g[p * n + q], MPFR_RNDN);
    mpfr_div_2ui(theta, theta, 1, MPFR_RNDN);
    mpfr_sqr(t, theta, MPFR_RNDN);
    mpfr_add_ui(t, t, 1, MPFR_RNDN);
    mpfr_sqrt(t, t, MPFR_RNDN);
    mpfr_abs(x, theta, MPFR_RNDN);
    mpfr_add(t, t, x, MPFR_RNDN);
    mpfr_ui_div(t, 1, t, MPFR_RNDN);
    if (mpfr_sgn(theta) < 0) mpfr_neg(t, t, MPFR_RNDN);
    /* c = 1 / sqrt(t^2 + 1), s = t c */
    mpfr_sqr(c, t, MPFR_RNDN);
    mpfr_add_ui(c, c, 1, MPFR_RNDN);
    mpfr_rec_sqrt(c, c, MPFR_RNDN);
    mpfr_mul(s, t, c, MPFR_RNDN);
    for (size_t k = 0; k < n; k++) {
        if (k == p || k == q) continue;
        /* g_kp' = c g_kp - s g_kq;  g_kq' = s g_kp + c g_kq (and the symmetric entries) */
        mpfr_mul(x, c, g[k * n + p], MPFR_RNDN);
        mpfr_mul(y, s, g[k * n + q], MPFR_RNDN);
        mpfr_sub(x, x, y, MPFR_RNDN);
        mpfr_mul(y, s, g[k * n + p], MPFR_RNDN);
        mpfr_fma(y, c, g[k * n + q], y, MPFR_RNDN);
        mpfr_set(g[k * n + p], x, MPFR_RNDN);
        mpfr_set(g[p * n + k], x, MPFR_RNDN);
        mpfr_set(g[k * n + q], y, MPFR_RNDN);
        mpfr_set(g[q * n + k], y, MPFR_RNDN);
    }
    /* g_pp' = g_pp - t g_pq;  g_qq' = g_qq + t g_pq;  g_pq' = 0 */
    mpfr_mul(x, t, g[p * n + q], MPFR_RNDN);
    mpfr_sub(g[p * n + p], g[p * n + p], x, MPFR_RNDN);
    mpfr_add(g[q * n + q], g[q * n + q], x, MPFR_RNDN);
    mpfr_set_ui(g[p * n + q], 0, MPFR_RNDN);
    mpfr_set_ui(g[q * n + p], 0, MPFR_RNDN);
}

/* Sum of squares of the off-diagonal entries of g [n, n]. */
static void off_diagonal(mpfr_t *g, size_t n, mpfr_t off, mpfr_t t) {
    mpfr_set_ui(off, 0, MPFR_RNDN);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            if (i != j) {
                mpfr_sqr(t, g[i * n + j], MPFR_RNDN);
                mpfr_add(off, off, t, MPFR_RNDN);
            }
}

/* lmin = the smallest eigenvalue of the symmetric g [n, n] (destroyed):
 * cyclic Jacobi until the off-diagonal mass is below 2^-400 of trace^2. */
static void min_eigenvalue(mpfr_t *g, size_t n, const mpfr_t trace, mpfr_t lmin) {
    mpfr_t w[6], off, lim;
    for (int i = 0; i < 6; i++) mpfr_init(w[i]);
    mpfr_inits(off, lim, (mpfr_ptr)0);
    mpfr_sqr(lim, trace, MPFR_RNDN);
    mpfr_div_2ui(lim, lim, 400, MPFR_RNDN);
    for (int sweep = 0; sweep < 100; sweep++) {
        off_diagonal(g, n, off, w[0]);
        if (mpfr_lessequal_p(off, lim)) break;
        for (size_t p = 0; p + 1 < n; p++)
            for (size_t q = p + 1; q < n; q++)
                if (!mpfr_zero_p(g[p * n + q])) jacobi_rotate(g, n, p, q, w);
    }
    mpfr_set(lmin, g[0], MPFR_RNDN);
    for (size_t i = 1; i < n; i++) mpfr_min(lmin, lmin, g[i * n + i], MPFR_RNDN);
    for (int i = 0; i < 6; i++) mpfr_clear(w[i]);
    mpfr_clears(off, lim, (mpfr_ptr)0);
}

int ou_ns_tier(const ou_mat *z, mpfr_t tier, mpfr_t ratio) {
    /* Gram matrix of the short side: z z^T for a wide z, z^T z for a tall one. */
    int tall = z->rows > z->cols;
    size_t n = tall ? z->cols : z->rows, k = tall ? z->rows : z->cols;
    ou_mat g;
    if (ou_mat_init(&g, n, n) != 0) return -1;
    mpfr_t t, trace, lmin, r;
    mpfr_inits(t, trace, lmin, r, (mpfr_ptr)0);
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < n; j++)
            for (size_t p = 0; p < k; p++) {
                mpfr_srcptr a = tall ? z->v[p * z->cols + i] : z->v[i * z->cols + p];
                mpfr_srcptr b = tall ? z->v[p * z->cols + j] : z->v[j * z->cols + p];
                mpfr_mul(t, a, b, MPFR_RNDN);
                mpfr_add(g.v[i * n + j], g.v[i * n + j], t, MPFR_RNDN);
            }
    mpfr_set_ui(trace, 0, MPFR_RNDN);
    for (size_t i = 0; i < n; i++) mpfr_add(trace, trace, g.v[i * n + i], MPFR_RNDN);
    mpfr_set_ui(r, 0, MPFR_RNDN);
    if (mpfr_sgn(trace) > 0 && n > 0) {
        min_eigenvalue(g.v, n, trace, lmin);
        if (mpfr_sgn(lmin) > 0) { /* sigma_min / ||z||_F = sqrt(lmin / trace) */
            mpfr_div(r, lmin, trace, MPFR_RNDN);
            mpfr_sqrt(r, r, MPFR_RNDN);
        }
    }
    const char *tier_text = "1e-5";
    if (mpfr_sgn(trace) > 0 && mpfr_cmp_d(r, 1e-2) < 0)
        tier_text = mpfr_cmp_d(r, 1e-3) >= 0 ? "3e-4" : "1e-2";
    mpfr_set_str(tier, tier_text, 10, MPFR_RNDN);
    if (ratio) mpfr_set(ratio, r, MPFR_RNDN);
    mpfr_clears(t, trace, lmin, r, (mpfr_ptr)0);
    ou_mat_clear(&g);
    return 0;
}

/* ---- scalars: IEEE double emulated with 53-bit MPFR ------------------------- */
/* The hyper-parameter arithmetic of spec/muon.md is done in double.  MPFR at
 * 53 bits, round to nearest, rounds exactly as binary64 for normal results
 * (all of them here), and no compiler contraction or libm sqrt can get in. */
typedef enum { D_ADD, D_SUB, D_MUL, D_DIV, D_SQRT } d_op;

static double d_arith(double a, d_op op, double b) {
    mpfr_t x, y;
    mpfr_init2(x, 53);
    mpfr_init2(y, 53);
    mpfr_set_d(x, a, MPFR_RNDN);
    mpfr_set_d(y, b, MPFR_RNDN);
    switch (op) {
    case D_ADD: mpfr_add(x, x, y, MPFR_RNDN); break;
    case D_SUB: mpfr_sub(x, x, y, MPFR_RNDN); break;
    case D_MUL: mpfr_mul(x, x, y, MPFR_RNDN); break;
    case D_DIV: mpfr_div(x, x, y, MPFR_RNDN); break;
    case D_SQRT: mpfr_sqrt(x, x, MPFR_RNDN); break;
    }
    double r = mpfr_get_d(x, MPFR_RNDN); /* exact: x has 53 bits */
    mpfr_clear(x);
    mpfr_clear(y);
    return r;
}

/* x^t by t repeated double multiplications, starting from 1 (no pow). */
static double d_power(double x, long t) {
    double p = 1.0;
    for (long i = 0; i < t; i++) p = d_arith(p, D_MUL, x);
    return p;
}

void ou_muon_scalars(const ou_muon_hp *hp, size_t rows, size_t cols, ou_muon_k *k) {
    k->mu = ox_f32_of_double(hp->momentum);
    k->one_minus_mu = ox_f32_of_double(d_arith(1.0, D_SUB, hp->momentum));
    k->decay =
        ox_f32_of_double(d_arith(1.0, D_SUB, d_arith(hp->lr, D_MUL, hp->weight_decay)));
    if (hp->aspect) {
        double aspect = d_arith((double)rows, D_DIV, (double)cols);
        double root = d_arith(aspect > 1.0 ? aspect : 1.0, D_SQRT, 0.0);
        k->sigma = ox_f32_of_double(d_arith(hp->lr, D_MUL, root));
    } else {
        double big = (double)(rows > cols ? rows : cols);
        double lg = d_arith(hp->lr, D_MUL, hp->gamma);
        k->sigma = ox_f32_of_double(d_arith(lg, D_MUL, d_arith(big, D_SQRT, 0.0)));
    }
}

void ou_adamw_scalars(const ou_adamw_hp *hp, ou_adamw_k *k) {
    k->decay =
        ox_f32_of_double(d_arith(1.0, D_SUB, d_arith(hp->lr, D_MUL, hp->weight_decay)));
    k->w1 = ox_f32_of_double(d_arith(1.0, D_SUB, hp->beta1));
    k->beta2 = ox_f32_of_double(hp->beta2);
    k->w2 = ox_f32_of_double(d_arith(1.0, D_SUB, hp->beta2));
    double bc1 = d_arith(1.0, D_SUB, d_power(hp->beta1, hp->step));
    double bc2_sq = d_arith(1.0, D_SUB, d_power(hp->beta2, hp->step));
    k->step = ox_f32_of_double(d_arith(hp->lr, D_DIV, bc1));
    k->bc2 = ox_f32_of_double(d_arith(bc2_sq, D_SQRT, 0.0));
    k->eps = ox_f32_of_double(hp->eps);
}

/* ---- element-wise updates and bounds ----------------------------------------- */
/* Below the normal range of fp32 (0 < |x| < 2^-126) a rounding errs by up
 * to half the spacing 2^-149 whatever the value, not by a fraction of it.
 * (An exact zero is not rounded; the errors that can make an
 * implementation's value nonzero there are bounded by the other terms.) */
static int below_normal(const mpfr_t x) {
    return mpfr_regular_p(x) && mpfr_get_exp(x) <= -126; /* |x| < 2^get_exp */
}

/* acc += f * u * |x|, u = 2^-24 (the unit roundoff of fp32); f given in
 * hundredths so that the factors stay exact integers.  When x is below the
 * normal range (a subnormal or underflowing result), also ceil(f/100)
 * times the spacing 2^-149 (more than each rounding can add there).
 * Returns whether it did. */
static int add_ulps(mpfr_t acc, unsigned long f100, const mpfr_t x) {
    mpfr_t t;
    mpfr_init(t);
    mpfr_abs(t, x, MPFR_RNDN);
    mpfr_mul_ui(t, t, f100, MPFR_RNDN);
    mpfr_div_ui(t, t, 100, MPFR_RNDU);
    mpfr_div_2ui(t, t, 24, MPFR_RNDN);
    mpfr_add(acc, acc, t, MPFR_RNDU);
    int low = below_normal(x);
    if (low) {
        mpfr_set_ui_2exp(t, (f100 + 99) / 100, -149, MPFR_RNDN);
        mpfr_add(acc, acc, t, MPFR_RNDU);
    }
    mpfr_clear(t);
    return low;
}

void ou_momentum(int lerp, const mpfr_t m, const mpfr_t g, const mpfr_t mu, const mpfr_t omm,
                 mpfr_t m1, mpfr_t u, mpfr_t bm, mpfr_t bu) {
    mpfr_t t, q;
    mpfr_inits(t, q, (mpfr_ptr)0);
    mpfr_set_ui(bm, 0, MPFR_RNDN);
    mpfr_set_ui(bu, 0, MPFR_RNDN);
    if (lerp) {
        /* m1 = m + (1-mu)(g - m): the difference and the product each round */
        mpfr_sub(t, g, m, MPFR_RNDN);
        mpfr_mul(t, omm, t, MPFR_RNDN);
        mpfr_add(m1, m, t, MPFR_RNDN);
        add_ulps(bm, 201, t);
        add_ulps(bm, 201, m1);
        /* u = g + mu (m1 - g) */
        mpfr_sub(q, m1, g, MPFR_RNDN);
        mpfr_mul(q, mu, q, MPFR_RNDN);
        mpfr_add(u, g, q, MPFR_RNDN);
        add_ulps(bu, 201, q);
    } else {
        /* m1 = mu m + g;  u = mu m1 + g */
        mpfr_mul(t, mu, m, MPFR_RNDN);
        mpfr_add(m1, t, g, MPFR_RNDN);
        add_ulps(bm, 101, t);
        add_ulps(bm, 201, m1);
        mpfr_mul(q, mu, m1, MPFR_RNDN);
        mpfr_add(u, q, g, MPFR_RNDN);
        add_ulps(bu, 101, q);
    }
    /* u also inherits the implementation's error in m1, scaled by mu */
    mpfr_abs(t, mu, MPFR_RNDN);
    mpfr_mul(t, t, bm, MPFR_RNDU);
    mpfr_add(bu, bu, t, MPFR_RNDU);
    add_ulps(bu, 201, u);
    mpfr_clears(t, q, (mpfr_ptr)0);
}

void ou_muon_apply(const mpfr_t w, const mpfr_t o, const mpfr_t decay, const mpfr_t sigma,
                   const mpfr_t odev, mpfr_t w1, mpfr_t bw) {
    mpfr_t a, b;
    mpfr_inits(a, b, (mpfr_ptr)0);
    mpfr_mul(a, w, decay, MPFR_RNDN);
    mpfr_mul(b, sigma, o, MPFR_RNDN);
    mpfr_sub(w1, a, b, MPFR_RNDN);
    mpfr_abs(bw, sigma, MPFR_RNDN);
    mpfr_mul(bw, bw, odev, MPFR_RNDU);
    add_ulps(bw, 101, a);
    add_ulps(bw, 101, b);
    add_ulps(bw, 201, w1);
    mpfr_clears(a, b, (mpfr_ptr)0);
}

void ou_adamw_kv_init(ou_adamw_kv *kv, const ou_adamw_k *k) {
    mpfr_inits(kv->decay, kv->w1, kv->beta2, kv->w2, kv->step, kv->bc2, kv->eps, (mpfr_ptr)0);
    ox_set_f32_bits(kv->decay, k->decay);
    ox_set_f32_bits(kv->w1, k->w1);
    ox_set_f32_bits(kv->beta2, k->beta2);
    ox_set_f32_bits(kv->w2, k->w2);
    ox_set_f32_bits(kv->step, k->step);
    ox_set_f32_bits(kv->bc2, k->bc2);
    ox_set_f32_bits(kv->eps, k->eps);
}

void ou_adamw_kv_clear(ou_adamw_kv *kv) {
    mpfr_clears(kv->decay, kv->w1, kv->beta2, kv->w2, kv->step, kv->bc2, kv->eps, (mpfr_ptr)0);
}

void ou_adamw(const ou_adamw_kv *k, const mpfr_t p, const mpfr_t m, const mpfr_t v,
              const mpfr_t g, mpfr_t p1, mpfr_t m1, mpfr_t v1, mpfr_t bp, mpfr_t bm, mpfr_t bv) {
    mpfr_t a, t, den, r;
    mpfr_inits(a, t, den, r, (mpfr_ptr)0);
    /* (A2) m1 = m + w1 (g - m) */
    mpfr_sub(t, g, m, MPFR_RNDN);
    mpfr_mul(t, k->w1, t, MPFR_RNDN);
    mpfr_add(m1, m, t, MPFR_RNDN);
    mpfr_set_ui(bm, 0, MPFR_RNDN);
    add_ulps(bm, 201, t);
    add_ulps(bm, 201, m1);
    /* (A3) v1 = v beta2 + (w2 g) g: three non-negative roundings, no cancellation */
    mpfr_mul(a, v, k->beta2, MPFR_RNDN);
    mpfr_mul(t, k->w2, g, MPFR_RNDN);
    mpfr_mul(t, t, g, MPFR_RNDN);
    mpfr_add(v1, a, t, MPFR_RNDN);
    mpfr_set_ui(bv, 0, MPFR_RNDN);
    int low = add_ulps(bv, 101, a);
    low |= add_ulps(bv, 201, t);
    low |= add_ulps(bv, 201, v1);
    /* (A5) den = sqrt(v1) / bc2 + eps;  r = m1 / den;  s = step r;  p1 = p decay - s.
     * The implementation's den is within 4.6u of den (sqrt of a 3.01u error,
     * its own rounding, the division, the add), so its s is within
     * step (1.01 bm / den + 5.7u |r|) + u |s| of s. */
    mpfr_sqrt(den, v1, MPFR_RNDN);
    mpfr_div(den, den, k->bc2, MPFR_RNDN);
    mpfr_add(den, den, k->eps, MPFR_RNDN);
    mpfr_div(r, m1, den, MPFR_RNDN);
    mpfr_mul(t, k->step, r, MPFR_RNDN); /* s */
    mpfr_mul(a, p, k->decay, MPFR_RNDN);
    mpfr_sub(p1, a, t, MPFR_RNDN);
    mpfr_div(bp, bm, den, MPFR_RNDU);
    mpfr_mul_ui(bp, bp, 101, MPFR_RNDU);
    mpfr_div_ui(bp, bp, 100, MPFR_RNDU);
    if (low) {
        /* v1 below the normal range: its error bv is absolute, not within a
         * few u, so bound den's error directly: the implementation's den is
         * within D = (sqrt(v1 + bv) - sqrt(v1)) / bc2 of den (sqrt is
         * concave), which moves r by at most |m1| D / (den (den - D)).
         * (The shipped data keep D well below den.) */
        mpfr_t d, e;
        mpfr_inits(d, e, (mpfr_ptr)0);
        mpfr_add(d, v1, bv, MPFR_RNDU);
        mpfr_sqrt(d, d, MPFR_RNDU);
        mpfr_sqrt(e, v1, MPFR_RNDD);
        mpfr_sub(d, d, e, MPFR_RNDU);
        mpfr_div(d, d, k->bc2, MPFR_RNDU);  /* D */
        mpfr_sub(e, den, d, MPFR_RNDD);     /* den - D */
        if (mpfr_sgn(e) > 0) {
            mpfr_mul(e, e, den, MPFR_RNDD);
            mpfr_abs(a, m1, MPFR_RNDN);
            mpfr_mul(d, d, a, MPFR_RNDU);
            mpfr_div(d, d, e, MPFR_RNDU);
        } else {
            mpfr_set_inf(d, 1); /* no bound: the case is unusable */
        }
        mpfr_add(bp, bp, d, MPFR_RNDU);
        mpfr_clears(d, e, (mpfr_ptr)0);
        mpfr_mul(a, p, k->decay, MPFR_RNDN); /* a again: p decay */
    }
    mpfr_abs(den, k->step, MPFR_RNDN);
    mpfr_mul(bp, bp, den, MPFR_RNDU);
    add_ulps(bp, 670, t);
    add_ulps(bp, 101, a);
    add_ulps(bp, 201, p1);
    mpfr_clears(a, t, den, r, (mpfr_ptr)0);
}
