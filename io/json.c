/* json.c - the small JSON reader and writer declared in json.h.
 *
 * Reader: a recursive-descent parser over text[0..len) that never reads past
 * len.  It follows the RFC 8259 grammar exactly; anything else (comments,
 * trailing commas, leading zeros, bare words) is a DSV4_E_FORMAT with a reason
 * naming the byte offset.  Recursion is bounded by JSON_MAX_DEPTH, so a hostile
 * "[[[[..." cannot exhaust the stack.
 *
 * Writer: dsv4_sbuf, a growable string with JSON quoting helpers. */
#include "json.h"

#include <locale.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define JSON_MAX_DEPTH 64

/* ======================================================================== */
/* Reader                                                                    */
/* ======================================================================== */

typedef struct json_parser {
    const char *text; /* [len], not NUL-terminated */
    size_t len;
    size_t pos;       /* next byte to read */
    char *err;
    size_t errlen;
    dsv4_status status; /* first failure; DSV4_OK while parsing goes well */
} json_parser;

/* Records the first failure (later ones are consequences of it) as
 * "JSON: <what> at byte <pos>". */
static void fail(json_parser *p, dsv4_status s, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;
static void fail(json_parser *p, dsv4_status s, const char *fmt, ...) {
    char what[160];
    va_list ap;
    if (p->status != DSV4_OK) return;
    p->status = s;
    if (!p->err || p->errlen == 0) return;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    snprintf(p->err, p->errlen, "JSON: %s at byte %zu", what, p->pos);
}

static int at_end(const json_parser *p) { return p->pos >= p->len; }
static unsigned char peek(const json_parser *p) { return (unsigned char)p->text[p->pos]; }

static void skip_ws(json_parser *p) {
    while (!at_end(p)) {
        unsigned char c = peek(p);
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
        p->pos++;
    }
}

/* Consumes `word` (true, false, null) or fails. */
static int expect_word(json_parser *p, const char *word) {
    size_t n = strlen(word);
    if (p->len - p->pos < n || memcmp(p->text + p->pos, word, n) != 0) {
        fail(p, DSV4_E_FORMAT, "invalid literal");
        return 0;
    }
    p->pos += n;
    return 1;
}

/* ---- strings ------------------------------------------------------------ */

/* A byte buffer used while decoding a string. */
typedef struct bytes {
    char *buf;
    size_t len, cap;
} bytes;

static int bytes_push(bytes *b, const char *s, size_t n) {
    if (b->cap - b->len <= n) { /* keep room for the NUL */
        size_t cap = b->cap ? b->cap : 16;
        while (cap - b->len <= n) {
            if (cap > SIZE_MAX / 2) return 0;
            cap *= 2;
        }
        char *nb = realloc(b->buf, cap);
        if (!nb) return 0;
        b->buf = nb;
        b->cap = cap;
    }
    memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
    return 1;
}

/* Encodes code point cp (<= 0x10FFFF, not a surrogate) as UTF-8 into out[4]. */
static size_t utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | (cp >> 18));
    out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
    out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

/* Reads the 4 hex digits of a \u escape (p->pos is just after the 'u'). */
static int read_hex4(json_parser *p, uint32_t *out) {
    uint32_t v = 0;
    if (p->len - p->pos < 4) {
        fail(p, DSV4_E_FORMAT, "truncated \\u escape");
        return 0;
    }
    for (int i = 0; i < 4; i++) {
        unsigned char c = peek(p);
        uint32_t d;
        if (c >= '0' && c <= '9') d = (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f') d = (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F') d = (uint32_t)(c - 'A' + 10);
        else {
            fail(p, DSV4_E_FORMAT, "bad hex digit in \\u escape");
            return 0;
        }
        v = v * 16 + d;
        p->pos++;
    }
    *out = v;
    return 1;
}

/* Decodes a \uXXXX escape (p->pos just after the 'u'), joining a UTF-16
 * surrogate pair into one code point.  Lone surrogates and U+0000 are
 * rejected: neither can be stored in a NUL-terminated UTF-8 string. */
static int read_unicode_escape(json_parser *p, uint32_t *cp) {
    uint32_t hi, lo;
    if (!read_hex4(p, &hi)) return 0;
    if (hi == 0) {
        fail(p, DSV4_E_FORMAT, "\\u0000 is not allowed in strings");
        return 0;
    }
    if (hi >= 0xDC00 && hi <= 0xDFFF) {
        fail(p, DSV4_E_FORMAT, "lone low surrogate in \\u escape");
        return 0;
    }
    if (hi < 0xD800 || hi > 0xDBFF) {
        *cp = hi;
        return 1;
    }
    if (p->len - p->pos < 2 || p->text[p->pos] != '\\' || p->text[p->pos + 1] != 'u') {
        fail(p, DSV4_E_FORMAT, "high surrogate not followed by \\u low surrogate");
        return 0;
    }
    p->pos += 2;
    if (!read_hex4(p, &lo)) return 0;
    if (lo < 0xDC00 || lo > 0xDFFF) {
        fail(p, DSV4_E_FORMAT, "high surrogate not followed by a low surrogate");
        return 0;
    }
    *cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
    return 1;
}

/* Decodes one escape sequence (p->pos is on the byte after the backslash). */
static int read_escape(json_parser *p, bytes *b) {
    char one;
    if (at_end(p)) {
        fail(p, DSV4_E_FORMAT, "unterminated string");
        return 0;
    }
    switch (peek(p)) {
    case '"': one = '"'; break;
    case '\\': one = '\\'; break;
    case '/': one = '/'; break;
    case 'b': one = '\b'; break;
    case 'f': one = '\f'; break;
    case 'n': one = '\n'; break;
    case 'r': one = '\r'; break;
    case 't': one = '\t'; break;
    case 'u': {
        uint32_t cp;
        char utf8[4];
        p->pos++;
        if (!read_unicode_escape(p, &cp)) return 0;
        return bytes_push(b, utf8, utf8_encode(cp, utf8));
    }
    default:
        fail(p, DSV4_E_FORMAT, "invalid escape sequence");
        return 0;
    }
    p->pos++;
    return bytes_push(b, &one, 1);
}

/* Parses a string (p->pos on the opening quote) into a malloc'ed,
 * NUL-terminated buffer.  Bytes >= 0x80 are copied as they are. */
static int parse_string(json_parser *p, char **out, size_t *out_len) {
    bytes b = {NULL, 0, 0};
    p->pos++; /* opening quote */
    if (!bytes_push(&b, "", 0)) goto nomem;
    for (;;) {
        size_t run = p->pos;
        /* Copy the longest run of plain bytes at once. */
        while (run < p->len) {
            unsigned char c = (unsigned char)p->text[run];
            if (c == '"' || c == '\\' || c < 0x20) break;
            run++;
        }
        if (!bytes_push(&b, p->text + p->pos, run - p->pos)) goto nomem;
        p->pos = run;
        if (at_end(p)) {
            fail(p, DSV4_E_FORMAT, "unterminated string");
            goto error;
        }
        unsigned char c = peek(p);
        if (c == '"') break;
        if (c < 0x20) {
            fail(p, DSV4_E_FORMAT, "unescaped control character in string");
            goto error;
        }
        p->pos++; /* backslash */
        if (!read_escape(p, &b)) {
            if (p->status == DSV4_OK) goto nomem;
            goto error;
        }
    }
    p->pos++; /* closing quote */
    *out = b.buf;
    *out_len = b.len;
    return 1;
nomem:
    fail(p, DSV4_E_NOMEM, "out of memory");
error:
    free(b.buf);
    return 0;
}

/* ---- numbers ------------------------------------------------------------ */

static int is_digit(unsigned char c) { return c >= '0' && c <= '9'; }

/* Advances over a run of digits; returns how many there were. */
static size_t skip_digits(json_parser *p) {
    size_t start = p->pos;
    while (!at_end(p) && is_digit(peek(p))) p->pos++;
    return p->pos - start;
}

/* The exact value of a run of decimal digits; 0 when it exceeds uint64_t. */
static int digits_to_u64(const char *s, size_t n, uint64_t *out) {
    uint64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        uint64_t d = (uint64_t)(s[i] - '0');
        if (v > (UINT64_MAX - d) / 10) return 0;
        v = v * 10 + d;
    }
    *out = v;
    return 1;
}

/* strtod on a NUL-terminated copy of a validated number token.  strtod uses
 * the C locale's decimal point; if the program switched locale (say to one
 * with a decimal comma) the '.' is swapped for the locale's point and the
 * conversion retried. */
static int token_to_double(const char *tok, size_t n, double *out) {
    char small[64];
    char *copy = n < sizeof small ? small : malloc(n + 1);
    char *end;
    int ok;
    if (!copy) return 0;
    memcpy(copy, tok, n);
    copy[n] = '\0';
    *out = strtod(copy, &end);
    if (end != copy + n) {
        char *dot = strchr(copy, '.');
        const char *point = localeconv()->decimal_point;
        if (dot && point && strlen(point) == 1) *dot = point[0];
        *out = strtod(copy, &end);
    }
    ok = end == copy + n;
    if (copy != small) free(copy);
    return ok;
}

/* number = [ "-" ] int [ frac ] [ exp ]  (RFC 8259 section 6) */
static int parse_number(json_parser *p, dsv4_json *v) {
    size_t start = p->pos;
    int plain = 1; /* no sign, fraction or exponent */
    size_t int_start, int_len;
    if (peek(p) == '-') {
        plain = 0;
        p->pos++;
    }
    int_start = p->pos;
    int_len = skip_digits(p);
    if (int_len == 0) {
        fail(p, DSV4_E_FORMAT, "invalid number");
        return 0;
    }
    if (int_len > 1 && p->text[int_start] == '0') {
        p->pos = int_start;
        fail(p, DSV4_E_FORMAT, "leading zero in number");
        return 0;
    }
    if (!at_end(p) && peek(p) == '.') {
        plain = 0;
        p->pos++;
        if (skip_digits(p) == 0) {
            fail(p, DSV4_E_FORMAT, "digit expected after decimal point");
            return 0;
        }
    }
    if (!at_end(p) && (peek(p) == 'e' || peek(p) == 'E')) {
        plain = 0;
        p->pos++;
        if (!at_end(p) && (peek(p) == '+' || peek(p) == '-')) p->pos++;
        if (skip_digits(p) == 0) {
            fail(p, DSV4_E_FORMAT, "digit expected in exponent");
            return 0;
        }
    }
    v->type = DSV4_JSON_NUMBER;
    if (plain) v->is_uint = digits_to_u64(p->text + int_start, int_len, &v->u);
    if (!token_to_double(p->text + start, p->pos - start, &v->number)) {
        fail(p, DSV4_E_NOMEM, "out of memory");
        return 0;
    }
    if (isinf(v->number)) {
        p->pos = start;
        fail(p, DSV4_E_FORMAT, "number out of double range");
        return 0;
    }
    return 1;
}

/* ---- arrays and objects ------------------------------------------------- */

static int parse_value(json_parser *p, dsv4_json *v, int depth);

/* Makes room for one more item (and key, for objects) in v. */
static int grow_items(json_parser *p, dsv4_json *v, size_t *cap, int with_keys) {
    if (v->n < *cap) return 1;
    size_t ncap = *cap ? *cap * 2 : 4;
    if (ncap > SIZE_MAX / sizeof(dsv4_json)) {
        fail(p, DSV4_E_NOMEM, "out of memory");
        return 0;
    }
    dsv4_json *items = realloc(v->items, ncap * sizeof *items);
    if (!items) {
        fail(p, DSV4_E_NOMEM, "out of memory");
        return 0;
    }
    v->items = items;
    if (with_keys) {
        char **keys = realloc(v->keys, ncap * sizeof *keys);
        if (!keys) {
            fail(p, DSV4_E_NOMEM, "out of memory");
            return 0;
        }
        v->keys = keys;
    }
    *cap = ncap;
    return 1;
}

/* Consumes ',' (returns 1, more items follow) or the closing bracket
 * (returns 0 with p->status still OK); anything else fails. */
static int next_or_close(json_parser *p, char close, int *more) {
    skip_ws(p);
    if (!at_end(p) && peek(p) == ',') {
        p->pos++;
        *more = 1;
        return 1;
    }
    if (!at_end(p) && peek(p) == (unsigned char)close) {
        p->pos++;
        *more = 0;
        return 1;
    }
    fail(p, DSV4_E_FORMAT, "',' or '%c' expected", close);
    return 0;
}

static int parse_array(json_parser *p, dsv4_json *v, int depth) {
    size_t cap = 0;
    int more = 1;
    v->type = DSV4_JSON_ARRAY;
    p->pos++; /* '[' */
    skip_ws(p);
    if (!at_end(p) && peek(p) == ']') {
        p->pos++;
        return 1;
    }
    while (more) {
        if (!grow_items(p, v, &cap, 0)) return 0;
        memset(&v->items[v->n], 0, sizeof v->items[0]);
        v->n++; /* counted before parsing so that free() cleans it up on failure */
        if (!parse_value(p, &v->items[v->n - 1], depth)) return 0;
        if (!next_or_close(p, ']', &more)) return 0;
    }
    return 1;
}

static int compare_keys(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Rejects an object whose keys repeat: sorts a copy of the key pointers, so
 * the check costs n log n rather than n^2 on large safetensors headers. */
static int check_unique_keys(json_parser *p, const dsv4_json *v) {
    char **sorted;
    int ok = 1;
    if (v->n < 2) return 1;
    sorted = malloc(v->n * sizeof *sorted);
    if (!sorted) {
        fail(p, DSV4_E_NOMEM, "out of memory");
        return 0;
    }
    memcpy(sorted, v->keys, v->n * sizeof *sorted);
    qsort(sorted, v->n, sizeof *sorted, compare_keys);
    for (size_t i = 1; i < v->n && ok; i++) {
        if (strcmp(sorted[i - 1], sorted[i]) == 0) {
            fail(p, DSV4_E_FORMAT, "duplicate key \"%.60s\" in the object ending", sorted[i]);
            ok = 0;
        }
    }
    free(sorted);
    return ok;
}

static int parse_object(json_parser *p, dsv4_json *v, int depth) {
    size_t cap = 0;
    int more = 1;
    v->type = DSV4_JSON_OBJECT;
    p->pos++; /* '{' */
    skip_ws(p);
    if (!at_end(p) && peek(p) == '}') {
        p->pos++;
        return 1;
    }
    while (more) {
        size_t key_len;
        char *key;
        skip_ws(p);
        if (at_end(p) || peek(p) != '"') {
            fail(p, DSV4_E_FORMAT, "string key expected");
            return 0;
        }
        if (!parse_string(p, &key, &key_len)) return 0;
        if (!grow_items(p, v, &cap, 1)) {
            free(key);
            return 0;
        }
        v->keys[v->n] = key;
        memset(&v->items[v->n], 0, sizeof v->items[0]);
        v->n++;
        skip_ws(p);
        if (at_end(p) || peek(p) != ':') {
            fail(p, DSV4_E_FORMAT, "':' expected after key");
            return 0;
        }
        p->pos++;
        if (!parse_value(p, &v->items[v->n - 1], depth)) return 0;
        if (!next_or_close(p, '}', &more)) return 0;
    }
    return check_unique_keys(p, v);
}

/* value = object / array / string / number / true / false / null.
 * depth counts the arrays and objects enclosing this value. */
static int parse_value(json_parser *p, dsv4_json *v, int depth) {
    skip_ws(p);
    if (at_end(p)) {
        fail(p, DSV4_E_FORMAT, "value expected");
        return 0;
    }
    switch (peek(p)) {
    case '{':
    case '[':
        if (depth >= JSON_MAX_DEPTH) {
            fail(p, DSV4_E_FORMAT, "nesting deeper than 64 levels");
            return 0;
        }
        return peek(p) == '{' ? parse_object(p, v, depth + 1) : parse_array(p, v, depth + 1);
    case '"':
        v->type = DSV4_JSON_STRING;
        return parse_string(p, &v->string, &v->len);
    case 't':
        v->type = DSV4_JSON_BOOL;
        v->boolean = 1;
        return expect_word(p, "true");
    case 'f':
        v->type = DSV4_JSON_BOOL;
        return expect_word(p, "false");
    case 'n':
        v->type = DSV4_JSON_NULL;
        return expect_word(p, "null");
    default:
        if (peek(p) == '-' || is_digit(peek(p))) return parse_number(p, v);
        fail(p, DSV4_E_FORMAT, "unexpected character");
        return 0;
    }
}

/* Frees what a node owns (not the node itself). */
static void free_contents(dsv4_json *v) {
    for (size_t i = 0; i < v->n; i++) {
        free_contents(&v->items[i]);
        if (v->keys) free(v->keys[i]);
    }
    free(v->items);
    free(v->keys);
    free(v->string);
}

dsv4_status dsv4_json_parse(const char *text, size_t len, dsv4_json **out, char *err,
                            size_t errlen) {
    json_parser p = {text, len, 0, err, errlen, DSV4_OK};
    dsv4_json *root;
    if (err && errlen > 0) err[0] = '\0';
    if (!out) return DSV4_E_NULL;
    *out = NULL;
    if (!text && len > 0) return DSV4_E_NULL;
    root = calloc(1, sizeof *root);
    if (!root) return DSV4_E_NOMEM;
    if (parse_value(&p, root, 0)) {
        skip_ws(&p);
        if (!at_end(&p)) fail(&p, DSV4_E_FORMAT, "unexpected text after the value");
    } else if (p.status == DSV4_OK) {
        fail(&p, DSV4_E_NOMEM, "out of memory");
    }
    if (p.status != DSV4_OK) {
        dsv4_json_free(root);
        return p.status;
    }
    *out = root;
    return DSV4_OK;
}

void dsv4_json_free(dsv4_json *v) {
    if (!v) return;
    free_contents(v);
    free(v);
}

const dsv4_json *dsv4_json_get(const dsv4_json *v, const char *key) {
    if (!v || !key || v->type != DSV4_JSON_OBJECT) return NULL;
    for (size_t i = 0; i < v->n; i++)
        if (strcmp(v->keys[i], key) == 0) return &v->items[i];
    return NULL;
}

/* Length of the well-formed UTF-8 sequence starting at s[0..n), 0 if none.
 * Table 3-7 of the Unicode standard: no overlong forms, no surrogates
 * (U+D800..DFFF), nothing above U+10FFFF. */
static size_t utf8_sequence(const unsigned char *s, size_t n) {
    unsigned char c = s[0];
    unsigned char lo = 0x80, hi = 0xBF; /* allowed range of the second byte */
    size_t need;
    if (c < 0x80) return 1;
    if (c >= 0xC2 && c <= 0xDF) need = 2;
    else if (c >= 0xE0 && c <= 0xEF) need = 3;
    else if (c >= 0xF0 && c <= 0xF4) need = 4;
    else return 0;
    if (c == 0xE0) lo = 0xA0;
    if (c == 0xED) hi = 0x9F;
    if (c == 0xF0) lo = 0x90;
    if (c == 0xF4) hi = 0x8F;
    if (n < need || s[1] < lo || s[1] > hi) return 0;
    for (size_t i = 2; i < need; i++)
        if (s[i] < 0x80 || s[i] > 0xBF) return 0;
    return need;
}

int dsv4_utf8_valid(const char *s, size_t n) {
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        size_t k = utf8_sequence(u + i, n - i);
        if (k == 0) return 0;
        i += k;
    }
    return 1;
}

/* ======================================================================== */
/* Writer                                                                    */
/* ======================================================================== */

/* Ensures room for `extra` more bytes plus the NUL; sets oom on failure. */
static int sbuf_reserve(dsv4_sbuf *b, size_t extra) {
    size_t cap;
    char *nb;
    if (b->oom) return 0;
    if (b->cap > b->len && b->cap - b->len > extra) return 1;
    if (extra > SIZE_MAX / 2 - b->len - 1) {
        b->oom = 1;
        return 0;
    }
    cap = b->cap ? b->cap : 64;
    while (cap - b->len <= extra) cap *= 2;
    nb = realloc(b->buf, cap);
    if (!nb) {
        b->oom = 1;
        return 0;
    }
    b->buf = nb;
    b->cap = cap;
    return 1;
}

void dsv4_sbuf_putn(dsv4_sbuf *b, const char *s, size_t n) {
    if (!sbuf_reserve(b, n)) return;
    if (n > 0) memcpy(b->buf + b->len, s, n);
    b->len += n;
    b->buf[b->len] = '\0';
}

void dsv4_sbuf_puts(dsv4_sbuf *b, const char *s) { dsv4_sbuf_putn(b, s, strlen(s)); }

void dsv4_sbuf_printf(dsv4_sbuf *b, const char *fmt, ...) {
    va_list ap;
    int n;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->oom = 1;
        return;
    }
    if (!sbuf_reserve(b, (size_t)n)) return;
    va_start(ap, fmt);
    vsnprintf(b->buf + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void dsv4_sbuf_json_string(dsv4_sbuf *b, const char *s) {
    static const char hex[] = "0123456789abcdef";
    dsv4_sbuf_putn(b, "\"", 1);
    for (; *s; s++) {
        unsigned char c = (unsigned char)*s;
        const char *esc = NULL;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default: break;
        }
        if (esc) {
            dsv4_sbuf_puts(b, esc);
        } else if (c < 0x20) {
            char u[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
            dsv4_sbuf_putn(b, u, sizeof u);
        } else {
            dsv4_sbuf_putn(b, s, 1);
        }
    }
    dsv4_sbuf_putn(b, "\"", 1);
}

void dsv4_sbuf_json_number(dsv4_sbuf *b, double x) {
    char tmp[40];
    if (isnan(x) || isinf(x)) {
        dsv4_sbuf_puts(b, "null");
        return;
    }
    snprintf(tmp, sizeof tmp, "%.9g", x);
    /* printf follows the locale's decimal point; JSON needs '.'. */
    for (char *c = tmp; *c; c++)
        if (*c == ',') *c = '.';
    dsv4_sbuf_puts(b, tmp);
}

void dsv4_sbuf_free(dsv4_sbuf *b) {
    if (!b) return;
    free(b->buf);
    b->buf = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}
