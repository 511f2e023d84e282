/* test_mhc.c - the reference mHC against the MPFR values of the worked case
 * G1 (spec/mhc.md §10), plus property tests and the classic mistakes this
 * suite must catch, the trap tests of spec/mhc.md §11 (each assertion below
 * names the mistake it guards against):
 *   T1 sigmoid instead of softmax in Sinkhorn    T5 pre without + eps
 *   T2 comb not transposed in hc_post            T6 wrong iteration count / ending on a row step
 *   T3 eps missing or misplaced                  T7 RMS per stream instead of over the token
 *   T4 post without the factor 2 */
#include "dsv4.h"

#include <criterion/criterion.h>
#include <math.h>
#include <string.h>

enum { HC = 4, D = 16, K = HC * D, M = (2 + HC) * HC, T = 3 };

static int imod(int a, int m) { return ((a % m) + m) % m; }

typedef struct g1 {
    float x[T][HC][D], fn[M][K], scale[3], base[M], f[T][D];
    float hfn[HC][K], hscale[1], hbase[HC];
} g1;

static void g1_build(g1 *g) {
    for (int j = 0; j < HC; j++)
        for (int i = 0; i < D; i++) {
            g->x[0][j][i] = (float)(imod(7 * i + 3 * j + 1, 17) - 8) / 8.0f;
            g->x[1][j][i] = (float)(imod(5 * i + 2, 13) - 6) / 4.0f;
            g->x[2][j][i] = 0.0f;
        }
    for (int m = 0; m < M; m++)
        for (int k = 0; k < K; k++) g->fn[m][k] = (float)(imod(31 * m + 17 * k, 29) - 14) / 256.0f;
    g->scale[0] = 0.5f;
    g->scale[1] = -1.0f;
    g->scale[2] = 8.0f;
    for (int q = 0; q < M; q++) {
        if (q < 8) {
            g->base[q] = (float)(imod(13 * q, 11) - 5) / 4.0f;
            continue;
        }
        int j = (q - 8) / 4, k = (q - 8) % 4;
        g->base[q] = j == k ? 6.0f : j == 3 ? -200.0f : (float)(imod(7 * q, 9) - 4) / 2.0f;
    }
    for (int t = 0; t < T; t++)
        for (int i = 0; i < D; i++) g->f[t][i] = (float)(imod(3 * i + t, 7) - 3) / 2.0f;
    for (int j = 0; j < HC; j++)
        for (int k = 0; k < K; k++) g->hfn[j][k] = (float)(imod(19 * j + 5 * k, 23) - 11) / 128.0f;
    g->hscale[0] = 0.75f;
    g->hbase[0] = 0.25f;
    g->hbase[1] = -0.5f;
    g->hbase[2] = 1.0f;
    g->hbase[3] = 0.0f;
}

static const dsv4_mhc_cfg CFG = {HC, D, 20, 1e-6f, 1e-6f};

typedef struct outs {
    float y[T][D], post[T][HC], comb[T][HC][HC], r[T], mixes[T][M], pre[T][HC], logits[T][HC][HC];
} outs;

static g1 G;
static outs O;

static void run_pre(const dsv4_mhc_cfg *cfg) {
    g1_build(&G);
    dsv4_hc_pre_stages st = {O.r, &O.mixes[0][0], &O.pre[0][0], &O.logits[0][0][0]};
    cr_assert_eq(dsv4_ref_hc_pre(cfg, T, &G.x[0][0][0], &G.fn[0][0], G.scale, G.base, &O.y[0][0],
                                 &O.post[0][0], &O.comb[0][0][0], &st),
                 DSV4_OK);
}

/* |got - want| <= abs + rel*|want| */
static void near(const char *what, double got, double want, double abs, double rel) {
    cr_assert(fabs(got - want) <= abs + rel * fabs(want), "%s: got %.12g, MPFR %.12g", what, got,
              want);
}

Test(g1, hc_pre_token0) {
    run_pre(&CFG);
    near("r (T7)", O.r[0], 1.65357338516, 0, 4e-7);
    const double pre[4] = {0.212665132515, 0.326566716709, 0.439315537284, 0.547120916384};
    const double post[4] = {1.43646215553, 1.60621475658, 0.470666557916, 0.659944092538};
    const double mixes[4] = {-0.117881696403, 0.0524815771657, 0.0121111331921, -0.1219187408};
    for (int j = 0; j < 4; j++) {
        near("mixes", O.mixes[0][j], mixes[j], 2e-7, 0);
        near("pre (T5: + eps)", O.pre[0][j], pre[j], 2e-7, 0);
        near("post (T4: factor 2)", O.post[0][j], post[j], 4e-7, 0);
    }
    const double comb[4][4] = {
        {0.992505385097, 0.00379848788218, 0.0101872580651, 0.000443030552959},
        {0.000852527438099, 0.992640898205, 0.0202896268409, 0.0100669373455},
        {0.00663826934915, 0.0035513878596, 0.96952078549, 0.0145267679437},
        {2.81110334345e-06, 8.20104413317e-06, 1.33526671188e-06, 0.974962289183}};
    for (int j = 0; j < 4; j++)
        for (int k = 0; k < 4; k++)
            near("comb (T1, T3, T6)", O.comb[0][j][k], comb[j][k], 1e-9, 2e-5);
    /* column sums are t/(t + eps), 1e-6 below 1: 16 fp32 ulps, so eps in the
     * column divisor is visible here (T3) though not in the entries */
    const double colsum[4] = {0.999998992987, 0.999998974991, 0.999999005663, 0.999999025025};
    for (int k = 0; k < 4; k++) {
        double s = 0;
        for (int j = 0; j < 4; j++) s += O.comb[0][j][k];
        near("column sum (T3)", s, colsum[k], 2e-7, 0);
    }
    /* row sums are not 1 (peaked logits), but they are pinned by the oracle
     * (T3; eps in the row divisor hides here, see traps.eps_in_row_divisor) */
    const double rowsum[4] = {1.0069341616, 1.02384998983, 0.994237210643, 0.974974636597};
    for (int j = 0; j < 4; j++) {
        double s = 0;
        for (int k = 0; k < 4; k++) s += O.comb[0][j][k];
        near("row sum (T3)", s, rowsum[j], 3e-7, 0);
    }
    const double y[4] = {-0.267578125, -0.09521484375, -0.388671875, 0.49609375}; /* bf16 */
    for (int i = 0; i < 4; i++) near("y", O.y[0][i], y[i], 0, 0);
}

Test(g1, hc_pre_tokens_1_and_2) {
    run_pre(&CFG);
    near("r identical streams", O.r[1], 1.04372434839, 0, 4e-7);
    near("comb[0][0]", O.comb[1][0][0], 0.998820296249, 0, 2e-6);
    near("comb[3][3]", O.comb[1][3][3], 0.972412383004, 0, 2e-6);
    near("comb[3][1]", O.comb[1][3][1], 1.47821012974e-05, 0, 1e-4);
    /* zero residual: r = 1/sqrt(norm_eps); mixes 0; y 0 */
    near("r zero token", O.r[2], 1000.00000126, 0, 2e-7);
    for (int m = 0; m < M; m++) cr_assert_eq(O.mixes[2][m], 0.0f);
    const double pre[4] = {0.222701138825, 0.320822300825, 0.437824499114, 0.562177500886};
    for (int j = 0; j < 4; j++) near("pre zero token", O.pre[2][j], pre[j], 1e-7, 0);
    near("comb[0][0] zero token", O.comb[2][0][0], 0.995354148348, 0, 2e-6);
    near("comb[3][3] zero token", O.comb[2][3][3], 0.985243507011, 0, 2e-6);
    for (int i = 0; i < D; i++) cr_assert_eq(O.y[2][i], 0.0f);
}

Test(g1, sinkhorn_first_round) {
    run_pre(&CFG);
    float c[HC][HC];
    cr_assert_eq(dsv4_ref_sinkhorn(HC, 1, 1e-6f, 1, &O.logits[0][0][0], &c[0][0]), DSV4_OK);
    /* after the softmax and one column step the -200 logits are eps exactly (T3) */
    const double row3[4] = {1.01873431824e-06, 1.21060885278e-06, 9.08446349151e-07,
                            0.916088486576};
    for (int k = 0; k < 4; k++) near("row 3 after S1+S2", c[3][k], row3[k], 0, 2e-6);
    /* the rest, fed with the first round, reproduces the 20-round result */
    float rest[HC][HC];
    cr_assert_eq(dsv4_ref_sinkhorn_rounds(HC, 19, 1e-6f, 1, &c[0][0], &rest[0][0]), DSV4_OK);
    cr_assert_eq(memcmp(rest, O.comb[0], sizeof rest), 0);
}

Test(g1, hc_post_token0) {
    run_pre(&CFG);
    float out[T][HC][D];
    cr_assert_eq(dsv4_ref_hc_post(&CFG, T, &G.f[0][0], &G.x[0][0][0], &O.post[0][0],
                                  &O.comb[0][0][0], &out[0][0][0]),
                 DSV4_OK);
    const double want[4] = {-3.02439079, 0.0052955887, 3.01907, -1.08792914};
    for (int i = 0; i < 4; i++) /* bf16 output: within one bf16 step (T2 moves them by far more) */
        near("hc_post out[0][i] (T2)", out[0][0][i], want[i], 0, 1.0 / 128);
}

Test(g1, hc_head) {
    g1_build(&G);
    float y[T][D], w[T][HC];
    dsv4_hc_head_stages st = {NULL, NULL, &w[0][0]};
    cr_assert_eq(dsv4_ref_hc_head(&CFG, T, &G.x[0][0][0], &G.hfn[0][0], G.hscale, G.hbase,
                                  &y[0][0], &st),
                 DSV4_OK);
    const double want[4] = {0.521007995366, 0.249154056887, 0.723614165102, 0.609326669711};
    for (int j = 0; j < 4; j++) near("hc_head w", w[0][j], want[j], 2e-7, 0);
    near("hc_head w zero token", w[2][3], 0.500001, 0, 1e-7);
}

/* T6: one round more or fewer, or stopping after a row step, moves comb. */
Test(traps, iteration_count_matters) {
    run_pre(&CFG);
    float c19[HC][HC], c21[HC][HC];
    cr_assert_eq(dsv4_ref_sinkhorn(HC, 19, 1e-6f, 1, &O.logits[0][0][0], &c19[0][0]), DSV4_OK);
    cr_assert_eq(dsv4_ref_sinkhorn(HC, 21, 1e-6f, 1, &O.logits[0][0][0], &c21[0][0]), DSV4_OK);
    double d19 = 0, d21 = 0;
    for (int j = 0; j < HC; j++)
        for (int k = 0; k < HC; k++) {
            d19 = fmax(d19, fabs(c19[j][k] - O.comb[0][j][k]) / O.comb[0][j][k]);
            d21 = fmax(d21, fabs(c21[j][k] - O.comb[0][j][k]) / O.comb[0][j][k]);
        }
    cr_assert(d19 > 2e-5 && d21 > 2e-5, "19/21 rounds must differ from 20 by more than the test "
              "tolerance (%g, %g), or the G1 test could not see T6", d19, d21);
}

/* ---- properties ------------------------------------------------------------------ */
static unsigned long long rng = 88172645463325252ull;
static float uniform(float a, float b) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return a + (b - a) * (float)((rng >> 40) * (1.0 / 16777216.0));
}

Test(properties, positive_and_column_stochastic) {
    enum { N = 200 };
    static float L[N][HC][HC], c[N][HC][HC];
    for (int t = 0; t < N; t++)
        for (int q = 0; q < HC * HC; q++) (&L[t][0][0])[q] = uniform(-1.0f, 1.0f) * (t % 5 + 1);
    cr_assert_eq(dsv4_ref_sinkhorn(HC, 20, 1e-6f, N, &L[0][0][0], &c[0][0][0]), DSV4_OK);
    for (int t = 0; t < N; t++)
        for (int k = 0; k < HC; k++) {
            double s = 0;
            for (int j = 0; j < HC; j++) {
                cr_assert(c[t][j][k] > 0.0f);
                s += c[t][j][k];
            }
            cr_assert(s >= 1 - 3e-6 && s <= 1 + 1e-6, "token %d column %d sums to %.9f", t, k, s);
        }
}

Test(properties, large_logits_and_in_place) {
    float L[HC][HC], c[HC][HC];
    for (int q = 0; q < HC * HC; q++) (&L[0][0])[q] = (q % 3 ? 200.0f : -200.0f) + (float)q;
    cr_assert_eq(dsv4_ref_sinkhorn(HC, 20, 1e-6f, 1, &L[0][0], &c[0][0]), DSV4_OK);
    for (int q = 0; q < HC * HC; q++) cr_assert(isfinite((&c[0][0])[q]) && (&c[0][0])[q] > 0);
    cr_assert_eq(dsv4_ref_sinkhorn(HC, 20, 1e-6f, 1, &L[0][0], &L[0][0]), DSV4_OK);
    cr_assert_eq(memcmp(L, c, sizeof c), 0, "out may equal logits");
}

Test(properties, identical_streams_and_odd_width) {
    enum { d = 17 };
    const dsv4_mhc_cfg cfg = {HC, d, 20, 1e-6f, 1e-6f};
    float x[HC][d], fn[M][HC * d], scale[3] = {1, 1, 1}, base[M] = {0}, y[d], post[HC], comb[HC][HC];
    for (int i = 0; i < d; i++)
        for (int j = 0; j < HC; j++) x[j][i] = (float)(i - 8) * 0.125f;
    for (int m = 0; m < M; m++)
        for (int k = 0; k < HC * d; k++) fn[m][k] = uniform(-0.1f, 0.1f);
    cr_assert_eq(dsv4_ref_hc_pre(&cfg, 1, &x[0][0], &fn[0][0], scale, base, y, post, &comb[0][0],
                                 NULL),
                 DSV4_OK);
    float r;
    cr_assert_eq(dsv4_ref_hc_rms(&cfg, 1, &x[0][0], &r), DSV4_OK);
    /* identical streams: the RMS over the token equals the RMS of one stream (T7 would too, so
     * check a token whose streams differ as well) */
    x[1][0] = 4.0f;
    float r2, rs;
    cr_assert_eq(dsv4_ref_hc_rms(&cfg, 1, &x[0][0], &r2), DSV4_OK);
    double ss = 0;
    for (int j = 0; j < HC; j++)
        for (int i = 0; i < d; i++) ss += (double)x[j][i] * x[j][i];
    rs = (float)(1.0 / sqrt(ss / (HC * d) + 1e-6));
    near("rms over the whole token (T7)", r2, rs, 0, 1e-6);
}

Test(properties, nonfinite_propagates_per_token) {
    enum { d = 8, Tn = 2 };
    const dsv4_mhc_cfg cfg = {HC, d, 20, 1e-6f, 1e-6f};
    float x[Tn][HC][d], fn[M][HC * d], scale[3] = {1, 1, 1}, base[M] = {0};
    float y[Tn][d], post[Tn][HC], comb[Tn][HC][HC];
    for (int t = 0; t < Tn; t++)
        for (int j = 0; j < HC; j++)
            for (int i = 0; i < d; i++) x[t][j][i] = uniform(-1, 1);
    for (int m = 0; m < M; m++)
        for (int k = 0; k < HC * d; k++) fn[m][k] = uniform(-0.1f, 0.1f);
    x[0][2][3] = NAN;
    cr_assert_eq(dsv4_ref_hc_pre(&cfg, Tn, &x[0][0][0], &fn[0][0], scale, base, &y[0][0],
                                 &post[0][0], &comb[0][0][0], NULL),
                 DSV4_OK);
    for (int j = 0; j < HC; j++) cr_assert(isnan(post[0][j]), "NaN reaches post");
    cr_assert(isnan(comb[0][0][0]), "NaN reaches comb");
    cr_assert(isnan(y[0][0]), "NaN reaches y");
    for (int j = 0; j < HC; j++) cr_assert(isfinite(post[1][j]), "the other token is untouched");
    x[0][2][3] = INFINITY;
    cr_assert_eq(dsv4_ref_hc_pre(&cfg, Tn, &x[0][0][0], &fn[0][0], scale, base, &y[0][0],
                                 &post[0][0], &comb[0][0][0], NULL),
                 DSV4_OK);
    cr_assert(!isfinite(y[0][3]) || isnan(y[0][3]));
    cr_assert(isfinite(y[1][3]));
}

Test(args, errors) {
    dsv4_mhc_cfg cfg = CFG;
    float buf[64] = {0};
    cr_assert_eq(dsv4_ref_hc_pre(NULL, 1, buf, buf, buf, buf, buf, buf, buf, NULL), DSV4_E_NULL);
    cr_assert_eq(dsv4_ref_hc_pre(&cfg, 0, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL), DSV4_OK);
    cr_assert_eq(dsv4_ref_hc_pre(&cfg, 1, NULL, buf, buf, buf, buf, buf, buf, NULL), DSV4_E_NULL);
    cfg.sinkhorn_iters = 0;
    cr_assert_eq(dsv4_ref_hc_rms(&cfg, 1, buf, buf), DSV4_E_ARG);
    cfg = CFG;
    cfg.hc_eps = NAN;
    cr_assert_eq(dsv4_ref_hc_rms(&cfg, 1, buf, buf), DSV4_E_ARG);
    cfg = CFG;
    cfg.d = SIZE_MAX / 2;
    cr_assert_eq(dsv4_ref_hc_rms(&cfg, 1, buf, buf), DSV4_E_OVERFLOW);
    cr_assert_eq(dsv4_ref_sinkhorn(0, 20, 1e-6f, 1, buf, buf), DSV4_E_ARG);
    cr_assert_eq(dsv4_ref_sinkhorn(4, 0, 1e-6f, 1, buf, buf), DSV4_E_ARG);
    cr_assert_eq(dsv4_ref_sinkhorn(4, 20, -1.0f, 1, buf, buf), DSV4_E_ARG);
    cr_assert_eq(dsv4_ref_sinkhorn(SIZE_MAX, 20, 1e-6f, 2, buf, buf), DSV4_E_OVERFLOW);
    cr_assert_eq(dsv4_ref_sinkhorn_rounds(4, -1, 1e-6f, 1, buf, buf), DSV4_E_ARG);
    cr_assert_eq(dsv4_ref_hc_mixes(&CFG, 1, 0, buf, buf, buf, buf), DSV4_E_ARG);
}

/* T3 for the row step: after a column step a uniform row scale cancels, so
 * eps in the row divisor is invisible in G1.  A row of tiny entries makes it
 * visible: its sum 4e-6 becomes 5e-6 with eps, a 20 % change. */
Test(traps, eps_in_row_divisor) {
    float c[HC][HC], out[HC][HC];
    for (int j = 0; j < HC; j++)
        for (int k = 0; k < HC; k++) c[j][k] = j == 0 ? 1e-6f : 1.0f;
    cr_assert_eq(dsv4_ref_sinkhorn_rounds(HC, 1, 1e-6f, 1, &c[0][0], &out[0][0]), DSV4_OK);
    double eps = 1e-6f, row0 = 1e-6f / (4 * (double)1e-6f + eps), other = 1.0 / (4.0 + eps);
    double col = row0 + 3 * other + eps;
    near("row 0 after one round", out[0][0], row0 / col, 0, 1e-6);
    near("row 1 after one round", out[1][0], other / col, 0, 1e-6);
}

/* V4-Pro width (d = 7168, K = 28672): ref and opt agree within the spec's
 * tolerances, comb bit for bit once fed the same logits. */
Test(sizes, v4_pro_width) {
    const dsv4_mhc_cfg cfg = DSV4_MHC_V4_PRO;
    enum { Tp = 2, Kp = 4 * 7168, Mp = 24 };
    static float x[Tp * Kp], fn[Mp * Kp], y[2][Tp * 7168], post[2][Tp * 4], comb[2][Tp * 16];
    static float logits[2][Tp * 16], mixes[2][Tp * Mp], r[2][Tp];
    float scale[3] = {0.5f, -1.0f, 4.0f}, base[Mp];
    for (int i = 0; i < Tp * Kp; i++) x[i] = dsv4_bf16_decode(dsv4_bf16_encode(uniform(-2, 2)));
    for (int i = 0; i < Mp * Kp; i++) fn[i] = uniform(-1, 1) / 128.0f;
    for (int i = 0; i < Mp; i++) base[i] = uniform(-1, 1);
    for (int impl = 0; impl < 2; impl++) {
        dsv4_hc_pre_stages st = {r[impl], mixes[impl], NULL, logits[impl]};
        dsv4_status s = (impl ? dsv4_opt_hc_pre : dsv4_ref_hc_pre)(
            &cfg, Tp, x, fn, scale, base, y[impl], post[impl], comb[impl], &st);
        cr_assert_eq(s, DSV4_OK);
    }
    double tau = 8.0 * sqrt((double)Kp) * 0x1p-24;
    for (int t = 0; t < Tp; t++) near("r at Pro width", r[1][t], r[0][t], 0, tau);
    for (int i = 0; i < Tp * Mp; i++) near("mixes at Pro width", mixes[1][i], mixes[0][i], 1e-3, tau);
    float c2[Tp * 16];
    cr_assert_eq(dsv4_ref_sinkhorn(4, 20, 1e-6f, Tp, logits[1], c2), DSV4_OK);
    cr_assert_eq(memcmp(c2, comb[1], sizeof c2), 0, "opt's Sinkhorn equals ref's on the same logits");
}
