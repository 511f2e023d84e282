/* test_opt_quant.c - dsv4_opt_quant / dequant / fake_quant against the
 * reference, bit for bit (codes, scales, values, NaN bits, signs of zero),
 * for every element format and scale rule, every supported ISA, 1, 2 and 3
 * threads, tile widths around the vector widths, tall tiles, and inputs whose
 * tiles each stress one thing: wide magnitudes, exact ties on the element
 * grid, amax just above and below a power-of-two boundary, subnormals, zeros
 * of both signs, NaN and Inf.  Bad configurations must give ref's status. */
#include "dsv4.h"

#include <criterion/criterion.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static float f32(uint32_t u) { float x; memcpy(&x, &u, 4); return x; }
static uint32_t bits(float x) { uint32_t u; memcpy(&u, &x, 4); return u; }

static int isa_list(dsv4_isa *out) {
    int n = 0;
    for (int i = 0; i < DSV4_ISA_COUNT; i++)
        if (dsv4_isa_supported((dsv4_isa)i)) out[n++] = (dsv4_isa)i;
    return n;
}

static uint64_t rng_state = 0x13198A2E03707344u;
static uint32_t rng32(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9E3779B97F4A7C15u);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9u;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBu;
    return (uint32_t)((z ^ (z >> 31)) >> 32);
}
static uint32_t below(uint32_t n) { return rng32() % n; }

/* ---- element formats, from the reference scalar functions ------------------- */
typedef struct elem {
    dsv4_fmt fmt;
    int n_mag;          /* finite magnitude codes 0 .. n_mag-1 */
    float max;          /* M */
} elem;

static elem elem_of(dsv4_fmt f) {
    switch (f) {
    case DSV4_FMT_E2M1: return (elem){f, 8, 6.0f};
    case DSV4_FMT_E4M3: return (elem){f, 127, 448.0f};
    default: return (elem){f, 124, 57344.0f};
    }
}

static float decode_mag(const elem *e, int code) {
    switch (e->fmt) {
    case DSV4_FMT_E2M1: return dsv4_e2m1_decode((uint8_t)code);
    case DSV4_FMT_E4M3: return dsv4_e4m3_decode((uint8_t)code);
    default: return dsv4_e5m2_decode((uint8_t)code);
    }
}

static float pow2(int k) { return k >= -126 ? f32((uint32_t)(k + 127) << 23) : f32(1u << (k + 149)); }
static float with_sign(float v) { return below(2) ? -v : v; }

/* ---- tile contents --------------------------------------------------------- */
typedef enum regime {
    R_WIDE,      /* random magnitudes over 40 binades below a random top */
    R_TIES,      /* amax = M * 2^k exactly, others on grid points and midpoints */
    R_EDGE,      /* amax one ulp around M * 2^k: the scale flips there */
    R_SUBNORMAL, /* fp32 subnormals only */
    R_ZEROS,     /* +0 and -0, maybe a tiny value */
    R_NONFINITE, /* wide, with one NaN or Inf */
    R_FLOOR,     /* amax around the policy floor */
    R_HUGE,      /* near FLT_MAX */
    R_COUNT
} regime;

typedef struct tile_gen {
    regime r;
    int k;        /* scale exponent for R_TIES / R_EDGE */
    int top;      /* top binade for R_WIDE / R_NONFINITE */
} tile_gen;

static tile_gen new_tile(void) {
    tile_gen g = {(regime)below(R_COUNT), (int)below(220) - 110, (int)below(250) - 125};
    return g;
}

static float wide_value(int top) {
    int e = top - (int)below(40);
    if (e < -149) e = -149;
    return with_sign(pow2(e) * f32(0x3F800000u | (rng32() & 0x7FFFFFu)));
}

static float tile_element(const tile_gen *g, const elem *e) {
    uint32_t floor_bits = e->fmt == DSV4_FMT_E2M1 ? 0x01C00000u : 0x38D1B717u;
    switch (g->r) {
    case R_WIDE: return wide_value(g->top);
    case R_TIES: {
        int c = (int)below((uint32_t)e->n_mag - 1);
        float lo = decode_mag(e, c), hi = decode_mag(e, c + 1);
        float v = below(2) ? (lo + hi) / 2 : lo; /* exact: few significant bits */
        return with_sign(v * pow2(g->k));
    }
    case R_EDGE: return with_sign(e->max * pow2(g->k) * f32(0x3F800000u + below(3) - 1) * 0.999f);
    case R_SUBNORMAL: return with_sign(f32(rng32() & 0x7FFFFFu));
    case R_ZEROS: return below(8) ? with_sign(0.0f) : with_sign(f32(below(16)));
    case R_NONFINITE: return wide_value(g->top);
    case R_FLOOR: return with_sign(f32(floor_bits + below(5) - 2) * (below(4) ? 1.0f : 0.5f));
    default: return with_sign(f32(0x7F7FFFFFu - below(1u << 22)));
    }
}

/* The element that makes the tile's amax what the regime wants. */
static float tile_anchor(const tile_gen *g, const elem *e) {
    switch (g->r) {
    case R_TIES: return with_sign(e->max * pow2(g->k));
    case R_EDGE: return with_sign(f32(bits(e->max * pow2(g->k)) + below(3) - 1));
    case R_NONFINITE: {
        static const uint32_t nf[] = {0x7F800000u, 0xFF800000u, 0x7FC00000u, 0xFFC00000u,
                                      0x7F800001u, 0xFFBFFFFFu};
        return f32(nf[below(6)]);
    }
    default: return tile_element(g, e);
    }
}

/* x[rows, cols], tile by tile. */
static void fill(float *x, size_t rows, size_t cols, size_t br, size_t bc, const elem *e) {
    for (size_t tr = 0; tr < rows / br; tr++)
        for (size_t tc = 0; tc < cols / bc; tc++) {
            tile_gen g = new_tile();
            size_t anchor = below((uint32_t)(br * bc));
            for (size_t i = 0; i < br * bc; i++) {
                float v = i == anchor ? tile_anchor(&g, e) : tile_element(&g, e);
                x[(tr * br + i / bc) * cols + tc * bc + i % bc] = v;
            }
        }
}

/* ---- comparisons ------------------------------------------------------------- */
typedef struct run_desc {
    dsv4_quant_cfg cfg;
    size_t rows, cols;
    dsv4_isa isa;
    int threads;
} run_desc;

static void where(const run_desc *d, char *buf, size_t len) {
    snprintf(buf, len, "%s %s br=%zu bc=%zu [%zu x %zu] on %s with %d threads",
             dsv4_fmt_name(d->cfg.fmt), d->cfg.rule == DSV4_SCALE_RCEIL ? "rceil" : "floor",
             d->cfg.block_rows, d->cfg.block_cols, d->rows, d->cols, dsv4_isa_name(d->isa),
             d->threads);
}

static void same_bytes(const run_desc *d, const char *what, const void *got, const void *want,
                       size_t n) {
    if (memcmp(got, want, n) == 0) return;
    size_t i = 0;
    while (((const uint8_t *)got)[i] == ((const uint8_t *)want)[i]) i++;
    char w[200];
    where(d, w, sizeof w);
    cr_assert_fail("%s: %s differs at byte %zu: opt 0x%02x, ref 0x%02x", w, what, i,
                   ((const uint8_t *)got)[i], ((const uint8_t *)want)[i]);
}

static void same_floats(const run_desc *d, const char *what, const float *got,
                        const float *want, const float *x, size_t n) {
    if (memcmp(got, want, n * 4) == 0) return;
    size_t i = 0;
    while (bits(got[i]) == bits(want[i])) i++;
    char w[200];
    where(d, w, sizeof w);
    cr_assert_fail("%s: %s differs at element %zu (x = %a): opt %a (0x%08x), ref %a (0x%08x)",
                   w, what, i, x ? (double)x[i] : 0.0, (double)got[i], bits(got[i]),
                   (double)want[i], bits(want[i]));
}

enum { GUARD = 32 };

static void guard_intact(const run_desc *d, const char *what, const uint8_t *end) {
    for (int g = 0; g < GUARD; g++)
        if (end[g] != 0xA5) {
            char w[200];
            where(d, w, sizeof w);
            cr_assert_fail("%s: %s wrote past its end", w, what);
        }
}

/* One shape: ref once, then opt on every ISA and thread count. */
static void check_shape(dsv4_fmt fmt, dsv4_scale_rule rule, size_t br, size_t bc, size_t rows,
                        size_t cols) {
    dsv4_quant_cfg cfg = {fmt, br, bc, rule};
    elem e = elem_of(fmt);
    size_t n = rows * cols, code_bytes, scale_bytes;
    cr_assert_eq(dsv4_quant_sizes(&cfg, rows, cols, &code_bytes, &scale_bytes), DSV4_OK);
    float *x = malloc(n * 4), *y_ref = malloc(n * 4), *fq_ref = malloc(n * 4);
    float *y = malloc(n * 4 + GUARD);
    uint8_t *c_ref = malloc(code_bytes), *s_ref = malloc(scale_bytes);
    uint8_t *c = malloc(code_bytes + GUARD), *s = malloc(scale_bytes + GUARD);
    uint8_t *c_rand = malloc(code_bytes), *s_rand = malloc(scale_bytes);
    float *y_rand_ref = malloc(n * 4);
    cr_assert(x && y_ref && fq_ref && y && c_ref && s_ref && c && s && c_rand && s_rand && y_rand_ref);

    fill(x, rows, cols, br, bc, &e);
    for (size_t i = 0; i < code_bytes; i++) c_rand[i] = (uint8_t)rng32();
    for (size_t i = 0; i < scale_bytes; i++) s_rand[i] = (uint8_t)rng32();
    s_rand[0] = 0x00; /* 2^-127, a subnormal scale */
    if (scale_bytes > 1) s_rand[1] = 0xFF;
    cr_assert_eq(dsv4_ref_quant(&cfg, rows, cols, x, c_ref, s_ref), DSV4_OK);
    cr_assert_eq(dsv4_ref_dequant(&cfg, rows, cols, c_ref, s_ref, y_ref), DSV4_OK);
    cr_assert_eq(dsv4_ref_dequant(&cfg, rows, cols, c_rand, s_rand, y_rand_ref), DSV4_OK);
    cr_assert_eq(dsv4_ref_fake_quant(&cfg, rows, cols, x, fq_ref), DSV4_OK);

    dsv4_isa isas[DSV4_ISA_COUNT];
    int n_isa = isa_list(isas);
    for (int k = 0; k < n_isa; k++)
        for (int threads = 1; threads <= 3; threads++) {
            run_desc d = {cfg, rows, cols, isas[k], threads};
            cr_assert_eq(dsv4_isa_set(isas[k]), DSV4_OK);
            cr_assert_eq(dsv4_threads_set(threads), DSV4_OK);

            memset(c, 0xA5, code_bytes + GUARD);
            memset(s, 0xA5, scale_bytes + GUARD);
            cr_assert_eq(dsv4_opt_quant(&cfg, rows, cols, x, c, s), DSV4_OK);
            same_bytes(&d, "quant scales", s, s_ref, scale_bytes);
            same_bytes(&d, "quant codes", c, c_ref, code_bytes);
            guard_intact(&d, "quant codes", c + code_bytes);
            guard_intact(&d, "quant scales", s + scale_bytes);

            memset(y, 0xA5, n * 4 + GUARD);
            cr_assert_eq(dsv4_opt_dequant(&cfg, rows, cols, c_ref, s_ref, y), DSV4_OK);
            same_floats(&d, "dequant", y, y_ref, NULL, n);
            cr_assert_eq(dsv4_opt_dequant(&cfg, rows, cols, c_rand, s_rand, y), DSV4_OK);
            same_floats(&d, "dequant of random bytes", y, y_rand_ref, NULL, n);
            guard_intact(&d, "dequant", (const uint8_t *)(y + n));

            memset(y, 0xA5, n * 4 + GUARD);
            cr_assert_eq(dsv4_opt_fake_quant(&cfg, rows, cols, x, y), DSV4_OK);
            same_floats(&d, "fake_quant", y, fq_ref, x, n);
            guard_intact(&d, "fake_quant", (const uint8_t *)(y + n));

            memcpy(y, x, n * 4); /* in place */
            cr_assert_eq(dsv4_opt_fake_quant(&cfg, rows, cols, y, y), DSV4_OK);
            same_floats(&d, "fake_quant in place", y, fq_ref, x, n);
        }
    free(x); free(y_ref); free(fq_ref); free(y); free(c_ref); free(s_ref);
    free(c); free(s); free(c_rand); free(s_rand); free(y_rand_ref);
}

/* The shape list: one-row tiles of widths around 8 and 16 lanes, the V4
 * widths, tall tiles (128 x 128 weights) and small odd tiles. */
static void check_all_shapes(dsv4_fmt fmt, dsv4_scale_rule rule) {
    static const size_t row_counts[] = {1, 2, 3, 7, 128};
    static const size_t widths[] = {1, 2, 3, 6, 8, 14, 16, 18, 24, 30, 32, 34, 48, 64, 100, 128};
    for (size_t ri = 0; ri < sizeof row_counts / sizeof row_counts[0]; ri++)
        for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) {
            size_t bc = widths[wi], rows = row_counts[ri];
            if (fmt == DSV4_FMT_E2M1 && bc % 2) continue;
            size_t tiles = rows == 128 ? 3 : 1 + wi % 4;
            check_shape(fmt, rule, 1, bc, rows, bc * tiles);
        }
    for (size_t wi = 0; wi < sizeof widths / sizeof widths[0]; wi++) /* long rows: tile groups */
        if (fmt != DSV4_FMT_E2M1 || widths[wi] % 2 == 0)
            check_shape(fmt, rule, 1, widths[wi], 3, widths[wi] * (37 + wi));
    check_shape(fmt, rule, 1, 32, 128, 32 * 33);   /* tasks cross tile-rows */
    check_shape(fmt, rule, 1, 16, 4099, 16);       /* one tile per row, many rows */
    check_shape(fmt, rule, 1, 32, 1, 32 * 4097);   /* one long row, many tasks */
    check_shape(fmt, rule, 128, 128, 256, 384);    /* weight tiles */
    check_shape(fmt, rule, 2, 2, 6, 10);
    check_shape(fmt, rule, 3, 18, 9, 54);
    check_shape(fmt, rule, 5, 34, 5, 34);
    check_shape(fmt, rule, 7, 16, 21, 48);
    if (fmt != DSV4_FMT_E2M1) check_shape(fmt, rule, 4, 1, 8, 3);
}

Test(quant_vs_ref, e2m1_rceil, .timeout = 600) { check_all_shapes(DSV4_FMT_E2M1, DSV4_SCALE_RCEIL); }
Test(quant_vs_ref, e2m1_floor, .timeout = 600) { check_all_shapes(DSV4_FMT_E2M1, DSV4_SCALE_FLOOR); }
Test(quant_vs_ref, e4m3_rceil, .timeout = 600) { check_all_shapes(DSV4_FMT_E4M3, DSV4_SCALE_RCEIL); }
Test(quant_vs_ref, e4m3_floor, .timeout = 600) { check_all_shapes(DSV4_FMT_E4M3, DSV4_SCALE_FLOOR); }
Test(quant_vs_ref, e5m2_rceil, .timeout = 600) { check_all_shapes(DSV4_FMT_E5M2, DSV4_SCALE_RCEIL); }
Test(quant_vs_ref, e5m2_floor, .timeout = 600) { check_all_shapes(DSV4_FMT_E5M2, DSV4_SCALE_FLOOR); }

/* The worked FP4 tiles of spec/formats.md §4.3, through opt. */
Test(quant_vs_ref, fp4_worked_vectors) {
    const float in[4][4] = {{6, -3, 0.25f, 0.75f}, {12, 5, -5, 2.5f}, {4, 1, -0.1f, 0.3f}, {448, 1, 0, 0}};
    const uint8_t want_scale[4] = {0x7F, 0x80, 0x7F, 0x86};
    const uint8_t want_codes[4][2] = {{0xD7, 0x20}, {0x47, 0x2C}, {0x26, 0x18}, {0x06, 0x00}};
    dsv4_quant_cfg cfg = {DSV4_FMT_E2M1, 1, 4, DSV4_SCALE_RCEIL};
    dsv4_isa isas[DSV4_ISA_COUNT];
    int n_isa = isa_list(isas);
    for (int k = 0; k < n_isa; k++) {
        uint8_t codes[8], scales[4];
        cr_assert_eq(dsv4_isa_set(isas[k]), DSV4_OK);
        cr_assert_eq(dsv4_opt_quant(&cfg, 4, 4, &in[0][0], codes, scales), DSV4_OK);
        for (int r = 0; r < 4; r++) {
            cr_assert_eq(scales[r], want_scale[r], "row %d on %s", r, dsv4_isa_name(isas[k]));
            cr_assert_eq(codes[2 * r], want_codes[r][0], "row %d on %s", r, dsv4_isa_name(isas[k]));
            cr_assert_eq(codes[2 * r + 1], want_codes[r][1], "row %d on %s", r, dsv4_isa_name(isas[k]));
        }
    }
}

/* ---- bad input: the same status as ref ------------------------------------------- */
static void same_status(const dsv4_quant_cfg *cfg, size_t rows, size_t cols, int nulls,
                        const char *label) {
    static float x[64], y[64];
    static uint8_t codes[64], scales[64];
    const float *xp = nulls & 1 ? NULL : x;
    float *yp = nulls & 1 ? NULL : y;
    uint8_t *cp = nulls & 2 ? NULL : codes;
    uint8_t *sp = nulls & 4 ? NULL : scales;
    /* a shape bigger than the buffers is only tried when its check fails */
    size_t n;
    int small = rows == 0 || cols == 0 || (rows <= 64 && cols <= 64 && rows * cols <= 64);
    if (!small && dsv4_quant_sizes(cfg, rows, cols, &n, NULL) == DSV4_OK) return;
    dsv4_status r = dsv4_ref_quant(cfg, rows, cols, xp, cp, sp);
    cr_assert_eq(dsv4_opt_quant(cfg, rows, cols, xp, cp, sp), r, "quant: %s", label);
    cr_assert_eq(dsv4_opt_dequant(cfg, rows, cols, cp, sp, yp),
                 dsv4_ref_dequant(cfg, rows, cols, cp, sp, yp), "dequant: %s", label);
    cr_assert_eq(dsv4_opt_fake_quant(cfg, rows, cols, xp, yp),
                 dsv4_ref_fake_quant(cfg, rows, cols, xp, yp), "fake_quant: %s", label);
}

Test(bad_input, same_status_as_ref) {
    const dsv4_quant_cfg good = {DSV4_FMT_E2M1, 1, 4, DSV4_SCALE_RCEIL};
    const dsv4_quant_cfg cfgs[] = {
        good,
        {DSV4_FMT_E4M3, 2, 4, DSV4_SCALE_FLOOR},
        {DSV4_FMT_E2M1, 1, 3, DSV4_SCALE_RCEIL},            /* odd block for E2M1 */
        {DSV4_FMT_E5M2, 1, 3, DSV4_SCALE_RCEIL},            /* fine for FP8 */
        {DSV4_FMT_BF16, 1, 4, DSV4_SCALE_RCEIL},            /* not a quantizer format */
        {DSV4_FMT_UE8M0, 1, 4, DSV4_SCALE_RCEIL},
        {(dsv4_fmt)42, 1, 4, DSV4_SCALE_RCEIL},
        {DSV4_FMT_E4M3, 1, 4, (dsv4_scale_rule)7},
        {DSV4_FMT_E4M3, 0, 4, DSV4_SCALE_RCEIL},
        {DSV4_FMT_E4M3, 1, 0, DSV4_SCALE_RCEIL},
        {DSV4_FMT_E4M3, SIZE_MAX, SIZE_MAX, DSV4_SCALE_RCEIL},
        {DSV4_FMT_E4M3, (size_t)1 << 32, (size_t)1 << 32, DSV4_SCALE_RCEIL}, /* br*bc wraps to 0 */
    };
    const size_t shapes[][2] = {{4, 8}, {3, 8}, {4, 6}, {4, 9}, {0, 8}, {4, 0}, {0, 0},
                                {SIZE_MAX / 2, 4}, {(size_t)1 << 40, (size_t)1 << 40}, {2, 12}};
    dsv4_isa isas[DSV4_ISA_COUNT];
    int n_isa = isa_list(isas);
    for (int k = 0; k < n_isa; k++) {
        cr_assert_eq(dsv4_isa_set(isas[k]), DSV4_OK);
        for (size_t ci = 0; ci < sizeof cfgs / sizeof cfgs[0]; ci++)
            for (size_t si = 0; si < sizeof shapes / sizeof shapes[0]; si++)
                for (int nulls = 0; nulls < 8; nulls++) {
                    char label[96];
                    snprintf(label, sizeof label, "cfg %zu shape %zu nulls %d on %s", ci, si, nulls,
                             dsv4_isa_name(isas[k]));
                    same_status(&cfgs[ci], shapes[si][0], shapes[si][1], nulls, label);
                }
        cr_assert_eq(dsv4_opt_quant(NULL, 1, 1, NULL, NULL, NULL), DSV4_E_NULL);
    }
    /* the named cases the task lists */
    dsv4_quant_cfg fp8 = DSV4_QUANT_FP8_ACT;
    uint8_t c[4], s[1];
    float x[4] = {0};
    cr_assert_eq(dsv4_opt_quant(&fp8, 1, 4, x, c, s), DSV4_E_ALIGN);
    cr_assert_eq(dsv4_opt_quant(&fp8, SIZE_MAX, 256, x, c, s), DSV4_E_OVERFLOW);
    dsv4_quant_cfg odd = {DSV4_FMT_E2M1, 1, 3, DSV4_SCALE_RCEIL};
    cr_assert_eq(dsv4_opt_quant(&odd, 1, 3, x, c, s), DSV4_E_ARG);
    cr_assert_eq(dsv4_opt_quant(&good, 1, 4, NULL, c, s), DSV4_E_NULL);
    cr_assert_eq(dsv4_opt_quant(&good, 0, 4, NULL, NULL, NULL), DSV4_OK);
}

/* Outputs over 4 MiB take the streaming-store path of opt's fake quant:
 * opt against ref bit for bit, at unaligned offsets of x and y, and in
 * place, with NaN/Inf tiles among random magnitudes; every ISA, 1-3 threads. */
Test(opt_quant, large_fake_quant_streaming_path, .timeout = 120) {
    enum { R = 1152, C = 1024, N = R * C, PAD = 17 };
    const dsv4_quant_cfg cfgs[] = {DSV4_QUANT_FP4_ACT, DSV4_QUANT_FP8_KV, DSV4_QUANT_FP8_ACT,
                                   {DSV4_FMT_E5M2, 1, 32, DSV4_SCALE_FLOOR}};
    float *x = malloc((N + PAD) * sizeof *x), *want = malloc(N * sizeof *want);
    float *got = malloc((N + PAD) * sizeof *got);
    cr_assert(x && want && got);
    uint32_t s = 12345u;
    for (size_t i = 0; i < N + PAD; i++) {
        s = s * 1664525u + 1013904223u;
        x[i] = ldexpf((float)(int32_t)s * 0x1p-31f, (int)(s % 40) - 20);
    }
    x[PAD + 5 * 64 + 3] = NAN;
    x[PAD + 9 * 64 + 1] = -INFINITY;
    for (size_t k = 0; k < sizeof cfgs / sizeof cfgs[0]; k++)
        for (int isa = 0; isa < DSV4_ISA_COUNT; isa++) {
            if (!dsv4_isa_supported((dsv4_isa)isa)) continue;
            cr_assert_eq(dsv4_isa_set((dsv4_isa)isa), DSV4_OK);
            for (size_t off = 0; off < 3; off++) {
                const float *xin = x + off * 7;               /* unaligned input */
                float *y = got + (off * 5) % PAD;              /* unaligned output */
                dsv4_threads_set(1 + (int)off);
                cr_assert_eq(dsv4_ref_fake_quant(&cfgs[k], R, C, xin, want), DSV4_OK);
                cr_assert_eq(dsv4_opt_fake_quant(&cfgs[k], R, C, xin, y), DSV4_OK);
                cr_assert_eq(memcmp(want, y, N * sizeof *y), 0, "cfg %zu isa %d off %zu", k, isa,
                             off);
                memcpy(y, xin, N * sizeof *y); /* in place */
                cr_assert_eq(dsv4_opt_fake_quant(&cfgs[k], R, C, y, y), DSV4_OK);
                cr_assert_eq(memcmp(want, y, N * sizeof *y), 0, "in place: cfg %zu isa %d", k, isa);
            }
        }
    dsv4_isa_set(dsv4_isa_best());
    free(x);
    free(want);
    free(got);
}
