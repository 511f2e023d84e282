/* elementary_kernels.h - the kernel table of the elementary functions in
 * opt/ (one instance per ISA: elementary_scalar.c, and elementary_simd.c
 * compiled for AVX2 and AVX-512).  Lane-wise kernels that need e^x inside a
 * loop call the vector function of vexp.h instead. */
#ifndef DSV4_ELEMENTARY_KERNELS_H
#define DSV4_ELEMENTARY_KERNELS_H

#include "opt.h"

#include <stddef.h>

/* y[i] = dsv4_expf(x[i]) for i < n, bit for bit (y may equal x). */
typedef void (*dsv4_expf_array_fn)(const float *x, float *y, size_t n);

typedef struct dsv4_elementary_kernels {
    dsv4_expf_array_fn expf;
} dsv4_elementary_kernels;

extern const dsv4_elementary_kernels dsv4_elementary_kernels_scalar;
#if defined(__x86_64__)
extern const dsv4_elementary_kernels dsv4_elementary_kernels_avx2;
extern const dsv4_elementary_kernels dsv4_elementary_kernels_avx512;
#endif

#endif
