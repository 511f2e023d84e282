/* test_json.c - the JSON reader and writer (io/json.c). */
#include "json.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* Parses a NUL-terminated text; returns the status, root in *out. */
static dsv4_status parse(const char *text, dsv4_json **out) {
    char err[200];
    return dsv4_json_parse(text, strlen(text), out, err, sizeof err);
}

/* Asserts that text is rejected with DSV4_E_FORMAT and a reason. */
static void expect_reject(const char *text) {
    dsv4_json *v = (dsv4_json *)1;
    char err[200] = "";
    dsv4_status s = dsv4_json_parse(text, strlen(text), &v, err, sizeof err);
    cr_expect_eq(s, DSV4_E_FORMAT, "accepted (status %d): %s", s, text);
    cr_expect_null(v, "out not NULL after failure: %s", text);
    cr_expect(strlen(err) > 0, "no reason for: %s", text);
    dsv4_json_free(v);
}

/* Parses text that must hold one string and compares its bytes. */
static void expect_string(const char *text, const char *bytes, size_t n) {
    dsv4_json *v = NULL;
    cr_assert_eq(parse(text, &v), DSV4_OK, "rejected: %s", text);
    cr_assert_eq(v->type, DSV4_JSON_STRING);
    cr_expect_eq(v->len, n, "%s: length %zu, want %zu", text, v->len, n);
    cr_expect(v->len == n && memcmp(v->string, bytes, n) == 0, "bytes differ: %s", text);
    cr_expect_eq(v->string[v->len], '\0');
    dsv4_json_free(v);
}

Test(json, literals_and_containers) {
    dsv4_json *v = NULL;
    cr_assert_eq(parse(" {\"a\": [true, false, null, 1.5, \"x\"], \"b\": {}, \"c\": []}\r\n\t", &v),
                 DSV4_OK);
    cr_assert_eq(v->type, DSV4_JSON_OBJECT);
    cr_assert_eq(v->n, 3);
    const dsv4_json *a = dsv4_json_get(v, "a");
    cr_assert_not_null(a);
    cr_assert_eq(a->type, DSV4_JSON_ARRAY);
    cr_assert_eq(a->n, 5);
    cr_expect(a->items[0].type == DSV4_JSON_BOOL && a->items[0].boolean == 1);
    cr_expect(a->items[1].type == DSV4_JSON_BOOL && a->items[1].boolean == 0);
    cr_expect_eq(a->items[2].type, DSV4_JSON_NULL);
    cr_expect(a->items[3].type == DSV4_JSON_NUMBER && a->items[3].number == 1.5);
    cr_expect_eq(a->items[3].is_uint, 0);
    cr_expect_str_eq(a->items[4].string, "x");
    cr_expect_eq(dsv4_json_get(v, "b")->type, DSV4_JSON_OBJECT);
    cr_expect_eq(dsv4_json_get(v, "c")->n, 0);
    cr_expect_null(dsv4_json_get(v, "missing"));
    cr_expect_null(dsv4_json_get(a, "a"), "get on an array");
    cr_expect_str_eq(v->keys[2], "c", "document order kept");
    dsv4_json_free(v);
}

Test(json, scalars_at_top_level) {
    dsv4_json *v = NULL;
    cr_assert_eq(parse("  42 ", &v), DSV4_OK);
    cr_expect(v->is_uint && v->u == 42);
    dsv4_json_free(v);
    cr_assert_eq(parse("\"s\"", &v), DSV4_OK);
    dsv4_json_free(v);
}

Test(json, length_bounds_the_input) {
    /* Only text[0..len) is read; what follows must not matter. */
    dsv4_json *v = NULL;
    const char text[] = "[1]garbage";
    cr_assert_eq(dsv4_json_parse(text, 3, &v, NULL, 0), DSV4_OK);
    cr_expect_eq(v->n, 1);
    dsv4_json_free(v);
    cr_expect_eq(dsv4_json_parse(text, 2, &v, NULL, 0), DSV4_E_FORMAT);
    cr_expect_eq(dsv4_json_parse("", 0, &v, NULL, 0), DSV4_E_FORMAT);
}

Test(json, string_escapes) {
    expect_string("\"\\\" \\\\ \\/ \\b \\f \\n \\r \\t\"", "\" \\ / \b \f \n \r \t", 15);
    expect_string("\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac", 6);
    expect_string("\"\\u0001\\u001f\"", "\x01\x1f", 2);
    expect_string("\"\"", "", 0);
}

Test(json, surrogate_pairs) {
    expect_string("\"\\ud83d\\ude00\"", "\xf0\x9f\x98\x80", 4);           /* U+1F600 */
    expect_string("\"\\uD800\\uDC00\"", "\xf0\x90\x80\x80", 4);           /* U+10000 */
    expect_string("\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4);           /* U+10FFFF */
    expect_reject("\"\\ud83d\"");        /* lone high */
    expect_reject("\"\\ud83dx\"");       /* high then a plain byte */
    expect_reject("\"\\ud83d\\u0041\""); /* high then a non-surrogate */
    expect_reject("\"\\ude00\"");        /* lone low */
    expect_reject("\"\\ud83d\\ud83d\""); /* high then high */
}

Test(json, bad_strings) {
    expect_reject("\"\\u0000\"");  /* embedded NUL */
    expect_reject("\"a\nb\"");     /* raw control character */
    expect_reject("\"a\tb\"");
    expect_reject("\"\\x41\"");    /* unknown escape */
    expect_reject("\"\\u12\"");    /* short \u */
    expect_reject("\"\\u12g4\"");  /* bad hex */
    expect_reject("\"abc");        /* unterminated */
    expect_reject("\"abc\\");
    expect_reject("'abc'");
}

Test(json, raw_nul_byte_rejected) {
    dsv4_json *v = NULL;
    const char text[] = {'"', 'a', '\0', 'b', '"'};
    cr_expect_eq(dsv4_json_parse(text, sizeof text, &v, NULL, 0), DSV4_E_FORMAT);
}

Test(json, invalid_utf8_passes_through_but_is_detected) {
    expect_string("\"\xff\xfe\"", "\xff\xfe", 2);
    cr_expect_eq(dsv4_utf8_valid("\xff", 1), 0);
    cr_expect_eq(dsv4_utf8_valid("\xc0\x80", 2), 0, "overlong NUL");
    cr_expect_eq(dsv4_utf8_valid("\xe0\x80\x80", 3), 0, "overlong");
    cr_expect_eq(dsv4_utf8_valid("\xed\xa0\x80", 3), 0, "surrogate");
    cr_expect_eq(dsv4_utf8_valid("\xf4\x90\x80\x80", 4), 0, "above U+10FFFF");
    cr_expect_eq(dsv4_utf8_valid("\xe2\x82", 2), 0, "truncated");
    cr_expect_eq(dsv4_utf8_valid("a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80", 10), 1);
    cr_expect_eq(dsv4_utf8_valid("", 0), 1);
}

/* "[[[...]]]" nested `depth` deep. */
static char *nested(int depth) {
    char *s = malloc((size_t)depth * 2 + 1);
    for (int i = 0; i < depth; i++) {
        s[i] = '[';
        s[depth * 2 - 1 - i] = ']';
    }
    s[depth * 2] = '\0';
    return s;
}

Test(json, depth_limit) {
    dsv4_json *v = NULL;
    char *ok = nested(64), *deep = nested(65), *huge = nested(100000);
    cr_expect_eq(parse(ok, &v), DSV4_OK);
    dsv4_json_free(v);
    expect_reject(deep);
    expect_reject(huge);
    /* Objects count too. */
    expect_reject("[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[{\"a\":1}]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]");
    free(ok);
    free(deep);
    free(huge);
}

Test(json, big_integers) {
    dsv4_json *v = NULL;
    cr_assert_eq(parse("18446744073709551615", &v), DSV4_OK);
    cr_expect_eq(v->is_uint, 1);
    cr_expect_eq(v->u, UINT64_MAX);
    dsv4_json_free(v);
    cr_assert_eq(parse("18446744073709551616", &v), DSV4_OK);
    cr_expect_eq(v->is_uint, 0, "2^64 does not fit");
    cr_expect_eq(v->number, 18446744073709551616.0);
    dsv4_json_free(v);
    cr_assert_eq(parse("9007199254740993", &v), DSV4_OK); /* 2^53 + 1: not a double */
    cr_expect_eq(v->u, 9007199254740993ull);
    dsv4_json_free(v);
    cr_assert_eq(parse("0", &v), DSV4_OK);
    cr_expect(v->is_uint && v->u == 0);
    dsv4_json_free(v);
}

Test(json, non_plain_numbers_are_not_uint) {
    const char *texts[] = {"-0", "-1", "1.0", "1e2", "1E+2", "0.5", "-0.0e-0"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) {
        dsv4_json *v = NULL;
        cr_assert_eq(parse(texts[i], &v), DSV4_OK, "%s", texts[i]);
        cr_expect_eq(v->is_uint, 0, "%s", texts[i]);
        cr_expect_eq(v->number, strtod(texts[i], NULL), "%s", texts[i]);
        dsv4_json_free(v);
    }
}

Test(json, number_values) {
    dsv4_json *v = NULL;
    cr_assert_eq(parse("[0.1, -2.5e-3, 1e-400, 123456789012345678901234567890]", &v), DSV4_OK);
    cr_expect_eq(v->items[0].number, 0.1);
    cr_expect_eq(v->items[1].number, -2.5e-3);
    cr_expect_eq(v->items[2].number, 0.0, "underflow to zero is fine");
    cr_expect_eq(v->items[3].number, 123456789012345678901234567890.0);
    cr_expect_eq(v->items[3].is_uint, 0);
    dsv4_json_free(v);
}

Test(json, bad_numbers) {
    const char *texts[] = {"01", "-", "1.", ".5", "+1", "1e", "1e+", "--1", "0x10", "1.e5",
                           "-01", "Infinity", "NaN", "1e400", "-1e400"};
    for (size_t i = 0; i < sizeof texts / sizeof texts[0]; i++) expect_reject(texts[i]);
}

Test(json, duplicate_keys) {
    expect_reject("{\"a\":1,\"a\":2}");
    expect_reject("{\"a\":1,\"b\":2,\"a\":3}");
    expect_reject("{\"x\":{\"k\":1,\"k\":1}}");
    expect_reject("{\"\\u0061\":1,\"a\":2}"); /* equal after decoding */
    dsv4_json *v = NULL;
    cr_expect_eq(parse("{\"a\":{\"a\":1},\"b\":{\"a\":2}}", &v), DSV4_OK, "same key, different objects");
    dsv4_json_free(v);
}

Test(json, trailing_commas_and_garbage) {
    expect_reject("[1,]");
    expect_reject("{\"a\":1,}");
    expect_reject("[,1]");
    expect_reject("[1 2]");
    expect_reject("{\"a\" 1}");
    expect_reject("{1:2}");
    expect_reject("[1] x");
    expect_reject("{} {}");
    expect_reject("[1");
    expect_reject("{\"a\":1");
    expect_reject("tru");
    expect_reject("nulll");
    expect_reject("[true false]");
    expect_reject("/* c */ 1");
    expect_reject("");
    expect_reject("   ");
}

Test(json, error_reason_names_position) {
    dsv4_json *v = NULL;
    char err[200];
    cr_assert_eq(dsv4_json_parse("[1, 2, @]", 9, &v, err, sizeof err), DSV4_E_FORMAT);
    cr_expect(strstr(err, "byte 7") != NULL, "reason: %s", err);
    /* A tiny buffer is truncated, not overrun. */
    char small[5] = {'x', 'x', 'x', 'x', 'Z'};
    cr_assert_eq(dsv4_json_parse("[", 1, &v, small, 4), DSV4_E_FORMAT);
    cr_expect_eq(small[3], '\0');
    cr_expect_eq(small[4], 'Z');
}

Test(json, null_arguments) {
    dsv4_json *v = NULL;
    cr_expect_eq(dsv4_json_parse("1", 1, NULL, NULL, 0), DSV4_E_NULL);
    cr_expect_eq(dsv4_json_parse(NULL, 1, &v, NULL, 0), DSV4_E_NULL);
    dsv4_json_free(NULL);
}

/* ---- writer ---------------------------------------------------------------- */

Test(json_writer, strings_round_trip) {
    const char *cases[] = {"plain", "", "quote\" back\\slash", "\b\f\n\r\t", "\x01\x1f\x7f",
                           "caf\xc3\xa9 \xf0\x9f\x98\x80", "{\"json\":[1,2]}"};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        dsv4_sbuf b = {0};
        dsv4_json *v = NULL;
        dsv4_sbuf_json_string(&b, cases[i]);
        cr_assert_eq(b.oom, 0);
        cr_assert_eq(parse(b.buf, &v), DSV4_OK, "written: %s", b.buf);
        cr_expect_str_eq(v->string, cases[i]);
        dsv4_json_free(v);
        dsv4_sbuf_free(&b);
    }
}

Test(json_writer, string_exact_escapes) {
    dsv4_sbuf b = {0};
    dsv4_sbuf_json_string(&b, "a\"\\\n\x01/");
    cr_expect_str_eq(b.buf, "\"a\\\"\\\\\\n\\u0001/\"");
    dsv4_sbuf_free(&b);
}

Test(json_writer, numbers) {
    const float values[] = {0.1f, 1.0f / 3.0f, 3.4028235e38f, 1.4e-45f, -0.0f, 448.0f, 1e-4f};
    for (size_t i = 0; i < sizeof values / sizeof values[0]; i++) {
        dsv4_sbuf b = {0};
        dsv4_json *v = NULL;
        dsv4_sbuf_json_number(&b, values[i]);
        cr_assert_eq(parse(b.buf, &v), DSV4_OK, "written: %s", b.buf);
        cr_expect_eq((float)v->number, values[i], "%s", b.buf);
        dsv4_json_free(v);
        dsv4_sbuf_free(&b);
    }
    dsv4_sbuf b = {0};
    dsv4_sbuf_json_number(&b, NAN);
    dsv4_sbuf_puts(&b, " ");
    dsv4_sbuf_json_number(&b, -INFINITY);
    cr_expect_str_eq(b.buf, "null null");
    dsv4_sbuf_free(&b);
}

Test(json_writer, printf_and_growth) {
    dsv4_sbuf b = {0};
    for (int i = 0; i < 1000; i++) dsv4_sbuf_printf(&b, "%d,", i);
    dsv4_sbuf_putn(&b, "xyz", 2);
    cr_expect_eq(b.oom, 0);
    cr_expect_eq(b.len, strlen(b.buf));
    cr_expect(strncmp(b.buf, "0,1,2,", 6) == 0);
    cr_expect_str_eq(b.buf + b.len - 6, "999,xy");
    dsv4_sbuf_free(&b);
    cr_expect_null(b.buf);
    cr_expect_eq(b.len, 0);
}
