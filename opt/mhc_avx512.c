/* mhc_avx512.c - AVX-512 kernels of mHC (spec/mhc.md; mhc_kernels.h says
 * which are bit-exact with ref).  16 fp32 lanes; tails under lane masks
 * (masked loads and stores never touch memory outside the mask). */
#if defined(__x86_64__)
#include "mhc_kernels.h"
#define DSV4_VEC_AVX512
#include "vexp.h"

#include <immintrin.h>

enum { W = 16 }; /* lanes */

static __mmask16 first_lanes(size_t n) { return (__mmask16)((1u << n) - 1u); } /* n <= 16 */
static size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

/* v rounded to bf16 (RNE) and back, as ref's dsv4_bf16_decode(encode(v)):
 * adding 0x7FFF plus the lowest kept bit rounds to nearest even on the bits
 * (a carry into the exponent gives the next binade or Inf, as IEEE does);
 * any NaN becomes the canonical 0x7FC00000. */
static inline __m512 round_bf16(__m512 v) {
    __m512i u = _mm512_castps_si512(v);
    __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    __m512i r = _mm512_add_epi32(u, _mm512_add_epi32(odd, _mm512_set1_epi32(0x7FFF)));
    r = _mm512_and_si512(r, _mm512_set1_epi32((int)0xFFFF0000u));
    __mmask16 nan = _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    r = _mm512_mask_mov_epi32(r, nan, _mm512_set1_epi32(0x7FC00000));
    return _mm512_castsi512_ps(r);
}

/* 16 values of x from element k: fp32, or with `bf16` bf16 codes, each
 * widened exactly (the code becomes the upper half of the fp32 bits), so
 * both give the same vector for the same values.  load_x_masked: the lanes
 * outside mk read as 0 (their memory is not touched). */
static inline __m512 widen_bf16(__m256i codes) {
    return _mm512_castsi512_ps(_mm512_slli_epi32(_mm512_cvtepu16_epi32(codes), 16));
}

static inline __m512 load_x(const void *x, int bf16, size_t k) {
    if (bf16) return widen_bf16(_mm256_loadu_si256((const __m256i *)((const uint16_t *)x + k)));
    return _mm512_loadu_ps((const float *)x + k);
}

static inline __m512 load_x_masked(__mmask16 mk, const void *x, int bf16, size_t k) {
    if (bf16) return widen_bf16(_mm256_maskz_loadu_epi16(mk, (const uint16_t *)x + k));
    return _mm512_maskz_loadu_ps(mk, (const float *)x + k);
}

/* Element i of x, fp32 or bf16 codes. */
static inline const void *x_at(const void *x, int bf16, size_t i) {
    return bf16 ? (const void *)((const uint16_t *)x + i) : (const void *)((const float *)x + i);
}

/* ---- (H1) sum of squares ----------------------------------------------------
 * Per segment of DSV4_MHC_SEG terms (mhc_kernels.h): lane l sums x_k^2 over
 * the segment's k = l (mod 16) ascending, one FMA per term (the last K % 16
 * terms under a mask); the segments are added lane by lane in order, then a
 * fixed reduction of the 16 lanes.  The mixes kernel below accumulates the
 * same sums while it streams x (hc_pre's rms then costs no extra pass over
 * x) and gets the same bits. */
static float sumsq_avx512(const float *x, size_t K) {
    __m512 total = _mm512_setzero_ps();
    for (size_t k0 = 0; k0 < K; k0 += DSV4_MHC_SEG) {
        size_t k1 = min_sz(K, k0 + DSV4_MHC_SEG), k = k0;
        __m512 acc = _mm512_setzero_ps();
        for (; k + W <= k1; k += W) {
            __m512 v = _mm512_loadu_ps(x + k);
            acc = _mm512_fmadd_ps(v, v, acc);
        }
        if (k < k1) {
            __m512 v = _mm512_maskz_loadu_ps(first_lanes(k1 - k), x + k);
            acc = _mm512_fmadd_ps(v, v, acc);
        }
        total = k0 == 0 ? acc : _mm512_add_ps(total, acc);
    }
    return _mm512_reduce_add_ps(total);
}

/* ---- (H2) mixes: raw[t][m] = x[t] . fn[m], one segment per call -------------
 * Both operands are contiguous in k, so lanes run along k: accumulator
 * (t, m) holds 16 partial sums, lane l over the segment's k = l (mod 16)
 * ascending, one FMA per term, from zero; the call then stores them to acc
 * or adds them to it (the segment order of mhc_kernels.h), and
 * mixes_reduce_avx512 reduces the 16 lanes in a fixed order.  Register
 * tile: 4 tokens x 6 rows = 24 accumulators and 4 x vectors; per 16 terms
 * 10 loads feed 24 FMAs.  Cache blocking: within the segment (4 KiB of each
 * row) the 6 fn rows of a group (24 KiB) stay in L1 while the chunk's token
 * groups pass. */
enum { TT = 4, RR = 6 };

typedef struct mix_tile {
    const void *x[TT];  /* token rows [K], fp32 or bf16 codes */
    const float *f[RR]; /* fn rows [K] */
    __m512 *acc;        /* acc[t * stride + r] */
    __m512 *ss;         /* ss[t * stride]: the tokens' sums of squares (when sq) */
    size_t stride;      /* vectors per token in acc */
    int fold;           /* add to acc (else store) */
} mix_tile;

/* tt tokens (1 or TT) over terms [k0, k1); sq: also the sums of squares;
 * xb: x holds bf16 codes. */
static inline __attribute__((always_inline)) void mix_tile_run(const mix_tile *m, int tt, int sq,
                                                               int xb, size_t k0, size_t k1) {
    __m512 a[TT][RR], s[TT];
#pragma GCC unroll 4
    for (int t = 0; t < tt; t++) {
#pragma GCC unroll 6
        for (int r = 0; r < RR; r++) a[t][r] = _mm512_setzero_ps();
        s[t] = _mm512_setzero_ps();
    }
    size_t k = k0, full = k0 + ((k1 - k0) / W) * W;
    for (; k < full; k += W) {
        __m512 xv[TT];
#pragma GCC unroll 4
        for (int t = 0; t < tt; t++) {
            xv[t] = load_x(m->x[t], xb, k);
            if (sq) s[t] = _mm512_fmadd_ps(xv[t], xv[t], s[t]);
        }
#pragma GCC unroll 6
        for (int r = 0; r < RR; r++) {
            __m512 fv = _mm512_loadu_ps(m->f[r] + k);
#pragma GCC unroll 4
            for (int t = 0; t < tt; t++) a[t][r] = _mm512_fmadd_ps(xv[t], fv, a[t][r]);
        }
    }
    /* The last K % 16 terms; zero lanes add nothing.  These loops are
     * unrolled as the main loop is: rolled, they made GCC keep a[][] on the
     * stack (zeroed, loaded before the main loop, stored after it), and
     * hc_pre ran 5-8% slower (spec/mhc.md §9). */
    if (k < k1) {
        __mmask16 mk = first_lanes(k1 - k);
#pragma GCC unroll 4
        for (int t = 0; t < tt; t++) {
            __m512 xv = load_x_masked(mk, m->x[t], xb, k);
            if (sq) s[t] = _mm512_fmadd_ps(xv, xv, s[t]);
#pragma GCC unroll 6
            for (int r = 0; r < RR; r++)
                a[t][r] = _mm512_fmadd_ps(xv, _mm512_maskz_loadu_ps(mk, m->f[r] + k), a[t][r]);
        }
    }
#pragma GCC unroll 4
    for (int t = 0; t < tt; t++) {
        __m512 *at = m->acc + t * m->stride;
#pragma GCC unroll 6
        for (int r = 0; r < RR; r++) at[r] = m->fold ? _mm512_add_ps(at[r], a[t][r]) : a[t][r];
        if (sq) {
            __m512 *st = m->ss + t * m->stride;
            *st = m->fold ? _mm512_add_ps(*st, s[t]) : s[t];
        }
    }
}

/* The eight variants (tokens, squares, x format), each compiled with its
 * loops unrolled; tile_fns[xb][sq][tt == TT]. */
typedef void (*mix_tile_fn)(const mix_tile *m, size_t k0, size_t k1);
static void mix_1(const mix_tile *m, size_t k0, size_t k1) { mix_tile_run(m, 1, 0, 0, k0, k1); }
static void mix_4(const mix_tile *m, size_t k0, size_t k1) { mix_tile_run(m, TT, 0, 0, k0, k1); }
static void mix_1s(const mix_tile *m, size_t k0, size_t k1) { mix_tile_run(m, 1, 1, 0, k0, k1); }
static void mix_4s(const mix_tile *m, size_t k0, size_t k1) { mix_tile_run(m, TT, 1, 0, k0, k1); }
static void mix_1b(const mix_tile *m, size_t k0, size_t k1) { mix_tile_run(m, 1, 0, 1, k0, k1); }
static void mix_4b(const mix_tile *m, size_t k0, size_t k1) { mix_tile_run(m, TT, 0, 1, k0, k1); }
static void mix_1sb(const mix_tile *m, size_t k0, size_t k1) { mix_tile_run(m, 1, 1, 1, k0, k1); }
static void mix_4sb(const mix_tile *m, size_t k0, size_t k1) { mix_tile_run(m, TT, 1, 1, k0, k1); }
static const mix_tile_fn tile_fns[2][2][2] = {{{mix_1, mix_4}, {mix_1s, mix_4s}},
                                              {{mix_1b, mix_4b}, {mix_1sb, mix_4sb}}};

/* Segment `seg` for all rows and all ntok tokens, row group by row group.
 * A short last row group repeats its last row (its extra sums land in the
 * padding of acc and are not used).  The first row group also sums the
 * squares when sq.  Token tiles forward in even row groups and backward
 * in odd ones (dsv4_mhc_tile_at): 2-8% faster on two threads than always
 * forward, the same on one. */
static void mixes_seg_run(const void *x, int xb, size_t ntok, size_t K, const float *fn,
                          size_t rows, size_t seg, int fold, int sq, float *accf) {
    __m512 *acc = (__m512 *)accf; /* [ntok][stride] */
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

static void mixes_seg_avx512(const float *x, size_t ntok, size_t K, const float *fn, size_t rows,
                             size_t seg, int fold, int sq, float *acc) {
    mixes_seg_run(x, 0, ntok, K, fn, rows, seg, fold, sq, acc);
}

static void mixes_seg_bf16_avx512(const uint16_t *x, size_t ntok, size_t K, const float *fn,
                                  size_t rows, size_t seg, int fold, int sq, float *acc) {
    mixes_seg_run(x, 1, ntok, K, fn, rows, seg, fold, sq, acc);
}

/* raw[t][m] and sumsq[t] (when not NULL): the 16 lanes of acc reduced. */
static void mixes_reduce_avx512(const float *accf, size_t ntok, size_t rows, float *raw,
                                float *sumsq) {
    const __m512 *acc = (const __m512 *)accf;
    size_t stride = dsv4_mhc_acc_rows(rows, RR);
    for (size_t t = 0; t < ntok; t++) {
        for (size_t r = 0; r < rows; r++)
            raw[t * rows + r] = _mm512_reduce_add_ps(acc[t * stride + r]);
        if (sumsq) sumsq[t] = _mm512_reduce_add_ps(acc[t * stride + stride - 1]);
    }
}

/* ---- (S1)-(S3) Sinkhorn, one token per lane ---------------------------------
 * The matrices of 16 tokens are transposed into c[q][lane] (q = j*n + k),
 * so each step of ref becomes the same operation on 16 tokens at once;
 * lanes past ntok hold zeros and are never written back. */
static inline __m512 ld(const float *c, size_t q) { return _mm512_loadu_ps(c + q * W); }
static inline void st(float *c, size_t q, __m512 v) { _mm512_storeu_ps(c + q * W, v); }

/* (S1) row softmax, max subtracted, then + eps.  c [n*n][W] in place. */
static void soa_softmax_rows(float *c, size_t n, __m512 eps) {
    for (size_t j = 0; j < n; j++) {
        __m512 mx = ld(c, j * n);
        /* max_ps(a, b) = a > b ? a : b, NaN -> b: ref's `row[k] > mx ? row[k] : mx` */
        for (size_t k = 1; k < n; k++) mx = _mm512_max_ps(ld(c, j * n + k), mx);
        __m512 s = _mm512_setzero_ps();
        for (size_t k = 0; k < n; k++) {
            __m512 e = vexp(_mm512_sub_ps(ld(c, j * n + k), mx));
            st(c, j * n + k, e);
            s = _mm512_add_ps(s, e);
        }
        for (size_t k = 0; k < n; k++)
            st(c, j * n + k, _mm512_add_ps(_mm512_div_ps(ld(c, j * n + k), s), eps));
    }
}

/* Row step: each row divided by (its sum + eps). */
static void soa_rows(float *c, size_t n, __m512 eps) {
    for (size_t j = 0; j < n; j++) {
        __m512 s = _mm512_setzero_ps();
        for (size_t k = 0; k < n; k++) s = _mm512_add_ps(s, ld(c, j * n + k));
        __m512 div = _mm512_add_ps(s, eps);
        for (size_t k = 0; k < n; k++) st(c, j * n + k, _mm512_div_ps(ld(c, j * n + k), div));
    }
}

/* Column step: all column sums first (colsum [n][W]), then the divisions. */
static void soa_cols(float *c, size_t n, __m512 eps, float *colsum) {
    for (size_t k = 0; k < n; k++) {
        __m512 s = _mm512_setzero_ps();
        for (size_t j = 0; j < n; j++) s = _mm512_add_ps(s, ld(c, j * n + k));
        st(colsum, k, _mm512_add_ps(s, eps));
    }
    for (size_t j = 0; j < n; j++)
        for (size_t k = 0; k < n; k++)
            st(c, j * n + k, _mm512_div_ps(ld(c, j * n + k), ld(colsum, k)));
}

static void sinkhorn_avx512(size_t n, int softmax, int rounds, float eps_f, size_t ntok,
                            const float *in, float *out, float *scratch) {
    size_t nn = n * n;
    float *c = scratch, *colsum = scratch + nn * W; /* [nn][W], [n][W] */
    const __m512 eps = _mm512_set1_ps(eps_f);
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
 * Channels go in blocks of BV vectors (BV * 16 channels): one pass over the
 * hc streams per block broadcasts each weight once and reads each stream in
 * runs of BV * 64 bytes.  Against one vector per pass with the weights
 * broadcast again each time, this ran the weighted sum 10-40% faster with x
 * coming from L3.  Channels past the last whole block go one vector at a
 * time under a mask. */
enum { BV = 8 };

/* acc[v] = sum_j w_j * x[j][i + 16v ..], from 0, j ascending (ref's order),
 * for v < nv (nv = BV, or 1 with the lane mask mk).  x [hc, d]. */
static inline __attribute__((always_inline)) void stream_mix(const void *x, int xb,
                                                             const float *w, size_t w_stride,
                                                             size_t hc, size_t d, size_t i, int nv,
                                                             __mmask16 mk, __m512 *acc) {
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) acc[v] = _mm512_setzero_ps();
    for (size_t j = 0; j < hc; j++) {
        const __m512 wj = _mm512_set1_ps(w[j * w_stride]);
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++)
            acc[v] = _mm512_add_ps(acc[v],
                                   _mm512_mul_ps(wj, load_x_masked(mk, x, xb, j * d + i + v * W)));
    }
}

/* The lanes mk of v, a bf16-rounded vector, to element i of y: as fp32,
 * or with `bf16` as codes (the upper halves of the fp32 bits). */
static inline void store_y(void *y, int bf16, size_t i, __mmask16 mk, __m512 v) {
    if (bf16) {
        __m256i codes = _mm512_cvtepi32_epi16(_mm512_srli_epi32(_mm512_castps_si512(v), 16));
        _mm256_mask_storeu_epi16((uint16_t *)y + i, mk, codes);
    } else {
        _mm512_mask_storeu_ps((float *)y + i, mk, v);
    }
}

/* y[i + 16v ..] = bf16(sum_j w_j x[j][..]) for v < nv; with xb, x and y
 * hold bf16 codes. */
static inline __attribute__((always_inline)) void wsum_run(const void *x, int xb, const float *w,
                                                           size_t hc, size_t d, size_t i, int nv,
                                                           __mmask16 mk, void *y) {
    __m512 acc[BV];
    stream_mix(x, xb, w, 1, hc, d, i, nv, mk, acc);
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) store_y(y, xb, i + v * W, mk, round_bf16(acc[v]));
}

static inline __attribute__((always_inline)) void wsum_all(const void *x, int xb, const float *w,
                                                           size_t hc, size_t d, void *y) {
    size_t i = 0;
    for (; i + BV * W <= d; i += BV * W) wsum_run(x, xb, w, hc, d, i, BV, (__mmask16)0xFFFF, y);
    for (; i < d; i += W) wsum_run(x, xb, w, hc, d, i, 1, first_lanes(min_sz(W, d - i)), y);
}

static void wsum_avx512(const float *x, const float *w, size_t hc, size_t d, float *y) {
    wsum_all(x, 0, w, hc, d, y);
}

static void wsum_bf16_avx512(const uint16_t *x, const float *w, size_t hc, size_t d, uint16_t *y) {
    wsum_all(x, 1, w, hc, d, y);
}

/* out[k][i + 16v ..] = bf16(post_k f[..] + sum_j comb[j][k] x[j][..]) for
 * every k, v < nv: new stream k weighs old stream j by comb[j][k], a column
 * of comb (stride hc).  The block of x stays in L1 while the hc outputs are
 * formed from it. */
static inline __attribute__((always_inline)) void post_run(const void *f, const void *x, int xb,
                                                           const float *post, const float *comb,
                                                           size_t hc, size_t d, size_t i, int nv,
                                                           __mmask16 mk, void *out) {
    for (size_t k = 0; k < hc; k++) {
        const __m512 pk = _mm512_set1_ps(post[k]);
        __m512 acc[BV];
        stream_mix(x, xb, comb + k, hc, hc, d, i, nv, mk, acc);
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++) {
            __m512 fv = load_x_masked(mk, f, xb, i + v * W);
            __m512 o = _mm512_add_ps(_mm512_mul_ps(pk, fv), acc[v]);
            store_y(out, xb, k * d + i + v * W, mk, round_bf16(o));
        }
    }
}

/* f, x and out fp32, or with xb bf16 codes. */
static inline __attribute__((always_inline)) void post_all(const void *f, const void *x, int xb,
                                                           const float *post, const float *comb,
                                                           size_t hc, size_t d, void *out) {
    size_t i = 0;
    for (; i + BV * W <= d; i += BV * W)
        post_run(f, x, xb, post, comb, hc, d, i, BV, (__mmask16)0xFFFF, out);
    for (; i < d; i += W)
        post_run(f, x, xb, post, comb, hc, d, i, 1, first_lanes(min_sz(W, d - i)), out);
}

static void post_avx512(const float *f, const float *x, const float *post, const float *comb,
                        size_t hc, size_t d, float *out) {
    post_all(f, x, 0, post, comb, hc, d, out);
}

static void post_bf16_avx512(const uint16_t *f, const uint16_t *x, const float *post,
                             const float *comb, size_t hc, size_t d, uint16_t *out) {
    post_all(f, x, 1, post, comb, hc, d, out);
}

const dsv4_mhc_kernels dsv4_mhc_kernels_avx512 = {
    .sumsq = sumsq_avx512,
    .mixes_seg = mixes_seg_avx512,
    .mixes_seg_bf16 = mixes_seg_bf16_avx512,
    .mixes_reduce = mixes_reduce_avx512,
    .mixes_lanes = W,
    .mixes_tile_rows = RR,
    .sinkhorn = sinkhorn_avx512,
    .sinkhorn_lanes = W,
    .weighted_sum = wsum_avx512,
    .weighted_sum_bf16 = wsum_bf16_avx512,
    .post = post_avx512,
    .post_bf16 = post_bf16_avx512,
};
#endif
