/* gemm_kernels.h - the SGEMM kernel table of opt/ (one instance per ISA:
 * gemm_scalar.c, and gemm_simd.c compiled for AVX2 and AVX-512) and the
 * portable panel packing of opt/gemm.c.
 *
 * Data layout the micro-kernels see (spec/gemm.md, "opt"):
 *  - A packed sliver: mr rows of op(A) times kc terms, stored term-major,
 *    ap[p*mr + r] = op(A)[i0 + r, p0 + p]; rows past the matrix are 0.
 *  - B packed sliver: kc terms times nr columns, bp[p*nr + c] =
 *    op(B)[p0 + p, j0 + c]; columns past the matrix are 0.
 *  - A partial tile w[r*nr + c]: the running sum of element (r, c) over the
 *    k-blocks done so far, kept exactly (one fp32 value per element), so a
 *    k-block boundary changes nothing in the rounding.
 * Every kernel accumulates each element over p ascending, one multiply-add
 * per term, in its own accumulator; alpha and beta are applied once, after
 * the last term. */
#ifndef DSV4_GEMM_KERNELS_H
#define DSV4_GEMM_KERNELS_H

#include "opt.h"

#include <stddef.h>

/* What one micro-kernel call does with its mr x nr tile. */
typedef struct dsv4_gemm_tile {
    float *c;          /* top-left element of the tile in C (used when last) */
    size_t ldc;
    size_t rows, cols; /* the part inside C: 1..mr rows, 1..nr columns */
    float alpha, beta; /* beta == 0: C is not read */
    int first;         /* the sums start at 0 (else they are read from w) */
    int last;          /* C = alpha*sum + beta*C (else the sums go to w) */
} dsv4_gemm_tile;

/* kc >= 1 terms: ap [kc, mr] and bp [kc, nr] packed slivers, w [mr, nr]
 * partial sums (not touched when first && last). */
typedef void (*dsv4_gemm_micro_fn)(size_t kc, const float *ap, const float *bp, float *w,
                                   const dsv4_gemm_tile *t);

/* A matrix X [R, K] as the packer reads it: X[r, p] = trans ? p_[p*ld + r]
 * : p_[r*ld + p].  op(A) is such a view directly; for B the packer reads
 * op(B)^T [n, k], which is B with the transpose flag flipped. */
typedef struct dsv4_gemm_view {
    const float *p;
    size_t ld;
    int trans;
} dsv4_gemm_view;

/* Pack rows [r0, r0 + rows) x terms [p0, p0 + kc) of x into slivers of
 * `width` rows: out [ceil(rows / width), kc, width], the sliver s at
 * out + s*kc*width, zero past row r0 + rows - 1.  Packing only moves values,
 * so every packer gives the same bytes. */
typedef void (*dsv4_gemm_pack_fn)(const dsv4_gemm_view *x, size_t r0, size_t rows, size_t p0,
                                  size_t kc, size_t width, float *out);

typedef struct dsv4_gemm_kernels {
    size_t mr, nr;         /* micro-tile */
    size_t mc, nc, kc;     /* largest block of C (multiples of mr, nr) and k-block */
    dsv4_gemm_micro_fn micro;
    dsv4_gemm_pack_fn pack;
} dsv4_gemm_kernels;

extern const dsv4_gemm_kernels dsv4_gemm_kernels_scalar;
#if defined(__x86_64__)
extern const dsv4_gemm_kernels dsv4_gemm_kernels_avx2;
extern const dsv4_gemm_kernels dsv4_gemm_kernels_avx512;
#endif

/* The portable packer (opt/gemm.c); ISA packers fall back to it for the
 * cases they do not specialise. */
void dsv4_gemm_pack(const dsv4_gemm_view *x, size_t r0, size_t rows, size_t p0, size_t kc,
                    size_t width, float *out);

#endif
