/* bench.c - `dsv4 bench [--quick]`: the machine's limits, then ref and opt
 * timings per kernel as fractions of them.
 *
 * Every kernel is one row of `cases` below (later operators add rows).  A
 * row is timed with ref once (ref is single-threaded) and with opt on one
 * thread and on all threads; the best of several repetitions counts.
 * Reported: ns per element, input GB/s (bytes of the kernel's input tensor
 * per second), opt/ref speedup, opt input-GB/s as a fraction of the measured
 * copy bandwidth, and the targets: on one thread, input bandwidth
 * >= 0.5 x copy bandwidth and opt >= 8 x ref. */
#include "cli.h"
#include "bench_attn.h"
#include "bench_muon.h"
#include "machine.h"
#include "registry.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Buffers shared by all rows, sized for the largest. */
typedef struct bench_bufs {
    size_t rows, cols; /* x is [rows, cols] */
    float *x;          /* [rows, cols] input */
    float *y;          /* [rows, cols] float output */
    uint8_t *codes;    /* [rows, cols] x 2 bytes (BF16 codes are the widest) */
    uint8_t *scales;   /* [rows, cols] upper bound of any tile grid */
} bench_bufs;

typedef struct bench_case bench_case;
struct bench_case {
    const char *name;
    dsv4_fmt fmt;      /* encode rows */
    dsv4_quant_cfg q;  /* quantizer rows */
    double flops_per_elem; /* 0: memory-bound, no FLOP ratio shown */
    dsv4_status (*run)(const bench_case *c, dsv4_impl impl, bench_bufs *b);
};

static dsv4_status run_encode(const bench_case *c, dsv4_impl impl, bench_bufs *b) {
    size_t n = b->rows * b->cols;
    return impl == DSV4_IMPL_REF ? dsv4_ref_encode(c->fmt, n, b->x, b->codes)
                                 : dsv4_opt_encode(c->fmt, n, b->x, b->codes);
}

static dsv4_status run_quant(const bench_case *c, dsv4_impl impl, bench_bufs *b) {
    return impl == DSV4_IMPL_REF ? dsv4_ref_quant(&c->q, b->rows, b->cols, b->x, b->codes, b->scales)
                                 : dsv4_opt_quant(&c->q, b->rows, b->cols, b->x, b->codes, b->scales);
}

static dsv4_status run_fake_quant(const bench_case *c, dsv4_impl impl, bench_bufs *b) {
    return impl == DSV4_IMPL_REF ? dsv4_ref_fake_quant(&c->q, b->rows, b->cols, b->x, b->y)
                                 : dsv4_opt_fake_quant(&c->q, b->rows, b->cols, b->x, b->y);
}

#define NO_Q {DSV4_FMT_E2M1, 1, 1, DSV4_SCALE_RCEIL}

static const bench_case cases[] = {
    {"encode bf16", DSV4_FMT_BF16, NO_Q, 0, run_encode},
    {"encode e4m3", DSV4_FMT_E4M3, NO_Q, 0, run_encode},
    {"encode e5m2", DSV4_FMT_E5M2, NO_Q, 0, run_encode},
    {"encode e2m1", DSV4_FMT_E2M1, NO_Q, 0, run_encode},
    {"encode ue8m0", DSV4_FMT_UE8M0, NO_Q, 0, run_encode},
    {"fp4 fake_quant 1x32", DSV4_FMT_E2M1, DSV4_QUANT_FP4_ACT, 0, run_fake_quant},
    {"fp4 quant+pack 1x32", DSV4_FMT_E2M1, DSV4_QUANT_FP4_ACT, 0, run_quant},
    {"e4m3 fake_quant 1x128", DSV4_FMT_E4M3, DSV4_QUANT_FP8_ACT, 0, run_fake_quant},
    {"e4m3 fake_quant 1x64", DSV4_FMT_E4M3, DSV4_QUANT_FP8_KV, 0, run_fake_quant},
    {"e4m3 quant 1x128", DSV4_FMT_E4M3, DSV4_QUANT_FP8_ACT, 0, run_quant},
};

/* Input values spread over many binades (like activations), never NaN. */
static void fill_input(float *x, size_t n) {
    uint64_t s = 0x9e3779b97f4a7c15u;
    for (size_t i = 0; i < n; i++) {
        s = s * 6364136223846793005u + 1442695040888963407u;
        uint32_t r = (uint32_t)(s >> 32);
        float mant = 1.0f + (float)(r & 0xffff) / 65536.0f;
        int e = (int)((r >> 16) % 17) - 8;
        float v = mant;
        for (; e > 0; e--) v *= 2.0f;
        for (; e < 0; e++) v *= 0.5f;
        x[i] = (r >> 31) ? -v : v;
    }
}

static int alloc_bufs(bench_bufs *b, int quick) {
    b->cols = 4096;
    b->rows = quick ? 64 : 4096; /* 1 MiB or 64 MiB of fp32 input */
    size_t n = b->rows * b->cols;
    b->x = dsv4_bench_alloc(n * sizeof *b->x);
    b->y = dsv4_bench_alloc(n * sizeof *b->y);
    b->codes = dsv4_bench_alloc(2 * n);
    b->scales = dsv4_bench_alloc(n);
    if (!b->x || !b->y || !b->codes || !b->scales) return 0;
    fill_input(b->x, n);
    memset(b->y, 0, n * sizeof *b->y);
    memset(b->codes, 0, 2 * n);
    memset(b->scales, 0, n);
    return 1;
}

static void free_bufs(bench_bufs *b) {
    free(b->x);
    free(b->y);
    free(b->codes);
    free(b->scales);
}

/* Best seconds of `reps` runs after one warm-up run; <0 on error. */
static double time_case(const bench_case *c, dsv4_impl impl, bench_bufs *b, int reps,
                        dsv4_status *st) {
    *st = c->run(c, impl, b);
    double best = 1e30;
    for (int r = 0; r < reps && *st == DSV4_OK; r++) {
        double t0 = dsv4_now();
        *st = c->run(c, impl, b);
        double t = dsv4_now() - t0;
        if (t < best) best = t;
    }
    return *st == DSV4_OK ? best : -1.0;
}

static void print_machine(const dsv4_machine *m, FILE *out) {
    fprintf(out, "machine: memcpy copies %.1f GB/s (1 thread, %zu MiB buffers; %.1f GB/s counting "
                 "read + write bytes as STREAM does)\n",
            m->copy_gbs, m->copy_bytes >> 20, 2.0 * m->copy_gbs);
    fprintf(out, "machine: peak FMA (%s) %.1f GFLOP/s on 1 thread, %.1f GFLOP/s on %d threads "
                 "(2 flops per FMA lane)\n",
            dsv4_isa_name(m->isa), m->fma_gflops_1, m->fma_gflops_all, m->threads);
}

typedef struct bench_ctx {
    const dsv4_machine *m;
    bench_bufs *b;
    int quick;
    FILE *out;
    int errors;
} bench_ctx;

/* The targets column: bandwidth on one thread and speedup. */
static void target_text(double frac, double speedup, int threads, char *buf, size_t len) {
    int bw_ok = frac >= 0.5, sp_ok = speedup >= 8.0;
    if (threads != 1)
        snprintf(buf, len, "(1-thread targets)");
    else if (bw_ok && sp_ok)
        snprintf(buf, len, "met");
    else
        snprintf(buf, len, "not met:%s%s", bw_ok ? "" : " bw<0.5", sp_ok ? "" : " speedup<8x");
}

static void bench_row(bench_ctx *x, const bench_case *c, int threads, double t_ref) {
    size_t n = x->b->rows * x->b->cols;
    double in_bytes = (double)n * sizeof(float);
    dsv4_status st;
    dsv4_threads_set(threads);
    double t_opt = time_case(c, DSV4_IMPL_OPT, x->b, x->quick ? 3 : 7, &st);
    if (t_opt < 0 || t_ref < 0) {
        fprintf(x->out, "%-22s %3d  error: %s\n", c->name, threads, dsv4_strerror(st));
        x->errors++;
        return;
    }
    double gbs = in_bytes / t_opt * 1e-9, frac = gbs / x->m->copy_gbs;
    char target[48], flops[16] = "-";
    target_text(frac, t_ref / t_opt, threads, target, sizeof target);
    if (c->flops_per_elem > 0) {
        double peak = threads == 1 ? x->m->fma_gflops_1 : x->m->fma_gflops_all;
        snprintf(flops, sizeof flops, "%.2f", c->flops_per_elem * (double)n / t_opt * 1e-9 / peak);
    }
    fprintf(x->out, "%-22s %3d %9.3f %9.3f %8.1fx %8.2f %7.3f %6s  %s\n", c->name, threads,
            t_ref / (double)n * 1e9, t_opt / (double)n * 1e9, t_ref / t_opt, gbs, frac, flops,
            target);
}

/* ---- SGEMM rows: compute-bound, so GFLOP/s and the fraction of the
 * measured peak FMA rate; ref (slow, single-threaded) only at 256^3.  The
 * shapes are Muon's Newton-Schulz steps on a 1024 x 4096 and a 4096 x 4096
 * matrix X: X*X^T, A*A (A = X*X^T), B*X. */
typedef struct gemm_row {
    const char *name;
    int ta, tb;
    size_t m, n, k;
    int with_ref, in_quick;
} gemm_row;

static const gemm_row gemm_rows[] = {
    {"sgemm 256^3", 0, 0, 256, 256, 256, 1, 1},
    {"sgemm 1024^3 (A*A)", 0, 0, 1024, 1024, 1024, 0, 1},
    {"sgemm X*X^T 1024x4096", 0, 1, 1024, 1024, 4096, 0, 0},
    {"sgemm B*X 1024x4096", 0, 0, 1024, 4096, 1024, 0, 0},
    {"sgemm X*X^T 4096^2", 0, 1, 4096, 4096, 4096, 0, 0},
    {"sgemm A*A 4096^2", 0, 0, 4096, 4096, 4096, 0, 0},
};

/* Best seconds of `reps` calls after a warm-up; <0 on error. */
static double time_gemm(const gemm_row *r, dsv4_impl impl, const float *a, const float *b,
                        float *c, int reps) {
    double best = 1e30;
    for (int i = 0; i <= reps; i++) {
        double t0 = dsv4_now();
        dsv4_status st = (impl == DSV4_IMPL_REF ? dsv4_ref_sgemm : dsv4_opt_sgemm)(
            r->ta, r->tb, r->m, r->n, r->k, 1.0f, a, r->ta ? r->m : r->k, b, r->tb ? r->k : r->n,
            0.0f, c, r->n);
        double t = dsv4_now() - t0;
        if (st != DSV4_OK) return -1.0;
        if (i > 0 && t < best) best = t;
    }
    return best;
}

/* A fraction of peak as printed beside a target and judged: rounded down to
 * three decimals, so a figure never reads as a target it missed. */
static double shown_fraction(double v) { return floor(v * 1000.0) / 1000.0; }

static void bench_gemm_row(bench_ctx *x, const gemm_row *r, const float *a, const float *b,
                           float *c) {
    double flops = 2.0 * (double)r->m * (double)r->n * (double)r->k;
    int reps = flops > 1e11 ? 2 : x->quick ? 3 : 5;
    int thr[2] = {1, x->m->threads};
    char ref_text[32] = "-";
    if (r->with_ref) {
        double t = time_gemm(r, DSV4_IMPL_REF, a, b, c, 1);
        snprintf(ref_text, sizeof ref_text, "%.2f", t > 0 ? flops / t * 1e-9 : 0.0);
    }
    for (int i = 0; i < (x->m->threads > 1 ? 2 : 1); i++) {
        dsv4_threads_set(thr[i]);
        double t = time_gemm(r, DSV4_IMPL_OPT, a, b, c, reps);
        if (t < 0) {
            fprintf(x->out, "%-24s %3d  error\n", r->name, thr[i]);
            x->errors++;
            continue;
        }
        double gf = flops / t * 1e-9, peak = i == 0 ? x->m->fma_gflops_1 : x->m->fma_gflops_all;
        double frac = shown_fraction(gf / peak);
        fprintf(x->out, "%-24s %3d %9s %9.1f %9.3f %6.3f  %s\n", r->name, thr[i], ref_text, gf,
                t * 1e3, frac, frac >= 0.75 ? "met" : "not met: <0.75 peak");
    }
}

static void bench_gemm(bench_ctx *x) {
    size_t big = x->quick ? 1024 : 4096, n = big * big;
    size_t bytes = n * sizeof(float);
    float *a = dsv4_bench_alloc(bytes), *b = dsv4_bench_alloc(bytes), *c = dsv4_bench_alloc(bytes);
    if (!a || !b || !c) {
        fprintf(x->out, "sgemm: out of memory\n");
        x->errors++;
    } else {
        fill_input(a, n);
        fill_input(b, n);
        memset(c, 0, n * sizeof *c);
        fprintf(x->out, "%-24s %3s %9s %9s %9s %6s  %s\n", "sgemm (m x n x k)", "thr",
                "ref GF/s", "opt GF/s", "opt ms", "xpeak", "target (>=0.75 peak FMA)");
        for (size_t i = 0; i < sizeof gemm_rows / sizeof gemm_rows[0]; i++)
            if (!x->quick || gemm_rows[i].in_quick) bench_gemm_row(x, &gemm_rows[i], a, b, c);
    }
    free(a);
    free(b);
    free(c);
}

/* ---- mHC rows (spec/mhc.md), V4-Flash shapes: hc_pre's cost is its mixes
 * GEMM, 2*T*24*K flops with K = 16384, reported as GFLOP/s and the fraction
 * of the measured peak FMA rate (target >= 0.60 on all threads).  The mixes
 * rows (T = 64 and 256) time that GEMM stage alone (dsv4_*_hc_mixes, same
 * flops; the sum of squares of hc_pre's rms is not part of it), so the
 * difference to hc_pre is the rest of it: the second pass over x of the
 * weighted sum, split and Sinkhorn (docs/perf/2026-12-06-mhc.md, "Where the
 * time goes").  The "bf16" rows run
 * hc_pre on V4's own storage of the residual stream (dsv4_*_hc_pre_bf16: x
 * and y as bf16 codes, the same values and bits), which moves half the
 * bytes of x; same flops, same target (and hc_post's bf16 row, f, x and
 * out as codes).  The other rows call
 * again and again on the same x and fn, which then come from cache; the
 * "cold" row cycles through MHC_COLD_COPIES copies of both (44 MiB), so that
 * they come from memory, as in a model where each layer has its own fn.
 * Sinkhorn and hc_post: time and opt/ref speedup (Sinkhorn target >= 8x on
 * one thread). */
typedef enum mhc_kind {
    MHC_PRE,
    MHC_PRE_BF16,
    MHC_MIXES,
    MHC_SINKHORN,
    MHC_POST,
    MHC_POST_BF16
} mhc_kind;

typedef struct mhc_row {
    const char *name;
    mhc_kind kind;
    size_t T;
    int in_quick;
    int cold; /* x and fn from MHC_COLD_COPIES copies in turn (T = 64 only) */
} mhc_row;

static const mhc_row mhc_rows[] = {
    {"hc_pre d=4096 T=64", MHC_PRE, 64, 1, 0},
    {"hc_mixes d=4096 T=64", MHC_MIXES, 64, 1, 0},
    {"hc_pre d=4096 T=64 cold", MHC_PRE, 64, 1, 1},
    {"hc_pre d=4096 T=256", MHC_PRE, 256, 0, 0},
    {"hc_mixes d=4096 T=256", MHC_MIXES, 256, 0, 0},
    {"hc_pre bf16 d=4096 T=64", MHC_PRE_BF16, 64, 1, 0},
    {"hc_pre bf16 d=4096 T=256", MHC_PRE_BF16, 256, 0, 0},
    {"sinkhorn n=4 20it T=4096", MHC_SINKHORN, 4096, 1, 0},
    {"hc_post d=4096 T=64", MHC_POST, 64, 1, 0},
    {"hc_post bf16 d=4096 T=64", MHC_POST_BF16, 64, 1, 0},
};

enum { MHC_COLD_COPIES = 8, MHC_K = 16384 };

typedef struct mhc_bufs {
    float *x;   /* [MHC_COLD_COPIES * 64, K] (also T = 256 tokens) */
    float *fn;  /* [MHC_COLD_COPIES, 24, K] */
    float *f, *y, *post, *comb, *logits, *out; /* sized for T = 256 / 4096 */
    uint16_t *xb, *yb; /* x [256, K] as bf16 codes (x's first 256 tokens), y [256, K] */
    uint16_t *fb;      /* f [256, d] as bf16 codes */
    float scale[3], base[24];
    size_t turn; /* the copy the next cold call takes */
} mhc_bufs;

static dsv4_status mhc_call(const mhc_row *r, dsv4_impl impl, mhc_bufs *b) {
    static const dsv4_mhc_cfg cfg = DSV4_MHC_V4_FLASH;
    int ref = impl == DSV4_IMPL_REF;
    switch (r->kind) {
    case MHC_PRE: {
        size_t c = r->cold ? b->turn++ % MHC_COLD_COPIES : 0;
        const float *x = b->x + c * r->T * MHC_K, *fn = b->fn + c * 24 * MHC_K;
        return (ref ? dsv4_ref_hc_pre : dsv4_opt_hc_pre)(&cfg, r->T, x, fn, b->scale, b->base,
                                                         b->y, b->post, b->comb, NULL);
    }
    case MHC_PRE_BF16:
        return (ref ? dsv4_ref_hc_pre_bf16 : dsv4_opt_hc_pre_bf16)(
            &cfg, r->T, b->xb, b->fn, b->scale, b->base, b->yb, b->post, b->comb, NULL);
    case MHC_POST_BF16:
        return (ref ? dsv4_ref_hc_post_bf16 : dsv4_opt_hc_post_bf16)(&cfg, r->T, b->fb, b->xb,
                                                                     b->post, b->comb, b->yb);
    case MHC_MIXES: /* r [T] read from the post buffer ([T, 4]) */
        return (ref ? dsv4_ref_hc_mixes : dsv4_opt_hc_mixes)(&cfg, r->T, 24, b->x, b->fn, b->post,
                                                             b->out);
    case MHC_SINKHORN: {
        const dsv4_sinkhorn_cfg sk = DSV4_SINKHORN_V4;
        return (ref ? dsv4_ref_sinkhorn : dsv4_opt_sinkhorn)(&sk, r->T, b->logits, b->out);
    }
    default:
        return (ref ? dsv4_ref_hc_post : dsv4_opt_hc_post)(&cfg, r->T, b->f, b->x, b->post, b->comb,
                                                           b->out);
    }
}

/* Best seconds of `reps` calls after a warm-up; <0 on error. */
static double time_mhc(const mhc_row *r, dsv4_impl impl, mhc_bufs *b, int reps) {
    double best = 1e30;
    for (int i = 0; i <= reps; i++) {
        double t0 = dsv4_now();
        dsv4_status st = mhc_call(r, impl, b);
        double t = dsv4_now() - t0;
        if (st != DSV4_OK) return -1.0;
        if (i > 0 && t < best) best = t;
    }
    return best;
}

/* Bytes a cold hc_pre call moves to and from memory: x [T, K] and fn
 * [24, K] read once (the weighted sum reads x again, from cache), y [T, d]
 * written. */
static double cold_bytes(const mhc_row *r) {
    return 4.0 * ((double)r->T * MHC_K + 24.0 * MHC_K + (double)r->T * 4096.0);
}

static void bench_mhc_row(bench_ctx *x, const mhc_row *r, mhc_bufs *b) {
    int pre = r->kind == MHC_PRE || r->kind == MHC_PRE_BF16;
    int gemm = pre || r->kind == MHC_MIXES;
    double flops = gemm ? 2.0 * (double)r->T * 24.0 * 16384.0 : 0.0;
    double t_ref = time_mhc(r, DSV4_IMPL_REF, b, 1);
    int thr[2] = {1, x->m->threads};
    for (int i = 0; i < (x->m->threads > 1 ? 2 : 1); i++) {
        dsv4_threads_set(thr[i]);
        /* calls of 0.2-2 ms on a shared machine: many cheap tries find a quiet one */
        double t = time_mhc(r, DSV4_IMPL_OPT, b, x->quick ? 10 : 30);
        if (t < 0 || t_ref < 0) {
            fprintf(x->out, "%-26s %3d  error\n", r->name, thr[i]);
            x->errors++;
            continue;
        }
        char gf[16] = "-", frac[16] = "-", target[64];
        double peak = i == 0 ? x->m->fma_gflops_1 : x->m->fma_gflops_all;
        double xpeak = shown_fraction(flops / t * 1e-9 / peak);
        if (flops > 0) {
            snprintf(gf, sizeof gf, "%.1f", flops / t * 1e-9);
            snprintf(frac, sizeof frac, "%.3f", xpeak);
        }
        if (r->cold) /* x and fn read, y written: bytes to and from memory */
            snprintf(target, sizeof target, "(memory: %.1f GB/s, %.2f x copy r+w)",
                     cold_bytes(r) / t * 1e-9, cold_bytes(r) / t * 1e-9 / (2.0 * x->m->copy_gbs));
        else if (pre)
            snprintf(target, sizeof target, i == 0 ? "(all-thread target)"
                                          : xpeak >= 0.6 ? "met" : "not met: <0.60 peak");
        else if (r->kind == MHC_MIXES)
            snprintf(target, sizeof target, "(the GEMM stage of hc_pre)");
        else if (r->kind == MHC_SINKHORN)
            snprintf(target, sizeof target, i != 0 ? "(1-thread target)"
                                          : t_ref / t >= 8.0 ? "met" : "not met: <8x");
        else
            snprintf(target, sizeof target, "-");
        fprintf(x->out, "%-26s %3d %9.3f %9.3f %8.1fx %8s %6s  %s\n", r->name, thr[i], t_ref * 1e3,
                t * 1e3, t_ref / t, gf, frac, target);
    }
}

static float *mhc_alloc(size_t n) {
    float *p = dsv4_bench_alloc(n * sizeof *p);
    if (p) fill_input(p, n);
    return p;
}

static void bench_mhc(bench_ctx *x) {
    mhc_bufs b = {0};
    size_t K = MHC_K, T = 256, S = 4096, copies = MHC_COLD_COPIES;
    b.x = mhc_alloc(copies * 64 > T ? copies * 64 * K : T * K);
    b.fn = mhc_alloc(copies * 24 * K);
    b.f = mhc_alloc(T * 4096);
    b.y = mhc_alloc(T * 4096);
    b.post = mhc_alloc(T * 4);
    b.comb = mhc_alloc(S * 16);
    b.logits = mhc_alloc(S * 16);
    b.out = mhc_alloc(T * K > S * 16 ? T * K : S * 16);
    b.xb = dsv4_bench_alloc(T * K * sizeof *b.xb);
    b.yb = dsv4_bench_alloc(T * K * sizeof *b.yb);
    b.fb = dsv4_bench_alloc(T * 4096 * sizeof *b.fb);
    dsv4_status st = DSV4_E_NOMEM;
    if (b.x && b.fn && b.f && b.y && b.post && b.comb && b.logits && b.out && b.xb && b.yb && b.fb)
        st = dsv4_opt_encode(DSV4_FMT_BF16, T * K, b.x, b.xb); /* the bf16 rows' x and f */
    if (st == DSV4_OK) st = dsv4_opt_encode(DSV4_FMT_BF16, T * 4096, b.f, b.fb);
    if (st != DSV4_OK) {
        fprintf(x->out, "mhc: %s\n", dsv4_strerror(st));
        x->errors++;
    } else {
        for (size_t i = 0; i < copies * 24 * K; i++) b.fn[i] *= 1e-3f; /* mixes of order 1 */
        b.scale[0] = 0.5f;
        b.scale[1] = 1.0f;
        b.scale[2] = 2.0f;
        for (int i = 0; i < 24; i++) b.base[i] = 0.0f;
        fprintf(x->out, "%-26s %3s %9s %9s %9s %8s %6s  %s\n", "mhc (V4-Flash)", "thr", "ref ms",
                "opt ms", "speedup", "GFLOP/s", "xpeak", "target (pre >=0.60 peak, sinkhorn >=8x)");
        for (size_t i = 0; i < sizeof mhc_rows / sizeof mhc_rows[0]; i++)
            if (!x->quick || mhc_rows[i].in_quick) bench_mhc_row(x, &mhc_rows[i], &b);
    }
    float *all[] = {b.x, b.fn, b.f, b.y, b.post, b.comb, b.logits, b.out};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
    free(b.xb);
    free(b.yb);
    free(b.fb);
}

int dsv4_cli_bench(int argc, char **argv, FILE *out, FILE *err) {
    int quick = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0)
            quick = 1;
        else
            return dsv4_cli_usage_error(err, "bench", "unknown option \"%s\"", argv[i]);
    }
    dsv4_machine m;
    bench_bufs b = {0};
    if (dsv4_machine_measure(quick, &m) != DSV4_OK || !alloc_bufs(&b, quick)) {
        fprintf(err, "dsv4 bench: out of memory or threads\n");
        free_bufs(&b);
        return DSV4_EXIT_FAIL;
    }
    print_machine(&m, out);
    int all = m.threads;
    fprintf(out, "kernels: x = [%zu, %zu] fp32 (%.0f MiB input), best of %d opt / %d ref runs, isa %s\n",
            b.rows, b.cols, (double)(b.rows * b.cols * 4) / (1 << 20), quick ? 3 : 7,
            quick ? 2 : 3, dsv4_isa_name(dsv4_isa_active()));
    fprintf(out, "%-22s %3s %9s %9s %9s %8s %7s %6s  %s\n", "kernel", "thr", "ref ns/el",
            "opt ns/el", "speedup", "opt GB/s", "xcopy", "xpeak", "target (>=0.5 copy BW, >=8x)");
    if (quick)
        fprintf(out, "note: --quick input fits in cache, so GB/s and xcopy are optimistic\n");
    bench_ctx x = {&m, &b, quick, out, 0};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dsv4_status st;
        double t_ref = time_case(&cases[i], DSV4_IMPL_REF, &b, quick ? 2 : 3, &st);
        bench_row(&x, &cases[i], 1, t_ref);
        if (all > 1) bench_row(&x, &cases[i], all, t_ref);
    }
    bench_gemm(&x);
    bench_mhc(&x);
    x.errors += dsv4_bench_muon(x.m, x.quick, x.out);
    x.errors += dsv4_bench_attn(x.m, x.quick, x.out);
    dsv4_threads_set(all);
    free_bufs(&b);
    return x.errors ? DSV4_EXIT_FAIL : DSV4_EXIT_OK;
}
