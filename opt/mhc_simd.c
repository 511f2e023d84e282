/* mhc_simd.c - the mHC kernels written once over the vector layer (vec.h),
 * compiled once per ISA by mhc_avx2.c and mhc_avx512.c (spec/mhc.md;
 * mhc_kernels.h says which are bit-exact with ref).  VEC_W fp32 lanes; tails
 * through the layer's partial loads and stores, which touch nothing past the
 * data. */
#include "vec.h"
#include "vexp.h"

#include "mhc_kernels.h"

enum { W = VEC_W }; /* lanes */

static inline size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

/* v rounded to bf16 (RNE) and back, as ref's dsv4_bf16_decode(encode(v));
 * any NaN becomes the canonical 0x7FC00000. */
static inline vf round_bf16(vf v) {
    vi r = vi_and(vi_bf16_rne(vf_as_vi(v)), vi_set1(0xFFFF0000u));
    return vf_where(vf_unord(v, v), vf_bits(0x7FC00000u), vi_as_vf(r));
}

/* VEC_W values of x from element k: fp32, or with `bf16` bf16 codes, each
 * widened exactly, so both give the same vector for the same values.
 * load_x_n: the first m lanes, the others 0 (their memory is not touched). */
static inline vf load_x(const void *x, int bf16, size_t k) {
    if (bf16) return vf_load_bf16_n((const uint16_t *)x + k, W);
    return vf_load((const float *)x + k);
}

static inline vf load_x_n(const void *x, int bf16, size_t k, size_t m) {
    if (bf16) return vf_load_bf16_n((const uint16_t *)x + k, m);
    return vf_load_n((const float *)x + k, m);
}

/* Element i of x, fp32 or bf16 codes. */
static inline const void *x_at(const void *x, int bf16, size_t i) {
    return bf16 ? (const void *)((const uint16_t *)x + i) : (const void *)((const float *)x + i);
}

/* ---- (H1) sum of squares ----------------------------------------------------
 * Per segment of DSV4_MHC_SEG terms (mhc_kernels.h): lane l sums x_k^2 over
 * the segment's k = l (mod VEC_W) ascending, one FMA per term (the last
 * K % VEC_W terms in a partial vector); the segments are added lane by lane
 * in order, then vf_hsum's fixed reduction of the lanes.  The mixes kernel
 * below accumulates the same sums while it streams x (hc_pre's rms then
 * costs no extra pass over x) and gets the same bits. */
static float sum_squares(const float *x, size_t K) {
    vf total = vf_zero();
    for (size_t k0 = 0; k0 < K; k0 += DSV4_MHC_SEG) {
        size_t k1 = min_sz(K, k0 + DSV4_MHC_SEG), k = k0;
        vf acc = vf_zero();
        for (; k + W <= k1; k += W) {
            vf v = vf_load(x + k);
            acc = vf_fmadd(v, v, acc);
        }
        if (k < k1) {
            vf v = vf_load_n(x + k, k1 - k);
            acc = vf_fmadd(v, v, acc);
        }
        total = k0 == 0 ? acc : vf_add(total, acc);
    }
    return vf_hsum(total);
}

/* ---- (H2) mixes: raw[t][m] = x[t] . fn[m], one segment per call -------------
 * Both operands are contiguous in k, so lanes run along k: accumulator
 * (t, m) holds VEC_W partial sums, lane l over the segment's k = l (mod
 * VEC_W) ascending, one FMA per term, from zero; the call then stores them
 * to acc or adds them to it (the segment order of mhc_kernels.h), and
 * mixes_reduce reduces the lanes with vf_hsum.  Register tile: TT tokens x
 * RR rows of accumulators plus the TT x vectors (the fn vector is an FMA
 * memory operand), sized to the register file: 4 x 6 + 4 of 32 registers,
 * 3 x 4 + 3 of 16.  Cache blocking: within the segment the RR fn rows of a
 * group stay in L1 while the chunk's token tiles pass. */
#if VEC_REGS >= 32
enum { TT = 4, RR = 6 };
#else
enum { TT = 3, RR = 4 };
#endif

typedef struct mix_tile {
    const void *x[TT];  /* token rows [K], fp32 or bf16 codes */
    const float *f[RR]; /* fn rows [K] */
    vf *acc;            /* acc[t * stride + r] */
    vf *ss;             /* ss[t * stride]: the tokens' sums of squares (when sq) */
    size_t stride;      /* vectors per token in acc */
    int fold;           /* add to acc (else store) */
} mix_tile;

/* tt tokens (1 or TT) over terms [k0, k1); sq: also the sums of squares;
 * xb: x holds bf16 codes. */
VEC_INLINE void mix_tile_run(const mix_tile *m, int tt, int sq, int xb, size_t k0, size_t k1) {
    vf a[TT][RR], s[TT];
#pragma GCC unroll 8
    for (int t = 0; t < tt; t++) {
#pragma GCC unroll 8
        for (int r = 0; r < RR; r++) a[t][r] = vf_zero();
        s[t] = vf_zero();
    }
    size_t k = k0, full = k0 + ((k1 - k0) / W) * W;
    for (; k < full; k += W) {
        vf xv[TT];
#pragma GCC unroll 8
        for (int t = 0; t < tt; t++) {
            xv[t] = load_x(m->x[t], xb, k);
            if (sq) s[t] = vf_fmadd(xv[t], xv[t], s[t]);
        }
#pragma GCC unroll 8
        for (int r = 0; r < RR; r++) {
            vf fv = vf_load(m->f[r] + k);
#pragma GCC unroll 8
            for (int t = 0; t < tt; t++) a[t][r] = vf_fmadd(xv[t], fv, a[t][r]);
        }
    }
    /* The last K % VEC_W terms; zero lanes add nothing.  These loops are
     * unrolled as the main loop is, so that a[][] stays in registers around
     * them (rolled, GCC keeps it on the stack through the main loop). */
    if (k < k1) {
        size_t n = k1 - k;
#pragma GCC unroll 8
        for (int t = 0; t < tt; t++) {
            vf xv = load_x_n(m->x[t], xb, k, n);
            if (sq) s[t] = vf_fmadd(xv, xv, s[t]);
#pragma GCC unroll 8
            for (int r = 0; r < RR; r++) a[t][r] = vf_fmadd(xv, vf_load_n(m->f[r] + k, n), a[t][r]);
        }
    }
#pragma GCC unroll 8
    for (int t = 0; t < tt; t++) {
        vf *at = m->acc + t * m->stride;
#pragma GCC unroll 8
        for (int r = 0; r < RR; r++) at[r] = m->fold ? vf_add(at[r], a[t][r]) : a[t][r];
        if (sq) {
            vf *st = m->ss + t * m->stride;
            *st = m->fold ? vf_add(*st, s[t]) : s[t];
        }
    }
}

/* The eight variants (tokens, squares, x format), each compiled with its
 * loops unrolled; tile_fns[xb][sq][tt == TT]. */
typedef void (*mix_tile_fn)(const mix_tile *m, size_t k0, size_t k1);
static void mix_1(const mix_tile *m, size_t k0, size_t k1) { mix_tile_run(m, 1, 0, 0, k0, k1); }
static void mix_t(const mix_tile *m, size_t k0, size_t k1) { mix_tile_run(m, TT, 0, 0, k0, k1); }
static void mix_1s(const mix_tile *m, size_t k0, size_t k1) { mix_tile_run(m, 1, 1, 0, k0, k1); }
static void mix_ts(const mix_tile *m, size_t k0, size_t k1) { mix_tile_run(m, TT, 1, 0, k0, k1); }
static void mix_1b(const mix_tile *m, size_t k0, size_t k1) { mix_tile_run(m, 1, 0, 1, k0, k1); }
static void mix_tb(const mix_tile *m, size_t k0, size_t k1) { mix_tile_run(m, TT, 0, 1, k0, k1); }
static void mix_1sb(const mix_tile *m, size_t k0, size_t k1) { mix_tile_run(m, 1, 1, 1, k0, k1); }
static void mix_tsb(const mix_tile *m, size_t k0, size_t k1) { mix_tile_run(m, TT, 1, 1, k0, k1); }
static const mix_tile_fn tile_fns[2][2][2] = {{{mix_1, mix_t}, {mix_1s, mix_ts}},
                                              {{mix_1b, mix_tb}, {mix_1sb, mix_tsb}}};

/* Segment `seg` for all rows and all ntok tokens, row group by row group.
 * A short last row group repeats its last row (its extra sums land in the
 * padding of acc and are not used).  The first row group also sums the
 * squares when sq.  Token tiles go forward in even row groups and backward
 * in odd ones (dsv4_mhc_tile_at). */
static void mixes_seg_run(const void *x, int xb, size_t ntok, size_t K, const float *fn,
                          size_t rows, size_t seg, int fold, int sq, float *accf) {
    vf *acc = (vf *)accf; /* [ntok][stride] */
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

static void mixes_seg_f32(const float *x, size_t ntok, size_t K, const float *fn, size_t rows,
                          size_t seg, int fold, int sq, float *acc) {
    mixes_seg_run(x, 0, ntok, K, fn, rows, seg, fold, sq, acc);
}

static void mixes_seg_bf16(const uint16_t *x, size_t ntok, size_t K, const float *fn,
                           size_t rows, size_t seg, int fold, int sq, float *acc) {
    mixes_seg_run(x, 1, ntok, K, fn, rows, seg, fold, sq, acc);
}

/* raw[t][m] and sumsq[t] (when not NULL): the lanes of acc reduced. */
static void mixes_reduce(const float *accf, size_t ntok, size_t rows, float *raw, float *sumsq) {
    const vf *acc = (const vf *)accf;
    size_t stride = dsv4_mhc_acc_rows(rows, RR);
    for (size_t t = 0; t < ntok; t++) {
        for (size_t r = 0; r < rows; r++) raw[t * rows + r] = vf_hsum(acc[t * stride + r]);
        if (sumsq) sumsq[t] = vf_hsum(acc[t * stride + stride - 1]);
    }
}

/* ---- (S1)-(S3) Sinkhorn, one token per lane ---------------------------------
 * The matrices of VEC_W tokens are transposed into c[q][lane] (q = j*n + k),
 * so each step of ref becomes the same operation on VEC_W tokens at once;
 * lanes past ntok hold zeros and are never written back. */
static inline vf ld(const float *c, size_t q) { return vf_load(c + q * W); }
static inline void st(float *c, size_t q, vf v) { vf_store(c + q * W, v); }

/* (S1) row softmax, max subtracted, then + eps.  c [n*n][W] in place. */
static void soa_softmax_rows(float *c, size_t n, vf eps) {
    for (size_t j = 0; j < n; j++) {
        vf mx = ld(c, j * n);
        /* vf_max(a, b) = a > b ? a : b, NaN -> b: ref's `row[k] > mx ? row[k] : mx` */
        for (size_t k = 1; k < n; k++) mx = vf_max(ld(c, j * n + k), mx);
        vf s = vf_zero();
        for (size_t k = 0; k < n; k++) {
            vf e = vexp(vf_sub(ld(c, j * n + k), mx));
            st(c, j * n + k, e);
            s = vf_add(s, e);
        }
        for (size_t k = 0; k < n; k++) st(c, j * n + k, vf_add(vf_div(ld(c, j * n + k), s), eps));
    }
}

/* Row step: each row divided by (its sum + eps). */
static void soa_rows(float *c, size_t n, vf eps) {
    for (size_t j = 0; j < n; j++) {
        vf s = vf_zero();
        for (size_t k = 0; k < n; k++) s = vf_add(s, ld(c, j * n + k));
        vf div = vf_add(s, eps);
        for (size_t k = 0; k < n; k++) st(c, j * n + k, vf_div(ld(c, j * n + k), div));
    }
}

/* Column step: all column sums first (colsum [n][W]), then the divisions. */
static void soa_cols(float *c, size_t n, vf eps, float *colsum) {
    for (size_t k = 0; k < n; k++) {
        vf s = vf_zero();
        for (size_t j = 0; j < n; j++) s = vf_add(s, ld(c, j * n + k));
        st(colsum, k, vf_add(s, eps));
    }
    for (size_t j = 0; j < n; j++)
        for (size_t k = 0; k < n; k++) st(c, j * n + k, vf_div(ld(c, j * n + k), ld(colsum, k)));
}

static void sinkhorn(size_t n, int softmax, int rounds, float eps_f, size_t ntok, const float *in,
                     float *out, float *scratch) {
    size_t nn = n * n;
    float *c = scratch, *colsum = scratch + nn * W; /* [nn][W], [n][W] */
    const vf eps = vf_set1(eps_f);
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
 * Channels go in blocks of BV vectors (BV * VEC_W channels): one pass over
 * the hc streams per block broadcasts each weight once and reads each stream
 * in runs of BV vectors.  Channels past the last whole block go one vector
 * at a time, the last one partial. */
enum { BV = 8 };

/* acc[v] = sum_j w_j * x[j][i + VEC_W v ..], from 0, j ascending (ref's
 * order), for v < nv (nv = BV, or 1 with m lanes).  x [hc, d]. */
VEC_INLINE void stream_mix(const void *x, int xb, const float *w, size_t w_stride, size_t hc,
                           size_t d, size_t i, int nv, size_t m, vf *acc) {
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) acc[v] = vf_zero();
    for (size_t j = 0; j < hc; j++) {
        const vf wj = vf_set1(w[j * w_stride]);
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++)
            acc[v] = vf_add(acc[v], vf_mul(wj, load_x_n(x, xb, j * d + i + v * W, m)));
    }
}

/* The first m lanes of v, a bf16-rounded vector, to element i of y: as fp32,
 * or with `bf16` as codes (the upper halves of the fp32 bits). */
static inline void store_y(void *y, int bf16, size_t i, size_t m, vf v) {
    if (bf16) vi_store_u16_n((uint16_t *)y + i, vi_srli(vf_as_vi(v), 16), m);
    else vf_store_n((float *)y + i, v, m);
}

/* y[i + VEC_W v ..] = bf16(sum_j w_j x[j][..]) for v < nv; with xb, x and y
 * hold bf16 codes. */
VEC_INLINE void wsum_run(const void *x, int xb, const float *w, size_t hc, size_t d, size_t i,
                         int nv, size_t m, void *y) {
    vf acc[BV];
    stream_mix(x, xb, w, 1, hc, d, i, nv, m, acc);
#pragma GCC unroll 8
    for (int v = 0; v < nv; v++) store_y(y, xb, i + v * W, m, round_bf16(acc[v]));
}

VEC_INLINE void wsum_all(const void *x, int xb, const float *w, size_t hc, size_t d, void *y) {
    size_t i = 0;
    for (; i + BV * W <= d; i += BV * W) wsum_run(x, xb, w, hc, d, i, BV, W, y);
    for (; i < d; i += W) wsum_run(x, xb, w, hc, d, i, 1, min_sz(W, d - i), y);
}

static void wsum_f32(const float *x, const float *w, size_t hc, size_t d, float *y) {
    wsum_all(x, 0, w, hc, d, y);
}

static void wsum_bf16(const uint16_t *x, const float *w, size_t hc, size_t d, uint16_t *y) {
    wsum_all(x, 1, w, hc, d, y);
}

/* out[k][i + VEC_W v ..] = bf16(post_k f[..] + sum_j comb[j][k] x[j][..])
 * for every k, v < nv: new stream k weighs old stream j by comb[j][k], a
 * column of comb (stride hc).  The block of x stays in L1 while the hc
 * outputs are formed from it. */
VEC_INLINE void post_run(const void *f, const void *x, int xb, const float *post,
                         const float *comb, size_t hc, size_t d, size_t i, int nv, size_t m,
                         void *out) {
    for (size_t k = 0; k < hc; k++) {
        const vf pk = vf_set1(post[k]);
        vf acc[BV];
        stream_mix(x, xb, comb + k, hc, hc, d, i, nv, m, acc);
#pragma GCC unroll 8
        for (int v = 0; v < nv; v++) {
            vf fv = load_x_n(f, xb, i + v * W, m);
            vf o = vf_add(vf_mul(pk, fv), acc[v]);
            store_y(out, xb, k * d + i + v * W, m, round_bf16(o));
        }
    }
}

/* f, x and out fp32, or with xb bf16 codes. */
VEC_INLINE void post_all(const void *f, const void *x, int xb, const float *post,
                         const float *comb, size_t hc, size_t d, void *out) {
    size_t i = 0;
    for (; i + BV * W <= d; i += BV * W) post_run(f, x, xb, post, comb, hc, d, i, BV, W, out);
    for (; i < d; i += W) post_run(f, x, xb, post, comb, hc, d, i, 1, min_sz(W, d - i), out);
}

static void post_f32(const float *f, const float *x, const float *post, const float *comb,
                     size_t hc, size_t d, float *out) {
    post_all(f, x, 0, post, comb, hc, d, out);
}

static void post_bf16(const uint16_t *f, const uint16_t *x, const float *post,
                      const float *comb, size_t hc, size_t d, uint16_t *out) {
    post_all(f, x, 1, post, comb, hc, d, out);
}

const dsv4_mhc_kernels VEC_NAME(dsv4_mhc_kernels) = {
    .sumsq = sum_squares,
    .mixes_seg = mixes_seg_f32,
    .mixes_seg_bf16 = mixes_seg_bf16,
    .mixes_reduce = mixes_reduce,
    .mixes_lanes = W,
    .mixes_tile_rows = RR,
    .sinkhorn = sinkhorn,
    .sinkhorn_lanes = W,
    .weighted_sum = wsum_f32,
    .weighted_sum_bf16 = wsum_bf16,
    .post = post_f32,
    .post_bf16 = post_bf16,
};
