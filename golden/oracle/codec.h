/* codec.h - the codec family of the oracle ("cast" and "quant"), private.
 *
 * codec_stages.c   the stages, computed exactly (this header)
 * codec_inputs.c   the input generators (codec_inputs.h), which use the stages
 * codec.c          the shipped and random cases, which use both
 * codec_selftest.c checks of the stages against worked vectors
 *
 * All fp32 data is passed as uint32_t bit patterns: the oracle never does
 * float arithmetic. */
#ifndef DSV4_ORACLE_CODEC_H
#define DSV4_ORACLE_CODEC_H

#include "golden_io.h"
#include "numfmt.h"

/* cast formats: the four table formats of numfmt.h, then UE8M0 */
#define OC_UE8M0 ((int)ON_COUNT)
#define OC_CAST_FMTS (OC_UE8M0 + 1)
const char *oc_cast_fmt_name(int fmt);

enum { OC_RCEIL = 0, OC_FLOOR = 1 };

typedef struct oc_qcfg {
    on_id fmt;     /* ON_E2M1, ON_E4M3 or ON_E5M2 */
    size_t br, bc; /* tile: block_rows x block_cols */
    int rule;      /* OC_RCEIL or OC_FLOOR */
} oc_qcfg;

/* ---- stages (codec_stages.c) ---------------------------------------------------- */
/* encode: x[n] -> codes[n]; decode: codes[n] -> y[n] */
void oc_cast_encode(int fmt, const uint32_t *x, uint32_t *codes, size_t n);
void oc_cast_decode(int fmt, const uint32_t *codes, uint32_t *y, size_t n);
/* amax floor of the format (6*2^-126 for e2m1, fp32(1e-4) for fp8). */
void oc_quant_floor(on_id fmt, mpfr_t out);
/* Scale exponent k for a floored amax (before the [-127, 127] clamp). */
long oc_quant_k(const oc_qcfg *c, const mpfr_t amax);
/* Bytes of stored codes: rows*cols/2 for e2m1 (packed), rows*cols otherwise. */
size_t oc_code_bytes(const oc_qcfg *c, size_t rows, size_t cols);
/* quant: x[rows, cols] -> stored codes [oc_code_bytes], scales [rows/br, cols/bc];
 * 0, or -1 when out of memory. */
int oc_quant(const oc_qcfg *c, const uint32_t *x, size_t rows, size_t cols, uint8_t *stored,
              uint8_t *scales);
/* dequant: stored codes, scales -> y[rows, cols] */
void oc_dequant(const oc_qcfg *c, const uint8_t *stored, const uint8_t *scales, size_t rows,
                size_t cols, uint32_t *y);

/* ---- self test (codec_selftest.c) ------------------------------------------ */
int oc_cast_selftest(void);
int oc_quant_selftest(void);

#endif
