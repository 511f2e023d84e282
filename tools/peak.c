/* peak.c - portable dispatcher of the peak-FMA loops (peak.h). */
#include "peak.h"

/* Accumulators of the portable loop: enough to cover an add's latency. */
enum { SCALAR_ACCS = 8 };

/* Portable C: separate multiply and add (ISO C has no guaranteed fused
 * operation without a library call), counted as 2 flops. */
static double peak_scalar(uint64_t iters, float *sink) {
    float acc[SCALAR_ACCS]; /* [SCALAR_ACCS] */
    const float m = 0.999999f, a = 1e-3f;
    for (int k = 0; k < SCALAR_ACCS; k++) acc[k] = (float)k;
    for (uint64_t i = 0; i < iters; i++)
        for (int k = 0; k < SCALAR_ACCS; k++) acc[k] = acc[k] * m + a;
    float s = 0.0f;
    for (int k = 0; k < SCALAR_ACCS; k++) s += acc[k];
    *sink = s;
    return 2.0 * SCALAR_ACCS * (double)iters;
}

dsv4_status dsv4_peak_fma(dsv4_isa isa, uint64_t iters, double *flops, float *sink) {
    if (!flops || !sink) return DSV4_E_NULL;
    if (!dsv4_isa_supported(isa)) return DSV4_E_ISA;
    switch (isa) {
#if defined(__x86_64__) || defined(_M_X64)
    case DSV4_ISA_AVX2: *flops = dsv4_peak_fma_avx2(iters, sink); return DSV4_OK;
    case DSV4_ISA_AVX512: *flops = dsv4_peak_fma_avx512(iters, sink); return DSV4_OK;
#endif
    default: *flops = peak_scalar(iters, sink); return DSV4_OK;
    }
}
