/* ops_norm.c - the RMSNorm operator of the registry (spec/norm.md; tensor
 * names in spec/golden.md §6e): "rms_norm", stages rms and norm.  There is
 * no opt entry point yet: both implementations run ref's. */
#include "registry.h"

#include <stdlib.h>

#ifndef DSV4_SCHEMA_ONLY
/* The eps key as the fp32 value nearest to it (finite: the key says fp32). */
static dsv4_status norm_params(const dsv4_json *cfg, void **params, char *err, size_t errlen) {
    float *eps = malloc(sizeof *eps);
    (void)err;
    (void)errlen;
    if (!eps) return DSV4_E_NOMEM;
    *eps = (float)dsv4_json_get(cfg, "eps")->number;
    *params = eps;
    return DSV4_OK;
}

/* rms: in.x [rows, d] -> rms.r [rows]  (N1, N2) */
static dsv4_status run_rms(const dsv4_stage_ctx *c) {
    const float *eps = c->params;
    return dsv4_ctx_lib(c, dsv4_ref_rms_norm_factor(dsv4_ctx_dim(c, "rows"), dsv4_ctx_dim(c, "d"),
                                                    *eps, dsv4_ctx_in_f32(c, 0),
                                                    dsv4_ctx_out_f32(c, 0)));
}

/* norm: in.x, rms.r, in.w [d] -> norm.y [rows, d]  (N3) */
static dsv4_status run_norm(const dsv4_stage_ctx *c) {
    return dsv4_ctx_lib(c, dsv4_ref_rms_norm_apply(dsv4_ctx_dim(c, "rows"), dsv4_ctx_dim(c, "d"),
                                                   dsv4_ctx_in_f32(c, 0), dsv4_ctx_in_f32(c, 1),
                                                   dsv4_ctx_in_f32(c, 2),
                                                   dsv4_ctx_out_f32(c, 0)));
}
#endif

/* ---- declaration ----------------------------------------------------------------- */
/* Default tolerances of `dsv4 run` (golden files carry their own, derived
 * from d, spec/norm.md §4): r 1e-6 relative; one bf16 ulp for y. */
#define TOL_RMS {.kind = DSV4_TOL_ABS_REL, .abs = 0.0, .rel = 1e-6}
#define TOL_BF16 {.kind = DSV4_TOL_ABS_REL, .abs = 0.0, .rel = 0.0078125}

const dsv4_op dsv4_op_rms_norm = {
    .name = "rms_norm",
    .description = "RMSNorm as V4 computes it: fp32 factor 1/sqrt(mean(x^2) + eps), x*r*w, bf16",
    .keys = DSV4_KEYS({.name = "d",
                       .kind = DSV4_KEY_UINT,
                       .def = "4096",
                       .min = 1,
                       .max = 1u << 24,
                       .help = "channels normalised (V4: 4096/7168 hidden, 1024/1536 q, 512 kv, "
                               "128 indexer)"},
                      {.name = "eps",
                       .kind = DSV4_KEY_NUMBER,
                       .def = "1e-06",
                       .fp32 = 1,
                       .help = "added to the mean square (used as the nearest fp32; V4: 1e-6)"}),
    .inputs = DSV4_TENSORS(DSV4_IN("in.x", "F32", "rows, d"), DSV4_IN("in.w", "F32", "d")),
    .stages = DSV4_STAGES(
        {.name = "rms",
         .inputs = DSV4_NAMES("in.x"),
         .outputs = DSV4_TENSORS(DSV4_OUT("rms.r", "F32", "rows", TOL_RMS)),
         .run = DSV4_RUN(run_rms)},
        {.name = "norm",
         .inputs = DSV4_NAMES("in.x", "rms.r", "in.w"),
         .outputs = DSV4_TENSORS(DSV4_OUT("norm.y", "F32", "rows, d", TOL_BF16)),
         .run = DSV4_RUN(run_norm)}),
    .params = DSV4_RUN(norm_params),
};
