/* test_indexer_golden.c - `dsv4 check` against the shipped golden file
 * golden/indexer.tie_kth.safetensors (spec/golden.md §6f), whose index lists
 * leave the order of exactly tied scores unspecified: a candidate that
 * orders and chooses tied entries differently conforms, and check says it
 * used the rule; one that swaps two entries of different scores does not.
 * Run from the repository root (scripts/run-tests.sh does). */
#include "cli_call.h"
#include <criterion/criterion.h>

#include "cli.h"
#include "dsv4_io.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define GOLDEN "golden/indexer.tie_kth.safetensors"

static char dir[64], path_cand[128];

static void make_dir(void) {
    snprintf(dir, sizeof dir, "/tmp/dsv4_idx_XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
    snprintf(path_cand, sizeof path_cand, "%s/cand.safetensors", dir);
}

static void remove_dir(void) {
    unlink(path_cand);
    rmdir(dir);
}

static dsv4_tensor *find_mut(dsv4_st *st, const char *name) {
    for (size_t i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    cr_assert_fail("no tensor %s", name);
    return NULL;
}

/* The golden file's one row of scores and its lists (T = 1). */
typedef struct lists {
    dsv4_st st;
    const float *s;
    int32_t *idx, *kv;
    size_t E, K;
} lists;

static lists load(void) {
    lists l;
    char err[256];
    memset(&l, 0, sizeof l);
    cr_assert_eq(dsv4_st_read(GOLDEN, &l.st, err, sizeof err), DSV4_OK,
                 "%s (run the tests from the repository root): %s", GOLDEN, err);
    dsv4_tensor *s = find_mut(&l.st, "scores.i"), *idx = find_mut(&l.st, "topk.idx");
    cr_assert(s->rank == 2 && s->shape[0] == 1 && idx->rank == 2 && idx->shape[0] == 1);
    l.s = s->data;
    l.E = s->shape[1];
    l.idx = idx->data;
    l.K = idx->shape[1];
    l.kv = find_mut(&l.st, "topk.kv")->data;
    return l;
}

/* Swap places i and j of both lists. */
static void swap(lists *l, size_t i, size_t j) {
    int32_t t = l->idx[i];
    l->idx[i] = l->idx[j];
    l->idx[j] = t;
    t = l->kv[i];
    l->kv[i] = l->kv[j];
    l->kv[j] = t;
}

static result check(lists *l) {
    make_dir();
    cr_assert_eq(dsv4_st_write(path_cand, &l->st), DSV4_OK);
    result r = call(dsv4_cli_check, "check", path_cand, "--golden", GOLDEN, NULL);
    remove_dir();
    return r;
}

Test(indexer_golden, check_accepts_another_order_and_choice_of_tied_entries) {
    lists l = load();
    /* the file ties places 0 and 1, and the entry at the cut (place K - 1)
     * with one left out of the list */
    cr_assert(l.s[l.idx[0]] == l.s[l.idx[1]] && l.s[l.idx[1]] != l.s[l.idx[2]]);
    int32_t twin = -1;
    for (size_t e = 0; e < l.E; e++) {
        int listed = 0;
        for (size_t j = 0; j < l.K; j++) listed |= l.idx[j] == (int32_t)e;
        if (!listed && l.s[e] == l.s[l.idx[l.K - 1]]) twin = (int32_t)e;
    }
    cr_assert(twin >= 0, "the golden file has no tie at the cut");
    swap(&l, 0, 1);
    l.kv[l.K - 1] += twin - l.idx[l.K - 1];
    l.idx[l.K - 1] = twin;
    result r = check(&l);
    cr_expect_eq(r.rc, 0, "%s", r.out);
    cr_expect(strstr(r.out, "CONFORMS") && !strstr(r.out, "DOES NOT"), "%s", r.out);
    cr_expect(strstr(r.out, "the file leaves the order of tied scores unspecified: 1 row(s) "
                            "passed by it"),
              "%s", r.out);
    result_free(&r);
    dsv4_st_free(&l.st);
}

Test(indexer_golden, check_rejects_a_swap_of_different_scores) {
    lists l = load();
    cr_assert(l.s[l.idx[1]] != l.s[l.idx[2]]);
    swap(&l, 1, 2);
    result r = check(&l);
    cr_expect_neq(r.rc, 0, "%s", r.out);
    cr_expect(strstr(r.out, "DOES NOT CONFORM") && strstr(r.out, "first divergence: stage topk"),
              "%s", r.out);
    result_free(&r);
    dsv4_st_free(&l.st);
}
