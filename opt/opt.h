/* opt.h - what every file of the optimized path shares (not installed): the
 * library's internal declarations, the split of work into pool tasks and the
 * layout of per-thread scratch.  The kernel tables: kernels.h. */
#ifndef DSV4_OPT_H
#define DSV4_OPT_H

#include "internal.h"

#include <stddef.h>

/* Per-thread scratch inside one allocation: each thread's part starts a
 * whole number of DSV4_THREAD_STRIDE_FLOATS (1 MiB) after the previous
 * thread's, with at least DSV4_THREAD_GAP_FLOATS (64 KiB) unused after each
 * part.  The gaps are address space only: nothing touches them.  Parts
 * closer together slow the threads down (hc_pre's mixes accumulators,
 * sgemm's own panels), most likely through one core's prefetchers running
 * past the end of its part into the next and taking those lines from the
 * core that writes them. */
enum {
    DSV4_THREAD_STRIDE_FLOATS = (1 << 20) / sizeof(float),
    DSV4_THREAD_GAP_FLOATS = (64 << 10) / sizeof(float)
};

/* Units of work per pool task when n units are cut into the fewest tasks
 * of at most `most` units that are a multiple of `threads`, n spread evenly
 * over them; each task a multiple of `granule` units (`least` and `most`
 * are multiples of it) and never fewer than `least` (or all n).  The
 * threads then take a few large contiguous pieces instead of many small
 * interleaved ones, which run slower.  For element-wise work only where the
 * split changes no bit. */
static inline size_t dsv4_task_units(size_t n, size_t threads, size_t granule, size_t least,
                                     size_t most) {
    if (threads < 1) threads = 1;
    size_t tasks = threads * ((n + threads * most - 1) / (threads * most));
    size_t per = (n + tasks - 1) / tasks;
    per = (per + granule - 1) / granule * granule;
    if (per < least) per = least;
    return per < n ? per : n;
}

/* Floats from one thread's part of `floats` floats to the next one's. */
static inline size_t dsv4_thread_stride(size_t floats) {
    size_t with_gap = floats + DSV4_THREAD_GAP_FLOATS;
    return (with_gap + DSV4_THREAD_STRIDE_FLOATS - 1) / DSV4_THREAD_STRIDE_FLOATS *
           DSV4_THREAD_STRIDE_FLOATS;
}

#endif
