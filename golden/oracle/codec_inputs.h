/* codec_inputs.h - the input generators of the codec cases (codec_inputs.c):
 * special values, random draws and the quantizers' adversarial corners. */
#ifndef DSV4_ORACLE_CODEC_INPUTS_H
#define DSV4_ORACLE_CODEC_INPUTS_H

#include "codec.h"

/* fp32 bits of d * 2^k, d a C double holding a short dyadic number. */
uint32_t oc_f32_scaled(double d, long k);
void oc_cast_special_inputs(int fmt, uint64_t seed, og_vec *x);
void oc_cast_random_inputs(int fmt, uint64_t seed, size_t n, og_vec *x);
/* x[rows, cols] of bf16-valued fp32, tile by tile across magnitudes */
void oc_quant_random_inputs(const oc_qcfg *c, size_t rows, size_t cols, uint64_t seed,
                            uint32_t *x);
/* Rows of width c->bc (c->br must be 1), one corner per row; returns rows. */
size_t oc_quant_adversarial_inputs(const oc_qcfg *c, og_vec *x);

#endif
