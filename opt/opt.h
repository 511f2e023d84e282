/* opt.h - kernel tables of the optimized path (not installed).
 *
 * Each operator family has one table type listing its kernels; each ISA file
 * (foo_avx2.c, foo_avx512.c) defines one instance, and opt/foo.c picks the
 * instance for dsv4_isa_active().  The tests walk every supported ISA through
 * dsv4_isa_set(), so a kernel added to a table is tested against ref at once. */
#ifndef DSV4_OPT_H
#define DSV4_OPT_H

#include "internal.h"

#endif
