/* sparse_attn_simd.c - the sparse attention kernels written once over the
 * vector layer (vec.h), compiled once per ISA by sparse_attn_avx2.c and
 * sparse_attn_avx512.c (contract: sparse_attn_kernels.h).
 *
 *  - logits: heads in lanes.  A register tile of R keys x CV vectors of
 *    heads; per d, CV loads of the transposed query and one broadcast of
 *    k_j[d] per key, R x CV FMAs (24 of 32 or 12 of 16 registers hold
 *    sums).  Each lane is its own chain over d.
 *  - softmax: heads in lanes, the block's keys one after the other, so
 *    each head's sum runs over the keys in order, as the scalar kernel's.
 *  - accumulate: channels in lanes.  A tile of 4 heads x CV vectors of
 *    channels; per key, CV loads of k_j and 4 broadcasts of p, 4 x CV
 *    FMAs; the block's keys for one tile of channels stay in L1 while the
 *    tiles of heads go by.
 * Tails: keys past nk are the driver's zero rows, head columns past nh
 * are padding (computed, never used), channels past D are masked. */
#include "vec.h"
#include "vexp.h"

#include "sparse_attn_kernels.h"

enum { W = VEC_W, RH = 4 };
/* Vectors of heads per logits tile, of channels per output tile (macros:
 * the preprocessor picks the tile functions from them). */
#if VEC_REGS >= 32
#define QK_CV 4
#define PV_CV 6
#else
#define QK_CV 2
#define PV_CV 2
#endif

static inline size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

/* ---- transpose ------------------------------------------------------------------ */
static void transpose_q(const float *q, size_t ldq, size_t nh, size_t D, size_t hp, float *qt) {
    for (size_t h0 = 0; h0 < hp; h0 += W)
        for (size_t d0 = 0; d0 < D; d0 += W) {
            size_t dn = min_sz(W, D - d0);
            vf blk[W]; /* [W heads, W channels], then [W channels, W heads] */
#pragma GCC unroll 16
            for (size_t i = 0; i < W; i++)
                blk[i] = h0 + i < nh ? vf_load_n(q + (h0 + i) * ldq + d0, dn) : vf_zero();
            vf_transpose(blk);
#pragma GCC unroll 16
            for (size_t r = 0; r < W; r++)
                if (r < dn) vf_store(qt + (d0 + r) * hp + h0, blk[r]);
        }
}

/* ---- logits ------------------------------------------------------------------------ */
/* Keys [0, nk) rounded up to R, head vectors [0, CV) of qt and s (already
 * offset to the tile's first head). */
VEC_INLINE void logits_tiles(int CV, int R, const float *qt, size_t hp,
                             const float *const *rows, size_t nk, size_t D, float scale,
                             float *s) {
    const vf sc = vf_set1(scale);
    for (size_t j0 = 0; j0 < nk; j0 += (size_t)R) {
        vf acc[24][4];
        const float *k[24];
#pragma GCC unroll 24
        for (int r = 0; r < R; r++) {
            k[r] = rows[j0 + (size_t)r];
#pragma GCC unroll 4
            for (int c = 0; c < CV; c++) acc[r][c] = vf_zero();
        }
        for (size_t d = 0; d < D; d++) {
            vf b[4];
#pragma GCC unroll 4
            for (int c = 0; c < CV; c++) b[c] = vf_load(qt + d * hp + (size_t)c * W);
#pragma GCC unroll 24
            for (int r = 0; r < R; r++) {
                const vf a = vf_set1(k[r][d]);
#pragma GCC unroll 4
                for (int c = 0; c < CV; c++) acc[r][c] = vf_fmadd(a, b[c], acc[r][c]);
            }
        }
#pragma GCC unroll 24
        for (int r = 0; r < R; r++)
#pragma GCC unroll 4
            for (int c = 0; c < CV; c++)
                vf_store(s + (j0 + (size_t)r) * hp + (size_t)c * W, vf_mul(acc[r][c], sc));
    }
}

/* One function per width of a tile of head vectors, its key count R sized
 * to the register file: R x CV sums, CV loads and one broadcast. */
#if VEC_REGS >= 32
#define LOGITS_R(cv) ((cv) == 1 ? 24 : (cv) == 2 ? 14 : (cv) == 3 ? 9 : 6)
#else
#define LOGITS_R(cv) ((cv) == 1 ? 12 : 6)
#endif
#define LOGITS_CV(cv)                                                                         \
    static void logits_cv##cv(const float *qt, size_t hp, const float *const *rows, size_t nk, \
                              size_t D, float scale, float *s) {                            \
        logits_tiles(cv, LOGITS_R(cv), qt, hp, rows, nk, D, scale, s);                        \
    }
LOGITS_CV(1)
LOGITS_CV(2)
#if QK_CV >= 4
LOGITS_CV(3)
LOGITS_CV(4)
#endif

static void logits(const float *qt, size_t hp, const float *const *rows, size_t nk, size_t D,
                   float scale, float *s) {
    size_t vecs = hp / W;
    for (size_t v0 = 0; v0 < vecs; v0 += QK_CV) {
        const float *qv = qt + v0 * W;
        float *sv = s + v0 * W;
        switch (min_sz(QK_CV, vecs - v0)) {
        case 1: logits_cv1(qv, hp, rows, nk, D, scale, sv); break;
        case 2: logits_cv2(qv, hp, rows, nk, D, scale, sv); break;
#if QK_CV >= 4
        case 3: logits_cv3(qv, hp, rows, nk, D, scale, sv); break;
        default: logits_cv4(qv, hp, rows, nk, D, scale, sv); break;
#endif
        }
    }
}

/* ---- softmax of a block ------------------------------------------------------------ */
static void softmax(float *s, size_t nk, size_t hp, float *m, float *w, float *bad,
                    float *alpha) {
    for (size_t h = 0; h < hp; h += W) {
        vf top = vf_load(m + h), flag = vf_load(bad + h);
        for (size_t j = 0; j < nk; j++) {
            vf l = vf_load(s + j * hp + h);
            top = vf_max(l, top);
            flag = vf_add(flag, vf_sub(l, l)); /* NaN for a NaN or infinite logit */
        }
        vf a = vexp(vf_sub(vf_load(m + h), top)), sum = vf_mul(vf_load(w + h), a);
        for (size_t j = 0; j < nk; j++) {
            vf p = vexp(vf_sub(vf_load(s + j * hp + h), top));
            vf_store(s + j * hp + h, p);
            sum = vf_add(sum, p);
        }
        vf_store(m + h, top);
        vf_store(w + h, sum);
        vf_store(bad + h, flag);
        vf_store(alpha + h, a);
    }
}

/* ---- output sums ------------------------------------------------------------------ */
/* Heads [h0, h0 + RH) x channels [i0, i0 + CV*W), the last vector holding
 * `last` lanes. */
VEC_INLINE void accumulate_tile(int CV, size_t last, float *O, size_t D, const float *p,
                                size_t hp, const float *alpha, int first,
                                const float *const *rows, size_t nk, size_t h0, size_t i0) {
    vf acc[RH][6];
#pragma GCC unroll 4
    for (int r = 0; r < RH; r++) {
        const vf a = vf_set1(alpha[h0 + (size_t)r]);
#pragma GCC unroll 6
        for (int c = 0; c < CV; c++) {
            size_t n = c == CV - 1 ? last : W;
            acc[r][c] = first ? vf_zero()
                              : vf_mul(vf_load_n(O + (h0 + (size_t)r) * D + i0 + (size_t)c * W, n),
                                       a);
        }
    }
    for (size_t j = 0; j < nk; j++) {
        const float *kr = rows[j] + i0, *pj = p + j * hp + h0;
        vf k[6];
#pragma GCC unroll 6
        for (int c = 0; c < CV; c++) k[c] = vf_load_n(kr + (size_t)c * W, c == CV - 1 ? last : W);
#pragma GCC unroll 4
        for (int r = 0; r < RH; r++) {
            const vf b = vf_set1(pj[r]);
#pragma GCC unroll 6
            for (int c = 0; c < CV; c++) acc[r][c] = vf_fmadd(b, k[c], acc[r][c]);
        }
    }
#pragma GCC unroll 4
    for (int r = 0; r < RH; r++)
#pragma GCC unroll 6
        for (int c = 0; c < CV; c++)
            vf_store_n(O + (h0 + (size_t)r) * D + i0 + (size_t)c * W, acc[r][c],
                       c == CV - 1 ? last : W);
}

/* A tile of channels for every tile of heads. */
#define ACCUMULATE_CV(cv)                                                                      \
    static void accumulate_cv##cv(size_t last, float *O, size_t nh, size_t D, const float *p,   \
                                  size_t hp, const float *alpha, int first,                    \
                                  const float *const *rows, size_t nk, size_t i0) {            \
        for (size_t h0 = 0; h0 < nh; h0 += RH)                                                 \
            accumulate_tile(cv, last, O, D, p, hp, alpha, first, rows, nk, h0, i0);            \
    }
ACCUMULATE_CV(1)
ACCUMULATE_CV(2)
#if PV_CV >= 6
ACCUMULATE_CV(3)
ACCUMULATE_CV(4)
ACCUMULATE_CV(5)
ACCUMULATE_CV(6)
#endif

/* A whole tile of PV_CV vectors (no masked lane) for every tile of heads. */
static void accumulate_full(float *O, size_t nh, size_t D, const float *p, size_t hp,
                            const float *alpha, int first, const float *const *rows, size_t nk,
                            size_t i0) {
    for (size_t h0 = 0; h0 < nh; h0 += RH)
        accumulate_tile(PV_CV, W, O, D, p, hp, alpha, first, rows, nk, h0, i0);
}

/* Whole tiles of PV_CV vectors, then the rest (its last vector partial
 * when D is not a multiple of W). */
static void accumulate(float *O, size_t nh, size_t D, const float *p, size_t hp,
                       const float *alpha, int first, const float *const *rows, size_t nk) {
    size_t i0 = 0;
    for (; i0 + PV_CV * W <= D; i0 += PV_CV * W)
        accumulate_full(O, nh, D, p, hp, alpha, first, rows, nk, i0);
    if (i0 == D) return;
    size_t vecs = (D - i0 + W - 1) / W, last = D - i0 - (vecs - 1) * W;
    switch (vecs) {
    case 1: accumulate_cv1(last, O, nh, D, p, hp, alpha, first, rows, nk, i0); break;
#if PV_CV >= 6
    case 2: accumulate_cv2(last, O, nh, D, p, hp, alpha, first, rows, nk, i0); break;
    case 3: accumulate_cv3(last, O, nh, D, p, hp, alpha, first, rows, nk, i0); break;
    case 4: accumulate_cv4(last, O, nh, D, p, hp, alpha, first, rows, nk, i0); break;
    case 5: accumulate_cv5(last, O, nh, D, p, hp, alpha, first, rows, nk, i0); break;
    default: accumulate_cv6(last, O, nh, D, p, hp, alpha, first, rows, nk, i0); break;
#else
    default: accumulate_cv2(last, O, nh, D, p, hp, alpha, first, rows, nk, i0); break;
#endif
    }
}

/* ---- the bf16 output -------------------------------------------------------------- */
/* Rounded to nearest even on the bits; a NaN becomes bf16's canonical NaN
 * (spec/formats.md P1), as dsv4_round_bf16 gives. */
static void finish(const float *O, size_t D, float f, float *out) {
    const vf fv = vf_set1(f);
    for (size_t i = 0; i < D; i += W) {
        size_t n = min_sz(W, D - i);
        vf v = vf_mul(vf_load_n(O + i, n), fv);
        vi b = vi_and(vi_bf16_rne(vf_as_vi(v)), vi_set1(0xFFFF0000u));
        vf r = vf_where(vf_unord(v, v), vf_bits(0x7FC00000u), vi_as_vf(b));
        vf_store_n(out + i, r, n);
    }
}

const dsv4_attn_kernels VEC_NAME(dsv4_attn_kernels) = {
    W, transpose_q, logits, softmax, accumulate, finish,
};
