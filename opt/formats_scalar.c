/* formats_scalar.c - portable kernels of the number formats and block
 * quantizers (the only path on non-x86 machines, and the plain-C statement
 * of what the SIMD files do lane by lane).
 *
 * No branches on data in the element loops: each element goes through the
 * same few integer and fp32 operations (formats_kernels.h gives the method),
 * then selects pick the special cases.  Results are bit-identical to ref/
 * (tests/test_opt_formats.c, tests/test_opt_quant.c). */
#include "formats_kernels.h"
#include "policy.h"

#include <string.h>

/* mbits, emin_field, max_bits, max_frac, emax, nan_code, sign_shift,
 * floor_bits, mag_mask, inf_mag, nan_mag */
const dsv4_elem dsv4_opt_elem[DSV4_FMT_COUNT] = {
    [DSV4_FMT_E4M3] = {3, 121, 0x43E00000u, 0x600000u, 8, DSV4_POLICY_E4M3_NAN, 7,
                       DSV4_POLICY_AMAX_FLOOR_FP8_BITS, 0x7Fu, 0x100u, 0x7Fu},
    [DSV4_FMT_E5M2] = {2, 113, 0x47600000u, 0x600000u, 15, DSV4_POLICY_E5M2_NAN, 7,
                       DSV4_POLICY_AMAX_FLOOR_FP8_BITS, 0x7Fu, 0x7Cu, 0x7Du},
    [DSV4_FMT_E2M1] = {1, 127, 0x40C00000u, 0x400000u, 2, DSV4_POLICY_E2M1_NAN, 3,
                       DSV4_POLICY_AMAX_FLOOR_FP4_BITS, 0x7u, 0x100u, 0x100u},
};

static float f32(uint32_t u) { return dsv4_f32_from_bits(u); }
static uint32_t bits(float x) { return dsv4_f32_bits(x); }
static uint32_t min_u32(uint32_t a, uint32_t b) { return a < b ? a : b; }
static uint32_t max_u32(uint32_t a, uint32_t b) { return a > b ? a : b; }

/* ---- element encoders ------------------------------------------------------ */

/* Saturating FP8/FP4 magnitude rounding of the sign-cleared bits `abs`
 * (not NaN): returns the magnitude code, and the rounded value's bits in
 * *value.  See formats_kernels.h for why one addition is the RNE. */
static uint32_t round_to_grid(const dsv4_elem *e, uint32_t abs, uint32_t *value) {
    uint32_t mb = (uint32_t)e->mbits;
    uint32_t a = min_u32(abs, e->max_bits);                          /* saturate (Inf too) */
    uint32_t binade = max_u32(a & 0x7F800000u, e->emin_field << 23); /* subnormals share emin */
    uint32_t magic = binade + ((23u - mb) << 23);                    /* its ulp = the grid step */
    float sum = f32(a) + f32(magic);                                 /* the one rounding */
    *value = bits(sum - f32(magic));                                 /* exact */
    uint32_t magic_min = (e->emin_field + 23u - mb) << 23;
    return ((magic - magic_min) >> (23u - mb)) + (bits(sum) - magic);
}

static uint32_t fp_encode(const dsv4_elem *e, uint32_t u) {
    uint32_t abs = u & 0x7FFFFFFFu, value;
    uint32_t code = round_to_grid(e, abs, &value) | ((u >> 31) << e->sign_shift);
    return abs > 0x7F800000u ? e->nan_code : code;
}

static uint16_t bf16_encode(uint32_t u) {
    uint32_t rounded = (u + 0x7FFFu + ((u >> 16) & 1u)) >> 16; /* RNE; overflow carries to Inf */
    return (uint16_t)((u & 0x7FFFFFFFu) > 0x7F800000u ? DSV4_POLICY_BF16_NAN : rounded);
}

static uint8_t ue8m0_encode(uint32_t u) {
    uint32_t abs = u & 0x7FFFFFFFu;
    /* ceil(log2 x) + 127 for x above 2^-127: (bits - 1) >> 23 is the exponent
     * field, one more unless the fraction is 0; subnormals above 2^-127 give 1. */
    uint32_t b = min_u32(((abs - 1u) >> 23) + 1u, 0xFEu);
    if (abs <= 0x00400000u) b = 0x00;                     /* <= 2^-127, +-0 */
    if ((u >> 31) && abs != 0) b = DSV4_POLICY_UE8M0_NAN; /* negative */
    if (abs > 0x7F800000u) b = DSV4_POLICY_UE8M0_NAN;
    return (uint8_t)b;
}

/* ---- element decoders ------------------------------------------------------ */
static uint32_t fp_decode(const dsv4_elem *e, uint32_t c) {
    uint32_t mag = c & e->mag_mask;
    uint32_t sign = (c >> e->sign_shift & 1u) << 31;
    uint32_t normal = (mag << (23 - e->mbits)) + ((e->emin_field - 1u) << 23);
    float step = f32((e->emin_field - (uint32_t)e->mbits) << 23); /* subnormal step */
    uint32_t sub = bits((float)mag * step);                      /* exact, < 2^M steps */
    uint32_t v = (mag < (1u << e->mbits) ? sub : normal) | sign;
    if (mag == e->inf_mag) v = sign | 0x7F800000u;
    if (mag >= e->nan_mag) v = DSV4_POLICY_F32_NAN;
    return v;
}

/* ---- array kernels ----------------------------------------------------------- */
static void encode_fp(const dsv4_elem *e, const float *x, uint8_t *codes, size_t n) {
    for (size_t i = 0; i < n; i++) codes[i] = (uint8_t)fp_encode(e, bits(x[i]));
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
    for (size_t i = 0; i < n; i++) c[i] = bf16_encode(bits(x[i]));
}
static void enc_ue8m0(const float *x, void *codes, size_t n) {
    uint8_t *c = codes; /* [n] */
    for (size_t i = 0; i < n; i++) c[i] = ue8m0_encode(bits(x[i]));
}

static void decode_fp(const dsv4_elem *e, const uint8_t *codes, float *y, size_t n) {
    for (size_t i = 0; i < n; i++) y[i] = f32(fp_decode(e, codes[i]));
}
static void dec_e4m3(const void *c, float *y, size_t n) {
    decode_fp(&dsv4_opt_elem[DSV4_FMT_E4M3], c, y, n);
}
static void dec_e5m2(const void *c, float *y, size_t n) {
    decode_fp(&dsv4_opt_elem[DSV4_FMT_E5M2], c, y, n);
}
static void dec_e2m1(const void *c, float *y, size_t n) {
    decode_fp(&dsv4_opt_elem[DSV4_FMT_E2M1], c, y, n);
}
static void dec_bf16(const void *codes, float *y, size_t n) {
    const uint16_t *c = codes; /* [n] */
    for (size_t i = 0; i < n; i++) y[i] = f32((uint32_t)c[i] << 16);
}
static void dec_ue8m0(const void *codes, float *y, size_t n) {
    const uint8_t *c = codes; /* [n] */
    for (size_t i = 0; i < n; i++) y[i] = f32(dsv4_opt_ue8m0_bits(c[i]));
}

/* ---- tile kernels ------------------------------------------------------------ */

/* Max of |x| bit patterns over one tile x[block_rows, block_cols] (stride ld). */
static uint32_t tile_amax_bits(const dsv4_tile_run *t, const float *x) {
    uint32_t m = 0;
    for (size_t r = 0; r < t->block_rows; r++)
        for (size_t c = 0; c < t->block_cols; c++)
            m = max_u32(m, bits(x[r * t->ld + c]) & 0x7FFFFFFFu);
    return m;
}

void dsv4_opt_invalid_codes(const dsv4_tile_run *t, uint8_t *codes) {
    size_t row_bytes = t->packed ? t->block_cols / 2 : t->block_cols;
    for (size_t r = 0; r < t->block_rows; r++)
        memset(codes + r * t->code_ld, DSV4_POLICY_INVALID_CODE, row_bytes);
}

void dsv4_opt_invalid_values(const dsv4_tile_run *t, float *y) {
    float nan = f32(DSV4_POLICY_F32_NAN); /* = decode(code 0) * NaN scale */
    for (size_t r = 0; r < t->block_rows; r++)
        for (size_t c = 0; c < t->block_cols; c++) y[r * t->ld + c] = nan;
}

/* One row of a valid tile: codes of x[n] * 2^-k. */
/* Signed code of one element of a valid tile (no NaN there): x * 2^-k is
 * exact scaling, as ref's x / 2^k. */
static uint32_t tile_code(const dsv4_elem *e, float x, float inv) {
    uint32_t q = bits(x * inv), value;
    return round_to_grid(e, q & 0x7FFFFFFFu, &value) | ((q >> 31) << e->sign_shift);
}

/* One row of a valid tile: codes of x[block_cols] (packed: block_cols / 2 bytes). */
static void encode_row(const dsv4_tile_run *t, const float *x, uint8_t *codes, float inv) {
    const dsv4_elem *e = t->e;
    if (t->packed)
        for (size_t c = 0; c < t->block_cols; c += 2)
            codes[c / 2] = (uint8_t)(tile_code(e, x[c], inv) | tile_code(e, x[c + 1], inv) << 4);
    else
        for (size_t c = 0; c < t->block_cols; c++) codes[c] = (uint8_t)tile_code(e, x[c], inv);
}

static void quant_tiles(const dsv4_tile_run *t, const float *x, uint8_t *codes,
                        uint8_t *scales, size_t n_tiles) {
    size_t code_step = t->packed ? t->block_cols / 2 : t->block_cols;
    for (size_t i = 0; i < n_tiles; i++) {
        const float *xt = x + i * t->block_cols;
        uint8_t *ct = codes + i * code_step;
        uint32_t inv, scale;
        scales[i] = dsv4_opt_tile_scale(t, tile_amax_bits(t, xt), &inv, &scale);
        if (scales[i] == 0xFF) {
            dsv4_opt_invalid_codes(t, ct);
            continue;
        }
        for (size_t r = 0; r < t->block_rows; r++)
            encode_row(t, xt + r * t->ld, ct + r * t->code_ld, f32(inv));
    }
}

static void fake_quant_tiles(const dsv4_tile_run *t, const float *x, float *y,
                             size_t n_tiles) {
    const dsv4_elem *e = t->e;
    for (size_t i = 0; i < n_tiles; i++) {
        const float *xt = x + i * t->block_cols;
        float *yt = y + i * t->block_cols;
        uint32_t inv, scale;
        if (dsv4_opt_tile_scale(t, tile_amax_bits(t, xt), &inv, &scale) == 0xFF) {
            dsv4_opt_invalid_values(t, yt);
            continue;
        }
        for (size_t r = 0; r < t->block_rows; r++)
            for (size_t c = 0; c < t->block_cols; c++) {
                size_t at = r * t->ld + c;
                uint32_t q = bits(xt[at] * f32(inv)), value;
                round_to_grid(e, q & 0x7FFFFFFFu, &value);
                /* decode(code) is the signed rounded value; times 2^k exactly */
                yt[at] = f32(value | (q & 0x80000000u)) * f32(scale);
            }
    }
}

static void dequant_tiles(const dsv4_tile_run *t, const uint8_t *codes,
                          const uint8_t *scales, float *y, size_t n_tiles) {
    const dsv4_elem *e = t->e;
    size_t code_step = t->packed ? t->block_cols / 2 : t->block_cols;
    for (size_t i = 0; i < n_tiles; i++) {
        float s = f32(dsv4_opt_ue8m0_bits(scales[i]));
        const uint8_t *ct = codes + i * code_step;
        float *yt = y + i * t->block_cols;
        for (size_t r = 0; r < t->block_rows; r++)
            for (size_t c = 0; c < t->block_cols; c++) {
                uint32_t byte = ct[r * t->code_ld + (t->packed ? c / 2 : c)];
                uint32_t code = t->packed && c % 2 ? byte >> 4 : byte;
                yt[r * t->ld + c] = f32(fp_decode(e, code)) * s;
            }
    }
}

const dsv4_fmt_kernels dsv4_fmt_kernels_scalar = {
    .encode = {enc_bf16, enc_e4m3, enc_e5m2, enc_e2m1, enc_ue8m0},
    .decode = {dec_bf16, dec_e4m3, dec_e5m2, dec_e2m1, dec_ue8m0},
    .quant = quant_tiles,
    .dequant = dequant_tiles,
    .fake_quant = fake_quant_tiles,
};
