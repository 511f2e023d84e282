/* formats_kernels.h - the kernel table of the number formats and block
 * quantizers in opt/ (one instance per ISA: formats_scalar.c, and
 * formats_simd.c compiled for AVX2 and AVX-512; opt/formats.c runs the
 * active ISA's).
 *
 * The arithmetic every ISA shares (spec/formats.md; formats_scalar.c writes
 * it out in plain C, formats_simd.c lane by lane):
 *
 *  - FP8/FP4 encode of a = min(|q|, M) is one fp32 addition.  Let B be the
 *    exponent bits of a, raised to those of the element format's min normal
 *    (B = max(a & 0x7F800000, emin_field << 23)), and magic the fp32 number
 *    with bits B + ((23 - mbits) << 23), i.e. 2^(23 - mbits) times a's
 *    binade.  The last bit of a + magic then sits exactly at the element
 *    format's grid step near a (a < 2 * binade keeps the sum in magic's
 *    binade), so the fp32 RNE of the sum is the RNE of a onto that grid, and
 *    a tie goes to an even last bit, which is an even code.  Then
 *        steps = bits(a + magic) - bits(magic)          (grid steps in the binade)
 *        code  = ((bits(magic) - magic_min) >> (23 - mbits)) + steps
 *    with magic_min the magic of the lowest binade (a carry to the next
 *    binade lands on the right code by itself), and (a + magic) - magic is
 *    the rounded value itself (exact).
 *  - The block scale exponent is integer work on the bits of
 *    amax' = max(amax, floor), a normal number with exponent field A and
 *    fraction F:  floor rule k = A - 127 - emax;  rceil rule the same plus 1
 *    when F > the fraction of M (the smallest k with M * 2^k >= amax').
 *  - q = x * 2^-k is one multiply by an exact power of two: the same
 *    correctly rounded fp32 as ref's x / 2^k (both round the same real
 *    number), subnormal quotients included; fake quant's value * 2^k is exact.
 *  - amax is an integer max over |x| bit patterns (the order of non-negative
 *    fp32 values is the order of their bits); a result >= 0x7F800000 means a
 *    NaN or Inf was in the tile (policy P6: invalid tile).
 */
#ifndef DSV4_FORMATS_KERNELS_H
#define DSV4_FORMATS_KERNELS_H

#include "opt.h"

#include <stddef.h>
#include <stdint.h>

/* Constants of one saturating element format (E2M1, E4M3, E5M2). */
typedef struct dsv4_elem {
    int mbits;            /* mantissa bits: 1, 3, 2 */
    uint32_t emin_field;  /* fp32 exponent field of the min normal: 127, 121, 113 */
    uint32_t max_bits;    /* fp32 bits of the largest finite value M: 6, 448, 57344 */
    uint32_t max_frac;    /* the 23-bit fraction field of M */
    int emax;             /* floor(log2 M): 2, 8, 15 */
    uint32_t nan_code;    /* code for a NaN input (policy P1) */
    uint32_t sign_shift;  /* bit position of the code's sign: 3, 7, 7 */
    uint32_t floor_bits;  /* amax floor of the block quantizer (policy P7) */
    /* decoding: a magnitude code is (code & mag_mask); inf_mag and the codes
     * from nan_mag up are the specials (0x100 = the format has none) */
    uint32_t mag_mask;    /* 0x7, 0x7F, 0x7F */
    uint32_t inf_mag;     /* 0x100, 0x100, 0x7C */
    uint32_t nan_mag;     /* 0x100, 0x7F, 0x7D */
} dsv4_elem;

/* Indexed by dsv4_fmt; only the E4M3, E5M2 and E2M1 entries are meaningful. */
extern const dsv4_elem dsv4_opt_elem[DSV4_FMT_COUNT];

/* A run of consecutive tiles in one tile-row of x[rows, cols]. */
typedef struct dsv4_tile_run {
    const dsv4_elem *e;
    dsv4_scale_rule rule;
    int packed;           /* E2M1: two codes per byte */
    size_t block_rows;    /* tile height */
    size_t block_cols;    /* tile width (even when packed) */
    size_t ld;            /* row stride of x and y, in elements (= cols) */
    size_t code_ld;       /* row stride of codes, in bytes */
    int stream;           /* the call's output is large: kernels may write it
                           * with non-temporal stores (then an sfence) */
} dsv4_tile_run;

/* Array kernels: codes are uint16_t[n] for BF16, uint8_t[n] otherwise. */
typedef void (*dsv4_encode_fn)(const float *x, void *codes, size_t n);
typedef void (*dsv4_decode_fn)(const void *codes, float *y, size_t n);

/* Tile kernels over n_tiles tiles of run `t`, starting at the tile whose
 * top-left element is x[0] (codes[0], y[0]); scales[n_tiles].  For fake
 * quant y may equal x. */
typedef void (*dsv4_quant_fn)(const dsv4_tile_run *t, const float *x, uint8_t *codes,
                              uint8_t *scales, size_t n_tiles);
typedef void (*dsv4_dequant_fn)(const dsv4_tile_run *t, const uint8_t *codes,
                                const uint8_t *scales, float *y, size_t n_tiles);
typedef void (*dsv4_fake_quant_fn)(const dsv4_tile_run *t, const float *x, float *y,
                                   size_t n_tiles);

typedef struct dsv4_fmt_kernels {
    dsv4_encode_fn encode[DSV4_FMT_COUNT];
    dsv4_decode_fn decode[DSV4_FMT_COUNT];
    dsv4_quant_fn quant;
    dsv4_dequant_fn dequant;
    dsv4_fake_quant_fn fake_quant;
} dsv4_fmt_kernels;

extern const dsv4_fmt_kernels dsv4_fmt_kernels_scalar;
#if defined(__x86_64__)
extern const dsv4_fmt_kernels dsv4_fmt_kernels_avx2;
extern const dsv4_fmt_kernels dsv4_fmt_kernels_avx512;
#endif

/* ---- scalar building blocks, shared by the SIMD files for their tails ---- */

/* The tile's scale exponent k from the |x| bit max of a valid tile. */
static inline int dsv4_opt_scale_exponent(const dsv4_tile_run *t, uint32_t amax_bits) {
    uint32_t a = amax_bits > t->e->floor_bits ? amax_bits : t->e->floor_bits; /* amax' */
    int k = (int)(a >> 23) - 127 - t->e->emax;   /* floor(log2 amax') - emax */
    if (t->rule == DSV4_SCALE_RCEIL) k += (a & 0x7FFFFFu) > t->e->max_frac;
    if (k < -127) k = -127; /* never with the policy floors; kept as the spec says */
    if (k > 127) k = 127;
    return k;
}

/* fp32 bits of 2^k, k in [-149, 127] (subnormal below -126). */
static inline uint32_t dsv4_opt_pow2_bits(int k) {
    if (k >= -126) return (uint32_t)(k + 127) << 23;
    return 1u << (k + 149);
}

/* fp32 bits of the UE8M0 scale byte b (0x00 = 2^-127, 0xFF = NaN). */
static inline uint32_t dsv4_opt_ue8m0_bits(uint32_t b) {
    if (b == 0xFFu) return 0x7FC00000u; /* DSV4_POLICY_F32_NAN */
    if (b == 0x00u) return 0x00400000u;
    return b << 23;
}

/* Scale byte for a tile whose |x| bit max is amax_bits; fills *inv with the
 * bits of 2^-k and *scale with the bits of 2^k (unused when invalid). */
static inline uint8_t dsv4_opt_tile_scale(const dsv4_tile_run *t, uint32_t amax_bits,
                                          uint32_t *inv, uint32_t *scale) {
    if (amax_bits >= 0x7F800000u) return 0xFF; /* P6: NaN or Inf in the tile */
    int k = dsv4_opt_scale_exponent(t, amax_bits);
    *inv = dsv4_opt_pow2_bits(-k);
    *scale = dsv4_opt_pow2_bits(k);
    return (uint8_t)(k + 127);
}

/* Fill one invalid tile: codes 0 (quant) or NaN (fake quant). */
void dsv4_opt_invalid_codes(const dsv4_tile_run *t, uint8_t *codes);
void dsv4_opt_invalid_values(const dsv4_tile_run *t, float *y);

#endif
