/* sparse_attn_oracle.h - the sparse attention operator of the oracle
 * ("sparse_attn"; spec/sparse_attn.md): the exact stage and its
 * tolerances in sparse_attn.c, the cases, `oracle gen` and the self test
 * in sparse_attn_cases.c. */
#ifndef DSV4_ORACLE_SPARSE_ATTN_ORACLE_H
#define DSV4_ORACLE_SPARSE_ATTN_ORACLE_H

#include "exact.h"
#include "golden_io.h"

/* One case: inputs as fp32 bit patterns and int32 indices. */
typedef struct oa_case {
    size_t T, H, D, N, K;
    uint32_t scale;          /* fp32 bits */
    uint32_t *q, *kv, *sink; /* [T, H, D], [N, D], [H] */
    int32_t *idx;            /* [T, K] */
} oa_case;

/* The stage `attn` exactly (A1-A4 at OX_PREC bits), as fp32 bits:
 * o (bf16 values), o_f32 (the exact output rounded to fp32) and o_tol
 * [T, H, D], lse [T, H]; *lse_abs the file's absolute lse bound (§5),
 * text.  0 on success, -1 when memory runs out. */
int oa_attend(const oa_case *c, uint32_t *o, uint32_t *o_f32, uint32_t *o_tol, uint32_t *lse,
              char *lse_abs, size_t len);

/* Writes the case into f: config, inputs, outputs and tolerances. */
int oa_build(og_file *f, const char *case_name, uint64_t seed, const char *description,
             const oa_case *c, char *err, size_t errlen);

extern const og_op og_op_sparse_attn;

#endif
