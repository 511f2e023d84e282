/* test_sparse_attn.c - the reference sparse attention (spec/sparse_attn.md):
 * the worked values of §6, the special values of §2, the scale of §1, bad
 * input, the golden files (ref and opt through `dsv4 verify`), and V4's
 * kernel order of §4 emulated here against the golden tolerances.  Each
 * assertion names the trap of §8 it guards against:
 *   S1 the sink multiplied by the scale
 *   S2 the sink in the numerator, as a key with a value
 *   S3 the sink dropped
 *   S4 repeated entries removed
 *   S5 an out-of-range index clamped instead of skipped
 *   S6 lse with the sink in it
 *   S7 V4's order with the logits rounded to bf16 */
#include "dsv4.h"

#include "cli.h"
#include "cli_call.h"
#include "golden.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t bits(float x) {
    uint32_t u;
    memcpy(&u, &x, 4);
    return u;
}
static float bf16(float v) { return dsv4_bf16_decode(dsv4_bf16_encode(v)); }

static unsigned long long rng = 0x9E3779B97F4A7C15ull;
static double uniform01(void) {
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (double)(rng >> 11) * 0x1p-53;
}
static float normal_bf16(void) {
    double s = 0.0;
    for (int i = 0; i < 12; i++) s += uniform01();
    return bf16((float)(s - 6.0));
}

/* ---- the worked case of §6 --------------------------------------------------------- */
static const float W_KV[12] = {1, 2, 0, -1, 0, 1, 1, 1, 2, 0, -1, 0};
static const float W_Q[16] = {1, 1, 0, 0, 0, 0, 2, -2, 1, 1, 0, 0, 0, 0, 2, -2};
static const float W_SINK[2] = {0.5f, 2.0f};
static const int32_t W_IDX[10] = {2, -1, 0, 3, 2, -1, 5, -7, 3, 3};

Test(worked, spec_values_S1_to_S6) {
    const dsv4_sparse_attn_cfg cfg = {2, 4, 0.5f};
    const uint32_t want_o[8] = {0x3FAA0000u, 0x3F460000u, 0xBEF10000u, 0xBEC60000u,
                                0x3EC60000u, 0x3F000000u, 0xBD8B0000u, 0xBE800000u};
    const uint32_t want_lse[2] = {0x4012D712u, 0x3F9EA967u};
    float o[16], lse[4];
    cr_assert_eq(dsv4_ref_sparse_attn(&cfg, 2, 3, 5, W_Q, W_KV, W_SINK, W_IDX, o, lse), DSV4_OK);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(bits(o[i]), want_o[i],
                     "o[%d] = 0x%08x, want 0x%08x (S1 sink scaled, S2 sink with a value, S3 "
                     "sink dropped, S4 row 2 counted once, S5 -1 and 3 clamped)",
                     i, bits(o[i]), want_o[i]);
    for (int r = 0; r < 2; r++)
        cr_assert_eq(bits(lse[r]), want_lse[r], "lse[%d] = 0x%08x, want 0x%08x (S6: sink in lse)",
                     r, bits(lse[r]), want_lse[r]);
    for (int i = 8; i < 16; i++) cr_assert_eq(o[i], 0.0f, "an empty row gives 0");
    cr_assert(isinf(lse[2]) && lse[2] < 0 && isinf(lse[3]) && lse[3] < 0, "empty row: -Inf");
}

/* ---- one row in double, for the properties ------------------------------------------ */
/* o [D] before the bf16 rounding, and lse, of one head over the rows r [n]
 * (the definition, with the sink as an extra logit). */
static double row_direct(const float *q, const float *kv, size_t D, float scale, double sink,
                         const int32_t *r, size_t n, double *o) {
    double l[64], m = -INFINITY, W = 0.0;
    for (size_t j = 0; j < n; j++) {
        double dot = 0.0;
        for (size_t d = 0; d < D; d++) dot += (double)q[d] * kv[(size_t)r[j] * D + d];
        l[j] = scale * dot;
        if (l[j] > m) m = l[j];
    }
    for (size_t j = 0; j < n; j++) W += exp(l[j] - m);
    double Z = W + exp(sink - m);
    for (size_t i = 0; i < D; i++) {
        o[i] = 0.0;
        for (size_t j = 0; j < n; j++) o[i] += exp(l[j] - m) * kv[(size_t)r[j] * D + i] / Z;
    }
    return m + log(W);
}

/* S4 and S5: a row listed twice weighs twice, and entries outside [0, N)
 * change nothing (not even a bit) wherever they sit in the list. */
Test(traps, repeats_weigh_S4_invalid_skipped_S5) {
    enum { D = 16, N = 6, H = 2 };
    float q[H * D], kv[N * D], sink[H] = {0.3f, -1.25f}, o1[H * D], o2[H * D], l1[H], l2[H];
    for (int i = 0; i < H * D; i++) q[i] = normal_bf16();
    for (int i = 0; i < N * D; i++) kv[i] = normal_bf16();
    const dsv4_sparse_attn_cfg cfg = {H, D, 0.25f};
    const int32_t plain[3] = {4, 1, 4};
    const int32_t noisy[9] = {-1, 4, N, 1, INT32_MIN, -2, 4, INT32_MAX, N + 100};
    cr_assert_eq(dsv4_ref_sparse_attn(&cfg, 1, N, 3, q, kv, sink, plain, o1, l1), DSV4_OK);
    cr_assert_eq(dsv4_ref_sparse_attn(&cfg, 1, N, 9, q, kv, sink, noisy, o2, l2), DSV4_OK);
    cr_assert_eq(memcmp(o1, o2, sizeof o1), 0, "S5: an invalid entry took part");
    cr_assert_eq(memcmp(l1, l2, sizeof l1), 0, "S5: an invalid entry took part in lse");
    for (int h = 0; h < H; h++) {
        double e[D];
        double lse = row_direct(&q[h * D], kv, D, 0.25f, sink[h], plain, 3, e);
        for (int i = 0; i < D; i++)
            cr_assert_eq(o1[h * D + i], bf16((float)e[i]), "S4: row 4 must count twice (h %d i %d)",
                         h, i);
        cr_assert(fabs(l1[h] - lse) <= 1e-6 * fabs(lse) + 1e-6, "lse %g, want %g", (double)l1[h],
                  lse);
    }
}

/* S1, S3, S6: lse does not see the sink; o does, as e^s unscaled. */
Test(traps, sink_in_denominator_only_S1_S3_S6) {
    enum { D = 8, N = 4 };
    float q[D], kv[N * D], o[D], o_inf[D], lse, lse2;
    for (int i = 0; i < D; i++) q[i] = normal_bf16();
    for (int i = 0; i < N * D; i++) kv[i] = normal_bf16();
    const int32_t r[4] = {0, 1, 2, 3};
    const dsv4_sparse_attn_cfg cfg = {1, D, 0.125f};
    float s = 1.5f, s_neg = -INFINITY;
    cr_assert_eq(dsv4_ref_sparse_attn(&cfg, 1, N, 4, q, kv, &s, r, o, &lse), DSV4_OK);
    cr_assert_eq(dsv4_ref_sparse_attn(&cfg, 1, N, 4, q, kv, &s_neg, r, o_inf, &lse2), DSV4_OK);
    cr_assert_eq(bits(lse), bits(lse2), "S6: lse changed with the sink");
    double e[D], e_scaled[D], e_none[D];
    row_direct(q, kv, D, 0.125f, 1.5, r, 4, e);
    row_direct(q, kv, D, 0.125f, 1.5 * 0.125, r, 4, e_scaled);
    row_direct(q, kv, D, 0.125f, -INFINITY, r, 4, e_none);
    for (int i = 0; i < D; i++) {
        cr_assert_eq(o[i], bf16((float)e[i]), "o[%d] = %g, want %g (S1 would give %g, S3 %g)", i,
                     (double)o[i], e[i], e_scaled[i], e_none[i]);
        cr_assert_eq(o_inf[i], bf16((float)e_none[i]), "sink -Inf: the plain softmax");
    }
}

/* ---- §2: special values ------------------------------------------------------------- */
Test(properties, sinks_and_empty_rows) {
    enum { D = 8, N = 5, H = 6 };
    float q[2 * H * D], kv[N * D], o[2 * H * D], lse[2 * H];
    for (int i = 0; i < 2 * H * D; i++) q[i] = normal_bf16();
    for (int i = 0; i < N * D; i++) kv[i] = normal_bf16();
    const float sink[H] = {INFINITY, NAN, 1e30f, 200.0f, -1e30f, 88.8f};
    const int32_t idx[2 * 3] = {0, 2, 4, -1, N, -5}; /* token 1: empty */
    const dsv4_sparse_attn_cfg cfg = {H, D, 0.35355338f};
    cr_assert_eq(dsv4_ref_sparse_attn(&cfg, 2, N, 3, q, kv, sink, idx, o, lse), DSV4_OK);
    for (int i = 0; i < D; i++) {
        cr_assert_eq(o[0 * D + i], 0.0f, "sink +Inf: o = 0");
        cr_assert(isnan(o[1 * D + i]), "NaN sink: o NaN");
        cr_assert_eq(bits(o[1 * D + i]), 0x7FC00000u, "the canonical NaN");
        cr_assert_eq(o[2 * D + i], 0.0f, "sink 1e30: o = 0, no overflow");
        cr_assert_eq(o[3 * D + i], 0.0f, "sink 200: about e^-198 |k|, 0 in bf16");
        cr_assert(isfinite(o[5 * D + i]) && fabsf(o[5 * D + i]) < 1e-30f,
                  "sink 88.8: tiny, finite");
        for (int h = 0; h < H; h++) cr_assert_eq(o[(H + h) * D + i], 0.0f, "empty row: 0");
    }
    for (int h = 0; h < H; h++) {
        cr_assert(isfinite(lse[h]), "lse of head %d does not see its sink", h);
        cr_assert(isinf(lse[H + h]) && lse[H + h] < 0, "empty row: lse -Inf");
    }
    /* sink -1e30 is the plain softmax, as -Inf */
    double e[D];
    row_direct(&q[4 * D], kv, D, cfg.scale, -INFINITY, idx, 3, e);
    for (int i = 0; i < D; i++) cr_assert_eq(o[4 * D + i], bf16((float)e[i]));
}

/* A NaN or Inf reaches exactly the rows that read it (spec §2). */
Test(properties, nonfinite_rows) {
    enum { D = 4, N = 4, H = 2, T = 3, K = 2 };
    float q[T * H * D], kv[N * D], o[T * H * D], lse[T * H], sink[H] = {0.0f, 0.5f};
    for (int i = 0; i < T * H * D; i++) q[i] = normal_bf16();
    for (int i = 0; i < N * D; i++) kv[i] = normal_bf16();
    kv[2 * D + 1] = NAN;      /* row 2 */
    kv[3 * D + 0] = INFINITY; /* row 3 */
    q[(0 * H + 1) * D + 2] = NAN;
    const int32_t idx[T * K] = {0, 1, 0, 2, 1, 3}; /* token 0: clean; 1: NaN row; 2: Inf row */
    const dsv4_sparse_attn_cfg cfg = {H, D, 0.5f};
    cr_assert_eq(dsv4_ref_sparse_attn(&cfg, T, N, K, q, kv, sink, idx, o, lse), DSV4_OK);
    for (int i = 0; i < D; i++) {
        cr_assert(isfinite(o[(0 * H + 0) * D + i]), "token 0 head 0 reads no NaN");
        cr_assert(isnan(o[(0 * H + 1) * D + i]), "NaN in its query");
        for (int h = 0; h < H; h++) {
            cr_assert(isnan(o[(1 * H + h) * D + i]), "NaN in an attended row");
            cr_assert(isnan(o[(2 * H + h) * D + i]), "Inf in an attended row");
        }
    }
    cr_assert(isfinite(lse[0]) && isnan(lse[1]) && isnan(lse[2]) && isnan(lse[4]));
}

Test(properties, in_place_lse_optional_and_tokens_independent) {
    enum { D = 16, N = 7, H = 3, T = 4, K = 5 };
    float q[T * H * D], kv[N * D], o[T * H * D], lse[T * H], one[H * D], sink[H] = {0, 1, -1};
    int32_t idx[T * K];
    for (int i = 0; i < T * H * D; i++) q[i] = normal_bf16();
    for (int i = 0; i < N * D; i++) kv[i] = normal_bf16();
    for (int i = 0; i < T * K; i++) idx[i] = (int32_t)(uniform01() * (N + 2)) - 1;
    const dsv4_sparse_attn_cfg cfg = {H, D, 0.25f};
    cr_assert_eq(dsv4_ref_sparse_attn(&cfg, T, N, K, q, kv, sink, idx, o, lse), DSV4_OK);
    for (int t = 0; t < T; t++) {
        cr_assert_eq(dsv4_ref_sparse_attn(&cfg, 1, N, K, &q[t * H * D], kv, sink, &idx[t * K], one,
                                          NULL),
                     DSV4_OK);
        cr_assert_eq(memcmp(one, &o[t * H * D], sizeof one), 0, "token %d alone", t);
    }
    cr_assert_eq(dsv4_ref_sparse_attn(&cfg, T, N, K, q, kv, sink, idx, q, NULL), DSV4_OK);
    cr_assert_eq(memcmp(q, o, sizeof o), 0, "o may equal q");
    for (int i = 0; i < T * H * D; i++) cr_assert_eq(o[i], bf16(o[i]), "bf16 values");
}

/* ---- §1: the scale ---------------------------------------------------------------------- */
/* y is RN32(d^-1/2) iff d^-1/2 lies between the midpoints to y's fp32
 * neighbours: mu^2 is exact in double (25 bits squared) and fma gives the
 * sign of mu^2 d - 1 exactly. */
Test(scale, correctly_rounded) {
    cr_assert_eq(bits(dsv4_sparse_attn_scale(512)), 0x3D3504F3u, "V4's scale");
    const dsv4_sparse_attn_cfg flash = DSV4_SPARSE_ATTN_V4_FLASH, pro = DSV4_SPARSE_ATTN_V4_PRO;
    cr_assert_eq(bits(flash.scale), 0x3D3504F3u);
    cr_assert_eq(bits(pro.scale), 0x3D3504F3u);
    cr_assert_eq(dsv4_sparse_attn_scale(64), 0.125f);
    cr_assert_eq(bits(dsv4_sparse_attn_scale(3)), 0x3F13CD3Au);
    cr_assert(isinf(dsv4_sparse_attn_scale(0)));
    for (size_t d = 1; d <= 65536; d++) {
        float y = dsv4_sparse_attn_scale(d);
        uint32_t u = bits(y);
        float up, down;
        uint32_t uu = u + 1, ud = u - 1;
        memcpy(&up, &uu, 4);
        memcpy(&down, &ud, 4);
        double mu_up = ((double)y + up) / 2, mu_down = ((double)y + down) / 2;
        cr_assert(fma(mu_up * mu_up, (double)d, -1.0) > 0.0 &&
                      fma(mu_down * mu_down, (double)d, -1.0) < 0.0,
                  "d = %zu: 0x%08x is not the nearest fp32 to d^-1/2", d, u);
    }
    cr_assert_eq(bits(dsv4_sparse_attn_scale((size_t)1 << 52)), 0x32800000u); /* 2^-26 */
}

/* ---- arguments -------------------------------------------------------------------------- */
Test(args, statuses) {
    float q[8] = {0}, kv[8] = {0}, sink[2] = {0}, o[8], lse[2];
    int32_t idx[2] = {0, 1};
    const dsv4_sparse_attn_cfg ok = {2, 4, 0.5f}, h0 = {0, 4, 0.5f}, d0 = {2, 0, 0.5f},
                               nan_scale = {2, 4, NAN}, inf_scale = {2, 4, INFINITY},
                               huge = {SIZE_MAX / 2, 4, 0.5f};
    cr_assert_eq(dsv4_ref_sparse_attn(NULL, 1, 2, 2, q, kv, sink, idx, o, lse), DSV4_E_NULL);
    cr_assert_eq(dsv4_ref_sparse_attn(&h0, 1, 2, 2, q, kv, sink, idx, o, lse), DSV4_E_ARG);
    cr_assert_eq(dsv4_ref_sparse_attn(&d0, 1, 2, 2, q, kv, sink, idx, o, lse), DSV4_E_ARG);
    cr_assert_eq(dsv4_ref_sparse_attn(&nan_scale, 1, 2, 2, q, kv, sink, idx, o, lse), DSV4_E_ARG);
    cr_assert_eq(dsv4_ref_sparse_attn(&inf_scale, 1, 2, 2, q, kv, sink, idx, o, lse), DSV4_E_ARG);
    cr_assert_eq(dsv4_ref_sparse_attn(&huge, 1, 2, 2, q, kv, sink, idx, o, lse), DSV4_E_OVERFLOW);
    cr_assert_eq(dsv4_ref_sparse_attn(&ok, SIZE_MAX / 4, 2, 2, q, kv, sink, idx, o, lse),
                 DSV4_E_OVERFLOW);
    cr_assert_eq(dsv4_ref_sparse_attn(&ok, 1, SIZE_MAX / 2, 2, q, kv, sink, idx, o, lse),
                 DSV4_E_OVERFLOW);
    cr_assert_eq(dsv4_ref_sparse_attn(&ok, 3, 2, SIZE_MAX / 3, q, kv, sink, idx, o, lse),
                 DSV4_E_OVERFLOW);
    cr_assert_eq(dsv4_ref_sparse_attn(&ok, 0, 2, 2, NULL, NULL, NULL, NULL, NULL, NULL), DSV4_OK,
                 "T = 0 is an empty call");
    cr_assert_eq(dsv4_ref_sparse_attn(&ok, 1, 2, 2, NULL, kv, sink, idx, o, lse), DSV4_E_NULL);
    cr_assert_eq(dsv4_ref_sparse_attn(&ok, 1, 2, 2, q, NULL, sink, idx, o, lse), DSV4_E_NULL);
    cr_assert_eq(dsv4_ref_sparse_attn(&ok, 1, 2, 2, q, kv, NULL, idx, o, lse), DSV4_E_NULL);
    cr_assert_eq(dsv4_ref_sparse_attn(&ok, 1, 2, 2, q, kv, sink, NULL, o, lse), DSV4_E_NULL);
    cr_assert_eq(dsv4_ref_sparse_attn(&ok, 1, 2, 2, q, kv, sink, idx, NULL, lse), DSV4_E_NULL);
    o[0] = 7.0f;
    cr_assert_eq(dsv4_ref_sparse_attn(&ok, 1, 0, 2, q, NULL, sink, idx, o, NULL), DSV4_OK,
                 "N = 0: kv not read");
    cr_assert_eq(o[0], 0.0f);
    cr_assert_eq(dsv4_ref_sparse_attn(&ok, 1, 2, 0, q, kv, sink, NULL, o, lse), DSV4_OK,
                 "K = 0: idx not read");
    cr_assert(isinf(lse[0]) && lse[0] < 0);
}

/* ---- golden files ------------------------------------------------------------------------ */
static const char *const CASES[] = {"random", "duplicates", "empty_list", "no_kv",
                                    "invalid_rows", "sinks", "nonfinite", "peaked",
                                    "sharp", "odd", "v4_flash_decode"};
#define N_CASES (sizeof CASES / sizeof CASES[0])

static void golden_path(size_t c, char *buf, size_t len) {
    const char *env = getenv("DSV4_GOLDEN_DIR"), *dir = env && *env ? env : "golden";
    snprintf(buf, len, "%s/sparse_attn.%s.safetensors", dir, CASES[c]);
}

/* ref and opt (the active ISA), stage and end to end. */
Test(golden, verify, .timeout = 300) {
    for (size_t c = 0; c < N_CASES; c++) {
        char path[512];
        golden_path(c, path, sizeof path);
        result r = call(dsv4_cli_verify, "verify", path, NULL);
        cr_expect_eq(r.rc, 0, "%s%s", r.out, r.err);
        result_free(&r);
    }
}

/* ---- V4's kernel order (§4), emulated ----------------------------------------------------- */
typedef enum v4_variant {
    V4_ORDER,       /* V4's order, rounding as its kernel does */
    V4_LOGITS_BF16, /* S7: the logits rounded to bf16 */
    V4_SINK_SCALED, /* S1 */
    V4_SINK_VALUE,  /* S2: the sink carries the first valid row as a value */
    V4_SINK_DROPPED,/* S3 */
    V4_DEDUP,       /* S4 */
    V4_CLAMP,       /* S5 */
    V4_LSE_SINK,    /* S6 */
    V4_VARIANTS
} v4_variant;

static const char *const VARIANT_NAME[V4_VARIANTS] = {
    "V4's order", "S7 logits in bf16", "S1 sink scaled", "S2 sink with a value",
    "S3 sink dropped", "S4 repeats removed", "S5 invalid clamped", "S6 sink in lse"};

/* CUDA's fast __expf: 2^RN32(x * RN32(log2 e)), the power itself exact
 * (ex2.approx adds 2 ulps at most; the rounding of its argument dominates). */
static float fast_exp(float x) {
    float y = x * 1.44269504f;
    return (float)dsv4_exp_d((double)y * 0.69314718055994530942);
}

/* One token, all heads, in V4's order: blocks of 64 slots, running fp32
 * maximum and sum, P rounded to bf16 before P.V, the sink after the last
 * block.  The definition's special values are kept (an empty list gives 0
 * and -Inf, a non-finite logit NaN: §4 lists where V4's kernel differs). */
static void v4_token(const dsv4_sparse_attn_cfg *cfg, size_t N, size_t K, const float *q,
                     const float *kv, const float *sink, const int32_t *idx, float *o, float *lse,
                     v4_variant v) {
    size_t H = cfg->n_heads, D = cfg->head_dim;
    int32_t *slot = malloc((K + 64) * sizeof *slot);
    float *acc = malloc(D * sizeof *acc);
    cr_assert(slot && acc);
    size_t n = 0, first = 0;
    for (size_t e = 0; e < K; e++) {
        int32_t r = idx[e];
        int ok = r >= 0 && (size_t)r < N;
        if (v == V4_CLAMP && N > 0 && !ok) {
            r = r < 0 ? 0 : (int32_t)N - 1;
            ok = 1;
        }
        if (ok && v == V4_DEDUP)
            for (size_t f = 0; f < e; f++)
                if (slot[f] == r) ok = 0;
        slot[e] = ok ? r : -1;
        if (ok && n++ == 0) first = (size_t)r;
    }
    for (size_t h = 0; h < H; h++) {
        const float *qh = q + h * D;
        float *oh = o + h * D;
        if (n == 0) {
            for (size_t i = 0; i < D; i++) oh[i] = 0.0f;
            lse[h] = -INFINITY;
            continue;
        }
        float m = -INFINITY, sum = 0.0f;
        int bad = 0;
        for (size_t i = 0; i < D; i++) acc[i] = 0.0f;
        for (size_t b = 0; b < K; b += 64) {
            float l[64], p[64], mb = m;
            for (size_t j = 0; j < 64; j++) {
                int32_t r = b + j < K ? slot[b + j] : -1;
                if (r < 0) {
                    l[j] = -INFINITY;
                    continue;
                }
                float dot = 0.0f;
                for (size_t d = 0; d < D; d++) dot += qh[d] * kv[(size_t)r * D + d];
                l[j] = dot * cfg->scale;
                if (!isfinite(l[j])) bad = 1;
                if (v == V4_LOGITS_BF16) l[j] = bf16(l[j]);
                if (l[j] > mb) mb = l[j];
            }
            if (mb == -INFINITY) continue; /* a block of -1 after valid ones changes nothing */
            float alpha = fast_exp(m - mb), bsum = 0.0f;
            for (size_t j = 0; j < 64; j++) {
                p[j] = l[j] == -INFINITY ? 0.0f : fast_exp(l[j] - mb);
                bsum += p[j];
            }
            sum = sum * alpha + bsum;
            for (size_t i = 0; i < D; i++) {
                float a = acc[i] * alpha;
                for (size_t j = 0; j < 64; j++)
                    if (p[j] != 0.0f) a += bf16(p[j]) * kv[(size_t)slot[b + j] * D + i];
                acc[i] = a;
            }
            m = mb;
        }
        if (bad) {
            for (size_t i = 0; i < D; i++) oh[i] = NAN;
            lse[h] = NAN;
            continue;
        }
        float s = v == V4_SINK_SCALED ? sink[h] * cfg->scale : sink[h];
        float es = fast_exp(s - m), total = v == V4_SINK_DROPPED ? sum : sum + es;
        lse[h] = m + logf(v == V4_LSE_SINK ? total : sum);
        for (size_t i = 0; i < D; i++) {
            float a = acc[i];
            if (v == V4_SINK_VALUE) a += bf16(es) * kv[first * D + i];
            oh[i] = bf16(a / total);
        }
    }
    free(slot);
    free(acc);
}

/* Whether variant v, on golden case c, passes the file's tolerances (both
 * outputs); a message for the failures. */
static int v4_passes(size_t c, v4_variant v, char *why, size_t len) {
    char path[512], err[256];
    golden_path(c, path, sizeof path);
    dsv4_st gold = {0};
    dsv4_golden g;
    cr_assert_eq(dsv4_st_read(path, &gold, err, sizeof err), DSV4_OK, "%s", err);
    cr_assert_eq(dsv4_golden_load(&gold, &g, err, sizeof err), DSV4_OK, "%s", err);
    const dsv4_tensor *tq = dsv4_st_find(&gold, "in.q"), *tkv = dsv4_st_find(&gold, "in.kv"),
                      *ts = dsv4_st_find(&gold, "in.sink"), *ti = dsv4_st_find(&gold, "in.idx");
    const dsv4_sparse_attn_cfg *cfg = g.cfg.params;
    size_t T = tq->shape[0], H = cfg->n_heads, D = cfg->head_dim, N = tkv->shape[0],
           K = ti->shape[1];
    dsv4_tensor out[2] = {{.name = "attn.o", .dtype = DSV4_DT_F32, .rank = 3,
                           .shape = {T, H, D}, .nbytes = T * H * D * 4},
                          {.name = "attn.lse", .dtype = DSV4_DT_F32, .rank = 2, .shape = {T, H},
                           .nbytes = T * H * 4}};
    float *o = malloc(out[0].nbytes + 4), *lse = malloc(out[1].nbytes + 4);
    cr_assert(o && lse);
    for (size_t t = 0; t < T; t++)
        v4_token(cfg, N, K, (const float *)tq->data + t * H * D, tkv->data, ts->data,
                 (const int32_t *)ti->data + t * K, o + t * H * D, lse + t * H, v);
    out[0].data = o;
    out[1].data = lse;
    int pass = 1;
    why[0] = '\0';
    for (size_t k = 0; k < 2; k++) {
        dsv4_cmp r;
        dsv4_compare(&out[k], dsv4_st_find(&gold, out[k].name), dsv4_golden_rule(&g, 0, 0, k), &r);
        if (dsv4_cmp_passed(&r)) continue;
        pass = 0;
        size_t w = strlen(why);
        snprintf(why + w, len - w, "%s: %zu of %zu differ, first %s got %s expected %s; ",
                 out[k].name, r.mismatches, r.n, r.first_at, r.first_got, r.first_exp);
    }
    free(o);
    free(lse);
    dsv4_golden_free(&g);
    dsv4_st_free(&gold);
    return pass;
}

/* §5's bound covers V4's order on every golden case (the absolute term
 * included: `sinks` has a head whose exp(sink - max) overflows fp32). */
Test(v4_order, within_the_golden_tolerances, .timeout = 600) {
    for (size_t c = 0; c < N_CASES; c++) {
        char why[1024];
        cr_expect(v4_passes(c, V4_ORDER, why, sizeof why), "V4's order fails %s: %s", CASES[c],
                  why);
    }
}

/* Each wrong variant fails the golden case that targets it. */
Test(v4_order, wrong_variants_fail, .timeout = 600) {
    static const struct { v4_variant v; const char *file; } expect_fail[] = {
        {V4_LOGITS_BF16, "sharp"},   {V4_SINK_SCALED, "random"},   {V4_SINK_SCALED, "sinks"},
        {V4_SINK_VALUE, "random"},   {V4_SINK_DROPPED, "random"},  {V4_SINK_DROPPED, "odd"},
        {V4_DEDUP, "duplicates"},    {V4_CLAMP, "random"},         {V4_CLAMP, "invalid_rows"},
        {V4_LSE_SINK, "random"},     {V4_LSE_SINK, "sharp"},
    };
    for (size_t i = 0; i < sizeof expect_fail / sizeof expect_fail[0]; i++) {
        size_t c = 0;
        while (c < N_CASES && strcmp(CASES[c], expect_fail[i].file) != 0) c++;
        char why[1024];
        cr_expect(!v4_passes(c, expect_fail[i].v, why, sizeof why), "%s passes %s",
                  VARIANT_NAME[expect_fail[i].v], CASES[c]);
    }
}
