/* kernels.h - the one kernel selector of opt/ (not installed).
 *
 * Each operator family has a table type listing its kernels (formats_kernels.h,
 * mhc_kernels.h, gemm_kernels.h, adamw_kernels.h, elementary_kernels.h,
 * sparse_attn_kernels.h), with
 * one instance per ISA.
 * dsv4_kernels gathers the instances of one ISA, and dsv4_kernels_for(isa)
 * (opt/kernels.c) is the only place that maps an ISA to them: every entry
 * point of opt/ fetches its table through dsv4_kernels_for(dsv4_isa_active()).
 * The tests walk every supported ISA through dsv4_isa_set(), so a kernel added
 * to a table is checked against ref at once. */
#ifndef DSV4_KERNELS_H
#define DSV4_KERNELS_H

#include "adamw_kernels.h"
#include "elementary_kernels.h"
#include "formats_kernels.h"
#include "gemm_kernels.h"
#include "mhc_kernels.h"
#include "sparse_attn_kernels.h"

typedef struct dsv4_kernels {
    const dsv4_fmt_kernels *formats;
    const dsv4_mhc_kernels *mhc;
    const dsv4_gemm_kernels *gemm;
    const dsv4_adamw_kernels *adamw;
    const dsv4_elementary_kernels *elementary;
    const dsv4_attn_kernels *attn;
} dsv4_kernels;

/* The tables of an ISA; the scalar ones for a value this build has no
 * kernels for. */
const dsv4_kernels *dsv4_kernels_for(dsv4_isa isa);

#endif
