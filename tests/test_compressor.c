/* test_compressor.c - the KV compressor (spec/compressor.md): prefill, decode
 * and chunked calls give the same entries; each stage against a direct
 * computation from its definition; opt against ref on every ISA and thread
 * count; the trap tests of §9; bad input; NaN. */
#include <criterion/criterion.h>

#include "internal.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

/* ---- a small configuration and deterministic data --------------------------------------- */
/* head_dim 72 = 64 nope channels (one FP8 tile) + 8 rope channels. */
static dsv4_compressor_cfg small_cfg(size_t ratio, dsv4_compress_quant quant) {
    dsv4_compressor_cfg c = {.dim = 16, .head_dim = quant == DSV4_COMPRESS_HADAMARD_FP4 ? 64 : 72,
                             .ratio = ratio, .quant = quant, .norm_eps = 1e-6f,
                             .rope = DSV4_ROPE_V4_COMPRESS};
    c.rope.rope_dim = 8;
    return c;
}

static size_t coff(const dsv4_compressor_cfg *c) { return c->ratio == 4 ? 2 : 1; }

/* Values k/16, |k| <= 8: products are exact in fp32 and the sums of 16 of
 * them too, so every projection is exact whatever the order (opt == ref). */
static void fill_dyadic(float *x, size_t n, unsigned seed) {
    unsigned s = seed * 2654435761u + 12345u;
    for (size_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = (float)((int)(s >> 27) - 16) / 32.0f;
    }
}

typedef struct model {
    dsv4_compressor_cfg cfg;
    float *wkv, *wgate, *ape, *norm; /* the weights */
    dsv4_compressor_weights w;
} model;

static model make_model(size_t ratio, dsv4_compress_quant quant, unsigned seed) {
    model m;
    m.cfg = small_cfg(ratio, quant);
    size_t cols = coff(&m.cfg) * m.cfg.head_dim, dim = m.cfg.dim;
    m.wkv = malloc(cols * dim * sizeof(float));
    m.wgate = malloc(cols * dim * sizeof(float));
    m.ape = malloc(ratio * cols * sizeof(float));
    m.norm = malloc(m.cfg.head_dim * sizeof(float));
    cr_assert(m.wkv && m.wgate && m.ape && m.norm);
    fill_dyadic(m.wkv, cols * dim, seed);
    fill_dyadic(m.wgate, cols * dim, seed + 1);
    fill_dyadic(m.ape, ratio * cols, seed + 2);
    for (size_t i = 0; i < m.cfg.head_dim; i++) m.norm[i] = 1.0f + (float)(i % 5) / 8.0f;
    m.w = (dsv4_compressor_weights){m.wkv, m.wgate, m.ape, m.norm};
    return m;
}

static void free_model(model *m) {
    free(m->wkv);
    free(m->wgate);
    free(m->ape);
    free(m->norm);
}

/* A fresh state of the model's size. */
static dsv4_compressor_state new_state(const dsv4_compressor_cfg *cfg) {
    size_t n;
    cr_assert_eq(dsv4_compressor_check(cfg, &n), DSV4_OK);
    dsv4_compressor_state s = {malloc(n * sizeof(float)), malloc(n * sizeof(float)), 0};
    cr_assert(s.kv && s.score);
    cr_assert_eq(dsv4_compressor_reset(cfg, &s), DSV4_OK);
    return s;
}

typedef dsv4_status (*compress_fn)(const dsv4_compressor_cfg *, const dsv4_compressor_weights *,
                                   size_t, const float *, dsv4_compressor_state *, float *);

/* The entries of x [T, dim] fed in calls of the given sizes (summing to T):
 * out [T / r, d]; the final state in *final (the caller frees it). */
static void run_chunks(compress_fn fn, const model *m, const float *x, size_t T,
                       const size_t *sizes, size_t n_sizes, float *out,
                       dsv4_compressor_state *final) {
    dsv4_compressor_state s = new_state(&m->cfg);
    size_t done = 0, emitted = 0, d = m->cfg.head_dim;
    for (size_t i = 0; i < n_sizes; i++) {
        size_t n = dsv4_compressor_emits(&m->cfg, s.pos, sizes[i]);
        cr_assert_eq(fn(&m->cfg, &m->w, sizes[i], x + done * m->cfg.dim, &s, out + emitted * d),
                     DSV4_OK);
        done += sizes[i];
        emitted += n;
        cr_assert_eq(s.pos, (int64_t)done);
    }
    cr_assert_eq(done, T);
    cr_assert_eq(emitted, T / m->cfg.ratio);
    *final = s;
}

/* ---- prefill == decode == chunks ------------------------------------------------------------ */
static void check_split_invariance(size_t ratio, dsv4_compress_quant quant, compress_fn fn) {
    enum { T = 37 };
    model m = make_model(ratio, quant, 7);
    size_t d = m.cfg.head_dim, E = T / ratio, ns;
    cr_assert_eq(dsv4_compressor_check(&m.cfg, &ns), DSV4_OK);
    float *x = malloc(T * m.cfg.dim * sizeof(float));
    float *once = calloc(E * d + 1, sizeof(float)), *again = calloc(E * d + 1, sizeof(float));
    cr_assert(x && once && again);
    fill_dyadic(x, T * m.cfg.dim, 99);
    size_t all[1] = {T};
    dsv4_compressor_state s1, s2;
    run_chunks(fn, &m, x, T, all, 1, once, &s1);
    /* token by token */
    size_t ones[T];
    for (size_t i = 0; i < T; i++) ones[i] = 1;
    run_chunks(fn, &m, x, T, ones, T, again, &s2);
    cr_expect_eq(memcmp(once, again, E * d * sizeof(float)), 0, "ratio %zu: decode != prefill",
                 ratio);
    cr_expect_eq(memcmp(s1.kv, s2.kv, ns * sizeof(float)), 0, "ratio %zu: state kv", ratio);
    cr_expect_eq(memcmp(s1.score, s2.score, ns * sizeof(float)), 0, "ratio %zu: state score",
                 ratio);
    free(s2.kv);
    free(s2.score);
    /* every split point of a prefill followed by decode, and some chunkings */
    for (size_t cut = 1; cut < T; cut++) {
        size_t sizes[T];
        size_t k = 0;
        sizes[k++] = cut;
        for (size_t t = cut; t < T; t++) sizes[k++] = 1;
        run_chunks(fn, &m, x, T, sizes, k, again, &s2);
        cr_expect_eq(memcmp(once, again, E * d * sizeof(float)), 0, "ratio %zu split %zu", ratio,
                     cut);
        cr_expect_eq(memcmp(s1.kv, s2.kv, ns * sizeof(float)), 0, "ratio %zu split %zu", ratio,
                     cut);
        free(s2.kv);
        free(s2.score);
    }
    static const size_t chunks[][5] = {{3, 5, 7, 11, 11}, {4, 4, 4, 4, 21}, {1, 2, 3, 5, 26},
                                       {9, 0, 9, 0, 19}};
    for (size_t i = 0; i < sizeof chunks / sizeof chunks[0]; i++) {
        run_chunks(fn, &m, x, T, chunks[i], 5, again, &s2);
        cr_expect_eq(memcmp(once, again, E * d * sizeof(float)), 0, "ratio %zu chunking %zu",
                     ratio, i);
        free(s2.kv);
        free(s2.score);
    }
    free(s1.kv);
    free(s1.score);
    free(x);
    free(once);
    free(again);
    free_model(&m);
}

Test(compressor, prefill_decode_and_chunks_agree_ref) {
    check_split_invariance(4, DSV4_COMPRESS_FP8, dsv4_ref_compress);
    check_split_invariance(8, DSV4_COMPRESS_FP8, dsv4_ref_compress);
    check_split_invariance(4, DSV4_COMPRESS_HADAMARD_FP4, dsv4_ref_compress);
    check_split_invariance(1, DSV4_COMPRESS_NONE, dsv4_ref_compress);
    check_split_invariance(37, DSV4_COMPRESS_NONE, dsv4_ref_compress);
}

Test(compressor, prefill_decode_and_chunks_agree_opt_every_isa_and_thread_count) {
    for (int isa = 0; isa < DSV4_ISA_COUNT; isa++) {
        if (!dsv4_isa_supported((dsv4_isa)isa)) continue;
        cr_assert_eq(dsv4_isa_set((dsv4_isa)isa), DSV4_OK);
        for (int th = 1; th <= 3; th += 2) {
            cr_assert_eq(dsv4_threads_set(th), DSV4_OK);
            check_split_invariance(4, DSV4_COMPRESS_FP8, dsv4_opt_compress);
            check_split_invariance(8, DSV4_COMPRESS_HADAMARD_FP4, dsv4_opt_compress);
        }
    }
}

/* With projections exact (dyadic data), opt's entries are ref's bits. */
Test(compressor, opt_equals_ref_when_the_projections_are_exact) {
    enum { T = 29 };
    for (size_t ratio = 1; ratio <= 8; ratio++)
        for (int q = 0; q <= DSV4_COMPRESS_NONE; q++) {
            model m = make_model(ratio, (dsv4_compress_quant)q, 3 + (unsigned)ratio);
            size_t E = T / ratio, d = m.cfg.head_dim, ns;
            cr_assert_eq(dsv4_compressor_check(&m.cfg, &ns), DSV4_OK);
            float *x = malloc(T * m.cfg.dim * sizeof(float));
            float *a = calloc(E * d + 1, sizeof(float)), *b = calloc(E * d + 1, sizeof(float));
            fill_dyadic(x, T * m.cfg.dim, 5);
            size_t sizes[3] = {13, 1, 15};
            dsv4_compressor_state sa, sb;
            run_chunks(dsv4_ref_compress, &m, x, T, sizes, 3, a, &sa);
            for (int isa = 0; isa < DSV4_ISA_COUNT; isa++) {
                if (!dsv4_isa_supported((dsv4_isa)isa)) continue;
                cr_assert_eq(dsv4_isa_set((dsv4_isa)isa), DSV4_OK);
                run_chunks(dsv4_opt_compress, &m, x, T, sizes, 3, b, &sb);
                cr_expect_eq(memcmp(a, b, E * d * sizeof(float)), 0, "ratio %zu quant %d isa %d",
                             ratio, q, isa);
                cr_expect_eq(memcmp(sa.kv, sb.kv, ns * sizeof(float)), 0);
                free(sb.kv);
                free(sb.score);
            }
            free(sa.kv);
            free(sa.score);
            free(x);
            free(a);
            free(b);
            free_model(&m);
        }
}

/* ---- each stage against its definition -------------------------------------------------------- */
/* (C2) for entry g, channel c, in double, from the projections of the
 * whole sequence kv, score [T, coff*d]. */
static double direct_entry(const dsv4_compressor_cfg *cfg, const float *kv, const float *score,
                           size_t g, size_t c) {
    size_t r = cfg->ratio, d = cfg->head_dim, cols = coff(cfg) * d, rows = 0;
    double a[256], v[256], m = -INFINITY, s = 0.0, e = 0.0;
    if (coff(cfg) == 2 && g > 0)
        for (size_t j = 0; j < r; j++, rows++) { /* block g - 1: the first d channels */
            a[rows] = score[((g - 1) * r + j) * cols + c];
            v[rows] = kv[((g - 1) * r + j) * cols + c];
        }
    for (size_t j = 0; j < r; j++, rows++) { /* block g: the last d channels when overlapping */
        size_t ch = coff(cfg) == 2 ? d + c : c;
        a[rows] = score[(g * r + j) * cols + ch];
        v[rows] = kv[(g * r + j) * cols + ch];
    }
    for (size_t j = 0; j < rows; j++) m = a[j] > m ? a[j] : m;
    for (size_t j = 0; j < rows; j++) s += exp(a[j] - m);
    for (size_t j = 0; j < rows; j++) e += exp(a[j] - m) / s * v[j];
    return e;
}

/* Traps: the overlap halves swapped, entry 0 given logit 0 for block -1,
 * per-token gating and the ape indexed by the call's token number all move
 * the pooled entries far beyond this bound. */
Test(compressor, project_and_pool_match_their_definitions_across_calls) {
    enum { T = 23 };
    for (size_t ratio = 1; ratio <= 8; ratio += 3) {
        model m = make_model(ratio, DSV4_COMPRESS_FP8, 11);
        size_t cols = coff(&m.cfg) * m.cfg.head_dim, d = m.cfg.head_dim, dim = m.cfg.dim;
        float *x = malloc(T * dim * sizeof(float)), *kv = malloc(T * cols * sizeof(float));
        float *score = malloc(T * cols * sizeof(float)), *e = malloc(T * d * sizeof(float));
        fill_dyadic(x, T * dim, 17);
        cr_assert_eq(dsv4_ref_compress_project(&m.cfg, &m.w, 0, T, x, kv, score), DSV4_OK);
        for (size_t t = 0; t < T; t++) /* (C1): exact data, so exact sums */
            for (size_t o = 0; o < cols; o += 7) {
                double k = 0.0, z = m.ape[(t % ratio) * cols + o];
                for (size_t i = 0; i < dim; i++) {
                    k += (double)x[t * dim + i] * m.wkv[o * dim + i];
                    z += (double)x[t * dim + i] * m.wgate[o * dim + i];
                }
                cr_expect_eq(kv[t * cols + o], (float)k);
                cr_expect_eq(score[t * cols + o], (float)z, "ape of position %zu", t % ratio);
            }
        /* pool over calls [0, 6), [6, 7), [7, 23) */
        dsv4_compressor_state s = new_state(&m.cfg);
        size_t sizes[3] = {6, 1, 16}, done = 0, emitted = 0;
        for (int i = 0; i < 3; i++) {
            float *pk = kv + done * cols, *pz = score + done * cols;
            /* the call's own projections, computed at its position */
            cr_assert_eq(dsv4_ref_compress_project(&m.cfg, &m.w, s.pos, sizes[i], x + done * dim,
                                                   pk, pz),
                         DSV4_OK);
            cr_assert_eq(dsv4_compress_pool(&m.cfg, &s, sizes[i], pk, pz, e + emitted * d),
                         DSV4_OK);
            emitted += dsv4_compressor_emits(&m.cfg, s.pos, sizes[i]);
            cr_assert_eq(dsv4_compress_carry(&m.cfg, sizes[i], pk, pz, &s), DSV4_OK);
            done += sizes[i];
        }
        cr_assert_eq(emitted, T / ratio);
        for (size_t g = 0; g < emitted; g++)
            for (size_t c = 0; c < d; c++) {
                double want = direct_entry(&m.cfg, kv, score, g, c);
                cr_expect(fabs(e[g * d + c] - want) <= 1e-5 * (1.0 + fabs(want)),
                          "ratio %zu entry %zu channel %zu: %.9g, want %.9g", ratio, g, c,
                          e[g * d + c], want);
            }
        free(s.kv);
        free(s.score);
        free(x);
        free(kv);
        free(score);
        free(e);
        free_model(&m);
    }
}

/* Traps: RoPE at the entry's last token, and FP8 on the rope channels. */
Test(compressor, rope_at_the_first_token_and_fp8_on_the_nope_channels_only) {
    model m = make_model(4, DSV4_COMPRESS_FP8, 21);
    size_t d = m.cfg.head_dim, rd = m.cfg.rope.rope_dim, n = 3;
    float in[3 * 72], out[3 * 72], want[3 * 72], cs[3 * 4], sn[3 * 4];
    for (size_t i = 0; i < n * d; i++) in[i] = dsv4_round_bf16((float)((int)(i * 37 % 101) - 50) / 13.0f);
    int64_t first = 5;
    cr_assert_eq(dsv4_compress_finish(&m.cfg, &m.w, DSV4_COMPRESS_ROPE, first, n, in, out),
                 DSV4_OK);
    int32_t pos[3] = {20, 24, 28}; /* (first + i) * r */
    cr_assert_eq(dsv4_rope_table(&m.cfg.rope, n, pos, cs, sn), DSV4_OK);
    cr_assert_eq(dsv4_ref_rope_apply(&m.cfg.rope, n, 1, d, 0, cs, sn, in, want), DSV4_OK);
    cr_expect_eq(memcmp(out, want, sizeof out), 0);
    cr_expect_neq(memcmp(in + d - rd, out + d - rd, rd * sizeof(float)), 0, "RoPE did nothing");
    cr_assert_eq(dsv4_compress_finish(&m.cfg, &m.w, DSV4_COMPRESS_QUANT, first, n, in, out),
                 DSV4_OK);
    for (size_t i = 0; i < n; i++) {
        cr_expect_eq(memcmp(out + i * d + d - rd, in + i * d + d - rd, rd * sizeof(float)), 0,
                     "rope channels of row %zu quantized", i);
        cr_expect_neq(memcmp(out + i * d, in + i * d, (d - rd) * sizeof(float)), 0,
                      "nope channels of row %zu not quantized", i);
    }
    free_model(&m);
}

/* Traps: a block emitted before it is complete, and the state not carried
 * (a second call with a fresh state) both break this. */
Test(compressor, emits_only_complete_blocks) {
    model m = make_model(4, DSV4_COMPRESS_FP8, 5);
    for (int64_t p = 0; p < 12; p++)
        for (size_t T = 0; T < 9; T++) {
            size_t want = (size_t)((p + (int64_t)T) / 4 - p / 4);
            cr_expect_eq(dsv4_compressor_emits(&m.cfg, p, T), want, "p %ld T %zu", (long)p, T);
        }
    free_model(&m);
}

/* ---- NaN, bad input ---------------------------------------------------------------------------- */
Test(compressor, nan_reaches_the_entries_whose_window_holds_it) {
    enum { T = 16 };
    model m = make_model(4, DSV4_COMPRESS_NONE, 9);
    size_t d = m.cfg.head_dim;
    float *x = malloc(T * m.cfg.dim * sizeof(float)), e[4 * 72];
    fill_dyadic(x, T * m.cfg.dim, 4);
    x[5 * m.cfg.dim + 3] = NAN; /* token 5: block 1, so entries 1 and 2 (overlap) */
    dsv4_compressor_state s = new_state(&m.cfg);
    cr_assert_eq(dsv4_ref_compress(&m.cfg, &m.w, T, x, &s, e), DSV4_OK);
    for (size_t g = 0; g < 4; g++) {
        int any_nan = 0;
        for (size_t c = 0; c < d; c++) any_nan |= isnan(e[g * d + c]);
        cr_expect_eq(any_nan, g == 1 || g == 2, "entry %zu", g);
    }
    free(s.kv);
    free(s.score);
    free(x);
    free_model(&m);
}

Test(compressor, bad_input_is_a_status) {
    model m = make_model(4, DSV4_COMPRESS_FP8, 1);
    dsv4_compressor_state s = new_state(&m.cfg);
    float x[16] = {0}, e[72];
    dsv4_compressor_cfg bad = m.cfg;
    bad.head_dim = 70; /* 70 - 8 is not a multiple of 64 */
    cr_expect_eq(dsv4_ref_compress(&bad, &m.w, 1, x, &s, e), DSV4_E_ARG);
    bad = m.cfg;
    bad.quant = DSV4_COMPRESS_HADAMARD_FP4; /* 72 is not a power of two */
    cr_expect_eq(dsv4_ref_compress(&bad, &m.w, 1, x, &s, e), DSV4_E_ARG);
    bad = m.cfg;
    bad.rope.rope_dim = 7;
    cr_expect_eq(dsv4_opt_compress(&bad, &m.w, 1, x, &s, e), DSV4_E_ARG);
    bad = m.cfg;
    bad.ratio = 0;
    cr_expect_eq(dsv4_ref_compress(&bad, &m.w, 1, x, &s, e), DSV4_E_ARG);
    cr_expect_eq(dsv4_ref_compress(NULL, &m.w, 1, x, &s, e), DSV4_E_NULL);
    cr_expect_eq(dsv4_ref_compress(&m.cfg, NULL, 1, x, &s, e), DSV4_E_NULL);
    s.pos = 3; /* this call completes a block: entries needed */
    cr_expect_eq(dsv4_ref_compress(&m.cfg, &m.w, 1, x, &s, NULL), DSV4_E_NULL);
    cr_expect_eq(s.pos, 3, "state changed on an error");
    s.pos = -1;
    cr_expect_eq(dsv4_ref_compress(&m.cfg, &m.w, 1, x, &s, e), DSV4_E_ARG);
    s.pos = INT32_MAX;
    cr_expect_eq(dsv4_opt_compress(&m.cfg, &m.w, 1, x, &s, e), DSV4_E_OVERFLOW);
    s.pos = 0;
    cr_expect_eq(dsv4_ref_compress(&m.cfg, &m.w, 0, NULL, &s, NULL), DSV4_OK, "an empty call");
    cr_expect_eq(s.pos, 0);
    cr_expect_eq(dsv4_compress_finish(&m.cfg, &m.w, DSV4_COMPRESS_ROTATE, 0, 1, x, e), DSV4_E_ARG,
                 "rotate belongs to hadamard_fp4");
    dsv4_compressor_cfg huge = m.cfg;
    huge.dim = SIZE_MAX / 2;
    cr_expect_eq(dsv4_compressor_check(&huge, NULL), DSV4_E_OVERFLOW);
    free(s.kv);
    free(s.score);
    free_model(&m);
}
