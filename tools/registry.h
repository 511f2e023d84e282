/* registry.h - the operators dsv4 knows, each declared once.
 *
 * One declaration per operator (tools/ops_<family>.c) says everything the
 * generic code needs: its config keys (defaults, limits, help), its weights
 * `w.*` (inputs that stay the same from call to call), its inputs `in.*`
 * and, for a streaming operator, its state `state.*` (dtype and a symbolic
 * shape such as "T,hc,d"), and its stages in pipeline order, each
 * with the tensors it reads, the outputs it writes (dtype, shape, default
 * tolerance) and its own run function.  The `dsv4` program (list, run,
 * verify, check, gen), the bench, the tests and the oracle all read the same
 * declarations.  The oracle compiles the ops files with DSV4_SCHEMA_ONLY
 * defined: DSV4_RUN(fn) is then NULL and the run functions are left out, so
 * the oracle never links ref/ or opt/.
 *
 * Shapes: each dimension is an expression over the symbols of a call, with
 * integers, + - * / and parentheses ('/' must divide exactly).  Symbols are
 * the config's integer keys, what the operator's `check` derives from the
 * config (e.g. quant's `pack`), and the free dimensions that the inputs
 * bind: a dimension written as a lone unbound name (T, rows) takes the size
 * the first tensor in declaration order (w.*, in.*, then state.*) gives it,
 * and every later use must agree.  An operator whose output sizes depend on
 * the values of its inputs (how many entries a compressor call emits
 * depends on the position in state.pos) binds them in its `derive` hook.
 * Outputs are allocated from the bound shapes, so a run function only
 * computes.
 *
 * Names follow spec/golden.md §3: `w.<x>`, `in.<x>`, `state.<x>`,
 * `<stage>.<x>`; in the file of a streaming operator every name of call k
 * but the weights carries the prefix `step<k>.`.  A stage with `repeat` stands for instances k = 1..value of a
 * symbol (one Newton-Schulz step each); "{k}" and "{k-1}" in its names are
 * replaced by the instance number.  A stage with `when` or `unless` exists
 * only for the configs whose symbol is nonzero (zero): two declarations of
 * one stage name, one `when` and one `unless` the same symbol, give a
 * stage that reads different tensors in the two cases. */
#ifndef DSV4_REGISTRY_H
#define DSV4_REGISTRY_H

#include "compare.h"
#include "dsv4_io.h"
#include "json.h"

#include <stddef.h>
#include <stdint.h>

#ifdef DSV4_SCHEMA_ONLY
#define DSV4_RUN(fn) NULL
#else
#define DSV4_RUN(fn) (fn)
#endif

/* Terminated arrays for declarations, written in place. */
#define DSV4_NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})
#define DSV4_TENSORS(...) ((const dsv4_tensor_decl[]){__VA_ARGS__, {0}})
#define DSV4_KEYS(...) ((const dsv4_cfg_key[]){__VA_ARGS__, {0}})
#define DSV4_STAGES(...) ((const dsv4_stage_decl[]){__VA_ARGS__, {0}})
/* One tensor: an input, a stage output with its default tolerance, or a
 * state tensor with the output that becomes it for the next call. */
#define DSV4_IN(name_, dtype_, shape_) {.name = name_, .dtype = dtype_, .shape = shape_}
#define DSV4_OUT(name_, dtype_, shape_, ...)                                                   \
    {.name = name_, .dtype = dtype_, .shape = shape_, .tol = __VA_ARGS__}
#define DSV4_STATE(name_, dtype_, shape_, next_)                                               \
    {.name = name_, .dtype = dtype_, .shape = shape_, .next = next_}

typedef enum dsv4_impl { DSV4_IMPL_REF = 0, DSV4_IMPL_OPT = 1, DSV4_IMPL_COUNT } dsv4_impl;

/* "ref", "opt". */
const char *dsv4_impl_name(dsv4_impl impl);
dsv4_status dsv4_impl_parse(const char *name, dsv4_impl *out);

/* ---- symbols of a call -------------------------------------------------------- */
typedef struct dsv4_sym {
    char *name;
    uint64_t value; /* a dimension, or a dsv4_dtype for a dtype symbol */
    int is_dtype;
} dsv4_sym;

typedef struct dsv4_binding {
    size_t n, cap;
    dsv4_sym *syms;
} dsv4_binding;

/* Set (or overwrite) a symbol.  DSV4_E_NOMEM on allocation failure. */
dsv4_status dsv4_bind_set(dsv4_binding *b, const char *name, uint64_t value);
dsv4_status dsv4_bind_set_dtype(dsv4_binding *b, const char *name, dsv4_dtype dt);
/* 1 and *value when a dimension symbol `name` is bound, else 0. */
int dsv4_bind_get(const dsv4_binding *b, const char *name, uint64_t *value);
dsv4_status dsv4_bind_copy(dsv4_binding *dst, const dsv4_binding *src);
void dsv4_bind_free(dsv4_binding *b);

/* Evaluate a shape against bound symbols: dims[0..*rank).  Unbound symbols,
 * overflow, inexact division and more than DSV4_MAX_RANK dimensions are
 * DSV4_E_DTYPE / DSV4_E_FORMAT with a reason. */
dsv4_status dsv4_shape_eval(const char *shape, const dsv4_binding *b, size_t *dims, int *rank,
                            char *err, size_t errlen);
/* Check tensor t against a declared dtype and shape, binding the lone
 * unbound names of the shape to t's dimensions. */
dsv4_status dsv4_shape_bind(const char *dtype, const char *shape, const dsv4_tensor *t,
                            dsv4_binding *b, char *err, size_t errlen);
/* The dtype a declaration names: a dtype name ("F32") or a dtype symbol. */
dsv4_status dsv4_dtype_resolve(const char *dtype, const dsv4_binding *b, dsv4_dtype *out);

/* ---- declarations an operator fills in --------------------------------------- */
typedef enum dsv4_key_kind {
    DSV4_KEY_ENUM = 0,  /* a JSON string from `choices` */
    DSV4_KEY_UINT = 1,  /* a JSON integer in [min, max] (max 0: no upper limit) */
    DSV4_KEY_NUMBER = 2 /* a finite JSON number >= 0; with fp32, its nearest fp32 is finite */
} dsv4_key_kind;

typedef struct dsv4_cfg_key {
    const char *name;
    dsv4_key_kind kind;
    const char *def;             /* default: the string, or a JSON number */
    const char *const *choices;  /* ENUM: DSV4_NAMES(...) */
    uint64_t min, max;           /* UINT */
    int fp32;                    /* NUMBER: used as the nearest fp32 value */
    const char *help;            /* one line for `dsv4 list` */
} dsv4_cfg_key;

typedef struct dsv4_tensor_decl {
    const char *name;
    const char *dtype; /* "F32", "U8", "U16", "I32", or a dtype symbol from `check` */
    const char *shape; /* "T,hc,d"; "" for a scalar */
    dsv4_tol_rule tol; /* outputs: the tolerance `dsv4 run` writes */
    const char *next;  /* state: the stage output that becomes it for the next call */
} dsv4_tensor_decl;

typedef struct dsv4_stage_ctx dsv4_stage_ctx;
typedef dsv4_status (*dsv4_stage_fn)(const dsv4_stage_ctx *c);
typedef struct dsv4_view dsv4_view;

typedef struct dsv4_stage_decl {
    const char *name;                 /* with `repeat`, holds "{k}" */
    const char *const *inputs;        /* DSV4_NAMES(...) */
    const dsv4_tensor_decl *outputs;  /* DSV4_TENSORS(...) */
    const char *repeat;               /* NULL, or the symbol counting the instances */
    const char *const *first_inputs;  /* with repeat: instance 1's inputs, when they differ */
    const char *when;                 /* NULL, or a symbol: the stage exists iff it is not 0 */
    const char *unless;               /* NULL, or a symbol: the stage exists iff it is 0 */
    dsv4_stage_fn run;                /* DSV4_RUN(fn) */
} dsv4_stage_decl;

typedef struct dsv4_op dsv4_op;
struct dsv4_op {
    const char *name;
    const char *description;
    const dsv4_cfg_key *keys;         /* DSV4_KEYS(...) */
    const dsv4_tensor_decl *weights;  /* NULL, or DSV4_TENSORS(...): w.* */
    const dsv4_tensor_decl *inputs;   /* DSV4_TENSORS(...): in.* */
    const dsv4_tensor_decl *state;    /* NULL, or state.* of a streaming operator */
    const dsv4_stage_decl *stages;    /* DSV4_STAGES(...), in pipeline order */
    /* Checks across keys of a complete config (every key present and within
     * its declaration) and symbols derived from it.  May be NULL.  Runs in
     * the oracle too, so it uses no ref/ or opt/ function. */
    dsv4_status (*check)(const dsv4_json *cfg, dsv4_binding *b, char *err, size_t errlen);
    /* The run functions' parameters, malloc'ed (DSV4_RUN; may be NULL). */
    dsv4_status (*params)(const dsv4_json *cfg, void **params, char *err, size_t errlen);
    /* Symbols of one call that depend on the values of its tensors, bound
     * after the shapes of w.*, in.* and state.* (the tensors, looked up in
     * v, are checked already).  May be NULL.  Runs in the oracle too. */
    dsv4_status (*derive)(const dsv4_view *v, dsv4_binding *b, char *err, size_t errlen);
};

/* ---- the registry -------------------------------------------------------------- */
size_t dsv4_op_count(void);
const dsv4_op *dsv4_op_at(size_t i);
const dsv4_op *dsv4_op_find(const char *name);
/* 1 when the operator carries state from call to call. */
int dsv4_op_streaming(const dsv4_op *op);

/* One stage instance of a configured operator (a repeated stage expands). */
typedef struct dsv4_stage_inst {
    const dsv4_stage_decl *decl;
    size_t k;        /* instance number of a repeated stage, else 0 */
    char *name;
    char **inputs;
    size_t n_inputs;
    char **outputs;
    size_t n_outputs;
} dsv4_stage_inst;

/* A validated configuration: the canonical JSON text (every key, in
 * declaration order), the symbols it defines, the stage plan and the run
 * functions' parameters. */
typedef struct dsv4_opcfg {
    const dsv4_op *op;
    char *text;
    dsv4_json *json;
    dsv4_binding syms;
    size_t n_stages;
    dsv4_stage_inst *stages;
    void *params;
} dsv4_opcfg;

/* json_text NULL or "" means all defaults.  Unknown keys, wrong types,
 * values outside the declared range and failed cross-key checks are
 * DSV4_E_ARG with a reason. */
dsv4_status dsv4_op_configure(const dsv4_op *op, const char *json_text, dsv4_opcfg *cfg,
                              char *err, size_t errlen);
void dsv4_opcfg_free(dsv4_opcfg *cfg);
/* Index of the stage instance that writes tensor `name`, or -1. */
long dsv4_opcfg_producer(const dsv4_opcfg *cfg, const char *name);
/* The declaration of a stage output or of a w./in./state. tensor, by name
 * (with the {k} of a repeated stage's output already replaced). */
const dsv4_tensor_decl *dsv4_opcfg_decl(const dsv4_opcfg *cfg, const char *name);

/* ---- the tensors of one call ----------------------------------------------------- */
/* Layers searched in order; each adds its prefix to the names it is asked
 * for ("step3." in a streaming operator's file, "" elsewhere). */
#define DSV4_VIEW_LAYERS 4
struct dsv4_view {
    size_t n;
    const dsv4_st *st[DSV4_VIEW_LAYERS];
    const char *prefix[DSV4_VIEW_LAYERS];
};

void dsv4_view_add(dsv4_view *v, const dsv4_st *st, const char *prefix);
const dsv4_tensor *dsv4_view_find(const dsv4_view *v, const char *name);
/* "step<k>.<name>" for a streaming operator, "<name>" otherwise and for its
 * weights (`w.*`, stored once). */
void dsv4_call_name(const dsv4_op *op, size_t step, const char *name, char *buf, size_t len);

/* Check the call's w.*, in.* and state.* tensors, bind their free
 * dimensions and the operator's derived symbols (b starts as a copy of the
 * config's symbols). */
dsv4_status dsv4_call_bind(const dsv4_opcfg *cfg, const dsv4_view *v, dsv4_binding *b, char *err,
                           size_t errlen);
/* Check a tensor of the call against its declaration under b. */
dsv4_status dsv4_call_check(const dsv4_opcfg *cfg, const dsv4_binding *b, const char *name,
                            const dsv4_tensor *t, char *err, size_t errlen);

/* Run stage instance s of call `step` with inputs from v (each checked
 * against its declaration); its outputs are appended to dst as
 * `<prefix><name>`. */
dsv4_status dsv4_op_run_stage(const dsv4_opcfg *cfg, size_t s, dsv4_impl impl, size_t step,
                              const dsv4_view *v, const dsv4_binding *b, dsv4_st *dst,
                              const char *prefix, char *err, size_t errlen);
/* The number of calls the inputs in `in` describe: 1 for a one-call
 * operator; for a streaming one, the k = 0, 1, ... for which
 * step<k>.<first input> exists. */
size_t dsv4_op_calls(const dsv4_op *op, const dsv4_st *in);
/* Called after each stage of dsv4_op_run_all: call k, stage instance s,
 * out holding everything computed so far (the stage's outputs under the
 * file's names `<prefix><output>`). */
typedef void (*dsv4_stage_hook)(void *ctx, size_t k, size_t s, const char *prefix,
                                const dsv4_st *out);
/* End to end: every call in order, every stage of a call in order, each
 * reading the outputs this run computed (and the state the previous call
 * left); appends the inputs, the initial state and every output to out
 * under the file's names.  hook may be NULL. */
dsv4_status dsv4_op_run_all(const dsv4_opcfg *cfg, dsv4_impl impl, const dsv4_st *in,
                            dsv4_st *out, dsv4_stage_hook hook, void *hook_ctx, char *err,
                            size_t errlen);

/* ---- what a run function sees ------------------------------------------------------ */
struct dsv4_stage_ctx {
    const dsv4_opcfg *cfg;
    const void *params;
    dsv4_impl impl;
    const dsv4_stage_inst *stage;
    size_t step;                   /* call number (streaming), else 0 */
    const dsv4_binding *syms;      /* the call's symbols */
    const dsv4_tensor *const *in;  /* the stage's inputs, in declared order */
    dsv4_tensor *out;              /* its outputs: allocated, zeroed */
    char *err;
    size_t errlen;
};

/* A symbol of the call (0 if unbound, which declared shapes rule out). */
size_t dsv4_ctx_dim(const dsv4_stage_ctx *c, const char *sym);
static inline const float *dsv4_ctx_in_f32(const dsv4_stage_ctx *c, size_t i) {
    return (const float *)c->in[i]->data;
}
static inline float *dsv4_ctx_out_f32(const dsv4_stage_ctx *c, size_t i) {
    return (float *)c->out[i].data;
}
/* Output o starts as a copy of input i (same byte count), for library
 * functions that update an array in place. */
void dsv4_ctx_copy(const dsv4_stage_ctx *c, size_t o, size_t i);
/* DSV4_OK, or st with the reason "stage <name> (<impl>): <message>". */
dsv4_status dsv4_ctx_lib(const dsv4_stage_ctx *c, dsv4_status st);

/* ---- small helpers ------------------------------------------------------------------ */
/* malloc(count * size) with an overflow check; never NULL for a zero size. */
void *dsv4_alloc_array(size_t count, size_t size);
/* Append a copy of t to dst under `name` (t's own name when NULL). */
dsv4_status dsv4_st_copy_tensor(dsv4_st *dst, const dsv4_tensor *t, const char *name);

#endif
