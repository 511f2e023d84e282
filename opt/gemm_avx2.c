/* gemm_avx2.c - SGEMM micro-kernel, AVX2 + FMA: a 6 x 16 tile.
 *
 * 12 ymm accumulators (6 rows x 2 vectors of 8 columns) + 2 for the B row +
 * 1 broadcast of A: 15 of the 16 registers.  Per term: 2 loads of B, 6
 * broadcasts of A, 12 FMAs.  Each accumulator lane is one C element's sum,
 * over p ascending, one fused multiply-add per term. */
#include "gemm_kernels.h"

#include <immintrin.h>

enum { MR = 6, NR = 16, V = 8, NV = NR / V };

/* Lanes of vector v (columns v*V .. v*V+V-1) inside the tile's `cols`: all
 * ones where the column exists (maskload/maskstore skip the others and do
 * not fault on them). */
static __m256i col_mask(size_t cols, int v) {
    size_t lo = (size_t)v * V;
    int valid = cols <= lo ? 0 : cols - lo >= V ? V : (int)(cols - lo);
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(valid), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* One row of the tile to C: alpha*acc + beta*C (C not read when beta == 0),
 * as a multiply and an add, each rounded (no FMA here: ref's epilogue). */
static inline void store_row(const __m256 acc[NV], float *c, const dsv4_gemm_tile *t,
                             const __m256i mask[NV]) {
    const __m256 alpha = _mm256_set1_ps(t->alpha), beta = _mm256_set1_ps(t->beta);
#pragma GCC unroll 2
    for (int v = 0; v < NV; v++) {
        __m256 out = _mm256_mul_ps(alpha, acc[v]);
        if (t->beta != 0.0f) {
            __m256 old = _mm256_maskload_ps(c + v * V, mask[v]);
            out = _mm256_add_ps(out, _mm256_mul_ps(beta, old));
        }
        _mm256_maskstore_ps(c + v * V, mask[v], out);
    }
}

static void micro_avx2(size_t kc, const float *ap, const float *bp, float *w,
                       const dsv4_gemm_tile *t) {
    __m256 acc[MR][NV]; /* [MR, NR] */
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
        for (int v = 0; v < NV; v++)
            acc[r][v] = t->first ? _mm256_setzero_ps() : _mm256_load_ps(w + r * NR + v * V);

    for (size_t p = 0; p < kc; p++) {
        const __m256 b0 = _mm256_loadu_ps(bp), b1 = _mm256_loadu_ps(bp + V);
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++) {
            const __m256 a = _mm256_broadcast_ss(ap + r);
            acc[r][0] = _mm256_fmadd_ps(a, b0, acc[r][0]);
            acc[r][1] = _mm256_fmadd_ps(a, b1, acc[r][1]);
        }
        ap += MR;
        bp += NR;
    }

    if (!t->last) {
#pragma GCC unroll 6
        for (int r = 0; r < MR; r++)
#pragma GCC unroll 2
            for (int v = 0; v < NV; v++) _mm256_store_ps(w + r * NR + v * V, acc[r][v]);
        return;
    }
    const __m256i mask[NV] = {col_mask(t->cols, 0), col_mask(t->cols, 1)};
#pragma GCC unroll 6
    for (int r = 0; r < MR; r++)
        if ((size_t)r < t->rows) store_row(acc[r], t->c + (size_t)r * t->ldc, t, mask);
}

const dsv4_gemm_kernels dsv4_gemm_kernels_avx2 = {MR, NR, 120, 512, 256, micro_avx2, dsv4_gemm_pack};
