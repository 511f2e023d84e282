/* machine.c - memory copy bandwidth and peak FMA rate (machine.h).
 *
 * Copy bandwidth is the rate at which memcpy copies: B bytes copied in t
 * seconds is B/t (each copied byte is read once and written once; STREAM's
 * "copy" figure counts both, 2B/t, and is printed beside it).  A codec that
 * reads B input bytes and writes about as much is then compared with a copy
 * of the same buffer.  Buffers are far larger than any cache so that DRAM is
 * measured; pages are touched before timing so page faults are not. */
#include "machine.h"

#include "cli.h"
#include "peak.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

static double best_copy_seconds(unsigned char *dst, const unsigned char *src, size_t bytes,
                                int reps) {
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = dsv4_now();
        memcpy(dst, src, bytes);
        double t = dsv4_now() - t0;
        if (t < best) best = t;
    }
    return best;
}

void *dsv4_bench_alloc(size_t bytes) {
    size_t rounded = (bytes + 63) / 64 * 64;
    return rounded < bytes ? NULL : aligned_alloc(64, rounded ? rounded : 64);
}

static dsv4_status measure_copy(int quick, dsv4_machine *m) {
    m->copy_bytes = (size_t)(quick ? 64 : 256) << 20;
    unsigned char *src = dsv4_bench_alloc(m->copy_bytes);
    unsigned char *dst = dsv4_bench_alloc(m->copy_bytes);
    if (!src || !dst) {
        free(src);
        free(dst);
        return DSV4_E_NOMEM;
    }
    memset(src, 0x5a, m->copy_bytes);
    memset(dst, 0, m->copy_bytes);
    double t = best_copy_seconds(dst, src, m->copy_bytes, quick ? 3 : 6);
    m->copy_gbs = (double)m->copy_bytes / t * 1e-9;
    free(src);
    free(dst);
    return DSV4_OK;
}

typedef struct fma_job {
    dsv4_isa isa;
    uint64_t iters;
    double flops;
    float sink;
} fma_job;

static void *fma_thread(void *arg) {
    fma_job *j = arg;
    dsv4_peak_fma(j->isa, j->iters, &j->flops, &j->sink);
    return NULL;
}

/* GFLOP/s of n threads each running `iters` iterations, best of reps. */
static dsv4_status fma_rate(dsv4_isa isa, uint64_t iters, int n, int reps, double *gflops) {
    fma_job jobs[256];
    pthread_t tid[256];
    *gflops = 0.0;
    for (int r = 0; r < reps; r++) {
        double t0 = dsv4_now(), flops = 0.0;
        int started = 0;
        for (; started < n; started++) {
            jobs[started] = (fma_job){isa, iters, 0.0, 0.0f};
            if (started > 0 && pthread_create(&tid[started], NULL, fma_thread, &jobs[started]) != 0)
                break;
        }
        fma_thread(&jobs[0]); /* the calling thread is one of the n */
        for (int k = 1; k < started; k++) pthread_join(tid[k], NULL);
        double t = dsv4_now() - t0;
        if (started < n) return DSV4_E_THREAD;
        for (int k = 0; k < n; k++) flops += jobs[k].flops;
        if (flops / t * 1e-9 > *gflops) *gflops = flops / t * 1e-9;
    }
    return DSV4_OK;
}

/* Iterations that take about `seconds` on one thread. */
static uint64_t calibrate(dsv4_isa isa, double seconds) {
    uint64_t iters = 1 << 16;
    for (;;) {
        double flops;
        float sink;
        double t0 = dsv4_now();
        dsv4_peak_fma(isa, iters, &flops, &sink);
        double t = dsv4_now() - t0;
        if (t > 0.02 || iters > ((uint64_t)1 << 40)) return (uint64_t)((double)iters * seconds / t) + 1;
        iters *= 4;
    }
}

dsv4_status dsv4_machine_measure(int quick, dsv4_machine *m) {
    memset(m, 0, sizeof *m);
    dsv4_status st = measure_copy(quick, m);
    if (st != DSV4_OK) return st;
    m->isa = dsv4_isa_active();
    m->threads = dsv4_threads_get();
    if (m->threads > 256) m->threads = 256;
    uint64_t iters = calibrate(m->isa, quick ? 0.05 : 0.25);
    st = fma_rate(m->isa, iters, 1, 3, &m->fma_gflops_1);
    if (st == DSV4_OK) st = fma_rate(m->isa, iters, m->threads, 3, &m->fma_gflops_all);
    return st;
}
