/* cli.c - subcommand dispatch, usage, version and the DSV4_ISA check. */
#include "cli.h"

#include "dsv4.h"
#include "golden.h"

#include <stdlib.h>
#include <string.h>

typedef int (*cli_fn)(int argc, char **argv, FILE *out, FILE *err);

typedef struct cli_cmd {
    const char *name;
    cli_fn fn;
    int uses_opt; /* runs opt kernels: refuse to start with a bad DSV4_ISA */
} cli_cmd;

static const cli_cmd commands[] = {
    {"list", dsv4_cli_list, 0},       {"verify", dsv4_cli_verify, 1},
    {"check", dsv4_cli_check, 0},     {"run", dsv4_cli_run, 1},
    {"gen", dsv4_cli_gen, 0},         {"bench", dsv4_cli_bench, 1},
    {"version", dsv4_cli_version, 0}, {"help", dsv4_cli_help, 0},
};

void dsv4_cli_usage(FILE *f) {
    fputs("usage: dsv4 <command> [options]\n"
          "\n"
          "  list                              operators, config keys, stages, tolerances\n"
          "  verify [FILE|DIR]...              ref and opt against golden files\n"
          "                                    (default: $DSV4_GOLDEN_DIR, else golden/)\n"
          "  check CANDIDATE [--golden FILE]   judge another implementation's outputs\n"
          "  run OP --in IN --out OUT [--impl ref|opt] [--config JSON]\n"
          "                                    compute every stage of OP on IN's in.* tensors\n"
          "  gen OP [--config JSON] [--seed N] [--out FILE]\n"
          "                                    make a new golden case with the MPFR oracle\n"
          "  bench [--quick]                   machine limits, then ref vs opt timings\n"
          "  version | help\n"
          "\n"
          "environment: DSV4_ISA=scalar|avx2|avx512, DSV4_THREADS=N, DSV4_GOLDEN_DIR,\n"
          "             DSV4_ORACLE (path of the oracle program)\n"
          "exit status: 0 success, 1 failure or non-conformance, 2 usage error\n",
          f);
}

int dsv4_cli_help(int argc, char **argv, FILE *out, FILE *err) {
    (void)argc;
    (void)argv;
    (void)err;
    dsv4_cli_usage(out);
    return DSV4_EXIT_OK;
}

int dsv4_cli_version(int argc, char **argv, FILE *out, FILE *err) {
    (void)argc;
    (void)argv;
    (void)err;
    fprintf(out, "dsv4 %s (golden format v%s)\n", DSV4_VERSION_STRING, DSV4_GOLDEN_VERSION);
    return DSV4_EXIT_OK;
}

int dsv4_cli_isa_ok(FILE *err) {
    if (dsv4_isa_status() == DSV4_OK) return 1;
    const char *env = getenv("DSV4_ISA");
    fprintf(err, "dsv4: DSV4_ISA=\"%s\" is not a supported instruction set here; supported:",
            env ? env : "");
    for (int i = 0; i < DSV4_ISA_COUNT; i++)
        if (dsv4_isa_supported((dsv4_isa)i)) fprintf(err, " %s", dsv4_isa_name((dsv4_isa)i));
    fprintf(err, " (unset DSV4_ISA to use the best one)\n");
    return 0;
}

int dsv4_cli_main(int argc, char **argv, FILE *out, FILE *err) {
    if (argc < 2) {
        dsv4_cli_usage(err);
        return DSV4_EXIT_USAGE;
    }
    const char *name = argv[1];
    if (strcmp(name, "--help") == 0 || strcmp(name, "-h") == 0) name = "help";
    if (strcmp(name, "--version") == 0) name = "version";
    for (size_t i = 0; i < sizeof commands / sizeof commands[0]; i++) {
        if (strcmp(commands[i].name, name) != 0) continue;
        if (commands[i].uses_opt && !dsv4_cli_isa_ok(err)) return DSV4_EXIT_USAGE;
        return commands[i].fn(argc - 1, argv + 1, out, err);
    }
    fprintf(err, "dsv4: unknown command \"%s\"\n", argv[1]);
    dsv4_cli_usage(err);
    return DSV4_EXIT_USAGE;
}
