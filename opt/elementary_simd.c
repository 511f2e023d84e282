/* elementary_simd.c - the elementary kernels written once over the vector
 * layer (vec.h), compiled once per ISA by elementary_avx2.c and
 * elementary_avx512.c: vexp.h on whole vectors, then one partial vector. */
#include "vec.h"
#include "vexp.h"

#include "elementary_kernels.h"

static void expf_array(const float *x, float *y, size_t n) {
    size_t i = 0;
    for (; i + VEC_W <= n; i += VEC_W) vf_store(y + i, vexp(vf_load(x + i)));
    if (i < n) vf_store_n(y + i, vexp(vf_load_n(x + i, n - i)), n - i);
}

const dsv4_elementary_kernels VEC_NAME(dsv4_elementary_kernels) = {expf_array};
