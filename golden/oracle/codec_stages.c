/* codec_stages.c - the oracle's exact stages of "cast" and "quant"
 * (spec/formats.md): encode and decode through numfmt.c's value sets, the
 * block quantizer's floored amax, its scale exponent (by exact comparisons,
 * never log2), the quotient x / 2^k and the dequantized product, each in
 * MPFR and rounded once. */
#include "codec.h"

#include <stdlib.h>
#include <string.h>
const char *oc_cast_fmt_name(int fmt) {
    return fmt == OC_UE8M0 ? "ue8m0" : on_get((on_id)fmt)->name;
}

/* Stage "encode": x[n] -> codes[n]. */
void oc_cast_encode(int fmt, const uint32_t *x, uint32_t *codes, size_t n) {
    mpfr_t v;
    mpfr_init(v);
    for (size_t i = 0; i < n; i++) {
        ox_set_f32_bits(v, x[i]);
        codes[i] = (fmt == OC_UE8M0) ? on_ue8m0_encode(v) : on_encode(on_get((on_id)fmt), v);
    }
    mpfr_clear(v);
}

/* Stage "decode": codes[n] -> y[n]. */
void oc_cast_decode(int fmt, const uint32_t *codes, uint32_t *y, size_t n) {
    for (size_t i = 0; i < n; i++)
        y[i] = (fmt == OC_UE8M0) ? on_ue8m0_decode_f32((uint8_t)codes[i])
                                 : on_decode_f32(on_get((on_id)fmt), codes[i]);
}

void oc_quant_floor(on_id fmt, mpfr_t out) {
    if (fmt == ON_E2M1) {
        mpfr_set_ui_2exp(out, 6, -126, MPFR_RNDN); /* 6 * 2^-126, an fp32 normal */
        return;
    }
    /* The fp32 nearest to decimal 1e-4, as the policy names it. */
    mpfr_set_str(out, "1e-4", 10, MPFR_RNDN);
    uint32_t bits = ox_round_f32(out);
    ox_set_f32_bits(out, bits);
}

long oc_quant_k(const oc_qcfg *c, const mpfr_t amax) {
    const mpfr_t *m = on_max(on_get(c->fmt)); /* M = 6, 448, 57344 */
    if (c->rule == OC_FLOOR) {
        /* floor(log2 a) - emax with emax = floor(log2 M); for a > 0 in
         * [2^(e-1), 2^e), floor(log2 a) is e - 1 exactly. */
        return (long)(mpfr_get_exp(amax) - 1) - (long)(mpfr_get_exp(*m) - 1);
    }
    /* rceil: the smallest integer k with M * 2^k >= amax, found by exact
     * comparisons starting from the exponent difference (off by at most 1). */
    long k = (long)(mpfr_get_exp(amax) - mpfr_get_exp(*m));
    mpfr_t t;
    mpfr_init(t);
    for (;;) {
        mpfr_mul_2si(t, *m, k, MPFR_RNDN); /* exact */
        if (mpfr_cmp(t, amax) >= 0) break;
        k++;
    }
    for (;;) {
        mpfr_mul_2si(t, *m, k - 1, MPFR_RNDN);
        if (mpfr_cmp(t, amax) < 0) break;
        k--;
    }
    mpfr_clear(t);
    return k;
}

size_t oc_code_bytes(const oc_qcfg *c, size_t rows, size_t cols) {
    return c->fmt == ON_E2M1 ? rows * cols / 2 : rows * cols;
}

/* One tile: codes (unpacked, [rows, cols] layout) and its scale byte. */
static uint8_t quant_tile(const oc_qcfg *c, const uint32_t *x, size_t cols, size_t r0,
                          size_t c0, uint8_t *codes) {
    const on_format *f = on_get(c->fmt);
    int invalid = 0;
    for (size_t r = r0; r < r0 + c->br; r++)
        for (size_t j = c0; j < c0 + c->bc; j++)
            invalid |= ox_f32_is_nan(x[r * cols + j]) || ox_f32_is_inf(x[r * cols + j]);
    if (invalid) {
        /* Policy: an invalid tile has scale 0xFF and all codes 0. */
        for (size_t r = r0; r < r0 + c->br; r++)
            for (size_t j = c0; j < c0 + c->bc; j++) codes[r * cols + j] = 0;
        return 0xFF;
    }
    mpfr_t amax, v;
    mpfr_inits(amax, v, (mpfr_ptr)0);
    oc_quant_floor(c->fmt, amax); /* start from the floor: amax' = max(amax, floor) */
    for (size_t r = r0; r < r0 + c->br; r++)
        for (size_t j = c0; j < c0 + c->bc; j++) {
            ox_set_f32_bits(v, x[r * cols + j]);
            if (mpfr_cmpabs(v, amax) > 0) mpfr_abs(amax, v, MPFR_RNDN);
        }
    long k = oc_quant_k(c, amax);
    if (k < -127) k = -127;
    if (k > 127) k = 127;
    for (size_t r = r0; r < r0 + c->br; r++)
        for (size_t j = c0; j < c0 + c->bc; j++) {
            ox_set_f32_bits(v, x[r * cols + j]);
            mpfr_mul_2si(v, v, -k, MPFR_RNDN); /* x / 2^k, exact */
            codes[r * cols + j] = (uint8_t)on_encode(f, v);
        }
    mpfr_clears(amax, v, (mpfr_ptr)0);
    return (uint8_t)(k + 127);
}

int oc_quant(const oc_qcfg *c, const uint32_t *x, size_t rows, size_t cols, uint8_t *stored,
             uint8_t *scales) {
    uint8_t *codes = malloc(rows * cols + 1); /* [rows, cols] unpacked */
    if (!codes) return -1;
    size_t tiles_c = cols / c->bc;
    for (size_t tr = 0; tr < rows / c->br; tr++)
        for (size_t tc = 0; tc < tiles_c; tc++)
            scales[tr * tiles_c + tc] = quant_tile(c, x, cols, tr * c->br, tc * c->bc, codes);
    if (c->fmt == ON_E2M1) {
        /* element 2i in the low nibble of byte i, 2i+1 in the high nibble */
        for (size_t i = 0; i < rows * cols / 2; i++)
            stored[i] = (uint8_t)(codes[2 * i] | (codes[2 * i + 1] << 4));
    } else {
        memcpy(stored, codes, rows * cols);
    }
    free(codes);
    return 0;
}

void oc_dequant(const oc_qcfg *c, const uint8_t *stored, const uint8_t *scales, size_t rows,
                size_t cols, uint32_t *y) {
    const on_format *f = on_get(c->fmt);
    size_t tiles_c = cols / c->bc;
    mpfr_t v;
    mpfr_init(v);
    for (size_t r = 0; r < rows; r++)
        for (size_t j = 0; j < cols; j++) {
            size_t e = r * cols + j;
            uint32_t code = (c->fmt == ON_E2M1) ? (uint32_t)(stored[e / 2] >> (4 * (e % 2))) & 0xFu
                                                : stored[e];
            uint8_t b = scales[(r / c->br) * tiles_c + j / c->bc];
            if (b == 0xFF || on_code_value(f, code, v) != ON_FINITE) {
                y[e] = OX_F32_QNAN;
                continue;
            }
            mpfr_mul_2si(v, v, (long)b - 127, MPFR_RNDN); /* exact product, rounded once below */
            y[e] = ox_round_f32(v);
        }
    mpfr_clear(v);
}
