/* dsv4_io.h - the file side of dsv4: safetensors files (golden vectors,
 * candidates, the inputs and outputs of `dsv4 run`).  The numerics API is
 * dsv4.h; this header adds what a program needs to read and write the
 * project's files.  Implemented in io/, part of libdsv4. */
#ifndef DSV4_IO_H
#define DSV4_IO_H

#include "dsv4.h"

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------ */
/* safetensors files (golden vectors, candidates, dsv4 run)                  */
/* ------------------------------------------------------------------------ */
typedef enum dsv4_dtype {
    DSV4_DT_F32 = 0,
    DSV4_DT_F64,
    DSV4_DT_BF16, /* stored as raw 16-bit patterns */
    DSV4_DT_U8,
    DSV4_DT_U16,
    DSV4_DT_I32,
    DSV4_DT_COUNT
} dsv4_dtype;

#define DSV4_MAX_RANK 8

typedef struct dsv4_tensor {
    char *name;                  /* owned, NUL-terminated */
    dsv4_dtype dtype;
    int rank;                    /* 0..DSV4_MAX_RANK */
    size_t shape[DSV4_MAX_RANK];
    size_t nbytes;
    void *data;                  /* owned, nbytes long, little-endian */
} dsv4_tensor;

typedef struct dsv4_meta {
    char *key;   /* owned */
    char *value; /* owned */
} dsv4_meta;

typedef struct dsv4_st {
    size_t n_tensors;
    dsv4_tensor *tensors;
    size_t n_meta;
    dsv4_meta *meta;
} dsv4_st;

/* "F32", "F64", "BF16", "U8", "U16", "I32". */
DSV4_API const char *dsv4_dtype_name(dsv4_dtype dt);
DSV4_API size_t dsv4_dtype_size(dsv4_dtype dt);

/* Parse a whole file held in memory.  On failure *out is left empty and, if
 * err is not NULL, a reason of at most errlen bytes is written to it. */
DSV4_API dsv4_status dsv4_st_parse(const uint8_t *buf, size_t len, dsv4_st *out, char *err,
                                   size_t errlen);
DSV4_API dsv4_status dsv4_st_read(const char *path, dsv4_st *out, char *err, size_t errlen);
/* Serialize: header padded with spaces to a multiple of 8, tensors in the
 * order given, data packed without gaps.  *buf is malloc'ed. */
DSV4_API dsv4_status dsv4_st_serialize(const dsv4_st *st, uint8_t **buf, size_t *len);
DSV4_API dsv4_status dsv4_st_write(const char *path, const dsv4_st *st);
DSV4_API void dsv4_st_free(dsv4_st *st);
/* Lookups; NULL when absent. */
DSV4_API const dsv4_tensor *dsv4_st_find(const dsv4_st *st, const char *name);
DSV4_API const char *dsv4_st_meta(const dsv4_st *st, const char *key);
/* Builders: copy name/data in; shape has `rank` entries. */
DSV4_API dsv4_status dsv4_st_add(dsv4_st *st, const char *name, dsv4_dtype dt, int rank,
                                 const size_t *shape, const void *data);
DSV4_API dsv4_status dsv4_st_set_meta(dsv4_st *st, const char *key, const char *value);
/* Element count of a tensor (product of its shape; 1 for rank 0). */
DSV4_API size_t dsv4_tensor_numel(const dsv4_tensor *t);

#ifdef __cplusplus
}
#endif
#endif /* DSV4_IO_H */
