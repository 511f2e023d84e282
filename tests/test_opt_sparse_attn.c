/* test_opt_sparse_attn.c - opt's sparse attention (spec/sparse_attn.md §4,
 * §5), on every ISA the machine supports and on 1, 2, 3 and 7 threads:
 *  - within §5's bound for opt's own order (the bound without the bf16 P
 *    term, which opt does not round), checked per element against the
 *    exact value in double, at V4-Flash and V4-Pro sizes and odd ones;
 *  - the same bits on every ISA, thread count and repeated call, and for a
 *    token whether it comes alone or with others, and whatever the
 *    positions of its rows in kv (prefill and decode agree);
 *  - ref's special values bit for bit (empty rows, NaN rows, sinks);
 *  - o in place of q, lse optional, and ref's status for bad arguments. */
#include "dsv4.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x243F6A8885A308D3u;
static uint32_t rng32(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}
static double uniform01(void) { return (double)rng32() / 4294967296.0; }
static float bf16(float v) { return dsv4_bf16_decode(dsv4_bf16_encode(v)); }
static float normal_bf16(double sd) {
    double s = 0.0;
    for (int i = 0; i < 12; i++) s += uniform01();
    return bf16((float)((s - 6.0) * sd));
}
static uint32_t bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static int isa_list(dsv4_isa *out) {
    int n = 0;
    for (int i = 0; i < DSV4_ISA_COUNT; i++)
        if (dsv4_isa_supported((dsv4_isa)i)) out[n++] = (dsv4_isa)i;
    return n;
}

static void *xmalloc(size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    cr_assert_not_null(p);
    return p;
}

/* ---- a case ------------------------------------------------------------------------- */
typedef struct acase {
    dsv4_sparse_attn_cfg cfg;
    size_t T, N, K;
    float *q, *kv, *sink;
    int32_t *idx;
} acase;

/* Random bf16 q, kv (q with standard deviation qsd), sinks in [-2, 2),
 * lists with about `invalid` percent -1 and out-of-range entries and some
 * repeats. */
static acase make_case(size_t H, size_t D, size_t T, size_t N, size_t K, double qsd,
                       unsigned invalid) {
    acase c = {{H, D, dsv4_sparse_attn_scale(D)}, T, N, K, NULL, NULL, NULL, NULL};
    c.q = xmalloc(T * H * D * sizeof *c.q);
    c.kv = xmalloc(N * D * sizeof *c.kv);
    c.sink = xmalloc(H * sizeof *c.sink);
    c.idx = xmalloc(T * K * sizeof *c.idx);
    for (size_t i = 0; i < T * H * D; i++) c.q[i] = normal_bf16(qsd);
    for (size_t i = 0; i < N * D; i++) c.kv[i] = normal_bf16(1.0);
    for (size_t h = 0; h < H; h++) c.sink[h] = (float)(uniform01() * 4.0 - 2.0);
    const int32_t bad[4] = {-1, (int32_t)N, INT32_MIN, -7};
    for (size_t i = 0; i < T * K; i++) {
        unsigned u = rng32() % 100;
        c.idx[i] = u < invalid ? bad[rng32() % 4] : N ? (int32_t)(rng32() % N) : -1;
    }
    return c;
}

static void free_case(acase *c) {
    free(c->q);
    free(c->kv);
    free(c->sink);
    free(c->idx);
}

/* ---- §5's bound for opt, in double ---------------------------------------------------- */
/* The bf16 result got of an exact e within t: bf16(e - t) <= got <= bf16(e + t). */
static int within(float got, double e, double t) {
    if (isnan(e)) return isnan(got);
    return bf16((float)(e - t)) <= got && got <= bf16((float)(e + t)) && got == bf16(got);
}

/* Checks opt's outputs o, lse of a case against the exact values (double)
 * and §5's bound without the 2^-8 term, with nb = ceil(n / 64) (opt's
 * blocks hold 64 valid rows).  Rows with special values must be ref's. */
static void check_bound(const acase *c, const float *o, const float *lse, const char *where) {
    size_t H = c->cfg.n_heads, D = c->cfg.head_dim, K = c->K;
    const double eps = 0x1p-23;
    int32_t *rows = xmalloc(K * sizeof *rows);
    double *l = xmalloc(K * sizeof *l), *w = xmalloc(K * sizeof *w), *lam = xmalloc(K * sizeof *lam);
    for (size_t t = 0; t < c->T; t++) {
        size_t n = 0;
        for (size_t e = 0; e < K; e++)
            if (c->idx[t * K + e] >= 0 && (size_t)c->idx[t * K + e] < c->N) rows[n++] = c->idx[t * K + e];
        double nb = (double)((n + 63) / 64), g = ((double)n + 2 * nb + 2) * eps;
        for (size_t h = 0; h < H; h++) {
            const float *qh = c->q + (t * H + h) * D, *oh = o + (t * H + h) * D;
            float lh = lse[t * H + h];
            if (n == 0) {
                for (size_t i = 0; i < D; i++) cr_assert_eq(oh[i], 0.0f, "%s: empty row", where);
                cr_assert(isinf(lh) && lh < 0, "%s: empty row lse", where);
                continue;
            }
            double m = -INFINITY, lmax = 0.0, W = 0.0;
            for (size_t j = 0; j < n; j++) {
                double dot = 0.0, adot = 0.0;
                for (size_t d = 0; d < D; d++) {
                    double p = (double)qh[d] * c->kv[(size_t)rows[j] * D + d];
                    dot += p;
                    adot += fabs(p);
                }
                l[j] = c->cfg.scale * dot;
                lam[j] = fabs(c->cfg.scale) * adot;
                if (l[j] > m) m = l[j];
                if (lam[j] > lmax) lmax = lam[j];
            }
            double delta = ((double)D + 2) * eps * lmax, s = c->sink[h];
            for (size_t j = 0; j < n; j++) W += (w[j] = exp(l[j] - m));
            double lse_bound = delta + g + eps * fabs(log(W)), lse_e = m + log(W);
            for (size_t j = 0; j < n; j++) lse_bound += w[j] / W * (6 * eps * (m - l[j]) + 2 * eps * (nb + 1));
            cr_assert(fabs(lh - lse_e) <= 1.01 * lse_bound + 0x1p-22 * fabs(lse_e),
                      "%s: lse[%zu][%zu] = %.9g, exact %.9g, bound %g", where, t, h, (double)lh,
                      lse_e, lse_bound);
            double M = s > m ? s : m, cM = exp(m - M), sig = exp(s - M), Z = cM * W + sig;
            double E = g + sig / Z * (3 * eps * fabs(s - m) + 2 * eps);
            for (size_t j = 0; j < n; j++)
                E += cM * w[j] / Z * (delta + 6 * eps * (m - l[j]) + 2 * eps * (nb + 1));
            for (size_t i = 0; i < D; i++) {
                double e = 0.0, A = 0.0, S = 0.0;
                for (size_t j = 0; j < n; j++) {
                    double v = c->kv[(size_t)rows[j] * D + i], P = cM * w[j] / Z;
                    double eta = delta + 6 * eps * (m - l[j]) + 2 * eps * (nb + 1);
                    e += P * v;
                    A += P * fabs(v) * (g + eta);
                    S += fabs(v);
                }
                double tol = 1.01 * (A + fabs(e) * E) + 0x1p-126 * S;
                cr_assert(within(oh[i], e, tol),
                          "%s: o[%zu][%zu][%zu] = %a, exact %a, bound %g (%.3g bf16 ulps)", where,
                          t, h, i, (double)oh[i], e, tol, fabs(oh[i] - e) / (fabs(e) * 0x1p-8));
            }
        }
    }
    free(rows);
    free(l);
    free(w);
    free(lam);
}

/* opt on every ISA and thread count: the same bits everywhere, within the
 * bound; ref's status. */
static void check_case(const acase *c, const char *what) {
    size_t no = c->T * c->cfg.n_heads * c->cfg.head_dim, nl = c->T * c->cfg.n_heads;
    float *o = xmalloc(no * 4), *lse = xmalloc(nl * 4), *o1 = xmalloc(no * 4), *l1 = xmalloc(nl * 4);
    dsv4_isa isas[DSV4_ISA_COUNT];
    int n_isa = isa_list(isas), first = 1;
    const int threads[4] = {1, 2, 3, 7};
    for (int a = 0; a < n_isa; a++) {
        cr_assert_eq(dsv4_isa_set(isas[a]), DSV4_OK);
        for (int k = 0; k < 4; k++) {
            cr_assert_eq(dsv4_threads_set(threads[k]), DSV4_OK);
            cr_assert_eq(dsv4_opt_sparse_attn(&c->cfg, c->T, c->N, c->K, c->q, c->kv, c->sink,
                                              c->idx, o, lse),
                         DSV4_OK);
            if (first) {
                memcpy(o1, o, no * 4);
                memcpy(l1, lse, nl * 4);
                first = 0;
                continue;
            }
            for (size_t i = 0; i < no; i++)
                cr_assert_eq(bits(o[i]), bits(o1[i]), "%s: o[%zu] differs on %s, %d threads", what,
                             i, dsv4_isa_name(isas[a]), threads[k]);
            cr_assert_eq(memcmp(lse, l1, nl * 4), 0, "%s: lse differs on %s, %d threads", what,
                         dsv4_isa_name(isas[a]), threads[k]);
        }
    }
    dsv4_isa_set(dsv4_isa_best());
    dsv4_threads_set(2);
    check_bound(c, o1, l1, what);
    free(o);
    free(lse);
    free(o1);
    free(l1);
}

/* ---- V4's sizes ------------------------------------------------------------------------- */
Test(opt_vs_exact, v4_flash_decode, .timeout = 600) {
    acase c = make_case(64, 512, 1, 128 + 1024, 640, 1.0, 3);
    check_case(&c, "H 64 D 512 K 640 T 1");
    free_case(&c);
}

Test(opt_vs_exact, v4_flash_three_tokens, .timeout = 600) {
    acase c = make_case(64, 512, 3, 700, 640, 1.5, 10);
    check_case(&c, "H 64 D 512 K 640 T 3");
    free_case(&c);
}

Test(opt_vs_exact, v4_pro_decode, .timeout = 600) {
    acase c = make_case(128, 512, 1, 128 + 2048, 1152, 1.0, 3);
    check_case(&c, "H 128 D 512 K 1152 T 1");
    free_case(&c);
}

Test(opt_vs_exact, v4_pro_two_tokens, .timeout = 600) {
    acase c = make_case(128, 512, 2, 1300, 1152, 2.0, 20);
    check_case(&c, "H 128 D 512 K 1152 T 2");
    free_case(&c);
}

/* ---- odd sizes: head tails, channel tails, block boundaries --------------------------- */
Test(opt_vs_exact, odd_sizes, .timeout = 600) {
    const size_t Hs[] = {1, 3, 20}, Ds[] = {1, 15, 16, 17, 63, 65}, Ks[] = {0, 1, 63, 64, 65};
    char what[96];
    for (size_t a = 0; a < sizeof Hs / sizeof Hs[0]; a++)
        for (size_t b = 0; b < sizeof Ds / sizeof Ds[0]; b++)
            for (size_t k = 0; k < sizeof Ks / sizeof Ks[0]; k++) {
                acase c = make_case(Hs[a], Ds[b], 3, Ks[k] + 5, Ks[k], 1.0, 10);
                snprintf(what, sizeof what, "H %zu D %zu K %zu", Hs[a], Ds[b], Ks[k]);
                check_case(&c, what);
                free_case(&c);
            }
}

/* Many blocks of 64 valid rows with invalid entries between them: the block
 * boundaries of opt fall every 64 valid rows. */
Test(opt_vs_exact, many_blocks_sharp_logits, .timeout = 600) {
    acase c = make_case(24, 40, 4, 300, 500, 4.0, 30);
    check_case(&c, "H 24 D 40 K 500, logits about +-12");
    free_case(&c);
}

/* ---- special values: ref's bits ----------------------------------------------------------- */
Test(special, same_as_ref) {
    enum { H = 8, D = 24, N = 10, K = 6, T = 4 };
    acase c = make_case(H, D, T, N, K, 1.0, 0);
    const float sinks[H] = {INFINITY, -INFINITY, NAN, 1e30f, -1e30f, 200.0f, 88.8f, 0.0f};
    memcpy(c.sink, sinks, sizeof sinks);
    for (int e = 0; e < K; e++) c.idx[1 * K + e] = e % 2 ? -1 : N + e; /* token 1: empty */
    c.kv[3 * D + 7] = NAN;                                             /* token 2 reads row 3 */
    c.idx[2 * K + 4] = 3;
    for (int e = 0; e < K; e++) { /* tokens 0 and 3 do not */
        if (c.idx[0 * K + e] == 3) c.idx[0 * K + e] = 4;
        if (c.idx[3 * K + e] == 3) c.idx[3 * K + e] = 4;
    }
    c.q[(3 * H + 5) * D + 2] = -INFINITY; /* token 3 head 5 */
    float o[T * H * D], lse[T * H], ro[T * H * D], rl[T * H];
    cr_assert_eq(dsv4_ref_sparse_attn(&c.cfg, T, N, K, c.q, c.kv, c.sink, c.idx, ro, rl), DSV4_OK);
    dsv4_isa isas[DSV4_ISA_COUNT];
    for (int a = 0, n = isa_list(isas); a < n; a++) {
        dsv4_isa_set(isas[a]);
        cr_assert_eq(dsv4_opt_sparse_attn(&c.cfg, T, N, K, c.q, c.kv, c.sink, c.idx, o, lse),
                     DSV4_OK);
        for (int t = 0; t < T; t++)
            for (int h = 0; h < H; h++) {
                int special = t == 1 || t == 2 || (t == 3 && h == 5) || h == 0 || h == 2 || h == 3;
                if (!special) continue;
                const float *po = &o[(t * H + h) * D], *pr = &ro[(t * H + h) * D];
                for (int i = 0; i < D; i++)
                    cr_assert(bits(po[i]) == bits(pr[i]) || (po[i] == 0.0f && pr[i] == 0.0f),
                              "%s: token %d head %d [%d]: opt %a ref %a", dsv4_isa_name(isas[a]),
                              t, h, i, (double)po[i], (double)pr[i]);
            }
        cr_assert(isnan(lse[3 * H + 5]), "a NaN row has a NaN lse");
        for (int h = 0; h < H; h++) {
            cr_assert(isnan(lse[2 * H + h]), "token 2 reads a NaN row");
            cr_assert(isinf(lse[H + h]) && lse[H + h] < 0, "empty row: -Inf");
            cr_assert(isfinite(lse[h]), "token 0 head %d: lse ignores its sink", h);
        }
        for (int i = 0; i < D; i++) cr_assert(isfinite(o[6 * D + i]), "sink 88.8, no overflow");
    }
    dsv4_isa_set(dsv4_isa_best());
    free_case(&c);
}

/* ---- a token's bits are its own --------------------------------------------------------- */
/* A token gives the same bits alone or among others, and when its rows
 * sit elsewhere in kv (a decode step reads them from the ring buffer, a
 * prefill from the sequence): only the valid rows and their order count. */
Test(independence, tokens_and_row_positions) {
    enum { H = 20, D = 72, N = 150, K = 140, T = 5 };
    acase c = make_case(H, D, T, N, K, 1.0, 15);
    float *o = xmalloc(T * H * D * 4), *one = xmalloc(H * D * 4), lse[T * H], l1[H];
    float *kv2 = xmalloc(2 * N * D * 4);
    int32_t idx2[2 * K];
    cr_assert_eq(dsv4_opt_sparse_attn(&c.cfg, T, N, K, c.q, c.kv, c.sink, c.idx, o, lse), DSV4_OK);
    for (size_t t = 0; t < T; t++) {
        cr_assert_eq(dsv4_opt_sparse_attn(&c.cfg, 1, N, K, &c.q[t * H * D], c.kv, c.sink,
                                          &c.idx[t * K], one, l1),
                     DSV4_OK);
        cr_assert_eq(memcmp(one, &o[t * H * D], H * D * 4), 0, "token %zu alone", t);
        /* the rows moved to N - 1 - r of a larger array, invalid entries
         * in other places and numbers */
        for (size_t r = 0; r < N; r++) memcpy(&kv2[(2 * N - 1 - r) * D], &c.kv[r * D], D * 4);
        size_t n2 = 0;
        for (size_t e = 0; e < K; e++) {
            int32_t v = c.idx[t * K + e];
            if (v >= 0 && v < N) idx2[n2++] = 2 * N - 1 - v;
            if (e % 3 == 0) idx2[n2++] = -1;
        }
        cr_assert_eq(dsv4_opt_sparse_attn(&c.cfg, 1, 2 * N, n2, &c.q[t * H * D], kv2, c.sink, idx2,
                                          one, l1),
                     DSV4_OK);
        cr_assert_eq(memcmp(one, &o[t * H * D], H * D * 4), 0, "token %zu, rows moved", t);
    }
    free(o);
    free(one);
    free(kv2);
    free_case(&c);
}

Test(independence, in_place_and_lse_optional) {
    enum { H = 16, D = 33, N = 40, K = 30, T = 3 };
    acase c = make_case(H, D, T, N, K, 1.0, 10);
    float *o = xmalloc(T * H * D * 4), lse[T * H];
    cr_assert_eq(dsv4_opt_sparse_attn(&c.cfg, T, N, K, c.q, c.kv, c.sink, c.idx, o, lse), DSV4_OK);
    dsv4_threads_set(3);
    cr_assert_eq(dsv4_opt_sparse_attn(&c.cfg, T, N, K, c.q, c.kv, c.sink, c.idx, c.q, NULL),
                 DSV4_OK);
    dsv4_threads_set(2);
    cr_assert_eq(memcmp(o, c.q, T * H * D * 4), 0, "o may equal q");
    free(o);
    free_case(&c);
}

/* ---- arguments ----------------------------------------------------------------------------- */
Test(arguments, same_status_as_ref) {
    float q[8] = {0}, kv[8] = {0}, sink[2] = {0}, o[8], lse[2];
    int32_t idx[2] = {0, 1};
    const dsv4_sparse_attn_cfg ok = {2, 4, 0.5f}, h0 = {0, 4, 0.5f}, d0 = {2, 0, 0.5f},
                               nan_scale = {2, 4, NAN}, huge = {SIZE_MAX / 2, 4, 0.5f};
    struct {
        const dsv4_sparse_attn_cfg *cfg;
        size_t T, N, K;
        const float *q, *kv, *sink;
        const int32_t *idx;
        float *o;
    } calls[] = {
        {NULL, 1, 2, 2, q, kv, sink, idx, o},         {&h0, 1, 2, 2, q, kv, sink, idx, o},
        {&d0, 1, 2, 2, q, kv, sink, idx, o},          {&nan_scale, 1, 2, 2, q, kv, sink, idx, o},
        {&huge, 1, 2, 2, q, kv, sink, idx, o},        {&ok, SIZE_MAX / 4, 2, 2, q, kv, sink, idx, o},
        {&ok, 1, SIZE_MAX / 2, 2, q, kv, sink, idx, o}, {&ok, 3, 2, SIZE_MAX / 3, q, kv, sink, idx, o},
        {&ok, 0, 2, 2, NULL, NULL, NULL, NULL, NULL}, {&ok, 1, 2, 2, NULL, kv, sink, idx, o},
        {&ok, 1, 2, 2, q, NULL, sink, idx, o},        {&ok, 1, 2, 2, q, kv, NULL, idx, o},
        {&ok, 1, 2, 2, q, kv, sink, NULL, o},         {&ok, 1, 2, 2, q, kv, sink, idx, NULL},
        {&ok, 1, 0, 2, q, NULL, sink, idx, o},        {&ok, 1, 2, 0, q, kv, sink, NULL, o},
    };
    for (size_t i = 0; i < sizeof calls / sizeof calls[0]; i++) {
        dsv4_status r = dsv4_ref_sparse_attn(calls[i].cfg, calls[i].T, calls[i].N, calls[i].K,
                                             calls[i].q, calls[i].kv, calls[i].sink, calls[i].idx,
                                             calls[i].o, lse);
        dsv4_status p = dsv4_opt_sparse_attn(calls[i].cfg, calls[i].T, calls[i].N, calls[i].K,
                                             calls[i].q, calls[i].kv, calls[i].sink, calls[i].idx,
                                             calls[i].o, lse);
        cr_assert_eq(p, r, "call %zu: opt %d, ref %d", i, p, r);
    }
}
