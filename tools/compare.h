/* compare.h - element-wise comparison of a computed tensor with a golden one.
 *
 * Tolerance kinds (spec/golden.md §5, spec/cli.md "Tolerances"):
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
 *  - per_output: a rule of the kinds above for each output of the stage, by
 *             tensor name.
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
    DSV4_TOL_PER_OUTPUT = 3
} dsv4_tol_kind;

#define DSV4_TOL_NAME_MAX 64  /* tensor names inside a tolerance, NUL included */
#define DSV4_TOL_MAX_OUTPUTS 4

/* One element-wise rule: exact, abs_rel or bf16_boundary. */
typedef struct dsv4_tol_rule {
    dsv4_tol_kind kind;
    double abs;
    double rel;
    char ref[DSV4_TOL_NAME_MAX]; /* bf16_boundary: the exact values rounded to fp32 */
    char tol[DSV4_TOL_NAME_MAX]; /* bf16_boundary: per-element tolerances, "" = abs/rel */
    const dsv4_tensor *ref_t;    /* the two tensors, found by dsv4_tol_bind */
    const dsv4_tensor *tol_t;
} dsv4_tol_rule;

/* A stage tolerance: a rule (the members of dsv4_tol_rule, spelled out so
 * that t.kind, t.abs, t.rel read as before) or per_output rules.  Write
 * initializers with designators, e.g. {.kind = DSV4_TOL_EXACT}. */
typedef struct dsv4_tol {
    dsv4_tol_kind kind;
    double abs;
    double rel;
    char ref[DSV4_TOL_NAME_MAX];
    char tol[DSV4_TOL_NAME_MAX];
    const dsv4_tensor *ref_t;
    const dsv4_tensor *tol_t;
    /* per_output: one rule per output tensor */
    size_t n_outputs;
    char output[DSV4_TOL_MAX_OUTPUTS][DSV4_TOL_NAME_MAX];
    dsv4_tol_rule rule[DSV4_TOL_MAX_OUTPUTS];
} dsv4_tol;

typedef struct dsv4_cmp {
    int layout_ok;        /* 0: dtype or shape differ; then only `reason` is set */
    size_t n;             /* elements compared */
    size_t mismatches;    /* elements outside tolerance */
    double max_abs;       /* max |got - exp| over all elements (Inf when a NaN/Inf disagrees) */
    double max_rel;       /* max |got - exp| / |exp| over elements with exp != 0 */
    double max_ulps;      /* bf16_boundary: max |got - exp| in bf16 ulps of exp */
    size_t first_index;   /* flat row-major index of the first mismatch */
    char first_at[96];    /* the same as coordinates, "[2, 0, 5]" */
    char first_got[48];   /* its values, formatted as in dsv4_cmp_format_value */
    char first_exp[48];
    char reason[256];     /* why layout_ok is 0 */
} dsv4_cmp;

/* Parse a tolerance object: {"kind":"exact"}, {"kind":"abs_rel","abs":A,"rel":R}
 * (A, R >= 0), {"kind":"bf16_boundary","abs":A,"rel":R,"ref":NAME} or
 * {"kind":"bf16_boundary","tol":NAME,"ref":NAME}, or
 * {"kind":"per_output","outputs":{NAME: rule, ...}} (at most
 * DSV4_TOL_MAX_OUTPUTS rules, none per_output).  Tensor names are not
 * resolved here: see dsv4_tol_bind. */
dsv4_status dsv4_tol_parse(const dsv4_json *j, dsv4_tol *t, char *err, size_t errlen);
/* Check a parsed tolerance against its stage and golden file: a per_output
 * tolerance must give exactly one rule to each of the stage's n_outputs
 * outputs, and every tensor a bf16_boundary rule names must be an F32
 * tensor of `gold` (pointers into gold are kept: gold must outlive t). */
dsv4_status dsv4_tol_bind(dsv4_tol *t, const dsv4_st *gold, const char *const *outputs,
                          size_t n_outputs, char *err, size_t errlen);
/* "exact", "abs=A,rel=R", "bf16b:abs=A,rel=R", "bf16b:TOLTENSOR", "per-output(N)". */
void dsv4_tol_format(const dsv4_tol *t, char *buf, size_t len);
/* The tolerance as JSON text (for golden metadata). */
void dsv4_tol_json(const dsv4_tol *t, dsv4_sbuf *b);

/* Compare got with exp under tol (per_output: the rule named exp->name).
 * Never fails: a dtype or shape difference, or a bf16_boundary rule whose
 * tensors are not bound or do not match exp's size, is reported through
 * r->layout_ok = 0 and r->reason. */
void dsv4_compare(const dsv4_tensor *got, const dsv4_tensor *exp, const dsv4_tol *tol,
                  dsv4_cmp *r);
/* 1 when the comparison passed (layout equal and no mismatch). */
int dsv4_cmp_passed(const dsv4_cmp *r);
/* 1 when two tensors have the same dtype, shape and bytes. */
int dsv4_tensor_identical(const dsv4_tensor *a, const dsv4_tensor *b);
/* "[2, 3]" */
void dsv4_shape_format(const dsv4_tensor *t, char *buf, size_t len);

#endif
