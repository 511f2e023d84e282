/* muon.c - optimized Newton-Schulz and Muon: ref/muon.c's driver with the
 * optimized SGEMM.  The matrix products are where all the time goes; the
 * element-wise steps are shared with ref, so opt differs from ref only
 * through its SGEMM (FMA, blocking), and not at all with the thread count. */
#include "opt.h"

dsv4_status dsv4_opt_newton_schulz(const dsv4_ns_cfg *cfg, size_t rows, size_t cols,
                                   const float *z, float *out, float *steps_out) {
    if (dsv4_isa_status() != DSV4_OK) return DSV4_E_ISA;
    return dsv4_newton_schulz_with(dsv4_opt_sgemm, cfg, rows, cols, z, out, steps_out);
}

dsv4_status dsv4_opt_muon_step(const dsv4_muon_cfg *cfg, size_t n_mats, size_t rows,
                               size_t cols, const float *g, float *w, float *m, float *ns_out) {
    if (dsv4_isa_status() != DSV4_OK) return DSV4_E_ISA;
    return dsv4_muon_step_with(dsv4_opt_sgemm, cfg, n_mats, rows, cols, g, w, m, ns_out);
}

dsv4_status dsv4_opt_ns_iterate(const dsv4_ns_cfg *cfg, size_t rows, size_t cols,
                                const float *x0, float *out, float *steps_out) {
    if (dsv4_isa_status() != DSV4_OK) return DSV4_E_ISA;
    return dsv4_ns_iterate_with(dsv4_opt_sgemm, cfg, rows, cols, x0, out, steps_out);
}
