/* bench_attn.h - sparse attention rows of `dsv4 bench` (tools/bench_attn.c). */
#ifndef DSV4_BENCH_ATTN_H
#define DSV4_BENCH_ATTN_H

#include "machine.h"

#include <stdio.h>

/* Prints the rows; returns the number of rows that failed to run. */
int dsv4_bench_attn(const dsv4_machine *m, int quick, FILE *out);

#endif
