/* mhc_avx2.c - AVX2 + FMA kernels of mHC (spec/mhc.md; mhc_kernels.h says
 * which are bit-exact with ref).  8 fp32 lanes; tails through
 * maskload/maskstore, which never touch memory outside the mask.  The same
 * methods as mhc_avx512.c, on half the lanes and 16 registers. */
#if defined(__x86_64__)
#include "mhc_kernels.h"
#define DSV4_VEC_AVX2
#include "vexp.h"

#include <immintrin.h>
#include <string.h>

enum { W = 8 }; /* lanes */

static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

/* All-ones in lanes [0, m) (m <= 8). */
static inline __m256i first_lanes(size_t m) {
    const __m256i idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)m), idx);
}

/* 8 lanes at p, the ones outside the mask read as 0 (not touched). */
static inline __m256 load_m(const float *p, __m256i mk, size_t m) {
    return m == W ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, mk);
}

static inline void store_m(float *p, __m256i mk, size_t m, __m256 v) {
    if (m == W) _mm256_storeu_ps(p, v);
    else _mm256_maskstore_ps(p, mk, v);
}

/* 8 values of x from element k: fp32, or with `bf16` bf16 codes, each
 * widened exactly (the code becomes the upper half of the fp32 bits).
 * load_x_part: the first m lanes, the others 0, nothing read past them. */
static inline __m256 widen_bf16(__m128i codes) {
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(codes), 16));
}

static inline __m256 load_x(const void *x, int bf16, size_t k) {
    if (bf16) return widen_bf16(_mm_loadu_si128((const __m128i *)((const uint16_t *)x + k)));
    return _mm256_loadu_ps((const float *)x + k);
}

static inline __m256 load_x_part(const void *x, int bf16, size_t k, __m256i mk, size_t m) {
    if (!bf16) return load_m((const float *)x + k, mk, m);
    if (m == W) return load_x(x, 1, k);
    uint16_t part[W] = {0}; /* AVX2 has no 16-bit masked load */
    memcpy(part, (const uint16_t *)x + k, m * sizeof *part);
    return widen_bf16(_mm_loadu_si128((const __m128i *)part));
}

/* Element i of x, fp32 or bf16 codes. */
static inline const void *x_at(const void *x, int bf16, size_t i) {
    return bf16 ? (const void *)((const uint16_t *)x + i) : (const void *)((const float *)x + i);
}

/* A fixed reduction of 8 lanes: (0+4, 1+5, 2+6, 3+7), then pairs. */
static inline float hsum(__m256 v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

/* bf16 RNE round trip of each lane, NaN -> 0x7FC00000 (see mhc_avx512.c). */
static inline __m256 round_bf16(__m256 v) {
    __m256i u = _mm256_castps_si256(v);
    __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
    __m256i r = _mm256_add_epi32(u, _mm256_add_epi32(odd, _mm256_set1_epi32(0x7FFF)));
    r = _mm256_and_si256(r, _mm256_set1_epi32((int)0xFFFF0000u));
    __m256 nan = _mm256_cmp_ps(v, v, _CMP_UNORD_Q);
    return _mm256_blendv_ps(_mm256_castsi256_ps(r), _mm256_castsi256_ps(_mm256_set1_epi32(0x7FC00000)),
                            nan);
}

/* ---- (H1) sum of squares (the order of mhc_avx512.c on 8 lanes) ---------- */
static float sumsq_avx2(const float *x, size_t K) {
    __m256 total = _mm256_setzero_ps();
    for (size_t k0 = 0; k0 < K; k0 += DSV4_MHC_SEG) {
        size_t k1 = min_sz(K, k0 + DSV4_MHC_SEG), k = k0;
        __m256 acc = _mm256_setzero_ps();
        for (; k + W <= k1; k += W) {
            __m256 v = _mm256_loadu_ps(x + k);
            acc = _mm256_fmadd_ps(v, v, acc);
        }
        if (k < k1) {
            __m256 v = _mm256_maskload_ps(x + k, first_lanes(k1 - k));
            acc = _mm256_fmadd_ps(v, v, acc);
        }
        total = k0 == 0 ? acc : _mm256_add_ps(total, acc);
    }
    return hsum(total);
}

/* ---- (H2) mixes, lanes along k, one segment per call (see mhc_avx512.c) -----
 * Register tile 3 tokens x 4 rows = 12 accumulators + 3 x vectors (the fn
 * vector can be an FMA memory operand). */
enum { TT = 3, RR = 4 };

typedef struct mix_tile {
    const void *x[TT]; /* token rows [K], fp32 or bf16 codes */
    const float *f[RR];
    __m256 *acc;   /* acc[t * stride + r] */
    __m256 *ss;    /* ss[t * stride] (when sq) */
    size_t stride; /* vectors per token in acc */
    int fold;      /* add to acc (else store) */
} mix_tile;

static inline __attribute__((always_inline)) void mix_tile_run(const mix_tile *m, int tt, int sq,
                                                               int xb, size_t k0, size_t k1) {
    __m256 a[TT][RR], s[TT];
#pragma GCC unroll 3
    for (int t = 0; t < tt; t++) {
#pragma GCC unroll 4
        for (int r = 0; r < RR; r++) a[t][r] = _mm256_setzero_ps();
        s[t] = _mm256_setzero_ps();
    }
    size_t k = k0, full = k0 + ((k1 - k0) / W) * W;
    for (; k < full; k += W) {
        __m256 xv[TT];
#pragma GCC unroll 3
        for (int t = 0; t < tt; t++) {
            xv[t] = load_x(m->x[t], xb, k);
            if (sq) s[t] = _mm256_fmadd_ps(xv[t], xv[t], s[t]);
        }
#pragma GCC unroll 4
        for (int r = 0; r < RR; r++) {
            __m256 fv = _mm256_loadu_ps(m->f[r] + k);
#pragma GCC unroll 3
            for (int t = 0; t < tt; t++) a[t][r] = _mm256_fmadd_ps(xv[t], fv, a[t][r]);
        }
    }
    /* The tail, under a mask; unrolled like the main loop so that a[][]
     * stays in registers around it (mhc_avx512.c, spec/mhc.md §9). */
    if (k < k1) {
        __m256i mk = first_lanes(k1 - k);
#pragma GCC unroll 3
        for (int t = 0; t < tt; t++) {
            __m256 xv = load_x_part(m->x[t], xb, k, mk, k1 - k);
            if (sq) s[t] = _mm256_fmadd_ps(xv, xv, s[t]);
#pragma GCC unroll 4
            for (int r = 0; r < RR; r++)
                a[t][r] = _mm256_fmadd_ps(xv, _mm256_maskload_ps(m->f[r] + k, mk), a[t][r]);
        }
    }
#pragma GCC unroll 3
    for (int t = 0; t < tt; t++) {
        __m256 *at = m->acc + t * m->stride;
#pragma GCC unroll 4
        for (int r = 0; r < RR; r++) at[r] = m->fold ? _mm256_add_ps(at[r], a[t][r]) : a[t][r];
        if (sq) {
            __m256 *st = m->ss + t * m->stride;
            *st = m->fold ? _mm256_add_ps(*st, s[t]) : s[t];
        }
    }
}

/* tile_fns[xb][sq][tt == TT], each compiled with its loops unrolled. */
typedef void (*mix_tile_fn)(const mix_tile *m, size_t k0, size_t k1);
static void mix_1(const mix_tile *m, size_t k0, size_t k1) { mix_tile_run(m, 1, 0, 0, k0, k1); }
static void mix_3(const mix_tile *m, size_t k0, size_t k1) { mix_tile_run(m, TT, 0, 0, k0, k1); }
static void mix_1s(const mix_tile *m, size_t k0, size_t k1) { mix_tile_run(m, 1, 1, 0, k0, k1); }
static void mix_3s(const mix_tile *m, size_t k0, size_t k1) { mix_tile_run(m, TT, 1, 0, k0, k1); }
static void mix_1b(const mix_tile *m, size_t k0, size_t k1) { mix_tile_run(m, 1, 0, 1, k0, k1); }
static void mix_3b(const mix_tile *m, size_t k0, size_t k1) { mix_tile_run(m, TT, 0, 1, k0, k1); }
static void mix_1sb(const mix_tile *m, size_t k0, size_t k1) { mix_tile_run(m, 1, 1, 1, k0, k1); }
static void mix_3sb(const mix_tile *m, size_t k0, size_t k1) { mix_tile_run(m, TT, 1, 1, k0, k1); }
static const mix_tile_fn tile_fns[2][2][2] = {{{mix_1, mix_3}, {mix_1s, mix_3s}},
                                              {{mix_1b, mix_3b}, {mix_1sb, mix_3sb}}};

static void mixes_seg_run(const void *x, int xb, size_t ntok, size_t K, const float *fn,
                          size_t rows, size_t seg, int fold, int sq, float *accf) {
    __m256 *acc = (__m256 *)accf; /* [ntok][stride] */
    size_t stride = dsv4_mhc_acc_rows(rows, RR);
    size_t k0 = seg * DSV4_MHC_SEG, k1 = min_sz(K, k0 + DSV4_MHC_SEG);
    mix_tile m = {.stride = stride, .fold = fold};
    size_t tiles = dsv4_mhc_tile_count(ntok, TT);
    for (size_t g = 0; g < rows; g += RR) {
        int gsq = sq && g == 0, backward = (g / RR) % 2 == 1;
        for (size_t r = 0; r < RR; r++) m.f[r] = fn + min_sz(g + r, rows - 1) * K;
        for (size_t i = 0; i < tiles; i++) {
            size_t t, tt = dsv4_mhc_tile_at(i, ntok, TT, backward, &t);
            for (size_t q = 0; q < tt; q++) m.x[q] = x_at(x, xb, (t + q) * K);
            m.acc = &acc[t * stride + g];
            m.ss = &acc[t * stride + stride - 1];
            tile_fns[xb][gsq][tt == TT](&m, k0, k1);
        }
    }
}

static void mixes_seg_avx2(const float *x, size_t ntok, size_t K, const float *fn, size_t rows,
                           size_t seg, int fold, int sq, float *acc) {
    mixes_seg_run(x, 0, ntok, K, fn, rows, seg, fold, sq, acc);
}

static void mixes_seg_bf16_avx2(const uint16_t *x, size_t ntok, size_t K, const float *fn,
                                size_t rows, size_t seg, int fold, int sq, float *acc) {
    mixes_seg_run(x, 1, ntok, K, fn, rows, seg, fold, sq, acc);
}

static void mixes_reduce_avx2(const float *accf, size_t ntok, size_t rows, float *raw,
                              float *sumsq) {
    const __m256 *acc = (const __m256 *)accf;
    size_t stride = dsv4_mhc_acc_rows(rows, RR);
    for (size_t t = 0; t < ntok; t++) {
        for (size_t r = 0; r < rows; r++) raw[t * rows + r] = hsum(acc[t * stride + r]);
        if (sumsq) sumsq[t] = hsum(acc[t * stride + stride - 1]);
    }
}

/* ---- (S1)-(S3) Sinkhorn, one token per lane (see mhc_avx512.c) ------------- */
static inline __m256 ld(const float *c, size_t q) { return _mm256_loadu_ps(c + q * W); }
static inline void st(float *c, size_t q, __m256 v) { _mm256_storeu_ps(c + q * W, v); }

static void soa_softmax_rows(float *c, size_t n, __m256 eps) {
    for (size_t j = 0; j < n; j++) {
        __m256 mx = ld(c, j * n);
        for (size_t k = 1; k < n; k++) mx = _mm256_max_ps(ld(c, j * n + k), mx);
        __m256 s = _mm256_setzero_ps();
        for (size_t k = 0; k < n; k++) {
            __m256 e = vexp(_mm256_sub_ps(ld(c, j * n + k), mx));
            st(c, j * n + k, e);
            s = _mm256_add_ps(s, e);
        }
        for (size_t k = 0; k < n; k++)
            st(c, j * n + k, _mm256_add_ps(_mm256_div_ps(ld(c, j * n + k), s), eps));
    }
}

static void soa_rows(float *c, size_t n, __m256 eps) {
    for (size_t j = 0; j < n; j++) {
        __m256 s = _mm256_setzero_ps();
        for (size_t k = 0; k < n; k++) s = _mm256_add_ps(s, ld(c, j * n + k));
        __m256 div = _mm256_add_ps(s, eps);
        for (size_t k = 0; k < n; k++) st(c, j * n + k, _mm256_div_ps(ld(c, j * n + k), div));
    }
}

static void soa_cols(float *c, size_t n, __m256 eps, float *colsum) {
    for (size_t k = 0; k < n; k++) {
        __m256 s = _mm256_setzero_ps();
        for (size_t j = 0; j < n; j++) s = _mm256_add_ps(s, ld(c, j * n + k));
        st(colsum, k, _mm256_add_ps(s, eps));
    }
    for (size_t j = 0; j < n; j++)
        for (size_t k = 0; k < n; k++)
            st(c, j * n + k, _mm256_div_ps(ld(c, j * n + k), ld(colsum, k)));
}

static void sinkhorn_avx2(size_t n, int softmax, int rounds, float eps_f, size_t ntok,
                          const float *in, float *out, float *scratch) {
    size_t nn = n * n;
    float *c = scratch, *colsum = scratch + nn * W; /* [nn][W], [n][W] */
    const __m256 eps = _mm256_set1_ps(eps_f);
    for (size_t t0 = 0; t0 < ntok; t0 += W) {
        size_t m = min_sz(W, ntok - t0);
        for (size_t q = 0; q < nn; q++)
            for (size_t l = 0; l < W; l++) c[q * W + l] = l < m ? in[(t0 + l) * nn + q] : 0.0f;
        if (softmax) {
            soa_softmax_rows(c, n, eps);
            soa_cols(c, n, eps, colsum);
        }
        for (int r = 0; r < rounds; r++) {
            soa_rows(c, n, eps);
            soa_cols(c, n, eps, colsum);
        }
        for (size_t l = 0; l < m; l++)
            for (size_t q = 0; q < nn; q++) out[(t0 + l) * nn + q] = c[q * W + l];
    }
}

/* ---- (H5) weighted sum and hc_post, one channel per lane -------------------
 * Channels go in blocks of BV vectors, one pass over the hc streams per
 * block (each weight broadcast once per block, each stream read in runs of
 * BV * 32 bytes), as in mhc_avx512.c; the channels past the last whole
 * block go one vector at a time, the last one under a mask of m lanes. */
enum { BV = 8 };

/* acc[v] = sum_j w_j * x[j][i + 8v ..], from 0, j ascending (ref's order),
 * for v < nv (nv = BV, or 1 with m lanes).  x [hc, d]. */
static inline __attribute__((always_inline)) void stream_mix(const void *x, int xb,
                                                             const float *w, size_t w_stride,
                                                             size_t hc, size_t d, size_t i, int nv,
                                                             __m256i mk, size_t m, __m256 *acc) {
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) acc[v] = _mm256_setzero_ps();
    for (size_t j = 0; j < hc; j++) {
        const __m256 wj = _mm256_set1_ps(w[j * w_stride]);
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++)
            acc[v] = _mm256_add_ps(acc[v],
                                   _mm256_mul_ps(wj, load_x_part(x, xb, j * d + i + v * W, mk, m)));
    }
}

/* The codes of 8 bf16-rounded values (their upper halves), m of them
 * stored. */
static inline void store_codes(uint16_t *p, size_t m, __m256 v) {
    __m256i hi = _mm256_srli_epi32(_mm256_castps_si256(v), 16);
    __m128i codes = _mm_packus_epi32(_mm256_castsi256_si128(hi), _mm256_extracti128_si256(hi, 1));
    if (m == W) {
        _mm_storeu_si128((__m128i *)p, codes);
    } else {
        uint16_t part[W];
        _mm_storeu_si128((__m128i *)part, codes);
        memcpy(p, part, m * sizeof *part);
    }
}

/* The first m lanes of v, a bf16-rounded vector, to element i of y: as
 * fp32, or with `bf16` as codes. */
static inline void store_y(void *y, int bf16, size_t i, __m256i mk, size_t m, __m256 v) {
    if (bf16) store_codes((uint16_t *)y + i, m, v);
    else store_m((float *)y + i, mk, m, v);
}

/* y[i + 8v ..] = bf16(sum_j w_j x[j][..]) for v < nv; with xb, x and y
 * hold bf16 codes. */
static inline __attribute__((always_inline)) void wsum_run(const void *x, int xb, const float *w,
                                                           size_t hc, size_t d, size_t i, int nv,
                                                           size_t m, void *y) {
    const __m256i mk = first_lanes(m);
    __m256 acc[BV];
    stream_mix(x, xb, w, 1, hc, d, i, nv, mk, m, acc);
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) store_y(y, xb, i + v * W, mk, m, round_bf16(acc[v]));
}

static inline __attribute__((always_inline)) void wsum_all(const void *x, int xb, const float *w,
                                                           size_t hc, size_t d, void *y) {
    size_t i = 0;
    for (; i + BV * W <= d; i += BV * W) wsum_run(x, xb, w, hc, d, i, BV, W, y);
    for (; i < d; i += W) wsum_run(x, xb, w, hc, d, i, 1, min_sz(W, d - i), y);
}

static void wsum_avx2(const float *x, const float *w, size_t hc, size_t d, float *y) {
    wsum_all(x, 0, w, hc, d, y);
}

static void wsum_bf16_avx2(const uint16_t *x, const float *w, size_t hc, size_t d, uint16_t *y) {
    wsum_all(x, 1, w, hc, d, y);
}

/* out[k][i + 8v ..] = bf16(post_k f[..] + sum_j comb[j][k] x[j][..]) for
 * every k, v < nv: new stream k weighs old stream j by comb[j][k], a column
 * of comb (stride hc).  The block of x stays in L1 while the hc outputs are
 * formed from it. */
static inline __attribute__((always_inline)) void post_run(const void *f, const void *x, int xb,
                                                           const float *post, const float *comb,
                                                           size_t hc, size_t d, size_t i, int nv,
                                                           size_t m, void *out) {
    const __m256i mk = first_lanes(m);
    for (size_t k = 0; k < hc; k++) {
        const __m256 pk = _mm256_set1_ps(post[k]);
        __m256 acc[BV];
        stream_mix(x, xb, comb + k, hc, hc, d, i, nv, mk, m, acc);
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++) {
            __m256 fv = load_x_part(f, xb, i + v * W, mk, m);
            __m256 o = _mm256_add_ps(_mm256_mul_ps(pk, fv), acc[v]);
            store_y(out, xb, k * d + i + v * W, mk, m, round_bf16(o));
        }
    }
}

/* f, x and out fp32, or with xb bf16 codes. */
static inline __attribute__((always_inline)) void post_all(const void *f, const void *x, int xb,
                                                           const float *post, const float *comb,
                                                           size_t hc, size_t d, void *out) {
    size_t i = 0;
    for (; i + BV * W <= d; i += BV * W) post_run(f, x, xb, post, comb, hc, d, i, BV, W, out);
    for (; i < d; i += W) post_run(f, x, xb, post, comb, hc, d, i, 1, min_sz(W, d - i), out);
}

static void post_avx2(const float *f, const float *x, const float *post, const float *comb,
                      size_t hc, size_t d, float *out) {
    post_all(f, x, 0, post, comb, hc, d, out);
}

static void post_bf16_avx2(const uint16_t *f, const uint16_t *x, const float *post,
                           const float *comb, size_t hc, size_t d, uint16_t *out) {
    post_all(f, x, 1, post, comb, hc, d, out);
}

const dsv4_mhc_kernels dsv4_mhc_kernels_avx2 = {
    .sumsq = sumsq_avx2,
    .mixes_seg = mixes_seg_avx2,
    .mixes_seg_bf16 = mixes_seg_bf16_avx2,
    .mixes_reduce = mixes_reduce_avx2,
    .mixes_lanes = W,
    .mixes_tile_rows = RR,
    .sinkhorn = sinkhorn_avx2,
    .sinkhorn_lanes = W,
    .weighted_sum = wsum_avx2,
    .weighted_sum_bf16 = wsum_bf16_avx2,
    .post = post_avx2,
    .post_bf16 = post_bf16_avx2,
};
#endif
