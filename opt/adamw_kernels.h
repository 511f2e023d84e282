/* adamw_kernels.h - AdamW element kernels per ISA (opt/adamw*.c). */
#ifndef DSV4_ADAMW_KERNELS_H
#define DSV4_ADAMW_KERNELS_H

#include "opt.h"

/* Steps A1-A5 on elements [0, n); same operations and order as ref. */
typedef void (*dsv4_adamw_kernel)(const dsv4_adamw_scalars *s, float *p, float *m, float *v,
                                  const float *g, size_t n);

void dsv4_adamw_avx2(const dsv4_adamw_scalars *s, float *p, float *m, float *v, const float *g,
                     size_t n);
void dsv4_adamw_avx512(const dsv4_adamw_scalars *s, float *p, float *m, float *v,
                       const float *g, size_t n);

#endif
