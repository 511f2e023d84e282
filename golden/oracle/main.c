/* main.c - the MPFR oracle program (spec/golden.md).
 *
 *   oracle list                      shipped cases, one "<op>.<case>" a line
 *   oracle all OUTDIR                write every shipped case to OUTDIR
 *   oracle gen OP --config JSON --seed N [--case NAME] [--shape R[xC]] --out FILE
 *                                    one random case for a configuration
 *   oracle selftest                  check the oracle against worked vectors
 *   oracle config OP [JSON]          the config completed and checked by the
 *                                    registry, as the oracle uses it
 *   oracle version                   the "oracle" metadata string
 *
 * Operators, their config keys (defaults, limits) and their stages come from
 * the registry the dsv4 program reads (tools/registry.h), compiled into this
 * program without run functions; `oracle selftest` fails when an operator
 * of the registry has no oracle here or the other way round.
 *
 * Exit status: 0 success, 1 failure (I/O, self test), 2 usage error. */
#include "compressor.h"
#include "exact.h"
#include "golden_io.h"
#include "hadamard.h"
#include "indexer.h"
#include "mhc.h"
#include "muon.h"
#include "norm.h"
#include "numfmt.h"
#include "rope.h"
#include "sparse_attn_oracle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Every operator family's operators; a new family adds its entries here. */
static const og_op *const g_ops[] = {
    &og_op_cast,
    &og_op_quant,
    &og_op_hc_pre,
    &og_op_sinkhorn,
    &og_op_hc_post,
    &og_op_hc_head,
    &og_op_newton_schulz, &og_op_muon_step, &og_op_adamw_step,
    &og_op_rope, &og_op_hadamard, &og_op_rms_norm,
    &og_op_compressor,
    &og_op_indexer,
    &og_op_sparse_attn,
};
#define N_OPS (sizeof g_ops / sizeof g_ops[0])

static int usage(void) {
    fprintf(stderr,
            "usage: oracle list\n"
            "       oracle all OUTDIR\n"
            "       oracle gen OP --config JSON --seed N [--case NAME] [--shape R[xC]] "
            "--out FILE\n"
            "       oracle selftest\n"
            "       oracle config OP [JSON]\n"
            "       oracle version\n");
    return 2;
}

static const og_op *find_op(const char *name) {
    for (size_t i = 0; i < N_OPS; i++)
        if (strcmp(g_ops[i]->name, name) == 0) return g_ops[i];
    return NULL;
}

static int cmd_list(void) {
    for (size_t i = 0; i < N_OPS; i++)
        for (size_t c = 0; c < g_ops[i]->n_cases; c++)
            printf("%s.%s\n", g_ops[i]->name, g_ops[i]->case_name(c));
    return 0;
}

/* Builds case c of op into its file under dir. */
static int write_case(const og_op *op, size_t c, const char *dir) {
    char path[4096], err[256] = "";
    const char *name = op->case_name(c);
    snprintf(path, sizeof path, "%s/%s.%s.safetensors", dir, op->name, name);
    og_file f;
    memset(&f, 0, sizeof f);
    int rc = op->build_case(c, &f, err, sizeof err);
    if (rc != 0) {
        fprintf(stderr, "oracle: %s.%s: %s\n", op->name, name, err);
        og_free(&f);
        return 1;
    }
    rc = og_write(&f, path) != DSV4_OK;
    if (rc) fprintf(stderr, "oracle: %s: %s\n", path, f.err);
    og_free(&f);
    return rc;
}

static int cmd_all(const char *dir) {
    /* Stop at the first failure: one clear message, no half-written set. */
    for (size_t i = 0; i < N_OPS; i++)
        for (size_t c = 0; c < g_ops[i]->n_cases; c++)
            if (write_case(g_ops[i], c, dir) != 0) return 1;
    return 0;
}

/* "R" or "RxC" into s; 0 on success. */
static int parse_shape(const char *text, og_shape *s) {
    char *end;
    errno = 0;
    unsigned long long a = strtoull(text, &end, 10);
    if (errno || end == text || a == 0 || a > (1ull << 24)) return -1;
    s->rank = 1;
    s->dim[0] = (size_t)a;
    if (*end == '\0') return 0;
    if (*end != 'x') return -1;
    const char *p = end + 1;
    unsigned long long b = strtoull(p, &end, 10);
    if (errno || end == p || *end != '\0' || b == 0 || b > (1ull << 24)) return -1;
    s->rank = 2;
    s->dim[1] = (size_t)b;
    return 0;
}

static int cmd_gen(int argc, char **argv) {
    if (argc < 1) return usage();
    const og_op *op = find_op(argv[0]);
    if (!op) {
        fprintf(stderr, "oracle: unknown operator '%s'\n", argv[0]);
        return 2;
    }
    const char *config = NULL, *seed_text = NULL, *case_name = NULL, *out = NULL;
    og_shape shape = {0, {0, 0}};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (i + 1 >= argc) return usage();
        const char *v = argv[++i];
        if (strcmp(a, "--config") == 0) config = v;
        else if (strcmp(a, "--seed") == 0) seed_text = v;
        else if (strcmp(a, "--case") == 0) case_name = v;
        else if (strcmp(a, "--out") == 0) out = v;
        else if (strcmp(a, "--shape") == 0) {
            if (parse_shape(v, &shape) != 0) {
                fprintf(stderr, "oracle: bad --shape '%s' (want R or RxC)\n", v);
                return 2;
            }
        } else return usage();
    }
    if (!config || !seed_text || !out) return usage();
    char *end;
    errno = 0;
    unsigned long long seed = strtoull(seed_text, &end, 10);
    if (errno || end == seed_text || *end != '\0' || seed_text[0] == '-') {
        fprintf(stderr, "oracle: bad --seed '%s' (want a decimal integer < 2^64)\n", seed_text);
        return 2;
    }
    char err[256] = "", name[64];
    if (!case_name) {
        snprintf(name, sizeof name, "random_seed%llu", seed);
        case_name = name;
    }
    dsv4_opcfg cfg;
    if (dsv4_op_configure(dsv4_op_find(op->name), config, &cfg, err, sizeof err) != DSV4_OK) {
        fprintf(stderr, "oracle: %s\n", err);
        return 2;
    }
    og_file f;
    memset(&f, 0, sizeof f);
    int rc = op->gen(cfg.json, (uint64_t)seed, case_name, shape.rank ? &shape : NULL, &f, err,
                     sizeof err);
    dsv4_opcfg_free(&cfg);
    if (rc != 0) {
        fprintf(stderr, "oracle: %s: %s\n", op->name, err);
        og_free(&f);
        return 2;
    }
    rc = og_write(&f, out) != DSV4_OK;
    if (rc) fprintf(stderr, "oracle: %s: %s\n", out, f.err);
    og_free(&f);
    return rc;
}

/* `oracle config OP [JSON]`: the registry's completed config, or why not. */
static int cmd_config(int argc, char **argv) {
    const dsv4_op *op = argc >= 1 ? dsv4_op_find(argv[0]) : NULL;
    if (argc < 1 || argc > 2) return usage();
    if (!op || !find_op(op->name)) {
        fprintf(stderr, "oracle: unknown operator '%s'\n", argv[0]);
        return 2;
    }
    dsv4_opcfg cfg;
    char err[256];
    if (dsv4_op_configure(op, argc == 2 ? argv[1] : NULL, &cfg, err, sizeof err) != DSV4_OK) {
        fprintf(stderr, "oracle: %s\n", err);
        return 2;
    }
    printf("%s\n", cfg.text);
    dsv4_opcfg_free(&cfg);
    return 0;
}

/* Every operator of the registry has an oracle here, and no other. */
static int registry_matches(void) {
    int fails = 0;
    for (size_t i = 0; i < dsv4_op_count(); i++)
        if (!find_op(dsv4_op_at(i)->name)) {
            fprintf(stderr, "oracle: registry operator %s has no oracle\n", dsv4_op_at(i)->name);
            fails++;
        }
    for (size_t i = 0; i < N_OPS; i++)
        if (!dsv4_op_find(g_ops[i]->name)) {
            fprintf(stderr, "oracle: oracle %s is not in the registry\n", g_ops[i]->name);
            fails++;
        }
    return fails;
}

static int cmd_selftest(void) {
    int fails = registry_matches();
    printf("registry: %s\n", fails ? "FAIL" : "ok");
    int f = ox_selftest();
    printf("exact helpers: %s\n", f ? "FAIL" : "ok");
    fails += f;
    for (size_t i = 0; i < N_OPS; i++) {
        f = g_ops[i]->selftest ? g_ops[i]->selftest() : 0;
        printf("%s: %s\n", g_ops[i]->name, f ? "FAIL" : "ok");
        fails += f;
    }
    if (fails) fprintf(stderr, "oracle selftest: %d failure(s)\n", fails);
    return fails ? 1 : 0;
}

int main(int argc, char **argv) {
    if (argc < 2) return usage();
    ox_init();
    if (on_init() != 0) {
        fprintf(stderr, "oracle: cannot build the format tables\n");
        return 1;
    }
    int rc;
    if (strcmp(argv[1], "list") == 0 && argc == 2) rc = cmd_list();
    else if (strcmp(argv[1], "all") == 0 && argc == 3) rc = cmd_all(argv[2]);
    else if (strcmp(argv[1], "gen") == 0) rc = cmd_gen(argc - 2, argv + 2);
    else if (strcmp(argv[1], "selftest") == 0 && argc == 2) rc = cmd_selftest();
    else if (strcmp(argv[1], "config") == 0) rc = cmd_config(argc - 2, argv + 2);
    else if (strcmp(argv[1], "version") == 0 && argc == 2) rc = printf("%s\n", ox_oracle_name()) < 0;
    else rc = usage();
    on_fini();
    mpfr_free_cache();
    return rc;
}
