/* internal.h - declarations shared inside the library (not installed):
 * size checks, bit casts, the thread pool's interface and the argument
 * checks that ref/ and opt/ share, so that both use one definition of each.
 * The kernel tables of opt/ are in opt/opt.h and the files it names. */
#ifndef DSV4_INTERNAL_H
#define DSV4_INTERNAL_H

#include "dsv4.h"

#include <stddef.h>
#include <stdint.h>

/* a * b into *out; 0 on overflow (then *out is left unchanged). */
static inline int dsv4_mul_ok(size_t a, size_t b, size_t *out) {
    if (a != 0 && b > SIZE_MAX / a) return 0;
    *out = a * b;
    return 1;
}

/* Bit casts between float and its IEEE-754 binary32 pattern. */
static inline uint32_t dsv4_f32_bits(float x) {
    union { float f; uint32_t u; } v;
    v.f = x;
    return v.u;
}
static inline float dsv4_f32_from_bits(uint32_t u) {
    union { float f; uint32_t u; } v;
    v.u = u;
    return v.f;
}

/* v rounded to the nearest bf16 value, ties to even, as an fp32 value (the
 * rounding every bf16 output of the spec names; NaN becomes the canonical
 * bf16 NaN, spec/formats.md P1). */
static inline float dsv4_round_bf16(float v) { return dsv4_bf16_decode(dsv4_bf16_encode(v)); }

/* Exact powers of two built from their bits (no libm). */
static inline float dsv4_pow2f(int k) { /* k in [-149, 127]; below -126 a subnormal */
    if (k >= -126) return dsv4_f32_from_bits((uint32_t)(k + 127) << 23);
    return dsv4_f32_from_bits(1u << (k + 149));
}
static inline double dsv4_pow2d(int k) { /* k in [-1022, 1023] */
    union { double d; uint64_t u; } v;
    v.u = (uint64_t)(k + 1023) << 52;
    return v.d;
}

/* A double rounded once to the nearest bf16 value, ties to even, as an
 * fp32 value: 8 significant bits down to 2^-126, the fixed bf16 subnormal
 * spacing 2^-133 below it, +-Inf past the largest bf16 value, NaN as the
 * canonical NaN (spec/formats.md P1), the sign of zero kept.  No double
 * rounding through fp32: the bits are cut from the double itself. */
static inline float dsv4_round_bf16_d(double v) {
    union { double d; uint64_t u; } x;
    if (v != v) return dsv4_bf16_decode(0x7FC0u);
    if (v == 0.0 || v - v != 0.0) return (float)v; /* zero or infinity */
    int neg = v < 0.0;
    x.d = neg ? -v : v;
    if (x.d >= 0x1p-126) {
        uint64_t keep = (x.u >> 45) & 1u; /* the last kept bit: ties to even */
        x.u = (x.u + (((uint64_t)1 << 44) - 1) + keep) & ~(((uint64_t)1 << 45) - 1);
    } else {
        double t = x.d * dsv4_pow2d(133);            /* exact: a multiple of 2^-133 ... */
        double r = (t + 0x1p52) - 0x1p52;             /* ... rounded to an integer, RNE */
        x.d = r * dsv4_pow2d(-133);
    }
    float f = (float)x.d; /* exact, or +Inf past the range */
    return neg ? -f : f;
}

/* ---- thread pool (opt/pool.c) ------------------------------------------ */
/* Calls fn(ctx, i) for every i in [0, n_tasks), spread over the pool's
 * threads.  Task i always does the same work whatever the thread count, so
 * results are independent of it as long as tasks write disjoint outputs.
 * Runs inline when n_tasks <= 1 or one thread is configured. */
typedef void (*dsv4_task_fn)(void *ctx, size_t task);
dsv4_status dsv4_pool_run(size_t n_tasks, dsv4_task_fn fn, void *ctx);

/* ---- RoPE configuration check (ref/rope.c) ------------------------------ */
/* The validity rules of dsv4_rope_cfg (dsv4.h): DSV4_E_NULL or DSV4_E_ARG. */
dsv4_status dsv4_rope_check(const dsv4_rope_cfg *cfg);

/* ---- the compressor over a chosen projection (ref/compressor.c) --------- */
typedef dsv4_status (*dsv4_compress_project_fn)(const dsv4_compressor_cfg *cfg,
                                                const dsv4_compressor_weights *w, int64_t pos,
                                                size_t T, const float *x, float *kv,
                                                float *score);
/* One call (dsv4_ref_compress) with `project` for (C1); the rest is the
 * shared pool, finish and carry. */
dsv4_status dsv4_compress_with(dsv4_compress_project_fn project, const dsv4_compressor_cfg *cfg,
                               const dsv4_compressor_weights *w, size_t T, const float *x,
                               dsv4_compressor_state *state, float *entries);

/* ---- the indexer's shared pieces (ref/indexer.c) ------------------------- */
/* The stages a whole indexer call runs, of one implementation. */
typedef struct dsv4_indexer_impl {
    dsv4_status (*project)(const dsv4_indexer_cfg *cfg, const dsv4_indexer_weights *w, size_t T,
                           const float *qr, float *q);
    dsv4_status (*weights)(const dsv4_indexer_cfg *cfg, const dsv4_indexer_weights *w, size_t T,
                           const float *x, float *wts);
    dsv4_status (*scores)(const dsv4_indexer_cfg *cfg, int64_t pos, size_t T, size_t E,
                          const float *q, const float *k, const float *wts, float *s);
    dsv4_status (*topk)(const dsv4_indexer_cfg *cfg, int64_t pos, size_t T, size_t E,
                        const float *s, int32_t *idx, int32_t *kv);
} dsv4_indexer_impl;
/* A whole call (dsv4_ref_indexer) with impl's stages, chunk by chunk of
 * tokens and one row of scores at a time. */
dsv4_status dsv4_indexer_with(const dsv4_indexer_impl *impl, const dsv4_indexer_cfg *cfg,
                              const dsv4_indexer_weights *w, int64_t pos, size_t T, size_t E,
                              const float *qr, const float *x, const float *k, int32_t *idx,
                              int32_t *kv);
/* (I1)'s activation: qr, or its FP8 E4M3 1x128 fake-quant in a malloc'ed
 * copy (*owned, to free). */
dsv4_status dsv4_indexer_activation(const dsv4_indexer_cfg *cfg, size_t T, const float *qr,
                                    const float **a, float **owned);
/* (I5)'s c = fp32(hd^-1/2 * H^-1/2). */
float dsv4_indexer_weight_scale(const dsv4_indexer_cfg *cfg);
/* The ordering of (I7): does (score sa, entry a) come before (sb, b)? */
int dsv4_indexer_before(float sa, size_t a, float sb, size_t b);
/* (I8): kv [T, K] from idx [T, K]. */
void dsv4_indexer_offset(const dsv4_indexer_cfg *cfg, int64_t pos, size_t T, size_t K,
                         const int32_t *idx, int32_t *kv);
/* The checks of the topk stage (and of a whole call). */
dsv4_status dsv4_indexer_topk_check(const dsv4_indexer_cfg *cfg, int64_t pos, size_t T,
                                    size_t E);

/* ---- SGEMM argument check (ref/gemm.c) ---------------------------------- */
/* The checks dsv4_ref_sgemm and dsv4_opt_sgemm share (spec/gemm.md): a
 * non-empty stored matrix needs a pointer (DSV4_E_NULL), ld >= its stored
 * columns (DSV4_E_SIZE), and its last element's index and byte offset must fit
 * in size_t (DSV4_E_OVERFLOW); checked in that order over A, B, C. */
dsv4_status dsv4_sgemm_check(int trans_a, int trans_b, size_t m, size_t n, size_t k,
                             const float *a, size_t lda, const float *b, size_t ldb,
                             const float *c, size_t ldc);

/* ---- quantizer configuration check (ref/quant.c) ------------------------ */
/* Validates cfg and shape; fills the tile grid and byte counts. */
typedef struct dsv4_quant_geom {
    size_t tiles_r, tiles_c;   /* tile grid */
    size_t code_bytes;         /* bytes of codes */
    size_t scale_bytes;        /* = tiles_r * tiles_c */
    size_t row_code_bytes;     /* bytes of codes per tensor row */
} dsv4_quant_geom;
dsv4_status dsv4_quant_check(const dsv4_quant_cfg *cfg, size_t rows, size_t cols,
                             dsv4_quant_geom *g);

/* ---- RMS factor (ref/norm.c) ---------------------------------------------- */
/* r = 1 / sqrt(sum_k x_k^2 / n + eps) over x [n], n >= 1, in fp32 with one
 * rounding per operation, k ascending (spec/norm.md N1, N2): RMSNorm's
 * factor and mHC's (spec/mhc.md H1, n = hc * d). */
float dsv4_rms_factor(const float *x, size_t n, float eps);

/* ---- mHC argument check (ref/mhc.c) --------------------------------------- */
/* Validates cfg (hc, d >= 1, sinkhorn_iters >= 1, finite eps >= 0) and T;
 * gives K = hc * d.  Overflow of T*K or (2+hc)*hc*K -> DSV4_E_OVERFLOW. */
dsv4_status dsv4_mhc_check(const dsv4_mhc_cfg *cfg, size_t T, size_t *K);
/* mHC on bf16 codes through the fp32 operator (ref/mhc_bf16.c): blocks of
 * tokens widened to fp32 scratch, run through the given operator (ref's or
 * opt's), the bf16 outputs encoded back.  The arguments of the
 * dsv4_*_bf16 entry points, checked as ref's fp32 operator checks them. */
typedef dsv4_status (*dsv4_hc_pre_fn)(const dsv4_mhc_cfg *cfg, size_t T, const float *x,
                                      const float *fn, const float *scale, const float *base,
                                      float *y, float *post, float *comb,
                                      const dsv4_hc_pre_stages *stages);
typedef dsv4_status (*dsv4_hc_post_fn)(const dsv4_mhc_cfg *cfg, size_t T, const float *f,
                                       const float *x, const float *post, const float *comb,
                                       float *out);
typedef dsv4_status (*dsv4_hc_head_fn)(const dsv4_mhc_cfg *cfg, size_t T, const float *x,
                                       const float *fn, const float *scale, const float *base,
                                       float *y, const dsv4_hc_head_stages *stages);
dsv4_status dsv4_hc_pre_bf16_widened(dsv4_hc_pre_fn pre, const dsv4_mhc_cfg *cfg, size_t T,
                                     const uint16_t *x, const float *fn, const float *scale,
                                     const float *base, uint16_t *y, float *post, float *comb,
                                     const dsv4_hc_pre_stages *stages);
dsv4_status dsv4_hc_post_bf16_widened(dsv4_hc_post_fn post_op, const dsv4_mhc_cfg *cfg, size_t T,
                                      const uint16_t *f, const uint16_t *x, const float *post,
                                      const float *comb, uint16_t *out);
dsv4_status dsv4_hc_head_bf16_widened(dsv4_hc_head_fn head, const dsv4_mhc_cfg *cfg, size_t T,
                                      const uint16_t *x, const float *fn, const float *scale,
                                      const float *base, uint16_t *y,
                                      const dsv4_hc_head_stages *stages);
/* Sinkhorn arguments: cfg not NULL (else DSV4_E_NULL); n >= 1, iters >= 1,
 * finite eps >= 0 (else DSV4_E_ARG); T * n * n overflowing -> DSV4_E_OVERFLOW. */
dsv4_status dsv4_sinkhorn_check(const dsv4_sinkhorn_cfg *cfg, size_t T);

/* ---- AdamW pieces shared by ref and opt (ref/adamw.c) ------------------- */
/* The fp32 scalars of step t, each formed in double and rounded once. */
typedef struct dsv4_adamw_scalars {
    float decay, w1, beta2, w2, step, bc2_sqrt, eps;
} dsv4_adamw_scalars;
dsv4_adamw_scalars dsv4_adamw_scalars_of(const dsv4_adamw_cfg *cfg, long t);
dsv4_status dsv4_adamw_check(const dsv4_adamw_cfg *cfg, long step, size_t n, const float *g,
                             const float *p, const float *m, const float *v);
/* Steps A1-A5 of spec/muon.md on elements [0, n), scalar. */
void dsv4_adamw_range(const dsv4_adamw_scalars *s, float *p, float *m, float *v, const float *g,
                      size_t n);

/* ---- Newton-Schulz and Muon over a chosen SGEMM (ref/muon.c) ------------ */
typedef dsv4_status (*dsv4_sgemm_fn)(int trans_a, int trans_b, size_t m, size_t n, size_t k,
                                     float alpha, const float *a, size_t lda, const float *b,
                                     size_t ldb, float beta, float *c, size_t ldc);
dsv4_status dsv4_newton_schulz_with(dsv4_sgemm_fn gemm, const dsv4_ns_cfg *cfg, size_t rows,
                                    size_t cols, const float *z, float *out, float *steps_out);
dsv4_status dsv4_ns_iterate_with(dsv4_sgemm_fn gemm, const dsv4_ns_cfg *cfg, size_t rows,
                                 size_t cols, const float *x0, float *out, float *steps_out);
dsv4_status dsv4_muon_step_with(dsv4_sgemm_fn gemm, const dsv4_muon_cfg *cfg, size_t n_mats,
                                size_t rows, size_t cols, const float *g, float *w, float *m,
                                float *ns_out);

#endif
