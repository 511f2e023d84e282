/* test_mhc_bf16.c - hc_pre on bf16 codes (spec/mhc.md §2.1): ref and opt
 * must give, bit for bit, what their fp32 hc_pre gives on the widened x,
 * with y as the codes of that y: every ISA the machine has, 1-3 threads,
 * odd widths, batches that cut chunks and tiles unevenly, NaN, Inf,
 * subnormal and zero codes; and the same status for the same bad input. */
#include "dsv4.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t rng_state = 0x9E3779B97F4A7C15u;
static uint32_t rng32(void) {
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint32_t)(rng_state >> 16);
}
static float uniform(float lo, float hi) {
    return lo + (hi - lo) * (float)(rng32() >> 8) / 16777216.0f;
}
static uint32_t bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}

static void *buf(size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size);
    cr_assert_not_null(p);
    return p;
}

/* One case: x as codes and widened, and outputs of both forms. */
typedef struct bcase {
    dsv4_mhc_cfg cfg;
    size_t T, K, rows;
    uint16_t *xb, *yb;
    float *xf, *fn, *scale, *base;
    float *y, *post, *comb, *r, *mixes, *pre, *logits;         /* fp32 on widened x */
    float *post_b, *comb_b, *r_b, *mixes_b, *pre_b, *logits_b; /* bf16 form */
} bcase;

/* A code of x: mostly values of a residual stream, now and then (when
 * `specials`) NaN, +-Inf, +-0 or a subnormal. */
static uint16_t x_code(int specials) {
    switch (specials ? rng32() % 61 : 99) {
    case 0: return 0x7FC1;                               /* NaN with a payload */
    case 1: return 0xFF80;                               /* -Inf */
    case 2: return 0x8000;                               /* -0 */
    case 3: return (uint16_t)(0x0001 + rng32() % 0x7F); /* subnormal */
    default: return dsv4_bf16_encode(uniform(-3.0f, 3.0f));
    }
}

static bcase make_case(dsv4_mhc_cfg cfg, size_t T, int specials) {
    bcase c = {.cfg = cfg, .T = T, .K = cfg.hc * cfg.d, .rows = (2 + cfg.hc) * cfg.hc};
    size_t hc = cfg.hc, K = c.K, rows = c.rows;
    c.xb = buf(T * K, 2);
    c.yb = buf(T * cfg.d, 2);
    c.xf = buf(T * K, 4);
    c.fn = buf(rows * K, 4);
    c.scale = buf(3, 4);
    c.base = buf(rows, 4);
    for (size_t i = 0; i < T * K; i++) {
        c.xb[i] = x_code(specials && i / K % 5 == 1); /* specials in every fifth token */
        c.xf[i] = dsv4_bf16_decode(c.xb[i]);
    }
    for (size_t i = 0; i < rows * K; i++) c.fn[i] = uniform(-0.02f, 0.02f);
    for (size_t i = 0; i < 3; i++) c.scale[i] = uniform(0.5f, 2.0f);
    for (size_t i = 0; i < rows; i++) c.base[i] = uniform(-1.0f, 1.0f);
    float **outs[] = {&c.y, &c.post, &c.comb, &c.r, &c.mixes, &c.pre, &c.logits,
                      &c.post_b, &c.comb_b, &c.r_b, &c.mixes_b, &c.pre_b, &c.logits_b};
    size_t sizes[] = {T * cfg.d, T * hc, T * hc * hc, T, T * rows, T * hc, T * hc * hc,
                      T * hc, T * hc * hc, T, T * rows, T * hc, T * hc * hc};
    for (size_t i = 0; i < sizeof outs / sizeof outs[0]; i++) *outs[i] = buf(sizes[i], 4);
    return c;
}

static void free_case(bcase *c) {
    void *all[] = {c->xb, c->yb, c->xf, c->fn, c->scale, c->base, c->y, c->post, c->comb,
                   c->r, c->mixes, c->pre, c->logits, c->post_b, c->comb_b, c->r_b,
                   c->mixes_b, c->pre_b, c->logits_b};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

static void same_floats(const char *what, const float *got, const float *want, size_t n,
                        const char *where) {
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(bits(got[i]), bits(want[i]), "%s[%zu] (%s): bf16 form 0x%08x, fp32 0x%08x",
                     what, i, where, bits(got[i]), bits(want[i]));
}

/* Both forms through `impl`, then every output compared. */
static void check(bcase *c, int opt, const char *where) {
    const dsv4_mhc_cfg *cfg = &c->cfg;
    dsv4_hc_pre_stages s = {c->r, c->mixes, c->pre, c->logits};
    dsv4_hc_pre_stages sb = {c->r_b, c->mixes_b, c->pre_b, c->logits_b};
    dsv4_status st = (opt ? dsv4_opt_hc_pre : dsv4_ref_hc_pre)(
        cfg, c->T, c->xf, c->fn, c->scale, c->base, c->y, c->post, c->comb, &s);
    cr_assert_eq(st, DSV4_OK, "%s: fp32 status %d", where, (int)st);
    st = (opt ? dsv4_opt_hc_pre_bf16 : dsv4_ref_hc_pre_bf16)(
        cfg, c->T, c->xb, c->fn, c->scale, c->base, c->yb, c->post_b, c->comb_b, &sb);
    cr_assert_eq(st, DSV4_OK, "%s: bf16 status %d", where, (int)st);
    size_t T = c->T, hc = cfg->hc, d = cfg->d;
    for (size_t i = 0; i < T * d; i++)
        cr_assert_eq(c->yb[i], dsv4_bf16_encode(c->y[i]), "y[%zu] (%s): code 0x%04x, fp32 %a", i,
                     where, c->yb[i], (double)c->y[i]);
    same_floats("post", c->post_b, c->post, T * hc, where);
    same_floats("comb", c->comb_b, c->comb, T * hc * hc, where);
    same_floats("r", c->r_b, c->r, T, where);
    same_floats("mixes", c->mixes_b, c->mixes, T * c->rows, where);
    same_floats("pre", c->pre_b, c->pre, T * hc, where);
    same_floats("logits", c->logits_b, c->logits, T * hc * hc, where);
}

Test(hc_pre_bf16, ref_is_ref_on_widened_x) {
    const dsv4_mhc_cfg cfgs[] = {{4, 37, 20, 1e-6f, 1e-6f}, {2, 5, 3, 1e-6f, 1e-6f},
                                 {1, 16, 20, 1e-6f, 1e-6f}};
    const size_t Ts[] = {1, 3, 65, 130}; /* 65, 130: more than one block of 64 tokens */
    for (size_t ci = 0; ci < sizeof cfgs / sizeof cfgs[0]; ci++)
        for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++) {
            bcase c = make_case(cfgs[ci], Ts[ti], 1);
            char where[64];
            snprintf(where, sizeof where, "ref hc %zu d %zu T %zu", cfgs[ci].hc, cfgs[ci].d,
                     Ts[ti]);
            check(&c, 0, where);
            free_case(&c);
        }
}

Test(hc_pre_bf16, opt_is_opt_on_widened_x_every_isa_and_thread_count, .timeout = 600) {
    /* d = 1029: K = 4116, so segments and 16-lane vectors end unevenly */
    const dsv4_mhc_cfg cfgs[] = {{4, 37, 20, 1e-6f, 1e-6f}, {4, 1029, 20, 1e-6f, 1e-6f},
                                 {3, 100, 7, 1e-6f, 1e-6f}};
    const size_t Ts[] = {1, 4, 5, 17, 64, 130};
    for (int isa = 0; isa < DSV4_ISA_COUNT; isa++) {
        if (!dsv4_isa_supported((dsv4_isa)isa)) continue;
        cr_assert_eq(dsv4_isa_set((dsv4_isa)isa), DSV4_OK);
        for (int threads = 1; threads <= 3; threads++) {
            dsv4_threads_set(threads);
            for (size_t ci = 0; ci < sizeof cfgs / sizeof cfgs[0]; ci++)
                for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++) {
                    bcase c = make_case(cfgs[ci], Ts[ti], ti % 2);
                    char where[96];
                    snprintf(where, sizeof where, "opt %s, %d threads, hc %zu d %zu T %zu",
                             dsv4_isa_name((dsv4_isa)isa), threads, cfgs[ci].hc, cfgs[ci].d,
                             Ts[ti]);
                    check(&c, 1, where);
                    free_case(&c);
                }
        }
    }
}

Test(hc_pre_bf16, v4_flash_width, .timeout = 600) {
    const dsv4_mhc_cfg cfg = DSV4_MHC_V4_FLASH;
    for (int isa = 0; isa < DSV4_ISA_COUNT; isa++) {
        if (!dsv4_isa_supported((dsv4_isa)isa)) continue;
        cr_assert_eq(dsv4_isa_set((dsv4_isa)isa), DSV4_OK);
        dsv4_threads_set(2);
        bcase c = make_case(cfg, 67, 1);
        char where[64];
        snprintf(where, sizeof where, "opt %s, V4-Flash, T 67", dsv4_isa_name((dsv4_isa)isa));
        check(&c, 1, where);
        if (isa == 0) check(&c, 0, "ref, V4-Flash, T 67");
        free_case(&c);
    }
}

Test(hc_pre_bf16, same_status_as_fp32) {
    const dsv4_mhc_cfg good = {4, 8, 20, 1e-6f, 1e-6f}, bad_hc = {0, 8, 20, 1e-6f, 1e-6f};
    const dsv4_mhc_cfg bad_iters = {4, 8, 0, 1e-6f, 1e-6f};
    const dsv4_mhc_cfg huge = {4, SIZE_MAX / 8, 20, 1e-6f, 1e-6f};
    bcase c = make_case(good, 2, 0);
    struct {
        const dsv4_mhc_cfg *cfg;
        size_t T;
        int null_arg; /* 0: none, 1..7: x, fn, scale, base, y, post, comb */
    } cases[] = {{&good, 2, 0}, {&good, 0, 1}, {NULL, 2, 0}, {&bad_hc, 2, 0}, {&bad_iters, 2, 0},
                 {&huge, 2, 0}, {&good, 2, 1}, {&good, 2, 2}, {&good, 2, 3}, {&good, 2, 4},
                 {&good, 2, 5}, {&good, 2, 6}, {&good, 2, 7}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        int n = cases[i].null_arg;
        const float *xf = n == 1 ? NULL : c.xf;
        const uint16_t *xb = n == 1 ? NULL : c.xb;
        const float *fn = n == 2 ? NULL : c.fn, *scale = n == 3 ? NULL : c.scale;
        const float *base = n == 4 ? NULL : c.base;
        float *y = n == 5 ? NULL : c.y, *post = n == 6 ? NULL : c.post;
        float *comb = n == 7 ? NULL : c.comb;
        uint16_t *yb = n == 5 ? NULL : c.yb;
        for (int opt = 0; opt <= 1; opt++) {
            dsv4_status want = (opt ? dsv4_opt_hc_pre : dsv4_ref_hc_pre)(
                cases[i].cfg, cases[i].T, xf, fn, scale, base, y, post, comb, NULL);
            dsv4_status got = (opt ? dsv4_opt_hc_pre_bf16 : dsv4_ref_hc_pre_bf16)(
                cases[i].cfg, cases[i].T, xb, fn, scale, base, yb, post, comb, NULL);
            cr_assert_eq(got, want, "case %zu, %s: bf16 status %d, fp32 %d", i,
                         opt ? "opt" : "ref", (int)got, (int)want);
        }
    }
    free_case(&c);
}

/* ---- hc_post and hc_head ------------------------------------------------------------ */
/* out codes against the codes of the fp32 result; ref and opt. */
static void check_post_head(const dsv4_mhc_cfg *cfg, size_t T, int opt, const char *where) {
    size_t hc = cfg->hc, d = cfg->d, K = hc * d;
    uint16_t *fb = buf(T * d, 2), *xb = buf(T * K, 2), *ob = buf(T * K, 2), *yb = buf(T * d, 2);
    float *ff = buf(T * d, 4), *xf = buf(T * K, 4), *of = buf(T * K, 4), *yf = buf(T * d, 4);
    float *post = buf(T * hc, 4), *comb = buf(T * hc * hc, 4), *fn = buf(hc * K, 4);
    float *base = buf(hc, 4), scale = uniform(0.5f, 2.0f);
    float *r = buf(T, 4), *m = buf(T * hc, 4), *w = buf(T * hc, 4);
    float *rb = buf(T, 4), *mb = buf(T * hc, 4), *wb = buf(T * hc, 4);
    for (size_t i = 0; i < T * d; i++) ff[i] = dsv4_bf16_decode(fb[i] = x_code(i % 7 == 3));
    for (size_t i = 0; i < T * K; i++) xf[i] = dsv4_bf16_decode(xb[i] = x_code(i / K % 3 == 1));
    for (size_t i = 0; i < T * hc; i++) post[i] = uniform(0.0f, 2.0f);
    for (size_t i = 0; i < T * hc * hc; i++) comb[i] = uniform(0.0f, 1.0f);
    for (size_t i = 0; i < hc * K; i++) fn[i] = uniform(-0.02f, 0.02f);
    for (size_t i = 0; i < hc; i++) base[i] = uniform(-1.0f, 1.0f);

    cr_assert_eq((opt ? dsv4_opt_hc_post : dsv4_ref_hc_post)(cfg, T, ff, xf, post, comb, of),
                 DSV4_OK);
    cr_assert_eq((opt ? dsv4_opt_hc_post_bf16 : dsv4_ref_hc_post_bf16)(cfg, T, fb, xb, post,
                                                                       comb, ob),
                 DSV4_OK);
    for (size_t i = 0; i < T * K; i++)
        cr_assert_eq(ob[i], dsv4_bf16_encode(of[i]), "post out[%zu] (%s): code 0x%04x, fp32 %a",
                     i, where, ob[i], (double)of[i]);

    dsv4_hc_head_stages s = {r, m, w}, sb = {rb, mb, wb};
    cr_assert_eq((opt ? dsv4_opt_hc_head : dsv4_ref_hc_head)(cfg, T, xf, fn, &scale, base, yf, &s),
                 DSV4_OK);
    cr_assert_eq((opt ? dsv4_opt_hc_head_bf16 : dsv4_ref_hc_head_bf16)(cfg, T, xb, fn, &scale,
                                                                       base, yb, &sb),
                 DSV4_OK);
    for (size_t i = 0; i < T * d; i++)
        cr_assert_eq(yb[i], dsv4_bf16_encode(yf[i]), "head y[%zu] (%s): code 0x%04x, fp32 %a", i,
                     where, yb[i], (double)yf[i]);
    same_floats("head r", rb, r, T, where);
    same_floats("head mixes", mb, m, T * hc, where);
    same_floats("head w", wb, w, T * hc, where);
    void *all[] = {fb, xb, ob, yb, ff, xf, of, yf, post, comb, fn, base, r, m, w, rb, mb, wb};
    for (size_t i = 0; i < sizeof all / sizeof all[0]; i++) free(all[i]);
}

Test(hc_post_head_bf16, ref_and_opt_are_their_fp32_forms, .timeout = 600) {
    const dsv4_mhc_cfg cfgs[] = {{4, 37, 20, 1e-6f, 1e-6f}, {4, 1029, 20, 1e-6f, 1e-6f},
                                 {3, 100, 7, 1e-6f, 1e-6f}, {4, 4096, 20, 1e-6f, 1e-6f}};
    const size_t Ts[] = {1, 5, 67, 130};
    for (size_t ci = 0; ci < sizeof cfgs / sizeof cfgs[0]; ci++)
        for (size_t ti = 0; ti < sizeof Ts / sizeof Ts[0]; ti++) {
            if (cfgs[ci].d == 4096 && Ts[ti] > 5) continue; /* V4 width: a few tokens suffice */
            char where[96];
            snprintf(where, sizeof where, "ref, hc %zu d %zu T %zu", cfgs[ci].hc, cfgs[ci].d,
                     Ts[ti]);
            check_post_head(&cfgs[ci], Ts[ti], 0, where);
            for (int isa = 0; isa < DSV4_ISA_COUNT; isa++) {
                if (!dsv4_isa_supported((dsv4_isa)isa)) continue;
                cr_assert_eq(dsv4_isa_set((dsv4_isa)isa), DSV4_OK);
                for (int threads = 1; threads <= 3; threads += 2) {
                    dsv4_threads_set(threads);
                    snprintf(where, sizeof where, "opt %s, %d threads, hc %zu d %zu T %zu",
                             dsv4_isa_name((dsv4_isa)isa), threads, cfgs[ci].hc, cfgs[ci].d,
                             Ts[ti]);
                    check_post_head(&cfgs[ci], Ts[ti], 1, where);
                }
            }
        }
}

Test(hc_post_head_bf16, same_status_as_fp32) {
    const dsv4_mhc_cfg good = {4, 8, 20, 1e-6f, 1e-6f}, bad_hc = {0, 8, 20, 1e-6f, 1e-6f};
    const dsv4_mhc_cfg huge = {4, SIZE_MAX / 8, 20, 1e-6f, 1e-6f};
    uint16_t codes[256] = {0};
    float v[256] = {0}, scale = 1.0f;
    const dsv4_mhc_cfg *cfgs[] = {&good, &good, NULL, &bad_hc, &huge};
    const size_t Ts[] = {2, 0, 2, 2, 2};
    for (size_t i = 0; i < sizeof Ts / sizeof Ts[0]; i++)
        for (int null_arg = 0; null_arg <= 6; null_arg++)
            for (int opt = 0; opt <= 1; opt++) {
                const char *who = opt ? "opt" : "ref";
                int n = null_arg;
                dsv4_status want = (opt ? dsv4_opt_hc_post : dsv4_ref_hc_post)(
                    cfgs[i], Ts[i], n == 1 ? NULL : v, n == 2 ? NULL : v, n == 3 ? NULL : v,
                    n == 4 ? NULL : v, n == 5 ? NULL : v);
                dsv4_status got = (opt ? dsv4_opt_hc_post_bf16 : dsv4_ref_hc_post_bf16)(
                    cfgs[i], Ts[i], n == 1 ? NULL : codes, n == 2 ? NULL : codes,
                    n == 3 ? NULL : v, n == 4 ? NULL : v, n == 5 ? NULL : codes);
                cr_assert_eq(got, want, "post case %zu, null %d, %s: %d against %d", i, n, who,
                             (int)got, (int)want);
                want = (opt ? dsv4_opt_hc_head : dsv4_ref_hc_head)(
                    cfgs[i], Ts[i], n == 1 ? NULL : v, n == 2 ? NULL : v, n == 3 ? NULL : &scale,
                    n == 4 ? NULL : v, n == 5 ? NULL : v, NULL);
                got = (opt ? dsv4_opt_hc_head_bf16 : dsv4_ref_hc_head_bf16)(
                    cfgs[i], Ts[i], n == 1 ? NULL : codes, n == 2 ? NULL : v,
                    n == 3 ? NULL : &scale, n == 4 ? NULL : v, n == 5 ? NULL : codes, NULL);
                cr_assert_eq(got, want, "head case %zu, null %d, %s: %d against %d", i, n, who,
                             (int)got, (int)want);
            }
}
