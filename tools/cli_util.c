/* cli_util.c - option parsing, path lists and a clock for the subcommands. */
#include "cli.h"

#include <dirent.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int dsv4_cli_opt(int argc, char **argv, int *i, const char *name, const char **value,
                 FILE *err) {
    const char *a = argv[*i];
    size_t n = strlen(name);
    if (strncmp(a, "--", 2) != 0 || strncmp(a + 2, name, n) != 0) return 0;
    if (a[2 + n] == '=') {
        *value = a + 3 + n;
        return 1;
    }
    if (a[2 + n] != '\0') return 0;
    if (*i + 1 >= argc) {
        fprintf(err, "dsv4 %s: option --%s needs a value\n", argv[0], name);
        return -1;
    }
    *value = argv[++*i];
    return 1;
}

int dsv4_cli_usage_error(FILE *err, const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(err, "dsv4 %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(err, fmt, ap);
    va_end(ap);
    fprintf(err, "\n");
    dsv4_cli_usage(err);
    return DSV4_EXIT_USAGE;
}

static int push(dsv4_pathlist *l, const char *path) {
    char **p = realloc(l->paths, (l->n + 1) * sizeof *p);
    if (!p) return 0;
    l->paths = p;
    size_t len = strlen(path);
    l->paths[l->n] = malloc(len + 1);
    if (!l->paths[l->n]) return 0;
    memcpy(l->paths[l->n], path, len + 1);
    l->n++;
    return 1;
}

static int has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && strcmp(s + n - m, suffix) == 0;
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The directory's *.safetensors entries, sorted so that output is stable. */
static int add_dir(dsv4_pathlist *l, const char *dir, FILE *err) {
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(err, "dsv4: cannot open directory %s\n", dir);
        return 0;
    }
    size_t first = l->n;
    int ok = 1;
    for (struct dirent *e = readdir(d); e && ok; e = readdir(d)) {
        if (!has_suffix(e->d_name, ".safetensors")) continue;
        size_t len = strlen(dir) + strlen(e->d_name) + 2;
        char *p = malloc(len);
        ok = p != NULL;
        if (ok) {
            snprintf(p, len, "%s/%s", dir, e->d_name);
            ok = push(l, p);
            free(p);
        }
    }
    closedir(d);
    if (l->n > first) qsort(l->paths + first, l->n - first, sizeof *l->paths, cmp_str);
    if (!ok) fprintf(err, "dsv4: out of memory listing %s\n", dir);
    return ok;
}

int dsv4_pathlist_add(dsv4_pathlist *l, const char *path, FILE *err) {
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(err, "dsv4: no such file or directory: %s\n", path);
        return 0;
    }
    if (S_ISDIR(sb.st_mode)) return add_dir(l, path, err);
    if (!push(l, path)) {
        fprintf(err, "dsv4: out of memory\n");
        return 0;
    }
    return 1;
}

void dsv4_pathlist_free(dsv4_pathlist *l) {
    for (size_t i = 0; i < l->n; i++) free(l->paths[i]);
    free(l->paths);
    l->paths = NULL;
    l->n = 0;
}

double dsv4_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}
