/* dsv4.h - the public C API of dsv4, a verification-grade reference of the
 * operators DeepSeek-V4 introduced.  This is the only header users include.
 *
 * Conventions for every function below (the "kernel contract"):
 *  - Status: functions that can fail return dsv4_status; DSV4_OK is 0 and
 *    dsv4_strerror() gives a one-line message.  The library never aborts,
 *    never prints and never reads or writes outside the sizes it is given.
 *  - Shapes are given in elements, row-major, in a comment "[rows, cols]".
 *  - Empty tensors (a zero extent) are valid and do nothing; pointers may be
 *    NULL only when the tensor they point to is empty.
 *  - Aliasing: outputs must not overlap inputs unless the function says so.
 *  - Alignment: none required (opt uses unaligned loads).
 *  - ref_* is the scalar, readable reference; opt_* is the SIMD + threaded
 *    path chosen at run time (see dsv4_isa_*).  Where spec/ says bit-exact,
 *    opt_* returns the same bits as ref_* for every input.
 *  - NaN/Inf policy: spec/formats.md section "Policy" (one place in the code:
 *    ref/policy.h).
 */
#ifndef DSV4_H
#define DSV4_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define DSV4_VERSION_MAJOR 0
#define DSV4_VERSION_MINOR 1
#define DSV4_VERSION_PATCH 0
#define DSV4_VERSION_STRING "0.1.0"

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
const char *dsv4_strerror(dsv4_status s);

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
int dsv4_isa_supported(dsv4_isa isa);
/* The best supported ISA. */
dsv4_isa dsv4_isa_best(void);
/* The ISA opt_* functions use now.  At first use it is taken from the
 * environment variable DSV4_ISA (scalar|avx2|avx512) or else dsv4_isa_best(). */
dsv4_isa dsv4_isa_active(void);
/* Status of the dispatcher: DSV4_E_ISA when DSV4_ISA names an unknown or
 * unsupported ISA (then every opt_* call fails with DSV4_E_ISA until
 * dsv4_isa_set() picks a supported one). */
dsv4_status dsv4_isa_status(void);
/* Force an ISA; DSV4_E_ISA if unsupported (the active ISA is then unchanged). */
dsv4_status dsv4_isa_set(dsv4_isa isa);
/* "scalar", "avx2", "avx512"; "?" for an invalid value. */
const char *dsv4_isa_name(dsv4_isa isa);
/* Parse a name as accepted in DSV4_ISA; DSV4_E_ARG if unknown. */
dsv4_status dsv4_isa_parse(const char *name, dsv4_isa *out);

/* Threads used by opt_* (default: DSV4_THREADS, else the online CPU count).
 * Results never depend on the thread count.  n must be in [1, 256]. */
dsv4_status dsv4_threads_set(int n);
int dsv4_threads_get(void);

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
const char *dsv4_fmt_name(dsv4_fmt f);
dsv4_status dsv4_fmt_parse(const char *name, dsv4_fmt *out);

/* Scalar encoders and decoders: the definitions (spec/formats.md).  Encoders
 * round to nearest, ties to even, and saturate to the largest finite value
 * (BF16 does not saturate: it overflows to Inf like IEEE).  UE8M0 encode
 * rounds up to the next power of two (exact powers of two are kept). */
uint16_t dsv4_bf16_encode(float x);
float dsv4_bf16_decode(uint16_t b);
uint8_t dsv4_e4m3_encode(float x);
float dsv4_e4m3_decode(uint8_t b);
uint8_t dsv4_e5m2_encode(float x);
float dsv4_e5m2_decode(uint8_t b);
uint8_t dsv4_e2m1_encode(float x);    /* returns 0x0..0xF */
float dsv4_e2m1_decode(uint8_t code); /* uses the low nibble only */
uint8_t dsv4_ue8m0_encode(float x);
float dsv4_ue8m0_decode(uint8_t b);

/* Array forms.  codes: uint16_t[n] for BF16, uint8_t[n] otherwise (E2M1:
 * one code per byte, unpacked).  x and codes must not overlap. */
dsv4_status dsv4_ref_encode(dsv4_fmt f, const float *x, void *codes, size_t n);
dsv4_status dsv4_ref_decode(dsv4_fmt f, const void *codes, float *y, size_t n);
dsv4_status dsv4_opt_encode(dsv4_fmt f, const float *x, void *codes, size_t n);
dsv4_status dsv4_opt_decode(dsv4_fmt f, const void *codes, float *y, size_t n);

/* FP4 packing: element 2i in the low nibble of byte i, element 2i+1 in the
 * high nibble.  n must be even (DSV4_E_ALIGN).  codes[n] -> packed[n/2]. */
dsv4_status dsv4_fp4_pack(const uint8_t *codes, uint8_t *packed, size_t n);
dsv4_status dsv4_fp4_unpack(const uint8_t *packed, uint8_t *codes, size_t n);

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
#define DSV4_QUANT_FP4_ACT   {DSV4_FMT_E2M1, 1, 32, DSV4_SCALE_RCEIL}
#define DSV4_QUANT_FP8_ACT   {DSV4_FMT_E4M3, 1, 128, DSV4_SCALE_RCEIL}
#define DSV4_QUANT_FP8_KV    {DSV4_FMT_E4M3, 1, 64, DSV4_SCALE_RCEIL}
#define DSV4_QUANT_FP8_WEIGHT {DSV4_FMT_E4M3, 128, 128, DSV4_SCALE_RCEIL}

/* Check a configuration against a [rows, cols] tensor and give the sizes of
 * its outputs: code bytes (rows*cols/2 for E2M1, rows*cols otherwise) and
 * scale bytes ((rows/block_rows) * (cols/block_cols)).  rows and cols must be
 * multiples of the tile (DSV4_E_ALIGN); block sizes must be >= 1, and
 * block_cols even for E2M1 (DSV4_E_ARG).  Either out pointer may be NULL. */
dsv4_status dsv4_quant_sizes(const dsv4_quant_cfg *cfg, size_t rows, size_t cols,
                             size_t *code_bytes, size_t *scale_bytes);

/* x[rows, cols] -> codes (E2M1: packed [rows, cols/2]; FP8: [rows, cols])
 *               and scales [rows/block_rows, cols/block_cols] (UE8M0 bytes). */
dsv4_status dsv4_ref_quant(const dsv4_quant_cfg *cfg, const float *x, size_t rows,
                           size_t cols, uint8_t *codes, uint8_t *scales);
dsv4_status dsv4_opt_quant(const dsv4_quant_cfg *cfg, const float *x, size_t rows,
                           size_t cols, uint8_t *codes, uint8_t *scales);
/* codes, scales -> y[rows, cols] = decode(code) * 2^(scale - 127). */
dsv4_status dsv4_ref_dequant(const dsv4_quant_cfg *cfg, const uint8_t *codes,
                             const uint8_t *scales, size_t rows, size_t cols, float *y);
dsv4_status dsv4_opt_dequant(const dsv4_quant_cfg *cfg, const uint8_t *codes,
                             const uint8_t *scales, size_t rows, size_t cols, float *y);
/* The in-place quant-dequant V4 applies to KV entries and indexer q/k:
 * y = dequant(quant(x)).  y may equal x (in place); other overlap is not allowed. */
dsv4_status dsv4_ref_fake_quant(const dsv4_quant_cfg *cfg, const float *x, float *y,
                                size_t rows, size_t cols);
dsv4_status dsv4_opt_fake_quant(const dsv4_quant_cfg *cfg, const float *x, float *y,
                                size_t rows, size_t cols);

/* ------------------------------------------------------------------------ */
/* safetensors files (golden vectors, candidates, dsv4 run)                  */
/* ------------------------------------------------------------------------ */
typedef enum dsv4_dtype {
    DSV4_DT_F32 = 0,
    DSV4_DT_F64,
    DSV4_DT_BF16, /* stored as raw 16-bit patterns */
    DSV4_DT_U8,
    DSV4_DT_U16,
    DSV4_DT_I32,
    DSV4_DT_COUNT
} dsv4_dtype;

#define DSV4_MAX_RANK 8

typedef struct dsv4_tensor {
    char *name;                  /* owned, NUL-terminated */
    dsv4_dtype dtype;
    int rank;                    /* 0..DSV4_MAX_RANK */
    size_t shape[DSV4_MAX_RANK];
    size_t nbytes;
    void *data;                  /* owned, nbytes long, little-endian */
} dsv4_tensor;

typedef struct dsv4_meta {
    char *key;   /* owned */
    char *value; /* owned */
} dsv4_meta;

typedef struct dsv4_st {
    size_t n_tensors;
    dsv4_tensor *tensors;
    size_t n_meta;
    dsv4_meta *meta;
} dsv4_st;

/* "F32", "F64", "BF16", "U8", "U16", "I32". */
const char *dsv4_dtype_name(dsv4_dtype dt);
size_t dsv4_dtype_size(dsv4_dtype dt);

/* Parse a whole file held in memory.  On failure *out is left empty and, if
 * err is not NULL, a reason of at most errlen bytes is written to it. */
dsv4_status dsv4_st_parse(const uint8_t *buf, size_t len, dsv4_st *out, char *err,
                          size_t errlen);
dsv4_status dsv4_st_read(const char *path, dsv4_st *out, char *err, size_t errlen);
/* Serialize: header padded with spaces to a multiple of 8, tensors in the
 * order given, data packed without gaps.  *buf is malloc'ed. */
dsv4_status dsv4_st_serialize(const dsv4_st *st, uint8_t **buf, size_t *len);
dsv4_status dsv4_st_write(const char *path, const dsv4_st *st);
void dsv4_st_free(dsv4_st *st);
/* Lookups; NULL when absent. */
const dsv4_tensor *dsv4_st_find(const dsv4_st *st, const char *name);
const char *dsv4_st_meta(const dsv4_st *st, const char *key);
/* Builders: copy name/data in; shape has `rank` entries. */
dsv4_status dsv4_st_add(dsv4_st *st, const char *name, dsv4_dtype dt, int rank,
                        const size_t *shape, const void *data);
dsv4_status dsv4_st_set_meta(dsv4_st *st, const char *key, const char *value);
/* Element count of a tensor (product of its shape; 1 for rank 0). */
size_t dsv4_tensor_numel(const dsv4_tensor *t);

#ifdef __cplusplus
}
#endif
#endif /* DSV4_H */
