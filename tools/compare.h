/* compare.h - element-wise comparison of a computed tensor with a golden one.
 *
 * Two tolerance kinds (spec/cli.md, "Tolerances"):
 *  - exact:   bitwise equality of every element (NaN payloads and the sign of
 *             zero count), for every dtype.
 *  - abs_rel: |got - exp| <= abs + rel * |exp| per element, evaluated in
 *             double; a NaN matches only a NaN, an infinity only the same
 *             infinity.  Integer dtypes are always compared exactly.
 * The result records the worst errors and the first mismatch, so that
 * `dsv4 check` can name where an implementation first diverges. */
#ifndef DSV4_COMPARE_H
#define DSV4_COMPARE_H

#include "dsv4.h"
#include "json.h"

#include <stddef.h>

typedef enum dsv4_tol_kind { DSV4_TOL_EXACT = 0, DSV4_TOL_ABS_REL = 1 } dsv4_tol_kind;

typedef struct dsv4_tol {
    dsv4_tol_kind kind;
    double abs; /* abs_rel only */
    double rel; /* abs_rel only */
} dsv4_tol;

typedef struct dsv4_cmp {
    int layout_ok;        /* 0: dtype or shape differ; then only `reason` is set */
    size_t n;             /* elements compared */
    size_t mismatches;    /* elements outside tolerance */
    double max_abs;       /* max |got - exp| over all elements (Inf when a NaN/Inf disagrees) */
    double max_rel;       /* max |got - exp| / |exp| over elements with exp != 0 */
    size_t first_index;   /* flat row-major index of the first mismatch */
    char first_got[48];   /* its values, formatted as in dsv4_cmp_format_value */
    char first_exp[48];
    char reason[256];     /* why layout_ok is 0 */
} dsv4_cmp;

/* Parse {"kind":"exact"} or {"kind":"abs_rel","abs":A,"rel":R} (A, R >= 0). */
dsv4_status dsv4_tol_parse(const dsv4_json *j, dsv4_tol *t, char *err, size_t errlen);
/* "exact" or "abs_rel(abs=A, rel=R)". */
void dsv4_tol_format(const dsv4_tol *t, char *buf, size_t len);
/* The tolerance as JSON text (for golden metadata). */
void dsv4_tol_json(const dsv4_tol *t, dsv4_sbuf *b);

/* Compare got with exp under tol.  Never fails: a dtype or shape difference
 * is reported through r->layout_ok = 0 and r->reason. */
void dsv4_compare(const dsv4_tensor *got, const dsv4_tensor *exp, const dsv4_tol *tol,
                  dsv4_cmp *r);
/* 1 when the comparison passed (layout equal and no mismatch). */
int dsv4_cmp_passed(const dsv4_cmp *r);
/* 1 when two tensors have the same dtype, shape and bytes. */
int dsv4_tensor_identical(const dsv4_tensor *a, const dsv4_tensor *b);
/* "[2, 3]" */
void dsv4_shape_format(const dsv4_tensor *t, char *buf, size_t len);

#endif
