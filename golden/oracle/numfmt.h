/* numfmt.h - the oracle's number formats, defined by their value sets.
 *
 * Each narrow format (bf16, e4m3, e5m2, e2m1) is described only by its field
 * widths, bias and special-value rules.  From that description the oracle
 * enumerates every code, classifies it (finite / Inf / NaN) and keeps the
 * exact values of the non-negative finite codes in an ascending table.
 * Encoding an exact value = locating it between two neighbouring table
 * entries and taking the nearest, ties to the code whose lowest bit is 0,
 * then applying the format's overflow, Inf, NaN and zero-sign policy
 * (spec/formats.md, "Policy").  Nothing here shares code with ref/ or opt/. */
#ifndef DSV4_ORACLE_NUMFMT_H
#define DSV4_ORACLE_NUMFMT_H

#include "exact.h"

typedef enum on_id { ON_BF16 = 0, ON_E4M3, ON_E5M2, ON_E2M1, ON_COUNT } on_id;

typedef enum on_nan_rule {
    ON_NAN_NONE,    /* no NaN codes (e2m1) */
    ON_NAN_IEEE,    /* exponent all ones, mantissa != 0 (bf16, e5m2) */
    ON_NAN_ALLONES  /* exponent and mantissa all ones (e4m3fn) */
} on_nan_rule;

typedef enum on_class { ON_FINITE, ON_INF, ON_NAN } on_class;

typedef struct on_format {
    /* definition */
    const char *name;
    int code_bits, exp_bits, man_bits, bias;
    int has_inf;          /* exponent all ones with mantissa 0 is Inf */
    on_nan_rule nan_rule;
    int saturate;         /* overflow and +-Inf give +-max finite, not Inf */
    uint32_t nan_code;    /* the one code every NaN input encodes to */
    int nan_widen;        /* decode keeps a NaN code's bits (bf16: b << 16);
                             otherwise NaN codes decode to OX_F32_QNAN */
    /* built from the definition by on_init() */
    size_t n;             /* non-negative finite values, 0 included */
    mpfr_t *val;          /* [n] ascending exact values */
    uint32_t *code;       /* [n] their (sign bit clear) codes */
    mpfr_t beyond;        /* value of the code after the largest finite one if
                             the exponent range were unbounded (the overflow
                             neighbour: the midpoint to it is the threshold) */
    uint32_t beyond_code; /* that code, whose lowest bit decides the overflow tie */
} on_format;

/* Build all tables; 0 on success, -1 on allocation failure.  on_fini frees. */
int on_init(void);
void on_fini(void);
const on_format *on_get(on_id id);
/* Format id from "bf16", "e4m3", "e5m2", "e2m1"; -1 when unknown. */
int on_parse(const char *name);

/* Class and exact value (sign included) of a code; value set only for FINITE. */
on_class on_code_value(const on_format *f, uint32_t code, mpfr_t value);
/* Nearest code to x (ties to even code) with the format's policy. */
uint32_t on_encode(const on_format *f, const mpfr_t x);
/* The code's value rounded to fp32 (exact for these formats); NaN codes give
 * OX_F32_QNAN (bf16: the code's bits widened); e2m1 looks at the low nibble. */
uint32_t on_decode_f32(const on_format *f, uint32_t code);
/* Largest finite positive value of the format. */
const mpfr_t *on_max(const on_format *f);

/* UE8M0: value 2^(b-127), 0xFF = NaN, 0x00 = 2^-127. */
uint8_t on_ue8m0_encode(const mpfr_t x);   /* smallest 2^k >= x, clamped, policy */
uint32_t on_ue8m0_decode_f32(uint8_t b);  /* fp32 bits */

#endif
