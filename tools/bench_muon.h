/* bench_muon.h - optimizer rows of `dsv4 bench` (tools/bench_muon.c). */
#ifndef DSV4_BENCH_MUON_H
#define DSV4_BENCH_MUON_H

#include "machine.h"

#include <stdio.h>

/* Prints the rows; returns the number of rows that failed to run. */
int dsv4_bench_muon(const dsv4_machine *m, int quick, FILE *out);

#endif
