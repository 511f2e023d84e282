/* muon_selftest.c - the optimizer family against worked values:
 *  - the fp32 constants and scalars of spec/muon.md (§1-§3, and §7 for G2, G3);
 *  - both eps forms and Newton-Schulz on matrices with orthogonal rows,
 *    whose singular values follow the scalar map p(s) = a s + b s^3 + c s^5,
 *    computed here independently in long double;
 *  - the 9-digit G2 (Muon, three steps) and G3 (AdamW, three steps) values of
 *    spec/muon.md §7, which a separate MPFR program made. */
#include "muon.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* got must be the fp32 value nearest to the decimal `want`, or within
 * `slack` ulps of it, or (abs_slack > 0) within abs_slack of it; the inexact
 * cases are counted and reported. */
static int check_value_abs(const char *what, size_t i, uint32_t got, const char *want,
                           unsigned slack, double abs_slack, int *inexact) {
    uint32_t w = ox_f32_of_text(want);
    uint32_t lo = w, hi = w;
    for (unsigned k = 0; k < slack; k++) {
        lo = ox_f32_nextdown(lo);
        hi = ox_f32_nextup(hi);
    }
    if (got == w) return 0;
    float g = ox_f32_from_bits(got), l = ox_f32_from_bits(lo), h = ox_f32_from_bits(hi);
    double d = (double)g - strtod(want, NULL);
    if ((!(g < l) && !(g > h)) || (d <= abs_slack && -d <= abs_slack)) {
        (*inexact)++;
        return 0;
    }
    fprintf(stderr, "selftest FAIL %s[%zu]: got %.9g (0x%08X), spec %s\n", what, i, (double)g,
            (unsigned)got, want);
    return 1;
}

static int check_value(const char *what, size_t i, uint32_t got, const char *want,
                       unsigned slack, int *inexact) {
    return check_value_abs(what, i, got, want, slack, 0.0, inexact);
}

static int check_row(const char *what, const uint32_t *got, const char *const *want, size_t n,
                     unsigned slack, double abs_slack, int *inexact) {
    int fails = 0;
    for (size_t i = 0; i < n; i++)
        fails += check_value_abs(what, i, got[i], want[i], slack, abs_slack, inexact);
    return fails;
}

/* ---- constants and scalars -------------------------------------------------- */
static int check_constants(void) {
    int fails = 0;
    mpfr_t a, b, c;
    mpfr_inits(a, b, c, (mpfr_ptr)0);
    ou_ns v4 = {10, 0, OU_EPS_1E7, 0};
    ou_ns_coef(&v4, 1, a, b, c);
    fails += ox_check_bits("a = fp32(3.4445)", ox_round_f32(a), ox_f32_of_text("3.4445"));
    fails += ox_check_bits("b = fp32(-4.7750)", ox_round_f32(b), ox_f32_of_text("-4.7750"));
    fails += ox_check_bits("c = fp32(2.0315)", ox_round_f32(c), ox_f32_of_text("2.0315"));
    ou_ns_coef(&v4, 9, a, b, c);
    fails += ox_check_bits("step 9 a = 2", ox_round_f32(a), 0x40000000u);
    fails += ox_check_bits("step 9 b = -1.5", ox_round_f32(b), 0xBFC00000u);
    fails += ox_check_bits("step 9 c = 0.5", ox_round_f32(c), 0x3F000000u);
    v4.classic = 1;
    ou_ns_coef(&v4, 9, a, b, c);
    fails += ox_check_bits("classic step 9 a", ox_round_f32(a), ox_f32_of_text("3.4445"));
    fails += ox_check_bits("eps = fp32(1e-7)", OU_EPS_1E7, ox_f32_of_text("1e-7"));
    mpfr_clears(a, b, c, (mpfr_ptr)0);

    int inexact = 0;
    ou_muon_hp hp = {0.02, 0.95, 0.1, 0.18, 0, 0, v4};
    ou_muon_k k;
    ou_muon_scalars(&hp, 4, 8, &k);
    fails += ox_check_bits("G2 mu", k.mu, 0x3F733333u);
    fails += check_value("G2 decay", 0, k.decay, "0.998000026", 0, &inexact);
    fails += check_value("G2 sigma 4x8", 0, k.sigma, "0.0101823378", 0, &inexact);
    ou_muon_scalars(&hp, 8, 4, &k);
    fails += check_value("G2 sigma 8x4", 0, k.sigma, "0.0101823378", 0, &inexact);
    ou_muon_scalars(&hp, 6, 6, &k);
    fails += check_value("G2 sigma 6x6", 0, k.sigma, "0.00881816354", 0, &inexact);
    ou_muon_scalars(&hp, 3, 5, &k);
    fails += check_value("G2 sigma 3x5", 0, k.sigma, "0.00804984476", 0, &inexact);
    hp.aspect = 1; /* lr * sqrt(max(1, rows/cols)): 0.02 * sqrt(2) for 8x4, 0.02 for 4x8 */
    ou_muon_scalars(&hp, 8, 4, &k);
    fails += check_value("aspect sigma 8x4", 0, k.sigma, "0.0282842712474619", 0, &inexact);
    ou_muon_scalars(&hp, 4, 8, &k);
    fails += check_value("aspect sigma 4x8", 0, k.sigma, "0.02", 0, &inexact);

    static const char *const steps[3] = {"0.100000001", "0.0526315793", "0.0369003676"};
    static const char *const bc2[3] = {"0.223606795", "0.312249899", "0.377657264"};
    for (long t = 1; t <= 3; t++) {
        ou_adamw_hp ah = {0.01, 0.9, 0.95, 1e-20, 0.1, t};
        ou_adamw_k ak;
        ou_adamw_scalars(&ah, &ak);
        fails += check_value("G3 step size", (size_t)t, ak.step, steps[t - 1], 0, &inexact);
        fails += check_value("G3 sqrt(bc2)", (size_t)t, ak.bc2, bc2[t - 1], 0, &inexact);
        if (t > 1) continue;
        fails += check_value("G3 decay", 0, ak.decay, "0.999000013", 0, &inexact);
        fails += check_value("G3 w1", 0, ak.w1, "0.100000001", 0, &inexact);
        fails += check_value("G3 beta2", 0, ak.beta2, "0.949999988", 0, &inexact);
        fails += check_value("G3 w2", 0, ak.w2, "0.0500000007", 0, &inexact);
        fails += ox_check_bits("G3 eps", ak.eps, ox_f32_of_text("1e-20"));
    }
    return fails;
}

/* ---- eps forms and the step polynomial ----------------------------------------- */
/* |got - want| <= 1e-15 |want| (long double has 64 bits; MPFR 256). */
static int check_close(const char *what, size_t i, const mpfr_t got, long double want) {
    long double g = mpfr_get_ld(got, MPFR_RNDN);
    long double d = g - want;
    if (d < 0) d = -d;
    long double w = want < 0 ? -want : want;
    if (d <= 1e-15L * w || (w == 0 && g == 0)) return 0;
    fprintf(stderr, "selftest FAIL %s[%zu]: got %.18Lg, want %.18Lg\n", what, i, g, want);
    return 1;
}

/* Z = diag-like [[3, 0, 0], [0, 4, 0]] * 2^scale (or its transpose), S steps:
 * X0 = Z / den with den = 5*2^scale + eps or max(5*2^scale, eps), and every
 * step maps each singular value s to a s + b s^3 + c s^5. */
static int check_orthogonal_rows(int eps_max, int tall, int scale, int steps) {
    ou_ns c = {steps, 0, OU_EPS_1E7, eps_max};
    ou_mat x;
    if (ou_mat_init(&x, tall ? 3 : 2, tall ? 2 : 3) != 0) return 1;
    size_t at3 = 0, at4 = tall ? 3 : 4; /* positions of the 3 and the 4 */
    mpfr_set_si_2exp(x.v[at3], 3, scale, MPFR_RNDN);
    mpfr_set_si_2exp(x.v[at4], 4, scale, MPFR_RNDN);
    int fails = ou_ns_run(&c, &x) != 0;
    long double unit = 1.0L, eps = (long double)ox_f32_from_bits(OU_EPS_1E7);
    for (int i = 0; i < scale; i++) unit *= 2.0L;
    for (int i = 0; i > scale; i--) unit /= 2.0L;
    long double den = eps_max ? (5 * unit > eps ? 5 * unit : eps) : 5 * unit + eps;
    long double s[2] = {3 * unit / den, 4 * unit / den};
    for (int k = 1; k <= steps; k++) {
        long double a = k <= 8 ? (long double)ox_f32_from_bits(0x405C72B0u) : 2.0L;
        long double b = k <= 8 ? (long double)ox_f32_from_bits(0xC098CCCDu) : -1.5L;
        long double cc = k <= 8 ? (long double)ox_f32_from_bits(0x40020419u) : 0.5L;
        for (int j = 0; j < 2; j++) {
            long double q = s[j] * s[j];
            s[j] = a * s[j] + b * q * s[j] + cc * q * q * s[j];
        }
    }
    const char *what = eps_max ? "NS orthogonal rows, eps max" : "NS orthogonal rows, eps add";
    for (size_t i = 0; i < 6; i++)
        fails += check_close(what, i, x.v[i], i == at3 ? s[0] : i == at4 ? s[1] : 0.0L);
    ou_mat_clear(&x);
    return fails;
}

static int check_ns(void) {
    int fails = 0;
    /* ||Z||_F = 5*2^-26 ~ 7.5e-8 < eps: the two forms differ by ~2.3x */
    for (int tall = 0; tall < 2; tall++)
        for (int eps_max = 0; eps_max < 2; eps_max++) {
            fails += check_orthogonal_rows(eps_max, tall, -26, 0);
            fails += check_orthogonal_rows(eps_max, tall, -26, 10);
            fails += check_orthogonal_rows(eps_max, tall, 3, 10);
        }
    /* tier of a rank-deficient matrix and of an identity */
    ou_mat z;
    mpfr_t tier, want;
    mpfr_inits(tier, want, (mpfr_ptr)0);
    if (ou_mat_init(&z, 3, 4) != 0) return fails + 1;
    for (size_t j = 0; j < 4; j++) { /* rows 1 and 2 equal: rank 2 */
        mpfr_set_si(z.v[j], (long)j + 1, MPFR_RNDN);
        mpfr_set_si(z.v[4 + j], (long)(j * j) - 2, MPFR_RNDN);
        mpfr_set_si(z.v[8 + j], (long)(j * j) - 2, MPFR_RNDN);
    }
    ou_ns_tier(&z, tier, NULL);
    mpfr_set_str(want, "1e-2", 10, MPFR_RNDN);
    if (!mpfr_equal_p(tier, want)) {
        fprintf(stderr, "selftest FAIL tier of a rank-2 3x4 matrix\n");
        fails++;
    }
    mpfr_set_si(z.v[8], 7, MPFR_RNDN); /* now full rank, well conditioned */
    ou_ns_tier(&z, tier, NULL);
    mpfr_set_str(want, "1e-5", 10, MPFR_RNDN);
    if (!mpfr_equal_p(tier, want)) {
        fprintf(stderr, "selftest FAIL tier of a full-rank 3x4 matrix\n");
        fails++;
    }
    ou_mat_clear(&z);
    mpfr_clears(tier, want, (mpfr_ptr)0);
    return fails;
}

/* ---- G2 and G3 --------------------------------------------------------------- */
/* The values of spec/muon.md §7 carry the optimizer state (W, M; p, m, v)
 * from step to step without rounding, exact to 9 digits, while a golden
 * file of step t starts from the fp32 outputs of step t-1.  So each value is
 * checked twice: the exact-state chain (below, through the same exact
 * functions) must agree with the spec to 1e-8 relative, and the golden
 * fp32 chain must be the fp32 rounding of the spec's value or 1 ulp away
 * (the rounded state moves results by up to about 1 ulp), and O' may move by
 * up to 1e-8 absolute: a relative change of 3e-8 in U (M rounded to fp32)
 * moves p1's step-2 O' by 4e-9, more than an ulp of its small entries. */
static int check_exact(const char *what, size_t i, const mpfr_t got, const char *want) {
    mpfr_t w, d;
    mpfr_inits(w, d, (mpfr_ptr)0);
    mpfr_set_str(w, want, 10, MPFR_RNDN);
    mpfr_sub(d, got, w, MPFR_RNDN);
    mpfr_abs(d, d, MPFR_RNDN);
    mpfr_mul_d(w, w, 1e-8, MPFR_RNDN);
    mpfr_abs(w, w, MPFR_RNDN);
    int bad = mpfr_cmp(d, w) > 0 || !mpfr_number_p(got);
    if (bad) {
        char text[64];
        mpfr_snprintf(text, sizeof text, "%.12Rg", got);
        fprintf(stderr, "selftest FAIL %s[%zu]: exact %s, spec %s\n", what, i, text, want);
    }
    mpfr_clears(w, d, (mpfr_ptr)0);
    return bad;
}

typedef struct g2_row {
    int p, t;
    const char *const *o, *const *w; /* row 0 of O' and of W after step t, or NULL */
} g2_row;

/* One G2 parameter through steps 1..3 with exact state; checks rows[]. */
static int g2_exact_chain(int p, const g2_row *rows, size_t n_rows) {
    size_t r, c;
    ou_g2_shape(p, &r, &c);
    ou_muon_hp hp = {0.02, 0.95, 0.1, 0.18, 0, 0, {10, 0, OU_EPS_1E7, 0}};
    ou_muon_k k;
    ou_muon_scalars(&hp, r, c, &k);
    ou_mat w, m, o;
    uint32_t bits[64];
    if (ou_mat_init(&w, r, c) || ou_mat_init(&m, r, c) || ou_mat_init(&o, r, c)) return 1;
    mpfr_t mu, omm, decay, sigma, g, m1, bm, bu, w1, zero;
    mpfr_inits(mu, omm, decay, sigma, g, m1, bm, bu, w1, zero, (mpfr_ptr)0);
    ox_set_f32_bits(mu, k.mu);
    ox_set_f32_bits(omm, k.one_minus_mu);
    ox_set_f32_bits(decay, k.decay);
    ox_set_f32_bits(sigma, k.sigma);
    mpfr_set_ui(zero, 0, MPFR_RNDN);
    ou_g2_w0(p, bits);
    ou_mat_set_bits(&w, bits);
    int fails = 0;
    for (int t = 1; t <= 3; t++) {
        ou_g2_grad(p, t, bits);
        for (size_t i = 0; i < r * c; i++) { /* M1, M2: o holds U */
            ox_set_f32_bits(g, bits[i]);
            ou_momentum(0, m.v[i], g, mu, omm, m1, o.v[i], bm, bu);
            mpfr_set(m.v[i], m1, MPFR_RNDN);
        }
        fails += ou_ns_run(&hp.ns, &o) != 0;
        for (size_t i = 0; i < r * c; i++) {
            ou_muon_apply(w.v[i], o.v[i], decay, sigma, zero, w1, bm);
            mpfr_set(w.v[i], w1, MPFR_RNDN);
        }
        for (size_t q = 0; q < n_rows; q++) {
            if (rows[q].p != p || rows[q].t != t) continue;
            for (size_t j = 0; j < c; j++) {
                if (rows[q].o) fails += check_exact("G2 exact O' row 0", j, o.v[j], rows[q].o[j]);
                if (rows[q].w) fails += check_exact("G2 exact W row 0", j, w.v[j], rows[q].w[j]);
            }
        }
    }
    mpfr_clears(mu, omm, decay, sigma, g, m1, bm, bu, w1, zero, (mpfr_ptr)0);
    ou_mat_clear(&w);
    ou_mat_clear(&m);
    ou_mat_clear(&o);
    return fails;
}

static int check_g2(int *inexact) {
    static const char *const p0_t1_o[8] = {"0.230871598",  "0.592295866",  "0.177931357",
                                           "-0.241108892", "-0.495823527", "0.217120829",
                                           "-0.141851914", "-0.439413448"};
    static const char *const p0_t1_w[8] = {"-0.314225821", "-0.13078096",   "0.0605632444",
                                           "0.251955059",  "-0.244451364",  "-0.0645857992",
                                           "0.126194387",  "0.316349264"};
    static const char *const p0_t3_w[8] = {"-0.328245932", "-0.131784445", "0.0565029075",
                                           "0.249520195",  "-0.238323293", "-0.0704210048",
                                           "0.120347795",  "0.318779592"};
    static const char *const p1_t1_o[4] = {"0.788362577", "-0.222745081", "0.31871806",
                                           "-0.19825388"};
    static const char *const p1_t2_o[4] = {"0.954201878", "0.0191126945", "1.66207778e-05",
                                           "-0.0696123455"};
    static const char *const p1_t3_w[4] = {"-0.276155499", "-0.0605763429", "0.121495827",
                                           "0.314000823"};
    static const char *const p2_t1_o[6] = {"0.92636412", "-0.235487043", "0.218869799",
                                           "-0.0101688361", "0.09973437", "-0.169802055"};
    static const char *const p3_t1_o[5] = {"0", "0", "0", "0", "0"};
    static const char *const p3_t1_w[5] = {"-0.124750003", "0.0623750016", "0.249500006",
                                           "-0.249500006", "-0.0623750016"};
    static const char *const p3_t23_o[5] = {"0.909810141", "0.150060331", "-0.0897143978",
                                            "-0.318535179", "0.200540899"};
    static const g2_row rows[] = {{0, 1, p0_t1_o, p0_t1_w}, {0, 3, NULL, p0_t3_w},
                                  {1, 1, p1_t1_o, NULL},    {1, 2, p1_t2_o, NULL},
                                  {1, 3, NULL, p1_t3_w},    {2, 1, p2_t1_o, NULL},
                                  {3, 1, p3_t1_o, p3_t1_w}, {3, 2, p3_t23_o, NULL},
                                  {3, 3, p3_t23_o, NULL}};
    const size_t n_rows = sizeof rows / sizeof rows[0];
    int fails = 0;
    for (int p = 0; p < 4; p++) fails += g2_exact_chain(p, rows, n_rows);
    for (size_t q = 0; q < n_rows; q++) {
        uint32_t o[8], w[8];
        size_t cols;
        char name[40];
        if (ou_g2_row0(rows[q].p, rows[q].t, o, w, &cols) != 0) return fails + 1;
        snprintf(name, sizeof name, "G2 p%d t%d O' row 0", rows[q].p, rows[q].t);
        if (rows[q].o) fails += check_row(name, o, rows[q].o, cols, 1, 1e-8, inexact);
        snprintf(name, sizeof name, "G2 p%d t%d W row 0", rows[q].p, rows[q].t);
        if (rows[q].w) fails += check_row(name, w, rows[q].w, cols, 1, 0.0, inexact);
    }
    return fails;
}

static int check_g3(int *inexact) {
    static const char *const want[3][6] = {
        {"-0.509500007", "-0.239750003", "0", "0.239750003", "0.489500006", "0.75925001"},
        {"-0.508464197", "-0.229510256", "0", "0.229510256", "0.482224035", "0.757964454"},
        {"-0.511313673", "-0.224080059", "0", "0.226660823", "0.482600306", "0.760564433"}};
    int fails = 0;
    mpfr_t p[6], m[6], v[6], g, p1, m1, v1, bp, bm, bv;
    for (int i = 0; i < 6; i++) mpfr_inits(p[i], m[i], v[i], (mpfr_ptr)0);
    mpfr_inits(g, p1, m1, v1, bp, bm, bv, (mpfr_ptr)0);
    for (int t = 1; t <= 3; t++) { /* exact-state chain */
        uint32_t p0[6], gb[6];
        ou_adamw_hp hp;
        ou_adamw_k k;
        ou_adamw_kv kv;
        ou_g3_data(t, p0, gb);
        ou_g3_hp(t, &hp);
        ou_adamw_scalars(&hp, &k);
        ou_adamw_kv_init(&kv, &k);
        for (int i = 0; i < 6; i++) {
            if (t == 1) {
                ox_set_f32_bits(p[i], p0[i]);
                mpfr_set_ui(m[i], 0, MPFR_RNDN);
                mpfr_set_ui(v[i], 0, MPFR_RNDN);
            }
            ox_set_f32_bits(g, gb[i]);
            ou_adamw(&kv, p[i], m[i], v[i], g, p1, m1, v1, bp, bm, bv);
            mpfr_set(p[i], p1, MPFR_RNDN);
            mpfr_set(m[i], m1, MPFR_RNDN);
            mpfr_set(v[i], v1, MPFR_RNDN);
            fails += check_exact("G3 exact p", (size_t)(6 * t + i), p[i], want[t - 1][i]);
        }
        ou_adamw_kv_clear(&kv);
    }
    for (int i = 0; i < 6; i++) mpfr_clears(p[i], m[i], v[i], (mpfr_ptr)0);
    mpfr_clears(g, p1, m1, v1, bp, bm, bv, (mpfr_ptr)0);
    for (int t = 1; t <= 3; t++) { /* the golden fp32 chain */
        uint32_t pb[6];
        char name[32];
        if (ou_g3_p(t, pb) != 0) return fails + 1;
        snprintf(name, sizeof name, "G3 p after step %d", t);
        fails += check_row(name, pb, want[t - 1], 6, 1, 0.0, inexact);
    }
    return fails;
}

int ou_selftest(void) {
    int inexact = 0;
    int fails = check_constants() + check_ns() + check_g2(&inexact) + check_g3(&inexact);
    if (inexact)
        fprintf(stderr, "muon selftest: %d golden G2/G3 value(s) 1 ulp from the spec's (allowed)\n",
                inexact);
    return fails;
}
