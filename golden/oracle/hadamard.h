/* hadamard.h - the Hadamard operator of the oracle ("hadamard";
 * spec/hadamard.md), in hadamard.c: the exact transform, its cases, the
 * self test against the worked values of spec/hadamard.md §5. */
#ifndef DSV4_ORACLE_HADAMARD_H
#define DSV4_ORACLE_HADAMARD_H

#include "golden_io.h"

/* One row x [n] (n a power of two, at most 2^15) -> y = bf16((1/sqrt(n)) H_n x)
 * exactly rounded, y_f32 (the exact value rounded to fp32) and y_tol (the
 * bound of spec/hadamard.md §4, 0 where the exact value is not a number);
 * shared with the compressor's oracle and the indexer's query heads
 * (spec/indexer.md I3). */
void oh_rotate_row(const uint32_t *x, size_t n, uint32_t *y, uint32_t *y_f32, uint32_t *y_tol);

extern const og_op og_op_hadamard;

#endif
