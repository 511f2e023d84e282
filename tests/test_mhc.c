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

/* A Sinkhorn configuration in an argument list. */
#define SK(n, iters, eps) (&(dsv4_sinkhorn_cfg){(n), (iters), (eps)})

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
    cr_assert_eq(dsv4_ref_sinkhorn(SK(HC, 1, 1e-6f), 1, &O.logits[0][0][0], &c[0][0]), DSV4_OK);
    /* after the softmax and one column step the -200 logits are eps exactly (T3) */
    const double row3[4] = {1.01873431824e-06, 1.21060885278e-06, 9.08446349151e-07,
                            0.916088486576};
    for (int k = 0; k < 4; k++) near("row 3 after S1+S2", c[3][k], row3[k], 0, 2e-6);
    /* the init stage is that first round, whatever iters is */
    float first[HC][HC];
    cr_assert_eq(dsv4_ref_sinkhorn_init(SK(HC, 20, 1e-6f), 1, &O.logits[0][0][0], &first[0][0]),
                 DSV4_OK);
    cr_assert_eq(memcmp(first, c, sizeof c), 0);
    /* the rest, fed with the first round, reproduces the 20-round result */
    float rest[HC][HC];
    cr_assert_eq(dsv4_ref_sinkhorn_iterate(SK(HC, 20, 1e-6f), 1, &c[0][0], &rest[0][0]), DSV4_OK);
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
    cr_assert_eq(dsv4_ref_sinkhorn(SK(HC, 19, 1e-6f), 1, &O.logits[0][0][0], &c19[0][0]), DSV4_OK);
    cr_assert_eq(dsv4_ref_sinkhorn(SK(HC, 21, 1e-6f), 1, &O.logits[0][0][0], &c21[0][0]), DSV4_OK);
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
    cr_assert_eq(dsv4_ref_sinkhorn(SK(HC, 20, 1e-6f), N, &L[0][0][0], &c[0][0][0]), DSV4_OK);
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
    cr_assert_eq(dsv4_ref_sinkhorn(SK(HC, 20, 1e-6f), 1, &L[0][0], &c[0][0]), DSV4_OK);
    for (int q = 0; q < HC * HC; q++) cr_assert(isfinite((&c[0][0])[q]) && (&c[0][0])[q] > 0);
    cr_assert_eq(dsv4_ref_sinkhorn(SK(HC, 20, 1e-6f), 1, &L[0][0], &L[0][0]), DSV4_OK);
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
    cr_assert_eq(dsv4_ref_sinkhorn(SK(0, 20, 1e-6f), 1, buf, buf), DSV4_E_ARG);
    cr_assert_eq(dsv4_ref_sinkhorn(SK(4, 0, 1e-6f), 1, buf, buf), DSV4_E_ARG);
    cr_assert_eq(dsv4_ref_sinkhorn(SK(4, 20, -1.0f), 1, buf, buf), DSV4_E_ARG);
    cr_assert_eq(dsv4_ref_sinkhorn(SK(SIZE_MAX, 20, 1e-6f), 2, buf, buf), DSV4_E_OVERFLOW);
    cr_assert_eq(dsv4_ref_sinkhorn_iterate(SK(4, 0, 1e-6f), 1, buf, buf), DSV4_E_ARG);
    cr_assert_eq(dsv4_ref_sinkhorn_init(SK(4, 0, 1e-6f), 1, buf, buf), DSV4_E_ARG);
    cr_assert_eq(dsv4_ref_sinkhorn_init(SK(4, 20, NAN), 1, buf, buf), DSV4_E_ARG);
    cr_assert_eq(dsv4_ref_sinkhorn_iterate(SK(SIZE_MAX, 20, 1e-6f), 2, buf, buf), DSV4_E_OVERFLOW);
    cr_assert_eq(dsv4_ref_sinkhorn(NULL, 1, buf, buf), DSV4_E_NULL);
    cr_assert_eq(dsv4_ref_sinkhorn_init(NULL, 1, buf, buf), DSV4_E_NULL);
    cr_assert_eq(dsv4_ref_sinkhorn_iterate(NULL, 1, buf, buf), DSV4_E_NULL);
    cr_assert_eq(dsv4_ref_sinkhorn_iterate(SK(4, 20, 1e-6f), 1, NULL, buf), DSV4_E_NULL);
    cr_assert_eq(dsv4_ref_sinkhorn_iterate(SK(4, 20, 1e-6f), 0, NULL, NULL), DSV4_OK);
    cr_assert_eq(dsv4_ref_hc_mixes(&CFG, 1, 0, buf, buf, buf, buf), DSV4_E_ARG);
}

/* T3 for the row step: after a column step a uniform row scale cancels, so
 * eps in the row divisor is invisible in G1.  A row of tiny entries makes it
 * visible: its sum 4e-6 becomes 5e-6 with eps, a 20 % change. */
Test(traps, eps_in_row_divisor) {
    float c[HC][HC], out[HC][HC];
    for (int j = 0; j < HC; j++)
        for (int k = 0; k < HC; k++) c[j][k] = j == 0 ? 1e-6f : 1.0f;
    cr_assert_eq(dsv4_ref_sinkhorn_iterate(SK(HC, 2, 1e-6f), 1, &c[0][0], &out[0][0]), DSV4_OK);
    double eps = 1e-6f, row0 = 1e-6f / (4 * (double)1e-6f + eps), other = 1.0 / (4.0 + eps);
    double col = row0 + 3 * other + eps;
    near("row 0 after one round", out[0][0], row0 / col, 0, 1e-6);
    near("row 1 after one round", out[1][0], other / col, 0, 1e-6);
}

/* Round v (finite, normal in bf16) to bf16, to nearest even, in double. */
static double bf16_round(double v) {
    int e;
    if (v == 0.0) return v;
    frexp(v, &e);
    return ldexp(nearbyint(ldexp(v, 8 - e)), e - 8);
}

/* V4-Pro width (d = 7168, K = 28672), on every ISA the machine has: opt
 * against ref with spec/mhc.md §7's tolerances, computed from ref's outputs,
 * on every output and stage of hc_pre; and the parts the spec makes
 * bit-exact (split, Sinkhorn, the weighted sum) recomputed by ref from opt's
 * mixes give opt's bits. */
enum { Tp = 2, Dp = 7168, Kp = 4 * Dp, Mp = 24, H = 4 };
typedef struct pro_case {
    float x[Tp * Kp], fn[Mp * Kp], scale[3], base[Mp];
    /* [0] ref, [1] opt */
    float y[2][Tp * Dp], post[2][Tp * H], comb[2][Tp * H * H], logits[2][Tp * H * H];
    float mixes[2][Tp * Mp], r[2][Tp], pre[2][Tp * H];
} pro_case;

static void pro_run(pro_case *c, int impl) {
    const dsv4_mhc_cfg cfg = DSV4_MHC_V4_PRO;
    dsv4_hc_pre_stages st = {c->r[impl], c->mixes[impl], c->pre[impl], c->logits[impl]};
    dsv4_status s = (impl ? dsv4_opt_hc_pre : dsv4_ref_hc_pre)(
        &cfg, Tp, c->x, c->fn, c->scale, c->base, c->y[impl], c->post[impl], c->comb[impl], &st);
    cr_assert_eq(s, DSV4_OK);
}

/* Element i of opt's `what` within abs + rel * |ref| of ref's. */
static void near_ref(const char *what, const char *isa, int i, double opt, double ref, double abs,
                     double rel) {
    cr_assert(fabs(opt - ref) <= abs + rel * fabs(ref), "%s[%d] (%s): opt %a, ref %a, tolerance %g",
              what, i, isa, opt, ref, abs + rel * fabs(ref));
}

static void pro_compare(const pro_case *c, const char *isa) {
    const dsv4_mhc_cfg cfg = DSV4_MHC_V4_PRO;
    const float *x = c->x, *fn = c->fn, *scale = c->scale, *base = c->base;
    const float(*r)[Tp] = c->r, (*mixes)[Tp * Mp] = c->mixes, (*pre)[Tp * H] = c->pre;
    const float(*post)[Tp * H] = c->post, (*logits)[Tp * H * H] = c->logits;
    const float(*comb)[Tp * H * H] = c->comb, (*y)[Tp * Dp] = c->y;
    const double u = 0x1p-24, tau = 8.0 * sqrt((double)Kp) * u;
    /* rms: relative tau_K */
    for (int t = 0; t < Tp; t++) near_ref("r", isa, t, r[1][t], r[0][t], 0, tau);
    /* mixes: abs tau_K * A2 + relative (tau_K + 4u), A2 = max r * ||x o fn[m]||_2;
     * delta_m, the case's mixes tolerance, is the largest of these */
    double a2 = 0, dm = 0;
    for (int t = 0; t < Tp; t++)
        for (int m = 0; m < Mp; m++) {
            double ss = 0;
            for (int k = 0; k < Kp; k++) {
                double p = (double)x[t * Kp + k] * fn[m * Kp + k];
                ss += p * p;
            }
            a2 = fmax(a2, r[0][t] * sqrt(ss));
        }
    for (int i = 0; i < Tp * Mp; i++) {
        double tol = tau * a2 + (tau + 4 * u) * fabs(mixes[0][i]);
        near_ref("mixes", isa, i, mixes[1][i], mixes[0][i], tol, 0);
        dm = fmax(dm, tol);
    }
    /* split: pre, post abs 1e-5 + max(|scale0|, |scale1|) delta_m / 2; logits
     * abs 1e-6 + |scale2| delta_m, relative 4u; delta_L the largest of those */
    double gate = 1e-5 + 0.5 * fmax(fabs(scale[0]), fabs(scale[1])) * dm, dl = 0;
    for (int i = 0; i < Tp * H; i++) {
        near_ref("pre", isa, i, pre[1][i], pre[0][i], gate, 0);
        near_ref("post", isa, i, post[1][i], post[0][i], gate, 0);
    }
    for (int i = 0; i < Tp * H * H; i++) {
        double tol = 1e-6 + fabs(scale[2]) * dm + 4 * u * fabs(logits[0][i]);
        near_ref("logits", isa, i, logits[1][i], logits[0][i], tol, 0);
        dl = fmax(dl, tol);
    }
    /* Sinkhorn: abs 2e-5 + 4 delta_L */
    for (int i = 0; i < Tp * H * H; i++)
        near_ref("comb", isa, i, comb[1][i], comb[0][i], 2e-5 + 4 * dl, 0);
    /* y, bf16 boundary-aware: bf16(e - tol) <= y <= bf16(e + tol), e the
     * exact weighted sum of ref's pre, tol = 1e-5 sum_j |pre_j x_j| + 4u |e| */
    for (int t = 0; t < Tp; t++)
        for (int i = 0; i < Dp; i++) {
            double e = 0, mag = 0;
            for (int j = 0; j < H; j++) {
                double p = (double)pre[0][t * H + j] * x[t * Kp + j * Dp + i];
                e += p;
                mag += fabs(p);
            }
            double tol = 1e-5 * mag + 4 * u * fabs(e), lo = bf16_round(e - tol),
                   hi = bf16_round(e + tol);
            for (int impl = 0; impl < 2; impl++) {
                float v = y[impl][t * Dp + i];
                cr_assert(v == dsv4_bf16_decode(dsv4_bf16_encode(v)) && lo <= v && v <= hi,
                          "y[%d][%d] of %s (%s): %a, not bf16 of a value in [%a, %a]", t, i,
                          impl ? "opt" : "ref", isa, (double)v, e - tol, e + tol);
            }
        }
    /* bit-exact: ref's split, Sinkhorn and weighted sum on opt's mixes */
    static float p2[Tp * H], q2[Tp * H], l2[Tp * H * H], c2[Tp * H * H], y2[Tp * Dp];
    cr_assert_eq(dsv4_hc_split(&cfg, Tp, mixes[1], scale, base, p2, q2, l2), DSV4_OK);
    cr_assert_eq(dsv4_ref_sinkhorn(SK(4, 20, 1e-6f), Tp, logits[1], c2), DSV4_OK);
    cr_assert_eq(dsv4_ref_hc_weighted_sum(&cfg, Tp, x, pre[1], y2), DSV4_OK);
    cr_assert_eq(memcmp(p2, pre[1], sizeof p2), 0, "%s: opt's split (pre) is ref's", isa);
    cr_assert_eq(memcmp(q2, post[1], sizeof q2), 0, "%s: opt's split (post) is ref's", isa);
    cr_assert_eq(memcmp(l2, logits[1], sizeof l2), 0, "%s: opt's split (logits) is ref's", isa);
    cr_assert_eq(memcmp(c2, comb[1], sizeof c2), 0, "%s: opt's Sinkhorn is ref's", isa);
    cr_assert_eq(memcmp(y2, y[1], sizeof y2), 0, "%s: opt's weighted sum is ref's", isa);
}

Test(sizes, v4_pro_width) {
    static pro_case c;
    c.scale[0] = 0.5f;
    c.scale[1] = -1.0f;
    c.scale[2] = 4.0f;
    for (int i = 0; i < Tp * Kp; i++) c.x[i] = dsv4_bf16_decode(dsv4_bf16_encode(uniform(-2, 2)));
    for (int i = 0; i < Mp * Kp; i++) c.fn[i] = uniform(-1, 1) / 128.0f;
    for (int i = 0; i < Mp; i++) c.base[i] = uniform(-1, 1);
    pro_run(&c, 0);
    for (int isa = 0; isa < DSV4_ISA_COUNT; isa++) {
        if (!dsv4_isa_supported((dsv4_isa)isa)) continue;
        cr_assert_eq(dsv4_isa_set((dsv4_isa)isa), DSV4_OK);
        pro_run(&c, 1);
        pro_compare(&c, dsv4_isa_name((dsv4_isa)isa));
    }
    dsv4_isa_set(dsv4_isa_best());
}
