/* compare.h - element-wise comparison of a computed tensor with a golden one.
 *
 * One rule per output tensor (spec/golden.md §5):
 *  - exact:   bitwise equality of every element (NaN payloads and the sign of
 *             zero count), for every dtype.
 *  - abs_rel: |got - exp| <= abs + rel * |exp| per element, evaluated in
 *             double; a NaN matches only a NaN, an infinity only the same
 *             infinity.  Integer dtypes are always compared exactly.
 *  - bf16_boundary: for outputs rounded to bf16.  With e the exact value
 *             (a reference tensor of the golden file, `ref`, holding it
 *             rounded to fp32) and t its tolerance (a per-element tensor
 *             `tol`, or abs + rel * |e|), got passes iff it is a bf16 value
 *             and bf16(e - t) <= got <= bf16(e + t), bf16 = round to nearest
 *             even (monotone, so this is "got = bf16(v) for some v within t
 *             of e").  NaN matches only NaN, an infinity only the same one.
 *  - topk:    index lists [..., k] (I32, -1 = no entry) chosen by the scores
 *             of a golden tensor `scores` [..., n] (same leading dimensions).
 *             With ties "lower_index" the lists must be identical.  With
 *             ties "unspecified", a row passes when, position by position,
 *             the candidate's entry is -1 exactly where the golden one is,
 *             and otherwise an entry in [0, n), distinct within the row,
 *             whose score equals (as a value; a NaN equals only a NaN) the
 *             score of the golden entry at that position: the candidate may
 *             order, and choose among, exactly tied entries differently,
 *             nothing else.  With an
 *             offset N, an index v >= 0 names score column v - N (indices
 *             into a KV whose first N rows are not scored).
 * The result records the worst errors and the first mismatch, so that
 * `dsv4 check` can name where an implementation first diverges. */
#ifndef DSV4_COMPARE_H
#define DSV4_COMPARE_H

#include "dsv4_io.h"
#include "json.h"

#include <stddef.h>

typedef enum dsv4_tol_kind {
    DSV4_TOL_EXACT = 0,
    DSV4_TOL_ABS_REL = 1,
    DSV4_TOL_BF16_BOUNDARY = 2,
    DSV4_TOL_TOPK = 3
} dsv4_tol_kind;

typedef enum dsv4_ties {
    DSV4_TIES_LOWER_INDEX = 0, /* the project's rule: exact ties go to the lower index */
    DSV4_TIES_UNSPECIFIED = 1  /* any order and choice among exactly tied scores */
} dsv4_ties;

/* One output's rule.  Declarations write initializers with designators,
 * e.g. {.kind = DSV4_TOL_ABS_REL, .abs = 1e-6, .rel = 0}; a parsed rule owns
 * its names (dsv4_tol_free). */
typedef struct dsv4_tol_rule {
    dsv4_tol_kind kind;
    double abs;
    double rel;
    char *ref;                 /* bf16_boundary: the exact values rounded to fp32 */
    char *tol;                 /* bf16_boundary: per-element tolerances, NULL = abs/rel */
    char *scores;              /* topk: the scores the indices refer to */
    dsv4_ties ties;            /* topk */
    size_t offset;             /* topk: index v names score column v - offset */
    const dsv4_tensor *ref_t;  /* the named tensors, found by dsv4_tol_bind */
    const dsv4_tensor *tol_t;
    const dsv4_tensor *scores_t;
} dsv4_tol_rule;

typedef struct dsv4_cmp {
    int layout_ok;        /* 0: dtype or shape differ; then only `reason` is set */
    size_t n;             /* elements compared */
    size_t mismatches;    /* elements outside tolerance */
    double max_abs;       /* max |got - exp| over all elements (Inf when a NaN/Inf disagrees) */
    double max_rel;       /* max |got - exp| / |exp| over elements with exp != 0 */
    double max_ulps;      /* bf16_boundary: max |got - exp| in bf16 ulps of exp */
    size_t tie_rows;      /* topk, ties unspecified: rows that passed only by the tie rule */
    size_t first_index;   /* flat row-major index of the first mismatch */
    char first_at[96];    /* the same as coordinates, "[2, 0, 5]" */
    char first_got[48];   /* its values, formatted as in dsv4_cmp_format_value */
    char first_exp[48];
    char reason[256];     /* why layout_ok is 0 */
} dsv4_cmp;

/* Parse a rule: {"kind":"exact"}, {"kind":"abs_rel","abs":A,"rel":R}
 * (A, R >= 0), {"kind":"bf16_boundary","abs":A,"rel":R,"ref":NAME},
 * {"kind":"bf16_boundary","tol":NAME,"ref":NAME}, or
 * {"kind":"topk","scores":NAME,"ties":"lower_index"|"unspecified"} with an
 * optional "offset": N (an integer >= 0, default 0).  Tensor
 * names are not resolved here: see dsv4_tol_bind. */
dsv4_status dsv4_tol_parse(const dsv4_json *j, dsv4_tol_rule *r, char *err, size_t errlen);
void dsv4_tol_free(dsv4_tol_rule *r);
/* Resolve the tensors a rule names, as `<prefix><name>` in gold (F32
 * tensors; pointers into gold are kept: gold must outlive r). */
dsv4_status dsv4_tol_bind(dsv4_tol_rule *r, const dsv4_st *gold, const char *prefix, char *err,
                          size_t errlen);
/* "exact", "abs=A,rel=R", "bf16b:abs=A,rel=R", "bf16b:TOLTENSOR",
 * "topk:lower_index", "topk:ties-unspecified". */
void dsv4_tol_format(const dsv4_tol_rule *r, char *buf, size_t len);
/* The rule as JSON text (for golden metadata). */
void dsv4_tol_json(const dsv4_tol_rule *r, dsv4_sbuf *b);

/* Compare got with exp under rule r.  Never fails: a dtype or shape
 * difference, or a rule whose tensors are not bound or do not fit exp, is
 * reported through c->layout_ok = 0 and c->reason. */
void dsv4_compare(const dsv4_tensor *got, const dsv4_tensor *exp, const dsv4_tol_rule *r,
                  dsv4_cmp *c);
/* 1 when the comparison passed (layout equal and no mismatch). */
int dsv4_cmp_passed(const dsv4_cmp *c);
/* 1 when two tensors have the same dtype, shape and bytes. */
int dsv4_tensor_identical(const dsv4_tensor *a, const dsv4_tensor *b);
/* "[2, 3]" */
void dsv4_shape_format(const dsv4_tensor *t, char *buf, size_t len);

#endif
