/* test_compare.c - the tolerance rules (tools/compare.c, spec/golden.md
 * §5): bf16_boundary, topk with tie groups, parsing and binding; and the
 * mHC operators of the registry against the shipped golden files
 * (tools/ops_mhc.c). */
#include "cli_call.h"
#include <criterion/criterion.h>

#include "cli.h"
#include "compare.h"
#include "internal.h"
#include "registry.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* ---- helpers -------------------------------------------------------------------- */
static dsv4_tensor f32_tensor(const char *name, float *v, size_t n) {
    dsv4_tensor t;
    memset(&t, 0, sizeof t);
    t.name = (char *)name;
    t.dtype = DSV4_DT_F32;
    t.rank = 1;
    t.shape[0] = n;
    t.nbytes = n * sizeof(float);
    t.data = v;
    return t;
}

static float bits(uint32_t u) { return dsv4_f32_from_bits(u); }

/* A bf16_boundary rule with abs/rel and a bound reference tensor. */
static dsv4_tol_rule bf16_tol(const dsv4_tensor *ref, double abs, double rel) {
    dsv4_tol_rule t;
    memset(&t, 0, sizeof t);
    t.kind = DSV4_TOL_BF16_BOUNDARY;
    t.abs = abs;
    t.rel = rel;
    t.ref = ref->name;
    t.ref_t = ref;
    return t;
}

static dsv4_status parse_tol(const char *text, dsv4_tol_rule *t, char *err, size_t errlen) {
    dsv4_json *j = NULL;
    dsv4_status st = dsv4_json_parse(text, strlen(text), &j, err, errlen);
    if (st == DSV4_OK) st = dsv4_tol_parse(j, t, err, errlen);
    dsv4_json_free(j);
    return st;
}

/* ---- where the first mismatch is ------------------------------------------------------ */
/* The first mismatch is given as a flat index and as coordinates: in a
 * [3, 2, 4] tensor flat index 19 is [2, 0, 3]; a rank-0 tensor gives "[]". */
Test(compare, first_mismatch_coordinates) {
    float exp[24] = {0}, got[24] = {0};
    got[19] = 1.0f;
    got[22] = 1.0f;
    dsv4_tensor e = f32_tensor("s.x", exp, 24), g = f32_tensor("s.x", got, 24);
    e.rank = g.rank = 3;
    e.shape[0] = g.shape[0] = 3;
    e.shape[1] = g.shape[1] = 2;
    e.shape[2] = g.shape[2] = 4;
    dsv4_tol_rule exact = {.kind = DSV4_TOL_EXACT};
    dsv4_cmp r;
    dsv4_compare(&g, &e, &exact, &r);
    cr_expect_eq(r.mismatches, 2);
    cr_expect_eq(r.first_index, 19);
    cr_expect_str_eq(r.first_at, "[2, 0, 3]");
    e.rank = g.rank = 0;
    e.nbytes = g.nbytes = sizeof(float);
    g.data = &got[19];
    dsv4_compare(&g, &e, &exact, &r);
    cr_expect_eq(r.first_index, 0);
    cr_expect_str_eq(r.first_at, "[]");
}

/* ---- bf16_boundary ------------------------------------------------------------------ */
/* bf16 values 1.0 (0x3F80) and 1.0078125 (0x3F81); the rounding boundary
 * between them is 1.00390625 (fp32 0x3F808000). */
#define BF_ONE 0x3F800000u
#define BF_NEXT 0x3F810000u
#define BOUNDARY 0x3F808000u

Test(bf16_boundary, one_ulp_across_a_boundary_passes_only_near_it) {
    /* exact value 2^-20 below the boundary: bf16(e) = 1.0 */
    float e[1] = {bits(BOUNDARY - 8)}, exp[1] = {bits(BF_ONE)}, got[1] = {bits(BF_NEXT)};
    dsv4_tensor te = f32_tensor("s.y_f32", e, 1), tx = f32_tensor("s.y", exp, 1);
    dsv4_tensor tg = f32_tensor("s.y", got, 1);
    dsv4_cmp r;
    /* the boundary is 8 fp32 ulps (2^-20) away: a tolerance of 2^-19 reaches it */
    dsv4_tol_rule near = bf16_tol(&te, ldexp(1.0, -19), 0.0);
    dsv4_compare(&tg, &tx, &near, &r);
    cr_expect(dsv4_cmp_passed(&r), "one ulp across a boundary within tol must pass");
    cr_expect_float_eq(r.max_ulps, 1.0, 1e-12);
    /* a tolerance of 2^-21 does not reach it */
    dsv4_tol_rule far = bf16_tol(&te, ldexp(1.0, -21), 0.0);
    dsv4_compare(&tg, &tx, &far, &r);
    cr_expect_eq(r.mismatches, 1);
    cr_expect_eq(r.first_index, 0);
    /* the rounding of the exact value itself always passes */
    dsv4_compare(&tx, &tx, &far, &r);
    cr_expect(dsv4_cmp_passed(&r));
    /* plain abs_rel with that tolerance would reject one bf16 ulp */
    dsv4_tol_rule plain = {.kind = DSV4_TOL_ABS_REL, .abs = ldexp(1.0, -19)};
    dsv4_compare(&tg, &tx, &plain, &r);
    cr_expect_eq(r.mismatches, 1);
}

Test(bf16_boundary, two_ulps_never_pass_within_a_small_tol) {
    float e[1] = {bits(BOUNDARY - 8)}, exp[1] = {bits(BF_ONE)}, got[1] = {bits(0x3F820000u)};
    float below[1] = {bits(0x3F7F0000u)};
    dsv4_tensor te = f32_tensor("r", e, 1), tx = f32_tensor("y", exp, 1);
    dsv4_tensor tg = f32_tensor("y", got, 1), tb = f32_tensor("y", below, 1);
    dsv4_tol_rule t = bf16_tol(&te, ldexp(1.0, -19), 0.0);
    dsv4_cmp r;
    dsv4_compare(&tg, &tx, &t, &r);
    cr_expect_eq(r.mismatches, 1);
    cr_expect_float_eq(r.max_ulps, 2.0, 1e-12);
    /* one ulp the other way is not across the boundary near e */
    dsv4_compare(&tb, &tx, &t, &r);
    cr_expect_eq(r.mismatches, 1);
}

Test(bf16_boundary, got_must_be_a_bf16_value) {
    float e[1] = {bits(BF_ONE)}, exp[1] = {bits(BF_ONE)}, got[1] = {bits(BF_ONE + 1)};
    dsv4_tensor te = f32_tensor("r", e, 1), tx = f32_tensor("y", exp, 1);
    dsv4_tensor tg = f32_tensor("y", got, 1);
    dsv4_tol_rule t = bf16_tol(&te, 0.5, 0.0); /* a huge tolerance does not excuse fp32 output */
    dsv4_cmp r;
    dsv4_compare(&tg, &tx, &t, &r);
    cr_expect_eq(r.mismatches, 1);
}

Test(bf16_boundary, nan_and_inf) {
    /* e:   NaN   +Inf  -Inf  near bf16 max (rounds up to Inf with tol)  1 */
    float e[5] = {NAN, INFINITY, -INFINITY, bits(0x7F7F7FFFu), 1.0f};
    float exp[5] = {bits(0x7FC00000u), INFINITY, -INFINITY, bits(0x7F7F0000u), 1.0f};
    float got[5] = {bits(0xFFC00000u), INFINITY, -INFINITY, INFINITY, 1.0f};
    dsv4_tensor te = f32_tensor("r", e, 5), tx = f32_tensor("y", exp, 5);
    dsv4_tensor tg = f32_tensor("y", got, 5);
    dsv4_tol_rule t = bf16_tol(&te, 0.0, ldexp(1.0, -10));
    dsv4_cmp r;
    dsv4_compare(&tg, &tx, &t, &r);
    cr_expect(dsv4_cmp_passed(&r), "%zu mismatches, first %zu", r.mismatches, r.first_index);
    got[0] = 1.0f; /* a number where NaN is expected */
    dsv4_compare(&tg, &tx, &t, &r);
    cr_expect_eq(r.mismatches, 1);
    got[0] = NAN;
    got[4] = NAN; /* NaN where a number is expected */
    dsv4_compare(&tg, &tx, &t, &r);
    cr_expect_eq(r.first_index, 4);
    got[4] = 1.0f;
    got[1] = -INFINITY; /* the wrong infinity */
    dsv4_compare(&tg, &tx, &t, &r);
    cr_expect_eq(r.first_index, 1);
    got[1] = INFINITY;
    t.rel = 0.0; /* without tolerance, bf16 max does not round to Inf */
    dsv4_compare(&tg, &tx, &t, &r);
    cr_expect_eq(r.first_index, 3);
}

Test(bf16_boundary, per_element_tolerance_tensor_and_subnormals) {
    /* element 0: tol reaches the boundary; element 1: zero tol, exact rounding;
     * element 2: bf16 subnormals (spacing 2^-133) */
    float e[3] = {bits(BOUNDARY + 8), 2.0f, bits(0x00018000u)};
    float exp[3] = {bits(BF_NEXT), 2.0f, bits(0x00020000u)};
    float got[3] = {bits(BF_ONE), 2.0f, bits(0x00010000u)};
    float tol[3] = {bits(0x35000000u) /* 2^-21 */, 0.0f, bits(0x00000001u)};
    dsv4_tensor te = f32_tensor("s.y_f32", e, 3), tx = f32_tensor("s.y", exp, 3);
    dsv4_tensor tg = f32_tensor("s.y", got, 3), tt = f32_tensor("s.y_tol", tol, 3);
    dsv4_tol_rule t = bf16_tol(&te, 0.0, 0.0);
    t.tol = "s.y_tol";
    t.tol_t = &tt;
    dsv4_cmp r;
    dsv4_compare(&tg, &tx, &t, &r);
    /* 0: 8 fp32 ulps = 2^-20 above the boundary, tol 2^-21: fails;
     * 2: e is the exact midpoint 3*2^-134 (a tie, rounds to even 0x0002); the
     *    tol of one fp32 subnormal reaches below it, so 0x0001 passes */
    cr_expect_eq(r.mismatches, 1);
    cr_expect_eq(r.first_index, 0);
    tol[0] = bits(0x35800000u); /* 2^-20: now exactly at the boundary, a tie to even 1.0 */
    dsv4_compare(&tg, &tx, &t, &r);
    cr_expect(dsv4_cmp_passed(&r), "first %zu", r.first_index);
    /* unbound or mis-sized tensors are layout errors, never a silent pass */
    t.tol_t = NULL;
    dsv4_compare(&tg, &tx, &t, &r);
    cr_expect(!r.layout_ok && strstr(r.reason, "not bound"), "%s", r.reason);
    tt.shape[0] = 2;
    tt.nbytes = 8;
    t.tol_t = &tt;
    dsv4_compare(&tg, &tx, &t, &r);
    cr_expect(!r.layout_ok && strstr(r.reason, "size"), "%s", r.reason);
}

/* ---- topk ------------------------------------------------------------------------------ */
/* Index lists [rows, k] as I32 and scores [rows, n] as F32. */
static dsv4_tensor i32_tensor(const char *name, int32_t *v, size_t rows, size_t k) {
    dsv4_tensor t;
    memset(&t, 0, sizeof t);
    t.name = (char *)name;
    t.dtype = DSV4_DT_I32;
    t.rank = 2;
    t.shape[0] = rows;
    t.shape[1] = k;
    t.nbytes = rows * k * sizeof(int32_t);
    t.data = v;
    return t;
}

static dsv4_tol_rule topk_rule(const dsv4_tensor *scores, dsv4_ties ties) {
    dsv4_tol_rule r = {.kind = DSV4_TOL_TOPK, .ties = ties};
    r.scores = scores->name;
    r.scores_t = scores;
    return r;
}

/* Row 0 scores: entries 1, 3 and 4 tie at 0.5 below entry 2 (0.75); row 1
 * has no tie and only 3 visible entries (-1 padding). */
static float topk_scores[2 * 6] = {0.25f, 0.5f, 0.75f, 0.5f, 0.5f, 0.125f,
                                   0.25f, 0.5f, 0.75f, -INFINITY, -INFINITY, -INFINITY};

Test(topk, tie_groups_may_be_ordered_and_chosen_freely_when_unspecified) {
    int32_t gold[2 * 4] = {2, 1, 3, 4, 2, 1, 0, -1};
    dsv4_tensor sc = f32_tensor("idx.scores", topk_scores, 12);
    sc.rank = 2;
    sc.shape[0] = 2;
    sc.shape[1] = 6;
    dsv4_tensor g = i32_tensor("topk.idx", gold, 2, 4);
    dsv4_tol_rule any = topk_rule(&sc, DSV4_TIES_UNSPECIFIED);
    dsv4_tol_rule lower = topk_rule(&sc, DSV4_TIES_LOWER_INDEX);
    dsv4_cmp r;
    /* the tied 0.5s in another order: passes only when ties are unspecified */
    int32_t swapped[8] = {2, 4, 1, 3, 2, 1, 0, -1};
    dsv4_tensor c = i32_tensor("topk.idx", swapped, 2, 4);
    dsv4_compare(&c, &g, &any, &r);
    cr_expect(dsv4_cmp_passed(&r), "first %zu", r.first_index);
    cr_expect_eq(r.tie_rows, 1);
    dsv4_compare(&c, &g, &lower, &r);
    cr_expect_eq(r.mismatches, 3);
    /* the golden file itself passes either way, with no row counted as a tie */
    dsv4_compare(&g, &g, &any, &r);
    cr_expect(dsv4_cmp_passed(&r) && r.tie_rows == 0);
    /* choosing differently among the tied entries at the boundary is fine
     * too (k = 3 keeps two of the three 0.5s) */
    int32_t g3[2 * 3] = {2, 1, 3, 2, 1, 0}, c3[2 * 3] = {2, 4, 1, 2, 1, 0};
    dsv4_tensor G3 = i32_tensor("t", g3, 2, 3), C3 = i32_tensor("t", c3, 2, 3);
    dsv4_compare(&C3, &G3, &any, &r);
    cr_expect(dsv4_cmp_passed(&r), "first %zu", r.first_index);
}

Test(topk, what_ties_do_not_excuse) {
    int32_t gold[8] = {2, 1, 3, 4, 2, 1, 0, -1};
    dsv4_tensor sc = f32_tensor("s", topk_scores, 12);
    sc.rank = 2;
    sc.shape[0] = 2;
    sc.shape[1] = 6;
    dsv4_tensor g = i32_tensor("t", gold, 2, 4);
    dsv4_tol_rule any = topk_rule(&sc, DSV4_TIES_UNSPECIFIED);
    dsv4_cmp r;
    static const struct {
        int32_t c[8];
        size_t first;
        const char *why;
    } bad[] = {
        {{1, 2, 3, 4, 2, 1, 0, -1}, 0, "a tied entry ahead of a higher score"},
        {{2, 1, 1, 4, 2, 1, 0, -1}, 2, "the same entry twice"},
        {{2, 1, 3, 5, 2, 1, 0, -1}, 3, "a lower score in place of a tie"},
        {{2, 1, 3, 4, 2, 1, 0, 3}, 7, "an entry where the golden list pads with -1"},
        {{2, 1, 3, 4, 2, 1, -1, -1}, 6, "padding where an entry is due"},
        {{2, 1, 3, 6, 2, 1, 0, -1}, 3, "an index past the scores"},
        {{2, 1, 3, -7, 2, 1, 0, -1}, 3, "a negative index other than -1 in place of an entry"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int32_t c[8];
        memcpy(c, bad[i].c, sizeof c);
        dsv4_tensor t = i32_tensor("t", c, 2, 4);
        dsv4_compare(&t, &g, &any, &r);
        cr_expect(r.mismatches > 0 && r.first_index == bad[i].first, "%s: %zu mismatches, first %zu",
                  bad[i].why, r.mismatches, r.first_index);
    }
    /* scores whose leading dimensions differ from the indices' are a layout error */
    sc.shape[0] = 3;
    sc.shape[1] = 4;
    dsv4_compare(&g, &g, &any, &r);
    cr_expect(!r.layout_ok && strstr(r.reason, "topk"), "%s", r.reason);
}

/* NaN scores rank above every number and tie among themselves
 * (spec/indexer.md §4.4): the golden list itself passes, another order of
 * the NaN entries passes as a tie, a number in place of a NaN does not. */
Test(topk, nan_scores_tie_among_themselves) {
    float s[6] = {0.5f, NAN, 0.25f, NAN, 0.75f, 0.125f};
    dsv4_tensor sc = f32_tensor("s", s, 6);
    sc.rank = 2;
    sc.shape[0] = 1;
    sc.shape[1] = 6;
    int32_t gold[3] = {1, 3, 4}, other[3] = {3, 1, 4}, bad[3] = {1, 4, 3};
    dsv4_tensor g = i32_tensor("t", gold, 1, 3), o = i32_tensor("t", other, 1, 3);
    dsv4_tensor b = i32_tensor("t", bad, 1, 3);
    dsv4_tol_rule any = topk_rule(&sc, DSV4_TIES_UNSPECIFIED);
    dsv4_cmp r;
    dsv4_compare(&g, &g, &any, &r);
    cr_expect(dsv4_cmp_passed(&r) && r.tie_rows == 0 && r.max_abs == 0.0, "first %zu, max %g",
              r.first_index, r.max_abs);
    dsv4_compare(&o, &g, &any, &r);
    cr_expect(dsv4_cmp_passed(&r) && r.tie_rows == 1, "first %zu", r.first_index);
    dsv4_compare(&b, &g, &any, &r);
    cr_expect_eq(r.mismatches, 2);
    cr_expect_eq(r.first_index, 1);
}

/* ---- parsing and binding -------------------------------------------------------------------- */
Test(tolerance, parse_format_json_round_trip) {
    static const char *const texts[] = {
        "{\"kind\":\"bf16_boundary\",\"tol\":\"post.out_tol\",\"ref\":\"post.out_f32\"}",
        "{\"kind\":\"bf16_boundary\",\"abs\":1e-05,\"rel\":0.5,\"ref\":\"a.b_f32\"}",
        "{\"kind\":\"abs_rel\",\"abs\":1e-05,\"rel\":0}",
        "{\"kind\":\"exact\"}",
        "{\"kind\":\"topk\",\"scores\":\"score.s\",\"ties\":\"unspecified\"}",
        "{\"kind\":\"topk\",\"scores\":\"score.s\",\"ties\":\"lower_index\"}",
    };
    static const char *const shown[] = {"bf16b:post.out_tol",    "bf16b:abs=1e-05,rel=0.5",
                                        "abs=1e-05,rel=0",       "exact",
                                        "topk:ties-unspecified", "topk:lower_index"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        dsv4_tol_rule t, u;
        char err[160], buf[64];
        cr_assert_eq(parse_tol(texts[i], &t, err, sizeof err), DSV4_OK, "%s", err);
        dsv4_tol_format(&t, buf, sizeof buf);
        cr_expect_str_eq(buf, shown[i]);
        dsv4_sbuf b = {0};
        dsv4_tol_json(&t, &b);
        cr_expect_str_eq(b.buf, texts[i]);
        cr_assert_eq(parse_tol(b.buf, &u, err, sizeof err), DSV4_OK, "%s: %s", b.buf, err);
        dsv4_tol_format(&u, buf, sizeof buf);
        cr_expect_str_eq(buf, shown[i], "%s", b.buf);
        dsv4_sbuf_free(&b);
        dsv4_tol_free(&t);
        dsv4_tol_free(&u);
    }
}

Test(tolerance, malformed_tolerances_are_rejected) {
    static const char *const bad[] = {
        "{\"kind\":\"bf16_boundary\",\"abs\":1,\"rel\":0}",         /* no ref */
        "{\"kind\":\"bf16_boundary\",\"ref\":\"x\"}",               /* neither tol nor abs/rel */
        "{\"kind\":\"bf16_boundary\",\"ref\":\"\",\"tol\":\"t\"}", /* empty name */
        "{\"kind\":\"bf16_boundary\",\"ref\":7,\"tol\":\"t\"}",
        "{\"kind\":\"abs_rel\",\"abs\":-1,\"rel\":0}",
        "{\"kind\":\"abs_rel\",\"abs\":1}",
        "{\"kind\":\"topk\",\"ties\":\"unspecified\"}",            /* no scores */
        "{\"kind\":\"topk\",\"scores\":\"s\"}",                    /* no ties */
        "{\"kind\":\"topk\",\"scores\":\"s\",\"ties\":\"any\"}",
        "{\"kind\":\"per_output\",\"outputs\":{}}",                  /* format v1 only */
        "{\"kind\":\"bf16\"}",
        "{}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        dsv4_tol_rule t;
        char err[160] = "";
        cr_expect_neq(parse_tol(bad[i], &t, err, sizeof err), DSV4_OK, "accepted %s", bad[i]);
        cr_expect(err[0], "no reason for %s", bad[i]);
    }
}

Test(tolerance, bind_resolves_names_within_a_call) {
    float y[2] = {1.0f, 2.0f}, yf[2] = {1.0f, 2.0f};
    dsv4_st gold = {0};
    size_t n = 2;
    cr_assert_eq(dsv4_st_add(&gold, "step1.s.y", DSV4_DT_F32, 1, &n, y), DSV4_OK);
    cr_assert_eq(dsv4_st_add(&gold, "step1.s.y_f32", DSV4_DT_F32, 1, &n, yf), DSV4_OK);
    dsv4_tol_rule t;
    char err[200];
    cr_assert_eq(parse_tol("{\"kind\":\"bf16_boundary\",\"abs\":0,\"rel\":0,\"ref\":\"s.y_f32\"}",
                           &t, err, sizeof err),
                 DSV4_OK, "%s", err);
    /* the name is looked up within the call's prefix */
    cr_expect_neq(dsv4_tol_bind(&t, &gold, "", err, sizeof err), DSV4_OK);
    cr_expect(strstr(err, "s.y_f32"), "%s", err);
    cr_assert_eq(dsv4_tol_bind(&t, &gold, "step1.", err, sizeof err), DSV4_OK, "%s", err);
    float gy[2] = {1.0f, 2.015625f};
    dsv4_tensor tgy = f32_tensor("step1.s.y", gy, 2);
    dsv4_cmp r;
    dsv4_compare(&tgy, dsv4_st_find(&gold, "step1.s.y"), &t, &r);
    cr_expect_eq(r.mismatches, 1);
    cr_expect_eq(r.first_index, 1);
    dsv4_tol_free(&t);
    dsv4_st_free(&gold);
}

/* ---- the mHC operators on the shipped golden files ---------------------------------- */

static const char *golden_dir(void) {
    const char *d = getenv("DSV4_GOLDEN_DIR");
    return d && *d ? d : "golden";
}

static void golden_path(char *buf, size_t len, const char *file) {
    snprintf(buf, len, "%s/%s", golden_dir(), file);
}

#define N_MHC_FILES 17
static const char *const mhc_files[N_MHC_FILES] = {
    "hc_pre.g1.safetensors",          "hc_pre.random_d64.safetensors",
    "hc_pre.odd_d.safetensors",       "hc_pre.adversarial.safetensors",
    "hc_pre.iters_1.safetensors",     "hc_pre.iters_2.safetensors",
    "hc_pre.flash_d4096.safetensors", "sinkhorn.random.safetensors",
    "sinkhorn.peaked.safetensors",    "sinkhorn.underflow.safetensors",
    "sinkhorn.iters_1.safetensors",   "sinkhorn.iters_2.safetensors",
    "sinkhorn.nonfinite.safetensors", "hc_post.random.safetensors",
    "hc_post.g1.safetensors",         "hc_head.g1.safetensors",
    "hc_head.random.safetensors"};

Test(mhc_ops, verify_every_golden_file_every_isa_and_thread_count, .timeout = 240) {
    static char paths[N_MHC_FILES][256];
    char *argv[N_MHC_FILES + 2] = {"verify"};
    for (int i = 0; i < N_MHC_FILES; i++) {
        golden_path(paths[i], sizeof paths[i], mhc_files[i]);
        argv[i + 1] = paths[i];
    }
    for (int isa = 0; isa < DSV4_ISA_COUNT; isa++) {
        if (!dsv4_isa_supported((dsv4_isa)isa)) continue;
        cr_assert_eq(dsv4_isa_set((dsv4_isa)isa), DSV4_OK);
        for (int th = 1; th <= 3; th++) {
            cr_assert_eq(dsv4_threads_set(th), DSV4_OK);
            result r;
            FILE *out = open_memstream(&r.out, &r.out_len), *err = open_memstream(&r.err, &r.err_len);
            r.rc = dsv4_cli_verify(N_MHC_FILES + 1, argv, out, err);
            fclose(out);
            fclose(err);
            cr_expect_eq(r.rc, 0, "isa %d threads %d:\n%s", isa, th, r.out);
            /* hc_pre 7 x 5 stages, sinkhorn 6 x 2, hc_post 2 x 1, hc_head 2 x 4 = 57
             * stages, x 2 impls x 2 modes */
            cr_expect(strstr(r.out, "verify: 228 passed, 0 failed"), "%s", r.out);
            result_free(&r);
        }
    }
}

/* A copy of a golden file with element `index` of tensor `name` replaced. */
static void write_candidate(const char *gold_file, const char *name, size_t index, uint32_t v,
                            const char *out_path) {
    char path[256], err[200];
    golden_path(path, sizeof path, gold_file);
    dsv4_st st = {0};
    cr_assert_eq(dsv4_st_read(path, &st, err, sizeof err), DSV4_OK, "%s", err);
    dsv4_tensor *t = NULL;
    for (size_t i = 0; i < st.n_tensors; i++)
        if (strcmp(st.tensors[i].name, name) == 0) t = &st.tensors[i];
    cr_assert(t && index < dsv4_tensor_numel(t));
    memcpy((unsigned char *)t->data + 4 * index, &v, 4);
    cr_assert_eq(dsv4_st_write(out_path, &st), DSV4_OK);
    dsv4_st_free(&st);
}

static uint32_t golden_word(const char *gold_file, const char *name, size_t index) {
    char path[256], err[200];
    golden_path(path, sizeof path, gold_file);
    dsv4_st st = {0};
    cr_assert_eq(dsv4_st_read(path, &st, err, sizeof err), DSV4_OK, "%s", err);
    const dsv4_tensor *t = dsv4_st_find(&st, name);
    cr_assert(t && index < dsv4_tensor_numel(t));
    uint32_t v;
    memcpy(&v, (const unsigned char *)t->data + 4 * index, 4);
    dsv4_st_free(&st);
    return v;
}

Test(mhc_ops, check_names_the_stage_of_a_planted_bf16_error) {
    char gold[256], cand[] = "/tmp/dsv4_test_compare_XXXXXX";
    int fd = mkstemp(cand);
    cr_assert(fd >= 0);
    close(fd);
    golden_path(gold, sizeof gold, "hc_pre.g1.safetensors");
    /* the golden file itself conforms */
    result r = call(dsv4_cli_check, "check", gold, "--golden", gold, NULL);
    cr_expect_eq(r.rc, 0, "%s%s", r.out, r.err);
    result_free(&r);
    /* y[0] = -0.267578125 (bf16 0xBE89), exact -0.267499566: far from a
     * boundary relative to its tolerance, so one bf16 ulp off must fail */
    uint32_t y0 = golden_word("hc_pre.g1.safetensors", "weighted_sum.y", 0);
    cr_assert_eq(y0, 0xBE890000u);
    write_candidate("hc_pre.g1.safetensors", "weighted_sum.y", 0, y0 + 0x10000u, cand);
    r = call(dsv4_cli_check, "check", cand, "--golden", gold, NULL);
    cr_expect_eq(r.rc, 1, "%s", r.out);
    cr_expect(strstr(r.out, "first divergence: stage weighted_sum"), "%s", r.out);
    result_free(&r);
    /* a comb entry off by 1e-3 fails the sinkhorn stage (tolerance ~3e-4) */
    uint32_t c0 = golden_word("hc_pre.g1.safetensors", "sinkhorn.comb", 0);
    write_candidate("hc_pre.g1.safetensors", "sinkhorn.comb", 0, c0 - 0x2000u, cand);
    r = call(dsv4_cli_check, "check", cand, "--golden", gold, NULL);
    cr_expect_eq(r.rc, 1, "%s", r.out);
    cr_expect(strstr(r.out, "first divergence: stage sinkhorn"), "%s", r.out);
    result_free(&r);
    remove(cand);
}

Test(mhc_ops, config_validation) {
    const dsv4_op *op = dsv4_op_find("hc_pre");
    cr_assert(op);
    dsv4_opcfg cfg;
    char err[256];
    cr_expect_eq(dsv4_op_configure(op, "{\"hc\":0}", &cfg, err, sizeof err), DSV4_E_ARG);
    cr_expect_eq(dsv4_op_configure(op, "{\"d\":0}", &cfg, err, sizeof err), DSV4_E_ARG);
    cr_expect_eq(dsv4_op_configure(op, "{\"sinkhorn_iters\":0}", &cfg, err, sizeof err),
                 DSV4_E_ARG);
    cr_expect_eq(dsv4_op_configure(op, "{\"hc_eps\":-1e-6}", &cfg, err, sizeof err), DSV4_E_ARG);
    cr_expect_eq(dsv4_op_configure(op, "{\"norm_eps\":\"x\"}", &cfg, err, sizeof err),
                 DSV4_E_ARG);
    cr_expect_eq(dsv4_op_configure(op, "{\"norm_eps\":1e300}", &cfg, err, sizeof err),
                 DSV4_E_ARG);
    cr_expect_eq(dsv4_op_configure(op, "{\"hc\":4,\"d\":16,\"hc_eps\":0}", &cfg, err, sizeof err),
                 DSV4_OK, "%s", err);
    const dsv4_mhc_cfg *p = cfg.params;
    cr_expect_eq(p->d, 16);
    cr_expect_eq(p->sinkhorn_iters, 20);
    cr_expect_eq(dsv4_f32_bits(p->norm_eps), 0x358637BDu); /* fp32(1e-6) */
    cr_expect_eq(p->hc_eps, 0.0f);
    dsv4_opcfg_free(&cfg);
    const dsv4_op *sk = dsv4_op_find("sinkhorn");
    cr_assert(sk);
    cr_expect_eq(dsv4_op_configure(sk, "{\"iters\":0}", &cfg, err, sizeof err), DSV4_E_ARG);
    cr_expect_eq(dsv4_op_configure(sk, "{\"n\":1,\"iters\":1,\"eps\":0.5}", &cfg, err, sizeof err),
                 DSV4_OK, "%s", err);
    dsv4_opcfg_free(&cfg);
}

/* Stage inputs whose shapes disagree with the config are errors, not reads
 * out of bounds. */
Test(mhc_ops, stage_rejects_mismatched_shapes) {
    const dsv4_op *op = dsv4_op_find("hc_pre");
    dsv4_opcfg cfg;
    char err[256];
    cr_assert_eq(dsv4_op_configure(op, "{\"hc\":4,\"d\":16}", &cfg, err, sizeof err), DSV4_OK);
    float x[3 * 4 * 8] = {0};
    size_t sx[3] = {3, 4, 8}, sr[1] = {3};
    dsv4_st src = {0}, dst = {0};
    dsv4_binding b = {0};
    dsv4_view v = {0};
    dsv4_view_add(&v, &src, "");
    /* in.x with d = 8 where the config says 16 */
    cr_assert_eq(dsv4_st_add(&src, "in.x", DSV4_DT_F32, 3, sx, x), DSV4_OK);
    cr_expect_eq(dsv4_call_bind(&cfg, &v, &b, err, sizeof err), DSV4_E_DTYPE);
    cr_expect(strstr(err, "in.x") && strstr(err, "expected d = 16"), "%s", err);
    dsv4_bind_free(&b);
    dsv4_st_free(&src);
    size_t sx2[3] = {2, 4, 16}, sfn[2] = {24, 64}, s3[1] = {3}, s24[1] = {24};
    float x2[2 * 64] = {0}, fn[24 * 64] = {0}, sc[3] = {0}, base[24] = {0};
    cr_assert_eq(dsv4_st_add(&src, "in.x", DSV4_DT_F32, 3, sx2, x2), DSV4_OK);
    cr_assert_eq(dsv4_st_add(&src, "in.fn", DSV4_DT_F32, 2, sfn, fn), DSV4_OK);
    cr_assert_eq(dsv4_st_add(&src, "in.scale", DSV4_DT_F32, 1, s3, sc), DSV4_OK);
    cr_assert_eq(dsv4_st_add(&src, "in.base", DSV4_DT_F32, 1, s24, base), DSV4_OK);
    cr_assert_eq(dsv4_call_bind(&cfg, &v, &b, err, sizeof err), DSV4_OK, "%s", err);
    /* r for 3 tokens, x has 2 */
    float r3[3] = {1.0f, 1.0f, 1.0f};
    cr_assert_eq(dsv4_st_add(&src, "rms.r", DSV4_DT_F32, 1, sr, r3), DSV4_OK);
    cr_expect_eq(dsv4_op_run_stage(&cfg, 1, DSV4_IMPL_OPT, 0, &v, &b, &dst, "", err, sizeof err),
                 DSV4_E_DTYPE);
    cr_expect(strstr(err, "rms.r") && strstr(err, "expected T = 2"), "%s", err);
    cr_expect_eq(dst.n_tensors, 0);
    dsv4_bind_free(&b);
    dsv4_st_free(&src);
    dsv4_st_free(&dst);
    dsv4_opcfg_free(&cfg);
}
