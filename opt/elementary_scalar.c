/* elementary_scalar.c - the portable elementary kernels: ref's function on
 * each element. */
#include "elementary_kernels.h"

static void expf_array_scalar(const float *x, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = dsv4_expf(x[i]);
}

const dsv4_elementary_kernels dsv4_elementary_kernels_scalar = {expf_array_scalar};
