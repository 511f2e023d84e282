/* cli_call.h - run a dsv4 subcommand function in a test and capture what it
 * prints (shared by the CLI test suites). */
#ifndef DSV4_TEST_CLI_CALL_H
#define DSV4_TEST_CLI_CALL_H

#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

typedef int (*cli_fn)(int argc, char **argv, FILE *out, FILE *err);

typedef struct result {
    int rc;
    char *out, *err; /* NUL-terminated captures */
    size_t out_len, err_len;
} result;

/* fn(argv...) with argv given as a NULL-terminated list of strings. */
static inline result call(cli_fn fn, ...) {
    char *argv[40];
    int argc = 0;
    va_list ap;
    va_start(ap, fn);
    for (char *a = va_arg(ap, char *); a && argc < 39; a = va_arg(ap, char *)) argv[argc++] = a;
    va_end(ap);
    argv[argc] = NULL;
    result r;
    FILE *out = open_memstream(&r.out, &r.out_len), *err = open_memstream(&r.err, &r.err_len);
    cr_assert(out && err);
    r.rc = fn(argc, argv, out, err);
    fclose(out);
    fclose(err);
    return r;
}

static inline void result_free(result *r) {
    free(r->out);
    free(r->err);
}

#endif
