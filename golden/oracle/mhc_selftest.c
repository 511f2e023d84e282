/* mhc_selftest.c - the oracle's mHC arithmetic against the G1 values of
 * spec/mhc.md §10.
 *
 * The spec quotes an independent MPFR program's values of the exact chain
 * (no rounding between stages) to 12 significant digits (fewer for some).
 * The check below chains mhc.c's exact functions the same way and requires
 * agreement to half a unit of the last quoted digit, so a wrong order of
 * indices, a missing eps, post without its factor 2, comb not transposed or
 * a Sinkhorn that ends on a row step fails here.  Then the golden pipeline
 * (each stage from the fp32-rounded previous stage) must stay within 1e-6 of
 * the same values. */
/* stdio.h first: mpfr.h declares mpfr_fprintf only when FILE is known */
#include <stdio.h>

#include "mhc.h"

#include <stdlib.h>
#include <string.h>

static int g_fail;

/* got must equal the decimal text `quoted` to half a unit of its last digit
 * (the quoted value was itself rounded to that digit). */
static void expect_quoted(const char *what, size_t idx, const mpfr_t got, const char *quoted) {
    mpfr_t want, tol, diff;
    mpfr_inits(want, tol, diff, (mpfr_ptr)0);
    mpfr_set_str(want, quoted, 10, MPFR_RNDN);
    const char *dot = strchr(quoted, '.'), *e = strpbrk(quoted, "eE");
    long decimals = 0, exp10 = e ? strtol(e + 1, NULL, 10) : 0;
    if (dot) decimals = (long)((e ? e : quoted + strlen(quoted)) - dot - 1);
    char half[32];
    snprintf(half, sizeof half, "5.01e%ld", exp10 - decimals - 1); /* 0.501 unit */
    mpfr_set_str(tol, half, 10, MPFR_RNDN);
    mpfr_sub(diff, got, want, MPFR_RNDN);
    if (!(mpfr_cmpabs(diff, tol) <= 0)) {
        mpfr_fprintf(stderr, "selftest FAIL mhc G1 %s[%zu]: got %.15Rg, quoted %s\n", what, idx,
                     got, quoted);
        g_fail++;
    }
    mpfr_clears(want, tol, diff, (mpfr_ptr)0);
}

static void expect_list(const char *what, mpfr_t *got, const char *const *quoted,
                        size_t n) {
    for (size_t i = 0; i < n; i++)
        if (quoted[i]) expect_quoted(what, i, got[i], quoted[i]);
}

/* fp32 bits got within abs of the quoted value. */
static void expect_near(const char *what, size_t idx, uint32_t got, const char *quoted,
                        const char *abs) {
    mpfr_t g, want, tol;
    mpfr_inits(g, want, tol, (mpfr_ptr)0);
    ox_set_f32_bits(g, got);
    mpfr_set_str(want, quoted, 10, MPFR_RNDN);
    mpfr_set_str(tol, abs, 10, MPFR_RNDN);
    mpfr_sub(g, g, want, MPFR_RNDN);
    if (!(mpfr_cmpabs(g, tol) <= 0)) {
        fprintf(stderr, "selftest FAIL mhc golden %s[%zu]: 0x%08X not within %s of %s\n", what,
                idx, (unsigned)got, abs, quoted);
        g_fail++;
    }
    mpfr_clears(g, want, tol, (mpfr_ptr)0);
}

/* ---- the quoted values (ASCII minus signs) ------------------------------------------ */
static const char *const r_q[3] = {"1.65357338516", "1.04372434839", "1000.00000126"};
static const char *const pre_q[3][4] = {
    {"0.212665132515", "0.326566716709", "0.439315537284", "0.547120916384"},
    {"0.227770130032", "0.301170796562", "0.42918907744", "0.534543588711"},
    {"0.222701138825", "0.320822300825", "0.437824499114", "0.562177500886"}};
static const char *const post_q[3][4] = {
    {"1.43646215553", "1.60621475658", "0.470666557916", "0.659944092538"},
    {NULL, NULL, NULL, NULL},
    {"1.35835739835", "1.55459972235", "0.53788284274", "0.755081337596"}};
static const char *const mixes0_q[4] = {"-0.117881696403", "0.0524815771657", "0.0121111331921",
                                        "-0.1219187408"};
static const char *const comb_q[3][16] = {
    {"0.992505385097", "0.00379848788218", "0.0101872580651", "0.000443030552959",
     "0.000852527438099", "0.992640898205", "0.0202896268409", "0.0100669373455",
     "0.00663826934915", "0.0035513878596", "0.96952078549", "0.0145267679437",
     "2.81110334345e-06", "8.20104413317e-06", "1.33526671188e-06", "0.974962289183"},
    {"0.998820296249", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     "1.47821012974e-05", NULL, "0.972412383004"},
    {"0.995354148348", NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL,
     NULL, NULL, "0.985243507011"}};
static const char *const rows_q[2][4] = {
    {"1.0069341616", "1.02384998983", "0.994237210643", "0.974974636597"},
    {"1.00696766548", "1.02186115541", "0.998732099539", "0.972435078223"}};
static const char *const cols0_q[4] = {"0.999998992987", "0.999998974991", "0.999999005663",
                                       "0.999999025025"};
static const char *const init0_row3_q[4] = {"1.01873431824e-06", "1.21060885278e-06",
                                            "9.08446349151e-07", "0.916088486576"};
static const char *const y0_q[4] = {"-0.267499562", "-0.0951717447", "-0.387711769",
                                    "0.495334589"};
static const char *const y0_bf16_q[4] = {"-0.267578", "-0.0952148", "-0.388672", "0.496094"};
static const char *const out0_q[4] = {"-3.02439079", "0.0052955887", "3.01907", "-1.08792914"};
static const char *const w0_q[4] = {"0.521007995366", "0.249154056887", "0.723614165102",
                                    "0.609326669711"};

/* Row (by_row) or column sums of a 4x4 matrix. */
static void sums(mpfr_t *c, int by_row, mpfr_t *out) {
    for (size_t a = 0; a < 4; a++) {
        mpfr_set_ui(out[a], 0, MPFR_RNDN);
        for (size_t b = 0; b < 4; b++)
            mpfr_add(out[a], out[a], by_row ? c[a * 4 + b] : c[b * 4 + a], MPFR_RNDN);
    }
}

/* Scratch of the exact chain for one token. */
typedef struct chain {
    om_vec mixes, scale, base, pre, post, c, sum, y, absum, hmix, hscale, hbase, w, out, oabs, s4;
} chain;

#define CHAIN_VECS 16

/* The members of ch with their sizes, in declaration order. */
static void chain_members(chain *ch, om_vec **v, size_t *n) {
    om_vec *all[CHAIN_VECS] = {&ch->mixes, &ch->scale, &ch->base, &ch->pre,   &ch->post, &ch->c,
                               &ch->sum,   &ch->y,     &ch->absum, &ch->hmix, &ch->hscale,
                               &ch->hbase, &ch->w,     &ch->out,  &ch->oabs,  &ch->s4};
    static const size_t sizes[CHAIN_VECS] = {24, 3, 24, 4, 4, 16, 4, 16, 16, 4, 1, 4, 4, 64, 64, 4};
    memcpy(v, all, sizeof all);
    memcpy(n, sizes, sizeof sizes);
}

static int chain_init(chain *ch) {
    om_vec *v[CHAIN_VECS];
    size_t n[CHAIN_VECS];
    chain_members(ch, v, n);
    for (int i = 0; i < CHAIN_VECS; i++)
        if (om_vec_init(v[i], n[i]) != 0) return -1;
    return 0;
}

static void chain_clear(chain *ch) {
    om_vec *v[CHAIN_VECS];
    size_t n[CHAIN_VECS];
    chain_members(ch, v, n);
    for (int i = 0; i < CHAIN_VECS; i++) om_vec_clear(v[i]);
}

/* Token t of G1 through the exact chain, checked against spec/mhc.md §10. */
static void g1_token(chain *ch, const om_gate_in *pre_in, const om_gate_in *head_in,
                     const om_post_in *post_in, size_t t, const mpfr_t eps) {
    const uint32_t *x = &pre_in->x[t * 64];
    mpfr_t r, amag;
    mpfr_inits(r, amag, (mpfr_ptr)0);
    om_rms(x, 64, eps, r);
    expect_quoted("r", t, r, r_q[t]);
    om_mixes(x, pre_in->fn, 24, 64, r, ch->mixes.v, amag);
    if (t == 0) expect_list("mixes", ch->mixes.v, mixes0_q, 4);
    if (t == 2)
        for (size_t m = 0; m < 24; m++)
            if (!mpfr_zero_p(ch->mixes.v[m])) g_fail++, fprintf(stderr, "selftest FAIL mhc G1 "
                                                                        "zero token mixes\n");
    om_split(ch->mixes.v, ch->scale.v, ch->base.v, 4, eps, ch->pre.v, ch->post.v, ch->c.v);
    expect_list("pre", ch->pre.v, pre_q[t], 4);
    expect_list("post", ch->post.v, post_q[t], 4);
    om_sinkhorn_init(ch->c.v, 4, eps, ch->sum.v);
    if (t == 0) expect_list("init row 3", &ch->c.v[12], init0_row3_q, 4);
    om_sinkhorn_rounds(ch->c.v, 4, 19, eps, ch->sum.v);
    expect_list("comb", ch->c.v, comb_q[t], 16);
    if (t < 2) {
        sums(ch->c.v, 1, ch->s4.v);
        expect_list("row sums", ch->s4.v, rows_q[t], 4);
    }
    om_weighted_sum(x, ch->pre.v, 4, 16, ch->y.v, ch->absum.v);
    if (t == 0) {
        sums(ch->c.v, 0, ch->s4.v);
        expect_list("column sums", ch->s4.v, cols0_q, 4);
        expect_list("y", ch->y.v, y0_q, 4);
        for (size_t i = 0; i < 4; i++) {
            const on_format *bf = on_get(ON_BF16);
            mpfr_t b;
            mpfr_init(b);
            ox_set_f32_bits(b, on_decode_f32(bf, on_encode(bf, ch->y.v[i])));
            expect_quoted("bf16(y)", i, b, y0_bf16_q[i]);
            mpfr_clear(b);
        }
        om_post(post_in->f, x, ch->post.v, ch->c.v, 4, 16, ch->out.v, ch->oabs.v);
        expect_list("hc_post out[0]", ch->out.v, out0_q, 4);
    }
    if (t == 2)
        for (size_t i = 0; i < 16; i++)
            if (!mpfr_zero_p(ch->y.v[i])) g_fail++, fprintf(stderr, "selftest FAIL mhc y != 0\n");
    om_mixes(x, head_in->fn, 4, 64, r, ch->hmix.v, amag);
    om_head_weights(ch->hmix.v, ch->hscale.v[0], ch->hbase.v, 4, eps, ch->w.v);
    if (t == 0) expect_list("hc_head w", ch->w.v, w0_q, 4);
    if (t == 2) expect_quoted("hc_head w", 3, ch->w.v[3], "0.500001");
    mpfr_clears(r, amag, (mpfr_ptr)0);
}

/* The golden pipeline (stages from rounded stages) stays within 1e-6. */
static void g1_golden(const om_post_in *post_in) {
    for (size_t t = 0; t < 3; t++)
        for (size_t i = 0; i < 16; i++)
            if (comb_q[t][i]) expect_near("comb", t * 16 + i, post_in->comb[t * 16 + i],
                                          comb_q[t][i], "1e-6");
    for (size_t i = 0; i < 4; i++) {
        expect_near("post", i, post_in->post[i], post_q[0][i], "1e-6");
        expect_near("post", 8 + i, post_in->post[8 + i], post_q[2][i], "1e-6");
    }
}

int om_selftest(void) {
    g_fail = 0;
    om_gate_in pre_in, head_in;
    om_post_in post_in;
    memset(&pre_in, 0, sizeof pre_in);
    memset(&head_in, 0, sizeof head_in);
    memset(&post_in, 0, sizeof post_in);
    chain ch;
    memset(&ch, 0, sizeof ch); /* om_vec_clear accepts never-initialized members */
    mpfr_t eps;
    mpfr_init(eps);
    ox_set_f32_bits(eps, OM_EPS_1E6);
    if (om_g1_hc_pre(&pre_in, 20) || om_g1_hc_head(&head_in) || om_g1_hc_post(&post_in) ||
        chain_init(&ch)) {
        fprintf(stderr, "selftest mhc: out of memory\n");
        g_fail++;
    } else {
        /* fp32(1e-6) is the eps of spec/mhc.md §1 */
        mpfr_t dec;
        mpfr_init(dec);
        mpfr_set_str(dec, "1e-6", 10, MPFR_RNDN);
        if (ox_round_f32(dec) != OM_EPS_1E6) g_fail++, fprintf(stderr, "selftest FAIL eps\n");
        mpfr_clear(dec);
        om_vec_set_bits(&ch.scale, pre_in.scale);
        om_vec_set_bits(&ch.base, pre_in.base);
        om_vec_set_bits(&ch.hscale, head_in.scale);
        om_vec_set_bits(&ch.hbase, head_in.base);
        for (size_t t = 0; t < 3; t++) g1_token(&ch, &pre_in, &head_in, &post_in, t, eps);
        g1_golden(&post_in);
    }
    chain_clear(&ch);
    mpfr_clear(eps);
    om_gate_in_free(&pre_in);
    om_gate_in_free(&head_in);
    om_post_in_free(&post_in);
    return g_fail;
}
