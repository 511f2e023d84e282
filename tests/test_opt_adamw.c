/* test_opt_adamw.c - opt AdamW against ref, bit for bit: every ISA, 1-3
 * threads, odd lengths, subnormal, zero, huge, NaN and Inf gradients. */
#include "dsv4.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static unsigned long long rng = 0x2545F4914F6CDD1Dull;
static float uniform(float a, float b) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return a + (b - a) * (float)((rng >> 40) * (1.0 / 16777216.0));
}

static float special(size_t i) {
    switch (i % 97) {
    case 0: return 0.0f;
    case 1: return -0.0f;
    case 2: return 1e-20f;        /* g^2 subnormal: kept (no DAZ) */
    case 3: return -3e-23f;       /* g^2 underflows to 0 */
    case 4: return 1e19f;
    case 5: return NAN;
    case 6: return -INFINITY;
    default: return uniform(-2.0f, 2.0f) * ldexpf(1.0f, (int)(i % 13) - 6);
    }
}

Test(opt_adamw, bit_exact_every_isa_and_thread_count) {
    const size_t sizes[] = {0, 1, 7, 8, 9, 15, 16, 17, 31, 33, 97, 16383, 16385, 40000};
    const dsv4_adamw_cfg cfg = {0.01, 0.9, 0.95, 1e-20, 0.1};
    for (int isa = 0; isa < DSV4_ISA_COUNT; isa++) {
        if (!dsv4_isa_supported((dsv4_isa)isa)) continue;
        cr_assert_eq(dsv4_isa_set((dsv4_isa)isa), DSV4_OK);
        for (int threads = 1; threads <= 3; threads++) {
            dsv4_threads_set(threads);
            for (size_t si = 0; si < sizeof sizes / sizeof sizes[0]; si++) {
                size_t n = sizes[si];
                size_t bytes = sizeof(float) * (n + 1);
                float *p0 = malloc(bytes), *m0 = malloc(bytes), *v0 = malloc(bytes), *g = malloc(bytes);
                float *p1 = malloc(bytes), *m1 = malloc(bytes), *v1 = malloc(bytes);
                for (size_t i = 0; i < n; i++) {
                    p0[i] = uniform(-1, 1);
                    m0[i] = uniform(-0.1f, 0.1f);
                    v0[i] = uniform(0, 0.01f);
                    g[i] = special(i);
                }
                memcpy(p1, p0, bytes);
                memcpy(m1, m0, bytes);
                memcpy(v1, v0, bytes);
                for (long t = 1; t <= 3; t++) {
                    cr_assert_eq(dsv4_ref_adamw_step(&cfg, t, n, g, p0, m0, v0), DSV4_OK);
                    cr_assert_eq(dsv4_opt_adamw_step(&cfg, t, n, g, p1, m1, v1), DSV4_OK);
                }
                cr_assert_eq(memcmp(p0, p1, sizeof(float) * n), 0, "p: isa %d, %d threads, n %zu",
                             isa, threads, n);
                cr_assert_eq(memcmp(m0, m1, sizeof(float) * n), 0, "m");
                cr_assert_eq(memcmp(v0, v1, sizeof(float) * n), 0, "v");
                free(p0); free(m0); free(v0); free(g); free(p1); free(m1); free(v1);
            }
        }
    }
    dsv4_isa_set(dsv4_isa_best());
}

Test(opt_adamw, bad_arguments_match_ref) {
    const dsv4_adamw_cfg cfg = {0.01, 0.9, 0.95, 1e-20, 0.1};
    float b[4] = {0};
    cr_assert_eq(dsv4_opt_adamw_step(&cfg, 0, 4, b, b, b, b), dsv4_ref_adamw_step(&cfg, 0, 4, b, b, b, b));
    cr_assert_eq(dsv4_opt_adamw_step(&cfg, 1, 4, b, NULL, b, b), DSV4_E_NULL);
    cr_assert_eq(dsv4_opt_adamw_step(NULL, 1, 4, b, b, b, b), DSV4_E_NULL);
    cr_assert_eq(dsv4_opt_adamw_step(&cfg, 1, 0, NULL, NULL, NULL, NULL), DSV4_OK);
}
