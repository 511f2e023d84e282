/* golden.h - reading and writing the metadata of golden-format files
 * (format v1: spec/golden.md).
 *
 * A loaded description is checked against the registry: the operator must
 * exist, the config must be valid for it, the stage list must name the
 * operator's stages in its order with its tensor names, and every tensor the
 * file promises (in.*, stage outputs) must be present. */
#ifndef DSV4_GOLDEN_H
#define DSV4_GOLDEN_H

#include "registry.h"

typedef struct dsv4_gstage {
    size_t index;    /* stage index in op->stages (equal to its position) */
    dsv4_tol tol;    /* tolerance from the file */
} dsv4_gstage;

typedef struct dsv4_golden {
    const dsv4_op *op;
    const char *case_name;  /* points into the file's metadata; "-" if absent */
    dsv4_opcfg cfg;
    size_t n_stages;
    dsv4_gstage stages[DSV4_OP_MAX_STAGES];
} dsv4_golden;

/* require_outputs: 1 for golden files (every stage output must be there),
 * 0 to only check the metadata. */
dsv4_status dsv4_golden_load(const dsv4_st *st, int require_outputs, dsv4_golden *g, char *err,
                             size_t errlen);
void dsv4_golden_free(dsv4_golden *g);

/* Write the golden-format metadata of an operator run into st: dsv4_golden,
 * op, case, config, stages (with the registry's default tolerances) and the
 * given description. */
dsv4_status dsv4_golden_write_meta(dsv4_st *st, const dsv4_op *op, const dsv4_opcfg *cfg,
                                   const char *case_name, const char *description);

#endif
