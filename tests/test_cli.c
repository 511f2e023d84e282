/* test_cli.c - the dsv4 program, driven through its subcommand functions
 * (tools/cli.h) with output captured in memory.
 *
 * Each test builds its own files in a fresh temporary directory: an input
 * file, a golden file made by `run --impl ref`, and candidates derived from
 * it (a flipped byte, missing stages, other inputs, a truncated file). */
#include "cli_call.h"
#include <criterion/criterion.h>

#include "cli.h"
#include "compare.h"
#include "internal.h"
#include "registry.h"

#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- running a subcommand --------------------------------------------------- */


/* ---- files -------------------------------------------------------------------- */

static char dir[64];
static char path_in[128], path_gold[128], path_cand[128];

static void make_dir(void) {
    snprintf(dir, sizeof dir, "/tmp/dsv4_cli_XXXXXX");
    cr_assert(mkdtemp(dir) != NULL);
    snprintf(path_in, sizeof path_in, "%s/in.safetensors", dir);
    snprintf(path_gold, sizeof path_gold, "%s/gold.safetensors", dir);
    snprintf(path_cand, sizeof path_cand, "%s/cand.safetensors", dir);
}

static void remove_dir(void) {
    unlink(path_in);
    unlink(path_gold);
    unlink(path_cand);
    rmdir(dir);
}

/* in.x [rows, cols]: a spread of magnitudes plus the special values the
 * policy names (signed zeros, a NaN and an Inf in their own tiles). */
static void fill_x(float *x, size_t rows, size_t cols) {
    for (size_t i = 0; i < rows * cols; i++) {
        float v = (float)((int)(i * 37 % 101) - 50) * 0.37f;
        for (size_t k = 0; k < i % 7; k++) v *= 0.25f;
        x[i] = v;
    }
    if (rows * cols >= 96) {
        x[3] = -0.0f;
        x[40] = NAN;
        x[70] = -INFINITY;
    }
}

/* Write an input file for `op` with a config in its metadata. */
static void write_input(const char *path, const char *op, const char *config, int rank,
                        size_t rows, size_t cols) {
    dsv4_st st = {0};
    size_t shape[2] = {rows, cols};
    float *x = malloc((rows * cols + 1) * sizeof *x);
    cr_assert(x);
    fill_x(x, rows, cols);
    if (rank == 1) shape[0] = rows * cols;
    cr_assert_eq(dsv4_st_add(&st, "in.x", DSV4_DT_F32, rank, shape, x), DSV4_OK);
    cr_assert_eq(dsv4_st_set_meta(&st, "op", op), DSV4_OK);
    if (config) cr_assert_eq(dsv4_st_set_meta(&st, "config", config), DSV4_OK);
    cr_assert_eq(dsv4_st_write(path, &st), DSV4_OK);
    dsv4_st_free(&st);
    free(x);
}

/* A golden file: input, then `run --impl ref`. */
static void make_golden(const char *op, const char *config, int rank, size_t rows, size_t cols) {
    write_input(path_in, op, config, rank, rows, cols);
    result r = call(dsv4_cli_run, "run", op, "--in", path_in, "--out", path_gold, "--impl", "ref",
                    NULL);
    cr_assert_eq(r.rc, 0, "run failed: %s", r.err);
    result_free(&r);
}

static const char *QUANT_FP4 = "{\"fmt\":\"e2m1\",\"block_rows\":1,\"block_cols\":32,\"rule\":\"rceil\"}";

/* Golden quant file with x [4, 160]: scales [4, 5] = 20 bytes. */
static void make_quant_golden(void) { make_golden("quant", QUANT_FP4, 2, 4, 160); }

/* Load the golden file, let `edit` change it, write it as the candidate. */
static void write_candidate(void (*edit)(dsv4_st *st)) {
    dsv4_st st = {0};
    char err[128];
    cr_assert_eq(dsv4_st_read(path_gold, &st, err, sizeof err), DSV4_OK, "%s", err);
    edit(&st);
    cr_assert_eq(dsv4_st_write(path_cand, &st), DSV4_OK);
    dsv4_st_free(&st);
}

static dsv4_tensor *find_mut(dsv4_st *st, const char *name) {
    for (size_t i = 0; i < st->n_tensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    cr_assert_fail("no tensor %s", name);
    return NULL;
}

/* A copy of the file keeping only the tensors for which keep() says 1. */
static void filter_tensors(dsv4_st *st, int (*keep)(const char *name)) {
    dsv4_st kept = {0};
    for (size_t i = 0; i < st->n_tensors; i++)
        if (keep(st->tensors[i].name)) cr_assert_eq(dsv4_st_copy_tensor(&kept, &st->tensors[i], NULL), DSV4_OK);
    for (size_t i = 0; i < st->n_meta; i++)
        cr_assert_eq(dsv4_st_set_meta(&kept, st->meta[i].key, st->meta[i].value), DSV4_OK);
    dsv4_st_free(st);
    *st = kept;
}

/* ---- list, usage, version ------------------------------------------------------ */

Test(cli, list_names_every_op_and_key) {
    result r = call(dsv4_cli_list, "list", NULL);
    cr_assert_eq(r.rc, 0);
    const char *want[] = {"cast", "quant", "block_cols", "rceil", "floor", "e2m1", "ue8m0",
                          "quant.scales", "fake_quant.y", "decode.y", "tolerance exact"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        cr_expect(strstr(r.out, want[i]) != NULL, "list lacks %s", want[i]);
    result_free(&r);
}

Test(cli, usage_errors_exit_2) {
    result r = call(dsv4_cli_main, "dsv4", "frobnicate", NULL);
    cr_expect_eq(r.rc, 2);
    cr_expect(strstr(r.err, "unknown command") && strstr(r.err, "usage:"));
    result_free(&r);
    r = call(dsv4_cli_main, "dsv4", NULL);
    cr_expect_eq(r.rc, 2);
    result_free(&r);
    r = call(dsv4_cli_run, "run", "nosuchop", "--in", "a", "--out", "b", NULL);
    cr_expect_eq(r.rc, 2);
    cr_expect(strstr(r.err, "unknown operator \"nosuchop\""));
    result_free(&r);
    r = call(dsv4_cli_verify, "verify", "--frob", NULL);
    cr_expect_eq(r.rc, 2);
    result_free(&r);
    r = call(dsv4_cli_check, "check", "x.safetensors", "--golden", NULL);
    cr_expect_eq(r.rc, 2);
    result_free(&r);
    r = call(dsv4_cli_bench, "bench", "--slow", NULL);
    cr_expect_eq(r.rc, 2);
    result_free(&r);
}

Test(cli, help_and_version) {
    result r = call(dsv4_cli_main, "dsv4", "version", NULL);
    cr_expect_eq(r.rc, 0);
    cr_expect(strstr(r.out, DSV4_VERSION_STRING));
    result_free(&r);
    r = call(dsv4_cli_main, "dsv4", "help", NULL);
    cr_expect_eq(r.rc, 0);
    cr_expect(strstr(r.out, "verify") && strstr(r.out, "check") && strstr(r.out, "bench"));
    result_free(&r);
}

Test(cli, bad_isa_env_is_named) {
    setenv("DSV4_ISA", "avx9000", 1);
    result r = call(dsv4_cli_main, "dsv4", "verify", NULL);
    cr_expect_eq(r.rc, 2);
    cr_expect(strstr(r.err, "avx9000") && strstr(r.err, "scalar"), "%s", r.err);
    result_free(&r);
}

/* ---- configuration --------------------------------------------------------------- */

Test(cli, config_validation) {
    const dsv4_op *q = dsv4_op_find("quant");
    cr_assert(q);
    dsv4_opcfg cfg;
    char err[256];
    const char *bad[] = {
        "{\"fmt\":\"e3m3\"}",            /* not an element format */
        "{\"fmt\":\"bf16\"}",            /* a format quant does not take */
        "{\"block_cols\":0}",            /* not positive */
        "{\"block_cols\":-4}",           /* negative */
        "{\"block_cols\":33}",           /* odd for e2m1 */
        "{\"block_rows\":1.5}",          /* not an integer */
        "{\"rule\":\"round\"}",          /* unknown rule */
        "{\"colour\":\"red\"}",          /* unknown key */
        "[1,2]",                         /* not an object */
        "{\"fmt\":",                     /* not JSON */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        cr_expect_neq(dsv4_op_configure(q, bad[i], &cfg, err, sizeof err), DSV4_OK, "%s", bad[i]);
        cr_expect(strlen(err) > 0, "no reason for %s", bad[i]);
    }
    cr_assert_eq(dsv4_op_configure(q, "{\"fmt\":\"e4m3\",\"block_cols\":33}", &cfg, err, sizeof err),
                 DSV4_OK, "%s", err);
    cr_expect_str_eq(cfg.text, "{\"fmt\":\"e4m3\",\"block_rows\":1,\"block_cols\":33,\"rule\":\"rceil\"}");
    dsv4_opcfg_free(&cfg);
    cr_assert_eq(dsv4_op_configure(q, NULL, &cfg, err, sizeof err), DSV4_OK);
    cr_expect_str_eq(cfg.text, "{\"fmt\":\"e2m1\",\"block_rows\":1,\"block_cols\":32,\"rule\":\"rceil\"}");
    dsv4_opcfg_free(&cfg);
}

Test(cli, run_rejects_shape_that_does_not_fit_tile) {
    make_dir();
    write_input(path_in, "quant", QUANT_FP4, 2, 3, 48); /* 48 % 32 != 0 */
    result r = call(dsv4_cli_run, "run", "quant", "--in", path_in, "--out", path_gold, NULL);
    cr_expect_eq(r.rc, 1);
    cr_expect(strstr(r.err, "quant.scales [rows/block_rows, cols/block_cols]") &&
                  strstr(r.err, "48 is not a multiple of 32 (block_cols)"),
              "%s", r.err);
    result_free(&r);
    write_input(path_in, "quant", QUANT_FP4, 1, 1, 64); /* rank 1 */
    r = call(dsv4_cli_run, "run", "quant", "--in", path_in, "--out", path_gold, NULL);
    cr_expect_eq(r.rc, 1);
    cr_expect(strstr(r.err, "rank"), "%s", r.err);
    result_free(&r);
    remove_dir();
}

/* ---- verify ---------------------------------------------------------------------- */

/* verify of the golden file passes on every ISA and several thread counts. */
Test(cli, verify_passes_on_own_golden_every_isa_and_thread_count) {
    make_dir();
    make_quant_golden();
    for (int isa = 0; isa < DSV4_ISA_COUNT; isa++) {
        if (!dsv4_isa_supported((dsv4_isa)isa)) continue;
        cr_assert_eq(dsv4_isa_set((dsv4_isa)isa), DSV4_OK);
        for (int th = 1; th <= 3; th++) {
            cr_assert_eq(dsv4_threads_set(th), DSV4_OK);
            result r = call(dsv4_cli_verify, "verify", path_gold, NULL);
            cr_expect_eq(r.rc, 0, "isa %d threads %d:\n%s", isa, th, r.out);
            /* 2 impls x 3 stages x 2 modes */
            cr_expect(strstr(r.out, "verify: 12 passed, 0 failed"), "%s", r.out);
            cr_expect(strstr(r.out, dsv4_isa_name((dsv4_isa)isa)));
            result_free(&r);
        }
    }
    remove_dir();
}

Test(cli, verify_every_cast_format_and_odd_sizes) {
    const char *fmts[] = {"bf16", "e4m3", "e5m2", "e2m1", "ue8m0"};
    const size_t sizes[] = {0, 1, 15, 17, 97};
    make_dir();
    for (size_t f = 0; f < 5; f++)
        for (size_t s = 0; s < 5; s++) {
            char cfg[64];
            snprintf(cfg, sizeof cfg, "{\"fmt\":\"%s\"}", fmts[f]);
            make_golden("cast", cfg, 1, 1, sizes[s]);
            result r = call(dsv4_cli_verify, "verify", path_gold, NULL);
            cr_expect_eq(r.rc, 0, "%s n=%zu:\n%s", fmts[f], sizes[s], r.out);
            cr_expect(strstr(r.out, "verify: 8 passed, 0 failed"), "%s", r.out);
            result_free(&r);
        }
    remove_dir();
}

Test(cli, verify_quant_configs_with_wide_tiles) {
    const char *cfgs[] = {
        "{\"fmt\":\"e4m3\",\"block_rows\":1,\"block_cols\":128}",
        "{\"fmt\":\"e5m2\",\"block_rows\":2,\"block_cols\":64,\"rule\":\"floor\"}",
        "{\"fmt\":\"e2m1\",\"block_rows\":3,\"block_cols\":2}",
    };
    make_dir();
    for (size_t i = 0; i < 3; i++) {
        make_golden("quant", cfgs[i], 2, 6, 128);
        result r = call(dsv4_cli_verify, "verify", path_gold, NULL);
        cr_expect_eq(r.rc, 0, "%s:\n%s", cfgs[i], r.out);
        result_free(&r);
    }
    remove_dir();
}

/* 1 when the table row containing `key` ends in `verdict` (PASS/FAIL ...). */
static int row_says(const char *out, const char *key, const char *verdict) {
    const char *p = strstr(out, key);
    if (!p) return 0;
    const char *end = strchr(p, '\n');
    const char *v = strstr(p, verdict);
    return v && (!end || v < end);
}

static void flip_scale_17(dsv4_st *st) {
    dsv4_tensor *t = find_mut(st, "quant.scales");
    cr_assert_geq(t->nbytes, 18);
    ((uint8_t *)t->data)[17] ^= 0x01;
}

/* A golden file whose stored output is wrong: verify names the stage. */
Test(cli, verify_fails_on_wrong_golden_output) {
    make_dir();
    make_quant_golden();
    write_candidate(flip_scale_17);
    result r = call(dsv4_cli_verify, "verify", path_cand, NULL);
    cr_expect_eq(r.rc, 1);
    /* quant fails in both modes for both impls; the others still pass when
     * fed with the golden scales in stage mode, and dequant e2e fails. */
    cr_expect(strstr(r.out, "quant.scales: 1 of 20 differ, first index 17"), "%s", r.out);
    /* stage mode feeds dequant the corrupted golden scales: it fails; e2e
     * feeds it this implementation's own (correct) scales: it passes. */
    for (int impl = 0; impl < 2; impl++) {
        char key[64];
        snprintf(key, sizeof key, "%s  dequant      stage", impl ? "opt" : "ref");
        cr_expect(row_says(r.out, key, "FAIL"), "%s:\n%s", key, r.out);
        snprintf(key, sizeof key, "%s  dequant      e2e", impl ? "opt" : "ref");
        cr_expect(row_says(r.out, key, "PASS"), "%s:\n%s", key, r.out);
    }
    cr_expect(strstr(r.out, "verify: 6 passed, 6 failed"), "%s", r.out);
    result_free(&r);
    remove_dir();
}

Test(cli, verify_malformed_file_is_a_fail_row) {
    make_dir();
    FILE *f = fopen(path_cand, "wb");
    cr_assert(f);
    fputs("this is not a safetensors file", f);
    fclose(f);
    result r = call(dsv4_cli_verify, "verify", path_cand, NULL);
    cr_expect_eq(r.rc, 1);
    cr_expect(strstr(r.out, "FAIL"));
    cr_expect(strstr(r.out, "verify: 0 passed, 1 failed"), "%s", r.out);
    result_free(&r);
    /* A directory with no golden files is a failure, not a silent pass. */
    unlink(path_cand);
    r = call(dsv4_cli_verify, "verify", dir, NULL);
    cr_expect_eq(r.rc, 1);
    cr_expect(strstr(r.out, "verify: 0 passed, 0 failed"));
    result_free(&r);
    remove_dir();
}

static void drop_stages_meta(dsv4_st *st) { cr_assert_eq(dsv4_st_set_meta(st, "stages", "[]"), DSV4_OK); }

Test(cli, verify_rejects_inconsistent_metadata) {
    make_dir();
    make_quant_golden();
    write_candidate(drop_stages_meta);
    result r = call(dsv4_cli_verify, "verify", path_cand, NULL);
    cr_expect_eq(r.rc, 1);
    cr_expect(strstr(r.out, "stages"), "%s", r.out);
    result_free(&r);
    remove_dir();
}

Test(cli, verify_reads_directory_from_env) {
    make_dir();
    make_quant_golden();
    unlink(path_in); /* a plain input file is not a golden file */
    setenv("DSV4_GOLDEN_DIR", dir, 1);
    result r = call(dsv4_cli_verify, "verify", NULL);
    cr_expect_eq(r.rc, 0, "%s", r.out);
    cr_expect(strstr(r.out, "gold.safetensors"));
    result_free(&r);
    remove_dir();
}

/* ---- check ------------------------------------------------------------------------ */

Test(cli, check_accepts_run_output) {
    make_dir();
    make_quant_golden();
    result r = call(dsv4_cli_check, "check", path_gold, "--golden", path_gold, NULL);
    cr_expect_eq(r.rc, 0, "%s", r.out);
    cr_expect(strstr(r.out, "CONFORMS") && strstr(r.out, "3 passed"), "%s", r.out);
    result_free(&r);
    /* opt run of the golden file: records where its golden is, so no --golden. */
    r = call(dsv4_cli_run, "run", "quant", "--in", path_gold, "--out", path_cand, "--impl", "opt",
             NULL);
    cr_assert_eq(r.rc, 0, "%s", r.err);
    result_free(&r);
    r = call(dsv4_cli_check, "check", path_cand, NULL);
    cr_expect_eq(r.rc, 0, "%s%s", r.out, r.err);
    result_free(&r);
    remove_dir();
}

Test(cli, check_names_first_divergence) {
    make_dir();
    make_quant_golden();
    write_candidate(flip_scale_17);
    result r = call(dsv4_cli_check, "check", path_cand, "--golden", path_gold, NULL);
    cr_expect_eq(r.rc, 1);
    /* quant.scales is [4, 5]: flat index 17 is row 3, column 2 */
    cr_expect(strstr(r.out, "first divergence: stage quant, tensor quant.scales, index 17 [3, 2]: "
                            "got 0x"),
              "%s", r.out);
    cr_expect(strstr(r.out, "DOES NOT CONFORM"));
    result_free(&r);
    remove_dir();
}

static void flip_sign_of_a_zero(dsv4_st *st) {
    dsv4_tensor *t = find_mut(st, "fake_quant.y");
    float *y = t->data;
    size_t n = dsv4_tensor_numel(t), i = 0;
    while (i < n && !(y[i] == 0.0f)) i++;
    cr_assert_lt(i, n, "no zero in fake_quant.y");
    y[i] = -y[i];
}

/* -0 for +0 is a divergence under an exact tolerance. */
Test(cli, check_sees_sign_of_zero) {
    make_dir();
    make_quant_golden();
    write_candidate(flip_sign_of_a_zero);
    result r = call(dsv4_cli_check, "check", path_cand, "--golden", path_gold, NULL);
    cr_expect_eq(r.rc, 1, "%s", r.out);
    cr_expect(strstr(r.out, "first divergence: stage fake_quant, tensor fake_quant.y"), "%s", r.out);
    result_free(&r);
    remove_dir();
}

static int keep_quant_only(const char *name) { return strncmp(name, "quant.", 6) == 0; }
static int keep_inputs_only(const char *name) { return strncmp(name, "in.", 3) == 0; }
static int keep_codes_only(const char *name) { return strcmp(name, "quant.codes") == 0; }

static void only_quant(dsv4_st *st) { filter_tensors(st, keep_quant_only); }
static void only_inputs(dsv4_st *st) { filter_tensors(st, keep_inputs_only); }
static void only_codes(dsv4_st *st) { filter_tensors(st, keep_codes_only); }

Test(cli, check_skips_stages_not_provided) {
    make_dir();
    make_quant_golden();
    write_candidate(only_quant);
    result r = call(dsv4_cli_check, "check", path_cand, "--golden", path_gold, NULL);
    cr_expect_eq(r.rc, 0, "%s", r.out);
    cr_expect(strstr(r.out, "not provided") && strstr(r.out, "1 passed, 0 failed, 2 not provided"),
              "%s", r.out);
    result_free(&r);
    write_candidate(only_inputs);
    r = call(dsv4_cli_check, "check", path_cand, "--golden", path_gold, NULL);
    cr_expect_eq(r.rc, 1, "no outputs must not conform:\n%s", r.out);
    result_free(&r);
    write_candidate(only_codes); /* half of stage quant */
    r = call(dsv4_cli_check, "check", path_cand, "--golden", path_gold, NULL);
    cr_expect_eq(r.rc, 1, "%s", r.out);
    cr_expect(strstr(r.out, "not provided"), "%s", r.out);
    result_free(&r);
    remove_dir();
}

static void perturb_input(dsv4_st *st) {
    dsv4_tensor *t = find_mut(st, "in.x");
    ((uint8_t *)t->data)[0] ^= 0x01;
}

Test(cli, check_detects_different_inputs) {
    make_dir();
    make_quant_golden();
    write_candidate(perturb_input);
    result r = call(dsv4_cli_check, "check", path_cand, "--golden", path_gold, NULL);
    cr_expect_eq(r.rc, 1);
    cr_expect(strstr(r.out, "candidate was computed from different inputs"), "%s", r.out);
    result_free(&r);
    remove_dir();
}

static void forget_golden(dsv4_st *st) { filter_tensors(st, keep_quant_only); }

Test(cli, check_without_golden_is_an_error) {
    make_dir();
    make_quant_golden();
    write_candidate(forget_golden); /* run of a non-golden input: no "golden" key */
    result r = call(dsv4_cli_check, "check", path_cand, NULL);
    cr_expect_eq(r.rc, 2);
    cr_expect(strstr(r.err, "no golden file") && strstr(r.err, "--golden"), "%s", r.err);
    result_free(&r);
    r = call(dsv4_cli_check, "check", NULL);
    cr_expect_eq(r.rc, 2);
    result_free(&r);
    remove_dir();
}

Test(cli, check_truncated_candidate_is_a_clear_error) {
    make_dir();
    make_quant_golden();
    FILE *f = fopen(path_gold, "rb");
    cr_assert(f);
    static unsigned char buf[1 << 16];
    size_t n = fread(buf, 1, sizeof buf, f);
    fclose(f);
    const size_t cuts[] = {0, 3, 8, 20, n / 2, n - 1};
    for (size_t c = 0; c < sizeof cuts / sizeof cuts[0]; c++) {
        f = fopen(path_cand, "wb");
        cr_assert(f);
        fwrite(buf, 1, cuts[c], f);
        fclose(f);
        result r = call(dsv4_cli_check, "check", path_cand, "--golden", path_gold, NULL);
        cr_expect_eq(r.rc, 1, "cut %zu", cuts[c]);
        cr_expect(strstr(r.err, "cannot read candidate"), "cut %zu: %s", cuts[c], r.err);
        result_free(&r);
    }
    remove_dir();
}

/* ---- compare ------------------------------------------------------------------------ */

static dsv4_tensor f32_tensor(float *v, size_t n) {
    dsv4_tensor t;
    memset(&t, 0, sizeof t);
    t.dtype = DSV4_DT_F32;
    t.rank = 1;
    t.shape[0] = n;
    t.nbytes = n * sizeof(float);
    t.data = v;
    return t;
}

Test(compare, exact_counts_bits) {
    float a[4] = {1.0f, 0.0f, NAN, 3.0f}, b[4] = {1.0f, -0.0f, NAN, 3.0f};
    dsv4_tensor ta = f32_tensor(a, 4), tb = f32_tensor(b, 4);
    dsv4_tol_rule exact = {.kind = DSV4_TOL_EXACT};
    dsv4_cmp r;
    dsv4_compare(&ta, &tb, &exact, &r);
    cr_expect_eq(r.mismatches, 1);
    cr_expect_eq(r.first_index, 1);
    cr_expect(strstr(r.first_exp, "0x80000000"), "%s", r.first_exp);
    /* NaN payloads count too */
    b[1] = 0.0f;
    b[2] = dsv4_f32_from_bits(0x7fc00001);
    dsv4_compare(&ta, &tb, &exact, &r);
    cr_expect_eq(r.mismatches, 1);
    cr_expect_eq(r.first_index, 2);
}

Test(compare, abs_rel_and_nan) {
    float a[5] = {1.0f, NAN, 2.0f, INFINITY, 100.5f}, b[5] = {1.001f, NAN, NAN, INFINITY, 100.0f};
    dsv4_tensor ta = f32_tensor(a, 5), tb = f32_tensor(b, 5);
    dsv4_tol_rule tol = {.kind = DSV4_TOL_ABS_REL, .abs = 0.01};
    dsv4_cmp r;
    dsv4_compare(&ta, &tb, &tol, &r);
    /* index 2 (number vs NaN) and 4 (0.5 > 0.01) fail */
    cr_expect_eq(r.mismatches, 2);
    cr_expect_eq(r.first_index, 2);
    cr_expect(isinf(r.max_abs));
    tol.rel = 0.01; /* 0.5 <= 0.01 + 0.01 * 100 */
    a[2] = NAN;
    dsv4_compare(&ta, &tb, &tol, &r);
    cr_expect_eq(r.mismatches, 0);
    a[3] = -INFINITY;
    dsv4_compare(&ta, &tb, &tol, &r);
    cr_expect_eq(r.mismatches, 1);
}

Test(compare, layout_mismatch) {
    float a[4] = {0}, b[3] = {0};
    dsv4_tensor ta = f32_tensor(a, 4), tb = f32_tensor(b, 3);
    dsv4_tol_rule exact = {.kind = DSV4_TOL_EXACT};
    dsv4_cmp r;
    dsv4_compare(&ta, &tb, &exact, &r);
    cr_expect(!dsv4_cmp_passed(&r));
    cr_expect(strstr(r.reason, "shape [4], expected [3]"), "%s", r.reason);
    tb.dtype = DSV4_DT_I32;
    dsv4_compare(&tb, &tb, &exact, &r);
    cr_expect(dsv4_cmp_passed(&r));
}

/* ---- gen ------------------------------------------------------------------------------ */

Test(cli, gen_without_oracle_is_a_clear_error) {
    setenv("DSV4_ORACLE", "/nonexistent/oracle", 1);
    result r = call(dsv4_cli_gen, "gen", "quant", "--seed", "3", NULL);
    cr_expect_eq(r.rc, 1);
    cr_expect(strstr(r.err, "not built") && strstr(r.err, "/nonexistent/oracle"), "%s", r.err);
    result_free(&r);
    r = call(dsv4_cli_gen, "gen", "quant", "--config", "{\"fmt\":\"e9m9\"}", NULL);
    cr_expect_eq(r.rc, 2);
    result_free(&r);
}

/* The oracle gets the completed config; a shell script stands in for it. */
Test(cli, gen_passes_arguments_to_oracle) {
    make_dir();
    char script[128], log[128];
    snprintf(script, sizeof script, "%s/oracle.sh", dir);
    snprintf(log, sizeof log, "%s/args.txt", dir);
    FILE *f = fopen(script, "w");
    cr_assert(f);
    fprintf(f, "#!/bin/sh\necho \"$@\" > %s\n", log);
    fclose(f);
    chmod(script, 0755);
    setenv("DSV4_ORACLE", script, 1);
    result r = call(dsv4_cli_gen, "gen", "quant", "--seed", "7", "--out", path_gold, NULL);
    cr_expect_eq(r.rc, 0, "%s", r.err);
    result_free(&r);
    char line[512] = "";
    f = fopen(log, "r");
    cr_assert(f);
    cr_assert(fgets(line, sizeof line, f));
    fclose(f);
    cr_expect(strstr(line, "gen quant --config {\"fmt\":\"e2m1\",\"block_rows\":1,\"block_cols\":32,"
                           "\"rule\":\"rceil\"} --seed 7 --out"),
              "%s", line);
    unlink(script);
    unlink(log);
    remove_dir();
}

/* ---- run options and bench ----------------------------------------------------------- */

Test(cli, run_config_precedence) {
    make_dir();
    write_input(path_in, "quant", "{\"fmt\":\"e4m3\",\"block_cols\":64}", 2, 2, 128);
    /* metadata config */
    result r = call(dsv4_cli_run, "run", "quant", "--in", path_in, "--out", path_gold, NULL);
    cr_assert_eq(r.rc, 0, "%s", r.err);
    result_free(&r);
    dsv4_st st = {0};
    char err[128];
    cr_assert_eq(dsv4_st_read(path_gold, &st, err, sizeof err), DSV4_OK);
    cr_expect_str_eq(dsv4_st_meta(&st, "config"),
                     "{\"fmt\":\"e4m3\",\"block_rows\":1,\"block_cols\":64,\"rule\":\"rceil\"}");
    cr_expect_eq(dsv4_st_find(&st, "quant.codes")->shape[1], 128); /* fp8: one byte per code */
    cr_expect_eq(dsv4_st_find(&st, "quant.scales")->shape[1], 2);
    dsv4_st_free(&st);
    /* --config wins */
    r = call(dsv4_cli_run, "run", "quant", "--in", path_in, "--out", path_gold, "--config",
             "{\"block_cols\":32}", "--impl", "opt", NULL);
    cr_assert_eq(r.rc, 0, "%s", r.err);
    result_free(&r);
    cr_assert_eq(dsv4_st_read(path_gold, &st, err, sizeof err), DSV4_OK);
    cr_expect_str_eq(dsv4_st_meta(&st, "config"),
                     "{\"fmt\":\"e2m1\",\"block_rows\":1,\"block_cols\":32,\"rule\":\"rceil\"}");
    cr_expect_eq(dsv4_st_find(&st, "quant.codes")->shape[1], 64); /* e2m1: packed */
    cr_expect_str_eq(dsv4_st_meta(&st, "impl"), "opt");
    dsv4_st_free(&st);
    r = call(dsv4_cli_run, "run", "quant", "--in", path_in, "--out", path_gold, "--impl", "fast",
             NULL);
    cr_expect_eq(r.rc, 2);
    result_free(&r);
    r = call(dsv4_cli_run, "run", "quant", "--in", "/nonexistent.safetensors", "--out", path_gold,
             NULL);
    cr_expect_eq(r.rc, 1);
    cr_expect(strstr(r.err, "cannot read"));
    result_free(&r);
    remove_dir();
}

Test(cli, bench_quick_reports_machine_and_targets, .timeout = 120) {
    result r = call(dsv4_cli_bench, "bench", "--quick", NULL);
    cr_expect_eq(r.rc, 0, "%s", r.err);
    cr_expect(strstr(r.out, "memcpy") && strstr(r.out, "GFLOP/s"), "%s", r.out);
    cr_expect(strstr(r.out, "fp4 quant+pack 1x32") && strstr(r.out, "e4m3 fake_quant 1x64"));
    cr_expect(strstr(r.out, "hc_pre d=4096 T=64") && strstr(r.out, "hc_mixes d=4096 T=64"), "%s",
              r.out);
    cr_expect(strstr(r.out, "hc_pre d=4096 T=64 cold") && strstr(r.out, "x copy r+w"), "%s", r.out);
    cr_expect(strstr(r.out, "met"), "%s", r.out);
    result_free(&r);
}
