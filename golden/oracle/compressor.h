/* compressor.h - the KV compressor of the oracle ("compressor";
 * spec/compressor.md), private.
 *
 * compressor.c          the exact stages of one call (C1-C5 and carry),
 *                       each from the stored (rounded) outputs of the
 *                       stages it reads, rounded once
 * compressor_seq.c      a sequence of calls: the stages call after call,
 *                       the tolerances of spec/compressor.md §7, the
 *                       margins of the end-to-end rule, the file
 * compressor_cases.c    the inputs (data on an exact grid, the redraws
 *                       that give every rounding its margin), the shipped
 *                       cases, `oracle gen`, the og_op
 * compressor_selftest.c the worked cases of spec/compressor.md §10
 *
 * fp32 data are uint32_t bit patterns, as in the other families; the
 * oracle does no C float arithmetic. */
#ifndef DSV4_ORACLE_COMPRESSOR_H
#define DSV4_ORACLE_COMPRESSOR_H

#include "golden_io.h"
#include "rope.h"

typedef enum ocp_quant { OCP_FP8 = 0, OCP_FP4 = 1, OCP_NONE = 2 } ocp_quant;

/* A compressor configuration: the registry's keys. */
typedef struct ocp_cfg {
    size_t dim, d, r; /* input width, head_dim, ratio */
    size_t coff;      /* 2 when the windows overlap (r == 4), else 1 */
    ocp_quant quant;
    uint32_t eps;     /* norm_eps as fp32 bits */
    or_cfg rope;      /* rope_dim and the table's keys (forward rotation) */
} ocp_cfg;

/* wkv, wgate [coff*d, dim]; ape [r, coff*d]; norm [d]. */
typedef struct ocp_weights {
    uint32_t *wkv, *wgate, *ape, *norm;
} ocp_weights;

/* The state entering or leaving a call: kv, score [coff*r, coff*d]; the
 * rows no token holds have kv 0 and score -Inf (the reset values). */
#define OCP_SCORE_RESET 0xFF800000u /* -Inf */
typedef struct ocp_state {
    uint32_t *kv, *score;
    int32_t pos;
} ocp_state;

/* Fills coff from r and the rope table's fixed fields; 0, or -1 with err
 * when the config breaks spec/compressor.md §2 (the registry's check says
 * the same). */
int ocp_cfg_finish(ocp_cfg *c, char *err, size_t errlen);
/* The config as the registry's JSON text. */
void ocp_config_text(const ocp_cfg *c, char *buf, size_t len);
/* Entries a call of T tokens at position p emits: floor((p+T)/r) - floor(p/r). */
size_t ocp_entries(const ocp_cfg *c, size_t p, size_t T);

/* ---- the exact stages (compressor.c) --------------------------------------------- */
/* (C1) rows [row0, row1) of the projections of one token x [dim] at
 * position q: kv, score [coff*d] rounded once to fp32; kv_mag, score_mag
 * [coff*d]: sum_k |x_k W_k| (+ |ape|), an fp32 at least as large, 0 where
 * the projection is not finite. */
void ocp_project_token(const ocp_cfg *c, const ocp_weights *w, const uint32_t *x, size_t q,
                       size_t row0, size_t row1, uint32_t *kv, uint32_t *score,
                       uint32_t *kv_mag, uint32_t *score_mag);
/* (C2) channels [c0, c1) of the entries of a call: from the state s
 * entering it and its projections kv, score [T, coff*d]; e [n, d] rounded
 * once to fp32, e_mag [n, d] sum_j w_j |v_j| with the exact weights, an
 * fp32 at least as large (0 where the entry is not finite).  0, or -1 when
 * out of memory. */
int ocp_pool(const ocp_cfg *c, const ocp_state *s, size_t T, const uint32_t *kv,
             const uint32_t *score, size_t c0, size_t c1, uint32_t *e, uint32_t *e_mag);
/* (C3) bf16 of the stored entries e [n, d], then the exact RMSNorm: y (bf16
 * values), y_f32, y_tol (spec/norm.md §4) [n, d].  0 or -1. */
int ocp_norm(const ocp_cfg *c, const uint32_t *wnorm, size_t n, const uint32_t *e, uint32_t *y,
             uint32_t *y_f32, uint32_t *y_tol);
/* (C4) RoPE of rows x [n, d] of entries first.. at positions i*r, from the
 * frequencies inv_freq [rope_dim/2]: y, y_f32, y_tol [n, d].  0 or -1. */
int ocp_rope(const ocp_cfg *c, const uint32_t *inv_freq, size_t first, size_t n,
             const uint32_t *x, uint32_t *y, uint32_t *y_f32, uint32_t *y_tol);
/* (C5) hadamard_fp4's rotation of rows x [n, d]: y, y_f32, y_tol [n, d]. */
void ocp_rotate(const ocp_cfg *c, size_t n, const uint32_t *x, uint32_t *y, uint32_t *y_f32,
                uint32_t *y_tol);
/* (C5) the fake quantization of rows x [n, d] into y [n, d].  0 or -1. */
int ocp_quant_rows(const ocp_cfg *c, size_t n, const uint32_t *x, uint32_t *y);
/* carry: the state after a call of T tokens with projections kv, score
 * [T, coff*d], from the state s entering it; out's arrays are the
 * caller's. */
void ocp_carry(const ocp_cfg *c, const ocp_state *s, size_t T, const uint32_t *kv,
               const uint32_t *score, ocp_state *out);

/* ---- a sequence of calls (compressor_seq.c) -------------------------------------- */
/* The tokens of one sequence and the projections of each (global rows). */
typedef struct ocp_seq {
    ocp_cfg c;
    ocp_weights w;
    size_t N;      /* tokens */
    uint32_t *x;   /* [N, dim] */
    uint32_t *kv, *score, *kv_mag, *score_mag; /* [N, coff*d], ocp_seq_project */
    uint32_t *inv_freq;                        /* [rope_dim/2] */
} ocp_seq;

/* Allocates every array of s for s->c and s->N (zeroed); 0 or -1. */
int ocp_seq_alloc(ocp_seq *s);
void ocp_seq_free(ocp_seq *s);
/* The frequencies of the RoPE table; 0, or -1 and err (spec/rope.md §5
 * margins). */
int ocp_seq_table(ocp_seq *s, char *err, size_t errlen);
/* Projects every token, rows [row0, row1) (all: 0, coff*d). */
void ocp_seq_project(ocp_seq *s, size_t row0, size_t row1);

/* One call: its tokens, the state entering and leaving it, every output,
 * and the abs of its abs_rel rules. */
typedef struct ocp_call {
    size_t t0, T, first, n; /* first token, tokens, first entry, entries */
    ocp_state in, out;
    uint32_t *e, *e_mag;    /* [n, d] */
    uint32_t *ny[3], *ry[3], *hy[3]; /* norm, rope, rotate: y, y_f32, y_tol [n, d] */
    uint32_t *q;            /* [n, d] */
    mpfr_t a_kv, a_score, a_pool;
} ocp_call;

/* The calls of one split of a sequence into calls of T[0], T[1], ... tokens. */
typedef struct ocp_run {
    size_t n_calls;
    ocp_call *calls;
} ocp_run;

/* Allocates the calls of a split (the T sum to the sequence's N); 0 or -1. */
int ocp_run_alloc(ocp_run *run, const ocp_seq *s, const size_t *T, size_t n_calls);
void ocp_run_free(ocp_run *run);
/* Every stage of every call, from the sequence's projections; pool only
 * for the channels whose flag in `dirty` [d] is set (all when NULL: the
 * other channels keep the entries of the previous ocp_run_stages, which
 * must have been made from the same projections in those channels).  0,
 * or -1 and err. */
int ocp_run_stages(const ocp_seq *s, ocp_run *run, const uint8_t *dirty, char *err,
                   size_t errlen);

/* The end-to-end margins (spec/compressor.md §7): flags per channel [d]. */
typedef struct ocp_margins {
    uint8_t *entry; /* a bf16 rounding of pool.e lacks its margin */
    uint8_t *norm;  /* a norm.y element */
    uint8_t *rope;  /* a rope.y element of the pair the channel is in */
    size_t n_entry, n_norm, n_rope, n_rotate; /* elements without margin */
} ocp_margins;

int ocp_margins_alloc(ocp_margins *m, size_t d);
void ocp_margins_free(ocp_margins *m);
void ocp_margins_clear(ocp_margins *m, size_t d);
/* Adds the elements of every call of run that lack a margin to m. */
void ocp_margins_measure(const ocp_seq *s, const ocp_run *run, ocp_margins *m);
/* 1 when every rounding of m has its margin. */
int ocp_margins_hold(const ocp_margins *m);

/* Writes the file of a run: weights once, every call's inputs, state,
 * outputs and rules.  0, or -1 and err. */
int ocp_write(og_file *f, const char *case_name, uint64_t seed, const char *desc,
              const ocp_seq *s, const ocp_run *run, char *err, size_t errlen);

/* ---- worked cases and self test (compressor_selftest.c) --------------------------- */
#define OCP_WORKED 2
/* The sequence of worked case W1 (which 0) or W2 (1), projected, with its
 * table, and the split shipped of it: T [n_calls <= 4].  0, or -1 and err. */
int ocp_worked_seq(size_t which, ocp_seq *s, size_t *n_calls, size_t *T, char *err,
                   size_t errlen);
int ocp_selftest(void);

extern const og_op og_op_compressor;

#endif
