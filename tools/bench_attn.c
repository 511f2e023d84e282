/* bench_attn.c - `dsv4 bench` rows for sparse attention with a sink
 * (spec/sparse_attn.md): one decode step (T = 1) of V4-Flash (64 heads,
 * the 128-row window and 512 compressed rows), of V4-Pro (128 heads, 128 +
 * 1024) and of a heavily compressed layer at a 1M-token context (64 heads,
 * 128 + 1M / 128 = 8192 compressed rows), all with d = 512.
 *
 * Each opt time (all threads) stands beside the bound the machine allows,
 * measured in the same run: the larger of
 *   bytes / bandwidth: what the call must read (q, its rows of kv, idx,
 *                      sink) and write (o, lse), at twice the memcpy rate
 *                      (the rate of a read or a write stream, as STREAM
 *                      counts a copy), and
 *   flops / peak:      4 H K D (two products of H x K x D multiply-adds),
 *                      at the peak FMA rate of all threads.
 * ref (one thread, in double) is timed once per row; --quick leaves it
 * out of the 1M row and takes fewer opt runs. */
#include "bench_attn.h"

#include "cli.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct attn_row {
    const char *name;
    size_t heads, window, compressed;
    int ref_in_quick; /* with --quick, ref (seconds for the 1M row) is left out otherwise */
} attn_row;

static const attn_row rows[] = {
    {"V4-Flash decode", 64, 128, 512, 1},
    {"V4-Pro decode", 128, 128, 1024, 1},
    {"HCA 1M decode", 64, 128, 8192, 0},
};

enum { D = 512 };

static void fill(float *x, size_t n, uint64_t seed) {
    for (size_t i = 0; i < n; i++) {
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        float v = (float)((int32_t)(seed >> 33) - (1 << 30)) * 0x1p-30f;
        x[i] = dsv4_bf16_decode(dsv4_bf16_encode(v)); /* bf16 values in [-1, 1) */
    }
}

/* Best seconds of `reps` calls after one warm-up; < 0 on error. */
static double time_attn(int opt, const dsv4_sparse_attn_cfg *cfg, size_t N, size_t K,
                        const float *q, const float *kv, const float *sink, const int32_t *idx,
                        float *o, float *lse, int reps) {
    dsv4_status (*fn)(const dsv4_sparse_attn_cfg *, size_t, size_t, size_t, const float *,
                      const float *, const float *, const int32_t *, float *, float *) =
        opt ? dsv4_opt_sparse_attn : dsv4_ref_sparse_attn;
    if (opt && fn(cfg, 1, N, K, q, kv, sink, idx, o, lse) != DSV4_OK) return -1.0;
    double best = 1e30;
    for (int r = 0; r < reps; r++) {
        double t0 = dsv4_now();
        if (fn(cfg, 1, N, K, q, kv, sink, idx, o, lse) != DSV4_OK) return -1.0;
        double t = dsv4_now() - t0;
        if (t < best) best = t;
    }
    return best;
}

static int bench_row(const dsv4_machine *m, const attn_row *r, int quick, FILE *out) {
    size_t H = r->heads, K = r->window + r->compressed, N = K + K / 8;
    dsv4_sparse_attn_cfg cfg = {H, D, dsv4_sparse_attn_scale(D)};
    float *q = dsv4_bench_alloc(H * D * sizeof *q), *kv = dsv4_bench_alloc(N * D * sizeof *kv);
    float *sink = dsv4_bench_alloc(H * sizeof *sink), *o = dsv4_bench_alloc(H * D * sizeof *o);
    float *lse = dsv4_bench_alloc(H * sizeof *lse);
    int32_t *idx = dsv4_bench_alloc(K * sizeof *idx);
    int err = 0;
    if (!q || !kv || !sink || !o || !lse || !idx) {
        fprintf(out, "%-18s out of memory\n", r->name);
        err = 1;
        goto done;
    }
    fill(q, H * D, 1);
    fill(kv, N * D, 2);
    fill(sink, H, 3);
    /* the window in ring order, then distinct compressed rows spread over kv */
    for (size_t e = 0; e < r->window; e++) idx[e] = (int32_t)((e + 41) % r->window);
    for (size_t e = 0; e < r->compressed; e++)
        idx[r->window + e] = (int32_t)(r->window + (e * 9 + 5) % (N - r->window));
    int with_ref = !quick || r->ref_in_quick;
    double t_ref = with_ref ? time_attn(0, &cfg, N, K, q, kv, sink, idx, o, lse, 1) : 0.0;
    double t_opt = time_attn(1, &cfg, N, K, q, kv, sink, idx, o, lse, quick ? 10 : 40);
    if (t_ref < 0 || t_opt < 0) {
        fprintf(out, "%-18s error\n", r->name);
        err = 1;
        goto done;
    }
    double bytes = (double)((2 * H * D + K * D + H) * sizeof(float) + K * sizeof(int32_t) +
                            H * sizeof(float));
    double flops = 4.0 * (double)H * (double)K * D;
    double t_mem = bytes / (2.0 * m->copy_gbs * 1e9), t_fma = flops / (m->fma_gflops_all * 1e9);
    double bound = t_mem > t_fma ? t_mem : t_fma;
    char shape[32], ref_ms[16] = "-", speedup[16] = "-";
    snprintf(shape, sizeof shape, "%zu x %zu+%zu", H, r->window, r->compressed);
    if (with_ref) {
        snprintf(ref_ms, sizeof ref_ms, "%.2f", t_ref * 1e3);
        snprintf(speedup, sizeof speedup, "%.0fx", t_ref / t_opt);
    }
    fprintf(out, "%-16s %-13s %3d %9s %8.3f %9s %8.3f %8.3f %7.1f  %.2f (%s-bound)\n", r->name,
            shape, m->threads, ref_ms, t_opt * 1e3, speedup, t_mem * 1e3, t_fma * 1e3,
            flops / t_opt * 1e-9, t_opt / bound, t_mem > t_fma ? "memory" : "FMA");
done:
    free(q);
    free(kv);
    free(sink);
    free(o);
    free(lse);
    free(idx);
    return err;
}

int dsv4_bench_attn(const dsv4_machine *m, int quick, FILE *out) {
    int errors = 0;
    dsv4_threads_set(m->threads);
    fprintf(out, "%-16s %-13s %3s %9s %8s %9s %8s %8s %7s  %s\n", "sparse attention", "H x K, d 512",
            "thr", "ref ms", "opt ms", "speedup", "mem ms", "fma ms", "GFLOP/s", "opt / bound");
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        errors += bench_row(m, &rows[i], quick, out);
    return errors;
}
