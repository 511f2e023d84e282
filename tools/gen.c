/* gen.c - `dsv4 gen OP [--config JSON] [--seed N] [--out FILE]`: make a new
 * golden case by running the MPFR oracle program as
 *     oracle gen OP --config JSON --seed N --out FILE
 * (interface: spec/golden.md).  The oracle is $DSV4_ORACLE, else the
 * `oracle` binary next to this program.  The config is validated and
 * completed with defaults here first, so a typo is reported before the
 * oracle starts. */
#include "cli.h"
#include "registry.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

/* $DSV4_ORACLE, else <directory of /proc/self/exe>/oracle. */
static int oracle_path(char *buf, size_t len) {
    const char *env = getenv("DSV4_ORACLE");
    if (env && *env) return snprintf(buf, len, "%s", env) < (int)len;
    char self[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return snprintf(buf, len, "./oracle") < (int)len;
    self[n] = '\0';
    char *slash = strrchr(self, '/');
    if (slash) *slash = '\0';
    return snprintf(buf, len, "%s/oracle", self) < (int)len;
}

static int run_oracle(const char *path, char **args, FILE *out, FILE *err) {
    fflush(out);
    fflush(err);
    pid_t pid = fork();
    if (pid < 0) {
        fprintf(err, "dsv4 gen: fork failed: %s\n", strerror(errno));
        return DSV4_EXIT_FAIL;
    }
    if (pid == 0) {
        execv(path, args);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) return DSV4_EXIT_FAIL;
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0) return DSV4_EXIT_OK;
    fprintf(err, "dsv4 gen: the oracle %s failed (status %d)\n", path,
            WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return DSV4_EXIT_FAIL;
}

int dsv4_cli_gen(int argc, char **argv, FILE *out, FILE *err) {
    const char *opname = NULL, *config = NULL, *seed = "1", *outfile = NULL;
    for (int i = 1; i < argc; i++) {
        int m = dsv4_cli_opt(argc, argv, &i, "config", &config, err);
        if (!m) m = dsv4_cli_opt(argc, argv, &i, "seed", &seed, err);
        if (!m) m = dsv4_cli_opt(argc, argv, &i, "out", &outfile, err);
        if (m < 0) return DSV4_EXIT_USAGE;
        if (m) continue;
        if (argv[i][0] == '-' || opname)
            return dsv4_cli_usage_error(err, "gen", "unexpected argument \"%s\"", argv[i]);
        opname = argv[i];
    }
    if (!opname) return dsv4_cli_usage_error(err, "gen", "missing OP");
    const dsv4_op *op = dsv4_op_find(opname);
    if (!op) return dsv4_cli_usage_error(err, "gen", "unknown operator \"%s\" (see dsv4 list)", opname);
    char *end;
    errno = 0;
    (void)strtoull(seed, &end, 10);
    if (!*seed || *end || errno || seed[0] == '-')
        return dsv4_cli_usage_error(err, "gen", "--seed must be a decimal integer, not \"%s\"", seed);
    dsv4_opcfg cfg;
    char why[256];
    if (dsv4_op_configure(op, config, &cfg, why, sizeof why) != DSV4_OK) {
        fprintf(err, "dsv4 gen: %s\n", why);
        return DSV4_EXIT_USAGE;
    }
    char path[PATH_MAX + 16], deflt[64];
    snprintf(deflt, sizeof deflt, "%s_seed%s.safetensors", op->name, seed);
    int rc = DSV4_EXIT_FAIL;
    if (!oracle_path(path, sizeof path) || access(path, X_OK) != 0) {
        fprintf(err, "dsv4 gen: the oracle program %s is not built (build it with "
                     "`make <BUILD>/oracle` in the same BUILD dir as dsv4, or set DSV4_ORACLE)\n",
                path);
    } else {
        char *target = (char *)(outfile ? outfile : deflt);
        char *args[] = {path,     "gen",         (char *)op->name, "--config", cfg.text,
                        "--seed", (char *)seed, "--out",          target,     NULL};
        rc = run_oracle(path, args, out, err);
        if (rc == DSV4_EXIT_OK) fprintf(out, "dsv4 gen: wrote %s\n", target);
    }
    dsv4_opcfg_free(&cfg);
    return rc;
}
