/* sparse_attn.c - the sparse attention stage of the oracle
 * (spec/sparse_attn.md §2, §5; spec/golden.md §6h).
 *
 * For each token and head, from the exact fp32 inputs: the logits as exact
 * sums of exact products (OX_PREC bits hold every sum these cases make),
 * the maximum, e^(l - m) and the sums at OX_PREC bits, then A3 and A4;
 * each output is rounded once, to bf16 (attn.o) and to fp32 (attn.o_f32,
 * attn.lse).  The tolerance terms of §5 are sums of positive terms kept at
 * TP bits, every operation rounded upward, and each bound is rounded up to
 * fp32, so they are upper bounds of the formulas of §5. */
#include "sparse_attn_oracle.h"

#include "numfmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TP 64 /* bits of the tolerance terms */
#define F32_NAN 0x7FC00000u
#define F32_NINF 0xFF800000u

static int valid(int32_t v, size_t N) { return v >= 0 && (uint64_t)v < (uint64_t)N; }

/* fp32 bits of the smallest fp32 value >= x (x >= 0, finite). */
static uint32_t f32_up(const mpfr_t x) {
    mpfr_t v;
    mpfr_init2(v, 32);
    uint32_t u = ox_round_f32(x);
    ox_set_f32_bits(v, u);
    if (mpfr_cmp(v, x) < 0) u = ox_f32_nextup(u);
    mpfr_clear(v);
    return u;
}

/* x = 1.01 x, rounded upward (x >= 0). */
static void times_101_100(mpfr_t x) {
    mpfr_mul_ui(x, x, 101, MPFR_RNDU);
    mpfr_div_ui(x, x, 100, MPFR_RNDU);
}

/* ---- the case's numbers for one token ------------------------------------------------ */
/* The rows of kv a token attends to, exact, and pointer tables for
 * mpfr_dot along a row (d) and along a column (j); each head of the token
 * reads them. */
typedef struct token_rows {
    size_t n;            /* valid entries */
    mpfr_t *v, *av;      /* [n, D] the rows and their absolute values (24 bits: exact) */
    mpfr_ptr *vr, *avr;  /* [n, D] pointers, row-major */
    mpfr_ptr *vc, *avc;  /* [D, n] pointers, column-major */
    mpfr_t *S;           /* [D] S_i = sum_J |k_j[i]| (TP, up) */
} token_rows;

/* Everything of one row (t, h) the bounds need. */
typedef struct row_work {
    mpfr_t *l, *w;       /* [n] logits, then x_j = l_j - m; e^(x_j) (OX_PREC) */
    mpfr_t *pc;          /* [n] P_j (2^-8 + g + eta_j) (TP, up) */
    mpfr_t *lam;         /* [n] lambda_j (TP, up) */
    mpfr_t *qv, *qa;     /* [D] q_d, |q_d| (24 bits) */
    mpfr_ptr *wp, *pcp;  /* [n] pointers to w, pc */
    mpfr_ptr *qvp, *qap; /* [D] pointers to qv, qa */
} row_work;

static mpfr_t *mp_array(size_t n, mpfr_prec_t prec) {
    mpfr_t *a = malloc((n ? n : 1) * sizeof *a);
    for (size_t i = 0; a && i < n; i++) mpfr_init2(a[i], prec);
    return a;
}

static void mp_free(mpfr_t *a, size_t n) {
    for (size_t i = 0; a && i < n; i++) mpfr_clear(a[i]);
    free(a);
}

static mpfr_ptr *ptrs(size_t n) { return malloc((n ? n : 1) * sizeof(mpfr_ptr)); }

/* The valid rows of token t, their pointer tables and column sums S_i;
 * rows [K] receives their indices. */
static void collect(const oa_case *c, size_t t, token_rows *r, int32_t *rows) {
    size_t D = c->D, n = 0;
    for (size_t e = 0; e < c->K; e++)
        if (valid(c->idx[t * c->K + e], c->N)) rows[n++] = c->idx[t * c->K + e];
    r->n = n;
    for (size_t i = 0; i < D; i++) mpfr_set_zero(r->S[i], 1);
    for (size_t j = 0; j < n; j++)
        for (size_t i = 0; i < D; i++) {
            size_t at = j * D + i;
            ox_set_f32_bits(r->v[at], c->kv[(size_t)rows[j] * D + i]);
            mpfr_abs(r->av[at], r->v[at], MPFR_RNDN);
            mpfr_add(r->S[i], r->S[i], r->av[at], MPFR_RNDU);
            r->vr[at] = r->v[at];
            r->avr[at] = r->av[at];
            r->vc[i * n + j] = r->v[at];
            r->avc[i * n + j] = r->av[at];
        }
}

/* ---- one row ----------------------------------------------------------------------- */
typedef struct row_out {
    uint32_t *o, *o_f32, *o_tol; /* [D] */
    uint32_t *lse;
} row_out;

static void nan_outputs(size_t D, const row_out *out, int lse_too) {
    for (size_t i = 0; i < D; i++) {
        out->o[i] = F32_NAN;
        out->o_f32[i] = F32_NAN;
        out->o_tol[i] = 0;
    }
    if (lse_too) *out->lse = F32_NAN;
}

/* Row (t, h) of case c over the token's rows r.  lse_bound: the row's §5
 * lse bound, maximised into it. */
static void attend_row(const oa_case *c, size_t t, size_t h, const token_rows *r, row_work *wk,
                       const row_out *out, mpfr_t lse_bound) {
    const on_format *bf = on_get(ON_BF16);
    size_t D = c->D, n = r->n, nb = (c->K + 63) / 64;
    if (n == 0) { /* (§2) empty: o = 0, lse = -Inf whatever the sink */
        for (size_t i = 0; i < D; i++) out->o[i] = out->o_f32[i] = out->o_tol[i] = 0;
        *out->lse = F32_NINF;
        return;
    }
    mpfr_t sc, asc, m, W, t1, t2, s, c_, sig, Z, eps, g, delta, etas, E, A, B, tol, ox;
    mpfr_inits(sc, m, W, t1, s, c_, sig, Z, ox, (mpfr_ptr)0);
    mpfr_inits2(TP, asc, t2, eps, g, delta, etas, E, A, B, tol, (mpfr_ptr)0);
    ox_set_f32_bits(sc, c->scale);
    mpfr_abs(asc, sc, MPFR_RNDU);
    for (size_t d = 0; d < D; d++) {
        ox_set_f32_bits(wk->qv[d], c->q[(t * c->H + h) * D + d]);
        mpfr_abs(wk->qa[d], wk->qv[d], MPFR_RNDN);
    }
    /* (A1) exact logits (mpfr_dot rounds the exact sum once, at OX_PREC
     * bits); lambda_j = |scale| sum |q_d k_jd| */
    int finite = 1;
    mpfr_set_inf(m, -1);
    mpfr_set_zero(delta, 1);
    for (size_t j = 0; j < n; j++) {
        mpfr_dot(wk->l[j], wk->qvp, r->vr + j * D, D, MPFR_RNDN);
        mpfr_dot(wk->lam[j], wk->qap, r->avr + j * D, D, MPFR_RNDU);
        mpfr_mul(wk->l[j], wk->l[j], sc, MPFR_RNDN);
        mpfr_mul(wk->lam[j], wk->lam[j], asc, MPFR_RNDU);
        if (!mpfr_number_p(wk->l[j])) finite = 0;
        else if (mpfr_cmp(wk->l[j], m) > 0) mpfr_set(m, wk->l[j], MPFR_RNDN);
        if (mpfr_cmp(wk->lam[j], delta) > 0) mpfr_set(delta, wk->lam[j], MPFR_RNDU);
    }
    if (!finite) { /* (§2) a NaN or infinite logit: the row is NaN */
        nan_outputs(D, out, 1);
        goto done;
    }
    /* (A2), (A3) */
    mpfr_set_zero(W, 1);
    for (size_t j = 0; j < n; j++) {
        mpfr_sub(wk->l[j], wk->l[j], m, MPFR_RNDN); /* x_j, exact at OX_PREC */
        mpfr_exp(wk->w[j], wk->l[j], MPFR_RNDN);
        mpfr_add(W, W, wk->w[j], MPFR_RNDN);
    }
    mpfr_log(t1, W, MPFR_RNDN);
    mpfr_add(t1, t1, m, MPFR_RNDN);
    *out->lse = ox_round_f32(t1);

    /* the bounds' constants: eps = 2^-23, g = (n + 2nb + 2) eps, delta = (D + 2) eps max lambda */
    mpfr_set_ui_2exp(eps, 1, -23, MPFR_RNDN);
    mpfr_mul_ui(g, eps, (unsigned long)(n + 2 * nb + 2), MPFR_RNDU);
    mpfr_mul_ui(delta, delta, (unsigned long)(D + 2), MPFR_RNDU);
    mpfr_mul(delta, delta, eps, MPFR_RNDU);

    /* lse bound: 1.01 [delta + sum (w_j/W)(6 eps |x_j| + 2 eps (nb + 1)) + g + eps |ln W|] */
    mpfr_set_zero(E, 1);
    for (size_t j = 0; j < n; j++) {
        mpfr_abs(t2, wk->l[j], MPFR_RNDU);
        mpfr_mul_ui(t2, t2, 6, MPFR_RNDU);
        mpfr_add_ui(t2, t2, (unsigned long)(2 * (nb + 1)), MPFR_RNDU);
        mpfr_mul(t2, t2, eps, MPFR_RNDU);
        mpfr_mul(t2, t2, wk->w[j], MPFR_RNDU);
        mpfr_div(t2, t2, W, MPFR_RNDU);
        mpfr_add(E, E, t2, MPFR_RNDU);
    }
    mpfr_log(t2, W, MPFR_RNDU);
    mpfr_mul(t2, t2, eps, MPFR_RNDU);
    mpfr_add(E, E, t2, MPFR_RNDU);
    mpfr_add(E, E, g, MPFR_RNDU);
    mpfr_add(E, E, delta, MPFR_RNDU);
    times_101_100(E);
    if (mpfr_cmp(E, lse_bound) > 0) mpfr_set(lse_bound, E, MPFR_RNDU);

    /* (A4): M = max(m, s), c = e^(m - M), sigma = e^(s - M), Z = c W + sigma */
    ox_set_f32_bits(s, c->sink[h]);
    if (mpfr_nan_p(s)) { /* a NaN sink: o NaN, lse kept */
        nan_outputs(D, out, 0);
        goto done;
    }
    if (mpfr_inf_p(s) && mpfr_sgn(s) > 0) { /* all the weight on the sink: o = 0 */
        mpfr_set_zero(c_, 1);
        mpfr_set_ui(sig, 1, MPFR_RNDN);
    } else {
        mpfr_max(t1, m, s, MPFR_RNDN);
        mpfr_sub(c_, m, t1, MPFR_RNDN);
        mpfr_exp(c_, c_, MPFR_RNDN);
        mpfr_sub(sig, s, t1, MPFR_RNDN);
        mpfr_exp(sig, sig, MPFR_RNDN);
    }
    mpfr_mul(Z, c_, W, MPFR_RNDN);
    mpfr_add(Z, Z, sig, MPFR_RNDN);
    /* eta_j = delta + 6 eps |x_j| + 2 eps (nb + 1); E = sum P_j eta_j;
     * pc_j = P_j (2^-8 + g + eta_j), so that sum_J pc_j |k_j[i]| is
     * (2^-8 + g) A_i + sum_J P_j eta_j |k_j[i]| */
    mpfr_set_zero(E, 1);
    for (size_t j = 0; j < n; j++) {
        mpfr_mul(t1, c_, wk->w[j], MPFR_RNDN);
        mpfr_div(t1, t1, Z, MPFR_RNDN);
        mpfr_set(A, t1, MPFR_RNDU); /* P_j */
        mpfr_abs(t2, wk->l[j], MPFR_RNDU);
        mpfr_mul_ui(t2, t2, 6, MPFR_RNDU);
        mpfr_add_ui(t2, t2, (unsigned long)(2 * (nb + 1)), MPFR_RNDU);
        mpfr_mul(t2, t2, eps, MPFR_RNDU);
        mpfr_add(t2, t2, delta, MPFR_RNDU);
        mpfr_mul(B, t2, A, MPFR_RNDU);
        mpfr_add(E, E, B, MPFR_RNDU);
        mpfr_set_ui_2exp(B, 1, -8, MPFR_RNDU);
        mpfr_add(B, B, g, MPFR_RNDU);
        mpfr_add(t2, t2, B, MPFR_RNDU);
        mpfr_mul(wk->pc[j], t2, A, MPFR_RNDU);
    }
    /* (sigma/Z) eta_s + g, eta_s = 3 eps |s - m| + 2 eps; 0 for sigma = 0 */
    mpfr_set_zero(etas, 1);
    if (!mpfr_zero_p(sig) && mpfr_number_p(s)) {
        mpfr_sub(t2, s, m, MPFR_RNDU);
        mpfr_abs(t2, t2, MPFR_RNDU);
        mpfr_mul_ui(t2, t2, 3, MPFR_RNDU);
        mpfr_add_ui(t2, t2, 2, MPFR_RNDU);
        mpfr_mul(t2, t2, eps, MPFR_RNDU);
        mpfr_div(etas, sig, Z, MPFR_RNDU);
        mpfr_mul(etas, etas, t2, MPFR_RNDU);
    }
    mpfr_add(etas, etas, g, MPFR_RNDU);
    mpfr_add(E, E, etas, MPFR_RNDU); /* the factor of |o_i| */
    /* per channel: o_i = c sum w_j k_j[i] / Z and
     * tol_i = 1.01 [sum pc_j |k_j[i]| + |o_i| E] + 2^-126 S_i */
    for (size_t i = 0; i < D; i++) {
        mpfr_dot(ox, wk->wp, r->vc + i * n, n, MPFR_RNDN);
        mpfr_dot(tol, wk->pcp, r->avc + i * n, n, MPFR_RNDU);
        mpfr_mul(ox, ox, c_, MPFR_RNDN);
        mpfr_div(ox, ox, Z, MPFR_RNDN);
        out->o[i] = on_decode_f32(bf, on_encode(bf, ox));
        out->o_f32[i] = ox_round_f32(ox);
        mpfr_abs(t2, ox, MPFR_RNDU);
        mpfr_mul(t2, t2, E, MPFR_RNDU);
        mpfr_add(tol, tol, t2, MPFR_RNDU);
        times_101_100(tol);
        mpfr_mul_2si(t2, r->S[i], -126, MPFR_RNDU);
        mpfr_add(tol, tol, t2, MPFR_RNDU);
        out->o_tol[i] = f32_up(tol);
    }
done:
    mpfr_clears(sc, m, W, t1, s, c_, sig, Z, ox, (mpfr_ptr)0);
    mpfr_clears(asc, t2, eps, g, delta, etas, E, A, B, tol, (mpfr_ptr)0);
}

int oa_attend(const oa_case *c, uint32_t *o, uint32_t *o_f32, uint32_t *o_tol, uint32_t *lse,
              char *lse_abs, size_t len) {
    size_t D = c->D, K = c->K;
    token_rows r = {0, mp_array(K * D, 24), mp_array(K * D, 24), ptrs(K * D), ptrs(K * D),
                    ptrs(K * D), ptrs(K * D), mp_array(D, TP)};
    row_work wk = {mp_array(K, OX_PREC), mp_array(K, OX_PREC), mp_array(K, TP), mp_array(K, TP),
                   mp_array(D, 24), mp_array(D, 24), ptrs(K), ptrs(K), ptrs(D), ptrs(D)};
    int32_t *rows = malloc((K ? K : 1) * sizeof *rows);
    mpfr_t bound;
    mpfr_init2(bound, TP);
    mpfr_set_zero(bound, 1);
    int rc = (r.v && r.av && r.vr && r.avr && r.vc && r.avc && r.S && wk.l && wk.w && wk.pc &&
              wk.lam && wk.qv && wk.qa && wk.wp && wk.pcp && wk.qvp && wk.qap && rows)
                 ? 0
                 : -1;
    for (size_t j = 0; rc == 0 && j < K; j++) {
        wk.wp[j] = wk.w[j];
        wk.pcp[j] = wk.pc[j];
    }
    for (size_t d = 0; rc == 0 && d < D; d++) {
        wk.qvp[d] = wk.qv[d];
        wk.qap[d] = wk.qa[d];
    }
    for (size_t t = 0; rc == 0 && t < c->T; t++) {
        collect(c, t, &r, rows);
        for (size_t h = 0; h < c->H; h++) {
            size_t at = (t * c->H + h) * D;
            row_out out = {o + at, o_f32 + at, o_tol + at, lse + t * c->H + h};
            attend_row(c, t, h, &r, &wk, &out, bound);
        }
    }
    if (rc == 0) mpfr_snprintf(lse_abs, len, "%.6RUe", bound);
    mpfr_clear(bound);
    mp_free(r.v, K * D);
    mp_free(r.av, K * D);
    mp_free(r.S, D);
    mp_free(wk.l, K);
    mp_free(wk.w, K);
    mp_free(wk.pc, K);
    mp_free(wk.lam, K);
    mp_free(wk.qv, D);
    mp_free(wk.qa, D);
    void *p[] = {r.vr, r.avr, r.vc, r.avc, wk.wp, wk.pcp, wk.qvp, wk.qap, rows};
    for (size_t i = 0; i < sizeof p / sizeof p[0]; i++) free(p[i]);
    return rc;
}

/* ---- the file ---------------------------------------------------------------------- */
/* The scale as decimal text that reads back to the same fp32. */
static void f32_text(uint32_t bits, char *buf, size_t len) {
    mpfr_t v, back;
    mpfr_inits(v, back, (mpfr_ptr)0);
    ox_set_f32_bits(v, bits);
    for (int p = 1; p <= 9; p++) {
        mpfr_snprintf(buf, len, "%.*Rg", p, v);
        mpfr_set_str(back, buf, 10, MPFR_RNDN);
        if (ox_round_f32(back) == bits) break;
    }
    mpfr_clears(v, back, (mpfr_ptr)0);
}

int oa_build(og_file *f, const char *case_name, uint64_t seed, const char *description,
             const oa_case *c, char *err, size_t errlen) {
    size_t n_o = c->T * c->H * c->D, n_l = c->T * c->H;
    uint32_t *o = malloc((3 * n_o + n_l + 1) * sizeof *o);
    char lse_abs[64], scale[40], config[160], tol[400];
    if (!o || oa_attend(c, o, o + n_o, o + 2 * n_o, o + 3 * n_o, lse_abs, sizeof lse_abs) != 0) {
        free(o);
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    f32_text(c->scale, scale, sizeof scale);
    snprintf(config, sizeof config, "{\"n_heads\":%zu,\"head_dim\":%zu,\"scale\":%s}", c->H, c->D,
             scale);
    snprintf(tol, sizeof tol,
             "{\"attn.o\":{\"kind\":\"bf16_boundary\",\"tol\":\"attn.o_tol\",\"ref\":\"attn.o_f32\"},"
             "\"attn.lse\":{\"kind\":\"abs_rel\",\"abs\":%s,\"rel\":2.384185791015625e-07}}",
             lse_abs);
    og_begin(f, "sparse_attn", case_name, config, seed, description);
    size_t sq[3] = {c->T, c->H, c->D}, skv[2] = {c->N, c->D}, ssink[1] = {c->H},
           sidx[2] = {c->T, c->K}, slse[2] = {c->T, c->H};
    og_add(f, "in.q", DSV4_DT_F32, 3, sq, c->q);
    og_add(f, "in.kv", DSV4_DT_F32, 2, skv, c->kv);
    og_add(f, "in.sink", DSV4_DT_F32, 1, ssink, c->sink);
    og_add(f, "in.idx", DSV4_DT_I32, 2, sidx, c->idx);
    og_add(f, "attn.o", DSV4_DT_F32, 3, sq, o);
    og_add(f, "attn.o_f32", DSV4_DT_F32, 3, sq, o + n_o);
    og_add(f, "attn.o_tol", DSV4_DT_F32, 3, sq, o + 2 * n_o);
    og_add(f, "attn.lse", DSV4_DT_F32, 2, slse, o + 3 * n_o);
    og_stage(f, "attn", (const char *const[]){"in.q", "in.kv", "in.sink", "in.idx", NULL},
             (const char *const[]){"attn.o", "attn.lse", NULL}, tol);
    free(o);
    return 0;
}
