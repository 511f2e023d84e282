/* muon.c - hybrid Newton-Schulz and the Muon step of spec/muon.md.
 * Matrix products go through an SGEMM passed in: ref's (each element a sum
 * over the inner index in increasing order, no FMA) for dsv4_ref_*, opt's
 * (packed, FMA, threaded) for dsv4_opt_* in opt/muon.c.  Everything else is
 * O(rows * cols) element-wise work, done here once for both paths, one
 * rounding per operation in the order the spec writes it: so ref and opt
 * differ only through their SGEMM. */
#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* V4's schedule (spec/muon.md §1): the fp32 values of the report's constants. */
const float dsv4_ns_v4_coef[10 * 3] = {
    3.4445f, -4.7750f, 2.0315f, 3.4445f, -4.7750f, 2.0315f, 3.4445f, -4.7750f, 2.0315f,
    3.4445f, -4.7750f, 2.0315f, 3.4445f, -4.7750f, 2.0315f, 3.4445f, -4.7750f, 2.0315f,
    3.4445f, -4.7750f, 2.0315f, 3.4445f, -4.7750f, 2.0315f, 2.0f,    -1.5f,    0.5f,
    2.0f,    -1.5f,    0.5f,
};

/* y [cols, rows] = x^T for x [rows, cols]. */
static void transpose(const float *x, size_t rows, size_t cols, float *y) {
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < cols; j++) y[j * rows + i] = x[i * cols + j];
}

/* (N1) X0 = Z / (||Z||_F + eps) or Z / max(||Z||_F, eps), the norm summed in
 * z's row-major order.  y, x: [count]; x may equal y. */
static void ns_normalize(const float *y, size_t count, float eps, dsv4_ns_eps_form form,
                         float *x) {
    float ss = 0.0f;
    for (size_t i = 0; i < count; i++) ss = ss + y[i] * y[i];
    float f = sqrtf(ss);
    float div = form == DSV4_NS_EPS_MAX ? (f > eps ? f : eps) : f + eps;
    for (size_t i = 0; i < count; i++) x[i] = y[i] / div;
}

/* Scratch of one Newton-Schulz run, one allocation: A, AA, B [r, r]; BX, Y
 * [r, c] (r = min(rows, cols), c the other); then `extra` matrices [rows,
 * cols] the caller uses (the Muon step's u and O').  And the SGEMM that does
 * the products (ref's or opt's). */
typedef struct ns_work {
    float *a, *aa, *b, *bx, *y, *extra;
    dsv4_sgemm_fn gemm;
} ns_work;

/* The bytes of that scratch, sizeof(float) * (3 r^2 + (2 + extra) rows cols):
 * the one expression ns_alloc allocates.  0 when it overflows size_t. */
static int ns_scratch_bytes(size_t rows, size_t cols, size_t extra, size_t *bytes) {
    size_t r = rows < cols ? rows : cols, rr, squares, count, mats;
    if (!dsv4_mul_ok(r, r, &rr) || !dsv4_mul_ok(3, rr, &squares)) return 0;
    if (!dsv4_mul_ok(rows, cols, &count) || !dsv4_mul_ok(2 + extra, count, &mats)) return 0;
    if (mats > SIZE_MAX - squares) return 0;
    return dsv4_mul_ok(squares + mats, sizeof(float), bytes);
}

/* (N3) one step on x [r, c]:  A = X X^T;  B = b A + c (A A);  X = a X + B X.
 * The arguments were checked before the first step, so the products cannot fail. */
static void ns_step(float *x, size_t r, size_t c, const float *coef, const ns_work *w) {
    w->gemm(0, 1, r, r, c, 1.0f, x, c, x, c, 0.0f, w->a, r);
    w->gemm(0, 0, r, r, r, 1.0f, w->a, r, w->a, r, 0.0f, w->aa, r);
    for (size_t i = 0; i < r * r; i++) w->b[i] = coef[1] * w->a[i] + coef[2] * w->aa[i];
    w->gemm(0, 0, r, c, r, 1.0f, w->b, r, x, c, 0.0f, w->bx, c);
    for (size_t i = 0; i < r * c; i++) x[i] = coef[0] * x[i] + w->bx[i];
}

/* The checks of every Newton-Schulz entry point; count = rows * cols, bytes
 * = the scratch of a run with `extra` caller matrices (ns_scratch_bytes). */
static dsv4_status ns_check(const dsv4_ns_cfg *cfg, size_t rows, size_t cols, size_t extra,
                            size_t *count, size_t *bytes) {
    if (!cfg) return DSV4_E_NULL;
    if (cfg->steps < 0 || (cfg->steps > 0 && !cfg->coef)) return cfg->steps < 0 ? DSV4_E_ARG
                                                                                : DSV4_E_NULL;
    if (!(cfg->eps >= 0.0f && cfg->eps < INFINITY)) return DSV4_E_ARG;
    if ((unsigned)cfg->eps_form > DSV4_NS_EPS_MAX) return DSV4_E_ARG;
    if (!ns_scratch_bytes(rows, cols, extra, bytes)) return DSV4_E_OVERFLOW;
    *count = rows * cols; /* a part of the scratch, so it fits */
    return DSV4_OK;
}

/* (N3, N4) The S steps from a normalized x0 [rows, cols] (z's orientation),
 * with a caller-provided workspace.  out may equal x0. */
static void ns_iterate(const dsv4_ns_cfg *cfg, size_t rows, size_t cols, const float *x0,
                       float *out, float *steps_out, const ns_work *w) {
    int tr = rows > cols;                       /* (N2) work on the wide orientation */
    size_t r = tr ? cols : rows, c = tr ? rows : cols, count = rows * cols;
    float *x = w->y;                            /* X [r, c] */
    if (tr) transpose(x0, rows, cols, x);
    else memcpy(x, x0, sizeof(float) * count);
    for (int s = 0; s < cfg->steps; s++) {
        ns_step(x, r, c, &cfg->coef[3 * s], w);
        if (!steps_out) continue;
        float *dst = &steps_out[(size_t)s * count];
        if (tr) transpose(x, r, c, dst);        /* (N4) in z's orientation */
        else memcpy(dst, x, sizeof(float) * count);
    }
    if (tr) transpose(x, r, c, out);
    else memcpy(out, x, sizeof(float) * count);
}

/* Newton-Schulz: (N1) normalize in z's orientation, then the steps. */
static void newton_schulz(const dsv4_ns_cfg *cfg, size_t rows, size_t cols, const float *z,
                          float *out, float *steps_out, const ns_work *w) {
    ns_normalize(z, rows * cols, cfg->eps, cfg->eps_form, w->bx); /* bx is free until step 1 */
    ns_iterate(cfg, rows, cols, w->bx, out, steps_out, w);
}

/* The scratch of ns_work, `bytes` as ns_check computed it for these rows,
 * cols and extra. */
static dsv4_status ns_alloc(size_t rows, size_t cols, size_t bytes, dsv4_sgemm_fn gemm,
                            ns_work *w) {
    size_t r = rows < cols ? rows : cols, count = rows * cols;
    float *mem = malloc(bytes);
    if (!mem) return DSV4_E_NOMEM;
    w->gemm = gemm;
    w->a = mem;
    w->aa = w->a + r * r;
    w->b = w->aa + r * r;
    w->bx = w->b + r * r;
    w->y = w->bx + count;
    w->extra = w->y + count;
    return DSV4_OK;
}

dsv4_status dsv4_newton_schulz_with(dsv4_sgemm_fn gemm, const dsv4_ns_cfg *cfg, size_t rows,
                                    size_t cols, const float *z, float *out, float *steps_out) {
    size_t count, bytes;
    ns_work w;
    dsv4_status st = ns_check(cfg, rows, cols, 0, &count, &bytes);
    if (st != DSV4_OK || count == 0) return st;
    if (!z || !out) return DSV4_E_NULL;
    if ((st = ns_alloc(rows, cols, bytes, gemm, &w)) != DSV4_OK) return st;
    newton_schulz(cfg, rows, cols, z, out, steps_out, &w);
    free(w.a);
    return DSV4_OK;
}

dsv4_status dsv4_ns_iterate_with(dsv4_sgemm_fn gemm, const dsv4_ns_cfg *cfg, size_t rows,
                                 size_t cols, const float *x0, float *out, float *steps_out) {
    size_t count, bytes;
    ns_work w;
    dsv4_status st = ns_check(cfg, rows, cols, 0, &count, &bytes);
    if (st != DSV4_OK || count == 0) return st;
    if (!x0 || !out) return DSV4_E_NULL;
    if ((st = ns_alloc(rows, cols, bytes, gemm, &w)) != DSV4_OK) return st;
    ns_iterate(cfg, rows, cols, x0, out, steps_out, &w);
    free(w.a);
    return DSV4_OK;
}

dsv4_status dsv4_ns_normalize(const dsv4_ns_cfg *cfg, size_t rows, size_t cols, const float *z,
                              float *x0) {
    size_t count, bytes;
    dsv4_status st = ns_check(cfg, rows, cols, 0, &count, &bytes);
    if (st != DSV4_OK || count == 0) return st;
    if (!z || !x0) return DSV4_E_NULL;
    ns_normalize(z, count, cfg->eps, cfg->eps_form, x0);
    return DSV4_OK;
}

/* ---- the Muon step ------------------------------------------------------------- */
/* The fp32 scalars of one step (spec/muon.md M1-M5), each formed in double
 * and rounded once. */
typedef struct muon_scalars {
    float mu, one_minus_mu, decay, sigma;
} muon_scalars;

static muon_scalars muon_scalars_of(const dsv4_muon_cfg *cfg, size_t rows, size_t cols) {
    muon_scalars s;
    double big = (double)(rows > cols ? rows : cols);
    double aspect = (double)rows / (double)cols;
    s.mu = (float)cfg->momentum;
    s.one_minus_mu = (float)(1.0 - cfg->momentum);
    s.decay = (float)(1.0 - cfg->lr * cfg->weight_decay);
    s.sigma = cfg->scale_rule == DSV4_MUON_SCALE_ASPECT
                  ? (float)(cfg->lr * sqrt(aspect > 1.0 ? aspect : 1.0))
                  : (float)(cfg->lr * cfg->gamma * sqrt(big));
    return s;
}

/* (M1, M2) momentum update and the Nesterov input u.  [count] each. */
static void muon_momentum(const dsv4_muon_cfg *cfg, const muon_scalars *s, float *m,
                          const float *g, float *u, size_t count) {
    for (size_t i = 0; i < count; i++) {
        if (cfg->momentum_form == DSV4_MUON_MOMENTUM_LERP) {
            m[i] = m[i] + s->one_minus_mu * (g[i] - m[i]);
            u[i] = g[i] + s->mu * (m[i] - g[i]);
        } else {
            m[i] = s->mu * m[i] + g[i];
            u[i] = s->mu * m[i] + g[i];
        }
    }
}

/* (M5) W = W * decay - sigma * O'. */
static void muon_apply(const muon_scalars *s, float *w, const float *o, size_t count) {
    for (size_t i = 0; i < count; i++) w[i] = w[i] * s->decay - s->sigma * o[i];
}

/* The Muon step's scratch holds two matrices [rows, cols] besides
 * Newton-Schulz's own: u, then O'. */
enum { MUON_EXTRA = 2 };

/* The checks of every Muon entry point (the stages check as the whole step
 * does, so that they give the same statuses); count = rows * cols, total =
 * n_mats * count, bytes = the step's scratch. */
static dsv4_status muon_check(const dsv4_muon_cfg *cfg, size_t n_mats, size_t rows,
                              size_t cols, size_t *count, size_t *total, size_t *bytes) {
    if (!cfg) return DSV4_E_NULL;
    dsv4_status st = ns_check(&cfg->ns, rows, cols, MUON_EXTRA, count, bytes);
    if (st != DSV4_OK) return st;
    if ((unsigned)cfg->momentum_form > DSV4_MUON_MOMENTUM_LERP ||
        (unsigned)cfg->scale_rule > DSV4_MUON_SCALE_ASPECT)
        return DSV4_E_ARG;
    if (!isfinite(cfg->lr) || !isfinite(cfg->momentum) || !isfinite(cfg->weight_decay) ||
        !isfinite(cfg->gamma))
        return DSV4_E_ARG;
    if (!dsv4_mul_ok(n_mats, *count, total)) return DSV4_E_OVERFLOW;
    return DSV4_OK;
}

dsv4_status dsv4_muon_step_with(dsv4_sgemm_fn gemm, const dsv4_muon_cfg *cfg, size_t n_mats,
                                size_t rows, size_t cols, const float *g, float *w, float *m,
                                float *ns_out) {
    size_t count, total, bytes;
    ns_work work;
    dsv4_status st = muon_check(cfg, n_mats, rows, cols, &count, &total, &bytes);
    if (st != DSV4_OK || total == 0) return st;
    if (!w || !m || !g) return DSV4_E_NULL;
    if ((st = ns_alloc(rows, cols, bytes, gemm, &work)) != DSV4_OK) return st;
    float *u = work.extra, *o = u + count; /* [rows, cols] each */
    muon_scalars s = muon_scalars_of(cfg, rows, cols);
    for (size_t e = 0; e < n_mats; e++) {
        size_t at = e * count;
        muon_momentum(cfg, &s, &m[at], &g[at], u, count);            /* M1, M2 */
        newton_schulz(&cfg->ns, rows, cols, u, o, NULL, &work);      /* M3 */
        muon_apply(&s, &w[at], o, count);                            /* M4, M5 */
        if (ns_out) memcpy(&ns_out[at], o, sizeof(float) * count);
    }
    free(work.a);
    return DSV4_OK;
}

dsv4_status dsv4_ref_newton_schulz(const dsv4_ns_cfg *cfg, size_t rows, size_t cols,
                                   const float *z, float *out, float *steps_out) {
    return dsv4_newton_schulz_with(dsv4_ref_sgemm, cfg, rows, cols, z, out, steps_out);
}

dsv4_status dsv4_ref_ns_iterate(const dsv4_ns_cfg *cfg, size_t rows, size_t cols,
                                const float *x0, float *out, float *steps_out) {
    return dsv4_ns_iterate_with(dsv4_ref_sgemm, cfg, rows, cols, x0, out, steps_out);
}

dsv4_status dsv4_muon_nesterov(const dsv4_muon_cfg *cfg, size_t n_mats, size_t rows,
                               size_t cols, const float *g, float *m, float *u) {
    size_t count, total, bytes;
    dsv4_status st = muon_check(cfg, n_mats, rows, cols, &count, &total, &bytes);
    if (st != DSV4_OK || total == 0) return st;
    if (!m || !g || !u) return DSV4_E_NULL;
    muon_scalars s = muon_scalars_of(cfg, rows, cols);
    muon_momentum(cfg, &s, m, g, u, total);
    return DSV4_OK;
}

dsv4_status dsv4_muon_update(const dsv4_muon_cfg *cfg, size_t n_mats, size_t rows, size_t cols,
                            const float *o, float *w) {
    size_t count, total, bytes;
    dsv4_status st = muon_check(cfg, n_mats, rows, cols, &count, &total, &bytes);
    if (st != DSV4_OK || total == 0) return st;
    if (!w || !o) return DSV4_E_NULL;
    muon_scalars s = muon_scalars_of(cfg, rows, cols);
    muon_apply(&s, w, o, total);
    return DSV4_OK;
}

dsv4_status dsv4_ref_muon_step(const dsv4_muon_cfg *cfg, size_t n_mats, size_t rows,
                               size_t cols, const float *g, float *w, float *m, float *ns_out) {
    return dsv4_muon_step_with(dsv4_ref_sgemm, cfg, n_mats, rows, cols, g, w, m, ns_out);
}
