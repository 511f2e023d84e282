/* cli.h - the subcommands of the dsv4 program as plain functions, so that
 * tests call them directly and inspect what they print and return.
 *
 * Each dsv4_cli_<cmd>(argc, argv, out, err) receives the arguments after the
 * program name (argv[0] is the subcommand itself), writes its report to `out`
 * and its diagnostics to `err`, and returns the exit status:
 *   0 success / conformance, 1 failure (a FAIL row, an unreadable file),
 *   2 usage error (unknown subcommand, option or operator; bad DSV4_ISA). */
#ifndef DSV4_CLI_H
#define DSV4_CLI_H

#include <stdio.h>

#define DSV4_EXIT_OK 0
#define DSV4_EXIT_FAIL 1
#define DSV4_EXIT_USAGE 2

/* The whole program: argv[0] is the program name, argv[1] the subcommand. */
int dsv4_cli_main(int argc, char **argv, FILE *out, FILE *err);

int dsv4_cli_list(int argc, char **argv, FILE *out, FILE *err);
int dsv4_cli_verify(int argc, char **argv, FILE *out, FILE *err);
int dsv4_cli_check(int argc, char **argv, FILE *out, FILE *err);
int dsv4_cli_run(int argc, char **argv, FILE *out, FILE *err);
int dsv4_cli_gen(int argc, char **argv, FILE *out, FILE *err);
int dsv4_cli_bench(int argc, char **argv, FILE *out, FILE *err);
int dsv4_cli_version(int argc, char **argv, FILE *out, FILE *err);
int dsv4_cli_help(int argc, char **argv, FILE *out, FILE *err);

/* The usage text (the same as `dsv4 help`). */
void dsv4_cli_usage(FILE *f);
/* 1 when DSV4_ISA (if set) names a supported ISA; else prints why to err. */
int dsv4_cli_isa_ok(FILE *err);

/* ---- small helpers shared by the subcommands (cli_util.c) ---------------- */

/* Option parsing: if argv[*i] is --name (then the value is argv[*i + 1]) or
 * --name=VALUE, store the value, advance *i past it and return 1; return -1
 * (after a message on err) when the value is missing; 0 when no match. */
int dsv4_cli_opt(int argc, char **argv, int *i, const char *name, const char **value,
                 FILE *err);
/* Print "dsv4 <cmd>: <message>" and a pointer to `dsv4 help`, return 2. */
int dsv4_cli_usage_error(FILE *err, const char *cmd, const char *fmt, ...)
#if defined(__GNUC__)
    __attribute__((format(printf, 3, 4)))
#endif
    ;

/* A list of paths; files named *.safetensors found in directories, sorted. */
typedef struct dsv4_pathlist {
    char **paths;
    size_t n;
} dsv4_pathlist;
/* Adds `path` itself when it is not a directory; the directory's
 * *.safetensors files (sorted by name) when it is.  1 on success, 0 when the
 * path does not exist or memory ran out (a message goes to err). */
int dsv4_pathlist_add(dsv4_pathlist *l, const char *path, FILE *err);
void dsv4_pathlist_free(dsv4_pathlist *l);

/* Seconds from a monotonic clock. */
double dsv4_now(void);

#endif
