/* hadamard.h - the Hadamard operator of the oracle ("hadamard";
 * spec/hadamard.md), in hadamard.c: the exact transform, its cases, the
 * self test against the worked values of spec/hadamard.md §5. */
#ifndef DSV4_ORACLE_HADAMARD_H
#define DSV4_ORACLE_HADAMARD_H

#include "golden_io.h"

extern const og_op og_op_hadamard;

#endif
