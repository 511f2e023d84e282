/* st_equal.h - deep equality of two dsv4_st values, shared by the fuzz
 * target and tests/test_safetensors.c (test-only, not part of the library). */
#ifndef DSV4_ST_EQUAL_H
#define DSV4_ST_EQUAL_H

#include "dsv4_io.h"

#include <string.h>

static inline int dsv4_test_tensor_equal(const dsv4_tensor *a, const dsv4_tensor *b) {
    if (strcmp(a->name, b->name) != 0 || a->dtype != b->dtype || a->rank != b->rank ||
        a->nbytes != b->nbytes)
        return 0;
    for (int d = 0; d < a->rank; d++)
        if (a->shape[d] != b->shape[d]) return 0;
    return a->nbytes == 0 || memcmp(a->data, b->data, a->nbytes) == 0;
}

/* 1 when a and b hold the same tensors and metadata, in the same order. */
static inline int dsv4_test_st_equal(const dsv4_st *a, const dsv4_st *b) {
    if (a->n_tensors != b->n_tensors || a->n_meta != b->n_meta) return 0;
    for (size_t i = 0; i < a->n_tensors; i++)
        if (!dsv4_test_tensor_equal(&a->tensors[i], &b->tensors[i])) return 0;
    for (size_t i = 0; i < a->n_meta; i++)
        if (strcmp(a->meta[i].key, b->meta[i].key) != 0 ||
            strcmp(a->meta[i].value, b->meta[i].value) != 0)
            return 0;
    return 1;
}

#endif
