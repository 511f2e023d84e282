/* formats.c - BF16, FP8 E4M3 / E5M2, FP4 E2M1 and UE8M0: the reference
 * encoders and decoders of spec/formats.md.
 *
 * Every element format here is a "minifloat": a sign bit, E exponent bits, M
 * mantissa bits and a bias B.  A code with exponent field e and mantissa
 * field m has the value
 *     e = 0:  (-1)^s * m           * 2^(1 - B - M)        (subnormal)   (F1)
 *     e > 0:  (-1)^s * (2^M + m)   * 2^(e - B - M)        (normal)      (F2)
 * Encoding rounds |x| to that grid with round-to-nearest, ties-to-even (F3),
 * then applies the format's overflow rule and NaN/Inf policy (ref/policy.h).
 * All arithmetic is on integers, so the result depends only on the input
 * bits. */
#include "internal.h"
#include "policy.h"

#include <string.h>

/* The element formats, in one table (spec/formats.md, Table 1). */
typedef struct minifloat {
    int mbits;         /* M: mantissa bits */
    int bias;          /* B */
    uint32_t max_code; /* largest finite magnitude code (sign bit clear) */
    int sign_shift;    /* position of the sign bit in a code */
} minifloat;

static const minifloat FMT_BF16 = {7, 127, 0x7F7F, 15};
static const minifloat FMT_E4M3 = {3, 7, 0x7E, 7};
static const minifloat FMT_E5M2 = {2, 15, 0x7B, 7};
static const minifloat FMT_E2M1 = {1, 1, 0x7, 3};

/* fp32 fields */
static int f32_is_nan(uint32_t u) { return (u & 0x7FFFFFFFu) > 0x7F800000u; }
static int f32_is_inf(uint32_t u) { return (u & 0x7FFFFFFFu) == 0x7F800000u; }

/* (F3) Round a finite |x| (given as fp32 bits with the sign clear) to the
 * nearest point of the grid of format f, ties to even, and return its
 * magnitude code (exponent field << M | mantissa field).  No saturation: the
 * result may exceed f->max_code, and the caller decides what overflow means.
 *
 * Write |x| = sig * 2^(e - 23) with sig < 2^24 (e = -126 for fp32 subnormals).
 * The grid spacing near |x| is 2^(max(e, 1 - B) - M); dividing by it is a
 * right shift of sig by `shift` bits, and the bits shifted out decide the
 * rounding. */
static uint32_t round_magnitude(uint32_t abs_bits, const minifloat *f) {
    int field = (int)(abs_bits >> 23);
    uint32_t sig = abs_bits & 0x7FFFFFu;
    int e = field - 127;
    if (field == 0) e = -126;          /* fp32 subnormal: no implicit bit */
    else sig |= 0x800000u;             /* implicit leading 1 */

    int emin = 1 - f->bias;            /* exponent of the format's min normal */
    int grid_e = (e > emin ? e : emin) - f->mbits;
    int shift = grid_e - (e - 23);     /* >= 23 - M > 0 */
    if (shift >= 25) return 0;         /* |x| < half the smallest step: rounds to 0 */

    uint32_t n = sig >> shift;                   /* whole grid steps */
    uint32_t rest = sig & ((1u << shift) - 1u);  /* the part below one step */
    uint32_t half = 1u << (shift - 1);
    if (rest > half || (rest == half && (n & 1u))) n++;

    /* n counts steps of 2^grid_e.  In the normal range n is in [2^M, 2^(M+1)]
     * and the code is ((exponent field - 1) << M) + n; a carry to 2^(M+1)
     * moves into the next binade by itself.  In the subnormal range the
     * exponent field term is 0 and n in [0, 2^M] is the code (2^M being the
     * smallest normal). */
    int exp_field = (e > emin ? e : emin) + f->bias;
    return ((uint32_t)(exp_field - 1) << f->mbits) + n;
}

/* Encode with saturation to the largest finite value (FP8, FP4). */
static uint32_t encode_saturating(float x, const minifloat *f, uint32_t nan_code) {
    uint32_t u = dsv4_f32_bits(x);
    uint32_t sign_bit = (u >> 31) << f->sign_shift;
    if (f32_is_nan(u)) return nan_code;
    uint32_t mag = f32_is_inf(u) ? f->max_code : round_magnitude(u & 0x7FFFFFFFu, f);
    if (mag > f->max_code) mag = f->max_code;
    return sign_bit | mag;
}

/* (F1, F2) Exact value of a magnitude code of format f. */
static float decode_magnitude(uint32_t mag, const minifloat *f) {
    uint32_t exp_field = mag >> f->mbits;
    uint32_t mant = mag & ((1u << f->mbits) - 1u);
    if (exp_field == 0) return (float)mant * dsv4_pow2f(1 - f->bias - f->mbits);
    return (float)((1u << f->mbits) + mant) * dsv4_pow2f((int)exp_field - f->bias - f->mbits);
}

/* ---- BF16 ---------------------------------------------------------------- */
uint16_t dsv4_bf16_encode(float x) {
    uint32_t u = dsv4_f32_bits(x);
    if (f32_is_nan(u)) return (uint16_t)DSV4_POLICY_BF16_NAN;
    uint16_t sign = (uint16_t)((u >> 31) << FMT_BF16.sign_shift);
    if (f32_is_inf(u)) return (uint16_t)(sign | 0x7F80u);
    /* IEEE: a finite value past the largest bf16 rounds to Inf (code 0x7F80),
     * which is where the carry of round_magnitude lands. */
    return (uint16_t)(sign | round_magnitude(u & 0x7FFFFFFFu, &FMT_BF16));
}

float dsv4_bf16_decode(uint16_t b) { return dsv4_f32_from_bits((uint32_t)b << 16); }

/* ---- FP8 E4M3FN ------------------------------------------------------------ */
uint8_t dsv4_e4m3_encode(float x) {
    return (uint8_t)encode_saturating(x, &FMT_E4M3, DSV4_POLICY_E4M3_NAN);
}

float dsv4_e4m3_decode(uint8_t b) {
    uint32_t mag = b & 0x7Fu;
    if (mag == 0x7Fu) return dsv4_f32_from_bits(DSV4_POLICY_F32_NAN); /* S.1111.111 */
    float v = decode_magnitude(mag, &FMT_E4M3);
    return (b & 0x80u) ? -v : v;
}

/* ---- FP8 E5M2 -------------------------------------------------------------- */
uint8_t dsv4_e5m2_encode(float x) {
    return (uint8_t)encode_saturating(x, &FMT_E5M2, DSV4_POLICY_E5M2_NAN);
}

float dsv4_e5m2_decode(uint8_t b) {
    uint32_t mag = b & 0x7Fu;
    uint32_t sign = (uint32_t)(b & 0x80u) << 24;
    if (mag > 0x7Cu) return dsv4_f32_from_bits(DSV4_POLICY_F32_NAN);
    if (mag == 0x7Cu) return dsv4_f32_from_bits(sign | 0x7F800000u);
    float v = decode_magnitude(mag, &FMT_E5M2);
    return sign ? -v : v;
}

/* ---- FP4 E2M1 -------------------------------------------------------------- */
uint8_t dsv4_e2m1_encode(float x) {
    return (uint8_t)encode_saturating(x, &FMT_E2M1, DSV4_POLICY_E2M1_NAN);
}

float dsv4_e2m1_decode(uint8_t code) {
    float v = decode_magnitude(code & 0x7u, &FMT_E2M1);
    return (code & 0x8u) ? -v : v;
}

/* ---- UE8M0 ----------------------------------------------------------------- */
/* ceil(log2 x) of a positive finite x, exactly, from its bits (U1). */
static int log2_ceil_exact(uint32_t u) {
    int field = (int)(u >> 23);
    uint32_t frac = u & 0x7FFFFFu;
    if (field != 0) return field - 127 + (frac != 0);
    /* subnormal: x = frac * 2^-149 with frac >= 1; ceil(log2 frac) is the
     * bit length of frac - 1 */
    int bits = 0;
    for (uint32_t v = frac - 1; v != 0; v >>= 1) bits++;
    return -149 + bits;
}

uint8_t dsv4_ue8m0_encode(float x) {
    uint32_t u = dsv4_f32_bits(x);
    if (f32_is_nan(u)) return (uint8_t)DSV4_POLICY_UE8M0_NAN;
    if ((u & 0x7FFFFFFFu) == 0) return 0x00;                        /* +-0: the smallest scale */
    if (u >> 31) return (uint8_t)DSV4_POLICY_UE8M0_NAN;             /* negative: no such scale */
    if (f32_is_inf(u)) return 0xFE;                                 /* saturate */
    int k = log2_ceil_exact(u);                                     /* (U2) 2^k >= x */
    if (k < -127) k = -127;
    if (k > 127) k = 127;
    return (uint8_t)(k + 127);
}

float dsv4_ue8m0_decode(uint8_t b) {
    if (b == 0xFF) return dsv4_f32_from_bits(DSV4_POLICY_F32_NAN);
    if (b == 0x00) return dsv4_pow2f(-127); /* fp32 subnormal 0x00400000 */
    return dsv4_f32_from_bits((uint32_t)b << 23);
}

/* ---- names ------------------------------------------------------------------ */
static const char *const fmt_names[DSV4_FMT_COUNT] = {"bf16", "e4m3", "e5m2", "e2m1", "ue8m0"};

const char *dsv4_fmt_name(dsv4_fmt f) {
    return ((unsigned)f < DSV4_FMT_COUNT) ? fmt_names[f] : "?";
}

dsv4_status dsv4_fmt_parse(const char *name, dsv4_fmt *out) {
    if (!name || !out) return DSV4_E_NULL;
    for (int i = 0; i < DSV4_FMT_COUNT; i++)
        if (strcmp(name, fmt_names[i]) == 0) {
            *out = (dsv4_fmt)i;
            return DSV4_OK;
        }
    return DSV4_E_ARG;
}

/* ---- arrays ------------------------------------------------------------------ */
dsv4_status dsv4_ref_encode(dsv4_fmt f, size_t n, const float *x, void *codes) {
    if ((unsigned)f >= DSV4_FMT_COUNT) return DSV4_E_ARG;
    if (n == 0) return DSV4_OK;
    if (!x || !codes) return DSV4_E_NULL;
    uint16_t *c16 = codes; /* [n] for BF16 */
    uint8_t *c8 = codes;   /* [n] otherwise */
    for (size_t i = 0; i < n; i++) {
        switch (f) {
        case DSV4_FMT_BF16: c16[i] = dsv4_bf16_encode(x[i]); break;
        case DSV4_FMT_E4M3: c8[i] = dsv4_e4m3_encode(x[i]); break;
        case DSV4_FMT_E5M2: c8[i] = dsv4_e5m2_encode(x[i]); break;
        case DSV4_FMT_E2M1: c8[i] = dsv4_e2m1_encode(x[i]); break;
        default: c8[i] = dsv4_ue8m0_encode(x[i]); break;
        }
    }
    return DSV4_OK;
}

dsv4_status dsv4_ref_decode(dsv4_fmt f, size_t n, const void *codes, float *y) {
    if ((unsigned)f >= DSV4_FMT_COUNT) return DSV4_E_ARG;
    if (n == 0) return DSV4_OK;
    if (!codes || !y) return DSV4_E_NULL;
    const uint16_t *c16 = codes; /* [n] for BF16 */
    const uint8_t *c8 = codes;   /* [n] otherwise */
    for (size_t i = 0; i < n; i++) {
        switch (f) {
        case DSV4_FMT_BF16: y[i] = dsv4_bf16_decode(c16[i]); break;
        case DSV4_FMT_E4M3: y[i] = dsv4_e4m3_decode(c8[i]); break;
        case DSV4_FMT_E5M2: y[i] = dsv4_e5m2_decode(c8[i]); break;
        case DSV4_FMT_E2M1: y[i] = dsv4_e2m1_decode(c8[i]); break;
        default: y[i] = dsv4_ue8m0_decode(c8[i]); break;
        }
    }
    return DSV4_OK;
}

/* ---- FP4 nibble packing (P-layout: element 2i low, 2i+1 high) ---------------- */
dsv4_status dsv4_fp4_pack(size_t n, const uint8_t *codes, uint8_t *packed) {
    if (n % 2 != 0) return DSV4_E_ALIGN;
    if (n == 0) return DSV4_OK;
    if (!codes || !packed) return DSV4_E_NULL;
    for (size_t i = 0; i < n / 2; i++)
        packed[i] = (uint8_t)((codes[2 * i] & 0x0Fu) | ((codes[2 * i + 1] & 0x0Fu) << 4));
    return DSV4_OK;
}

dsv4_status dsv4_fp4_unpack(size_t n, const uint8_t *packed, uint8_t *codes) {
    if (n % 2 != 0) return DSV4_E_ALIGN;
    if (n == 0) return DSV4_OK;
    if (!codes || !packed) return DSV4_E_NULL;
    for (size_t i = 0; i < n / 2; i++) {
        codes[2 * i] = packed[i] & 0x0Fu;
        codes[2 * i + 1] = (uint8_t)(packed[i] >> 4);
    }
    return DSV4_OK;
}
