/* policy.h - every implementation-defined choice of the number formats, in one
 * place (spec/formats.md, "Policy").  ref/ and opt/ read these constants; the
 * oracle restates them independently.  Changing one changes the conformance
 * target: regenerate golden/ and say why. */
#ifndef DSV4_POLICY_H
#define DSV4_POLICY_H

#include <stdint.h>

/* P1. NaN produced by encoders (bit patterns; the input's sign and payload are dropped). */
#define DSV4_POLICY_BF16_NAN 0x7FC0u  /* canonical quiet NaN, as PyTorch's scalar c10 path */
#define DSV4_POLICY_E4M3_NAN 0x7Fu    /* as CUDA __nv_cvt_float_to_fp8 (float entry) */
#define DSV4_POLICY_E5M2_NAN 0x7Fu
#define DSV4_POLICY_E2M1_NAN 0x7u     /* no NaN in E2M1: +6, as CUDA __nv_cvt_float_to_fp4 */
#define DSV4_POLICY_UE8M0_NAN 0xFFu

/* P2. NaN produced by decoders: one canonical positive quiet NaN. */
#define DSV4_POLICY_F32_NAN 0x7FC00000u

/* P3. Overflow: FP8 and FP4 encoders saturate to the largest finite code
 * (CUDA "satfinite", which DeepSeek's TileLang casts use), Inf included.
 * BF16 follows IEEE and overflows to Inf.  UE8M0 clamps exponents to
 * [-127, 127]: +Inf -> 0xFE, tiny or zero -> 0x00. */
#define DSV4_POLICY_SATURATE_FP8 1

/* P4. Negative inputs to UE8M0 (unsigned) encode to NaN. */

/* P5. Subnormals: strict IEEE everywhere (no flush-to-zero, no
 * denormals-are-zero), in inputs, quotients and outputs. */

/* P6. Block quantizers: a tile holding any NaN or Inf is invalid; its scale
 * byte is NaN (0xFF, the OCP "invalid block" marker) and all its codes are 0,
 * so dequantization gives NaN for the whole tile. */
#define DSV4_POLICY_INVALID_SCALE 0xFFu
#define DSV4_POLICY_INVALID_CODE 0x00u

/* P7. amax floors (DeepSeek-V4 kernel.py): keep a zero tile's scale finite. */
#define DSV4_POLICY_AMAX_FLOOR_FP4_BITS 0x01C00000u /* 6 * 2^-126 */
#define DSV4_POLICY_AMAX_FLOOR_FP8_BITS 0x38D1B717u /* fp32(1e-4) */

/* P8. E2M1 code 0x8 decodes to -0.0 (IEEE-style sign; DeepSeek's convert.py
 * table says +0.0; the numeric value is the same). */

#endif
