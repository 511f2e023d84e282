/* registry.h - the table of operators the dsv4 program knows.
 *
 * An operator is a short pipeline of named stages (DESIGN.md, "Stages and
 * golden semantics").  Its entry says everything the generic subcommands
 * (list, run, verify, check, gen) need: the configuration keys with their
 * defaults and allowed values, the input tensors, each stage's inputs,
 * outputs and default tolerance, and two functions: one that validates a
 * configuration and one that runs one stage with ref or opt.
 *
 * Adding an operator = writing its dsv4_op (tools/ops_<family>.c) and adding
 * one line to the table in tools/registry.c. */
#ifndef DSV4_REGISTRY_H
#define DSV4_REGISTRY_H

#include "compare.h"
#include "dsv4_io.h"
#include "json.h"

#include <stddef.h>
#include <stdint.h>

typedef enum dsv4_impl { DSV4_IMPL_REF = 0, DSV4_IMPL_OPT = 1, DSV4_IMPL_COUNT } dsv4_impl;

/* "ref", "opt". */
const char *dsv4_impl_name(dsv4_impl impl);
dsv4_status dsv4_impl_parse(const char *name, dsv4_impl *out);

/* ---- declarations an operator fills in ----------------------------------- */

typedef enum dsv4_key_kind {
    DSV4_KEY_ENUM = 0, /* a JSON string from `choices` */
    DSV4_KEY_UINT = 1, /* a JSON non-negative integer >= `min` */
    DSV4_KEY_NUMBER = 2 /* a finite JSON number >= 0 (e.g. an eps) */
} dsv4_key_kind;

#define DSV4_MAX_CHOICES 8
typedef struct dsv4_cfg_key {
    const char *name;
    dsv4_key_kind kind;
    const char *def;                            /* default: the string, or decimal digits */
    const char *choices[DSV4_MAX_CHOICES + 1];  /* ENUM: NULL-terminated */
    uint64_t min;                               /* UINT: smallest allowed value */
    const char *help;                           /* one line for `dsv4 list` */
} dsv4_cfg_key;

/* A tensor as `dsv4 list` describes it; dtype and shape are prose because
 * they may depend on the configuration ("U16 for bf16, else U8"). */
typedef struct dsv4_tensor_decl {
    const char *name;
    const char *dtype;
    const char *shape;
} dsv4_tensor_decl;

#define DSV4_STAGE_MAX_IO 4
typedef struct dsv4_stage_decl {
    const char *name;
    const char *inputs[DSV4_STAGE_MAX_IO + 1];          /* NULL-terminated tensor names */
    dsv4_tensor_decl outputs[DSV4_STAGE_MAX_IO + 1];    /* terminated by name == NULL */
    dsv4_tol tol;                                       /* default tolerance */
} dsv4_stage_decl;

#define DSV4_OP_MAX_KEYS 12
#define DSV4_OP_MAX_INPUTS 8
#define DSV4_OP_MAX_STAGES 8

typedef struct dsv4_op dsv4_op;
struct dsv4_op {
    const char *name;
    const char *description;
    dsv4_cfg_key keys[DSV4_OP_MAX_KEYS + 1];              /* terminated by name == NULL */
    dsv4_tensor_decl inputs[DSV4_OP_MAX_INPUTS + 1];      /* terminated by name == NULL */
    dsv4_stage_decl stages[DSV4_OP_MAX_STAGES + 1];       /* terminated by name == NULL */
    /* Cross-key validation and conversion of a complete config object (every
     * key present, each already checked against its declaration) into the
     * operator's own parameter struct, malloc'ed into *params. */
    dsv4_status (*configure)(const dsv4_json *cfg, void **params, char *err, size_t errlen);
    /* Run stage `stage` (index into stages): read its inputs from src by
     * name, check their dtypes and shapes, append its outputs to dst. */
    dsv4_status (*run_stage)(const void *params, size_t stage, dsv4_impl impl,
                             const dsv4_st *src, dsv4_st *dst, char *err, size_t errlen);
};

/* ---- the registry ---------------------------------------------------------- */

size_t dsv4_op_count(void);
const dsv4_op *dsv4_op_at(size_t i);
const dsv4_op *dsv4_op_find(const char *name);
size_t dsv4_op_n_stages(const dsv4_op *op);
size_t dsv4_op_n_inputs(const dsv4_op *op);
/* Index of a stage by name, or -1. */
int dsv4_op_stage_index(const dsv4_op *op, const char *name);

/* A validated configuration: the complete JSON object (defaults filled in),
 * its canonical text (keys in declaration order) and the operator's params. */
typedef struct dsv4_opcfg {
    char *text;
    void *params;
} dsv4_opcfg;

/* json_text NULL or "" means all defaults.  Unknown keys, wrong types and
 * values outside the declared range are DSV4_E_ARG with a reason. */
dsv4_status dsv4_op_configure(const dsv4_op *op, const char *json_text, dsv4_opcfg *cfg,
                              char *err, size_t errlen);
void dsv4_opcfg_free(dsv4_opcfg *cfg);

/* Run one stage; on success dst holds exactly the stage's declared outputs
 * appended (anything else is reported as an internal error). */
dsv4_status dsv4_op_run_stage(const dsv4_op *op, const dsv4_opcfg *cfg, size_t stage,
                              dsv4_impl impl, const dsv4_st *src, dsv4_st *dst, char *err,
                              size_t errlen);
/* End to end: copy the operator's inputs (in.*) from `inputs` into *work,
 * then run every stage in order, each reading the outputs the earlier
 * stages appended to *work. */
dsv4_status dsv4_op_run_all(const dsv4_op *op, const dsv4_opcfg *cfg, dsv4_impl impl,
                            const dsv4_st *inputs, dsv4_st *work, char *err, size_t errlen);

/* ---- helpers for operator implementations ---------------------------------- */

/* Find input `name` in src and check its dtype and rank. */
dsv4_status dsv4_stage_input(const dsv4_st *src, const char *name, dsv4_dtype dt, int rank,
                             const dsv4_tensor **out, char *err, size_t errlen);
/* Append a tensor, copying `data`.  Adds a reason on failure. */
dsv4_status dsv4_stage_output(dsv4_st *dst, const char *name, dsv4_dtype dt, int rank,
                              const size_t *shape, const void *data, char *err, size_t errlen);
/* malloc(count * size) with an overflow check; never NULL for a zero size
 * (so that callers can tell "empty" from "out of memory"). */
void *dsv4_alloc_array(size_t count, size_t size);
/* Copy a tensor from one file to another under the same name. */
dsv4_status dsv4_st_copy_tensor(dsv4_st *dst, const dsv4_tensor *t);

#endif
