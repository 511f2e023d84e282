/* ops_hadamard.c - the Hadamard operator of the registry (spec/hadamard.md;
 * tensor names in spec/golden.md §6d): "hadamard", V4's rotate_activation.
 * There is no opt entry point yet: both implementations run ref's. */
#include "registry.h"

#include <stdio.h>

/* ---- checks (shared with the oracle) --------------------------------------------- */
static dsv4_status hadamard_check(const dsv4_json *cfg, dsv4_binding *b, char *err,
                                  size_t errlen) {
    uint64_t n = dsv4_json_get(cfg, "n")->u;
    (void)b;
    if ((n & (n - 1)) != 0) {
        snprintf(err, errlen, "op hadamard: n must be a power of two");
        return DSV4_E_ARG;
    }
    return DSV4_OK;
}

#ifndef DSV4_SCHEMA_ONLY
/* rotate: in.x [rows, n] -> rotate.y [rows, n]  (H1-H3) */
static dsv4_status run_rotate(const dsv4_stage_ctx *c) {
    return dsv4_ctx_lib(c, dsv4_ref_hadamard(dsv4_ctx_dim(c, "rows"), dsv4_ctx_dim(c, "n"),
                                             dsv4_ctx_in_f32(c, 0), dsv4_ctx_out_f32(c, 0)));
}
#endif

/* ---- declaration ----------------------------------------------------------------- */
/* Default tolerance of `dsv4 run` (golden files carry their own per-element
 * bound, spec/hadamard.md §4): one bf16 ulp. */
#define TOL_BF16 {.kind = DSV4_TOL_ABS_REL, .abs = 0.0, .rel = 0.0078125}

const dsv4_op dsv4_op_hadamard = {
    .name = "hadamard",
    .description = "V4's rotate_activation: normalised Sylvester Hadamard transform per row, bf16",
    .keys = DSV4_KEYS({.name = "n",
                       .kind = DSV4_KEY_UINT,
                       .def = "128",
                       .min = 1,
                       .max = 32768,
                       .help = "transform length, a power of two (V4 indexer: 128)"}),
    .inputs = DSV4_TENSORS(DSV4_IN("in.x", "F32", "rows, n")),
    .stages = DSV4_STAGES(
        {.name = "rotate",
         .inputs = DSV4_NAMES("in.x"),
         .outputs = DSV4_TENSORS(DSV4_OUT("rotate.y", "F32", "rows, n", TOL_BF16)),
         .run = DSV4_RUN(run_rotate)}),
    .check = hadamard_check,
};
