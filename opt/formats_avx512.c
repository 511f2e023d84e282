/* formats_avx512.c - AVX-512 (F, BW, DQ, VL) kernels of the number formats
 * and block quantizers: 16 fp32 lanes, tails under a lane mask (masked loads
 * and stores never touch memory outside the mask).  Lane for lane these are
 * the operations of formats_scalar.c; formats_kernels.h derives them. */
#if defined(__x86_64__)
#include "formats_kernels.h"
#include "policy.h"

#include <immintrin.h>

enum { W = 16 }; /* lanes */

/* The tile groups prefetch their input this many floats (8 KiB) ahead: with
 * the other core busy the hardware prefetcher alone leaves a single thread
 * well short of the copy rate on these streams. */
enum { PREFETCH_AHEAD = 2048 };

/* A hint only (it never faults); the address is formed as an integer since
 * it may lie past the end of x. */
static inline void prefetch_ahead(const float *p) {
    _mm_prefetch((const char *)((uintptr_t)p + PREFETCH_AHEAD * sizeof(float)), _MM_HINT_T0);
}

static __m512i u32x(uint32_t v) { return _mm512_set1_epi32((int)v); }
static __m128i count(uint32_t n) { return _mm_cvtsi32_si128((int)n); }
static __mmask16 first_lanes(size_t n) { return (__mmask16)((1u << n) - 1u); } /* n <= 16 */

/* The constants of one element format, broadcast once per kernel call. */
typedef struct vfmt {
    __m512i max_bits, emin_exp, magic_off, magic_min, sign_bit;  /* encode */
    __m512i mag_mask, norm_mag, inf_mag, nan_mag, normal_bias;   /* decode */
    __m512 sub_step;
    __m128i to_steps, sign_shift, normal_shift;                   /* shift counts */
    uint32_t nan_code;
} vfmt;

static vfmt vfmt_of(const dsv4_elem *e) {
    vfmt v;
    uint32_t mb = (uint32_t)e->mbits;
    v.max_bits = u32x(e->max_bits);
    v.emin_exp = u32x(e->emin_field << 23);
    v.magic_off = u32x((23u - mb) << 23);
    v.magic_min = u32x((e->emin_field + 23u - mb) << 23);
    v.sign_bit = u32x(1u << e->sign_shift);
    v.mag_mask = u32x(e->mag_mask);
    v.norm_mag = u32x(1u << mb);
    v.inf_mag = u32x(e->inf_mag);
    v.nan_mag = u32x(e->nan_mag);
    v.normal_bias = u32x((e->emin_field - 1u) << 23);
    v.sub_step = _mm512_castsi512_ps(u32x((e->emin_field - mb) << 23));
    v.to_steps = count(23u - mb);
    v.sign_shift = count(31u - e->sign_shift);
    v.normal_shift = count(23u - mb);
    v.nan_code = e->nan_code;
    return v;
}

/* ---- element math ------------------------------------------------------------ */

/* The magic number of each lane (formats_kernels.h) for a = min(|q|, M). */
static inline __m512i magic_of(const vfmt *v, __m512i a) {
    __m512i binade = _mm512_max_epu32(_mm512_and_si512(a, u32x(0x7F800000u)), v->emin_exp);
    return _mm512_add_epi32(binade, v->magic_off);
}

/* Magnitude codes of sign-cleared, non-NaN bits. */
static inline __m512i code_of_abs(const vfmt *v, __m512i abs) {
    __m512i a = _mm512_min_epu32(abs, v->max_bits);                    /* saturate */
    __m512i magic = magic_of(v, a);
    __m512 sum = _mm512_add_ps(_mm512_castsi512_ps(a), _mm512_castsi512_ps(magic));
    __m512i steps = _mm512_sub_epi32(_mm512_castps_si512(sum), magic);
    __m512i base = _mm512_srl_epi32(_mm512_sub_epi32(magic, v->magic_min), v->to_steps);
    return _mm512_add_epi32(base, steps);
}

/* Rounded values (sign clear) of sign-cleared, non-NaN bits. */
static inline __m512 value_of_abs(const vfmt *v, __m512i abs) {
    __m512i a = _mm512_min_epu32(abs, v->max_bits);
    __m512 magic = _mm512_castsi512_ps(magic_of(v, a));
    return _mm512_sub_ps(_mm512_add_ps(_mm512_castsi512_ps(a), magic), magic);
}

static inline __m512i abs_bits(__m512i u) { return _mm512_and_si512(u, u32x(0x7FFFFFFFu)); }
static inline __m512i sign_bits(__m512i u) { return _mm512_and_si512(u, u32x(0x80000000u)); }

/* Signed codes of fp32 bits u (not NaN). */
static inline __m512i encode_finite(const vfmt *v, __m512i u) {
    __m512i code = code_of_abs(v, abs_bits(u));
    /* code | (u >> (31 - sign_shift) & sign_bit) */
    return _mm512_ternarylogic_epi32(code, _mm512_srl_epi32(u, v->sign_shift), v->sign_bit, 0xF8);
}

/* Signed rounded values (decode(encode(q))) of fp32 bits u (not NaN). */
static inline __m512 round_finite(const vfmt *v, __m512i u) {
    __m512 value = value_of_abs(v, abs_bits(u));
    return _mm512_castsi512_ps(_mm512_or_si512(_mm512_castps_si512(value), sign_bits(u)));
}

/* fp32 values of codes c (one per lane). */
static inline __m512 decode_fp(const vfmt *v, __m512i c) {
    __m512i mag = _mm512_and_si512(c, v->mag_mask);
    __m512i sign = _mm512_sll_epi32(_mm512_and_si512(c, v->sign_bit), v->sign_shift);
    __m512i normal = _mm512_add_epi32(_mm512_sll_epi32(mag, v->normal_shift), v->normal_bias);
    __m512 sub = _mm512_mul_ps(_mm512_cvtepi32_ps(mag), v->sub_step); /* exact */
    __mmask16 is_sub = _mm512_cmplt_epu32_mask(mag, v->norm_mag);
    __m512i r = _mm512_or_si512(_mm512_mask_blend_epi32(is_sub, normal, _mm512_castps_si512(sub)), sign);
    r = _mm512_mask_mov_epi32(r, _mm512_cmpeq_epu32_mask(mag, v->inf_mag),
                              _mm512_or_si512(sign, u32x(0x7F800000u)));
    r = _mm512_mask_mov_epi32(r, _mm512_cmpge_epu32_mask(mag, v->nan_mag), u32x(DSV4_POLICY_F32_NAN));
    return _mm512_castsi512_ps(r);
}

/* ---- code loads and stores (n = lanes in use, <= 16; even when packed) ---- */
static inline void store_codes(uint8_t *dst, __m512i code, size_t n) {
    __m128i b = _mm512_cvtepi32_epi8(code);
    if (n == W) _mm_storeu_si128((__m128i *)dst, b);
    else _mm_mask_storeu_epi8(dst, first_lanes(n), b);
}

/* Lane 2i in the low nibble, 2i+1 in the high nibble of byte i. */
static inline void store_packed(uint8_t *dst, __m512i code, size_t n) {
    __m512i pair = _mm512_or_si512(code, _mm512_srli_epi64(code, 28));
    __m128i b = _mm512_cvtepi64_epi8(pair);
    if (n == W) _mm_storel_epi64((__m128i *)dst, b);
    else _mm_mask_storeu_epi8(dst, first_lanes(n / 2), b);
}

static inline __m512i load_codes(const uint8_t *src, size_t n) {
    __m128i b = n == W ? _mm_loadu_si128((const __m128i *)src) : _mm_maskz_loadu_epi8(first_lanes(n), src);
    return _mm512_cvtepu8_epi32(b);
}

static inline __m512i load_packed(const uint8_t *src, size_t n) {
    __m128i b = n == W ? _mm_loadl_epi64((const __m128i *)src)
                       : _mm_maskz_loadu_epi8(first_lanes(n / 2), src);
    __m512i q = _mm512_cvtepu8_epi64(b); /* byte i in qword i */
    __m512i lo = _mm512_and_si512(q, _mm512_set1_epi64(0x0F));
    __m512i hi = _mm512_slli_epi64(_mm512_and_si512(q, _mm512_set1_epi64(0xF0)), 28);
    return _mm512_or_si512(lo, hi); /* dword 2i = low nibble, 2i+1 = high nibble */
}

static inline __m512 load_f32(const float *src, size_t n) {
    return n == W ? _mm512_loadu_ps(src) : _mm512_maskz_loadu_ps(first_lanes(n), src);
}

static inline void store_f32(float *dst, __m512 v, size_t n) {
    if (n == W) _mm512_storeu_ps(dst, v);
    else _mm512_mask_storeu_ps(dst, first_lanes(n), v);
}

/* ---- array kernels ------------------------------------------------------------ */
static void encode_fp(const dsv4_elem *e, const float *x, uint8_t *codes, size_t n) {
    vfmt v = vfmt_of(e);
    for (size_t i = 0; i < n; i += W) {
        size_t m = n - i < W ? n - i : W;
        __m512i u = _mm512_castps_si512(load_f32(x + i, m));
        __mmask16 nan = _mm512_cmpgt_epu32_mask(abs_bits(u), u32x(0x7F800000u));
        __m512i code = _mm512_mask_mov_epi32(encode_finite(&v, u), nan, u32x(v.nan_code));
        store_codes(codes + i, code, m);
    }
}
static void enc_e4m3(const float *x, void *c, size_t n) {
    encode_fp(&dsv4_opt_elem[DSV4_FMT_E4M3], x, c, n);
}
static void enc_e5m2(const float *x, void *c, size_t n) {
    encode_fp(&dsv4_opt_elem[DSV4_FMT_E5M2], x, c, n);
}
static void enc_e2m1(const float *x, void *c, size_t n) {
    encode_fp(&dsv4_opt_elem[DSV4_FMT_E2M1], x, c, n);
}

static void enc_bf16(const float *x, void *codes, size_t n) {
    uint16_t *c = codes; /* [n] */
    for (size_t i = 0; i < n; i += W) {
        size_t m = n - i < W ? n - i : W;
        __m512i u = _mm512_castps_si512(load_f32(x + i, m));
        __m512i odd = _mm512_and_si512(_mm512_srli_epi32(u, 16), u32x(1));
        __m512i r = _mm512_srli_epi32(_mm512_add_epi32(u, _mm512_add_epi32(odd, u32x(0x7FFFu))), 16);
        r = _mm512_mask_mov_epi32(r, _mm512_cmpgt_epu32_mask(abs_bits(u), u32x(0x7F800000u)),
                                  u32x(DSV4_POLICY_BF16_NAN));
        __m256i h = _mm512_cvtepi32_epi16(r);
        if (m == W) _mm256_storeu_si256((__m256i *)(c + i), h);
        else _mm256_mask_storeu_epi16(c + i, first_lanes(m), h);
    }
}

static void enc_ue8m0(const float *x, void *codes, size_t n) {
    uint8_t *c = codes; /* [n] */
    for (size_t i = 0; i < n; i += W) {
        size_t m = n - i < W ? n - i : W;
        __m512i u = _mm512_castps_si512(load_f32(x + i, m));
        __m512i a = abs_bits(u);
        /* same selects, in the same order, as formats_scalar.c */
        __m512i b = _mm512_srli_epi32(_mm512_sub_epi32(a, u32x(1)), 23);
        b = _mm512_min_epu32(_mm512_add_epi32(b, u32x(1)), u32x(0xFE));
        b = _mm512_mask_mov_epi32(b, _mm512_cmple_epu32_mask(a, u32x(0x00400000u)), u32x(0));
        __mmask16 neg = _mm512_cmpgt_epu32_mask(u, u32x(0x80000000u)); /* sign set, nonzero */
        __mmask16 nan = _mm512_cmpgt_epu32_mask(a, u32x(0x7F800000u));
        b = _mm512_mask_mov_epi32(b, neg | nan, u32x(DSV4_POLICY_UE8M0_NAN));
        store_codes(c + i, b, m);
    }
}

static void decode_fp_array(const dsv4_elem *e, const uint8_t *codes, float *y, size_t n) {
    vfmt v = vfmt_of(e);
    for (size_t i = 0; i < n; i += W) {
        size_t m = n - i < W ? n - i : W;
        store_f32(y + i, decode_fp(&v, load_codes(codes + i, m)), m);
    }
}
static void dec_e4m3(const void *c, float *y, size_t n) {
    decode_fp_array(&dsv4_opt_elem[DSV4_FMT_E4M3], c, y, n);
}
static void dec_e5m2(const void *c, float *y, size_t n) {
    decode_fp_array(&dsv4_opt_elem[DSV4_FMT_E5M2], c, y, n);
}
static void dec_e2m1(const void *c, float *y, size_t n) {
    decode_fp_array(&dsv4_opt_elem[DSV4_FMT_E2M1], c, y, n);
}

static void dec_bf16(const void *codes, float *y, size_t n) {
    const uint16_t *c = codes; /* [n] */
    for (size_t i = 0; i < n; i += W) {
        size_t m = n - i < W ? n - i : W;
        __m256i h = m == W ? _mm256_loadu_si256((const __m256i *)(c + i))
                           : _mm256_maskz_loadu_epi16(first_lanes(m), c + i);
        __m512i u = _mm512_slli_epi32(_mm512_cvtepu16_epi32(h), 16);
        store_f32(y + i, _mm512_castsi512_ps(u), m);
    }
}

static void dec_ue8m0(const void *codes, float *y, size_t n) {
    const uint8_t *c = codes; /* [n] */
    for (size_t i = 0; i < n; i += W) {
        size_t m = n - i < W ? n - i : W;
        __m512i b = load_codes(c + i, m);
        __m512i u = _mm512_slli_epi32(b, 23);
        u = _mm512_mask_mov_epi32(u, _mm512_cmpeq_epu32_mask(b, u32x(0)), u32x(0x00400000u));
        u = _mm512_mask_mov_epi32(u, _mm512_cmpeq_epu32_mask(b, u32x(0xFF)), u32x(DSV4_POLICY_F32_NAN));
        store_f32(y + i, _mm512_castsi512_ps(u), m);
    }
}

/* ---- tile kernels ------------------------------------------------------------ */

/* Every lane = the max over the lanes of m. */
static inline __m512i lanes_max(__m512i m) {
    m = _mm512_max_epu32(m, _mm512_shuffle_i32x4(m, m, _MM_SHUFFLE(1, 0, 3, 2)));
    m = _mm512_max_epu32(m, _mm512_shuffle_i32x4(m, m, _MM_SHUFFLE(2, 3, 0, 1)));
    m = _mm512_max_epu32(m, _mm512_shuffle_epi32(m, _MM_PERM_BADC));
    return _mm512_max_epu32(m, _mm512_shuffle_epi32(m, _MM_PERM_CDAB));
}

/* Max of |x| bit patterns over one tile x[block_rows, block_cols] (stride
 * ld), in every lane. */
static inline __m512i tile_amax(const dsv4_tile_run *t, const float *x) {
    __m512i m0 = _mm512_setzero_si512(), m1 = _mm512_setzero_si512();
    size_t bc = t->block_cols;
    for (size_t r = 0; r < t->block_rows; r++) {
        const float *row = x + r * t->ld;
        size_t c = 0;
        for (; c + 2 * W <= bc; c += 2 * W) { /* two chains for the hot 32/64/128 widths */
            m0 = _mm512_max_epu32(m0, abs_bits(_mm512_castps_si512(_mm512_loadu_ps(row + c))));
            m1 = _mm512_max_epu32(m1, abs_bits(_mm512_castps_si512(_mm512_loadu_ps(row + c + W))));
        }
        for (; c < bc; c += W) { /* up to two vectors left, the last maybe partial */
            size_t m = bc - c < W ? bc - c : W;
            m0 = _mm512_max_epu32(m0, abs_bits(_mm512_castps_si512(load_f32(row + c, m))));
        }
    }
    return lanes_max(_mm512_max_epu32(m0, m1));
}

/* The scale of a valid tile, in every lane (dsv4_opt_tile_scale, in vector
 * registers: no round trip through a general register on the way from
 * amax to the element loop). */
typedef struct vrule {
    __m512i floor_bits, frac_limit, emax;
} vrule;

static vrule vrule_of(const dsv4_tile_run *t) {
    vrule r;
    r.floor_bits = u32x(t->e->floor_bits);
    /* rceil: one binade up when the fraction of amax' exceeds M's; floor: never */
    r.frac_limit = u32x(t->rule == DSV4_SCALE_RCEIL ? t->e->max_frac : 0xFFFFFFFFu);
    r.emax = u32x((uint32_t)t->e->emax);
    return r;
}

typedef struct vscale {
    __m512i byte;       /* k + 127 */
    __m512 inv, scale;  /* 2^-k, 2^k */
} vscale;

static inline vscale tile_scale(const vrule *r, __m512i amax) {
    vscale s;
    __m512i a = _mm512_max_epu32(amax, r->floor_bits);                   /* amax' */
    __m512i byte = _mm512_sub_epi32(_mm512_srli_epi32(a, 23), r->emax);  /* floor(log2) - emax + 127 */
    __mmask16 up = _mm512_cmpgt_epu32_mask(_mm512_and_si512(a, u32x(0x7FFFFFu)), r->frac_limit);
    byte = _mm512_mask_add_epi32(byte, up, byte, u32x(1));
    byte = _mm512_min_epi32(_mm512_max_epi32(byte, _mm512_setzero_si512()), u32x(254)); /* k in [-127, 127] */
    __m512i inv = _mm512_sub_epi32(u32x(254), byte);                     /* 127 - k */
    /* fp32 2^e from a field e in [0, 254]: e << 23, or the subnormal 2^-127 for 0 */
    s.scale = _mm512_castsi512_ps(_mm512_mask_mov_epi32(_mm512_slli_epi32(byte, 23),
        _mm512_cmpeq_epi32_mask(byte, _mm512_setzero_si512()), u32x(0x00400000u)));
    s.inv = _mm512_castsi512_ps(_mm512_mask_mov_epi32(_mm512_slli_epi32(inv, 23),
        _mm512_cmpeq_epi32_mask(inv, _mm512_setzero_si512()), u32x(0x00400000u)));
    s.byte = byte;
    return s;
}

static inline int tile_invalid(__m512i amax) { /* a NaN or Inf in the tile (P6) */
    return _mm512_cmpge_epu32_mask(amax, u32x(0x7F800000u)) != 0;
}

/* ---- one-row tiles, 16 at a time ---------------------------------------------
 * When a tile is one row of whole vectors (block_rows = 1, block_cols a
 * multiple of 16: the V4 activation tiles 1x32, 1x64, 1x128), 16 tiles are
 * reduced together: their 16 partial-max vectors are transposed into one
 * vector of 16 amax values, so the horizontal reduction, the scale
 * arithmetic and the scale-byte store are paid once per 16 tiles. */

/* Lane j of the result = max over the lanes of m[j]. */
static inline __m512i transpose_max(const __m512i m[W]) {
    __m512i r[8], s4[4], t2[2];
    for (int i = 0; i < 8; i++) /* lanes 0-7: tile 2i, lanes 8-15: tile 2i+1 */
        r[i] = _mm512_max_epu32(_mm512_shuffle_i32x4(m[2 * i], m[2 * i + 1], _MM_SHUFFLE(1, 0, 1, 0)),
                                _mm512_shuffle_i32x4(m[2 * i], m[2 * i + 1], _MM_SHUFFLE(3, 2, 3, 2)));
    for (int i = 0; i < 4; i++) /* 128-bit chunk q: tile 4i + q */
        s4[i] = _mm512_max_epu32(_mm512_shuffle_i32x4(r[2 * i], r[2 * i + 1], _MM_SHUFFLE(2, 0, 2, 0)),
                                 _mm512_shuffle_i32x4(r[2 * i], r[2 * i + 1], _MM_SHUFFLE(3, 1, 3, 1)));
    for (int i = 0; i < 2; i++) /* chunk q: lanes 0-1 tile 8i + q, lanes 2-3 tile 8i + 4 + q */
        t2[i] = _mm512_max_epu32(_mm512_unpacklo_epi64(s4[2 * i], s4[2 * i + 1]),
                                 _mm512_unpackhi_epi64(s4[2 * i], s4[2 * i + 1]));
    /* chunk q, lane p: tile 4p + q */
    __m512 a = _mm512_castsi512_ps(t2[0]), b = _mm512_castsi512_ps(t2[1]);
    __m512i u = _mm512_max_epu32(_mm512_castps_si512(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))),
                                 _mm512_castps_si512(_mm512_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))));
    /* tile j = 4p + q sits in lane 4q + p */
    const __m512i where = _mm512_setr_epi32(0, 4, 8, 12, 1, 5, 9, 13, 2, 6, 10, 14, 3, 7, 11, 15);
    return _mm512_permutexvar_epi32(where, u);
}

/* amax of 16 consecutive one-row tiles x[16 * bc], lane j for tile j. */
static inline __m512i group_amax(const float *x, size_t bc) {
    __m512i m[W];
    for (int j = 0; j < W; j++) {
        const float *tile = x + (size_t)j * bc;
        prefetch_ahead(tile);
        __m512i acc = abs_bits(_mm512_castps_si512(_mm512_loadu_ps(tile)));
        for (size_t c = W; c < bc; c += W) {
            prefetch_ahead(tile + c);
            acc = _mm512_max_epu32(acc, abs_bits(_mm512_castps_si512(_mm512_loadu_ps(tile + c))));
        }
        m[j] = acc;
    }
    return transpose_max(m);
}

static inline __m512 lane(__m512 v, int j) { return _mm512_permutexvar_ps(_mm512_set1_epi32(j), v); }

/* Codes of one row of a valid tile, m lanes at a time. */
static inline void quant_chunk(const vfmt *v, int packed, const float *x, uint8_t *crow,
                               size_t c, size_t m, __m512 inv) {
    __m512 q = _mm512_mul_ps(load_f32(x + c, m), inv); /* exact x / 2^k */
    __m512i code = encode_finite(v, _mm512_castps_si512(q));
    if (packed) store_packed(crow + c / 2, code, m);
    else store_codes(crow + c, code, m);
}

/* 16 one-row tiles x[16 * bc] -> codes, scales[16]. */
static void quant_group(const vfmt *v, const vrule *rule, const dsv4_tile_run *t,
                        const float *x, uint8_t *codes, uint8_t *scales) {
    size_t bc = t->block_cols, code_step = t->packed ? bc / 2 : bc;
    __m512i amax = group_amax(x, bc);
    __mmask16 bad = _mm512_cmpge_epu32_mask(amax, u32x(0x7F800000u)); /* P6 */
    vscale s = tile_scale(rule, amax);
    __m512i bytes = _mm512_mask_mov_epi32(s.byte, bad, u32x(DSV4_POLICY_INVALID_SCALE));
    _mm_storeu_si128((__m128i *)scales, _mm512_cvtepi32_epi8(bytes));
    for (int j = 0; j < W; j++) {
        __m512 inv = lane(s.inv, j);
        for (size_t c = 0; c < bc; c += W)
            quant_chunk(v, t->packed, x + (size_t)j * bc, codes + (size_t)j * code_step, c, W, inv);
    }
    for (int j = 0; j < W; j++) /* rare: redo invalid tiles */
        if (bad >> j & 1) dsv4_opt_invalid_codes(t, codes + (size_t)j * code_step);
}

static void quant_tiles(const dsv4_tile_run *t, const float *x, uint8_t *codes,
                        uint8_t *scales, size_t n_tiles) {
    vfmt v = vfmt_of(t->e);
    vrule rule = vrule_of(t);
    size_t bc = t->block_cols, code_step = t->packed ? bc / 2 : bc;
    size_t i = 0;
    if (t->block_rows == 1 && bc % W == 0)
        for (; i + W <= n_tiles; i += W)
            quant_group(&v, &rule, t, x + i * bc, codes + i * code_step, scales + i);
    for (; i < n_tiles; i++) {
        const float *xt = x + i * bc;
        uint8_t *ct = codes + i * code_step;
        __m512i amax = tile_amax(t, xt);
        if (tile_invalid(amax)) {
            scales[i] = DSV4_POLICY_INVALID_SCALE;
            dsv4_opt_invalid_codes(t, ct);
            continue;
        }
        vscale s = tile_scale(&rule, amax);
        scales[i] = (uint8_t)_mm_cvtsi128_si32(_mm512_castsi512_si128(s.byte));
        for (size_t r = 0; r < t->block_rows; r++) {
            const float *row = xt + r * t->ld;
            uint8_t *crow = ct + r * t->code_ld;
            size_t c = 0;
            for (; c + W <= bc; c += W) quant_chunk(&v, t->packed, row, crow, c, W, s.inv);
            if (c < bc) quant_chunk(&v, t->packed, row, crow, c, bc - c, s.inv);
        }
    }
}

/* dequant(quant(x)) of x in a valid tile (2^-k in inv, 2^k in scale). */
static inline __m512 fake_value(const vfmt *v, __m512 x, __m512 inv, __m512 scale) {
    __m512 q = _mm512_mul_ps(x, inv);
    __m512 value = round_finite(v, _mm512_castps_si512(q));
    return _mm512_mul_ps(value, scale); /* exact */
}

/* The same for one row of a valid tile, m lanes at a time. */
static inline void fake_chunk(const vfmt *v, const float *x, float *y, size_t m,
                              const vscale *s) {
    store_f32(y, fake_value(v, load_f32(x, m), s->inv, s->scale), m);
}

/* ---- float output of the one-row tile groups ---------------------------------
 * The groups write y front to back, 16 floats per result vector.  A small
 * output goes straight to y (it may stay cached for its reader).  A large
 * one (tile_run.stream) goes around the caches: non-temporal stores need
 * whole 64-byte lines, so the writer shifts the stream onto line boundaries
 * (lanes `head` .. 15 of one result and 0 .. head-1 of the next form a line,
 * one aligned store); the part line before y's first boundary and the rest
 * after the last result go through masked normal stores, and nothing outside
 * y[0 .. 16 * puts) is touched. */
typedef struct line_writer {
    float *next;      /* y of the next result vector */
    __m512i from;     /* lane i of a line = lane head + i of (prev, result) */
    __m512 prev;      /* the last result vector */
    size_t head;      /* floats before y's first 64-byte boundary, 0 .. 15 */
    size_t puts;      /* result vectors so far */
    int stream;
} line_writer;

static inline line_writer writer_start(float *y, int stream) {
    line_writer w;
    w.next = y;
    w.head = (W - (uintptr_t)y / sizeof(float) % W) % W; /* float* is 4-byte aligned */
    w.from = _mm512_add_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                              u32x((uint32_t)w.head));
    w.prev = _mm512_setzero_ps();
    w.puts = 0;
    w.stream = stream;
    return w;
}

static inline void writer_put(line_writer *w, __m512 v) {
    if (!w->stream) {
        _mm512_storeu_ps(w->next, v);
    } else if (w->puts == 0) {
        _mm512_mask_storeu_ps(w->next, first_lanes(w->head), v);
    } else {
        float *line = w->next - W + w->head; /* 64-byte aligned */
        _mm512_stream_ps(line, _mm512_permutex2var_ps(w->prev, w->from, v));
    }
    w->prev = v;
    w->next += W;
    w->puts++;
}

/* The rest of the last result; then the non-temporal stores are ordered
 * before whatever the caller does next (another thread may read y). */
static inline void writer_finish(line_writer *w) {
    if (!w->stream) return;
    if (w->puts > 0) _mm512_mask_storeu_ps(w->next - W, (__mmask16)~first_lanes(w->head), w->prev);
    _mm_sfence();
}

/* 16 one-row tiles x[16 * bc] -> the writer (y may be x: every element is
 * read before the writer stores over it). */
static void fake_quant_group(const vfmt *v, const vrule *rule, const dsv4_tile_run *t,
                             const float *x, line_writer *w) {
    size_t bc = t->block_cols;
    __m512i amax = group_amax(x, bc);
    __mmask16 bad = _mm512_cmpge_epu32_mask(amax, u32x(0x7F800000u)); /* P6 */
    vscale all = tile_scale(rule, amax);
    for (int j = 0; j < W; j++) {
        const float *tile = x + (size_t)j * bc;
        __m512 inv = lane(all.inv, j), scale = lane(all.scale, j);
        if (bad >> j & 1) /* rare: an invalid tile is all NaN */
            for (size_t c = 0; c < bc; c += W) writer_put(w, _mm512_castsi512_ps(u32x(DSV4_POLICY_F32_NAN)));
        else
            for (size_t c = 0; c < bc; c += W) writer_put(w, fake_value(v, _mm512_loadu_ps(tile + c), inv, scale));
    }
}

static void fake_quant_tiles(const dsv4_tile_run *t, const float *x, float *y,
                             size_t n_tiles) {
    vfmt v = vfmt_of(t->e);
    vrule rule = vrule_of(t);
    size_t bc = t->block_cols;
    size_t i = 0;
    if (t->block_rows == 1 && bc % W == 0 && n_tiles >= W) {
        line_writer w = writer_start(y, t->stream);
        for (; i + W <= n_tiles; i += W) fake_quant_group(&v, &rule, t, x + i * bc, &w);
        writer_finish(&w);
    }
    for (; i < n_tiles; i++) {
        const float *xt = x + i * bc;
        float *yt = y + i * bc;
        __m512i amax = tile_amax(t, xt);
        if (tile_invalid(amax)) {
            dsv4_opt_invalid_values(t, yt);
            continue;
        }
        vscale s = tile_scale(&rule, amax);
        for (size_t r = 0; r < t->block_rows; r++) {
            const float *row = xt + r * t->ld;
            float *yrow = yt + r * t->ld;
            size_t c = 0;
            for (; c + W <= bc; c += W) fake_chunk(&v, row + c, yrow + c, W, &s);
            if (c < bc) fake_chunk(&v, row + c, yrow + c, bc - c, &s);
        }
    }
}

static inline void dequant_chunk(const vfmt *v, int packed, const uint8_t *crow, float *y,
                                 size_t c, size_t m, __m512 scale) {
    __m512i code = packed ? load_packed(crow + c / 2, m) : load_codes(crow + c, m);
    store_f32(y + c, _mm512_mul_ps(decode_fp(v, code), scale), m);
}

static void dequant_tiles(const dsv4_tile_run *t, const uint8_t *codes,
                          const uint8_t *scales, float *y, size_t n_tiles) {
    vfmt v = vfmt_of(t->e);
    size_t bc = t->block_cols, code_step = t->packed ? bc / 2 : bc;
    for (size_t i = 0; i < n_tiles; i++) {
        __m512 vs = _mm512_castsi512_ps(u32x(dsv4_opt_ue8m0_bits(scales[i])));
        const uint8_t *ct = codes + i * code_step;
        float *yt = y + i * bc;
        for (size_t r = 0; r < t->block_rows; r++) {
            const uint8_t *crow = ct + r * t->code_ld;
            float *yrow = yt + r * t->ld;
            size_t c = 0;
            for (; c + W <= bc; c += W) dequant_chunk(&v, t->packed, crow, yrow, c, W, vs);
            if (c < bc) dequant_chunk(&v, t->packed, crow, yrow, c, bc - c, vs);
        }
    }
}

const dsv4_fmt_kernels dsv4_fmt_kernels_avx512 = {
    .encode = {enc_bf16, enc_e4m3, enc_e5m2, enc_e2m1, enc_ue8m0},
    .decode = {dec_bf16, dec_e4m3, dec_e5m2, dec_e2m1, dec_ue8m0},
    .quant = quant_tiles,
    .dequant = dequant_tiles,
    .fake_quant = fake_quant_tiles,
};
#endif
