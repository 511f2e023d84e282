/* mhc.h - the mHC family of the oracle ("hc_pre", "sinkhorn", "hc_post",
 * "hc_head"; spec/mhc.md), private.
 *
 * mhc.c          the exact stage arithmetic, per token, MPFR in and MPFR out
 * mhc_build.c    stages of a whole case: rounding, tolerances, the file
 * mhc_cases.c    the shipped cases, `oracle gen`, the og_op entries
 * mhc_inputs.c   the input generators (G1 formulas, random draws, corners)
 * mhc_selftest.c G1 against its 12-digit values in spec/mhc.md §10
 *
 * As in the codec family, fp32 data is held as uint32_t bit patterns and the
 * oracle never does C float arithmetic.  The exact functions below take the
 * fp32 inputs of a stage as bit patterns or as MPFR values (so the self test
 * can chain them without any intermediate rounding) and leave their results
 * unrounded; the builders round each stage output once.  Arrays of MPFR
 * inputs are passed as `mpfr_t *` without const: ISO C before C23 does not
 * convert `mpfr_t *` to `const mpfr_t *` implicitly. */
#ifndef DSV4_ORACLE_MHC_H
#define DSV4_ORACLE_MHC_H

#include "golden_io.h"
#include "numfmt.h"

/* An mHC configuration; the two eps are fp32 values (bit patterns). */
typedef struct om_cfg {
    size_t hc;        /* streams */
    size_t d;         /* width of one stream */
    int iters;        /* Sinkhorn rounds, >= 1 */
    uint32_t hc_eps;   /* fp32 bits */
    uint32_t norm_eps; /* fp32 bits */
} om_cfg;

/* fp32(1e-6) = 0x358637BD, V4's hc_eps and norm_eps. */
#define OM_EPS_1E6 0x358637BDu

/* ---- arrays of MPFR values ------------------------------------------------- */
typedef struct om_vec {
    mpfr_t *v;
    size_t n;
} om_vec;

/* n values set to 0; returns -1 when out of memory (then nothing to clear). */
int om_vec_init(om_vec *a, size_t n);
void om_vec_clear(om_vec *a);
/* a->v[i] = bits[i] exactly, i < a->n. */
void om_vec_set_bits(om_vec *a, const uint32_t *bits);
/* bits[i] = fp32 nearest a->v[i], i < a->n. */
void om_vec_round(const om_vec *a, uint32_t *bits);

/* ---- exact stage arithmetic (mhc.c), one token ------------------------------ */
/* (H1) r = 1 / sqrt(sum_k x_k^2 / K + norm_eps); x [K]. */
void om_rms(const uint32_t *x, size_t K, const mpfr_t norm_eps, mpfr_t r);
/* (H2) mixes[m] = (sum_k x_k fn[m][k]) * r; x [K], fn [rows, K], mixes [rows].
 * amag = max_m |r| * sum_k |x_k fn[m][k]|, the magnitude A of spec §7. */
void om_mixes(const uint32_t *x, const uint32_t *fn, size_t rows, size_t K, const mpfr_t r,
              mpfr_t *mixes, mpfr_t amag);
/* g = sigmoid(m * scale + base) = 1 / (1 + exp(-(m * scale + base))). */
void om_gate(mpfr_t g, const mpfr_t m, const mpfr_t scale, const mpfr_t base);
/* (H3) mixes [(2+hc)*hc], scale [3], base [(2+hc)*hc] -> pre, post [hc],
 * L [hc, hc]. */
void om_split(mpfr_t *mixes, mpfr_t *scale, mpfr_t *base, size_t hc,
              const mpfr_t hc_eps, mpfr_t *pre, mpfr_t *post, mpfr_t *L);
/* hc_head weights: w_j = sigmoid(mixes_j * scale + base_j) + hc_eps; [hc]. */
void om_head_weights(mpfr_t *mixes, const mpfr_t scale, mpfr_t *base, size_t hc,
                     const mpfr_t hc_eps, mpfr_t *w);
/* (S1)+(S2) in place: c [n, n] holds the logits on entry, the matrix after
 * the row softmax (+ eps) and the first column step on return.  sum [n] is
 * scratch. */
void om_sinkhorn_init(mpfr_t *c, size_t n, const mpfr_t eps, mpfr_t *sum);
/* (S3) `rounds` (row step, column step) rounds on c [n, n], in place. */
void om_sinkhorn_rounds(mpfr_t *c, size_t n, int rounds, const mpfr_t eps, mpfr_t *sum);
/* (H5) y_i = sum_j w_j x[j][i] and absum_i = sum_j |w_j x[j][i]|;
 * x [hc, d], w [hc], y and absum [d]. */
void om_weighted_sum(const uint32_t *x, mpfr_t *w, size_t hc, size_t d, mpfr_t *y,
                     mpfr_t *absum);
/* hc_post: out[k][i] = post_k f_i + sum_j comb[j][k] x[j][i] and
 * absum[k][i] = |post_k f_i| + sum_j |comb[j][k] x[j][i]|;
 * f [d], x [hc, d], post [hc], comb [hc, hc], out and absum [hc, d]. */
void om_post(const uint32_t *f, const uint32_t *x, mpfr_t *post, mpfr_t *comb,
             size_t hc, size_t d, mpfr_t *out, mpfr_t *absum);

/* ---- whole cases (mhc_build.c) ----------------------------------------------- */
/* Inputs of hc_pre (fn [(2+hc)*hc, K], scale [3], base [(2+hc)*hc]) and of
 * hc_head (fn [hc, K], scale [1], base [hc]); x [T, hc, d]. */
typedef struct om_gate_in {
    om_cfg c;
    size_t T;
    uint32_t *x, *fn, *scale, *base;
} om_gate_in;

typedef struct om_post_in {
    om_cfg c;
    size_t T;
    uint32_t *f;    /* [T, d] */
    uint32_t *x;    /* [T, hc, d] */
    uint32_t *post; /* [T, hc] */
    uint32_t *comb; /* [T, hc, hc] */
} om_post_in;

typedef struct om_sk_in {
    size_t n, T;
    int iters;
    uint32_t eps;    /* fp32 bits */
    uint32_t *logits; /* [T, n, n] */
} om_sk_in;

/* The golden outputs of hc_pre that hc_post's G1 case reuses: post [T, hc]
 * and comb [T, hc, hc] (malloc'ed; 0 or -1 when out of memory). */
int om_hc_pre_post_comb(const om_gate_in *in, uint32_t **post, uint32_t **comb);

/* Compute every stage, round each output once, derive the tolerances of
 * spec/mhc.md §7 from the case's own data, and fill f.  0 or -1 (err set). */
int om_build_hc_pre(og_file *f, const char *case_name, uint64_t seed, const char *desc,
                    const om_gate_in *in, char *err, size_t errlen);
int om_build_hc_head(og_file *f, const char *case_name, uint64_t seed, const char *desc,
                     const om_gate_in *in, char *err, size_t errlen);
int om_build_hc_post(og_file *f, const char *case_name, uint64_t seed, const char *desc,
                     const om_post_in *in, char *err, size_t errlen);
int om_build_sinkhorn(og_file *f, const char *case_name, uint64_t seed, const char *desc,
                      const om_sk_in *in, char *err, size_t errlen);
/* {"hc":..,"d":..,"sinkhorn_iters":..,"hc_eps":1e-6,"norm_eps":1e-6}: the eps
 * are written as the shortest decimal that reads back to the fp32 value. */
void om_config_text(const om_cfg *c, char *buf, size_t len);

/* ---- inputs (mhc_inputs.c) --------------------------------------------------- */
/* Allocation helpers: every array freed by om_*_in_free. */
int om_gate_in_alloc(om_gate_in *in, size_t rows);
void om_gate_in_free(om_gate_in *in);
int om_post_in_alloc(om_post_in *in);
void om_post_in_free(om_post_in *in);
int om_sk_in_alloc(om_sk_in *in);
void om_sk_in_free(om_sk_in *in);

/* G1 of spec/mhc.md §10 (hc 4, d 16, 3 tokens). */
int om_g1_hc_pre(om_gate_in *in, int iters);
int om_g1_hc_head(om_gate_in *in);
/* hc_post G1: G1's f and x, post and comb from G1's hc_pre. */
int om_g1_hc_post(om_post_in *in);
/* Random cases: x bf16-valued ~N(0,1) (Irwin-Hall), fn ~N(0,1/K) fp32,
 * base ~N(0, 1/4); scale given (3 values for hc_pre, 1 for hc_head). */
int om_random_gate(om_gate_in *in, size_t rows, const uint32_t *scale, uint64_t seed);
/* hc_pre adversarial tokens (zero, identical streams, NaN, +Inf, ...) with
 * comb logits of magnitude 200 and a column at -200 in every row. */
int om_adversarial_hc_pre(om_gate_in *in);
int om_random_post(om_post_in *in, uint64_t seed);
/* Sinkhorn inputs: "random", "peaked", "underflow", "nonfinite". */
int om_sk_random(om_sk_in *in, uint64_t seed);
int om_sk_peaked(om_sk_in *in, uint64_t seed);
int om_sk_underflow(om_sk_in *in);
int om_sk_nonfinite(om_sk_in *in, uint64_t seed);

/* ---- self test (mhc_selftest.c) ------------------------------------------------ */
int om_selftest(void);

/* The four operators (mhc_cases.c). */
extern const og_op og_op_hc_pre;
extern const og_op og_op_sinkhorn;
extern const og_op og_op_hc_post;
extern const og_op og_op_hc_head;

#endif
