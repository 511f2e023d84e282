/* norm.h - the RMSNorm operator of the oracle ("rms_norm"; spec/norm.md),
 * in norm.c: the exact stages, the cases, the self test against the worked
 * values of spec/norm.md §5. */
#ifndef DSV4_ORACLE_NORM_H
#define DSV4_ORACLE_NORM_H

#include "golden_io.h"

extern const og_op og_op_rms_norm;

#endif
