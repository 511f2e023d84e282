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
 * part.  The gaps are address space only: nothing touches them.
 *
 * Measured on the development VM (2 vCPUs), calls alternating between
 * layouts in one phase of the machine:
 *  - hc_pre's mixes accumulators adjacent: T = 64 on two threads took
 *    255-295 us, against 190 us with 64 KiB or more between them (16 KiB:
 *    210-240 us);
 *  - 64 KiB apart against starts 1 MiB apart: hc_pre at T = 256 on two
 *    threads 712-738 against 672-698 us, T = 64 167-169 against 166-167 us;
 *  - sgemm 256^3 with each thread's own packed panel (opt/gemm.c), two
 *    threads: parts adjacent, 64 or 256 KiB apart, 113-118 us with one
 *    thread's first block 40% slower than the other's; 512 KiB to 2 MiB
 *    apart, 84-96 us and both threads alike.
 * The likely cause of the first is one core's prefetchers running past the
 * end of its part into the next and taking those lines from the core that
 * writes them; what makes a distance of 1 MiB better than 256 KiB is not
 * known (the pages behind the parts lie scattered in physical memory
 * either way). */
enum {
    DSV4_THREAD_STRIDE_FLOATS = (1 << 20) / sizeof(float),
    DSV4_THREAD_GAP_FLOATS = (64 << 10) / sizeof(float)
};

/* Units of work per pool task when n units are cut into the fewest tasks
 * of at most `most` units that are a multiple of `threads`, n spread evenly
 * over them; each task a multiple of `granule` units (`least` and `most`
 * are multiples of it) and never fewer than `least` (or all n).  The
 * threads then take a few large contiguous pieces instead of many small
 * interleaved ones, which ran slower on the development VM: hc_post on
 * two threads at T = 256 took 612-696 us in 4-token chunks against 381-407
 * us in 32-token ones (opt/mhc.c).  For element-wise work only where the
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
