/* safetensors.c - reader and writer of safetensors files (include/dsv4_io.h).
 *
 * Layout of a file (huggingface/safetensors):
 *   bytes [0, 8)        N, the header length, little-endian uint64
 *   bytes [8, 8+N)      a UTF-8 JSON object, possibly padded with spaces:
 *                       {"__metadata__": {"key": "value", ...},      (optional)
 *                        "name": {"dtype": "F32", "shape": [2, 3],
 *                                 "data_offsets": [BEGIN, END]}, ...}
 *   bytes [8+N, len)    the data buffer; tensor bytes are [BEGIN, END) in it.
 *
 * The reader is strict: the data buffer must be covered exactly by the
 * tensors (no overlap, no hole, no trailing bytes), each range must hold
 * exactly numel * dtype_size bytes, and each entry must have exactly the
 * three fields above.  Parsed tensors come out in data order (by BEGIN; empty
 * tensors at the same offset keep header order), so serializing a parsed file
 * keeps its data bytes as they were.  Every tensor's data is copied into its
 * own buffer: the result never points into the caller's input. */
#include "dsv4_io.h"
#include "json.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The largest header accepted, as in the reference implementation: a bound
 * on the work a hostile file can ask for before any data is read. */
#define ST_MAX_HEADER 100000000u
#define ST_META_KEY "__metadata__"

/* Writes a reason into err[errlen] when the caller gave a buffer. */
static dsv4_status fail(dsv4_status s, char *err, size_t errlen, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;
static dsv4_status fail(dsv4_status s, char *err, size_t errlen, const char *fmt, ...) {
    if (err && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return s;
}

/* ======================================================================== */
/* dtypes and sizes                                                          */
/* ======================================================================== */

static const struct {
    const char *name;
    size_t size; /* bytes per element */
} dtype_info[DSV4_DT_COUNT] = {
    [DSV4_DT_F32] = {"F32", 4}, [DSV4_DT_F64] = {"F64", 8}, [DSV4_DT_BF16] = {"BF16", 2},
    [DSV4_DT_U8] = {"U8", 1},   [DSV4_DT_U16] = {"U16", 2}, [DSV4_DT_I32] = {"I32", 4},
};

static int dtype_valid(dsv4_dtype dt) { return (unsigned)dt < DSV4_DT_COUNT; }

const char *dsv4_dtype_name(dsv4_dtype dt) { return dtype_valid(dt) ? dtype_info[dt].name : "?"; }

size_t dsv4_dtype_size(dsv4_dtype dt) { return dtype_valid(dt) ? dtype_info[dt].size : 0; }

/* DSV4_DT_COUNT when `name` is not a supported dtype. */
static dsv4_dtype dtype_from_name(const char *name) {
    for (int i = 0; i < DSV4_DT_COUNT; i++)
        if (strcmp(name, dtype_info[i].name) == 0) return (dsv4_dtype)i;
    return DSV4_DT_COUNT;
}

/* first * shape[0] * ... * shape[rank-1] into *out; 0 on overflow.  A zero
 * extent makes the product 0 whatever the other extents are, so [2^32, 2^32, 0]
 * is an empty tensor, not an overflow. */
static int shape_product(size_t first, int rank, const size_t *shape, size_t *out) {
    size_t n = first;
    for (int i = 0; i < rank; i++) {
        if (shape[i] == 0) {
            *out = 0;
            return 1;
        }
    }
    for (int i = 0; i < rank; i++) { /* no zero left: the division is defined */
        if (n > SIZE_MAX / shape[i]) return 0;
        n *= shape[i];
    }
    *out = n;
    return 1;
}

/* Bytes of a [shape[0], ..., shape[rank-1]] tensor of dt; 0 on overflow. */
static int tensor_bytes(dsv4_dtype dt, int rank, const size_t *shape, size_t *nbytes) {
    return shape_product(dsv4_dtype_size(dt), rank, shape, nbytes);
}

size_t dsv4_tensor_numel(const dsv4_tensor *t) {
    size_t n;
    if (!t || t->rank < 0 || t->rank > DSV4_MAX_RANK) return 0;
    if (!shape_product(1, t->rank, t->shape, &n)) return SIZE_MAX; /* never for a valid tensor */
    return n;
}

/* A tensor or metadata name the writer can store and the reader will accept:
 * non-empty, valid UTF-8, and not the reserved metadata key. */
static int tensor_name_ok(const char *name) {
    size_t n = strlen(name);
    return n > 0 && strcmp(name, ST_META_KEY) != 0 && dsv4_utf8_valid(name, n);
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* DSV4_E_ARG when two of names[n] are equal (sorts a copy: n log n). */
static dsv4_status check_unique(const char **names, size_t n) {
    const char **sorted;
    dsv4_status s = DSV4_OK;
    if (n < 2) return DSV4_OK;
    sorted = malloc(n * sizeof *sorted);
    if (!sorted) return DSV4_E_NOMEM;
    memcpy(sorted, names, n * sizeof *sorted);
    qsort(sorted, n, sizeof *sorted, compare_strings);
    for (size_t i = 1; i < n; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0) s = DSV4_E_ARG;
    free(sorted);
    return s;
}

static char *dup_string(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

/* ======================================================================== */
/* Lookups, builders, free                                                   */
/* ======================================================================== */

void dsv4_st_free(dsv4_st *st) {
    if (!st) return;
    for (size_t i = 0; i < st->n_tensors; i++) {
        free(st->tensors[i].name);
        free(st->tensors[i].data);
    }
    for (size_t i = 0; i < st->n_meta; i++) {
        free(st->meta[i].key);
        free(st->meta[i].value);
    }
    free(st->tensors);
    free(st->meta);
    memset(st, 0, sizeof *st);
}

const dsv4_tensor *dsv4_st_find(const dsv4_st *st, const char *name) {
    if (!st || !name) return NULL;
    for (size_t i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

const char *dsv4_st_meta(const dsv4_st *st, const char *key) {
    if (!st || !key) return NULL;
    for (size_t i = 0; i < st->n_meta; i++)
        if (strcmp(st->meta[i].key, key) == 0) return st->meta[i].value;
    return NULL;
}

/* Appends a tensor that owns `name` and `data` (both malloc'ed). */
static dsv4_status append_tensor(dsv4_st *st, const dsv4_tensor *t) {
    dsv4_tensor *grown;
    if (st->n_tensors >= SIZE_MAX / sizeof *grown - 1) return DSV4_E_OVERFLOW;
    grown = realloc(st->tensors, (st->n_tensors + 1) * sizeof *grown);
    if (!grown) return DSV4_E_NOMEM;
    st->tensors = grown;
    st->tensors[st->n_tensors++] = *t;
    return DSV4_OK;
}

/* A malloc'ed copy of n bytes (never NULL on success, even for n == 0, so
 * callers can always pass t->data to memcpy/memcmp). */
static void *dup_bytes(const void *src, size_t n) {
    void *d = malloc(n > 0 ? n : 1);
    if (d && n > 0) memcpy(d, src, n);
    return d;
}

dsv4_status dsv4_st_add(dsv4_st *st, const char *name, dsv4_dtype dt, int rank,
                        const size_t *shape, const void *data) {
    dsv4_tensor t;
    dsv4_status s;
    if (!st || !name) return DSV4_E_NULL;
    if (!dtype_valid(dt) || rank < 0 || rank > DSV4_MAX_RANK) return DSV4_E_ARG;
    if (rank > 0 && !shape) return DSV4_E_NULL;
    if (!tensor_name_ok(name) || dsv4_st_find(st, name)) return DSV4_E_ARG;
    memset(&t, 0, sizeof t);
    t.dtype = dt;
    t.rank = rank;
    for (int i = 0; i < rank; i++) t.shape[i] = shape[i];
    if (!tensor_bytes(dt, rank, t.shape, &t.nbytes)) return DSV4_E_OVERFLOW;
    if (t.nbytes > 0 && !data) return DSV4_E_NULL;
    t.name = dup_string(name);
    t.data = dup_bytes(data, t.nbytes);
    s = t.name && t.data ? append_tensor(st, &t) : DSV4_E_NOMEM;
    if (s != DSV4_OK) {
        free(t.name);
        free(t.data);
    }
    return s;
}

dsv4_status dsv4_st_set_meta(dsv4_st *st, const char *key, const char *value) {
    dsv4_meta *grown;
    char *v;
    if (!st || !key || !value) return DSV4_E_NULL;
    if (!dsv4_utf8_valid(key, strlen(key)) || !dsv4_utf8_valid(value, strlen(value)))
        return DSV4_E_ARG;
    v = dup_string(value);
    if (!v) return DSV4_E_NOMEM;
    for (size_t i = 0; i < st->n_meta; i++) {
        if (strcmp(st->meta[i].key, key) == 0) {
            free(st->meta[i].value);
            st->meta[i].value = v;
            return DSV4_OK;
        }
    }
    if (st->n_meta >= SIZE_MAX / sizeof *grown - 1) {
        free(v);
        return DSV4_E_OVERFLOW;
    }
    grown = realloc(st->meta, (st->n_meta + 1) * sizeof *grown);
    if (!grown) {
        free(v);
        return DSV4_E_NOMEM;
    }
    st->meta = grown;
    st->meta[st->n_meta].key = dup_string(key);
    if (!st->meta[st->n_meta].key) {
        free(v);
        return DSV4_E_NOMEM;
    }
    st->meta[st->n_meta].value = v;
    st->n_meta++;
    return DSV4_OK;
}

/* ======================================================================== */
/* Reader                                                                    */
/* ======================================================================== */

/* One tensor entry of the header, checked but not yet copied. */
typedef struct st_entry {
    const char *name; /* points into the JSON tree */
    dsv4_dtype dtype;
    int rank;
    size_t shape[DSV4_MAX_RANK];
    size_t begin, end; /* [begin, end) in the data buffer */
    size_t order;      /* position in the header, to keep sorting stable */
} st_entry;

/* An exact non-negative integer that fits size_t. */
static int json_size(const dsv4_json *v, size_t *out) {
    if (v->type != DSV4_JSON_NUMBER || !v->is_uint || v->u > SIZE_MAX) return 0;
    *out = (size_t)v->u;
    return 1;
}

/* Reads the 8-byte length and bounds the header: sets *hlen. */
static dsv4_status check_prefix(const uint8_t *buf, size_t len, size_t *hlen, char *err,
                                size_t errlen) {
    uint64_t n = 0;
    if (len < 8)
        return fail(DSV4_E_FORMAT, err, errlen,
                    "file is %zu bytes, shorter than the 8-byte header length", len);
    for (int i = 7; i >= 0; i--) n = (n << 8) | buf[i];
    if (n > ST_MAX_HEADER)
        return fail(DSV4_E_FORMAT, err, errlen,
                    "header length %llu exceeds the limit of %u bytes", (unsigned long long)n,
                    ST_MAX_HEADER);
    if (n > len - 8)
        return fail(DSV4_E_FORMAT, err, errlen,
                    "header length %llu is past the end of the file (%zu bytes after the length)",
                    (unsigned long long)n, len - 8);
    if (n == 0 || buf[8] != '{')
        return fail(DSV4_E_FORMAT, err, errlen, "header does not start with '{'");
    if (!dsv4_utf8_valid((const char *)buf + 8, (size_t)n))
        return fail(DSV4_E_FORMAT, err, errlen, "header is not valid UTF-8");
    *hlen = (size_t)n;
    return DSV4_OK;
}

static dsv4_status check_dtype(const dsv4_json *v, st_entry *e, char *err, size_t errlen) {
    if (!v || v->type != DSV4_JSON_STRING)
        return fail(DSV4_E_FORMAT, err, errlen, "tensor \"%.80s\": dtype is not a string", e->name);
    e->dtype = dtype_from_name(v->string);
    if (e->dtype == DSV4_DT_COUNT)
        return fail(DSV4_E_FORMAT, err, errlen,
                    "tensor \"%.80s\": unsupported dtype %.32s (F32, F64, BF16, U8, U16, I32 are)",
                    e->name, v->string);
    return DSV4_OK;
}

static dsv4_status check_shape(const dsv4_json *v, st_entry *e, char *err, size_t errlen) {
    if (!v || v->type != DSV4_JSON_ARRAY)
        return fail(DSV4_E_FORMAT, err, errlen, "tensor \"%.80s\": shape is not an array", e->name);
    if (v->n > DSV4_MAX_RANK)
        return fail(DSV4_E_FORMAT, err, errlen, "tensor \"%.80s\": rank %zu exceeds %d", e->name,
                    v->n, DSV4_MAX_RANK);
    e->rank = (int)v->n;
    for (size_t i = 0; i < v->n; i++)
        if (!json_size(&v->items[i], &e->shape[i]))
            return fail(DSV4_E_FORMAT, err, errlen,
                        "tensor \"%.80s\": shape entry %zu is not a non-negative integer",
                        e->name, i);
    return DSV4_OK;
}

/* Checks data_offsets against the buffer size and the tensor's byte count. */
static dsv4_status check_offsets(const dsv4_json *v, st_entry *e, size_t data_len, char *err,
                                 size_t errlen) {
    size_t nbytes;
    if (!v || v->type != DSV4_JSON_ARRAY || v->n != 2 || !json_size(&v->items[0], &e->begin) ||
        !json_size(&v->items[1], &e->end))
        return fail(DSV4_E_FORMAT, err, errlen,
                    "tensor \"%.80s\": data_offsets is not two non-negative integers", e->name);
    if (e->begin > e->end)
        return fail(DSV4_E_FORMAT, err, errlen,
                    "tensor \"%.80s\": data_offsets begin %zu is after end %zu", e->name,
                    e->begin, e->end);
    if (e->end > data_len)
        return fail(DSV4_E_FORMAT, err, errlen,
                    "tensor \"%.80s\": data_offsets end %zu is past the data buffer (%zu bytes)",
                    e->name, e->end, data_len);
    if (!tensor_bytes(e->dtype, e->rank, e->shape, &nbytes))
        return fail(DSV4_E_FORMAT, err, errlen, "tensor \"%.80s\": byte size of shape overflows",
                    e->name);
    if (nbytes != e->end - e->begin)
        return fail(DSV4_E_FORMAT, err, errlen,
                    "tensor \"%.80s\": data_offsets span %zu bytes but dtype and shape need %zu",
                    e->name, e->end - e->begin, nbytes);
    return DSV4_OK;
}

/* Checks one tensor entry: an object with exactly dtype, shape, data_offsets. */
static dsv4_status check_entry(const char *name, const dsv4_json *v, size_t data_len,
                               st_entry *e, char *err, size_t errlen) {
    dsv4_status s;
    e->name = name;
    if (name[0] == '\0') return fail(DSV4_E_FORMAT, err, errlen, "tensor with an empty name");
    if (v->type != DSV4_JSON_OBJECT)
        return fail(DSV4_E_FORMAT, err, errlen, "tensor \"%.80s\": entry is not an object", name);
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->keys[i], "dtype") != 0 && strcmp(v->keys[i], "shape") != 0 &&
            strcmp(v->keys[i], "data_offsets") != 0)
            return fail(DSV4_E_FORMAT, err, errlen, "tensor \"%.80s\": unexpected field \"%.40s\"",
                        name, v->keys[i]);
    if (v->n != 3) /* no extras and no duplicates, so a count below 3 means one is missing */
        return fail(DSV4_E_FORMAT, err, errlen,
                    "tensor \"%.80s\": needs the fields dtype, shape and data_offsets", name);
    s = check_dtype(dsv4_json_get(v, "dtype"), e, err, errlen);
    if (s == DSV4_OK) s = check_shape(dsv4_json_get(v, "shape"), e, err, errlen);
    if (s == DSV4_OK) s = check_offsets(dsv4_json_get(v, "data_offsets"), e, data_len, err, errlen);
    return s;
}

static dsv4_status check_meta(const dsv4_json *v, char *err, size_t errlen) {
    if (v->type != DSV4_JSON_OBJECT)
        return fail(DSV4_E_FORMAT, err, errlen, "__metadata__ is not an object");
    for (size_t i = 0; i < v->n; i++)
        if (v->items[i].type != DSV4_JSON_STRING)
            return fail(DSV4_E_FORMAT, err, errlen, "__metadata__ value of \"%.80s\" is not a string",
                        v->keys[i]);
    return DSV4_OK;
}

static int compare_entries(const void *pa, const void *pb) {
    const st_entry *a = pa, *b = pb;
    if (a->begin != b->begin) return a->begin < b->begin ? -1 : 1;
    if (a->end != b->end) return a->end < b->end ? -1 : 1;
    return a->order < b->order ? -1 : a->order > b->order;
}

/* Sorts entries[n] by offset and checks that they tile [0, data_len) exactly,
 * as the safetensors format requires. */
static dsv4_status check_layout(st_entry *entries, size_t n, size_t data_len, char *err,
                                size_t errlen) {
    size_t covered = 0; /* the data buffer [0, covered) is accounted for */
    qsort(entries, n, sizeof *entries, compare_entries);
    for (size_t i = 0; i < n; i++) {
        if (entries[i].begin < covered)
            return fail(DSV4_E_FORMAT, err, errlen,
                        "tensor \"%.80s\": bytes [%zu, %zu) overlap the previous tensor",
                        entries[i].name, entries[i].begin, entries[i].end);
        if (entries[i].begin > covered)
            return fail(DSV4_E_FORMAT, err, errlen,
                        "hole in the data buffer: bytes [%zu, %zu) belong to no tensor", covered,
                        entries[i].begin);
        covered = entries[i].end;
    }
    if (covered != data_len)
        return fail(DSV4_E_FORMAT, err, errlen,
                    "%zu trailing bytes after the last tensor in the data buffer",
                    data_len - covered);
    return DSV4_OK;
}

/* Copies the checked entries (in their sorted order) and metadata into out. */
static dsv4_status copy_out(const st_entry *entries, size_t n, const uint8_t *data,
                            const dsv4_json *meta, dsv4_st *out) {
    if (n > 0) {
        out->tensors = calloc(n, sizeof *out->tensors);
        if (!out->tensors) return DSV4_E_NOMEM;
    }
    for (size_t i = 0; i < n; i++) {
        dsv4_tensor *t = &out->tensors[i];
        const st_entry *e = &entries[i];
        out->n_tensors = i + 1; /* so that dsv4_st_free cleans up a partial copy */
        t->dtype = e->dtype;
        t->rank = e->rank;
        memcpy(t->shape, e->shape, sizeof t->shape);
        t->nbytes = e->end - e->begin;
        t->name = dup_string(e->name);
        t->data = dup_bytes(data + e->begin, t->nbytes);
        if (!t->name || !t->data) return DSV4_E_NOMEM;
    }
    /* Keys are already known unique, so copy directly rather than through
     * dsv4_st_set_meta, whose lookup would make this quadratic. */
    if (meta && meta->n > 0) {
        out->meta = calloc(meta->n, sizeof *out->meta);
        if (!out->meta) return DSV4_E_NOMEM;
    }
    for (size_t i = 0; meta && i < meta->n; i++) {
        out->n_meta = i + 1;
        out->meta[i].key = dup_string(meta->keys[i]);
        out->meta[i].value = dup_string(meta->items[i].string);
        if (!out->meta[i].key || !out->meta[i].value) return DSV4_E_NOMEM;
    }
    return DSV4_OK;
}

dsv4_status dsv4_st_parse(const uint8_t *buf, size_t len, dsv4_st *out, char *err,
                          size_t errlen) {
    size_t hlen = 0, data_len, n_entries = 0;
    dsv4_json *root = NULL;
    const dsv4_json *meta = NULL;
    st_entry *entries = NULL;
    dsv4_status s;
    if (err && errlen > 0) err[0] = '\0';
    if (!out) return DSV4_E_NULL;
    memset(out, 0, sizeof *out);
    if (!buf && len > 0) return DSV4_E_NULL;
    s = check_prefix(buf, len, &hlen, err, errlen);
    if (s != DSV4_OK) return s;
    data_len = len - 8 - hlen;
    s = dsv4_json_parse((const char *)buf + 8, hlen, &root, err, errlen);
    if (s != DSV4_OK) return s;
    if (root->type != DSV4_JSON_OBJECT) {
        s = fail(DSV4_E_FORMAT, err, errlen, "header is not a JSON object");
        goto done;
    }
    entries = calloc(root->n > 0 ? root->n : 1, sizeof *entries);
    if (!entries) {
        s = DSV4_E_NOMEM;
        goto done;
    }
    for (size_t i = 0; i < root->n && s == DSV4_OK; i++) {
        if (strcmp(root->keys[i], ST_META_KEY) == 0) {
            meta = &root->items[i];
            s = check_meta(meta, err, errlen);
        } else {
            entries[n_entries].order = n_entries;
            s = check_entry(root->keys[i], &root->items[i], data_len, &entries[n_entries], err,
                            errlen);
            n_entries++;
        }
    }
    if (s == DSV4_OK) s = check_layout(entries, n_entries, data_len, err, errlen);
    if (s == DSV4_OK) s = copy_out(entries, n_entries, buf + 8 + hlen, meta, out);
done:
    if (s == DSV4_E_NOMEM) fail(s, err, errlen, "out of memory");
    if (s != DSV4_OK) dsv4_st_free(out);
    free(entries);
    dsv4_json_free(root);
    return s;
}

/* Reads all of f into a malloc'ed buffer, growing it as needed (works for
 * pipes too, where the size is not known up front). */
static dsv4_status read_all(FILE *f, uint8_t **buf, size_t *len) {
    size_t cap = 1 << 16, n = 0;
    uint8_t *b = malloc(cap);
    if (!b) return DSV4_E_NOMEM;
    for (;;) {
        n += fread(b + n, 1, cap - n, f);
        if (n < cap) break;
        uint8_t *grown = cap <= SIZE_MAX / 2 ? realloc(b, cap * 2) : NULL;
        if (!grown) {
            free(b);
            return DSV4_E_NOMEM;
        }
        b = grown;
        cap *= 2;
    }
    if (ferror(f)) {
        free(b);
        return DSV4_E_IO;
    }
    *buf = b;
    *len = n;
    return DSV4_OK;
}

dsv4_status dsv4_st_read(const char *path, dsv4_st *out, char *err, size_t errlen) {
    FILE *f;
    uint8_t *buf = NULL;
    size_t len = 0;
    int read_errno;
    dsv4_status s;
    if (err && errlen > 0) err[0] = '\0';
    if (!out) return DSV4_E_NULL;
    memset(out, 0, sizeof *out);
    if (!path) return DSV4_E_NULL;
    errno = 0;
    f = fopen(path, "rb");
    if (!f)
        return fail(DSV4_E_IO, err, errlen, "cannot open %.200s: %s", path,
                    errno ? strerror(errno) : "unknown error");
    errno = 0;
    s = read_all(f, &buf, &len);
    read_errno = errno; /* before fclose can change it */
    fclose(f);
    if (s != DSV4_OK)
        return fail(s, err, errlen, "cannot read %.200s: %s", path,
                    s == DSV4_E_NOMEM ? "out of memory"
                                      : read_errno ? strerror(read_errno) : "read error");
    s = dsv4_st_parse(buf, len, out, err, errlen);
    free(buf);
    return s;
}

/* ======================================================================== */
/* Writer                                                                    */
/* ======================================================================== */

/* Checks that st can be written as a file the reader accepts. */
static dsv4_status check_writable(const dsv4_st *st) {
    const char **names;
    dsv4_status s;
    size_t n = st->n_tensors > st->n_meta ? st->n_tensors : st->n_meta;
    if ((st->n_tensors > 0 && !st->tensors) || (st->n_meta > 0 && !st->meta)) return DSV4_E_NULL;
    for (size_t i = 0; i < st->n_tensors; i++) {
        const dsv4_tensor *t = &st->tensors[i];
        size_t nbytes;
        if (!t->name) return DSV4_E_NULL;
        if (!tensor_name_ok(t->name) || !dtype_valid(t->dtype) || t->rank < 0 ||
            t->rank > DSV4_MAX_RANK)
            return DSV4_E_ARG;
        if (!tensor_bytes(t->dtype, t->rank, t->shape, &nbytes)) return DSV4_E_OVERFLOW;
        if (nbytes != t->nbytes) return DSV4_E_SIZE;
        if (nbytes > 0 && !t->data) return DSV4_E_NULL;
    }
    for (size_t i = 0; i < st->n_meta; i++) {
        const dsv4_meta *m = &st->meta[i];
        if (!m->key || !m->value) return DSV4_E_NULL;
        if (!dsv4_utf8_valid(m->key, strlen(m->key)) ||
            !dsv4_utf8_valid(m->value, strlen(m->value)))
            return DSV4_E_ARG;
    }
    if (n < 2) return DSV4_OK;
    names = malloc(n * sizeof *names);
    if (!names) return DSV4_E_NOMEM;
    for (size_t i = 0; i < st->n_tensors; i++) names[i] = st->tensors[i].name;
    s = check_unique(names, st->n_tensors);
    for (size_t i = 0; i < st->n_meta; i++) names[i] = st->meta[i].key;
    if (s == DSV4_OK) s = check_unique(names, st->n_meta);
    free(names);
    return s;
}

/* The JSON header, unpadded: metadata first, then tensors in stored order
 * with contiguous offsets from 0.  *data_len gets the data buffer size. */
static dsv4_status build_header(const dsv4_st *st, dsv4_sbuf *h, size_t *data_len) {
    size_t offset = 0;
    dsv4_sbuf_puts(h, "{");
    if (st->n_meta > 0) {
        dsv4_sbuf_puts(h, "\"" ST_META_KEY "\":{");
        for (size_t i = 0; i < st->n_meta; i++) {
            if (i > 0) dsv4_sbuf_puts(h, ",");
            dsv4_sbuf_json_string(h, st->meta[i].key);
            dsv4_sbuf_puts(h, ":");
            dsv4_sbuf_json_string(h, st->meta[i].value);
        }
        dsv4_sbuf_puts(h, "}");
    }
    for (size_t i = 0; i < st->n_tensors; i++) {
        const dsv4_tensor *t = &st->tensors[i];
        if (i > 0 || st->n_meta > 0) dsv4_sbuf_puts(h, ",");
        dsv4_sbuf_json_string(h, t->name);
        dsv4_sbuf_printf(h, ":{\"dtype\":\"%s\",\"shape\":[", dsv4_dtype_name(t->dtype));
        for (int d = 0; d < t->rank; d++) dsv4_sbuf_printf(h, d ? ",%zu" : "%zu", t->shape[d]);
        if (t->nbytes > SIZE_MAX - offset) return DSV4_E_OVERFLOW;
        dsv4_sbuf_printf(h, "],\"data_offsets\":[%zu,%zu]}", offset, offset + t->nbytes);
        offset += t->nbytes;
    }
    dsv4_sbuf_puts(h, "}");
    *data_len = offset;
    return h->oom ? DSV4_E_NOMEM : DSV4_OK;
}

dsv4_status dsv4_st_serialize(const dsv4_st *st, uint8_t **buf, size_t *len) {
    dsv4_sbuf h = {NULL, 0, 0, 0};
    size_t data_len = 0, padded, total, at;
    uint8_t *b;
    dsv4_status s;
    if (!st || !buf || !len) return DSV4_E_NULL;
    *buf = NULL;
    *len = 0;
    s = check_writable(st);
    if (s == DSV4_OK) s = build_header(st, &h, &data_len);
    if (s != DSV4_OK) {
        dsv4_sbuf_free(&h);
        return s;
    }
    /* Pad with spaces so that the data starts at a multiple of 8 (8 + padded). */
    padded = h.len + (8 - h.len % 8) % 8;
    if (padded > ST_MAX_HEADER || data_len > SIZE_MAX - 8 - padded) {
        dsv4_sbuf_free(&h);
        return DSV4_E_OVERFLOW;
    }
    total = 8 + padded + data_len;
    b = malloc(total);
    if (!b) {
        dsv4_sbuf_free(&h);
        return DSV4_E_NOMEM;
    }
    for (int i = 0; i < 8; i++) b[i] = (uint8_t)((uint64_t)padded >> (8 * i));
    memcpy(b + 8, h.buf, h.len);
    memset(b + 8 + h.len, ' ', padded - h.len);
    at = 8 + padded;
    for (size_t i = 0; i < st->n_tensors; i++) {
        if (st->tensors[i].nbytes > 0) memcpy(b + at, st->tensors[i].data, st->tensors[i].nbytes);
        at += st->tensors[i].nbytes;
    }
    dsv4_sbuf_free(&h);
    *buf = b;
    *len = total;
    return DSV4_OK;
}

dsv4_status dsv4_st_write(const char *path, const dsv4_st *st) {
    uint8_t *buf;
    size_t len;
    FILE *f;
    int ok;
    dsv4_status s;
    if (!path) return DSV4_E_NULL;
    s = dsv4_st_serialize(st, &buf, &len);
    if (s != DSV4_OK) return s;
    f = fopen(path, "wb");
    if (!f) {
        free(buf);
        return DSV4_E_IO;
    }
    ok = fwrite(buf, 1, len, f) == len;
    ok = (fclose(f) == 0) && ok;
    free(buf);
    if (!ok) {
        remove(path); /* do not leave a truncated file behind */
        return DSV4_E_IO;
    }
    return DSV4_OK;
}
