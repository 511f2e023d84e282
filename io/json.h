/* json.h - a small JSON reader and writer (internal, not installed).
 *
 * Used for safetensors headers, golden-file metadata and operator configs.
 * The reader builds a tree; it accepts RFC 8259 JSON only (no comments, no
 * trailing commas), rejects duplicate object keys, limits nesting depth to
 * 64, and keeps integers exactly (is_uint/u) so that byte offsets up to 2^64-1
 * survive.  Errors are status codes plus a short reason. */
#ifndef DSV4_JSON_H
#define DSV4_JSON_H

#include "dsv4.h"

#include <stddef.h>
#include <stdint.h>

typedef enum dsv4_json_type {
    DSV4_JSON_NULL = 0,
    DSV4_JSON_BOOL,
    DSV4_JSON_NUMBER,
    DSV4_JSON_STRING,
    DSV4_JSON_ARRAY,
    DSV4_JSON_OBJECT
} dsv4_json_type;

typedef struct dsv4_json dsv4_json;
struct dsv4_json {
    dsv4_json_type type;
    int boolean;        /* BOOL */
    double number;      /* NUMBER, as parsed by strtod semantics (correctly rounded) */
    int is_uint;        /* NUMBER written as a plain non-negative integer that fits u */
    uint64_t u;         /* its exact value */
    char *string;       /* STRING: NUL-terminated UTF-8 (embedded NUL rejected) */
    size_t len;         /* STRING: byte length */
    size_t n;           /* ARRAY / OBJECT: number of items */
    dsv4_json *items;   /* ARRAY elements or OBJECT values, in document order */
    char **keys;        /* OBJECT keys, parallel to items */
};

/* Parse text[0..len) (need not be NUL-terminated).  *out is malloc'ed. */
dsv4_status dsv4_json_parse(const char *text, size_t len, dsv4_json **out, char *err,
                            size_t errlen);
void dsv4_json_free(dsv4_json *v);
/* Member of an object; NULL if v is not an object or has no such key. */
const dsv4_json *dsv4_json_get(const dsv4_json *v, const char *key);

/* 1 when s[0..n) is well-formed UTF-8 (no overlong forms, no surrogates,
 * nothing above U+10FFFF), else 0.  The parser itself passes bytes >= 0x80
 * through unchecked; safetensors headers must be valid UTF-8. */
int dsv4_utf8_valid(const char *s, size_t n);

/* A growable text buffer for writing JSON.  Any allocation failure sets oom;
 * later calls then do nothing. */
typedef struct dsv4_sbuf {
    char *buf;  /* NUL-terminated when not NULL */
    size_t len;
    size_t cap;
    int oom;
} dsv4_sbuf;

void dsv4_sbuf_puts(dsv4_sbuf *b, const char *s);
void dsv4_sbuf_putn(dsv4_sbuf *b, const char *s, size_t n);
void dsv4_sbuf_printf(dsv4_sbuf *b, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 2, 3)))
#endif
    ;
/* Writes s as a quoted JSON string with escapes. */
void dsv4_sbuf_json_string(dsv4_sbuf *b, const char *s);
/* Writes a float so that it reads back to the same value (%.9g, or null
 * for NaN/Inf, which JSON cannot hold). */
void dsv4_sbuf_json_number(dsv4_sbuf *b, double x);
void dsv4_sbuf_free(dsv4_sbuf *b);

#endif
