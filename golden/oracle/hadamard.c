/* hadamard.c - the Hadamard operator of the oracle (spec/hadamard.md,
 * spec/golden.md §6d): y = (1/sqrt(n)) H_n x per row, exact.
 *
 * The unnormalised sums are formed by the fast transform in MPFR at
 * SUM_PREC bits, enough for any sum of n <= 2^15 fp32 values to be exact
 * (their bits span at most 2^128 down to 2^-149); the product with
 * 1/sqrt(n) is rounded once at SUM_PREC bits, then once to bf16 (the
 * output) and once to fp32 (its reference value). */
#include "hadamard.h"

#include "numfmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SUM_PREC 320

/* z [n] = H_n z, exactly: the butterfly of spec/hadamard.md (H2) without
 * rounding (any order gives the same exact sums). */
static void transform(mpfr_t *z, size_t n, mpfr_t tmp) {
    for (size_t h = 1; h < n; h *= 2)
        for (size_t j = 0; j < n; j += 2 * h)
            for (size_t k = j; k < j + h; k++) {
                mpfr_sub(tmp, z[k], z[k + h], MPFR_RNDN);
                mpfr_add(z[k], z[k], z[k + h], MPFR_RNDN);
                mpfr_swap(z[k + h], tmp);
            }
}

/* One row x [n] -> y (bf16 values), y_f32 and y_tol [n]:
 * tol = (log2(n) + 2) 2^-24 (1 + 2^-10) S / sqrt(n) + 2^-149, S = sum |x_j|
 * (spec/hadamard.md §4), 0 where the exact value is not a number. */
void oh_rotate_row(const uint32_t *x, size_t n, uint32_t *y, uint32_t *y_f32, uint32_t *y_tol) {
    mpfr_t *z = malloc(n * sizeof *z);
    mpfr_t tmp, scale, s, t;
    unsigned k = 0;
    while (((size_t)1 << k) < n) k++;
    mpfr_inits2(SUM_PREC, tmp, scale, s, t, (mpfr_ptr)0);
    mpfr_set_ui(s, 0, MPFR_RNDN);
    for (size_t j = 0; j < n; j++) {
        mpfr_init2(z[j], SUM_PREC);
        ox_set_f32_bits(z[j], x[j]);
        mpfr_abs(t, z[j], MPFR_RNDN);
        mpfr_add(s, s, t, MPFR_RNDN);
    }
    transform(z, n, tmp);
    mpfr_set_ui(scale, (unsigned long)n, MPFR_RNDN);
    mpfr_rec_sqrt(scale, scale, MPFR_RNDN);
    mpfr_mul(s, s, scale, MPFR_RNDN);           /* S / sqrt(n) */
    mpfr_mul_ui(s, s, k + 2, MPFR_RNDN);
    mpfr_mul_2si(s, s, -24, MPFR_RNDN);
    mpfr_mul_2si(t, s, -10, MPFR_RNDN);
    mpfr_add(s, s, t, MPFR_RNDN);
    mpfr_set_ui_2exp(t, 1, -149, MPFR_RNDN);
    mpfr_add(s, s, t, MPFR_RNDN);
    const on_format *bf = on_get(ON_BF16);
    for (size_t i = 0; i < n; i++) {
        mpfr_mul(z[i], z[i], scale, MPFR_RNDN);
        y[i] = on_decode_f32(bf, on_encode(bf, z[i]));
        y_f32[i] = ox_round_f32(z[i]);
        y_tol[i] = mpfr_number_p(z[i]) ? ox_round_f32(s) : 0u;
        mpfr_clear(z[i]);
    }
    mpfr_clears(tmp, scale, s, t, (mpfr_ptr)0);
    free(z);
}

#define TOL_ROTATE "{\"kind\":\"bf16_boundary\",\"tol\":\"rotate.y_tol\",\"ref\":\"rotate.y_f32\"}"

static int build(og_file *f, const char *case_name, uint64_t seed, const char *desc, size_t n,
                 size_t rows, const uint32_t *x, char *err, size_t errlen) {
    uint32_t *y = malloc((3 * rows * n + 1) * sizeof *y);
    if (!y) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t total = rows * n;
    for (size_t r = 0; r < rows; r++)
        oh_rotate_row(&x[r * n], n, &y[r * n], &y[total + r * n], &y[2 * total + r * n]);
    char config[64];
    snprintf(config, sizeof config, "{\"n\":%zu}", n);
    og_begin(f, "hadamard", case_name, config, seed, desc);
    size_t shape[2] = {rows, n};
    og_add(f, "in.x", DSV4_DT_F32, 2, shape, x);
    og_add(f, "rotate.y", DSV4_DT_F32, 2, shape, y);
    og_add(f, "rotate.y_f32", DSV4_DT_F32, 2, shape, y + total);
    og_add(f, "rotate.y_tol", DSV4_DT_F32, 2, shape, y + 2 * total);
    og_stage(f, "rotate", (const char *const[]){"in.x", NULL},
             (const char *const[]){"rotate.y", NULL}, TOL_ROTATE);
    free(y);
    return 0;
}

/* ---- inputs ---------------------------------------------------------------------- */
/* rows of bf16 values ~ N(0, 1) times 2^scale_e[r % n_scales]. */
static void random_rows(ox_rng *r, uint32_t *x, size_t rows, size_t n, const long *scale_e,
                        size_t n_scales) {
    for (size_t i = 0; i < rows; i++)
        for (size_t j = 0; j < n; j++) x[i * n + j] = ox_normal_bf16(r, scale_e[i % n_scales]);
}

#define F32_NAN 0x7FC00000u
#define F32_PINF 0x7F800000u
#define F32_NINF 0xFF800000u

/* 1 when v has an odd number of set bits. */
static int parity(size_t v) {
    int p = 0;
    for (; v; v >>= 1) p ^= (int)(v & 1u);
    return p;
}

/* The adversarial rows of n = 128 (spec/golden.md §6d). */
enum { ADV_ROWS = 12 };
static void adversarial_rows(ox_rng *r, uint32_t *x, size_t n) {
    static const long one[] = {0};
    random_rows(r, x, ADV_ROWS, n, one, 1);
    uint32_t *row;
    row = &x[0 * n]; /* a one-hot row: every output +-1/sqrt(n) */
    memset(row, 0, n * sizeof *row);
    row[37] = 0x3F800000u;
    row = &x[1 * n]; /* all ones: sqrt(n) in output 0, exact zeros elsewhere */
    for (size_t j = 0; j < n; j++) row[j] = 0x3F800000u;
    row = &x[2 * n]; /* Hadamard row 77 itself: sqrt(n) in output 77 only */
    for (size_t j = 0; j < n; j++) row[j] = parity(j & 77u) ? 0xBF800000u : 0x3F800000u;
    row = &x[3 * n]; /* zeros */
    memset(row, 0, n * sizeof *row);
    row = &x[4 * n]; /* large: 2^100 scale */
    for (size_t j = 0; j < n; j++) row[j] = ox_normal_bf16(r, 100);
    row = &x[5 * n]; /* tiny: 2^-120, outputs near the subnormal range */
    for (size_t j = 0; j < n; j++) row[j] = ox_normal_bf16(r, -120);
    row = &x[6 * n]; /* magnitudes 2^-60 .. 2^60 mixed: large cancellations */
    for (size_t j = 0; j < n; j++) row[j] = ox_normal_bf16(r, (long)(j % 121) - 60);
    row = &x[7 * n]; /* a NaN: the whole row NaN */
    row[5] = F32_NAN;
    row = &x[8 * n]; /* +Inf: every output +-Inf */
    row[64] = F32_PINF;
    row = &x[9 * n]; /* +Inf and -Inf: NaN where their signs agree in the sum's terms */
    row[0] = F32_PINF;
    row[1] = F32_NINF;
    row = &x[10 * n]; /* two large equal values and small noise: outputs near zero */
    row[3] = 0x4B000000u;
    row[67] = 0x4B000000u;
    row = &x[11 * n]; /* -0 everywhere */
    for (size_t j = 0; j < n; j++) row[j] = 0x80000000u;
}

/* ---- cases ----------------------------------------------------------------------- */
enum { H_V4, H_N1, H_N2, H_N32, H_N64, H_N4096, H_N32768, H_SCALES, H_ADV, N_H };
static const char *const names[N_H] = {"v4_128", "n1", "n2", "n32", "n64", "n4096", "n32768",
                                       "row_scales", "adversarial"};

static const char *case_name(size_t i) { return names[i]; }

static int build_case(size_t i, og_file *f, char *err, size_t errlen) {
    static const size_t N[N_H] = {128, 1, 2, 32, 64, 4096, 32768, 64, 128};
    static const size_t ROWS[N_H] = {8, 5, 5, 4, 4, 2, 1, 16, ADV_ROWS};
    static const long unit[] = {0};
    static const long scales[] = {-20, -10, -1, 0, 1, 10, 20, -126 + 40};
    size_t n = N[i], rows = ROWS[i];
    uint64_t seed = 1800 + i;
    ox_rng r;
    ox_rng_seed(&r, seed);
    uint32_t *x = calloc(rows * n + 1, sizeof *x);
    if (!x) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    char desc[300];
    if (i == H_SCALES) {
        random_rows(&r, x, rows, n, scales, sizeof scales / sizeof scales[0]);
        snprintf(desc, sizeof desc, "n 64, 16 rows of bf16 x ~ N(0,1) scaled by 2^-20 to 2^20 "
                                    "and 2^-86, one scale per row.");
    } else if (i == H_ADV) {
        adversarial_rows(&r, x, n);
        snprintf(desc, sizeof desc,
                 "n 128: a one-hot row, all ones, Hadamard row 77, zeros, 2^100 and 2^-120 "
                 "scales, magnitudes 2^-60..2^60 mixed, a NaN, +Inf, +Inf with -Inf, two equal "
                 "large values, -0.");
    } else {
        random_rows(&r, x, rows, n, unit, 1);
        snprintf(desc, sizeof desc, "%s%zu rows of bf16 x ~ N(0,1), n %zu.",
                 i == H_V4 ? "V4's indexer size: " : "", rows, n);
    }
    int rc = build(f, names[i], seed, desc, n, rows, x, err, errlen);
    free(x);
    return rc;
}

static int gen(const dsv4_json *config, uint64_t seed, const char *case_name_,
               const og_shape *shape, og_file *f, char *err, size_t errlen) {
    static const long unit[] = {0};
    size_t n = (size_t)dsv4_json_get(config, "n")->u;
    size_t rows = shape && shape->rank >= 1 ? shape->dim[0] : 4;
    if ((shape && shape->rank != 1) || rows * n > (1u << 22)) {
        snprintf(err, errlen, "shape must be rows, with rows * n at most 2^22");
        return -1;
    }
    ox_rng r;
    ox_rng_seed(&r, seed);
    uint32_t *x = calloc(rows * n + 1, sizeof *x);
    if (!x) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    random_rows(&r, x, rows, n, unit, 1);
    char desc[200];
    snprintf(desc, sizeof desc, "hadamard on %zu random rows, n %zu (oracle gen).", rows, n);
    int rc = build(f, case_name_, seed, desc, n, rows, x, err, errlen);
    free(x);
    return rc;
}

/* ---- self test: spec/hadamard.md §5 ---------------------------------------------- */
static int selftest(void) {
    /* x = 1..8: H_8 x = (36, -4, -8, 0, -16, 0, 0, 0); y = that / sqrt(8) in bf16 */
    static const uint32_t want_y[8] = {0x414C0000u, 0xBFB50000u, 0xC0350000u, 0x00000000u,
                                       0xC0B50000u, 0x00000000u, 0x00000000u, 0x00000000u};
    uint32_t x[8], y[8], y_f32[8], tol[8];
    int fails = 0;
    for (int j = 0; j < 8; j++) x[j] = ox_f32_of_dyadic(j + 1, 0);
    oh_rotate_row(x, 8, y, y_f32, tol);
    for (int i = 0; i < 8; i++) fails += ox_check_bits("hadamard worked y", y[i], want_y[i]);
    fails += ox_check_bits("hadamard worked y_f32[1]", y_f32[1], 0xBFB504F3u); /* -sqrt(2) */
    /* n = 1 is the identity, rounded to bf16 */
    x[0] = 0x3F808080u;
    oh_rotate_row(x, 1, y, y_f32, tol);
    fails += ox_check_bits("hadamard n = 1", y[0], 0x3F810000u);
    return fails;
}

const og_op og_op_hadamard = {
    .name = "hadamard",
    .n_cases = N_H,
    .case_name = case_name,
    .build_case = build_case,
    .gen = gen,
    .selftest = selftest,
};
