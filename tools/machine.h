/* machine.h - the limits of the machine `dsv4 bench` runs on, measured in
 * the same run so kernel timings can be read as fractions of them. */
#ifndef DSV4_MACHINE_H
#define DSV4_MACHINE_H

#include "dsv4.h"

#include <stddef.h>

typedef struct dsv4_machine {
    size_t copy_bytes;      /* size of each memcpy buffer */
    double copy_gbs;        /* memcpy, one thread, best run: bytes copied / time, GB/s */
    dsv4_isa isa;           /* ISA of the FMA loop (the active one) */
    int threads;            /* threads of the all-threads measurement */
    double fma_gflops_1;    /* peak FMA rate of one core, GFLOP/s (2 flops per FMA lane) */
    double fma_gflops_all;  /* all `threads` at once */
} dsv4_machine;

/* quick: smaller buffers and shorter loops (CI).  Fails only on allocation
 * or thread start failure. */
dsv4_status dsv4_machine_measure(int quick, dsv4_machine *m);

/* The benchmark's buffers: `bytes` (rounded up to a whole cache line) at a
 * 64-byte boundary, as a caller that cares about speed allocates them
 * (malloc's 16-byte offset makes every 64-byte vector load of x and fn in
 * hc_pre straddle two cache lines; docs/perf/2026-12-06-bench.md).
 * NULL when out of memory; free() releases it. */
void *dsv4_bench_alloc(size_t bytes);

#endif
