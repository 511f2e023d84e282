/* test_opt_muon.c - optimized Newton-Schulz and Muon against ref: within
 * spec/muon.md's tolerance tiers, bit-identical for any thread count, the
 * same status for bad arguments; every ISA. */
#include "dsv4.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static unsigned long long rng = 0xD1B54A32D192ED03ull;
static float gauss(void) {
    float s = 0;
    for (int i = 0; i < 12; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        s += (float)((rng >> 40) * (1.0 / 16777216.0));
    }
    return s - 6.0f;
}

/* ||a - b||_F / ||b||_F */
static double rel_frobenius(const float *a, const float *b, size_t n) {
    double d = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        d += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        s += (double)b[i] * b[i];
    }
    return s > 0 ? sqrt(d / s) : sqrt(d);
}

/* A well-conditioned [rows, cols] matrix: Gaussian plus a strong diagonal. */
static void well_conditioned(float *z, size_t rows, size_t cols) {
    for (size_t i = 0; i < rows * cols; i++) z[i] = gauss();
    for (size_t i = 0; i < rows && i < cols; i++) z[i * cols + i] += 3.0f * sqrtf((float)cols);
}

Test(opt_ns, matches_ref_every_isa_and_shape) {
    const size_t shapes[][2] = {{1, 1}, {1, 17}, {17, 1}, {5, 7}, {16, 33}, {33, 16}, {64, 64},
                                {31, 97}, {130, 70}};
    const dsv4_ns_cfg cfg = DSV4_NS_V4;
    for (int isa = 0; isa < DSV4_ISA_COUNT; isa++) {
        if (!dsv4_isa_supported((dsv4_isa)isa)) continue;
        cr_assert_eq(dsv4_isa_set((dsv4_isa)isa), DSV4_OK);
        for (size_t s = 0; s < sizeof shapes / sizeof shapes[0]; s++) {
            size_t r = shapes[s][0], c = shapes[s][1], n = r * c;
            float *z = malloc(n * sizeof *z), *o_ref = malloc(n * sizeof *z);
            float *o_opt = malloc(n * sizeof *z), *steps = malloc(10 * n * sizeof *z);
            well_conditioned(z, r, c);
            cr_assert_eq(dsv4_ref_newton_schulz(&cfg, r, c, z, o_ref, NULL), DSV4_OK);
            cr_assert_eq(dsv4_opt_newton_schulz(&cfg, r, c, z, o_opt, steps), DSV4_OK);
            double e = rel_frobenius(o_opt, o_ref, n);
            cr_assert(e <= 1e-5, "isa %d, %zux%zu: relative Frobenius error %g", isa, r, c, e);
            cr_assert_eq(memcmp(&steps[9 * n], o_opt, n * sizeof *z), 0);
            free(z); free(o_ref); free(o_opt); free(steps);
        }
    }
    dsv4_isa_set(dsv4_isa_best());
}

Test(opt_muon, same_bits_for_any_thread_count_and_close_to_ref) {
    enum { E = 3, R = 48, C = 80, N = R * C };
    static float w0[E * N], g[E * N], w[3][E * N], m[3][E * N], o[3][E * N], wr[E * N], mr[E * N];
    for (int i = 0; i < E * N; i++) {
        w0[i] = gauss() * 0.05f;
        g[i] = gauss();
    }
    for (int i = 0; i < R; i++) g[i * C + i] += 20.0f; /* matrix 0 well conditioned */
    memset(&g[2 * N], 0, N * sizeof *g);              /* matrix 2: zero gradient */
    const dsv4_muon_cfg cfg = {DSV4_NS_V4, 0.02, 0.95, 0.1, 0.18, DSV4_MUON_MOMENTUM_SUM,
                               DSV4_MUON_SCALE_RMS};
    for (int t = 1; t <= 3; t++) {
        dsv4_threads_set(t);
        memcpy(w[t - 1], w0, sizeof w0);
        memset(m[t - 1], 0, sizeof m[0]);
        cr_assert_eq(dsv4_opt_muon_step(&cfg, E, R, C, g, w[t - 1], m[t - 1], o[t - 1]), DSV4_OK);
    }
    cr_assert_eq(memcmp(w[0], w[1], sizeof w[0]), 0, "1 vs 2 threads");
    cr_assert_eq(memcmp(w[0], w[2], sizeof w[0]), 0, "1 vs 3 threads");
    memcpy(wr, w0, sizeof w0);
    memset(mr, 0, sizeof mr);
    cr_assert_eq(dsv4_ref_muon_step(&cfg, E, R, C, g, wr, mr, NULL), DSV4_OK);
    cr_assert_eq(memcmp(mr, m[0], sizeof mr), 0, "momentum is element-wise: bit-exact");
    double e = rel_frobenius(w[0], wr, N);
    cr_assert(e <= 1e-6, "W of the well-conditioned matrix: %g", e);
    for (int i = 0; i < N; i++) cr_assert_eq(o[0][2 * N + i], 0.0f, "zero gradient: O' = 0");
}

Test(opt_muon, bad_arguments_match_ref) {
    dsv4_muon_cfg cfg = {DSV4_NS_V4, 0.02, 0.95, 0.1, 0.18, DSV4_MUON_MOMENTUM_SUM,
                         DSV4_MUON_SCALE_RMS};
    float b[8] = {0};
    cr_assert_eq(dsv4_opt_muon_step(&cfg, 1, 2, 2, b, NULL, b, NULL),
                 dsv4_ref_muon_step(&cfg, 1, 2, 2, b, NULL, b, NULL));
    cfg.ns.steps = -3;
    cr_assert_eq(dsv4_opt_muon_step(&cfg, 1, 2, 2, b, b, b, NULL), DSV4_E_ARG);
    cr_assert_eq(dsv4_opt_newton_schulz(&cfg.ns, 2, 2, b, b, NULL), DSV4_E_ARG);
    cr_assert_eq(dsv4_opt_newton_schulz(NULL, 2, 2, b, b, NULL), DSV4_E_NULL);
}

/* Shapes whose Newton-Schulz scratch, 4 * (3 r^2 + 2 rows cols) bytes with r
 * = min(rows, cols), wraps around size_t while rows * cols and r^2 alone do
 * not (a check on stand-ins for the allocated size let these through, and the
 * 48-byte allocation that wrapped was then written).  Every entry point must
 * say DSV4_E_OVERFLOW before it reads or writes the one-element buffers. */
Test(muon_args, scratch_size_overflow) {
    const size_t shapes[2][2] = {{924272211u, 1108357816u}, {1108357816u, 924272211u}};
    const dsv4_ns_cfg ns = DSV4_NS_V4;
    const dsv4_muon_cfg cfg = {DSV4_NS_V4, 0.02, 0.95, 0.1, 0.18, DSV4_MUON_MOMENTUM_SUM,
                               DSV4_MUON_SCALE_RMS};
    float b[4] = {0}; /* any access beyond these faults or trips the sanitizers */
    for (int s = 0; s < 2; s++) {
        size_t r = shapes[s][0], c = shapes[s][1];
        cr_assert_eq(dsv4_ref_newton_schulz(&ns, r, c, b, b, NULL), DSV4_E_OVERFLOW, "%zux%zu", r, c);
        cr_assert_eq(dsv4_opt_newton_schulz(&ns, r, c, b, b, NULL), DSV4_E_OVERFLOW, "%zux%zu", r, c);
        cr_assert_eq(dsv4_ref_ns_iterate(&ns, r, c, b, b, NULL), DSV4_E_OVERFLOW);
        cr_assert_eq(dsv4_opt_ns_iterate(&ns, r, c, b, b, NULL), DSV4_E_OVERFLOW);
        cr_assert_eq(dsv4_ns_normalize(&ns, r, c, b, b), DSV4_E_OVERFLOW);
        cr_assert_eq(dsv4_ref_muon_step(&cfg, 1, r, c, b, b, b, NULL), DSV4_E_OVERFLOW);
        cr_assert_eq(dsv4_opt_muon_step(&cfg, 1, r, c, b, b, b, NULL), DSV4_E_OVERFLOW);
        cr_assert_eq(dsv4_muon_nesterov(&cfg, 1, r, c, b, b, b), DSV4_E_OVERFLOW);
        cr_assert_eq(dsv4_muon_update(&cfg, 1, r, c, b, b), DSV4_E_OVERFLOW);
    }
}

/* The Muon step's scratch adds two matrices [rows, cols] (u and O') to
 * Newton-Schulz's: a shape where 4 * (3 r^2 + 2 rows cols) fits in size_t but
 * 4 * (3 r^2 + 4 rows cols) does not overflows the step and its stages.
 * 1 x 2^60: 4 * (3 + 2^61) < 2^64 <= 4 * (3 + 2^62). */
Test(muon_args, step_scratch_overflow) {
    const size_t shapes[2][2] = {{1, (size_t)1 << 60}, {(size_t)1 << 60, 1}};
    const dsv4_muon_cfg cfg = {DSV4_NS_V4, 0.02, 0.95, 0.1, 0.18, DSV4_MUON_MOMENTUM_SUM,
                               DSV4_MUON_SCALE_RMS};
    float b[4] = {0};
    for (int s = 0; s < 2; s++) {
        size_t r = shapes[s][0], c = shapes[s][1];
        cr_assert_eq(dsv4_ref_muon_step(&cfg, 1, r, c, b, b, b, NULL), DSV4_E_OVERFLOW);
        cr_assert_eq(dsv4_opt_muon_step(&cfg, 1, r, c, b, b, b, NULL), DSV4_E_OVERFLOW);
        cr_assert_eq(dsv4_muon_nesterov(&cfg, 1, r, c, b, b, b), DSV4_E_OVERFLOW);
        cr_assert_eq(dsv4_muon_update(&cfg, 1, r, c, b, b), DSV4_E_OVERFLOW);
    }
}

/* n_mats * rows * cols overflowing is checked before anything uses it. */
Test(muon_args, batch_overflow) {
    const dsv4_muon_cfg cfg = {DSV4_NS_V4, 0.02, 0.95, 0.1, 0.18, DSV4_MUON_MOMENTUM_SUM,
                               DSV4_MUON_SCALE_RMS};
    float b[4] = {0};
    const size_t e = SIZE_MAX / 2 + 1;
    cr_assert_eq(dsv4_ref_muon_step(&cfg, e, 2, 2, b, b, b, NULL), DSV4_E_OVERFLOW);
    cr_assert_eq(dsv4_opt_muon_step(&cfg, e, 2, 2, b, b, b, NULL), DSV4_E_OVERFLOW);
    cr_assert_eq(dsv4_muon_nesterov(&cfg, e, 2, 2, b, b, b), DSV4_E_OVERFLOW);
    cr_assert_eq(dsv4_muon_update(&cfg, e, 2, 2, b, b), DSV4_E_OVERFLOW);
}
