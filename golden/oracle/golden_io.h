/* golden_io.h - building golden files, and the oracle's operator framework.
 *
 * A golden file (spec/golden.md) is a safetensors file holding the inputs
 * `in.<name>`, every stage output `<stage>.<name>`, and __metadata__ keys
 * dsv4_golden, op, case, config, stages, oracle, seed, description.  og_file
 * collects tensors and the stage list and writes them with the dsv4_st_* API.
 * Tensor data is given as host integers and stored explicitly little-endian.
 *
 * Every operator family (codec.c today; mhc.c, muon.c, attention.c later)
 * exports one og_op per operator and is listed once in main.c. */
#ifndef DSV4_ORACLE_GOLDEN_IO_H
#define DSV4_ORACLE_GOLDEN_IO_H

#include "dsv4_io.h"
#include "json.h"

#include <stddef.h>
#include <stdint.h>

/* Tolerance texts for the "tolerance" member of a stage. */
#define OG_TOL_EXACT "{\"kind\":\"exact\"}"

typedef struct og_file {
    dsv4_st st;
    char *meta[5];    /* op, case, config, seed, description (owned copies) */
    dsv4_sbuf stages; /* JSON array text of the stage list, being built */
    size_t n_stages;
    dsv4_status status; /* first failure, sticky */
} og_file;

/* Starts a file with its identifying metadata.  config_json is the JSON text of
 * the operator configuration; description is one sentence. */
void og_begin(og_file *f, const char *op, const char *case_name, const char *config_json,
              uint64_t seed, const char *description);
/* Adds a tensor; shape has `rank` entries; data holds numel elements of the
 * dtype's width as host integers: uint32_t for F32 (bit patterns), uint16_t
 * for U16, uint8_t for U8, int32_t for I32. */
void og_add(og_file *f, const char *name, dsv4_dtype dt, int rank, const size_t *shape,
            const void *data);
/* Appends a stage: NULL-terminated lists of tensor names, and a tolerance. */
void og_stage(og_file *f, const char *name, const char *const *inputs,
              const char *const *outputs, const char *tolerance_json);
/* Sets the "stages" key and writes the file.  Returns the first failure. */
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
    /* a random case from a configuration (oracle gen) */
    int (*gen)(const dsv4_json *config, uint64_t seed, const char *case_name,
               const og_shape *shape, og_file *f, char *err, size_t errlen);
    /* checks against worked vectors; returns the number of failures */
    int (*selftest)(void);
} og_op;

/* The operator families (codec.c). */
extern const og_op og_op_cast;
extern const og_op og_op_quant;

#endif
