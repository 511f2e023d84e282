/* golden_io.h - building golden files, and the oracle's operator framework.
 *
 * A golden file (spec/golden.md, format v2) holds the inputs `in.<name>`
 * (and a streaming operator's state `state.<name>`), every stage output
 * `<stage>.<name>` with its tolerance rule, and the metadata.  og_file
 * collects them and writes them with the dsv4_st_* API.  The operator's
 * declaration comes from the registry the dsv4 program reads
 * (tools/registry.h, compiled here without run functions): og_begin
 * completes and checks the config with it, og_stage checks each stage
 * against its plan, and og_write loads the finished file with the same
 * loader `dsv4 verify` uses before writing it, so the oracle cannot write a
 * file the program would reject.  Tensor data is given as host integers and
 * stored explicitly little-endian.
 *
 * Every operator family (codec.c, mhc_cases.c, muon_cases.c) exports one
 * og_op per operator, listed once in main.c. */
#ifndef DSV4_ORACLE_GOLDEN_IO_H
#define DSV4_ORACLE_GOLDEN_IO_H

#include "registry.h"

#include <stddef.h>
#include <stdint.h>

/* Tolerance texts for og_stage. */
#define OG_TOL_EXACT "{\"kind\":\"exact\"}"

typedef struct og_file {
    dsv4_st st;
    dsv4_opcfg cfg;        /* the operator's configuration and plan */
    char *meta[3];         /* case, seed, description (owned copies) */
    size_t call;           /* the call og_add and og_stage fill (streaming) */
    size_t n_calls;
    size_t n_outputs;      /* outputs of the plan */
    dsv4_tol_rule *rules;  /* [n_calls][n_outputs] */
    unsigned char *ruled;  /* [n_calls][n_outputs]: 1 once og_stage set the rule */
    dsv4_status status;    /* first failure, sticky */
    char err[512];         /* its reason */
} og_file;

/* Starts a file: the config (JSON text, missing keys take their defaults) is
 * completed and checked by the registry; description is one sentence. */
void og_begin(og_file *f, const char *op, const char *case_name, const char *config_json,
              uint64_t seed, const char *description);
/* Streaming operators: og_add and og_stage from now on fill call k (the
 * names get the prefix "step<k>.").  Calls start at 0. */
void og_call(og_file *f, size_t k);
/* Adds a tensor of the current call; shape has `rank` entries; data holds
 * numel elements of the dtype's width as host integers: uint32_t for F32
 * (bit patterns), uint16_t for U16, uint8_t for U8, int32_t for I32. */
void og_add(og_file *f, const char *name, dsv4_dtype dt, int rank, const size_t *shape,
            const void *data);
/* The tolerance of a stage of the current call.  name, inputs and outputs
 * (NULL-terminated) must be the plan's; tolerance_json is one rule for
 * every output, or an object mapping each output to its rule. */
void og_stage(og_file *f, const char *name, const char *const *inputs,
              const char *const *outputs, const char *tolerance_json);
/* Sets the metadata, checks the whole file with the registry's loader and
 * writes it.  Returns the first failure (its reason in f->err). */
dsv4_status og_write(og_file *f, const char *path);
void og_free(og_file *f);

/* ---- growable buffer of 32-bit words (inputs under construction) ---------- */
typedef struct og_vec {
    uint32_t *v;
    size_t n, cap;
    int oom;
} og_vec;

void og_vec_push(og_vec *a, uint32_t x);
void og_vec_free(og_vec *a);

/* ---- operator framework ------------------------------------------------- */
/* Optional shape request of `oracle gen` (0 = operator default). */
typedef struct og_shape {
    int rank;
    size_t dim[2];
} og_shape;

typedef struct og_op {
    const char *name;
    /* shipped cases: names and builders, indices 0..n_cases-1 */
    size_t n_cases;
    const char *(*case_name)(size_t i);
    int (*build_case)(size_t i, og_file *f, char *err, size_t errlen);
    /* a random case from a configuration (oracle gen): config is complete
     * (every key of the registry's declaration, each checked) */
    int (*gen)(const dsv4_json *config, uint64_t seed, const char *case_name,
               const og_shape *shape, og_file *f, char *err, size_t errlen);
    /* checks against worked vectors; returns the number of failures */
    int (*selftest)(void);
} og_op;

/* The operator families. */
extern const og_op og_op_cast, og_op_quant;

#endif
