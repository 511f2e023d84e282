/* golden.h - golden-format files (format v2, spec/golden.md) against the
 * operator registry.
 *
 * A loaded file is checked against the registry: the operator must exist,
 * the config must be valid for it, the stage list must be the operator's
 * plan for that config (names, inputs, outputs, in order), every output
 * must have a tolerance rule whose tensors the file holds, and every tensor
 * the file promises must be there with its declared dtype and shape.  For a
 * streaming operator the file holds `steps` calls, and the state entering
 * call k > 0 must be, bit for bit, what call k - 1 left. */
#ifndef DSV4_GOLDEN_H
#define DSV4_GOLDEN_H

#include "registry.h"

#define DSV4_GOLDEN_VERSION "2"

typedef struct dsv4_golden {
    const dsv4_op *op;
    const char *case_name; /* points into the file's metadata; "-" if absent */
    dsv4_opcfg cfg;
    size_t n_calls;        /* 1, or the streaming operator's steps */
    size_t n_outputs;      /* outputs of all stage instances */
    size_t *first_output;  /* [cfg.n_stages]: index of each stage's first output */
    dsv4_tol_rule *rules;  /* [n_calls][n_outputs] */
    dsv4_binding *syms;    /* [n_calls]: each call's symbols */
} dsv4_golden;

/* Load and check a golden file (every output of every call must be there). */
dsv4_status dsv4_golden_load(const dsv4_st *st, dsv4_golden *g, char *err, size_t errlen);
void dsv4_golden_free(dsv4_golden *g);
/* The rule of output o of stage instance s in call k. */
const dsv4_tol_rule *dsv4_golden_rule(const dsv4_golden *g, size_t k, size_t s, size_t o);
/* The label and tolerance text of stage s of call k as verify and check
 * print them: "update" or, in a stream, "update@2"; the rule of its outputs,
 * or "per-output" when they differ. */
void dsv4_golden_stage_text(const dsv4_golden *g, size_t k, size_t s, char *label,
                            size_t label_len, char *tol, size_t tol_len);
/* The view of call k of a file: its tensors by their names within the call. */
dsv4_view dsv4_golden_view(const dsv4_golden *g, const dsv4_st *st, size_t k, char *prefix,
                           size_t prefix_len);

/* Write the golden-format metadata of a configured operator into st:
 * dsv4_golden, op, case, config, steps (streaming), stages with each
 * output's default tolerance, and the description. */
dsv4_status dsv4_golden_write_meta(dsv4_st *st, const dsv4_opcfg *cfg, size_t n_calls,
                                   const char *case_name, const char *description);
/* The "stages" metadata text of a plan: one rule per output, from `rules`
 * ([n_calls][n_outputs], a call's rules written as an array when they
 * differ between calls) or, when rules is NULL, the declared defaults. */
dsv4_status dsv4_golden_stages_json(const dsv4_opcfg *cfg, size_t n_calls,
                                    const dsv4_tol_rule *rules, dsv4_sbuf *b);

#endif
