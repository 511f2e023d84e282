/* formats_avx2.c - AVX2 + FMA kernels of the number formats and block
 * quantizers: 8 fp32 lanes.  Array tails go to the scalar kernels; tile
 * tails (block_cols not a multiple of 8) use masked fp32 loads and stores
 * (vmaskmov never touches masked-out memory) and a small stack buffer for
 * the code bytes.  Lane for lane these are the operations of
 * formats_scalar.c; formats_kernels.h derives them.  (No FMA is used: every
 * step must round exactly as the scalar code does.) */
#if defined(__x86_64__)
#include "formats_kernels.h"
#include "policy.h"

#include <immintrin.h>
#include <string.h>

enum { W = 8 }; /* lanes */

static __m256i u32x(uint32_t v) { return _mm256_set1_epi32((int)v); }
static __m128i count(uint32_t n) { return _mm_cvtsi32_si128((int)n); }

/* All-ones in the first n lanes (n <= 8). */
static __m256i first_lanes(size_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}

/* The constants of one element format, broadcast once per kernel call. */
typedef struct vfmt {
    __m256i max_bits, emin_exp, magic_off, magic_min, sign_bit;         /* encode */
    __m256i mag_mask, norm_mag, inf_mag, nan_mag_minus1, normal_bias;   /* decode */
    __m256 sub_step;
    __m128i to_steps, sign_shift, normal_shift;                          /* shift counts */
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
    v.nan_mag_minus1 = u32x(e->nan_mag - 1u);
    v.normal_bias = u32x((e->emin_field - 1u) << 23);
    v.sub_step = _mm256_castsi256_ps(u32x((e->emin_field - mb) << 23));
    v.to_steps = count(23u - mb);
    v.sign_shift = count(31u - e->sign_shift);
    v.normal_shift = count(23u - mb);
    v.nan_code = e->nan_code;
    return v;
}

/* ---- element math ------------------------------------------------------------ */

/* The magic number of each lane (formats_kernels.h) for a = min(|q|, M). */
static inline __m256i magic_of(const vfmt *v, __m256i a) {
    __m256i binade = _mm256_max_epu32(_mm256_and_si256(a, u32x(0x7F800000u)), v->emin_exp);
    return _mm256_add_epi32(binade, v->magic_off);
}

/* Magnitude codes of sign-cleared, non-NaN bits. */
static inline __m256i code_of_abs(const vfmt *v, __m256i abs) {
    __m256i a = _mm256_min_epu32(abs, v->max_bits);                    /* saturate */
    __m256i magic = magic_of(v, a);
    __m256 sum = _mm256_add_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(magic));
    __m256i steps = _mm256_sub_epi32(_mm256_castps_si256(sum), magic);
    __m256i base = _mm256_srl_epi32(_mm256_sub_epi32(magic, v->magic_min), v->to_steps);
    return _mm256_add_epi32(base, steps);
}

/* Rounded values (sign clear) of sign-cleared, non-NaN bits. */
static inline __m256 value_of_abs(const vfmt *v, __m256i abs) {
    __m256i a = _mm256_min_epu32(abs, v->max_bits);
    __m256 magic = _mm256_castsi256_ps(magic_of(v, a));
    return _mm256_sub_ps(_mm256_add_ps(_mm256_castsi256_ps(a), magic), magic);
}

static inline __m256i abs_bits(__m256i u) { return _mm256_and_si256(u, u32x(0x7FFFFFFFu)); }
static inline __m256i sign_bits(__m256i u) { return _mm256_and_si256(u, u32x(0x80000000u)); }
/* lanes holding a NaN (|u| above the Inf pattern; |u| < 2^31 so signed compare is fine) */
static inline __m256i is_nan(__m256i u) { return _mm256_cmpgt_epi32(abs_bits(u), u32x(0x7F800000u)); }

/* Signed codes of fp32 bits u (not NaN). */
static inline __m256i encode_finite(const vfmt *v, __m256i u) {
    __m256i code = code_of_abs(v, abs_bits(u));
    return _mm256_or_si256(code, _mm256_srl_epi32(sign_bits(u), v->sign_shift));
}

/* Signed rounded values (decode(encode(q))) of fp32 bits u (not NaN). */
static inline __m256 round_finite(const vfmt *v, __m256i u) {
    __m256 value = value_of_abs(v, abs_bits(u));
    return _mm256_castsi256_ps(_mm256_or_si256(_mm256_castps_si256(value), sign_bits(u)));
}

static inline __m256 decode_fp(const vfmt *v, __m256i c) {
    __m256i mag = _mm256_and_si256(c, v->mag_mask);
    __m256i sign = _mm256_sll_epi32(_mm256_and_si256(c, v->sign_bit), v->sign_shift);
    __m256i normal = _mm256_add_epi32(_mm256_sll_epi32(mag, v->normal_shift), v->normal_bias);
    __m256 sub = _mm256_mul_ps(_mm256_cvtepi32_ps(mag), v->sub_step); /* exact */
    __m256i is_sub = _mm256_cmpgt_epi32(v->norm_mag, mag);
    __m256i r = _mm256_or_si256(_mm256_blendv_epi8(normal, _mm256_castps_si256(sub), is_sub), sign);
    r = _mm256_blendv_epi8(r, _mm256_or_si256(sign, u32x(0x7F800000u)), _mm256_cmpeq_epi32(mag, v->inf_mag));
    r = _mm256_blendv_epi8(r, u32x(DSV4_POLICY_F32_NAN), _mm256_cmpgt_epi32(mag, v->nan_mag_minus1));
    return _mm256_castsi256_ps(r);
}

/* ---- code loads and stores (n = lanes in use, <= 8; even when packed) ---- */

/* Low byte of each lane, in lane order, as 8 bytes. */
static inline __m128i bytes_of(__m256i code) {
    const __m256i pick = _mm256_setr_epi8(0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                          0, 4, 8, 12, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    __m256i b = _mm256_shuffle_epi8(code, pick);
    return _mm256_castsi256_si128(_mm256_permutevar8x32_epi32(b, _mm256_setr_epi32(0, 4, 1, 1, 1, 1, 1, 1)));
}

static inline void store_codes(uint8_t *dst, __m256i code, size_t n) {
    __m128i b = bytes_of(code);
    if (n == W) {
        _mm_storel_epi64((__m128i *)dst, b);
        return;
    }
    uint8_t buf[16];
    _mm_storeu_si128((__m128i *)buf, b);
    memcpy(dst, buf, n);
}

/* Lane 2i in the low nibble, 2i+1 in the high nibble of byte i: 4 bytes. */
static inline void store_packed(uint8_t *dst, __m256i code, size_t n) {
    const __m256i pick = _mm256_setr_epi8(0, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1,
                                          -1, -1, 0, 8, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1, -1);
    __m256i pair = _mm256_or_si256(code, _mm256_srli_epi64(code, 28));
    __m256i b = _mm256_shuffle_epi8(pair, pick);
    uint32_t word = (uint32_t)_mm_cvtsi128_si32(
        _mm_or_si128(_mm256_castsi256_si128(b), _mm256_extracti128_si256(b, 1)));
    if (n == W) memcpy(dst, &word, W / 2); /* little-endian: byte 0 first */
    else memcpy(dst, &word, n / 2);
}

static inline __m256i load_codes(const uint8_t *src, size_t n) {
    uint8_t buf[8] = {0};
    if (n < W) src = memcpy(buf, src, n);
    return _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)src));
}

static inline __m256i load_packed(const uint8_t *src, size_t n) {
    uint32_t word = 0;
    if (n == W) memcpy(&word, src, W / 2);
    else memcpy(&word, src, n / 2);
    __m256i q = _mm256_cvtepu8_epi64(_mm_cvtsi32_si128((int)word)); /* byte i in qword i */
    __m256i lo = _mm256_and_si256(q, _mm256_set1_epi64x(0x0F));
    __m256i hi = _mm256_slli_epi64(_mm256_and_si256(q, _mm256_set1_epi64x(0xF0)), 28);
    return _mm256_or_si256(lo, hi);
}

static inline __m256 load_f32(const float *src, size_t n) {
    return n == W ? _mm256_loadu_ps(src) : _mm256_maskload_ps(src, first_lanes(n));
}

static inline void store_f32(float *dst, __m256 v, size_t n) {
    if (n == W) _mm256_storeu_ps(dst, v);
    else _mm256_maskstore_ps(dst, first_lanes(n), v);
}

/* ---- array kernels (whole vectors here, the tail in the scalar kernel) ---- */
static void encode_fp(const dsv4_elem *e, dsv4_fmt f, const float *x, uint8_t *codes, size_t n) {
    vfmt v = vfmt_of(e);
    size_t i = 0;
    for (; i + W <= n; i += W) {
        __m256i u = _mm256_castps_si256(_mm256_loadu_ps(x + i));
        __m256i code = _mm256_blendv_epi8(encode_finite(&v, u), u32x(v.nan_code), is_nan(u));
        store_codes(codes + i, code, W);
    }
    dsv4_fmt_kernels_scalar.encode[f](x + i, codes + i, n - i);
}
static void enc_e4m3(const float *x, void *c, size_t n) {
    encode_fp(&dsv4_opt_elem[DSV4_FMT_E4M3], DSV4_FMT_E4M3, x, c, n);
}
static void enc_e5m2(const float *x, void *c, size_t n) {
    encode_fp(&dsv4_opt_elem[DSV4_FMT_E5M2], DSV4_FMT_E5M2, x, c, n);
}
static void enc_e2m1(const float *x, void *c, size_t n) {
    encode_fp(&dsv4_opt_elem[DSV4_FMT_E2M1], DSV4_FMT_E2M1, x, c, n);
}

static void enc_bf16(const float *x, void *codes, size_t n) {
    uint16_t *c = codes; /* [n] */
    size_t i = 0;
    for (; i + W <= n; i += W) {
        __m256i u = _mm256_castps_si256(_mm256_loadu_ps(x + i));
        __m256i odd = _mm256_and_si256(_mm256_srli_epi32(u, 16), u32x(1));
        __m256i r = _mm256_srli_epi32(_mm256_add_epi32(u, _mm256_add_epi32(odd, u32x(0x7FFFu))), 16);
        r = _mm256_blendv_epi8(r, u32x(DSV4_POLICY_BF16_NAN), is_nan(u));
        /* r < 2^16, so the unsigned-saturating pack is exact */
        __m128i h = _mm_packus_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1));
        _mm_storeu_si128((__m128i *)(c + i), h);
    }
    dsv4_fmt_kernels_scalar.encode[DSV4_FMT_BF16](x + i, c + i, n - i);
}

static void enc_ue8m0(const float *x, void *codes, size_t n) {
    uint8_t *c = codes; /* [n] */
    size_t i = 0;
    for (; i + W <= n; i += W) {
        __m256i u = _mm256_castps_si256(_mm256_loadu_ps(x + i));
        __m256i a = abs_bits(u);
        __m256i b = _mm256_srli_epi32(_mm256_sub_epi32(a, u32x(1)), 23);
        b = _mm256_min_epu32(_mm256_add_epi32(b, u32x(1)), u32x(0xFE));
        __m256i tiny = _mm256_cmpgt_epi32(u32x(0x00400001u), a); /* a <= 2^-127 */
        b = _mm256_andnot_si256(tiny, b);
        __m256i neg = _mm256_andnot_si256(_mm256_cmpeq_epi32(a, _mm256_setzero_si256()),
                                          _mm256_cmpgt_epi32(_mm256_setzero_si256(), u));
        b = _mm256_blendv_epi8(b, u32x(DSV4_POLICY_UE8M0_NAN), _mm256_or_si256(neg, is_nan(u)));
        store_codes(c + i, b, W);
    }
    dsv4_fmt_kernels_scalar.encode[DSV4_FMT_UE8M0](x + i, c + i, n - i);
}

static void decode_fp_array(const dsv4_elem *e, dsv4_fmt f, const uint8_t *codes, float *y,
                            size_t n) {
    vfmt v = vfmt_of(e);
    size_t i = 0;
    for (; i + W <= n; i += W) {
        __m256i c = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(codes + i)));
        _mm256_storeu_ps(y + i, decode_fp(&v, c));
    }
    dsv4_fmt_kernels_scalar.decode[f](codes + i, y + i, n - i);
}
static void dec_e4m3(const void *c, float *y, size_t n) {
    decode_fp_array(&dsv4_opt_elem[DSV4_FMT_E4M3], DSV4_FMT_E4M3, c, y, n);
}
static void dec_e5m2(const void *c, float *y, size_t n) {
    decode_fp_array(&dsv4_opt_elem[DSV4_FMT_E5M2], DSV4_FMT_E5M2, c, y, n);
}
static void dec_e2m1(const void *c, float *y, size_t n) {
    decode_fp_array(&dsv4_opt_elem[DSV4_FMT_E2M1], DSV4_FMT_E2M1, c, y, n);
}

static void dec_bf16(const void *codes, float *y, size_t n) {
    const uint16_t *c = codes; /* [n] */
    size_t i = 0;
    for (; i + W <= n; i += W) {
        __m256i h = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(c + i)));
        _mm256_storeu_ps(y + i, _mm256_castsi256_ps(_mm256_slli_epi32(h, 16)));
    }
    dsv4_fmt_kernels_scalar.decode[DSV4_FMT_BF16](c + i, y + i, n - i);
}

static void dec_ue8m0(const void *codes, float *y, size_t n) {
    const uint8_t *c = codes; /* [n] */
    size_t i = 0;
    for (; i + W <= n; i += W) {
        __m256i b = _mm256_cvtepu8_epi32(_mm_loadl_epi64((const __m128i *)(c + i)));
        __m256i u = _mm256_slli_epi32(b, 23);
        u = _mm256_blendv_epi8(u, u32x(0x00400000u), _mm256_cmpeq_epi32(b, _mm256_setzero_si256()));
        u = _mm256_blendv_epi8(u, u32x(DSV4_POLICY_F32_NAN), _mm256_cmpeq_epi32(b, u32x(0xFF)));
        _mm256_storeu_ps(y + i, _mm256_castsi256_ps(u));
    }
    dsv4_fmt_kernels_scalar.decode[DSV4_FMT_UE8M0](c + i, y + i, n - i);
}

/* ---- tile kernels ------------------------------------------------------------ */
/* The |x| bit patterns are below 2^31, so signed compares and max order them. */

/* Every lane = the max over the lanes of m. */
static inline __m256i lanes_max(__m256i m) {
    m = _mm256_max_epi32(m, _mm256_permute2x128_si256(m, m, 0x01));
    m = _mm256_max_epi32(m, _mm256_shuffle_epi32(m, _MM_SHUFFLE(1, 0, 3, 2)));
    return _mm256_max_epi32(m, _mm256_shuffle_epi32(m, _MM_SHUFFLE(2, 3, 0, 1)));
}

/* Max of |x| bit patterns over one tile x[block_rows, block_cols] (stride
 * ld), in every lane. */
static inline __m256i tile_amax(const dsv4_tile_run *t, const float *x) {
    __m256i m0 = _mm256_setzero_si256(), m1 = _mm256_setzero_si256();
    size_t bc = t->block_cols;
    for (size_t r = 0; r < t->block_rows; r++) {
        const float *row = x + r * t->ld;
        size_t c = 0;
        for (; c + 2 * W <= bc; c += 2 * W) { /* two chains for the hot 32/64/128 widths */
            m0 = _mm256_max_epi32(m0, abs_bits(_mm256_castps_si256(_mm256_loadu_ps(row + c))));
            m1 = _mm256_max_epi32(m1, abs_bits(_mm256_castps_si256(_mm256_loadu_ps(row + c + W))));
        }
        for (; c < bc; c += W) { /* up to two vectors left, the last maybe partial */
            size_t m = bc - c < W ? bc - c : W;
            m0 = _mm256_max_epi32(m0, abs_bits(_mm256_castps_si256(load_f32(row + c, m))));
        }
    }
    return lanes_max(_mm256_max_epi32(m0, m1));
}

/* The scale of a valid tile, lane by lane (dsv4_opt_tile_scale in vector
 * registers). */
typedef struct vrule {
    __m256i floor_bits, frac_limit, emax;
} vrule;

static vrule vrule_of(const dsv4_tile_run *t) {
    vrule r;
    r.floor_bits = u32x(t->e->floor_bits);
    /* rceil: one binade up when the fraction of amax' exceeds M's; floor: never
     * (the fraction is at most 0x7FFFFF) */
    r.frac_limit = u32x(t->rule == DSV4_SCALE_RCEIL ? t->e->max_frac : 0x7FFFFFu);
    r.emax = u32x((uint32_t)t->e->emax);
    return r;
}

typedef struct vscale {
    __m256i byte;       /* k + 127 */
    __m256 inv, scale;  /* 2^-k, 2^k */
} vscale;

/* fp32 2^(e - 127) from a field e in [0, 254]: e << 23, or the subnormal 2^-127 for 0 */
static inline __m256 pow2_of_field(__m256i e) {
    __m256i zero = _mm256_cmpeq_epi32(e, _mm256_setzero_si256());
    return _mm256_castsi256_ps(_mm256_blendv_epi8(_mm256_slli_epi32(e, 23), u32x(0x00400000u), zero));
}

static inline vscale tile_scale(const vrule *r, __m256i amax) {
    vscale s;
    __m256i a = _mm256_max_epi32(amax, r->floor_bits);                   /* amax' */
    __m256i byte = _mm256_sub_epi32(_mm256_srli_epi32(a, 23), r->emax);  /* floor(log2) - emax + 127 */
    __m256i up = _mm256_cmpgt_epi32(_mm256_and_si256(a, u32x(0x7FFFFFu)), r->frac_limit);
    byte = _mm256_sub_epi32(byte, up);                                   /* up is -1 or 0 */
    byte = _mm256_min_epi32(_mm256_max_epi32(byte, _mm256_setzero_si256()), u32x(254)); /* k in [-127, 127] */
    s.byte = byte;
    s.scale = pow2_of_field(byte);
    s.inv = pow2_of_field(_mm256_sub_epi32(u32x(254), byte));
    return s;
}

/* lanes whose amax says NaN or Inf (P6), as a bit mask */
static inline int invalid_lanes(__m256i amax) {
    return _mm256_movemask_ps(_mm256_castsi256_ps(_mm256_cmpgt_epi32(amax, u32x(0x7F7FFFFFu))));
}

/* ---- one-row tiles, 8 at a time (see formats_avx512.c) ------------------------ */

/* Lane j of the result = max over the lanes of m[j]. */
static inline __m256i transpose_max(const __m256i m[W]) {
    __m256i r[4], s2[2];
    for (int i = 0; i < 4; i++) /* 128-bit half h: tile 2i + h */
        r[i] = _mm256_max_epi32(_mm256_permute2x128_si256(m[2 * i], m[2 * i + 1], 0x20),
                                _mm256_permute2x128_si256(m[2 * i], m[2 * i + 1], 0x31));
    for (int i = 0; i < 2; i++) /* half h: lanes 0-1 tile 4i + h, lanes 2-3 tile 4i + 2 + h */
        s2[i] = _mm256_max_epi32(_mm256_unpacklo_epi64(r[2 * i], r[2 * i + 1]),
                                 _mm256_unpackhi_epi64(r[2 * i], r[2 * i + 1]));
    __m256 a = _mm256_castsi256_ps(s2[0]), b = _mm256_castsi256_ps(s2[1]);
    __m256i u = _mm256_max_epi32(_mm256_castps_si256(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))),
                                 _mm256_castps_si256(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))));
    /* half h, lane p: tile 2p + h; tile j sits in lane 4 (j % 2) + j / 2 */
    return _mm256_permutevar8x32_epi32(u, _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7));
}

/* amax of 8 consecutive one-row tiles x[8 * bc], lane j for tile j. */
static inline __m256i group_amax(const float *x, size_t bc) {
    __m256i m[W];
    for (int j = 0; j < W; j++) {
        const float *tile = x + (size_t)j * bc;
        __m256i acc = abs_bits(_mm256_castps_si256(_mm256_loadu_ps(tile)));
        for (size_t c = W; c < bc; c += W)
            acc = _mm256_max_epi32(acc, abs_bits(_mm256_castps_si256(_mm256_loadu_ps(tile + c))));
        m[j] = acc;
    }
    return transpose_max(m);
}

static inline __m256 lane(__m256 v, int j) { return _mm256_permutevar8x32_ps(v, _mm256_set1_epi32(j)); }

/* Codes of one row of a valid tile, m lanes at a time. */
static inline void quant_chunk(const vfmt *v, int packed, const float *x, uint8_t *crow,
                               size_t c, size_t m, __m256 inv) {
    __m256 q = _mm256_mul_ps(load_f32(x + c, m), inv); /* exact x / 2^k */
    __m256i code = encode_finite(v, _mm256_castps_si256(q));
    if (packed) store_packed(crow + c / 2, code, m);
    else store_codes(crow + c, code, m);
}

/* 8 one-row tiles x[8 * bc] -> codes, scales[8]. */
static void quant_group(const vfmt *v, const vrule *rule, const dsv4_tile_run *t,
                        const float *x, uint8_t *codes, uint8_t *scales) {
    size_t bc = t->block_cols, code_step = t->packed ? bc / 2 : bc;
    __m256i amax = group_amax(x, bc);
    int bad = invalid_lanes(amax);
    vscale s = tile_scale(rule, amax);
    __m256i bytes = _mm256_blendv_epi8(s.byte, u32x(DSV4_POLICY_INVALID_SCALE),
                                       _mm256_cmpgt_epi32(amax, u32x(0x7F7FFFFFu)));
    store_codes(scales, bytes, W);
    for (int j = 0; j < W; j++) {
        __m256 inv = lane(s.inv, j);
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
        __m256i amax = tile_amax(t, xt);
        if (invalid_lanes(amax)) {
            scales[i] = DSV4_POLICY_INVALID_SCALE;
            dsv4_opt_invalid_codes(t, ct);
            continue;
        }
        vscale s = tile_scale(&rule, amax);
        scales[i] = (uint8_t)_mm_cvtsi128_si32(_mm256_castsi256_si128(s.byte));
        for (size_t r = 0; r < t->block_rows; r++) {
            const float *row = xt + r * t->ld;
            uint8_t *crow = ct + r * t->code_ld;
            size_t c = 0;
            for (; c + W <= bc; c += W) quant_chunk(&v, t->packed, row, crow, c, W, s.inv);
            if (c < bc) quant_chunk(&v, t->packed, row, crow, c, bc - c, s.inv);
        }
    }
}

/* dequant(quant(x)) of one row of a valid tile, m lanes at a time. */
static inline void fake_chunk(const vfmt *v, const float *x, float *y, size_t m,
                              __m256 inv, __m256 scale) {
    __m256 q = _mm256_mul_ps(load_f32(x, m), inv);
    __m256 value = round_finite(v, _mm256_castps_si256(q));
    store_f32(y, _mm256_mul_ps(value, scale), m); /* exact */
}

/* 8 one-row tiles x[8 * bc] -> y[8 * bc] (y may be x). */
static void fake_quant_group(const vfmt *v, const vrule *rule, const dsv4_tile_run *t,
                             const float *x, float *y) {
    size_t bc = t->block_cols;
    __m256i amax = group_amax(x, bc);
    int bad = invalid_lanes(amax);
    vscale s = tile_scale(rule, amax);
    for (int j = 0; j < W; j++) {
        __m256 inv = lane(s.inv, j), scale = lane(s.scale, j);
        for (size_t c = 0; c < bc; c += W)
            fake_chunk(v, x + (size_t)j * bc + c, y + (size_t)j * bc + c, W, inv, scale);
    }
    for (int j = 0; j < W; j++) /* rare: redo invalid tiles */
        if (bad >> j & 1) dsv4_opt_invalid_values(t, y + (size_t)j * bc);
}

static void fake_quant_tiles(const dsv4_tile_run *t, const float *x, float *y,
                             size_t n_tiles) {
    vfmt v = vfmt_of(t->e);
    vrule rule = vrule_of(t);
    size_t bc = t->block_cols;
    size_t i = 0;
    if (t->block_rows == 1 && bc % W == 0)
        for (; i + W <= n_tiles; i += W) fake_quant_group(&v, &rule, t, x + i * bc, y + i * bc);
    for (; i < n_tiles; i++) {
        const float *xt = x + i * bc;
        float *yt = y + i * bc;
        __m256i amax = tile_amax(t, xt);
        if (invalid_lanes(amax)) {
            dsv4_opt_invalid_values(t, yt);
            continue;
        }
        vscale s = tile_scale(&rule, amax);
        for (size_t r = 0; r < t->block_rows; r++) {
            const float *row = xt + r * t->ld;
            float *yrow = yt + r * t->ld;
            size_t c = 0;
            for (; c + W <= bc; c += W) fake_chunk(&v, row + c, yrow + c, W, s.inv, s.scale);
            if (c < bc) fake_chunk(&v, row + c, yrow + c, bc - c, s.inv, s.scale);
        }
    }
}

static inline void dequant_chunk(const vfmt *v, int packed, const uint8_t *crow, float *y,
                                 size_t c, size_t m, __m256 scale) {
    __m256i code = packed ? load_packed(crow + c / 2, m) : load_codes(crow + c, m);
    store_f32(y + c, _mm256_mul_ps(decode_fp(v, code), scale), m);
}

static void dequant_tiles(const dsv4_tile_run *t, const uint8_t *codes,
                          const uint8_t *scales, float *y, size_t n_tiles) {
    vfmt v = vfmt_of(t->e);
    size_t bc = t->block_cols, code_step = t->packed ? bc / 2 : bc;
    for (size_t i = 0; i < n_tiles; i++) {
        __m256 vs = _mm256_castsi256_ps(u32x(dsv4_opt_ue8m0_bits(scales[i])));
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

const dsv4_fmt_kernels dsv4_fmt_kernels_avx2 = {
    .encode = {enc_bf16, enc_e4m3, enc_e5m2, enc_e2m1, enc_ue8m0},
    .decode = {dec_bf16, dec_e4m3, dec_e5m2, dec_e2m1, dec_ue8m0},
    .quant = quant_tiles,
    .dequant = dequant_tiles,
    .fake_quant = fake_quant_tiles,
};
#endif
