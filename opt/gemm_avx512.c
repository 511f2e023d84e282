/* gemm_avx512.c - SGEMM micro-kernel, AVX-512F: a 12 x 32 tile.
 *
 * 24 zmm accumulators (12 rows x 2 vectors of 16 columns) + 2 for the B row +
 * 1 broadcast of A fit the 32 registers.  Per term: 2 vector loads of B, 12
 * broadcasts of A, 24 FMAs; with two FMA pipes of latency 4, 24 independent
 * chains keep both busy.  Each accumulator lane is one C element's sum, over
 * p ascending, one fused multiply-add per term. */
#include "gemm_kernels.h"

#include <immintrin.h>

enum { MR = 12, NR = 32, V = 16, NV = NR / V };

/* Lanes of vector v (columns v*V .. v*V+V-1) inside the tile's `cols`. */
static __mmask16 col_mask(size_t cols, int v) {
    size_t lo = (size_t)v * V;
    if (cols <= lo) return 0;
    if (cols - lo >= V) return (__mmask16)0xFFFF;
    return (__mmask16)((1u << (cols - lo)) - 1u);
}

/* The first `n` of 16 lanes. */
static __mmask16 first_lanes(size_t n) {
    return n >= V ? (__mmask16)0xFFFF : (__mmask16)((1u << n) - 1u);
}

/* Masked loads and stores only where lanes are missing: on some cores (AMD
 * Zen 4/5) a masked store is several times slower than a plain one, and
 * packing is mostly whole vectors. */
static inline __m512 load_lanes(const float *src, __mmask16 m) {
    return m == (__mmask16)0xFFFF ? _mm512_loadu_ps(src) : _mm512_maskz_loadu_ps(m, src);
}

static inline void store_lanes(float *dst, __mmask16 m, __m512 v) {
    if (m == (__mmask16)0xFFFF)
        _mm512_storeu_ps(dst, v);
    else
        _mm512_mask_storeu_ps(dst, m, v);
}

/* One row of the tile to C: alpha*acc + beta*C (C not read when beta == 0),
 * as a multiply and an add, each rounded (no FMA here: ref's epilogue). */
static inline void store_row(const __m512 acc[NV], float *c, const dsv4_gemm_tile *t,
                             const __mmask16 mask[NV]) {
    const __m512 alpha = _mm512_set1_ps(t->alpha), beta = _mm512_set1_ps(t->beta);
#pragma GCC unroll 2
    for (int v = 0; v < NV; v++) {
        __m512 out = _mm512_mul_ps(alpha, acc[v]);
        if (t->beta != 0.0f) {
            __m512 old = load_lanes(c + v * V, mask[v]);
            out = _mm512_add_ps(out, _mm512_mul_ps(beta, old));
        }
        if (mask[v]) store_lanes(c + v * V, mask[v], out);
    }
}

static void micro_avx512(size_t kc, const float *ap, const float *bp, float *w,
                         const dsv4_gemm_tile *t) {
    __m512 acc[MR][NV]; /* [MR, NR] */
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++)
            acc[r][v] = t->first ? _mm512_setzero_ps() : _mm512_load_ps(w + r * NR + v * V);

    for (size_t p = 0; p < kc; p++) {
        const __m512 b0 = _mm512_loadu_ps(bp), b1 = _mm512_loadu_ps(bp + V);
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++) {
            const __m512 a = _mm512_set1_ps(ap[r]);
            acc[r][0] = _mm512_fmadd_ps(a, b0, acc[r][0]);
            acc[r][1] = _mm512_fmadd_ps(a, b1, acc[r][1]);
        }
        ap += MR;
        bp += NR;
    }

    if (!t->last) {
#pragma GCC unroll 12
        for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) _mm512_store_ps(w + r * NR + v * V, acc[r][v]);
        return;
    }
    const __mmask16 mask[NV] = {col_mask(t->cols, 0), col_mask(t->cols, 1)};
#pragma GCC unroll 12
    for (int r = 0; r < MR; r++)
        if ((size_t)r < t->rows) store_row(acc[r], t->c + (size_t)r * t->ldc, t, mask);
}

/* ---- packing (layout: gemm_kernels.h) -------------------------------------- */

/* X stored transposed, so the values of one term are contiguous across all
 * the slivers: term by term, each sliver's `width` values are a masked load
 * (zeros past the last row) and a store.  Term-major, so the source is read
 * as one stream of rows rather than once per sliver at a stride of ld floats
 * (which, for ld a large power of two, maps every row to the same few cache
 * sets and refetches it from memory for each sliver).  width <= 2*V. */
static void pack_rows_contiguous(const dsv4_gemm_view *x, size_t r0, size_t rows, size_t p0,
                                 size_t kc, size_t width, float *out) {
    const __mmask16 store0 = first_lanes(width), store1 = width > V ? first_lanes(width - V) : 0;
    for (size_t p = 0; p < kc; p++) {
        const float *src = x->p + (p0 + p) * x->ld + r0; /* [rows] */
        for (size_t s = 0; s * width < rows; s++) {
            size_t valid = rows - s * width < width ? rows - s * width : width;
            const __mmask16 load0 = first_lanes(valid);
            const __mmask16 load1 = valid > V ? first_lanes(valid - V) : 0;
            float *d = out + (s * kc + p) * width;
            store_lanes(d, store0, load_lanes(src + s * width, load0));
            if (store1) store_lanes(d + V, store1, load_lanes(src + s * width + V, load1));
        }
    }
}

/* In-register transpose: r[i] holds X[i, 0..15] on entry, X[0..15, i] on
 * return.  Four rounds: unpack pairs of floats, pairs of pairs, then
 * exchange 128-bit quarters twice. */
static inline void transpose16(__m512 r[V]) {
    __m512 t[V], u[V], v88[2][4], vdd[2][4];
#pragma GCC unroll 8
    for (int g = 0; g < V / 2; g++) {
        t[2 * g] = _mm512_unpacklo_ps(r[2 * g], r[2 * g + 1]);
        t[2 * g + 1] = _mm512_unpackhi_ps(r[2 * g], r[2 * g + 1]);
    }
    /* u[4q + c], quarter L: X[4q .. 4q+3, 4L + c] */
#pragma GCC unroll 4
    for (int q = 0; q < 4; q++) {
        __m512d a0 = _mm512_castps_pd(t[4 * q]), a1 = _mm512_castps_pd(t[4 * q + 1]);
        __m512d a2 = _mm512_castps_pd(t[4 * q + 2]), a3 = _mm512_castps_pd(t[4 * q + 3]);
        u[4 * q] = _mm512_castpd_ps(_mm512_unpacklo_pd(a0, a2));
        u[4 * q + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(a0, a2));
        u[4 * q + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(a1, a3));
        u[4 * q + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(a1, a3));
    }
    /* v88[h][c]: rows 8h .. 8h+7 of columns c and c+8; vdd: columns c+4, c+12 */
#pragma GCC unroll 2
    for (int h = 0; h < 2; h++)
#pragma GCC unroll 4
        for (int c = 0; c < 4; c++) {
            v88[h][c] = _mm512_shuffle_f32x4(u[8 * h + c], u[8 * h + 4 + c], 0x88);
            vdd[h][c] = _mm512_shuffle_f32x4(u[8 * h + c], u[8 * h + 4 + c], 0xDD);
        }
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        r[c] = _mm512_shuffle_f32x4(v88[0][c], v88[1][c], 0x88);
        r[c + 8] = _mm512_shuffle_f32x4(v88[0][c], v88[1][c], 0xDD);
        r[c + 4] = _mm512_shuffle_f32x4(vdd[0][c], vdd[1][c], 0x88);
        r[c + 12] = _mm512_shuffle_f32x4(vdd[0][c], vdd[1][c], 0xDD);
    }
}

/* X stored as is: the sliver row of term p takes one value from each of
 * `valid` rows.  Blocks of 16 rows x 16 terms are loaded row-wise and
 * transposed in registers; rows past valid are zeros.  A sliver narrower
 * than a vector (the A sliver, 12 wide) is stored with whole vectors: the
 * lanes past `width` land on the start of the next term's row, which the
 * next store (terms go in increasing order) overwrites; only the sliver's
 * last term needs the mask, so as not to write past the sliver. */
static void pack_terms_strided(const dsv4_gemm_view *x, size_t r, size_t valid, size_t p0,
                               size_t kc, size_t width, float *dst) {
    for (size_t h = 0; h * V < width; h++) {
        size_t rows_here = valid > h * V ? valid - h * V : 0;
        if (rows_here > V) rows_here = V;
        const __mmask16 store = first_lanes(width - h * V);
        const __mmask16 spill = width <= V ? (__mmask16)0xFFFF : store;
        for (size_t p = 0; p < kc; p += V) {
            size_t terms = kc - p < V ? kc - p : V;
            const __mmask16 load = first_lanes(terms);
            __m512 blk[V]; /* [16 rows, 16 terms], then [16 terms, 16 rows] */
#pragma GCC unroll 16
            for (size_t i = 0; i < V; i++)
                blk[i] = i < rows_here ? load_lanes(x->p + (r + h * V + i) * x->ld + p0 + p, load)
                                       : _mm512_setzero_ps();
            transpose16(blk);
#pragma GCC unroll 16
            for (size_t j = 0; j < V; j++)
                if (j < terms)
                    store_lanes(dst + (p + j) * width + h * V, p + j + 1 < kc ? spill : store,
                                blk[j]);
        }
    }
}

static void pack_avx512(const dsv4_gemm_view *x, size_t r0, size_t rows, size_t p0, size_t kc,
                        size_t width, float *out) {
    if (width > 2 * V) {
        dsv4_gemm_pack(x, r0, rows, p0, kc, width, out);
        return;
    }
    if (x->trans) {
        pack_rows_contiguous(x, r0, rows, p0, kc, width, out);
        return;
    }
    for (size_t s = 0; s * width < rows; s++) {
        size_t valid = rows - s * width < width ? rows - s * width : width;
        pack_terms_strided(x, r0 + s * width, valid, p0, kc, width, out + s * kc * width);
    }
}

const dsv4_gemm_kernels dsv4_gemm_kernels_avx512 = {MR, NR, 480, 1024, 256, micro_avx512,
                                                    pack_avx512};
