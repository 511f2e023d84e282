/* bench_muon.c - `dsv4 bench` rows for the optimizer step (issue targets:
 * a Muon step on 512 x 1024 with opt >= 50x ref; on 4096 x 4096 opt's time
 * beside the floor its SGEMM implies), and AdamW (bandwidth-bound).
 *
 * The SGEMM floor of a Newton-Schulz run on X [r, c] (r <= c) is the time of
 * its products alone, measured here with dsv4_opt_sgemm at the same shapes:
 * per step X*X^T [r, r, c], A*A [r, r, r] and B*X [r, c, r]. */
#include "bench_muon.h"

#include "cli.h"
#include "machine.h"

#include <stdlib.h>
#include <string.h>

static void fill(float *x, size_t n, unsigned seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 1664525u + 1013904223u;
        x[i] = (float)((int)(seed >> 9) - (1 << 22)) * 0x1p-22f;
    }
    for (size_t i = 0; i * 1024 < n; i++) x[i * 1025 % n] += 8.0f; /* better conditioned */
}

/* Seconds of one Muon step of one [r, c] matrix, best of reps. */
static double time_muon(int opt, size_t r, size_t c, const float *w0, const float *g, float *w,
                        float *m, int reps) {
    const dsv4_muon_cfg cfg = {DSV4_NS_V4, 2.7e-4, 0.95, 0.1, 0.18, DSV4_MUON_MOMENTUM_SUM,
                               DSV4_MUON_SCALE_RMS};
    double best = -1.0;
    for (int i = 0; i < reps; i++) {
        memcpy(w, w0, r * c * sizeof *w);
        memset(m, 0, r * c * sizeof *m);
        double t0 = dsv4_now();
        dsv4_status st = (opt ? dsv4_opt_muon_step : dsv4_ref_muon_step)(&cfg, 1, r, c, g, w, m,
                                                                          NULL);
        double t = dsv4_now() - t0;
        if (st != DSV4_OK) return -1.0;
        if (best < 0 || t < best) best = t;
    }
    return best;
}

/* The SGEMM floor of 10 Newton-Schulz steps on [r, c], r <= c. */
static double sgemm_floor(size_t r, size_t c, float *a, float *b, float *out) {
    const size_t shape[3][4] = {{0, r, r, c}, {1, r, r, r}, {1, r, c, r}}; /* trans_b=!flag */
    double total = 0.0;
    for (int s = 0; s < 3; s++) {
        size_t m = shape[s][1], n = shape[s][2], k = shape[s][3];
        int tb = shape[s][0] == 0;
        double best = -1.0;
        for (int rep = 0; rep < 2; rep++) {
            double t0 = dsv4_now();
            if (dsv4_opt_sgemm(0, tb, m, n, k, 1.0f, a, k, b, tb ? k : n, 0.0f, out, n) != DSV4_OK)
                return -1.0;
            double t = dsv4_now() - t0;
            if (best < 0 || t < best) best = t;
        }
        total += best;
    }
    return 10.0 * total;
}

int dsv4_bench_muon(const dsv4_machine *mach, int quick, FILE *out) {
    int errors = 0;
    size_t big = quick ? 1024 : 4096, n = big * big; /* also holds the 512 x 1024 case */
    size_t bytes = n * sizeof(float);
    float *w0 = dsv4_bench_alloc(bytes), *g = dsv4_bench_alloc(bytes), *w = dsv4_bench_alloc(bytes);
    float *m = dsv4_bench_alloc(bytes), *scratch = dsv4_bench_alloc(bytes);
    if (!w0 || !g || !w || !m || !scratch) {
        fprintf(out, "muon: out of memory\n");
        errors++;
        goto done;
    }
    fill(w0, n, 1);
    fill(g, n, 2);
    fprintf(out, "%-24s %3s %10s %10s %9s %11s  %s\n", "optimizer step", "thr", "ref ms",
            "opt ms", "speedup", "sgemm floor", "target");
    /* 512 x 1024 (128 x 256 with --quick: ref is slow): ref against opt,
     * one thread each for the ratio, then opt on all threads */
    size_t sr = quick ? 128 : 512, sc = 2 * sr;
    char small[32];
    snprintf(small, sizeof small, "muon step %zux%zu", sr, sc);
    double t_ref = time_muon(0, sr, sc, w0, g, w, m, 1);
    int thr[2] = {1, mach->threads};
    for (int i = 0; i < (mach->threads > 1 ? 2 : 1); i++) {
        dsv4_threads_set(thr[i]);
        double t_opt = time_muon(1, sr, sc, w0, g, w, m, 3);
        if (t_ref < 0 || t_opt < 0) {
            errors++;
            continue;
        }
        double sp = t_ref / t_opt;
        fprintf(out, "%-24s %3d %10.1f %10.2f %8.1fx %11s  %s\n", small, thr[i],
                t_ref * 1e3, t_opt * 1e3, sp, "-", sp >= 50 ? "met (>= 50x ref)" : "not met: < 50x");
    }
    /* big x big: opt only, beside its SGEMM floor */
    dsv4_threads_set(mach->threads);
    double t_big = time_muon(1, big, big, w0, g, w, m, 1);
    double floor_t = sgemm_floor(big, big, w0, g, scratch);
    if (t_big < 0 || floor_t < 0) {
        errors++;
    } else {
        char name[32];
        snprintf(name, sizeof name, "muon step %zux%zu", big, big);
        fprintf(out, "%-24s %3d %10s %10.1f %9s %9.1fms  opt / floor = %.2f\n", name,
                mach->threads, "-", t_big * 1e3, "-", floor_t * 1e3, t_big / floor_t);
    }
done:
    free(w0);
    free(g);
    free(w);
    free(m);
    free(scratch);
    return errors;
}
