/* test_muon.c - the reference Muon step, Newton-Schulz and AdamW against the
 * MPFR values of the worked cases G2 and G3 (spec/muon.md §7), plus
 * properties: scale invariance and transposition symmetry of NS, singular
 * values near 1, the decay-only step. */
#include "dsv4.h"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

static int imod(int a, int m) { return ((a % m) + m) % m; }

static void near(const char *what, double got, double want, double abs) {
    cr_assert(fabs(got - want) <= abs, "%s: got %.10g, MPFR %.10g", what, got, want);
}

enum { MAXE = 64 };
static const size_t SHAPE[4][2] = {{4, 8}, {8, 4}, {6, 6}, {3, 5}};

static void g2_grad(int p, int t, float *g) {
    size_t n = SHAPE[p][0], m = SHAPE[p][1];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++) {
            float v = (float)(imod((int)(7 * i + 13 * j) + 5 * t + 3 * p, 19) - 9) / 32.0f;
            if (i == j) v += 0.25f * (float)(p + 1);
            g[i * m + j] = (p == 3 && t != 2) ? 0.0f : v;
        }
}

static dsv4_muon_cfg g2_cfg(void) {
    dsv4_muon_cfg c = {DSV4_NS_V4, 0.02, 0.95, 0.1, 0.18, DSV4_MUON_MOMENTUM_SUM,
                       DSV4_MUON_SCALE_RMS};
    return c;
}

/* Runs steps 1..3 of parameter p; fills O' and W after each step. */
static void g2_run(int p, float o[3][MAXE], float w_after[3][MAXE]) {
    size_t n = SHAPE[p][0], m = SHAPE[p][1];
    float w[MAXE], mom[MAXE] = {0}, g[MAXE];
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; j < m; j++) w[i * m + j] = (float)(imod((int)(5 * i + 3 * j) + p, 11) - 5) / 16.0f;
    dsv4_muon_cfg cfg = g2_cfg();
    for (int t = 1; t <= 3; t++) {
        g2_grad(p, t, g);
        cr_assert_eq(dsv4_ref_muon_step(&cfg, 1, n, m, g, w, mom, o[t - 1]), DSV4_OK);
        memcpy(w_after[t - 1], w, sizeof w);
    }
}

Test(g2, wide_4x8) {
    float o[3][MAXE], w[3][MAXE];
    g2_run(0, o, w);
    const double o1[8] = {0.230871598, 0.592295866, 0.177931357, -0.241108892,
                          -0.495823527, 0.217120829, -0.141851914, -0.439413448};
    const double w1[8] = {-0.314225821, -0.13078096, 0.0605632444, 0.251955059,
                          -0.244451364, -0.0645857992, 0.126194387, 0.316349264};
    const double w3[8] = {-0.328245932, -0.131784445, 0.0565029075, 0.249520195,
                          -0.238323293, -0.0704210048, 0.120347795, 0.318779592};
    for (int j = 0; j < 8; j++) {
        near("p0 step 1 O'", o[0][j], o1[j], 5e-6);
        near("p0 step 1 W", w[0][j], w1[j], 1e-7);
        near("p0 step 3 W", w[2][j], w3[j], 2e-7);
    }
}

Test(g2, tall_8x4_is_transposed) {
    float o[3][MAXE], w[3][MAXE];
    g2_run(1, o, w);
    const double o1[4] = {0.788362577, -0.222745081, 0.31871806, -0.19825388};
    const double o2[4] = {0.954201878, 0.0191126945, 1.66207778e-05, -0.0696123455};
    const double w3[4] = {-0.276155499, -0.0605763429, 0.121495827, 0.314000823};
    for (int j = 0; j < 4; j++) {
        near("p1 step 1 O'", o[0][j], o1[j], 5e-6);
        near("p1 step 2 O'", o[1][j], o2[j], 5e-6);
        near("p1 step 3 W", w[2][j], w3[j], 2e-7);
    }
}

Test(g2, square_and_zero_gradient) {
    float o[3][MAXE], w[3][MAXE];
    g2_run(2, o, w);
    const double o1[6] = {0.92636412, -0.235487043, 0.218869799, -0.0101688361, 0.09973437,
                          -0.169802055};
    for (int j = 0; j < 6; j++) near("p2 step 1 O'", o[0][j], o1[j], 5e-6);
    g2_run(3, o, w);
    const double w1[5] = {-0.124750003, 0.0623750016, 0.249500006, -0.249500006, -0.0623750016};
    const double o23[5] = {0.909810141, 0.150060331, -0.0897143978, -0.318535179, 0.200540899};
    for (int j = 0; j < 5; j++) {
        cr_assert_eq(o[0][j], 0.0f, "zero gradient, zero momentum: no update");
        near("p3 step 1 W (decay only)", w[0][j], w1[j], 1e-8);
        near("p3 step 2 O'", o[1][j], o23[j], 5e-6);
        near("p3 step 3 O' (scale invariance)", o[2][j], o23[j], 5e-6);
    }
}

/* ---- Newton-Schulz properties ---------------------------------------------------- */
static unsigned long long rng = 0x9E3779B97F4A7C15ull;
static float gauss(void) { /* sum of 12 uniforms - 6: close enough to N(0,1) here */
    float s = 0;
    for (int i = 0; i < 12; i++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        s += (float)((rng >> 40) * (1.0 / 16777216.0));
    }
    return s - 6.0f;
}

Test(ns, orthogonal_scale_invariant_transpose_symmetric) {
    enum { R = 12, C = 20 };
    static float z[R * C], zt[C * R], o[R * C], o2[R * C], ot[C * R], prod[R * R];
    for (int i = 0; i < R * C; i++) z[i] = gauss();
    for (int i = 0; i < R; i++) z[i * C + i] += 4.0f; /* well conditioned */
    const dsv4_ns_cfg cfg = DSV4_NS_V4;
    cr_assert_eq(dsv4_ref_newton_schulz(&cfg, R, C, z, o, NULL), DSV4_OK);
    /* O O^T has eigenvalues sigma^2 with sigma in [1, 1.002]: check the diagonal and trace */
    cr_assert_eq(dsv4_ref_sgemm(0, 1, R, R, C, 1.0f, o, C, o, C, 0.0f, prod, R), DSV4_OK);
    double tr = 0;
    for (int i = 0; i < R; i++) tr += prod[i * R + i];
    cr_assert(tr / R >= 0.999 && tr / R <= 1.0045, "mean sigma^2 = %g", tr / R);
    for (int i = 0; i < R; i++)
        for (int j = 0; j < R; j++)
            if (i != j) cr_assert(fabsf(prod[i * R + j]) < 5e-3, "off-diagonal %g", prod[i * R + j]);
    /* scale invariance */
    for (int i = 0; i < R * C; i++) o2[i] = z[i] * 8.0f;
    cr_assert_eq(dsv4_ref_newton_schulz(&cfg, R, C, o2, o2, NULL), DSV4_OK);
    for (int i = 0; i < R * C; i++) near("NS(8 z) = NS(z)", o2[i], o[i], 2e-6);
    /* transposition symmetry: NS(z^T) = NS(z)^T */
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) zt[j * R + i] = z[i * C + j];
    cr_assert_eq(dsv4_ref_newton_schulz(&cfg, C, R, zt, ot, NULL), DSV4_OK);
    for (int i = 0; i < R; i++)
        for (int j = 0; j < C; j++) near("NS(z^T) = NS(z)^T", ot[j * R + i], o[i * C + j], 1e-6);
}

Test(ns, steps_out_and_schedules) {
    enum { R = 5, C = 7 };
    float z[R * C], o[R * C], steps[10 * R * C];
    for (int i = 0; i < R * C; i++) z[i] = gauss();
    const dsv4_ns_cfg v4 = DSV4_NS_V4;
    cr_assert_eq(dsv4_ref_newton_schulz(&v4, R, C, z, o, steps), DSV4_OK);
    cr_assert_eq(memcmp(&steps[9 * R * C], o, sizeof o), 0, "last step output is the result");
    /* the classic 5-step schedule is the first 5 of V4's */
    const dsv4_ns_cfg five = {5, dsv4_ns_v4_coef, 1e-7f, DSV4_NS_EPS_ADD};
    float o5[R * C];
    cr_assert_eq(dsv4_ref_newton_schulz(&five, R, C, z, o5, NULL), DSV4_OK);
    cr_assert_eq(memcmp(&steps[4 * R * C], o5, sizeof o5), 0);
    /* zero input: zero output, for both eps forms */
    float zero[R * C] = {0}, out[R * C];
    const dsv4_ns_cfg mx = {10, dsv4_ns_v4_coef, 1e-7f, DSV4_NS_EPS_MAX};
    cr_assert_eq(dsv4_ref_newton_schulz(&mx, R, C, zero, out, NULL), DSV4_OK);
    for (int i = 0; i < R * C; i++) cr_assert_eq(out[i], 0.0f);
}

Test(muon, args) {
    dsv4_muon_cfg cfg = g2_cfg();
    float buf[16] = {0};
    cr_assert_eq(dsv4_ref_muon_step(NULL, 1, 2, 2, buf, buf, buf, NULL), DSV4_E_NULL);
    cr_assert_eq(dsv4_ref_muon_step(&cfg, 1, 2, 2, buf, NULL, buf, NULL), DSV4_E_NULL);
    cr_assert_eq(dsv4_ref_muon_step(&cfg, 0, 2, 2, NULL, NULL, NULL, NULL), DSV4_OK);
    cfg.ns.steps = -1;
    cr_assert_eq(dsv4_ref_muon_step(&cfg, 1, 2, 2, buf, buf, buf, NULL), DSV4_E_ARG);
    cfg = g2_cfg();
    cfg.lr = NAN;
    cr_assert_eq(dsv4_ref_muon_step(&cfg, 1, 2, 2, buf, buf, buf, NULL), DSV4_E_ARG);
    cfg = g2_cfg();
    cr_assert_eq(dsv4_ref_muon_step(&cfg, 2, SIZE_MAX / 2, 4, buf, buf, buf, NULL),
                 DSV4_E_OVERFLOW);
    /* a batch of matrices is stepped one by one: batch of 2 == two single calls */
    float w[2][6], m[2][6] = {{0}}, g[2][6], w1[6], m1[6] = {0};
    for (int i = 0; i < 12; i++) {
        (&w[0][0])[i] = gauss();
        (&g[0][0])[i] = gauss();
    }
    memcpy(w1, w[1], sizeof w1);
    cr_assert_eq(dsv4_ref_muon_step(&cfg, 2, 2, 3, &g[0][0], &w[0][0], &m[0][0], NULL), DSV4_OK);
    cr_assert_eq(dsv4_ref_muon_step(&cfg, 1, 2, 3, g[1], w1, m1, NULL), DSV4_OK);
    cr_assert_eq(memcmp(w1, w[1], sizeof w1), 0);
}

/* ---- AdamW (G3) ------------------------------------------------------------------- */
Test(g3, adamw_three_steps) {
    float p[6] = {-0.5f, -0.25f, 0, 0.25f, 0.5f, 0.75f}, m[6] = {0}, v[6] = {0};
    const float g[3][6] = {{0.5f, -0.25f, 0, 1e-3f, 2, -1},
                           {-0.5f, -0.25f, 0, 1e-3f, 0, 1},
                           {0.5f, 0.125f, 0, -1e-3f, -2, -1}};
    const double want[3][6] = {
        {-0.509500007, -0.239750003, 0, 0.239750003, 0.489500006, 0.75925001},
        {-0.508464197, -0.229510256, 0, 0.229510256, 0.482224035, 0.757964454},
        {-0.511313673, -0.224080059, 0, 0.226660823, 0.482600306, 0.760564433}};
    const dsv4_adamw_cfg cfg = {0.01, 0.9, 0.95, 1e-20, 0.1};
    for (int t = 0; t < 3; t++) {
        cr_assert_eq(dsv4_ref_adamw_step(&cfg, t + 1, 6, g[t], p, m, v), DSV4_OK);
        for (int i = 0; i < 6; i++) near("AdamW p", p[i], want[t][i], 6e-8);
    }
}

Test(g3, adamw_args) {
    const dsv4_adamw_cfg cfg = {0.01, 0.9, 0.95, 1e-20, 0.1};
    float b[1] = {0};
    cr_assert_eq(dsv4_ref_adamw_step(&cfg, 0, 1, b, b, b, b), DSV4_E_ARG, "steps count from 1");
    cr_assert_eq(dsv4_ref_adamw_step(NULL, 1, 1, b, b, b, b), DSV4_E_NULL);
    const dsv4_adamw_cfg bad = {0.01, 1.0, 0.95, 1e-20, 0.1};
    cr_assert_eq(dsv4_ref_adamw_step(&bad, 1, 1, b, b, b, b), DSV4_E_ARG);
    cr_assert_eq(dsv4_ref_adamw_step(&cfg, 1, 0, NULL, NULL, NULL, NULL), DSV4_OK);
}
