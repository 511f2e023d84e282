/* test_gemm.c - dsv4_ref_sgemm and dsv4_opt_sgemm (spec/gemm.md).
 *
 * For every C element of every case, on every ISA the machine supports:
 *  - ref and opt each lie within gamma_{k+2} * (|alpha| S + |beta c0|) of the
 *    exact value (a long double sum; S = sum_p |a_p b_p|), and within twice
 *    that of each other (spec/gemm.md, "Tolerance");
 *  - opt equals, bit for bit, the model of its ISA written out here: the
 *    scalar kernel gives ref's bits; an FMA kernel gives the fmaf() chain over
 *    p ascending followed by alpha*acc + beta*c (so blocking and packing
 *    provably keep the order of the terms);
 *  - the padding between rows of C (ldc > n) is untouched.
 * Sizes: 0, 1, 2, vector widths +-1, primes, past the k-block (257), and one
 * case over 1000 on each side; all four transpose combinations; padded
 * leading dimensions; alpha/beta variants incl. beta = 0 over a NaN-filled C.
 * Thread counts 1, 2, 3 give identical bits.  Bad arguments give the same
 * status from ref and opt. */
#include "dsv4.h"
#include "kernels.h"

#include <criterion/criterion.h>
#include <float.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint32_t rng32(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}

/* Values of both signs over a few binades (1/16 .. 2), with full mantissas,
 * so sums cancel and round in every way. */
static float rand_value(void) {
    uint32_t r = rng32();
    float mant = 1.0f + (float)(r & 0xFFFFF) / 1048576.0f;
    float v = ldexpf(mant, (int)((r >> 20) % 5) - 4);
    return (r >> 31) ? -v : v;
}

static int isa_list(dsv4_isa *out) {
    int n = 0;
    for (int i = 0; i < DSV4_ISA_COUNT; i++)
        if (dsv4_isa_supported((dsv4_isa)i)) out[n++] = (dsv4_isa)i;
    return n;
}

/* ---- one case --------------------------------------------------------------- */

typedef struct gemm_case {
    int ta, tb;
    size_t m, n, k;
    size_t pad_a, pad_b, pad_c; /* ld = stored columns + pad */
    float alpha, beta;
    int nan_c;                  /* fill C with NaN (only with beta == 0) */
    size_t check_rows;          /* 0: check every row against the models; else a sample */
} gemm_case;

typedef struct gemm_data {
    size_t lda, ldb, ldc;
    float *a;  /* [ta ? k : m, lda] */
    float *b;  /* [tb ? n : k, ldb] */
    float *c0; /* [m, ldc] C before the call */
} gemm_data;

static size_t max1(size_t x) { return x ? x : 1; }

static float *alloc_filled(size_t rows, size_t ld) {
    float *x = malloc(max1(rows * ld) * sizeof *x);
    cr_assert(x != NULL);
    for (size_t i = 0; i < rows * ld; i++) x[i] = rand_value();
    return x;
}

static void make_data(const gemm_case *g, gemm_data *d) {
    d->lda = (g->ta ? g->m : g->k) + g->pad_a;
    d->ldb = (g->tb ? g->k : g->n) + g->pad_b;
    d->ldc = g->n + g->pad_c;
    d->a = alloc_filled(g->ta ? g->k : g->m, d->lda);
    d->b = alloc_filled(g->tb ? g->n : g->k, d->ldb);
    d->c0 = alloc_filled(g->m, d->ldc);
    if (g->nan_c)
        for (size_t i = 0; i < g->m * d->ldc; i++) d->c0[i] = NAN;
}

static void free_data(gemm_data *d) {
    free(d->a);
    free(d->b);
    free(d->c0);
}

static float a_at(const gemm_case *g, const gemm_data *d, size_t i, size_t p) {
    return g->ta ? d->a[p * d->lda + i] : d->a[i * d->lda + p];
}
static float b_at(const gemm_case *g, const gemm_data *d, size_t p, size_t j) {
    return g->tb ? d->b[j * d->ldb + p] : d->b[p * d->ldb + j];
}

/* alpha*acc + beta*c0 as spec/gemm.md writes it: two rounded products and a
 * rounded sum, in separate statements (no contraction); c0 unread if beta == 0. */
static float combine(float alpha, float acc, float beta, float c0) {
    float out = alpha * acc;
    if (beta != 0.0f) {
        float old = beta * c0;
        out = out + old;
    }
    return out;
}

/* The element the FMA kernels must give: the fmaf chain, p ascending. */
static float model_fma(const gemm_case *g, const gemm_data *d, size_t i, size_t j) {
    float acc = 0.0f;
    for (size_t p = 0; p < g->k; p++) acc = fmaf(a_at(g, d, i, p), b_at(g, d, p, j), acc);
    if (g->k == 0) return g->beta == 0.0f ? 0.0f : g->beta * d->c0[i * d->ldc + j];
    return combine(g->alpha, acc, g->beta, d->c0[i * d->ldc + j]);
}

/* Exact value (long double; the k products are exact in it, the sum nearly)
 * and the tolerance scale |alpha| S + |beta c0|. */
static void exact_and_scale(const gemm_case *g, const gemm_data *d, size_t i, size_t j,
                            long double *exact, long double *scale) {
    long double s = 0.0L, abs_s = 0.0L;
    for (size_t p = 0; p < g->k; p++) {
        long double prod = (long double)a_at(g, d, i, p) * (long double)b_at(g, d, p, j);
        s += prod;
        abs_s += fabsl(prod);
    }
    long double bc = g->beta == 0.0f ? 0.0L : (long double)g->beta * d->c0[i * d->ldc + j];
    *exact = (long double)g->alpha * s + bc;
    *scale = fabsl((long double)g->alpha) * abs_s + fabsl(bc);
}

/* gamma_n = n u / (1 - n u), u = 2^-24. */
static long double gamma_n(size_t n) {
    long double nu = (long double)n * ldexpl(1.0L, -24);
    return nu / (1.0L - nu);
}

static int same_bits(float x, float y) { return memcmp(&x, &y, sizeof x) == 0; }

static void check_element(const gemm_case *g, const gemm_data *d, dsv4_isa isa, size_t i,
                          size_t j, float ref, float opt) {
    long double exact, scale;
    exact_and_scale(g, d, i, j, &exact, &scale);
    /* gamma_{k+2}; the long double sum adds ~k*2^-64 relative, far below the
     * slack of 1e-6 relative and a subnormal-sized absolute term. */
    long double tol = gamma_n(g->k + 2) * scale * (1.0L + 1e-6L) + (long double)FLT_TRUE_MIN;
    cr_assert(fabsl((long double)ref - exact) <= tol,
              "ref vs exact at (%zu,%zu) m=%zu n=%zu k=%zu: %a vs %La", i, j, g->m, g->n, g->k,
              ref, exact);
    cr_assert(fabsl((long double)opt - exact) <= tol,
              "opt vs exact at (%zu,%zu) m=%zu n=%zu k=%zu: %a vs %La", i, j, g->m, g->n, g->k,
              opt, exact);
    cr_assert(fabsl((long double)opt - (long double)ref) <= 2.0L * tol,
              "opt vs ref at (%zu,%zu) m=%zu n=%zu k=%zu: %a vs %a", i, j, g->m, g->n, g->k, opt,
              ref);
    float model = isa == DSV4_ISA_SCALAR ? ref : model_fma(g, d, i, j);
    cr_assert(same_bits(opt, model),
              "%s: opt %a != model %a at (%zu,%zu) m=%zu n=%zu k=%zu ta=%d tb=%d",
              dsv4_isa_name(isa), opt, model, i, j, g->m, g->n, g->k, g->ta, g->tb);
}

/* Runs ref and opt (under `isa`, `threads`) and checks every element, or
 * check_rows rows spread over m when the case is large. */
static void run_case(const gemm_case *g, dsv4_isa isa, int threads) {
    gemm_data d;
    make_data(g, &d);
    size_t c_len = max1(g->m * d.ldc);
    float *c_ref = malloc(c_len * sizeof *c_ref), *c_opt = malloc(c_len * sizeof *c_opt);
    cr_assert(c_ref && c_opt);
    memcpy(c_ref, d.c0, g->m * d.ldc * sizeof *c_ref);
    memcpy(c_opt, d.c0, g->m * d.ldc * sizeof *c_opt);
    cr_assert_eq(dsv4_isa_set(isa), DSV4_OK);
    cr_assert_eq(dsv4_threads_set(threads), DSV4_OK);
    cr_assert_eq(dsv4_ref_sgemm(g->ta, g->tb, g->m, g->n, g->k, g->alpha, d.a, d.lda, d.b, d.ldb,
                                g->beta, c_ref, d.ldc), DSV4_OK);
    cr_assert_eq(dsv4_opt_sgemm(g->ta, g->tb, g->m, g->n, g->k, g->alpha, d.a, d.lda, d.b, d.ldb,
                                g->beta, c_opt, d.ldc), DSV4_OK);
    size_t row_step = g->check_rows && g->m > g->check_rows ? g->m / g->check_rows : 1;
    for (size_t i = 0; i < g->m; i++) {
        for (size_t j = g->n; j < d.ldc; j++) /* padding of C untouched */
            cr_assert(same_bits(c_opt[i * d.ldc + j], d.c0[i * d.ldc + j]) &&
                      same_bits(c_ref[i * d.ldc + j], d.c0[i * d.ldc + j]));
        if (i % row_step != 0 && i != g->m - 1) continue;
        for (size_t j = 0; j < g->n; j++)
            check_element(g, &d, isa, i, j, c_ref[i * d.ldc + j], c_opt[i * d.ldc + j]);
    }
    free(c_ref);
    free(c_opt);
    free_data(&d);
}

/* ---- sizes, transposes, leading dimensions, alpha/beta ------------------------- */

static const size_t sizes[] = {0, 1, 2, 7, 15, 16, 17, 31, 33, 47, 97, 131, 257};
enum { N_SIZES = sizeof sizes / sizeof sizes[0] };

static const float alphas[] = {1.0f, 1.0f, -0.5f, 0.75f, 3.0f};
static const float betas[] = {0.0f, 1.0f, 2.0f, -1.25f, 0.0f};
enum { N_AB = sizeof alphas / sizeof alphas[0] };

/* About a fifth of all size triples (every size appears with every other in
 * some triple), each with a transpose pair, paddings and alpha/beta that
 * cycle with the triple's index. */
Test(gemm, awkward_sizes_all_isas) {
    dsv4_isa isas[DSV4_ISA_COUNT];
    int n_isa = isa_list(isas);
    size_t idx = 0;
    for (size_t im = 0; im < N_SIZES; im++)
        for (size_t in = 0; in < N_SIZES; in++)
            for (size_t ik = 0; ik < N_SIZES; ik++) {
                if ((im + 2 * in + 3 * ik) % 5 != 0) continue;
                idx++;
                gemm_case g = {(int)(idx & 1), (int)((idx >> 1) & 1), sizes[im], sizes[in],
                               sizes[ik], idx % 3, (idx / 3) % 3, (idx / 9) % 2,
                               alphas[idx % N_AB], betas[idx % N_AB], idx % N_AB == 4, 0};
                for (int s = 0; s < n_isa; s++) run_case(&g, isas[s], 2);
            }
}

/* Every transpose pair at sizes that cross the micro-tile, the block and the
 * k-block of every ISA's table. */
Test(gemm, transposes_around_blocks) {
    dsv4_isa isas[DSV4_ISA_COUNT];
    int n_isa = isa_list(isas);
    for (int s = 0; s < n_isa; s++) {
        const dsv4_gemm_kernels *kn = dsv4_kernels_for(isas[s])->gemm;
        for (int t = 0; t < 4; t++) {
            gemm_case g = {t & 1, t >> 1, 2 * kn->mr + 1, 3 * kn->nr - 1, kn->kc + 3,
                           2, 1, 3, 0.5f, 1.5f, 0, 0};
            run_case(&g, isas[s], 3);
        }
    }
}

/* Once over 1000 on each side: many blocks and k-blocks; all elements
 * against ref's tolerance, 24 rows against the models. */
Test(gemm, large_once, .timeout = 120) {
    gemm_case g = {0, 1, 1031, 1029, 1037, 3, 0, 5, 1.0f, 0.5f, 0, 24};
    run_case(&g, dsv4_isa_best(), 2);
}

/* Shapes whose packed B does not fit one panel (several column panels, each
 * packed once and shared by the threads), and one whose k is too long for a
 * single 32-column strip (the per-block packing fallback). */
Test(gemm, multi_panel_and_long_k, .timeout = 120) {
    gemm_case panels = {0, 0, 37, 700, 9000, 0, 1, 0, 1.0f, 0.0f, 0, 8};
    gemm_case long_k = {0, 1, 13, 50, 200000, 0, 0, 0, 1.0f, 1.0f, 0, 4};
    for (int threads = 1; threads <= 3; threads += 2) {
        run_case(&panels, dsv4_isa_best(), threads);
        run_case(&long_k, dsv4_isa_best(), threads);
    }
}

/* A panel small enough for each thread to pack it for itself (several
 * threads, one block column, a few k-blocks): each k-block must be packed
 * once, in its place, before any block of the thread reads it.  All ISAs,
 * both transposes of B, 2 and 3 threads (m = 389 gives every ISA enough
 * row blocks for 3 threads without cutting the columns); 24 rows checked. */
Test(gemm, panel_packed_per_thread) {
    dsv4_isa isas[DSV4_ISA_COUNT];
    int n_isa = isa_list(isas);
    for (int s = 0; s < n_isa; s++)
        for (int tb = 0; tb < 2; tb++) {
            gemm_case g = {0, tb, 389, 97, 3 * dsv4_kernels_for(isas[s])->gemm->kc + 5,
                           1, 2, 0, 1.0f, 0.0f, 0, 24};
            run_case(&g, isas[s], 2);
            run_case(&g, isas[s], 3);
        }
}

/* ---- threads ------------------------------------------------------------------ */

Test(gemm, threads_give_identical_bits) {
    dsv4_isa isas[DSV4_ISA_COUNT];
    int n_isa = isa_list(isas);
    const size_t shapes[][3] = {{300, 700, 600}, {257, 131, 1037}, {61, 1500, 40}};
    for (int s = 0; s < n_isa; s++)
        for (size_t sh = 0; sh < 3; sh++)
            for (int t = 0; t < 4; t++) {
                gemm_case g = {t & 1, t >> 1, shapes[sh][0], shapes[sh][1], shapes[sh][2],
                               1, 0, 2, 1.25f, -0.75f, 0, 0};
                gemm_data d;
                make_data(&g, &d);
                size_t len = g.m * d.ldc;
                float *out[3];
                cr_assert_eq(dsv4_isa_set(isas[s]), DSV4_OK);
                for (int th = 0; th < 3; th++) {
                    out[th] = malloc(len * sizeof(float));
                    cr_assert(out[th] != NULL);
                    memcpy(out[th], d.c0, len * sizeof(float));
                    cr_assert_eq(dsv4_threads_set(th + 1), DSV4_OK);
                    cr_assert_eq(dsv4_opt_sgemm(g.ta, g.tb, g.m, g.n, g.k, g.alpha, d.a, d.lda,
                                                d.b, d.ldb, g.beta, out[th], d.ldc), DSV4_OK);
                }
                cr_assert(memcmp(out[0], out[1], len * sizeof(float)) == 0, "%s 1 vs 2 threads",
                          dsv4_isa_name(isas[s]));
                cr_assert(memcmp(out[0], out[2], len * sizeof(float)) == 0, "%s 1 vs 3 threads",
                          dsv4_isa_name(isas[s]));
                for (int th = 0; th < 3; th++) free(out[th]);
                free_data(&d);
            }
}

/* ---- beta, k = 0, special values ------------------------------------------------ */

/* beta == 0 never reads C: a NaN-filled C gives what a zero-filled one does;
 * beta == 1 does read it (a NaN in C stays NaN). */
Test(gemm, beta_zero_ignores_nan_c) {
    dsv4_isa isas[DSV4_ISA_COUNT];
    int n_isa = isa_list(isas);
    enum { M = 19, N = 37, K = 23 };
    float a[M * K], b[K * N], c_nan[M * N], c_zero[M * N];
    for (size_t i = 0; i < M * K; i++) a[i] = rand_value();
    for (size_t i = 0; i < K * N; i++) b[i] = rand_value();
    for (int s = 0; s <= n_isa; s++) { /* s == n_isa: ref */
        for (size_t i = 0; i < M * N; i++) {
            c_nan[i] = NAN;
            c_zero[i] = 0.0f;
        }
        dsv4_status (*fn)(int, int, size_t, size_t, size_t, float, const float *, size_t,
                          const float *, size_t, float, float *, size_t) =
            s == n_isa ? dsv4_ref_sgemm : dsv4_opt_sgemm;
        if (s < n_isa) cr_assert_eq(dsv4_isa_set(isas[s]), DSV4_OK);
        cr_assert_eq(fn(0, 0, M, N, K, 2.0f, a, K, b, N, 0.0f, c_nan, N), DSV4_OK);
        cr_assert_eq(fn(0, 0, M, N, K, 2.0f, a, K, b, N, 0.0f, c_zero, N), DSV4_OK);
        cr_assert(memcmp(c_nan, c_zero, sizeof c_nan) == 0);
        for (size_t i = 0; i < M * N; i++) c_nan[i] = NAN;
        cr_assert_eq(fn(0, 0, M, N, K, 2.0f, a, K, b, N, 1.0f, c_nan, N), DSV4_OK);
        for (size_t i = 0; i < M * N; i++) cr_assert(isnan(c_nan[i]));
    }
}

/* k == 0: C = beta*C, or +0 when beta == 0 (even over NaN, even with an
 * infinite alpha); A and B may be NULL. */
Test(gemm, empty_sum) {
    dsv4_isa isas[DSV4_ISA_COUNT];
    int n_isa = isa_list(isas);
    float c[6] = {1.0f, -2.0f, NAN, 4.0f, -0.0f, 6.0f};
    for (int s = 0; s < n_isa; s++) {
        cr_assert_eq(dsv4_isa_set(isas[s]), DSV4_OK);
        for (int impl = 0; impl < 2; impl++) {
            dsv4_status (*fn)(int, int, size_t, size_t, size_t, float, const float *, size_t,
                              const float *, size_t, float, float *, size_t) =
                impl ? dsv4_opt_sgemm : dsv4_ref_sgemm;
            float x[6];
            memcpy(x, c, sizeof x);
            cr_assert_eq(fn(0, 1, 2, 3, 0, INFINITY, NULL, 0, NULL, 0, 0.5f, x, 3), DSV4_OK);
            for (int i = 0; i < 6; i++)
                cr_assert(i == 2 ? isnan(x[i]) : same_bits(x[i], 0.5f * c[i]));
            cr_assert_eq(fn(1, 0, 2, 3, 0, 1.0f, NULL, 0, NULL, 0, 0.0f, x, 3), DSV4_OK);
            for (int i = 0; i < 6; i++) cr_assert(same_bits(x[i], 0.0f));
        }
    }
}

/* m == 0 or n == 0 does nothing; empty matrices may be NULL. */
Test(gemm, empty_c) {
    float a[4] = {1, 2, 3, 4}, b[4] = {1, 2, 3, 4};
    cr_assert_eq(dsv4_ref_sgemm(0, 0, 0, 2, 2, 1.0f, NULL, 0, b, 2, 0.0f, NULL, 0), DSV4_OK);
    cr_assert_eq(dsv4_opt_sgemm(0, 0, 0, 2, 2, 1.0f, NULL, 0, b, 2, 0.0f, NULL, 0), DSV4_OK);
    cr_assert_eq(dsv4_ref_sgemm(0, 0, 2, 0, 2, 1.0f, a, 2, NULL, 0, 0.0f, NULL, 0), DSV4_OK);
    cr_assert_eq(dsv4_opt_sgemm(0, 0, 2, 0, 2, 1.0f, a, 2, NULL, 0, 0.0f, NULL, 0), DSV4_OK);
}

/* An Inf or NaN in A reaches the same C elements in ref and opt (the zero
 * padding of the packed slivers must not add NaN anywhere else). */
Test(gemm, inf_nan_inputs) {
    dsv4_isa isas[DSV4_ISA_COUNT];
    int n_isa = isa_list(isas);
    enum { M = 13, N = 35, K = 20 };
    float a[M * K], b[K * N], c_ref[M * N], c_opt[M * N];
    for (size_t i = 0; i < M * K; i++) a[i] = rand_value();
    for (size_t i = 0; i < K * N; i++) b[i] = rand_value();
    a[3 * K + 5] = INFINITY;
    a[7 * K + 0] = NAN;
    b[4 * N + 34] = -INFINITY;
    cr_assert_eq(dsv4_ref_sgemm(0, 0, M, N, K, 1.0f, a, K, b, N, 0.0f, c_ref, N), DSV4_OK);
    for (int s = 0; s < n_isa; s++) {
        cr_assert_eq(dsv4_isa_set(isas[s]), DSV4_OK);
        cr_assert_eq(dsv4_opt_sgemm(0, 0, M, N, K, 1.0f, a, K, b, N, 0.0f, c_opt, N), DSV4_OK);
        for (size_t i = 0; i < M * N; i++) {
            cr_assert_eq(isnan(c_ref[i]) != 0, isnan(c_opt[i]) != 0, "NaN at %zu", i);
            cr_assert_eq(isinf(c_ref[i]) != 0, isinf(c_opt[i]) != 0, "Inf at %zu", i);
        }
    }
}

/* ---- bad arguments ---------------------------------------------------------------- */

typedef struct bad_case {
    int ta, tb;
    size_t m, n, k, lda, ldb, ldc;
    int null_a, null_b, null_c;
    dsv4_status want;
} bad_case;

Test(gemm, bad_arguments_same_status) {
    const size_t huge = SIZE_MAX / 2;
    const bad_case cases[] = {
        {0, 0, 2, 3, 4, 4, 3, 3, 1, 0, 0, DSV4_E_NULL},
        {0, 0, 2, 3, 4, 4, 3, 3, 0, 1, 0, DSV4_E_NULL},
        {0, 0, 2, 3, 4, 4, 3, 3, 0, 0, 1, DSV4_E_NULL},
        {0, 0, 0, 3, 4, 4, 3, 3, 0, 1, 0, DSV4_E_NULL},  /* B non-empty though C is */
        {0, 0, 2, 3, 4, 3, 3, 3, 0, 0, 0, DSV4_E_SIZE},  /* lda < k */
        {1, 0, 2, 3, 4, 1, 3, 3, 0, 0, 0, DSV4_E_SIZE},  /* A^T: lda < m */
        {0, 0, 2, 3, 4, 4, 2, 3, 0, 0, 0, DSV4_E_SIZE},  /* ldb < n */
        {0, 1, 2, 3, 4, 4, 3, 3, 0, 0, 0, DSV4_E_SIZE},  /* B^T: ldb < k */
        {0, 0, 2, 3, 4, 4, 3, 2, 0, 0, 0, DSV4_E_SIZE},  /* ldc < n */
        {0, 0, 2, 3, 4, 4, 3, 2, 1, 0, 0, DSV4_E_NULL},  /* NULL before size */
        {0, 0, 3, 3, 4, huge, 3, 3, 0, 0, 0, DSV4_E_OVERFLOW},
        {0, 0, 2, 3, 4, 4, 3, huge, 0, 0, 0, DSV4_E_OVERFLOW},
        {0, 1, 2, huge, 4, 4, 4, huge, 0, 0, 0, DSV4_E_OVERFLOW},
        {0, 0, 2, 3, 4, 4, 3, 2, 0, 0, 0, DSV4_E_SIZE},
        {0, 0, 3, 3, 4, huge, 3, 2, 0, 0, 0, DSV4_E_SIZE}, /* size before overflow */
        {0, 0, 2, 3, 4, SIZE_MAX / 4, 3, 3, 0, 0, 0, DSV4_E_OVERFLOW}, /* bytes overflow */
    };
    float a[64], b[64], c[64]; /* never touched by a failing call */
    for (size_t i = 0; i < 64; i++) a[i] = b[i] = c[i] = 7.0f;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        const bad_case *t = &cases[i];
        const float *pa = t->null_a ? NULL : a, *pb = t->null_b ? NULL : b;
        float *pc = t->null_c ? NULL : c;
        dsv4_status r = dsv4_ref_sgemm(t->ta, t->tb, t->m, t->n, t->k, 1.0f, pa, t->lda, pb,
                                       t->ldb, 0.0f, pc, t->ldc);
        dsv4_status o = dsv4_opt_sgemm(t->ta, t->tb, t->m, t->n, t->k, 1.0f, pa, t->lda, pb,
                                       t->ldb, 0.0f, pc, t->ldc);
        cr_assert_eq(r, t->want, "case %zu: ref %s", i, dsv4_strerror(r));
        cr_assert_eq(o, t->want, "case %zu: opt %s", i, dsv4_strerror(o));
    }
    for (size_t i = 0; i < 64; i++) cr_assert(c[i] == 7.0f);
}
