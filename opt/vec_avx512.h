/* vec_avx512.h - the vector layer (vec.h) on AVX-512 F, BW, DQ, VL: 16 fp32
 * lanes in a zmm register, lane masks in opmask registers.  Included by
 * vec.h only. */
#ifndef DSV4_VEC_AVX512_H
#define DSV4_VEC_AVX512_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>

#define VEC_W 16
#define VEC_REGS 32
#define VEC_STREAM 1
#define VEC_NAME(name) name##_avx512

typedef __m512 vf;
typedef __m512i vi;
typedef __mmask16 vm;
typedef __m512d vd;
typedef __m512i vq;
typedef __m128i vcount;

/* ---- masks ---------------------------------------------------------------- */
static inline vm vm_first(size_t n) { return (vm)((1u << n) - 1u); } /* n <= 16 */
static inline vm vm_or(vm a, vm b) { return (vm)(a | b); }
static inline vm vm_not(vm a) { return (vm)~a; }
static inline int vm_any(vm a) { return a != 0; }
static inline unsigned vm_bits(vm a) { return a; } /* bit j: lane j */

/* ---- fp32 ------------------------------------------------------------------- */
static inline vf vf_zero(void) { return _mm512_setzero_ps(); }
static inline vf vf_set1(float x) { return _mm512_set1_ps(x); }
static inline vf vf_load(const float *p) { return _mm512_loadu_ps(p); }
static inline void vf_store(float *p, vf v) { _mm512_storeu_ps(p, v); }

/* Whole vectors take plain moves: on some cores (AMD Zen 4 and 5) a masked
 * store is several times slower than a plain one. */
static inline vf vf_load_n(const float *p, size_t n) {
    return n == VEC_W ? _mm512_loadu_ps(p) : _mm512_maskz_loadu_ps(vm_first(n), p);
}

static inline void vf_store_n(float *p, vf v, size_t n) {
    if (n == VEC_W) _mm512_storeu_ps(p, v);
    else _mm512_mask_storeu_ps(p, vm_first(n), v);
}

static inline void vf_store_where(float *p, vm m, vf v) { _mm512_mask_storeu_ps(p, m, v); }

/* A non-temporal store of a whole 64-byte line (p 64-byte aligned). */
static inline void vf_stream(float *p, vf v) { _mm512_stream_ps(p, v); }

static inline vf vf_add(vf a, vf b) { return _mm512_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm512_sub_ps(a, b); }
static inline vf vf_mul(vf a, vf b) { return _mm512_mul_ps(a, b); }
static inline vf vf_div(vf a, vf b) { return _mm512_div_ps(a, b); }
static inline vf vf_sqrt(vf a) { return _mm512_sqrt_ps(a); }
static inline vf vf_max(vf a, vf b) { return _mm512_max_ps(a, b); }
static inline vf vf_fmadd(vf a, vf b, vf c) { return _mm512_fmadd_ps(a, b, c); }

static inline vm vf_unord(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_UNORD_Q); }
static inline vm vf_le(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
static inline vm vf_ge(vf a, vf b) { return _mm512_cmp_ps_mask(a, b, _CMP_GE_OQ); }
static inline vf vf_where(vm m, vf yes, vf no) { return _mm512_mask_mov_ps(no, m, yes); }

/* Every lane = lane j of v. */
static inline vf vf_lane(vf v, int j) { return _mm512_permutexvar_ps(_mm512_set1_epi32(j), v); }

/* Lanes 8-15 onto 0-7, 4-7 onto 0-3, 2-3 onto 0-1, then lane 1 onto 0 (the
 * order of GCC's and LLVM's _mm512_reduce_add_ps too). */
static inline float vf_hsum(vf v) {
    __m256 h = _mm256_add_ps(_mm512_castps512_ps256(v), _mm512_extractf32x8_ps(v, 1));
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(h), _mm256_extractf128_ps(h, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

static inline vi vf_as_vi(vf v) { return _mm512_castps_si512(v); }
static inline vf vi_as_vf(vi v) { return _mm512_castsi512_ps(v); }

/* In-register transpose: r[i] holds row i of a 16 x 16 block on entry,
 * column i on return.  Four rounds: unpack pairs of floats, pairs of pairs,
 * then exchange 128-bit quarters twice. */
static inline void vf_transpose(vf r[VEC_W]) {
    vf t[VEC_W], u[VEC_W], v88[2][4], vdd[2][4];
#pragma GCC unroll 8
    for (int g = 0; g < VEC_W / 2; g++) {
        t[2 * g] = _mm512_unpacklo_ps(r[2 * g], r[2 * g + 1]);
        t[2 * g + 1] = _mm512_unpackhi_ps(r[2 * g], r[2 * g + 1]);
    }
    /* u[4q + c], quarter L: rows 4q .. 4q+3 of column 4L + c */
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

/* ---- 32-bit integers ------------------------------------------------------------ */
static inline vi vi_zero(void) { return _mm512_setzero_si512(); }
static inline vi vi_set1(uint32_t x) { return _mm512_set1_epi32((int)x); }
static inline uint32_t vi_lane0(vi v) {
    return (uint32_t)_mm_cvtsi128_si32(_mm512_castsi512_si128(v));
}
static inline vi vi_and(vi a, vi b) { return _mm512_and_si512(a, b); }
static inline vi vi_or(vi a, vi b) { return _mm512_or_si512(a, b); }
static inline vi vi_andnot(vi a, vi b) { return _mm512_andnot_si512(a, b); } /* ~a & b */
/* a | the sign bit of u moved down n places (bit = 1 << (31 - n)): a shift
 * and one ternary-logic instruction (0xF8: a | (b & c)). */
static inline vi vi_or_sign(vi a, vi u, vcount n, vi bit) {
    return _mm512_ternarylogic_epi32(a, _mm512_srl_epi32(u, n), bit, 0xF8);
}
static inline vi vi_add(vi a, vi b) { return _mm512_add_epi32(a, b); }
static inline vi vi_sub(vi a, vi b) { return _mm512_sub_epi32(a, b); }
#define vi_slli(a, n) _mm512_slli_epi32((a), (n))
#define vi_srli(a, n) _mm512_srli_epi32((a), (n))
static inline vcount vcount_of(uint32_t n) { return _mm_cvtsi32_si128((int)n); }
static inline vi vi_sll(vi a, vcount n) { return _mm512_sll_epi32(a, n); }
static inline vi vi_srl(vi a, vcount n) { return _mm512_srl_epi32(a, n); }
static inline vi vi_min_u32(vi a, vi b) { return _mm512_min_epu32(a, b); }
static inline vi vi_max_u32(vi a, vi b) { return _mm512_max_epu32(a, b); }
static inline vi vi_min_i32(vi a, vi b) { return _mm512_min_epi32(a, b); }
static inline vi vi_max_i32(vi a, vi b) { return _mm512_max_epi32(a, b); }
static inline vm vi_eq(vi a, vi b) { return _mm512_cmpeq_epi32_mask(a, b); }
static inline vm vi_gt(vi a, vi b) { return _mm512_cmpgt_epi32_mask(a, b); }
static inline vm vi_gt_u32(vi a, vi b) { return _mm512_cmpgt_epu32_mask(a, b); }
static inline vi vi_where(vm m, vi yes, vi no) { return _mm512_mask_mov_epi32(no, m, yes); }
static inline vf vi_to_vf(vi a) { return _mm512_cvtepi32_ps(a); } /* int32 -> fp32 */

/* Every lane = the unsigned max over the lanes of m. */
static inline vi vi_max_all(vi m) {
    m = _mm512_max_epu32(m, _mm512_shuffle_i32x4(m, m, _MM_SHUFFLE(1, 0, 3, 2)));
    m = _mm512_max_epu32(m, _mm512_shuffle_i32x4(m, m, _MM_SHUFFLE(2, 3, 0, 1)));
    m = _mm512_max_epu32(m, _mm512_shuffle_epi32(m, _MM_PERM_BADC));
    return _mm512_max_epu32(m, _mm512_shuffle_epi32(m, _MM_PERM_CDAB));
}

/* Lane j = the unsigned max over the lanes of m[j]: a transpose that takes
 * the max of each pair it brings together. */
static inline vi vi_max_each(const vi m[VEC_W]) {
    vi r[8], s4[4], t2[2];
#pragma GCC unroll 8
    for (int i = 0; i < 8; i++) /* lanes 0-7: vector 2i, lanes 8-15: vector 2i+1 */
        r[i] = _mm512_max_epu32(_mm512_shuffle_i32x4(m[2 * i], m[2 * i + 1], 0x44),
                                _mm512_shuffle_i32x4(m[2 * i], m[2 * i + 1], 0xEE));
#pragma GCC unroll 8
    for (int i = 0; i < 4; i++) /* 128-bit chunk q: vector 4i + q */
        s4[i] = _mm512_max_epu32(_mm512_shuffle_i32x4(r[2 * i], r[2 * i + 1], 0x88),
                                 _mm512_shuffle_i32x4(r[2 * i], r[2 * i + 1], 0xDD));
#pragma GCC unroll 8
    for (int i = 0; i < 2; i++) /* chunk q: lanes 0-1 vector 8i + q, lanes 2-3 vector 8i + 4 + q */
        t2[i] = _mm512_max_epu32(_mm512_unpacklo_epi64(s4[2 * i], s4[2 * i + 1]),
                                 _mm512_unpackhi_epi64(s4[2 * i], s4[2 * i + 1]));
    /* chunk q, lane p: vector 4p + q */
    __m512 a = _mm512_castsi512_ps(t2[0]), b = _mm512_castsi512_ps(t2[1]);
    vi u = _mm512_max_epu32(_mm512_castps_si512(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))),
                            _mm512_castps_si512(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))));
    /* vector j = 4p + q sits in lane 4q + p */
    const vi where = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_epi32(where, u);
}

/* ---- codes in memory -------------------------------------------------------------- */
static inline vi vi_load_u8_n(const uint8_t *p, size_t n) {
    __m128i b = n == VEC_W ? _mm_loadu_si128((const __m128i *)p)
                           : _mm_maskz_loadu_epi8(vm_first(n), p);
    return _mm512_cvtepu8_epi32(b);
}

static inline void vi_store_u8_n(uint8_t *p, vi v, size_t n) {
    __m128i b = _mm512_cvtepi32_epi8(v);
    if (n == VEC_W) _mm_storeu_si128((__m128i *)p, b);
    else _mm_mask_storeu_epi8(p, vm_first(n), b);
}

static inline vi vi_load_u16_n(const uint16_t *p, size_t n) {
    __m256i h = n == VEC_W ? _mm256_loadu_si256((const __m256i *)p)
                           : _mm256_maskz_loadu_epi16(vm_first(n), p);
    return _mm512_cvtepu16_epi32(h);
}

static inline void vi_store_u16_n(uint16_t *p, vi v, size_t n) {
    __m256i h = _mm512_cvtepi32_epi16(v);
    if (n == VEC_W) _mm256_storeu_si256((__m256i *)p, h);
    else _mm256_mask_storeu_epi16(p, vm_first(n), h);
}

static inline vi vi_load_nib_n(const uint8_t *p, size_t n) {
    __m128i b = n == VEC_W ? _mm_loadl_epi64((const __m128i *)p)
                           : _mm_maskz_loadu_epi8(vm_first(n / 2), p);
    __m512i q = _mm512_cvtepu8_epi64(b); /* byte i in qword i */
    __m512i lo = _mm512_and_si512(q, _mm512_set1_epi64(0x0F));
    __m512i hi = _mm512_slli_epi64(_mm512_and_si512(q, _mm512_set1_epi64(0xF0)), 28);
    return _mm512_or_si512(lo, hi); /* dword 2i = low nibble, 2i+1 = high nibble */
}

static inline void vi_store_nib_n(uint8_t *p, vi v, size_t n) {
    __m512i pair = _mm512_or_si512(v, _mm512_srli_epi64(v, 28)); /* byte 0 of qword i */
    __m128i b = _mm512_cvtepi64_epi8(pair);
    if (n == VEC_W) _mm_storel_epi64((__m128i *)p, b);
    else _mm_mask_storeu_epi8(p, vm_first(n / 2), b);
}

/* ---- doubles: the two halves of a vf ------------------------------------------------ */
static inline vd vd_widen_lo(vf x) { return _mm512_cvtps_pd(_mm512_castps512_ps256(x)); }
static inline vd vd_widen_hi(vf x) { return _mm512_cvtps_pd(_mm512_extractf32x8_ps(x, 1)); }
/* Each double rounded once to fp32 (the current rounding mode, RNE). */
static inline vf vf_narrow(vd lo, vd hi) {
    return _mm512_insertf32x8(_mm512_castps256_ps512(_mm512_cvtpd_ps(lo)), _mm512_cvtpd_ps(hi), 1);
}
static inline vd vd_set1(double x) { return _mm512_set1_pd(x); }
static inline vd vd_add(vd a, vd b) { return _mm512_add_pd(a, b); }
static inline vd vd_sub(vd a, vd b) { return _mm512_sub_pd(a, b); }
static inline vd vd_mul(vd a, vd b) { return _mm512_mul_pd(a, b); }
static inline vq vd_as_vq(vd a) { return _mm512_castpd_si512(a); }
static inline vd vq_as_vd(vq a) { return _mm512_castsi512_pd(a); }
static inline vq vq_set1(int64_t x) { return _mm512_set1_epi64(x); }
static inline vq vq_add(vq a, vq b) { return _mm512_add_epi64(a, b); }
static inline vq vq_sub(vq a, vq b) { return _mm512_sub_epi64(a, b); }
#define vq_slli(a, n) _mm512_slli_epi64((a), (n))

/* ---- joining two vectors ------------------------------------------------------------ */
/* vf_join(vjoin_make(head), prev, next): lanes head .. 15 of prev, then lanes
 * 0 .. head - 1 of next (head <= 15). */
typedef __m512i vjoin;

static inline vjoin vjoin_make(size_t head) {
    return _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                            _mm512_set1_epi32((int)head));
}

static inline vf vf_join(vjoin j, vf prev, vf next) {
    return _mm512_permutex2var_ps(prev, j, next);
}

#endif
