/* sweep.h - run a check over all 2^32 fp32 bit patterns on two threads.
 *
 * The range is cut into 256 chunks of 2^24 patterns; each call of fn gets a
 * chunk [lo, lo + n) and returns its number of mismatches (and may record the
 * first one it sees in its own slot).  With DSV4_EXHAUSTIVE=0 in the
 * environment (sanitizer builds), each chunk is sampled with an odd stride so
 * that about 2^24 patterns are checked in all. */
#ifndef DSV4_TEST_SWEEP_H
#define DSV4_TEST_SWEEP_H

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef uint64_t (*sweep_fn)(void *ctx, uint64_t lo, uint64_t n, uint64_t stride,
                             uint32_t *first_bad);

typedef struct sweep_job {
    sweep_fn fn;
    void *ctx;
    uint64_t stride;
    int thread, n_threads;
    uint64_t bad;
    uint32_t first_bad;
    int have_first;
} sweep_job;

static inline void *sweep_worker(void *arg) {
    sweep_job *j = arg;
    for (uint64_t chunk = (uint64_t)j->thread; chunk < 256; chunk += (uint64_t)j->n_threads) {
        uint32_t first = 0;
        uint64_t b = j->fn(j->ctx, chunk << 24, (uint64_t)1 << 24, j->stride, &first);
        if (b && !j->have_first) {
            j->first_bad = first;
            j->have_first = 1;
        }
        j->bad += b;
    }
    return NULL;
}

static inline int sweep_exhaustive(void) {
    const char *e = getenv("DSV4_EXHAUSTIVE");
    return !(e && strcmp(e, "0") == 0);
}

/* Returns the mismatch count; *first_bad is one mismatching pattern. */
static inline uint64_t sweep_all_f32(sweep_fn fn, void *ctx, uint32_t *first_bad) {
    enum { T = 2 };
    sweep_job jobs[T];
    pthread_t th[T];
    uint64_t stride = sweep_exhaustive() ? 1 : 257;
    for (int t = 0; t < T; t++) {
        jobs[t] = (sweep_job){fn, ctx, stride, t, T, 0, 0, 0};
        pthread_create(&th[t], NULL, sweep_worker, &jobs[t]);
    }
    uint64_t bad = 0;
    *first_bad = 0;
    int have = 0;
    for (int t = 0; t < T; t++) {
        pthread_join(th[t], NULL);
        bad += jobs[t].bad;
        if (jobs[t].have_first && !have) {
            *first_bad = jobs[t].first_bad;
            have = 1;
        }
    }
    return bad;
}

#endif
