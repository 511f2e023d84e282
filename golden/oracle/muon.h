/* muon.h - the optimizer family of the oracle ("newton_schulz", "muon_step",
 * "adamw_step"; spec/muon.md), private.
 *
 * muon.c          the exact arithmetic: MPFR matrices, Newton-Schulz, the
 *                 conditioning tier, the fp32 scalars of the spec (formed in
 *                 emulated double, rounded once), the element-wise updates
 *                 and their per-element error bounds
 * muon_cases.c    shipped cases, `oracle gen`, files and tolerances, og_op
 * muon_selftest.c G2/G3 of spec/muon.md §7 and hand-worked vectors
 *
 * fp32 data is held as uint32_t bit patterns; no C float arithmetic is done.
 * Within one stage everything is exact (MPFR, OX_PREC bits); each stage
 * output is rounded once to fp32, and a later stage starts from the rounded
 * (stored) outputs of the earlier ones, exactly as a stage check feeds it. */
#ifndef DSV4_ORACLE_MUON_H
#define DSV4_ORACLE_MUON_H

#include "exact.h"
#include "golden_io.h"

/* ---- matrices of MPFR values ------------------------------------------------ */
typedef struct ou_mat {
    mpfr_t *v; /* [rows, cols] row-major */
    size_t rows, cols;
} ou_mat;

/* rows x cols zeros; -1 when out of memory (then nothing to clear). */
int ou_mat_init(ou_mat *a, size_t rows, size_t cols);
void ou_mat_clear(ou_mat *a);
void ou_mat_set_bits(ou_mat *a, const uint32_t *bits);   /* exact */
void ou_mat_round(const ou_mat *a, uint32_t *bits);      /* fp32 RNE, once */
/* f = ||a||_F (the square root of the exact sum of squares). */
void ou_mat_fro(const ou_mat *a, mpfr_t f);

/* ---- Newton-Schulz (spec/muon.md §1) ------------------------------------------ */
typedef struct ou_ns {
    int steps;      /* S >= 0 */
    int classic;    /* 1: (3.4445, -4.7750, 2.0315) at every step; 0: V4 (steps 1-8 that,
                       later steps (2, -1.5, 0.5)) */
    uint32_t eps;   /* fp32 bits; V4 fp32(1e-7) = 0x33D6BF95 */
    int eps_max;    /* 1: X0 = Y / max(f, eps); 0: X0 = Y / (f + eps) */
} ou_ns;

#define OU_EPS_1E7 0x33D6BF95u

/* The fp32 coefficients (a, b, c) of step s (1-based) as exact values. */
void ou_ns_coef(const ou_ns *c, int s, mpfr_t a, mpfr_t b, mpfr_t cc);
/* (N2) in place: x holds Z on entry, X0 on return (either orientation: the
 * norm does not depend on it). */
void ou_ns_normalize(const ou_ns *c, ou_mat *x);
/* (N1, N3, N4) step s in place on x [rows, cols] given in Z's orientation;
 * a tall x is stepped as its transpose.  0, or -1 when out of memory. */
int ou_ns_step(const ou_ns *c, int s, ou_mat *x);
/* normalize, then steps 1..S, all exact.  0 or -1. */
int ou_ns_run(const ou_ns *c, ou_mat *x);

/* The tolerance tier of spec/muon.md §5 for NS of z: the relative Frobenius
 * tolerance 1e-5 (sigma_min/||z||_F >= 1e-2), 3e-4 (>= 1e-3) or 1e-2 (below:
 * rank-deficient), from the exact eigenvalues of the Gram matrix (Jacobi in
 * MPFR).  A zero matrix is tier 1e-5 (its output is exactly 0).  ratio, when
 * not NULL, receives sigma_min/||z||_F.  0 or -1. */
int ou_ns_tier(const ou_mat *z, mpfr_t tier, mpfr_t ratio);

/* ---- hyper-parameters and the fp32 scalars they make ------------------------- */
typedef struct ou_muon_hp {
    double lr, momentum, weight_decay, gamma;
    int lerp;    /* momentum form "lerp" (else "sum") */
    int aspect;  /* scale rule "aspect" (else "rms") */
    ou_ns ns;
} ou_muon_hp;

typedef struct ou_muon_k {
    uint32_t mu, one_minus_mu, decay, sigma; /* fp32 bits */
} ou_muon_k;

/* fp32(mu), fp32(1 - mu), fp32(1 - lr*wd), fp32(lr*gamma*sqrt(max(rows, cols)))
 * or fp32(lr*sqrt(max(1, rows/cols))): each formed in IEEE double (emulated
 * with 53-bit MPFR, so no FMA contraction or libm can change it) and rounded
 * once to fp32, as spec/muon.md §2 says. */
void ou_muon_scalars(const ou_muon_hp *hp, size_t rows, size_t cols, ou_muon_k *k);

typedef struct ou_adamw_hp {
    double lr, beta1, beta2, eps, weight_decay;
    long step; /* t >= 1 */
} ou_adamw_hp;

typedef struct ou_adamw_k {
    uint32_t decay, w1, beta2, w2, step, bc2, eps; /* fp32 bits (spec §3 A1-A4) */
} ou_adamw_k;

void ou_adamw_scalars(const ou_adamw_hp *hp, ou_adamw_k *k);

/* ---- element-wise updates, exact, with the error bound of an fp32 run ------- */
/* Every bound below is a sound per-element bound on |fp32 implementation -
 * rounded exact value| for an implementation that performs the spec's
 * operations in the spec's order, each rounded to fp32 (no FMA), with inputs
 * and scalars identical: its own roundings plus the half ulp of the rounded
 * golden value.  First-order terms carry a factor >= 1.01 for the neglected
 * higher-order ones. */

/* (M1, M2): m1 = new momentum, u = Nesterov input (from the exact m1); bm, bu
 * their bounds.  m, g, mu, omm (1 - mu) are exact fp32 values. */
void ou_momentum(int lerp, const mpfr_t m, const mpfr_t g, const mpfr_t mu, const mpfr_t omm,
                 mpfr_t m1, mpfr_t u, mpfr_t bm, mpfr_t bu);
/* (M5): w1 = w*decay - sigma*o, and the bound of an implementation whose own
 * o differs from this o by up to `odev`. */
void ou_muon_apply(const mpfr_t w, const mpfr_t o, const mpfr_t decay, const mpfr_t sigma,
                   const mpfr_t odev, mpfr_t w1, mpfr_t bw);

/* One AdamW element (A1-A5) with bounds bp, bm, bv.  k's values as MPFR. */
typedef struct ou_adamw_kv {
    mpfr_t decay, w1, beta2, w2, step, bc2, eps;
} ou_adamw_kv;
void ou_adamw_kv_init(ou_adamw_kv *kv, const ou_adamw_k *k);
void ou_adamw_kv_clear(ou_adamw_kv *kv);
void ou_adamw(const ou_adamw_kv *k, const mpfr_t p, const mpfr_t m, const mpfr_t v,
              const mpfr_t g, mpfr_t p1, mpfr_t m1, mpfr_t v1, mpfr_t bp, mpfr_t bm, mpfr_t bv);

/* ---- the worked cases G2, G3 of spec/muon.md §7 (muon_cases.c) ----------------- */
/* G2 inputs: shape of parameter p (0..3), its W0 and its gradient at step t
 * (1..3) [rows, cols]. */
void ou_g2_shape(int p, size_t *rows, size_t *cols);
void ou_g2_w0(int p, uint32_t *w);
void ou_g2_grad(int p, int t, uint32_t *g);
/* G3 inputs: p0 [6] and the gradient of step t [6]; the hyper-parameters. */
void ou_g3_data(int t, uint32_t *p0, uint32_t *g);
void ou_g3_hp(int t, ou_adamw_hp *hp);
/* G2 (Muon), parameter p (0..3), step t (1..3): row 0 of ns.o and update.w
 * (o_row, w_row hold at least 8 values), *cols their length.  0 or -1. */
int ou_g2_row0(int p, int t, uint32_t *o_row, uint32_t *w_row, size_t *cols);
/* G3 (AdamW), step t (1..3): update.p [6].  0 or -1. */
int ou_g3_p(int t, uint32_t *p);

/* ---- self test (muon_selftest.c) ----------------------------------------------- */
int ou_selftest(void);

/* The three operators (muon_cases.c). */
extern const og_op og_op_newton_schulz;
extern const og_op og_op_muon_step;
extern const og_op og_op_adamw_step;

#endif
