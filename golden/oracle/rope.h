/* rope.h - the RoPE operator of the oracle ("rope"; spec/rope.md), private.
 *
 * rope.c        the exact stages: each fp32 operation of the table emulated
 *               by an exact MPFR operation and one rounding, the cosine and
 *               sine of each angle correctly rounded, the rotation exact
 *               from the stored table, and the file of a case
 * rope_cases.c  the shipped cases, `oracle gen`, the self test (the
 *               worked values of spec/rope.md §6), the og_op
 *
 * fp32 data are uint32_t bit patterns; positions are int32_t. */
#ifndef DSV4_ORACLE_ROPE_H
#define DSV4_ORACLE_ROPE_H

#include "golden_io.h"
#include "numfmt.h"

/* A RoPE configuration: the registry's keys (the doubles exactly as given). */
typedef struct or_cfg {
    size_t rope_dim;
    double base, factor;
    uint64_t original_seq_len; /* 0: no YaRN */
    double beta_fast, beta_slow;
    int inverse;
} or_cfg;

/* The YaRN range (Y1, Y2): low and high.  -1 and err when a correction
 * dimension lies within max(1e-9, 2^-40 |corr|) of an integer (ref's
 * double evaluation could take the other floor or ceiling there, so no
 * golden case may). */
int or_yarn_range(const or_cfg *c, long *low, long *high, char *err, size_t errlen);
/* inv_freq [rope_dim/2] (R1-R3, Y1-Y6).  -1 and err when a case lacks the
 * margins spec/rope.md §5 asks of golden data: B^e within 2^-40 (relative)
 * of a midpoint between two fp32 values, or a correction dimension too
 * close to an integer. */
int or_inv_freq(const or_cfg *c, uint32_t *inv_freq, char *err, size_t errlen);
/* cos_t, sin_t [T, rope_dim/2] of positions pos [T] (R4, R5). */
void or_table(const or_cfg *c, const uint32_t *inv_freq, size_t T, const int32_t *pos,
              uint32_t *cos_t, uint32_t *sin_t);
/* The rotation of x [T, rows, width] by the stored table (A1, A2): y (bf16
 * values), y_f32 (the exact value rounded to fp32) and y_tol (the bound of
 * spec/rope.md §5), all [T, rows, width]. */
void or_rotate(const or_cfg *c, size_t T, size_t rows, size_t width, const uint32_t *cos_t,
               const uint32_t *sin_t, const uint32_t *x, uint32_t *y, uint32_t *y_f32,
               uint32_t *y_tol);

/* A whole case: both stages, their tolerances, the file.  0, or -1 and err. */
typedef struct or_case {
    or_cfg c;
    size_t T, rows, width;
    int32_t *pos; /* [T] */
    uint32_t *x;  /* [T, rows, width] */
} or_case;

int or_build(og_file *f, const char *case_name, uint64_t seed, const char *desc,
             const or_case *in, char *err, size_t errlen);
/* The config as the registry's JSON text. */
void or_config_text(const or_cfg *c, char *buf, size_t len);

extern const og_op og_op_rope;

#endif
