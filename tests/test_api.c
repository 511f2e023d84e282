/* test_api.c - the conventions of the public header itself: the version
 * (macros, dsv4_version(), the pkg-config file the Makefile writes) and the
 * presets, whose designated initializers must give the values the header's
 * comments and the specs state. */
#include "dsv4.h"

#include <criterion/criterion.h>
#include <stdio.h>
#include <string.h>

#ifndef DSV4_BUILD_DIR
#define DSV4_BUILD_DIR "build"
#endif

#define STR_(x) #x
#define STR(x) STR_(x)

Test(version, library_header_and_macros_agree) {
    cr_assert_str_eq(dsv4_version(), DSV4_VERSION_STRING);
    cr_assert_str_eq(DSV4_VERSION_STRING,
                     STR(DSV4_VERSION_MAJOR) "." STR(DSV4_VERSION_MINOR) "." STR(DSV4_VERSION_PATCH));
}

/* The Makefile takes the version of dsv4.pc from dsv4.h. */
Test(version, pkg_config_file) {
    const char *path = DSV4_BUILD_DIR "/dsv4.pc";
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f, "%s is missing (make test-build writes it); run from the repository root",
                       path);
    char line[256], version[64] = "";
    while (fgets(line, sizeof line, f))
        if (sscanf(line, "Version: %63s", version) == 1) break;
    fclose(f);
    cr_assert_str_eq(version, DSV4_VERSION_STRING, "%s", path);
}

Test(presets, quantizers) {
    const dsv4_quant_cfg q[4] = {DSV4_QUANT_FP4_ACT, DSV4_QUANT_FP8_ACT, DSV4_QUANT_FP8_KV,
                                 DSV4_QUANT_FP8_WEIGHT};
    const dsv4_fmt fmt[4] = {DSV4_FMT_E2M1, DSV4_FMT_E4M3, DSV4_FMT_E4M3, DSV4_FMT_E4M3};
    const size_t br[4] = {1, 1, 1, 128}, bc[4] = {32, 128, 64, 128};
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(q[i].fmt, fmt[i], "preset %d", i);
        cr_assert_eq(q[i].block_rows, br[i], "preset %d", i);
        cr_assert_eq(q[i].block_cols, bc[i], "preset %d", i);
        cr_assert_eq(q[i].rule, DSV4_SCALE_RCEIL, "preset %d", i);
    }
}

Test(presets, mhc_sinkhorn_newton_schulz) {
    const dsv4_mhc_cfg flash = DSV4_MHC_V4_FLASH, pro = DSV4_MHC_V4_PRO;
    cr_assert(flash.hc == 4 && flash.d == 4096 && flash.sinkhorn_iters == 20);
    cr_assert(flash.hc_eps == 1e-6f && flash.norm_eps == 1e-6f);
    cr_assert(pro.hc == 4 && pro.d == 7168 && pro.sinkhorn_iters == 20);
    cr_assert(pro.hc_eps == 1e-6f && pro.norm_eps == 1e-6f);
    const dsv4_sinkhorn_cfg sk = DSV4_SINKHORN_V4;
    cr_assert(sk.n == flash.hc && sk.iters == flash.sinkhorn_iters && sk.eps == flash.hc_eps);
    const dsv4_ns_cfg ns = DSV4_NS_V4;
    cr_assert(ns.steps == 10 && ns.coef == dsv4_ns_v4_coef && ns.eps == 1e-7f);
    cr_assert_eq(ns.eps_form, DSV4_NS_EPS_ADD);
}
