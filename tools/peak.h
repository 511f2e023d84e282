/* peak.h - the machine's peak FMA rate, measured (internal; used by
 * `dsv4 bench` to put kernel timings beside what the core can do).
 *
 * Each loop keeps many independent accumulators so that FMA latency is
 * hidden and only FMA throughput limits it; the work is acc = acc*m + a with
 * m just below 1, which stays finite and normal for any iteration count. */
#ifndef DSV4_PEAK_H
#define DSV4_PEAK_H

#include "dsv4.h"

#include <stdint.h>

/* Run `iters` iterations of the FMA loop of `isa` on the calling thread.
 * *flops receives the floating-point operations done (2 per FMA lane; the
 * scalar loop counts its separate multiply and add); *sink a value derived
 * from every accumulator, so the compiler cannot drop the loop.
 * DSV4_E_ISA when isa is not supported here. */
dsv4_status dsv4_peak_fma(dsv4_isa isa, uint64_t iters, double *flops, float *sink);

/* The per-ISA loops (tools/peak_avx2.c, tools/peak_avx512.c); return the flops. */
double dsv4_peak_fma_avx2(uint64_t iters, float *sink);
double dsv4_peak_fma_avx512(uint64_t iters, float *sink);

#endif
