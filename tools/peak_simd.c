/* peak_simd.c - the peak-FMA loop (peak.h), written once over opt/'s vector
 * layer and compiled per ISA by peak_avx2.c and peak_avx512.c.  Independent
 * VEC_W-lane accumulators cover the FMA latency on two ports: 12 of AVX2's
 * 16 registers (latency 4-5 needs at least 10 in flight), 16 of AVX-512's
 * 32 (at least 8), all kept in registers. */
#include "peak.h"
#include "vec.h"

enum { ACCS = VEC_REGS == 32 ? 16 : 12 };

double VEC_NAME(dsv4_peak_fma)(uint64_t iters, float *sink) {
    vf acc[ACCS]; /* [ACCS] x VEC_W lanes */
    const vf m = vf_set1(0.999999f), a = vf_set1(1e-3f);
    for (int k = 0; k < ACCS; k++) acc[k] = vf_set1((float)k);
    for (uint64_t i = 0; i < iters; i++)
        /* Fully unrolled, the accumulators live in registers; left as a
         * loop, the compiler keeps the array in memory. */
#pragma GCC unroll 16
        for (int k = 0; k < ACCS; k++) acc[k] = vf_fmadd(acc[k], m, a);
    vf s = acc[0];
    for (int k = 1; k < ACCS; k++) s = vf_add(s, acc[k]);
    *sink = vf_hsum(s);
    return 2.0 * ACCS * VEC_W * (double)iters;
}
