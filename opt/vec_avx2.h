/* vec_avx2.h - the vector layer (vec.h) on AVX2 + FMA: 8 fp32 lanes in a ymm
 * register, lane masks as all-ones lanes of a ymm register.  Included by
 * vec.h only. */
#ifndef DSV4_VEC_AVX2_H
#define DSV4_VEC_AVX2_H

#include <immintrin.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define VEC_W 8
#define VEC_REGS 16
#define VEC_STREAM 0
#define VEC_NAME(name) name##_avx2

typedef __m256 vf;
typedef __m256i vi;
typedef __m256i vm;
typedef __m256d vd;
typedef __m256i vq;
typedef __m128i vcount;

/* ---- masks ---------------------------------------------------------------- */
static inline vm vm_first(size_t n) { /* n <= 8 */
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
static inline vm vm_or(vm a, vm b) { return _mm256_or_si256(a, b); }
static inline vm vm_not(vm a) { return _mm256_xor_si256(a, _mm256_set1_epi32(-1)); }
static inline int vm_any(vm a) { return !_mm256_testz_si256(a, a); }
static inline unsigned vm_bits(vm a) { /* bit j: lane j */
    return (unsigned)_mm256_movemask_ps(_mm256_castsi256_ps(a));
}

/* ---- fp32 ------------------------------------------------------------------- */
static inline vf vf_zero(void) { return _mm256_setzero_ps(); }
static inline vf vf_set1(float x) { return _mm256_set1_ps(x); }
static inline vf vf_load(const float *p) { return _mm256_loadu_ps(p); }
static inline void vf_store(float *p, vf v) { _mm256_storeu_ps(p, v); }

/* vmaskmov neither reads nor writes the lanes outside its mask. */
static inline vf vf_load_n(const float *p, size_t n) {
    return n == VEC_W ? _mm256_loadu_ps(p) : _mm256_maskload_ps(p, vm_first(n));
}

static inline void vf_store_n(float *p, vf v, size_t n) {
    if (n == VEC_W) _mm256_storeu_ps(p, v);
    else _mm256_maskstore_ps(p, vm_first(n), v);
}

static inline vf vf_add(vf a, vf b) { return _mm256_add_ps(a, b); }
static inline vf vf_sub(vf a, vf b) { return _mm256_sub_ps(a, b); }
static inline vf vf_mul(vf a, vf b) { return _mm256_mul_ps(a, b); }
static inline vf vf_div(vf a, vf b) { return _mm256_div_ps(a, b); }
static inline vf vf_sqrt(vf a) { return _mm256_sqrt_ps(a); }
static inline vf vf_max(vf a, vf b) { return _mm256_max_ps(a, b); }
static inline vf vf_fmadd(vf a, vf b, vf c) { return _mm256_fmadd_ps(a, b, c); }

static inline vm vf_unord(vf a, vf b) {
    return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_UNORD_Q));
}
static inline vm vf_le(vf a, vf b) { return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_LE_OQ)); }
static inline vm vf_ge(vf a, vf b) { return _mm256_castps_si256(_mm256_cmp_ps(a, b, _CMP_GE_OQ)); }
static inline vf vf_where(vm m, vf yes, vf no) {
    return _mm256_blendv_ps(no, yes, _mm256_castsi256_ps(m));
}

/* Every lane = lane j of v. */
static inline vf vf_lane(vf v, int j) { return _mm256_permutevar8x32_ps(v, _mm256_set1_epi32(j)); }

/* Lanes 4-7 onto 0-3, 2-3 onto 0-1, then lane 1 onto 0. */
static inline float vf_hsum(vf v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
    return _mm_cvtss_f32(s);
}

static inline vi vf_as_vi(vf v) { return _mm256_castps_si256(v); }
static inline vf vi_as_vf(vi v) { return _mm256_castsi256_ps(v); }

/* In-register transpose: r[i] holds row i of an 8 x 8 block on entry,
 * column i on return.  Three rounds: unpack pairs of floats, pairs of pairs,
 * then exchange 128-bit halves. */
static inline void vf_transpose(vf r[VEC_W]) {
    vf t[VEC_W], u[VEC_W];
#pragma GCC unroll 4
    for (int g = 0; g < VEC_W / 2; g++) {
        t[2 * g] = _mm256_unpacklo_ps(r[2 * g], r[2 * g + 1]);
        t[2 * g + 1] = _mm256_unpackhi_ps(r[2 * g], r[2 * g + 1]);
    }
    /* u[4q + c], half L: rows 4q .. 4q+3 of column 4L + c */
#pragma GCC unroll 2
    for (int q = 0; q < 2; q++) {
        u[4 * q] = _mm256_shuffle_ps(t[4 * q], t[4 * q + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * q + 1] = _mm256_shuffle_ps(t[4 * q], t[4 * q + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[4 * q + 2] = _mm256_shuffle_ps(t[4 * q + 1], t[4 * q + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[4 * q + 3] = _mm256_shuffle_ps(t[4 * q + 1], t[4 * q + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
#pragma GCC unroll 4
    for (int c = 0; c < 4; c++) {
        r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
        r[c + 4] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
    }
}

/* ---- 32-bit integers ------------------------------------------------------------ */
static inline vi vi_zero(void) { return _mm256_setzero_si256(); }
static inline vi vi_set1(uint32_t x) { return _mm256_set1_epi32((int)x); }
static inline uint32_t vi_lane0(vi v) {
    return (uint32_t)_mm_cvtsi128_si32(_mm256_castsi256_si128(v));
}
static inline vi vi_and(vi a, vi b) { return _mm256_and_si256(a, b); }
static inline vi vi_or(vi a, vi b) { return _mm256_or_si256(a, b); }
static inline vi vi_andnot(vi a, vi b) { return _mm256_andnot_si256(a, b); } /* ~a & b */
/* a | the sign bit of u moved down n places (bit = 1 << (31 - n)): the
 * sign masked first, so that the load of u folds into the and. */
static inline vi vi_or_sign(vi a, vi u, vcount n, vi bit) {
    (void)bit;
    __m256i sign = _mm256_and_si256(u, _mm256_set1_epi32((int)0x80000000u));
    return _mm256_or_si256(a, _mm256_srl_epi32(sign, n));
}
static inline vi vi_add(vi a, vi b) { return _mm256_add_epi32(a, b); }
static inline vi vi_sub(vi a, vi b) { return _mm256_sub_epi32(a, b); }
#define vi_slli(a, n) _mm256_slli_epi32((a), (n))
#define vi_srli(a, n) _mm256_srli_epi32((a), (n))
static inline vcount vcount_of(uint32_t n) { return _mm_cvtsi32_si128((int)n); }
static inline vi vi_sll(vi a, vcount n) { return _mm256_sll_epi32(a, n); }
static inline vi vi_srl(vi a, vcount n) { return _mm256_srl_epi32(a, n); }
static inline vi vi_min_u32(vi a, vi b) { return _mm256_min_epu32(a, b); }
static inline vi vi_max_u32(vi a, vi b) { return _mm256_max_epu32(a, b); }
static inline vi vi_min_i32(vi a, vi b) { return _mm256_min_epi32(a, b); }
static inline vi vi_max_i32(vi a, vi b) { return _mm256_max_epi32(a, b); }
static inline vm vi_eq(vi a, vi b) { return _mm256_cmpeq_epi32(a, b); }
static inline vm vi_gt(vi a, vi b) { return _mm256_cmpgt_epi32(a, b); }
static inline vm vi_gt_u32(vi a, vi b) { /* AVX2 compares signed only: flip the sign bits */
    const vi sign = _mm256_set1_epi32((int)0x80000000u);
    return _mm256_cmpgt_epi32(_mm256_xor_si256(a, sign), _mm256_xor_si256(b, sign));
}
static inline vi vi_where(vm m, vi yes, vi no) { return _mm256_blendv_epi8(no, yes, m); }
static inline vf vi_to_vf(vi a) { return _mm256_cvtepi32_ps(a); } /* int32 -> fp32 */

/* Every lane = the unsigned max over the lanes of m. */
static inline vi vi_max_all(vi m) {
    m = _mm256_max_epu32(m, _mm256_permute2x128_si256(m, m, 0x01));
    m = _mm256_max_epu32(m, _mm256_shuffle_epi32(m, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm256_max_epu32(m, _mm256_shuffle_epi32(m, _MM_SHUFFLE(2, 3, 0, 1)));
}

/* Lane j = the unsigned max over the lanes of m[j]: a transpose that takes
 * the max of each pair it brings together. */
static inline vi vi_max_each(const vi m[VEC_W]) {
    vi r[4], s2[2];
#pragma GCC unroll 8
    for (int i = 0; i < 4; i++) /* 128-bit half h: vector 2i + h */
        r[i] = _mm256_max_epu32(_mm256_permute2x128_si256(m[2 * i], m[2 * i + 1], 0x20),
                                _mm256_permute2x128_si256(m[2 * i], m[2 * i + 1], 0x31));
#pragma GCC unroll 8
    for (int i = 0; i < 2; i++) /* half h: lanes 0-1 vector 4i + h, lanes 2-3 vector 4i + 2 + h */
        s2[i] = _mm256_max_epu32(_mm256_unpacklo_epi64(r[2 * i], r[2 * i + 1]),
                                 _mm256_unpackhi_epi64(r[2 * i], r[2 * i + 1]));
    __m256 a = _mm256_castsi256_ps(s2[0]), b = _mm256_castsi256_ps(s2[1]);
    vi u = _mm256_max_epu32(_mm256_castps_si256(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))),
                            _mm256_castps_si256(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))));
    /* half h, lane p: vector 2p + h; vector j sits in lane 4 (j % 2) + j / 2 */
    return _mm256_permutevar8x32_epi32(u, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* ---- codes in memory -------------------------------------------------------------- *
 * AVX2 has no masked moves of bytes or halves: a partial vector of codes goes
 * through a small buffer on the stack, so memory past the n codes is never
 * touched. */
static inline vi vi_load_u8_n(const uint8_t *p, size_t n) {
    uint8_t part[VEC_W] = {0};
    if (n < VEC_W) p = memcpy(part, p, n);
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)p));
}

static inline void vi_store_u8_n(uint8_t *p, vi v, size_t n) {
    const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                          -1, 0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                          -1, -1);
    __m256i b = _mm256_shuffle_epi8(v, pick); /* the low bytes, 4 per 128-bit half */
    __m256i both = _mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 1, 1, 1, 1, 1));
    __m128i bytes = _mm256_castsi256_si128(both);
    if (n == VEC_W) {
        _mm_storel_epi64((__m128i *)p, bytes);
    } else {
        uint8_t part[16];
        _mm_storeu_si128((__m128i *)part, bytes);
        memcpy(p, part, n);
    }
}

static inline vi vi_load_u16_n(const uint16_t *p, size_t n) {
    uint16_t part[VEC_W] = {0};
    if (n < VEC_W) p = memcpy(part, p, n * sizeof *p);
    return _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)p));
}

static inline void vi_store_u16_n(uint16_t *p, vi v, size_t n) {
    /* the lanes are below 2^16, so the unsigned-saturating pack is exact */
    __m128i h = _mm_packus_epi32(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
    if (n == VEC_W) {
        _mm_storeu_si128((__m128i *)p, h);
    } else {
        uint16_t part[VEC_W];
        _mm_storeu_si128((__m128i *)part, h);
        memcpy(p, part, n * sizeof *p);
    }
}

static inline vi vi_load_nib_n(const uint8_t *p, size_t n) {
    uint32_t word = 0;
    memcpy(&word, p, n / 2); /* little-endian: byte 0 in the low bits */
    __m256i q = _mm256_cvtepu8_epi64(_mm_cvtsi32_si128((int)word)); /* byte i in qword i */
    __m256i lo = _mm256_and_si256(q, _mm256_set1_epi64x(0x0F));
    __m256i hi = _mm256_slli_epi64(_mm256_and_si256(q, _mm256_set1_epi64x(0xF0)), 28);
    return _mm256_or_si256(lo, hi); /* dword 2i = low nibble, 2i+1 = high nibble */
}

static inline void vi_store_nib_n(uint8_t *p, vi v, size_t n) {
    const __m256i pick = _mm256_setr_epi8(0, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                          -1, -1, -1, 0, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                          -1, -1);
    __m256i pair = _mm256_or_si256(v, _mm256_srli_epi64(v, 28)); /* byte 0 of qword i */
    __m256i b = _mm256_shuffle_epi8(pair, pick);
    uint32_t word = (uint32_t)_mm_cvtsi128_si32(
        _mm_or_si128(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1)));
    memcpy(p, &word, n / 2); /* little-endian: byte 0 first */
}

/* ---- doubles: the two halves of a vf ------------------------------------------------ */
static inline vd vd_widen_lo(vf x) { return _mm256_cvtps_pd(_mm256_castps256_ps128(x)); }
static inline vd vd_widen_hi(vf x) { return _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1)); }
/* Each double rounded once to fp32 (the current rounding mode, RNE). */
static inline vf vf_narrow(vd lo, vd hi) {
    __m256 low = _mm256_castps128_ps256(_mm256_cvtpd_ps(lo));
    return _mm256_insertf128_ps(low, _mm256_cvtpd_ps(hi), 1);
}
static inline vd vd_set1(double x) { return _mm256_set1_pd(x); }
static inline vd vd_add(vd a, vd b) { return _mm256_add_pd(a, b); }
static inline vd vd_sub(vd a, vd b) { return _mm256_sub_pd(a, b); }
static inline vd vd_mul(vd a, vd b) { return _mm256_mul_pd(a, b); }
static inline vq vd_as_vq(vd a) { return _mm256_castpd_si256(a); }
static inline vd vq_as_vd(vq a) { return _mm256_castsi256_pd(a); }
static inline vq vq_set1(int64_t x) { return _mm256_set1_epi64x(x); }
static inline vq vq_add(vq a, vq b) { return _mm256_add_epi64(a, b); }
static inline vq vq_sub(vq a, vq b) { return _mm256_sub_epi64(a, b); }
#define vq_slli(a, n) _mm256_slli_epi64((a), (n))

#endif
