/* stress_threads.c - the thread pool under load, for ThreadSanitizer
 * (`make tsan`; plain C, no Criterion, whose runtime does not start under
 * TSan).
 *
 * Runs several opt operators (each a pool job, hc_pre two kinds of job;
 * hc_pre and hc_post also on bf16 codes)
 * with 1 to 4 threads, back to back and with pauses longer than the pool's
 * spin time, so that workers go through both ways of waiting (spinning and
 * sleeping) and through thread-count changes between jobs; every result
 * must equal the one-thread result bit for bit.  Exit status 0 when all
 * agree; TSan reports any data race on stderr and fails the run. */
#include "dsv4.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* D = 2048: K = 8192 is 8 segments of the mixes kernels, so that in hc_pre
 * a thread that has finished its chunk can take segments of another's. */
enum { T = 24, D = 2048, K = 4 * D, ROWS = 24, M = 37, N = 45, KK = 53 };

typedef struct outputs {
    float y[T * D], post[T * 4], comb[T * 16]; /* hc_pre */
    uint16_t yb[T * D];                        /* hc_pre_bf16 (post, comb: the same as above) */
    uint16_t ob[T * K];                        /* hc_post_bf16 */
    float c[M * N];                            /* sgemm */
    float fq[T * K];                           /* fake quant */
} outputs;

typedef struct inputs {
    float x[T * K], fn[ROWS * K], scale[3], base[ROWS];
    uint16_t xb[T * K], fb[T * D];    /* x and f as bf16 codes */
    float post_w[T * 4], comb_w[T * 16]; /* hc_post's gates */
    float a[M * KK], b[KK * N];
} inputs;

static void fill(float *p, size_t n, unsigned *seed, float amp) {
    for (size_t i = 0; i < n; i++) {
        *seed = *seed * 1664525u + 1013904223u;
        p[i] = amp * ((float)(*seed >> 8) / 16777216.0f - 0.5f);
    }
}

static void pause_us(long us) {
    struct timespec t = {us / 1000000, (us % 1000000) * 1000};
    nanosleep(&t, NULL);
}

static int run_all(const inputs *in, outputs *out) {
    dsv4_mhc_cfg cfg = DSV4_MHC_V4_FLASH;
    cfg.d = D;
    dsv4_quant_cfg q = DSV4_QUANT_FP4_ACT;
    memset(out, 0, sizeof *out);
    if (dsv4_opt_hc_pre(&cfg, T, in->x, in->fn, in->scale, in->base, out->y, out->post, out->comb,
                        NULL) != DSV4_OK)
        return 1;
    float post2[T * 4], comb2[T * 16]; /* must equal post and comb */
    if (dsv4_opt_hc_pre_bf16(&cfg, T, in->xb, in->fn, in->scale, in->base, out->yb, post2, comb2,
                             NULL) != DSV4_OK ||
        memcmp(post2, out->post, sizeof post2) != 0 || memcmp(comb2, out->comb, sizeof comb2) != 0)
        return 1;
    if (dsv4_opt_hc_post_bf16(&cfg, T, in->fb, in->xb, in->post_w, in->comb_w, out->ob) != DSV4_OK)
        return 1;
    if (dsv4_opt_sgemm(0, 0, M, N, KK, 1.0f, in->a, KK, in->b, N, 0.0f, out->c, N) != DSV4_OK)
        return 1;
    return dsv4_opt_fake_quant(&q, T, K, in->x, out->fq) != DSV4_OK;
}

int main(void) {
    static inputs in;
    static outputs want, got;
    unsigned seed = 12345u;
    fill(in.x, sizeof in.x / sizeof in.x[0], &seed, 4.0f);
    fill(in.fn, sizeof in.fn / sizeof in.fn[0], &seed, 0.1f);
    fill(in.base, ROWS, &seed, 1.0f);
    fill(in.a, sizeof in.a / sizeof in.a[0], &seed, 1.0f);
    fill(in.b, sizeof in.b / sizeof in.b[0], &seed, 1.0f);
    fill(in.post_w, T * 4, &seed, 4.0f);
    fill(in.comb_w, T * 16, &seed, 2.0f);
    for (size_t i = 0; i < T * K; i++) { /* x as codes; x itself then holds their values */
        in.xb[i] = dsv4_bf16_encode(in.x[i]);
        in.x[i] = dsv4_bf16_decode(in.xb[i]);
    }
    for (size_t i = 0; i < T * D; i++) in.fb[i] = dsv4_bf16_encode(in.x[i] * 0.5f);
    in.scale[0] = 0.5f;
    in.scale[1] = 1.0f;
    in.scale[2] = 2.0f;

    dsv4_threads_set(1);
    if (run_all(&in, &want)) {
        fprintf(stderr, "stress_threads: an operator failed with 1 thread\n");
        return 1;
    }
    int bad = 0, runs = 0;
    for (int round = 0; round < 12; round++) {
        int threads = 1 + round % 4;
        dsv4_threads_set(threads);
        for (int rep = 0; rep < 3; rep++, runs++) {
            if (run_all(&in, &got) || memcmp(&got, &want, sizeof got) != 0) {
                fprintf(stderr, "stress_threads: %d threads, round %d: result differs\n", threads,
                        round);
                bad++;
            }
            if (rep == 1) pause_us(3000); /* longer than the spin: workers sleep */
        }
    }
    printf("stress_threads: %d runs, %d differing\n", runs, bad);
    return bad != 0;
}
