/* indexer.h - the lightning indexer of the oracle ("indexer";
 * spec/indexer.md, spec/golden.md §6f), private.
 *
 * indexer.c        the exact stages (I1)-(I8), each computed from the exact
 *                  fp32 inputs and the stored outputs of the stages it
 *                  reads and rounded once; the margins of the bf16
 *                  roundings; the checks that every score is exact in fp32;
 *                  the file of a case
 * indexer_cases.c  the inputs (drawn, then redrawn where a margin is too
 *                  small), the shipped cases, `oracle gen`, the self test
 *                  (the worked case of spec/indexer.md §9), the og_op
 *
 * fp32 data are uint32_t bit patterns; indices are int32_t. */
#ifndef DSV4_ORACLE_INDEXER_H
#define DSV4_ORACLE_INDEXER_H

#include "golden_io.h"
#include "rope.h"

/* The registry's keys (RoPE without `inverse`: the indexer turns forward). */
typedef struct oi_cfg {
    size_t dim, q_lora, H, hd, ratio, topk, window;
    int act_fp8;
    or_cfg rope;
} oi_cfg;

/* The inputs of one call. */
typedef struct oi_case {
    oi_cfg c;
    size_t T, E;
    int32_t pos;
    uint32_t *wq_b; /* [H*hd, q_lora] */
    uint32_t *wp;   /* [H, dim] */
    uint32_t *qr;   /* [T, q_lora] */
    uint32_t *x;    /* [T, dim] */
    uint32_t *k;    /* [E, hd] */
} oi_case;

/* A bf16 output: the values, the exact values rounded to fp32 and the
 * per-element tolerance (bf16_boundary, spec/golden.md §5). */
typedef struct oi_bf16 {
    uint32_t *y, *f32, *tol;
} oi_bf16;

/* Every stage's outputs, and what the file does not hold. */
typedef struct oi_out {
    size_t K;                  /* min(topk, E) */
    uint32_t *cos_t, *sin_t;   /* [T, rope_dim/2] the RoPE table of positions pos.. */
    uint32_t *a;               /* [T, q_lora] (I1)'s activation (fake-quantized or qr) */
    oi_bf16 proj, rope, rot;   /* [T, H, hd] (I1), (I2), (I3) */
    uint32_t *quant;           /* [T, H, hd] (I4) */
    oi_bf16 inner;             /* [T, H] (I5)'s first rounding, bf16(x . weights_proj) */
    oi_bf16 w;                 /* [T, H] (I5) */
    uint32_t *scores;          /* [T, E] (I6) */
    int32_t *idx, *kv;         /* [T, K] (I7), (I8) */
} oi_out;

int oi_alloc(const oi_case *in, oi_out *o);
void oi_free(oi_out *o);

/* ---- stages (indexer.c) ----------------------------------------------------------- */
/* The RoPE table of positions pos .. pos + T - 1; -1 and err when the
 * config lacks rope.c's margins. */
int oi_table(const oi_case *in, oi_out *o, char *err, size_t errlen);
/* (I1) token t: its activation (FP8 E4M3 1x128 rceil fake quant or qr);
 * 0, or -1 when out of memory. */
int oi_activation(const oi_case *in, oi_out *o, size_t t);
/* (I1) q_proj element (t, j), j in [0, H*hd), from o->a. */
void oi_project(const oi_case *in, oi_out *o, size_t t, size_t j);
/* (I2), (I3) head h of token t, from the stored outputs before them. */
void oi_rope(const oi_case *in, oi_out *o, size_t t, size_t h);
void oi_rotate(const oi_case *in, oi_out *o, size_t t, size_t h);
/* (I4) every head. */
int oi_quant(const oi_case *in, oi_out *o);
/* (I5)'s factor c = fp32(hd^-0.5 * H^-0.5): each power and the product
 * rounded to double as V4's Python forms them, then once to fp32. */
uint32_t oi_weight_scale(size_t H, size_t hd);
/* (I5) the weight of head h for token t (both roundings). */
void oi_weight(const oi_case *in, oi_out *o, size_t t, size_t h);
/* (I6): the score of query t against key k [hd] (visible or not), from the
 * stored q_quant and w.  *decided (may be NULL) is 1 when an fp32
 * implementation summing in any order gets the same score: each dot
 * product and the head sum is exact in fp32 (its terms, multiples of their
 * lowest bit g, sum to less than 2^(g + 24)) or has its bf16 rounding
 * farther than the bound of an fp32 sum from a boundary.  *relu_zero (may
 * be NULL) is 1 when ReLU made every head's dot 0. */
uint32_t oi_score_key(const oi_case *in, const oi_out *o, size_t t, const uint32_t *k,
                      int *decided, int *relu_zero);
/* Column e of the scores, -Inf where not visible; returns how many of its
 * finite scores are not decided (above). */
size_t oi_score_column(const oi_case *in, oi_out *o, size_t e);
/* Every column; returns the count of undecided scores. */
size_t oi_scores(const oi_case *in, oi_out *o);
/* (I7), (I8) from the stored scores; 0, or -1 when out of memory. */
int oi_topk(const oi_case *in, oi_out *o);
/* The query side from the inputs: the table, (I1)-(I3) and (I5); 0, or -1
 * and err. */
int oi_query(const oi_case *in, oi_out *o, char *err, size_t errlen);
/* Then (I4), (I6)-(I8): 0, or -1 and err (also when a score is not
 * decided: no shipped case may have one). */
int oi_finish(const oi_case *in, oi_out *o, char *err, size_t errlen);

/* ---- margins (indexer.c) ------------------------------------------------------------ */
/* The margin rule for one bf16 rounding whose exact value lies within half
 * an fp32 ulp of f32: 1 when no bf16 rounding boundary lies within
 * tol + that half ulp of f32 (so every value within tol of the exact one
 * rounds alike).  Non-finite values pass.  *ratio (may be NULL) gets the
 * distance to the nearest boundary over tol + the half ulp. */
int oi_margin(uint32_t f32, uint32_t tol, double *ratio);
/* The margins of block (t, h): q_proj, q_rope and q_rotate (what = 1, 2,
 * 3 for the first that fails, *elem its channel), or of the weight (what
 * = 4, 5 for the inner and the outer rounding).  0 when all hold. */
int oi_q_block(const oi_case *in, const oi_out *o, size_t t, size_t h, size_t *elem);
int oi_w_block(const oi_case *in, const oi_out *o, size_t t, size_t h);
/* The smallest margin ratio over every bf16 rounding of the call. */
double oi_min_margin(const oi_case *in, const oi_out *o);

/* ---- the file (indexer.c) ---------------------------------------------------------- */
void oi_config_text(const oi_cfg *c, char *buf, size_t len);
/* Writes the inputs and the computed outputs o of in into f. */
int oi_write(og_file *f, const char *case_name, uint64_t seed, const char *desc,
             const oi_case *in, const oi_out *o);

extern const og_op og_op_indexer;

#endif
