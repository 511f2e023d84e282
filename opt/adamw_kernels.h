/* adamw_kernels.h - the kernel table of AdamW in opt/ (one instance per ISA:
 * ref's loop, and adamw_simd.c compiled for AVX2 and AVX-512; opt/adamw.c
 * runs the active ISA's over chunks of the arrays). */
#ifndef DSV4_ADAMW_KERNELS_H
#define DSV4_ADAMW_KERNELS_H

#include "opt.h"

/* Steps A1-A5 on elements [0, n); same operations and order as ref. */
typedef void (*dsv4_adamw_fn)(const dsv4_adamw_scalars *s, float *p, float *m, float *v,
                              const float *g, size_t n);

typedef struct dsv4_adamw_kernels {
    dsv4_adamw_fn step;
} dsv4_adamw_kernels;

extern const dsv4_adamw_kernels dsv4_adamw_kernels_scalar; /* ref's dsv4_adamw_range */
#if defined(__x86_64__)
extern const dsv4_adamw_kernels dsv4_adamw_kernels_avx2;
extern const dsv4_adamw_kernels dsv4_adamw_kernels_avx512;
#endif

#endif
