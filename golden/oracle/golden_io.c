/* golden_io.c - assemble and write golden files (spec/golden.md). */
#include "golden_io.h"

#include "exact.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void set_meta(og_file *f, const char *key, const char *value) {
    if (f->status != DSV4_OK) return;
    f->status = dsv4_st_set_meta(&f->st, key, value);
}

static char *dup_text(og_file *f, const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (!d) f->status = DSV4_E_NOMEM;
    else memcpy(d, s, n);
    return d;
}

void og_begin(og_file *f, const char *op, const char *case_name, const char *config_json,
              uint64_t seed, const char *description) {
    memset(f, 0, sizeof *f);
    char seed_text[32];
    snprintf(seed_text, sizeof seed_text, "%llu", (unsigned long long)seed);
    f->meta[0] = dup_text(f, op);
    f->meta[1] = dup_text(f, case_name);
    f->meta[2] = dup_text(f, config_json);
    f->meta[3] = dup_text(f, seed_text);
    f->meta[4] = dup_text(f, description);
    dsv4_sbuf_puts(&f->stages, "[");
}

/* Host integers -> little-endian bytes, whatever the host's byte order. */
static void store_le(uint8_t *out, dsv4_dtype dt, const void *data, size_t numel) {
    size_t width = dsv4_dtype_size(dt);
    for (size_t i = 0; i < numel; i++) {
        uint32_t w;
        if (width == 4) w = ((const uint32_t *)data)[i];
        else if (width == 2) w = ((const uint16_t *)data)[i];
        else w = ((const uint8_t *)data)[i];
        for (size_t b = 0; b < width; b++) out[i * width + b] = (uint8_t)(w >> (8 * b));
    }
}

void og_add(og_file *f, const char *name, dsv4_dtype dt, int rank, const size_t *shape,
            const void *data) {
    if (f->status != DSV4_OK) return;
    size_t width = dsv4_dtype_size(dt);
    if (width != 1 && width != 2 && width != 4) {
        f->status = DSV4_E_DTYPE; /* F64 is not produced by the oracle */
        return;
    }
    size_t numel = 1;
    for (int i = 0; i < rank; i++) numel *= shape[i];
    uint8_t *bytes = malloc(numel * width + 1);
    if (!bytes) {
        f->status = DSV4_E_NOMEM;
        return;
    }
    store_le(bytes, dt, data, numel);
    f->status = dsv4_st_add(&f->st, name, dt, rank, shape, bytes);
    free(bytes);
}

static void put_name_list(dsv4_sbuf *b, const char *const *names) {
    dsv4_sbuf_puts(b, "[");
    for (size_t i = 0; names[i]; i++) {
        if (i) dsv4_sbuf_puts(b, ",");
        dsv4_sbuf_json_string(b, names[i]);
    }
    dsv4_sbuf_puts(b, "]");
}

void og_stage(og_file *f, const char *name, const char *const *inputs,
              const char *const *outputs, const char *tolerance_json) {
    dsv4_sbuf *b = &f->stages;
    if (f->n_stages) dsv4_sbuf_puts(b, ",");
    dsv4_sbuf_puts(b, "{\"name\":");
    dsv4_sbuf_json_string(b, name);
    dsv4_sbuf_puts(b, ",\"inputs\":");
    put_name_list(b, inputs);
    dsv4_sbuf_puts(b, ",\"outputs\":");
    put_name_list(b, outputs);
    dsv4_sbuf_puts(b, ",\"tolerance\":");
    dsv4_sbuf_puts(b, tolerance_json);
    dsv4_sbuf_puts(b, "}");
    f->n_stages++;
}

/* The metadata is set here, in the order spec/golden.md lists the keys. */
dsv4_status og_write(og_file *f, const char *path) {
    dsv4_sbuf_puts(&f->stages, "]");
    if (f->stages.oom && f->status == DSV4_OK) f->status = DSV4_E_NOMEM;
    if (f->status != DSV4_OK) return f->status;
    set_meta(f, "dsv4_golden", "1");
    set_meta(f, "op", f->meta[0]);
    set_meta(f, "case", f->meta[1]);
    set_meta(f, "config", f->meta[2]);
    set_meta(f, "stages", f->stages.buf);
    set_meta(f, "oracle", ox_oracle_name());
    set_meta(f, "seed", f->meta[3]);
    set_meta(f, "description", f->meta[4]);
    if (f->status != DSV4_OK) return f->status;
    f->status = dsv4_st_write(path, &f->st);
    return f->status;
}

void og_free(og_file *f) {
    dsv4_st_free(&f->st);
    dsv4_sbuf_free(&f->stages);
    for (size_t i = 0; i < sizeof f->meta / sizeof f->meta[0]; i++) free(f->meta[i]);
    memset(f, 0, sizeof *f);
}

void og_vec_push(og_vec *a, uint32_t x) {
    if (a->oom) return;
    if (a->n == a->cap) {
        size_t cap = a->cap ? 2 * a->cap : 256;
        uint32_t *v = realloc(a->v, cap * sizeof *v);
        if (!v) {
            a->oom = 1;
            return;
        }
        a->v = v;
        a->cap = cap;
    }
    a->v[a->n++] = x;
}

void og_vec_free(og_vec *a) {
    free(a->v);
    memset(a, 0, sizeof *a);
}
