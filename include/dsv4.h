/* dsv4.h - the public C API of dsv4, a verification-grade reference of the
 * operators DeepSeek-V4 introduced.  This is the only header users include.
 *
 * Conventions for every function below (the "kernel contract"):
 *  - Status: functions that can fail return dsv4_status; DSV4_OK is 0 and
 *    dsv4_strerror() gives a one-line message.  The library never aborts,
 *    never prints and never reads or writes outside the sizes it is given.
 *  - Argument order: configuration, sizes, inputs, state updated in place,
 *    outputs; optional outputs (may be NULL) last.  For example
 *    dsv4_ref_quant(cfg, rows, cols, x, codes, scales) and
 *    dsv4_ref_adamw_step(cfg, step, n, g, p, m, v).  The one deliberate
 *    exception is dsv4_*_sgemm, which keeps the argument order of BLAS's
 *    cblas_sgemm (less its layout argument) so that it reads as the call
 *    everyone knows.
 *  - Shapes are given in elements, row-major, in a comment "[rows, cols]".
 *  - Empty tensors (a zero extent) are valid and do nothing; pointers may be
 *    NULL only when the tensor they point to is empty.
 *  - Aliasing: outputs must not overlap inputs unless the function says so.
 *  - Alignment: none required (opt uses unaligned loads).
 *  - ref_* is the scalar, readable reference; opt_* is the SIMD + threaded
 *    path chosen at run time (see dsv4_isa_*).  Where spec/ says bit-exact,
 *    opt_* returns the same bits as ref_* for every input.
 *  - Names: dsv4_ref_<op> and dsv4_opt_<op> where the two implementations
 *    differ; a stage with one implementation that serves both is
 *    dsv4_<family>_<stage>, without ref_ or opt_ (dsv4_hc_split,
 *    dsv4_hc_head_weights, dsv4_ns_normalize, dsv4_muon_nesterov,
 *    dsv4_muon_update).
 *  - NaN/Inf policy: spec/formats.md section "Policy" (one place in the code:
 *    ref/policy.h).
 *  - Every declaration here and in dsv4_io.h is marked DSV4_API, and
 *    libdsv4.so exports exactly those (scripts/check-exports.sh checks it).
 */
#ifndef DSV4_H
#define DSV4_H

#include <stddef.h>
#include <stdint.h>

/* Marks the library's public functions and data, the only symbols
 * libdsv4.so exports: the library is built with -fvisibility=hidden, so
 * everything else, including the helpers ref/ and opt/ share, stays inside. */
#if defined(__GNUC__) || defined(__clang__)
#define DSV4_API __attribute__((visibility("default")))
#else
#define DSV4_API
#endif

#ifdef __cplusplus
extern "C" {
#endif

#define DSV4_VERSION_MAJOR 0
#define DSV4_VERSION_MINOR 1
#define DSV4_VERSION_PATCH 0
#define DSV4_VERSION_STRING "0.1.0"

/* The version of the library linked: DSV4_VERSION_STRING as the library was
 * built with it (a program can compare it with the header's). */
DSV4_API const char *dsv4_version(void);

/* ------------------------------------------------------------------------ */
/* Status codes                                                              */
/* ------------------------------------------------------------------------ */
typedef enum dsv4_status {
    DSV4_OK = 0,
    DSV4_E_NULL,      /* a required pointer is NULL */
    DSV4_E_SIZE,      /* a size is invalid (zero where not allowed, inconsistent) */
    DSV4_E_OVERFLOW,  /* a size computation would overflow size_t */
    DSV4_E_ALIGN,     /* a length is not a multiple of the block it is cut into */
    DSV4_E_ARG,       /* an argument value is invalid (enum, config value) */
    DSV4_E_NOMEM,     /* allocation failed */
    DSV4_E_IO,        /* reading or writing a file failed */
    DSV4_E_FORMAT,    /* a file or JSON text is malformed */
    DSV4_E_ISA,       /* the requested instruction set is not available */
    DSV4_E_NOTFOUND,  /* a named tensor, key or operator does not exist */
    DSV4_E_DTYPE,     /* a tensor has the wrong dtype or shape for its role */
    DSV4_E_THREAD,    /* a worker thread could not be started */
    DSV4_STATUS_COUNT
} dsv4_status;

/* A static, never-NULL, one-line message for any status value. */
DSV4_API const char *dsv4_strerror(dsv4_status s);

/* ------------------------------------------------------------------------ */
/* Run-time dispatch and threads                                             */
/* ------------------------------------------------------------------------ */
typedef enum dsv4_isa {
    DSV4_ISA_SCALAR = 0, /* portable C, any architecture */
    DSV4_ISA_AVX2 = 1,   /* x86-64 AVX2 + FMA (+ F16C not needed) */
    DSV4_ISA_AVX512 = 2, /* x86-64 AVX-512 F, BW, DQ, VL */
    DSV4_ISA_COUNT
} dsv4_isa;

/* 1 when this build has kernels for `isa` and the CPU and OS (XGETBV) support it. */
DSV4_API int dsv4_isa_supported(dsv4_isa isa);
/* The best supported ISA. */
DSV4_API dsv4_isa dsv4_isa_best(void);
/* The ISA opt_* functions use now.  At first use it is taken from the
 * environment variable DSV4_ISA (scalar|avx2|avx512) or else dsv4_isa_best(). */
DSV4_API dsv4_isa dsv4_isa_active(void);
/* Status of the dispatcher: DSV4_E_ISA when DSV4_ISA names an unknown or
 * unsupported ISA (then every opt_* call fails with DSV4_E_ISA until
 * dsv4_isa_set() picks a supported one). */
DSV4_API dsv4_status dsv4_isa_status(void);
/* Force an ISA; DSV4_E_ISA if unsupported (the active ISA is then unchanged). */
DSV4_API dsv4_status dsv4_isa_set(dsv4_isa isa);
/* "scalar", "avx2", "avx512"; "?" for an invalid value. */
DSV4_API const char *dsv4_isa_name(dsv4_isa isa);
/* Parse a name as accepted in DSV4_ISA; DSV4_E_ARG if unknown. */
DSV4_API dsv4_status dsv4_isa_parse(const char *name, dsv4_isa *out);

/* Threads used by opt_* (default: DSV4_THREADS, else the online CPU count).
 * Results never depend on the thread count.  n must be in [1, 256].  The
 * caller works too; the others are the library's own threads.  On Linux
 * one of those that finds itself on the caller's CPU moves to another CPU
 * of its affinity mask (which it keeps as it was); the caller's thread is
 * never moved or pinned. */
DSV4_API dsv4_status dsv4_threads_set(int n);
DSV4_API int dsv4_threads_get(void);

/* ------------------------------------------------------------------------ */
/* Number formats (spec/formats.md)                                          */
/* ------------------------------------------------------------------------ */
typedef enum dsv4_fmt {
    DSV4_FMT_BF16 = 0,  /* bfloat16, codes are uint16_t bit patterns */
    DSV4_FMT_E4M3 = 1,  /* FP8 E4M3FN (no Inf, NaN = S.1111.111), uint8_t */
    DSV4_FMT_E5M2 = 2,  /* FP8 E5M2 (IEEE-like), uint8_t */
    DSV4_FMT_E2M1 = 3,  /* FP4 E2M1, one code per uint8_t (low nibble) unless packed */
    DSV4_FMT_UE8M0 = 4, /* unsigned power-of-two scale, value 2^(b-127), 0xFF = NaN */
    DSV4_FMT_COUNT
} dsv4_fmt;

/* "bf16", "e4m3", "e5m2", "e2m1", "ue8m0"; "?" for an invalid value. */
DSV4_API const char *dsv4_fmt_name(dsv4_fmt f);
DSV4_API dsv4_status dsv4_fmt_parse(const char *name, dsv4_fmt *out);

/* Scalar encoders and decoders: the definitions (spec/formats.md).  Encoders
 * round to nearest, ties to even, and saturate to the largest finite value
 * (BF16 does not saturate: it overflows to Inf like IEEE).  UE8M0 encode
 * rounds up to the next power of two (exact powers of two are kept). */
DSV4_API uint16_t dsv4_bf16_encode(float x);
DSV4_API float dsv4_bf16_decode(uint16_t b);
DSV4_API uint8_t dsv4_e4m3_encode(float x);
DSV4_API float dsv4_e4m3_decode(uint8_t b);
DSV4_API uint8_t dsv4_e5m2_encode(float x);
DSV4_API float dsv4_e5m2_decode(uint8_t b);
DSV4_API uint8_t dsv4_e2m1_encode(float x);    /* returns 0x0..0xF */
DSV4_API float dsv4_e2m1_decode(uint8_t code); /* uses the low nibble only */
DSV4_API uint8_t dsv4_ue8m0_encode(float x);
DSV4_API float dsv4_ue8m0_decode(uint8_t b);

/* Array forms.  codes: uint16_t[n] for BF16, uint8_t[n] otherwise (E2M1:
 * one code per byte, unpacked).  x and codes must not overlap. */
DSV4_API dsv4_status dsv4_ref_encode(dsv4_fmt f, size_t n, const float *x, void *codes);
DSV4_API dsv4_status dsv4_ref_decode(dsv4_fmt f, size_t n, const void *codes, float *y);
DSV4_API dsv4_status dsv4_opt_encode(dsv4_fmt f, size_t n, const float *x, void *codes);
DSV4_API dsv4_status dsv4_opt_decode(dsv4_fmt f, size_t n, const void *codes, float *y);

/* FP4 packing: element 2i in the low nibble of byte i, element 2i+1 in the
 * high nibble.  n must be even (DSV4_E_ALIGN).  codes[n] -> packed[n/2]. */
DSV4_API dsv4_status dsv4_fp4_pack(size_t n, const uint8_t *codes, uint8_t *packed);
DSV4_API dsv4_status dsv4_fp4_unpack(size_t n, const uint8_t *packed, uint8_t *codes);

/* ------------------------------------------------------------------------ */
/* Block quantizers (spec/formats.md, "Block quantizers")                    */
/* ------------------------------------------------------------------------ */
typedef enum dsv4_scale_rule {
    DSV4_SCALE_RCEIL = 0, /* DeepSeek-V4: s = 2^ceil(log2(amax / max_code)) */
    DSV4_SCALE_FLOOR = 1, /* OCP MX: s = 2^(floor(log2(amax)) - emax_elem) */
    DSV4_SCALE_COUNT
} dsv4_scale_rule;

typedef struct dsv4_quant_cfg {
    dsv4_fmt fmt;         /* element format: E2M1, E4M3 or E5M2 */
    size_t block_rows;    /* tile height: 1 for activations, 128 for weights */
    size_t block_cols;    /* tile width: 32 (FP4), 64 or 128 (FP8) */
    dsv4_scale_rule rule; /* how the UE8M0 scale is chosen */
} dsv4_quant_cfg;

/* The configurations DeepSeek-V4 uses. */
#define DSV4_QUANT_FP4_ACT \
    {.fmt = DSV4_FMT_E2M1, .block_rows = 1, .block_cols = 32, .rule = DSV4_SCALE_RCEIL}
#define DSV4_QUANT_FP8_ACT \
    {.fmt = DSV4_FMT_E4M3, .block_rows = 1, .block_cols = 128, .rule = DSV4_SCALE_RCEIL}
#define DSV4_QUANT_FP8_KV \
    {.fmt = DSV4_FMT_E4M3, .block_rows = 1, .block_cols = 64, .rule = DSV4_SCALE_RCEIL}
#define DSV4_QUANT_FP8_WEIGHT \
    {.fmt = DSV4_FMT_E4M3, .block_rows = 128, .block_cols = 128, .rule = DSV4_SCALE_RCEIL}

/* Check a configuration against a [rows, cols] tensor and give the sizes of
 * its outputs: code bytes (rows*cols/2 for E2M1, rows*cols otherwise) and
 * scale bytes ((rows/block_rows) * (cols/block_cols)).  rows and cols must be
 * multiples of the tile (DSV4_E_ALIGN); block sizes must be >= 1, and
 * block_cols even for E2M1 (DSV4_E_ARG).  Either out pointer may be NULL. */
DSV4_API dsv4_status dsv4_quant_sizes(const dsv4_quant_cfg *cfg, size_t rows, size_t cols,
                                      size_t *code_bytes, size_t *scale_bytes);

/* x[rows, cols] -> codes (E2M1: packed [rows, cols/2]; FP8: [rows, cols])
 *               and scales [rows/block_rows, cols/block_cols] (UE8M0 bytes). */
DSV4_API dsv4_status dsv4_ref_quant(const dsv4_quant_cfg *cfg, size_t rows, size_t cols,
                                    const float *x, uint8_t *codes, uint8_t *scales);
DSV4_API dsv4_status dsv4_opt_quant(const dsv4_quant_cfg *cfg, size_t rows, size_t cols,
                                    const float *x, uint8_t *codes, uint8_t *scales);
/* codes, scales -> y[rows, cols] = decode(code) * 2^(scale - 127). */
DSV4_API dsv4_status dsv4_ref_dequant(const dsv4_quant_cfg *cfg, size_t rows, size_t cols,
                                      const uint8_t *codes, const uint8_t *scales, float *y);
DSV4_API dsv4_status dsv4_opt_dequant(const dsv4_quant_cfg *cfg, size_t rows, size_t cols,
                                      const uint8_t *codes, const uint8_t *scales, float *y);
/* The in-place quant-dequant V4 applies to KV entries and indexer q/k:
 * y = dequant(quant(x)).  y may equal x (in place); other overlap is not allowed. */
DSV4_API dsv4_status dsv4_ref_fake_quant(const dsv4_quant_cfg *cfg, size_t rows, size_t cols,
                                         const float *x, float *y);
DSV4_API dsv4_status dsv4_opt_fake_quant(const dsv4_quant_cfg *cfg, size_t rows, size_t cols,
                                         const float *x, float *y);

/* ------------------------------------------------------------------------ */
/* Elementary functions (spec/elementary.md)                                 */
/* ------------------------------------------------------------------------ */
/* e^x for every fp32 x, computed in double from the input bits only (no libm)
 * and rounded once to fp32: overflow gives +Inf, underflow 0 or a correctly
 * placed subnormal, NaN gives NaN.  ref and opt use the same algorithm. */
DSV4_API float dsv4_expf(float x);
/* 1 / (1 + e^-x), in fp32: t = dsv4_expf(-x), then 1 + t, then 1 / that. */
DSV4_API float dsv4_sigmoidf(float x);
/* sin x and cos x of an fp32 x, each computed in double from the exact
 * value of x (an exact Payne-Hanek reduction by pi/2 for every fp32 x, no
 * libm) and rounded once to fp32: one of the two fp32 neighbours of the
 * exact value for every x, the nearest one for all but a few.  NaN gives
 * NaN (quieted), +-Inf gives NaN, sin(+-0) = +-0 and cos(+-0) = 1.  s or
 * c may be NULL: that value is then not stored. */
DSV4_API void dsv4_sincosf(float x, float *s, float *c);
/* ln x and e^x in double, no libm, within the few double ulps
 * spec/elementary.md states.  log: NaN gives NaN, x < 0 NaN, +-0 -Inf,
 * +Inf +Inf.  exp: NaN gives NaN, results beyond DBL_MAX +Inf, results
 * below 2^-1075 +0, subnormal results rounded once. */
DSV4_API double dsv4_log_d(double x);
DSV4_API double dsv4_exp_d(double x);

/* ------------------------------------------------------------------------ */
/* Rotary position embedding with YaRN (spec/rope.md)                        */
/* ------------------------------------------------------------------------ */
/* The frequency table of V4's precompute_freqs_cis.  YaRN is applied when
 * original_seq_len > 0 (whatever the sequence length), never otherwise.
 * Valid: rope_dim even in [2, 65536]; 1 < base <= FLT_MAX; with YaRN also
 * original_seq_len < 2^53, 1 <= factor <= FLT_MAX, beta_fast > 0 and
 * beta_slow > 0, all finite.  Else DSV4_E_ARG. */
typedef struct dsv4_rope_cfg {
    size_t rope_dim;             /* channels rotated, the last of each row (V4: 64) */
    double base;                 /* theta (V4: 160000 compressing layers, 10000 window-only) */
    double factor;               /* YaRN scale factor (V4: 16) */
    uint64_t original_seq_len;   /* YaRN's original context (V4: 65536); 0 = no YaRN */
    double beta_fast, beta_slow; /* YaRN correction range in rotations (V4: 32, 1) */
} dsv4_rope_cfg;

/* V4's two tables: layers with a compressor (CSA and HCA) use base 160000
 * with YaRN for everything they rotate; window-only layers base 10000
 * without YaRN (factor and betas unused). */
#define DSV4_ROPE_V4_COMPRESS                                                               \
    {.rope_dim = 64, .base = 160000.0, .factor = 16.0, .original_seq_len = 65536,          \
     .beta_fast = 32.0, .beta_slow = 1.0}
#define DSV4_ROPE_V4_WINDOW                                                                 \
    {.rope_dim = 64, .base = 10000.0, .factor = 16.0, .original_seq_len = 0,               \
     .beta_fast = 32.0, .beta_slow = 1.0}

/* The rope_dim/2 frequencies, inv_freq [rope_dim/2] (spec/rope.md R1-R3,
 * Y1-Y6).  One implementation serves ref and opt. */
DSV4_API dsv4_status dsv4_rope_inv_freq(const dsv4_rope_cfg *cfg, float *inv_freq);
/* The table of T tokens at positions pos [T] (each >= 0, else DSV4_E_ARG,
 * and nothing is written): the angle fp32(pos) * inv_freq[i] rounded to
 * fp32, and its cosine and sine rounded to fp32 (R4, R5):
 * cos_t, sin_t [T, rope_dim/2].  T = 0 is an empty call.  One
 * implementation serves ref and opt. */
DSV4_API dsv4_status dsv4_rope_table(const dsv4_rope_cfg *cfg, size_t T, const int32_t *pos,
                                     float *cos_t, float *sin_t);
/* Rotates the last rope_dim channels of each row of x [T, rows, width] by
 * the angles of its token (interleaved pairs (x[2i], x[2i+1]) of those
 * channels, A1), the conjugate rotation when inverse is nonzero, and
 * rounds them to bf16 (A2); the first width - rope_dim channels are copied
 * unchanged.  cos_t, sin_t [T, rope_dim/2] as dsv4_rope_table gives them;
 * y [T, rows, width] may equal x.  width < rope_dim is DSV4_E_SIZE.  NaN
 * and Inf follow IEEE arithmetic (spec/rope.md §3). */
DSV4_API dsv4_status dsv4_ref_rope_apply(const dsv4_rope_cfg *cfg, size_t T, size_t rows,
                                         size_t width, int inverse, const float *cos_t,
                                         const float *sin_t, const float *x, float *y);

/* ------------------------------------------------------------------------ */
/* Walsh-Hadamard transform (spec/hadamard.md)                               */
/* ------------------------------------------------------------------------ */
/* V4's rotate_activation on each row of x [rows, n]: y = bf16((1/sqrt(n)) H_n x)
 * [rows, n], H_n the unsigned Sylvester matrix in natural order,
 * H[i][j] = (-1)^popcount(i & j) (scipy.linalg.hadamard's).  The sums are
 * fp32 butterflies over strides 1, 2, 4, ..., then one fp32 product with
 * RN32(1/sqrt(n)) and one rounding to bf16.  n must be a power of two in
 * [1, 32768] (else DSV4_E_ARG); rows = 0 is an empty call; y may equal x.
 * A NaN in a row makes the whole row NaN; infinities follow IEEE sums
 * (+Inf and -Inf in one sum give NaN). */
DSV4_API dsv4_status dsv4_ref_hadamard(size_t rows, size_t n, const float *x, float *y);

/* ------------------------------------------------------------------------ */
/* RMSNorm (spec/norm.md)                                                    */
/* ------------------------------------------------------------------------ */
/* V4's RMSNorm on each row of x [rows, d] with the weight w [d]:
 * y [rows, d] = bf16( (x * r) * w ), r = 1 / sqrt(sum(x^2) / d + eps), the
 * sum left to right, every operation rounded to fp32 (r is mHC's factor,
 * spec/mhc.md H1).  d >= 1 and a finite eps >= 0 (V4: fp32(1e-6)), else
 * DSV4_E_ARG; rows = 0 is an empty call; y may equal x.  A NaN in a row
 * makes its row NaN; an infinite x gives r = 0, so NaN at that entry and
 * +-0 elsewhere; eps = 0 with a zero row gives r = +Inf and NaN outputs. */
DSV4_API dsv4_status dsv4_ref_rms_norm(size_t rows, size_t d, float eps, const float *x,
                                       const float *w, float *y);
/* Its two stages, so that each can be run on the golden inputs of that stage:
 *   factor (stage rms):  x [rows, d] -> r [rows]                    (N1, N2)
 *   apply (stage norm):  x [rows, d], r [rows], w [d] -> y [rows, d] (N3)
 * rms_norm(x) = apply(x, factor(x)) bit for bit. */
DSV4_API dsv4_status dsv4_ref_rms_norm_factor(size_t rows, size_t d, float eps, const float *x,
                                              float *r);
DSV4_API dsv4_status dsv4_ref_rms_norm_apply(size_t rows, size_t d, const float *x,
                                             const float *r, const float *w, float *y);

/* ------------------------------------------------------------------------ */
/* SGEMM (spec/gemm.md)                                                      */
/* ------------------------------------------------------------------------ */
/* C[m, n] = alpha * op(A)[m, k] * op(B)[k, n] + beta * C[m, n], row-major with
 * leading dimensions lda, ldb, ldc (elements).  op(A) = A [m, k] (lda >= k) or,
 * with trans_a, A^T where A is [k, m] (lda >= m); the same for B.
 * Each C element is the sum over p = 0..k-1 in increasing order.  beta == 0
 * means C is not read (NaN in C does not propagate).  C must not overlap A
 * or B.  ref: plain loops, one rounding per multiply and per add.  opt: packed
 * and blocked with FMA; results identical for any thread count, within
 * spec/gemm.md's tolerance of ref.  The arguments are cblas_sgemm's, in its
 * order, without its layout argument (the exception to the argument order
 * of the kernel contract). */
DSV4_API dsv4_status dsv4_ref_sgemm(int trans_a, int trans_b, size_t m, size_t n, size_t k,
                                    float alpha, const float *a, size_t lda, const float *b,
                                    size_t ldb, float beta, float *c, size_t ldc);
DSV4_API dsv4_status dsv4_opt_sgemm(int trans_a, int trans_b, size_t m, size_t n, size_t k,
                                    float alpha, const float *a, size_t lda, const float *b,
                                    size_t ldb, float beta, float *c, size_t ldc);

/* ------------------------------------------------------------------------ */
/* Manifold-Constrained Hyper-Connections (spec/mhc.md)                      */
/* ------------------------------------------------------------------------ */
typedef struct dsv4_mhc_cfg {
    size_t hc;          /* streams, hc_mult (V4: 4) */
    size_t d;           /* width of one stream (V4-Flash 4096, V4-Pro 7168) */
    int sinkhorn_iters; /* row+column rounds in Sinkhorn-Knopp, >= 1 (V4: 20) */
    float hc_eps;       /* V4: fp32(1e-6) */
    float norm_eps;     /* V4: fp32(1e-6) */
} dsv4_mhc_cfg;

#define DSV4_MHC_V4_FLASH \
    {.hc = 4, .d = 4096, .sinkhorn_iters = 20, .hc_eps = 1e-6f, .norm_eps = 1e-6f}
#define DSV4_MHC_V4_PRO \
    {.hc = 4, .d = 7168, .sinkhorn_iters = 20, .hc_eps = 1e-6f, .norm_eps = 1e-6f}

/* Optional intermediate outputs (any pointer may be NULL). */
typedef struct dsv4_hc_pre_stages {
    float *r;      /* [T]            RMS factor 1/sqrt(mean(x^2) + norm_eps) */
    float *mixes;  /* [T, (2+hc)*hc] mixing logits, after the factor r */
    float *pre;    /* [T, hc]        sigmoid + hc_eps */
    float *logits; /* [T, hc, hc]    residual logits fed to Sinkhorn-Knopp */
} dsv4_hc_pre_stages;

typedef struct dsv4_hc_head_stages {
    float *r;      /* [T] */
    float *mixes;  /* [T, hc] */
    float *w;      /* [T, hc]        sigmoid + hc_eps */
} dsv4_hc_head_stages;

/* hc_pre, per token t: x[t] is [hc, d] (bf16 values in V4; any fp32 works).
 *   fn [(2+hc)*hc, hc*d], scale [3], base [(2+hc)*hc]
 *   -> y [T, d] (bf16-rounded, stored as fp32), post [T, hc], comb [T, hc, hc].
 * comb[t][j][k] weighs old stream j into new stream k (see hc_post). */
DSV4_API dsv4_status dsv4_ref_hc_pre(const dsv4_mhc_cfg *cfg, size_t T, const float *x,
                                     const float *fn, const float *scale, const float *base,
                                     float *y, float *post, float *comb,
                                     const dsv4_hc_pre_stages *stages);
DSV4_API dsv4_status dsv4_opt_hc_pre(const dsv4_mhc_cfg *cfg, size_t T, const float *x,
                                     const float *fn, const float *scale, const float *base,
                                     float *y, float *post, float *comb,
                                     const dsv4_hc_pre_stages *stages);
/* Sinkhorn-Knopp as V4 runs it (spec/mhc.md §3), on T independent n x n
 * logit matrices: row softmax (max subtracted) + eps, column step, then
 * iters-1 times (row step, column step); every divisor is its sum + eps.
 * logits, out [T, n, n]; out may equal logits.  n >= 1, iters >= 1 and a
 * finite eps >= 0, else DSV4_E_ARG.  hc_pre runs it with {hc,
 * sinkhorn_iters, hc_eps} of its dsv4_mhc_cfg. */
typedef struct dsv4_sinkhorn_cfg {
    size_t n;  /* matrix size (V4: hc = 4) */
    int iters; /* row normalisations, the softmax being the first (V4: 20) */
    float eps; /* V4: fp32(1e-6) */
} dsv4_sinkhorn_cfg;

#define DSV4_SINKHORN_V4 {.n = 4, .iters = 20, .eps = 1e-6f}

DSV4_API dsv4_status dsv4_ref_sinkhorn(const dsv4_sinkhorn_cfg *cfg, size_t T, const float *logits,
                                       float *out);
DSV4_API dsv4_status dsv4_opt_sinkhorn(const dsv4_sinkhorn_cfg *cfg, size_t T, const float *logits,
                                       float *out);
/* hc_post: out[t][k][i] = bf16( post[t][k] * f[t][i] + sum_j comb[t][j][k] * x[t][j][i] ).
 *   f [T, d], x [T, hc, d], post [T, hc], comb [T, hc, hc] -> out [T, hc, d]. */
DSV4_API dsv4_status dsv4_ref_hc_post(const dsv4_mhc_cfg *cfg, size_t T, const float *f,
                                      const float *x, const float *post, const float *comb,
                                      float *out);
DSV4_API dsv4_status dsv4_opt_hc_post(const dsv4_mhc_cfg *cfg, size_t T, const float *f,
                                      const float *x, const float *post, const float *comb,
                                      float *out);
/* hc_head: sigmoid + hc_eps weights from fn [hc, hc*d], scale [1], base [hc];
 * y [T, d] = bf16( sum_j w[t][j] * x[t][j] ). */
DSV4_API dsv4_status dsv4_ref_hc_head(const dsv4_mhc_cfg *cfg, size_t T, const float *x,
                                      const float *fn, const float *scale, const float *base,
                                      float *y, const dsv4_hc_head_stages *stages);
DSV4_API dsv4_status dsv4_opt_hc_head(const dsv4_mhc_cfg *cfg, size_t T, const float *x,
                                      const float *fn, const float *scale, const float *base,
                                      float *y, const dsv4_hc_head_stages *stages);
/* hc_pre, hc_post and hc_head on V4's storage of the residual stream
 * (spec/mhc.md §2.1): x, f and the bf16 outputs (y, out) as bf16 codes
 * (uint16_t), the rest as in the fp32 forms.  The result is that of the
 * fp32 form on the exactly widened inputs, with the outputs' values (bf16
 * already) stored as codes: the same bits, and the same statuses for the
 * same bad input.  ref widens blocks of 64 tokens into scratch (4 MiB of x
 * at V4-Flash sizes); opt reads and writes the codes directly where its ISA
 * has the kernels (AVX2, AVX-512) and widens like ref elsewhere. */
DSV4_API dsv4_status dsv4_ref_hc_pre_bf16(const dsv4_mhc_cfg *cfg, size_t T, const uint16_t *x,
                                          const float *fn, const float *scale, const float *base,
                                          uint16_t *y, float *post, float *comb,
                                          const dsv4_hc_pre_stages *stages);
DSV4_API dsv4_status dsv4_opt_hc_pre_bf16(const dsv4_mhc_cfg *cfg, size_t T, const uint16_t *x,
                                          const float *fn, const float *scale, const float *base,
                                          uint16_t *y, float *post, float *comb,
                                          const dsv4_hc_pre_stages *stages);
DSV4_API dsv4_status dsv4_ref_hc_post_bf16(const dsv4_mhc_cfg *cfg, size_t T, const uint16_t *f,
                                           const uint16_t *x, const float *post, const float *comb,
                                           uint16_t *out);
DSV4_API dsv4_status dsv4_opt_hc_post_bf16(const dsv4_mhc_cfg *cfg, size_t T, const uint16_t *f,
                                           const uint16_t *x, const float *post, const float *comb,
                                           uint16_t *out);
DSV4_API dsv4_status dsv4_ref_hc_head_bf16(const dsv4_mhc_cfg *cfg, size_t T, const uint16_t *x,
                                           const float *fn, const float *scale, const float *base,
                                           uint16_t *y, const dsv4_hc_head_stages *stages);
DSV4_API dsv4_status dsv4_opt_hc_head_bf16(const dsv4_mhc_cfg *cfg, size_t T, const uint16_t *x,
                                           const float *fn, const float *scale, const float *base,
                                           uint16_t *y, const dsv4_hc_head_stages *stages);

/* Stage-level entry points of spec/mhc.md, so that each stage can be run on
 * the golden inputs of that stage.  Shapes as above; rows = number of fn rows
 * ((2+hc)*hc for hc_pre, hc for hc_head).
 *   rms:          x [T, hc, d] -> r [T]                                   (H1)
 *   mixes:        x, fn [rows, hc*d], r -> mixes [T, rows]                 (H2)
 *   split:        mixes [T, (2+hc)*hc], scale [3], base -> pre, post [T, hc],
 *                 logits [T, hc, hc]                                        (H3)
 *   head_weights: mixes [T, hc], scale [1], base [hc] -> w [T, hc]
 *   weighted_sum: x [T, hc, d], w [T, hc] -> y [T, d] (bf16 values)         (H5)
 * split and head_weights have no opt form: opt's gates are bit-exact with
 * them (spec/mhc.md §7), so one function serves both. */
DSV4_API dsv4_status dsv4_ref_hc_rms(const dsv4_mhc_cfg *cfg, size_t T, const float *x, float *r);
DSV4_API dsv4_status dsv4_opt_hc_rms(const dsv4_mhc_cfg *cfg, size_t T, const float *x, float *r);
DSV4_API dsv4_status dsv4_ref_hc_mixes(const dsv4_mhc_cfg *cfg, size_t T, size_t rows,
                                       const float *x, const float *fn, const float *r,
                                       float *mixes);
DSV4_API dsv4_status dsv4_opt_hc_mixes(const dsv4_mhc_cfg *cfg, size_t T, size_t rows,
                                       const float *x, const float *fn, const float *r,
                                       float *mixes);
DSV4_API dsv4_status dsv4_hc_split(const dsv4_mhc_cfg *cfg, size_t T, const float *mixes,
                                   const float *scale, const float *base, float *pre, float *post,
                                   float *logits);
DSV4_API dsv4_status dsv4_hc_head_weights(const dsv4_mhc_cfg *cfg, size_t T, const float *mixes,
                                          const float *scale, const float *base, float *w);
DSV4_API dsv4_status dsv4_ref_hc_weighted_sum(const dsv4_mhc_cfg *cfg, size_t T, const float *x,
                                              const float *w, float *y);
DSV4_API dsv4_status dsv4_opt_hc_weighted_sum(const dsv4_mhc_cfg *cfg, size_t T, const float *x,
                                              const float *w, float *y);

/* The two stages of Sinkhorn-Knopp (spec/mhc.md §3), with the statuses of
 * dsv4_*_sinkhorn; sinkhorn(cfg) equals iterate(cfg, init(cfg)) bit for bit.
 *   init:    logits [T, n, n] -> c: the row softmax + eps and the first
 *            column step (S1, S2), i.e. Sinkhorn with 1 iteration whatever
 *            cfg->iters is; out may equal logits;
 *   iterate: c [T, n, n] -> out: the cfg->iters - 1 further (row step,
 *            column step) rounds (S3); out may equal c. */
DSV4_API dsv4_status dsv4_ref_sinkhorn_init(const dsv4_sinkhorn_cfg *cfg, size_t T,
                                            const float *logits, float *out);
DSV4_API dsv4_status dsv4_opt_sinkhorn_init(const dsv4_sinkhorn_cfg *cfg, size_t T,
                                            const float *logits, float *out);
DSV4_API dsv4_status dsv4_ref_sinkhorn_iterate(const dsv4_sinkhorn_cfg *cfg, size_t T,
                                               const float *c, float *out);
DSV4_API dsv4_status dsv4_opt_sinkhorn_iterate(const dsv4_sinkhorn_cfg *cfg, size_t T,
                                               const float *c, float *out);

/* ------------------------------------------------------------------------ */
/* Muon and AdamW (spec/muon.md)                                             */
/* ------------------------------------------------------------------------ */
typedef enum dsv4_ns_eps_form {
    DSV4_NS_EPS_ADD = 0, /* X0 = Y / (||Y||_F + eps)   (V4 / Moonlight / Keller Jordan) */
    DSV4_NS_EPS_MAX = 1  /* X0 = Y / max(||Y||_F, eps)  (torch.optim.Muon) */
} dsv4_ns_eps_form;

typedef struct dsv4_ns_cfg {
    int steps;             /* S >= 0 */
    const float *coef;     /* [steps, 3]: (a, b, c) of each step */
    float eps;             /* V4: fp32(1e-7) */
    dsv4_ns_eps_form eps_form;
} dsv4_ns_cfg;

/* V4's hybrid schedule: 8 x (3.4445, -4.7750, 2.0315) then 2 x (2, -1.5, 0.5). */
DSV4_API extern const float dsv4_ns_v4_coef[10 * 3];
#define DSV4_NS_V4 \
    {.steps = 10, .coef = dsv4_ns_v4_coef, .eps = 1e-7f, .eps_form = DSV4_NS_EPS_ADD}

/* Newton-Schulz on z [rows, cols] -> out [rows, cols] (out may equal z).
 * steps_out, when not NULL, receives X after every step, in z's orientation:
 * [steps, rows, cols]. */
DSV4_API dsv4_status dsv4_ref_newton_schulz(const dsv4_ns_cfg *cfg, size_t rows, size_t cols,
                                            const float *z, float *out, float *steps_out);
/* opt: the same element-wise steps, the matrix products by dsv4_opt_sgemm
 * (spec/muon.md §5 tolerances; identical for any thread count). */
DSV4_API dsv4_status dsv4_opt_newton_schulz(const dsv4_ns_cfg *cfg, size_t rows, size_t cols,
                                            const float *z, float *out, float *steps_out);

/* The stages of Newton-Schulz on their own (spec/muon.md N1; N2-N4):
 *   normalize: z [rows, cols] -> x0 = z / (||z||_F + eps) (or max form), z's orientation;
 *   iterate:   the S steps from a given x0 -> out, steps_out [S, rows, cols] (may be NULL).
 * newton_schulz(z) = iterate(normalize(z)).  Normalization has no products:
 * one function serves ref and opt. */
DSV4_API dsv4_status dsv4_ns_normalize(const dsv4_ns_cfg *cfg, size_t rows, size_t cols,
                                       const float *z, float *x0);
DSV4_API dsv4_status dsv4_ref_ns_iterate(const dsv4_ns_cfg *cfg, size_t rows, size_t cols,
                                         const float *x0, float *out, float *steps_out);
DSV4_API dsv4_status dsv4_opt_ns_iterate(const dsv4_ns_cfg *cfg, size_t rows, size_t cols,
                                         const float *x0, float *out, float *steps_out);

typedef enum dsv4_muon_momentum {
    DSV4_MUON_MOMENTUM_SUM = 0, /* M = mu M + G; U = mu M + G (V4) */
    DSV4_MUON_MOMENTUM_LERP = 1 /* M = M + (1-mu)(G - M); U = G + mu (M - G) */
} dsv4_muon_momentum;

typedef enum dsv4_muon_scale {
    DSV4_MUON_SCALE_RMS = 0,       /* gamma * sqrt(max(rows, cols)) (V4: gamma 0.18) */
    DSV4_MUON_SCALE_ASPECT = 1     /* sqrt(max(1, rows / cols)) (Keller Jordan) */
} dsv4_muon_scale;

/* Hyper-parameters are doubles, as the Python floats of PyTorch: scalars
 * built from them (1 - lr*wd, lr*gamma*sqrt(max(rows, cols)), ...) are formed
 * in double and rounded once to fp32 (spec/muon.md). */
typedef struct dsv4_muon_cfg {
    dsv4_ns_cfg ns;
    double lr;                /* eta */
    double momentum;          /* mu, V4 0.95 (used as fp32(mu)) */
    double weight_decay;      /* lambda, V4 0.1 */
    double gamma;             /* V4 0.18 */
    dsv4_muon_momentum momentum_form;
    dsv4_muon_scale scale_rule;
} dsv4_muon_cfg;

/* One Muon step on n_mats independent matrices of one shape:
 * g, w, m [n_mats, rows, cols]; w and m are updated in place.  ns_out, when
 * not NULL, receives each matrix's Newton-Schulz output O' [n_mats, rows, cols]. */
DSV4_API dsv4_status dsv4_ref_muon_step(const dsv4_muon_cfg *cfg, size_t n_mats, size_t rows,
                                        size_t cols, const float *g, float *w, float *m,
                                        float *ns_out);
DSV4_API dsv4_status dsv4_opt_muon_step(const dsv4_muon_cfg *cfg, size_t n_mats, size_t rows,
                                        size_t cols, const float *g, float *w, float *m,
                                        float *ns_out);

/* The element-wise stages of the Muon step, shared by ref and opt (bit-exact):
 *   nesterov: g, m [n_mats, rows, cols] -> m updated (M1), u = the Nesterov input (M2);
 *   update:   o, w [n_mats, rows, cols] -> w = w * fp32(1 - lr*wd) - sigma * o (M4, M5),
 *             sigma from the matrix shape [rows, cols] and the scale rule. */
DSV4_API dsv4_status dsv4_muon_nesterov(const dsv4_muon_cfg *cfg, size_t n_mats, size_t rows,
                                        size_t cols, const float *g, float *m, float *u);
DSV4_API dsv4_status dsv4_muon_update(const dsv4_muon_cfg *cfg, size_t n_mats, size_t rows,
                                      size_t cols, const float *o, float *w);

typedef struct dsv4_adamw_cfg {
    double lr, beta1, beta2, eps, weight_decay; /* V4: -, 0.9, 0.95, 1e-20, 0.1 */
} dsv4_adamw_cfg;

/* One AdamW step number `step` (>= 1): g, p, m, v [n]; p, m, v in place. */
DSV4_API dsv4_status dsv4_ref_adamw_step(const dsv4_adamw_cfg *cfg, long step, size_t n,
                                         const float *g, float *p, float *m, float *v);
/* The same, vectorized and threaded: bit-exact with ref (same operations in
 * the same order, IEEE sqrt and division, no FMA). */
DSV4_API dsv4_status dsv4_opt_adamw_step(const dsv4_adamw_cfg *cfg, long step, size_t n,
                                         const float *g, float *p, float *m, float *v);

/* ------------------------------------------------------------------------ */
/* KV compressor (spec/compressor.md)                                        */
/* ------------------------------------------------------------------------ */
typedef enum dsv4_compress_quant {
    DSV4_COMPRESS_FP8 = 0,          /* nope channels to FP8 E4M3 in 1x64 tiles (main) */
    DSV4_COMPRESS_HADAMARD_FP4 = 1, /* Hadamard over all channels, then FP4 1x32 (indexer) */
    DSV4_COMPRESS_NONE = 2          /* no quantization (release-day Flash's no-op FP8 cast) */
} dsv4_compress_quant;

/* One compressor.  The window overlaps exactly when ratio == 4 (coff = 2,
 * else coff = 1).  Valid: dim, head_dim, ratio >= 1; a valid rope with
 * rope_dim <= head_dim; FP8: head_dim - rope_dim a multiple of 64;
 * HADAMARD_FP4: head_dim a power of two and a multiple of 32; a finite
 * norm_eps >= 0.  Else DSV4_E_ARG. */
typedef struct dsv4_compressor_cfg {
    size_t dim;          /* width of the layer input x (V4-Flash 4096, V4-Pro 7168) */
    size_t head_dim;     /* d: width of an entry (512 main, 128 the indexer's) */
    size_t ratio;        /* r: tokens per entry (4 CSA, 128 HCA) */
    dsv4_compress_quant quant;
    float norm_eps;      /* V4: fp32(1e-6) */
    dsv4_rope_cfg rope;  /* V4: DSV4_ROPE_V4_COMPRESS */
} dsv4_compressor_cfg;

#define DSV4_COMPRESSOR_V4_CSA                                                              \
    {.dim = 4096, .head_dim = 512, .ratio = 4, .quant = DSV4_COMPRESS_FP8,                   \
     .norm_eps = 1e-6f, .rope = DSV4_ROPE_V4_COMPRESS}
#define DSV4_COMPRESSOR_V4_HCA                                                              \
    {.dim = 4096, .head_dim = 512, .ratio = 128, .quant = DSV4_COMPRESS_FP8,                 \
     .norm_eps = 1e-6f, .rope = DSV4_ROPE_V4_COMPRESS}
#define DSV4_COMPRESSOR_V4_INDEXER                                                          \
    {.dim = 4096, .head_dim = 128, .ratio = 4, .quant = DSV4_COMPRESS_HADAMARD_FP4,          \
     .norm_eps = 1e-6f, .rope = DSV4_ROPE_V4_COMPRESS}

/* The weights: wkv, wgate [coff*d, dim], ape [r, coff*d], norm [d]. */
typedef struct dsv4_compressor_weights {
    const float *wkv, *wgate, *ape, *norm;
} dsv4_compressor_weights;

/* The caller-owned state of one sequence: kv, score [coff*r, coff*d] (V4's
 * kv_state and score_state) and pos, the tokens seen so far, in [0, 2^31). */
typedef struct dsv4_compressor_state {
    float *kv, *score;
    int64_t pos;
} dsv4_compressor_state;

/* Checks cfg; *state_floats (may be NULL) = the floats of state.kv (and of
 * state.score): coff*r * coff*d.  DSV4_E_OVERFLOW if that overflows. */
DSV4_API dsv4_status dsv4_compressor_check(const dsv4_compressor_cfg *cfg, size_t *state_floats);
/* The reset state of a new sequence: kv 0, score -Inf, pos 0. */
DSV4_API dsv4_status dsv4_compressor_reset(const dsv4_compressor_cfg *cfg,
                                           dsv4_compressor_state *state);
/* The entries a call of T tokens from position pos emits:
 * floor((pos + T) / r) - floor(pos / r); entry indices from floor(pos / r). */
DSV4_API size_t dsv4_compressor_emits(const dsv4_compressor_cfg *cfg, int64_t pos, size_t T);

/* One call: x [T, dim] (bf16 values) -> the cache rows of the entries it
 * completes, entries [n, d] (n = dsv4_compressor_emits(cfg, state->pos, T)),
 * and the state advanced by T tokens.  A sequence split into calls in any
 * way gives the same entries.  entries may be NULL when n = 0.  On an error
 * nothing is written and the state is unchanged. */
DSV4_API dsv4_status dsv4_ref_compress(const dsv4_compressor_cfg *cfg,
                                       const dsv4_compressor_weights *w, size_t T,
                                       const float *x, dsv4_compressor_state *state,
                                       float *entries);
DSV4_API dsv4_status dsv4_opt_compress(const dsv4_compressor_cfg *cfg,
                                       const dsv4_compressor_weights *w, size_t T,
                                       const float *x, dsv4_compressor_state *state,
                                       float *entries);

/* The stages, so that each can be run on the golden inputs of that stage:
 *   project (C1): x [T, dim] -> kv, score [T, coff*d] (score includes the
 *                 ape bias of each token's position pos + t in its block);
 *   pool (C2):    kv, score, the state (read only) -> e [n, d] fp32;
 *   carry:        kv, score -> the state advanced by T tokens;
 *   finish:       one of (C3)-(C5) on n rows of entries from index `first`:
 *                 NORM (bf16 rounding, then RMSNorm), ROPE (at positions
 *                 first*r, (first+1)*r, ...), ROTATE (Hadamard; HADAMARD_FP4
 *                 only), QUANT (the cfg's quantization; for HADAMARD_FP4 the
 *                 FP4 step alone, after ROTATE).  in, out [n, d]; out may equal in.
 * compress = finish(QUANT, finish(ROTATE, finish(ROPE, finish(NORM, pool))))
 * then carry, bit for bit.  pool, carry and finish have one implementation,
 * which ref and opt run. */
typedef enum dsv4_compress_stage {
    DSV4_COMPRESS_NORM = 0,
    DSV4_COMPRESS_ROPE = 1,
    DSV4_COMPRESS_ROTATE = 2,
    DSV4_COMPRESS_QUANT = 3
} dsv4_compress_stage;

DSV4_API dsv4_status dsv4_ref_compress_project(const dsv4_compressor_cfg *cfg,
                                               const dsv4_compressor_weights *w, int64_t pos,
                                               size_t T, const float *x, float *kv,
                                               float *score);
DSV4_API dsv4_status dsv4_opt_compress_project(const dsv4_compressor_cfg *cfg,
                                               const dsv4_compressor_weights *w, int64_t pos,
                                               size_t T, const float *x, float *kv,
                                               float *score);
DSV4_API dsv4_status dsv4_compress_pool(const dsv4_compressor_cfg *cfg,
                                        const dsv4_compressor_state *state, size_t T,
                                        const float *kv, const float *score, float *e);
DSV4_API dsv4_status dsv4_compress_carry(const dsv4_compressor_cfg *cfg, size_t T,
                                         const float *kv, const float *score,
                                         dsv4_compressor_state *state);
DSV4_API dsv4_status dsv4_compress_finish(const dsv4_compressor_cfg *cfg,
                                          const dsv4_compressor_weights *w,
                                          dsv4_compress_stage stage, int64_t first, size_t n,
                                          const float *in, float *out);

/* ------------------------------------------------------------------------ */
/* Lightning indexer (spec/indexer.md)                                       */
/* ------------------------------------------------------------------------ */
/* The indexer of a CSA layer.  Valid: every size >= 1; head_dim a power of
 * two, a multiple of 32, >= rope.rope_dim; act_fp8: q_lora a multiple of
 * 128; a valid rope.  Else DSV4_E_ARG. */
typedef struct dsv4_indexer_cfg {
    size_t dim;         /* width of the layer input x (V4-Flash 4096, V4-Pro 7168) */
    size_t q_lora;      /* width of qr (1024, 1536) */
    size_t n_heads;     /* H (64) */
    size_t head_dim;    /* hd (128) */
    size_t ratio;       /* tokens per compressed entry (4) */
    size_t topk;        /* entries selected per query (512, 1024) */
    size_t window;      /* rows before the compressed entries in a decode KV (128) */
    int act_fp8;        /* 1: qr fake-quantized to FP8 E4M3 1x128 before its projection (V4) */
    dsv4_rope_cfg rope; /* V4: DSV4_ROPE_V4_COMPRESS */
} dsv4_indexer_cfg;

#define DSV4_INDEXER_V4_FLASH                                                               \
    {.dim = 4096, .q_lora = 1024, .n_heads = 64, .head_dim = 128, .ratio = 4, .topk = 512,   \
     .window = 128, .act_fp8 = 1, .rope = DSV4_ROPE_V4_COMPRESS}
#define DSV4_INDEXER_V4_PRO                                                                 \
    {.dim = 7168, .q_lora = 1536, .n_heads = 64, .head_dim = 128, .ratio = 4, .topk = 1024,  \
     .window = 128, .act_fp8 = 1, .rope = DSV4_ROPE_V4_COMPRESS}

/* wq_b [H*hd, q_lora], weights_proj [H, dim] (bf16 values). */
typedef struct dsv4_indexer_weights {
    const float *wq_b, *weights_proj;
} dsv4_indexer_weights;

DSV4_API dsv4_status dsv4_indexer_check(const dsv4_indexer_cfg *cfg);
/* K = min(topk, E): the width of a call's index lists. */
DSV4_API size_t dsv4_indexer_width(const dsv4_indexer_cfg *cfg, size_t E);

/* T query tokens at positions pos, pos+1, ... (pos >= 0, pos + T < 2^31):
 * qr [T, q_lora], x [T, dim], the E compressed keys k [E, hd] (the
 * indexer compressor's cache rows) -> idx [T, K] (entry numbers, -1 past
 * the visible ones) and kv [T, K] (the same as rows of the attention's KV:
 * + T when pos == 0, + window otherwise; -1 stays).  kv may be NULL. */
DSV4_API dsv4_status dsv4_ref_indexer(const dsv4_indexer_cfg *cfg, const dsv4_indexer_weights *w,
                                      int64_t pos, size_t T, size_t E, const float *qr,
                                      const float *x, const float *k, int32_t *idx, int32_t *kv);
DSV4_API dsv4_status dsv4_opt_indexer(const dsv4_indexer_cfg *cfg, const dsv4_indexer_weights *w,
                                      int64_t pos, size_t T, size_t E, const float *qr,
                                      const float *x, const float *k, int32_t *idx, int32_t *kv);

/* The stages (spec/indexer.md §4), each runnable on the golden inputs of
 * that stage:
 *   project (I1):  qr [T, q_lora] -> q [T, H, hd]
 *   query (I2-I4): ROPE at positions pos.., ROTATE (Hadamard), QUANT (FP4):
 *                  in, out [T, H, hd]; out may equal in (one implementation)
 *   weights (I5):  x [T, dim] -> w [T, H]
 *   scores (I6):   q [T, H, hd] (after QUANT), k [E, hd], w [T, H] ->
 *                  s [T, E] (-Inf where the entry is not visible)
 *   topk (I7, I8): s [T, E] -> idx, kv [T, K] (kv may be NULL) */
typedef enum dsv4_indexer_query_stage {
    DSV4_INDEXER_ROPE = 0,
    DSV4_INDEXER_ROTATE = 1,
    DSV4_INDEXER_QUANT = 2
} dsv4_indexer_query_stage;

DSV4_API dsv4_status dsv4_ref_indexer_project(const dsv4_indexer_cfg *cfg,
                                              const dsv4_indexer_weights *w, size_t T,
                                              const float *qr, float *q);
DSV4_API dsv4_status dsv4_opt_indexer_project(const dsv4_indexer_cfg *cfg,
                                              const dsv4_indexer_weights *w, size_t T,
                                              const float *qr, float *q);
DSV4_API dsv4_status dsv4_indexer_query(const dsv4_indexer_cfg *cfg,
                                        dsv4_indexer_query_stage stage, int64_t pos, size_t T,
                                        const float *in, float *out);
DSV4_API dsv4_status dsv4_ref_indexer_weights(const dsv4_indexer_cfg *cfg,
                                              const dsv4_indexer_weights *w, size_t T,
                                              const float *x, float *wts);
DSV4_API dsv4_status dsv4_opt_indexer_weights(const dsv4_indexer_cfg *cfg,
                                              const dsv4_indexer_weights *w, size_t T,
                                              const float *x, float *wts);
DSV4_API dsv4_status dsv4_ref_indexer_scores(const dsv4_indexer_cfg *cfg, int64_t pos, size_t T,
                                             size_t E, const float *q, const float *k,
                                             const float *wts, float *s);
DSV4_API dsv4_status dsv4_opt_indexer_scores(const dsv4_indexer_cfg *cfg, int64_t pos, size_t T,
                                             size_t E, const float *q, const float *k,
                                             const float *wts, float *s);
DSV4_API dsv4_status dsv4_ref_indexer_topk(const dsv4_indexer_cfg *cfg, int64_t pos, size_t T,
                                           size_t E, const float *s, int32_t *idx, int32_t *kv);
DSV4_API dsv4_status dsv4_opt_indexer_topk(const dsv4_indexer_cfg *cfg, int64_t pos, size_t T,
                                           size_t E, const float *s, int32_t *idx, int32_t *kv);
/* Sparse attention with a sink (spec/sparse_attn.md)                        */
/* ------------------------------------------------------------------------ */
typedef struct dsv4_sparse_attn_cfg {
    size_t n_heads;  /* H, query heads (V4-Flash 64, V4-Pro 128), >= 1 */
    size_t head_dim; /* D, width of a query head and of a KV row (V4: 512), >= 1 */
    float scale;     /* multiplies q.k; finite (V4: fp32(head_dim^-0.5)) */
} dsv4_sparse_attn_cfg;

/* V4's two attention shapes; 0x1.6a09e6p-5f = fp32(512^-0.5) (0x3D3504F3). */
#define DSV4_SPARSE_ATTN_V4_FLASH {.n_heads = 64, .head_dim = 512, .scale = 0x1.6a09e6p-5f}
#define DSV4_SPARSE_ATTN_V4_PRO {.n_heads = 128, .head_dim = 512, .scale = 0x1.6a09e6p-5f}

/* V4's softmax scale for a head width d: d^-1/2 rounded once to fp32
 * (correctly rounded for every d in [1, 2^53); 0 gives +Inf). */
DSV4_API float dsv4_sparse_attn_scale(size_t head_dim);

/* For each token t and head h, the softmax over the rows of kv that idx[t]
 * names, with the sink as an extra logit in the denominator only:
 *   J = the entries j of idx[t] with 0 <= idx[t][j] < N (others skipped,
 *       a repeated row counted once per entry), l_j = scale * q[t][h] . kv[idx[t][j]],
 *   o[t][h] = bf16( sum_J e^l_j kv[idx[t][j]] / (sum_J e^l_j + e^sink[h]) ),
 *   lse[t][h] = ln sum_J e^l_j (fp32; the sink is not in it).
 * q [T, H, D], kv [N, D] (one row is both key and value), sink [H],
 * idx [T, K] -> o [T, H, D] (bf16 values), lse [T, H] (may be NULL).
 * A row with no valid entry gives o = 0 and lse = -Inf whatever the sink; a
 * non-finite logit in J gives NaN in all of o[t][h] and lse[t][h]; a NaN
 * sink gives NaN in o[t][h] (lse keeps its value); sink +Inf gives o = 0,
 * -Inf the plain softmax.  T = 0 is an empty call; K = 0 or N = 0 make
 * every row empty.  o may equal q; no other overlap.  Bad input:
 * DSV4_E_NULL (cfg, or a needed pointer), DSV4_E_ARG (n_heads or head_dim
 * 0, scale not finite), DSV4_E_OVERFLOW (a size of T*H*D, N*D or T*K
 * elements or bytes beyond size_t); nothing is written then.
 * ref: the exact formula in double (spec/sparse_attn.md §3).  opt: fp32
 * with an online softmax over blocks of 64 valid rows, vectorized and
 * threaded; the same bits on every ISA and thread count, and for a token
 * whatever the other tokens of the call; within the tolerance of §5. */
DSV4_API dsv4_status dsv4_ref_sparse_attn(const dsv4_sparse_attn_cfg *cfg, size_t T, size_t N,
                                          size_t K, const float *q, const float *kv,
                                          const float *sink, const int32_t *idx, float *o,
                                          float *lse);
DSV4_API dsv4_status dsv4_opt_sparse_attn(const dsv4_sparse_attn_cfg *cfg, size_t T, size_t N,
                                          size_t K, const float *q, const float *kv,
                                          const float *sink, const int32_t *idx, float *o,
                                          float *lse);

#ifdef __cplusplus
}
#endif
#endif /* DSV4_H */
