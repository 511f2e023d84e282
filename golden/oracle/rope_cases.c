/* rope_cases.c - the shipped RoPE cases, `oracle gen` for rope, the self
 * test against the worked values of spec/rope.md §6, and the og_op
 * (spec/golden.md §6c). */
#include "rope.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F32_NAN 0x7FC00000u
#define F32_PINF 0x7F800000u
#define F32_NINF 0xFF800000u
#define BF16_MAX 0x7F7F0000u /* the largest finite bf16 value, as fp32 bits */

/* V4's two tables (include/dsv4.h DSV4_ROPE_V4_COMPRESS, DSV4_ROPE_V4_WINDOW). */
static const or_cfg V4_COMPRESS = {64, 160000.0, 16.0, 65536, 32.0, 1.0, 0};
static const or_cfg V4_WINDOW = {64, 10000.0, 16.0, 0, 32.0, 1.0, 0};

static int oom(char *err, size_t errlen) {
    snprintf(err, errlen, "out of memory");
    return -1;
}

static int case_alloc(or_case *in) {
    in->pos = calloc(in->T + 1, sizeof *in->pos);
    in->x = calloc(in->T * in->rows * in->width + 1, sizeof *in->x);
    return in->pos && in->x ? 0 : -1;
}

static void case_free(or_case *in) {
    free(in->pos);
    free(in->x);
    in->pos = NULL;
    in->x = NULL;
}

/* x: bf16 values ~ N(0, 1). */
static void random_x(or_case *in, ox_rng *r) {
    for (size_t i = 0; i < in->T * in->rows * in->width; i++) in->x[i] = ox_normal_bf16(r, 0);
}

/* ======================================================================== */
/* shipped cases                                                             */
/* ======================================================================== */
enum { C_COMPRESS, C_WINDOW, C_POS_1M, C_POS_2P24, C_INVERSE, C_DIM8, C_LOW_EQ_HIGH,
       C_CLAMPED, C_NONFINITE, N_CASES };
static const char *const case_names[N_CASES] = {
    "v4_compress", "v4_window", "positions_1m", "positions_2p24", "inverse",
    "dim8_yarn",   "low_eq_high", "range_clamped", "nonfinite"};

static const char *case_name(size_t i) { return case_names[i]; }

static const int32_t POS_1M[] = {65535, 65536, 65537, 262143, 524288, 1000000, 1048575};
static const int32_t POS_2P24[] = {16777215, 16777216, 16777217, 16777219,
                                   33554431, 1073741825, 2147483647};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* The config and shape of case i; returns its description. */
static const char *case_shape(size_t i, or_case *in) {
    in->c = V4_COMPRESS;
    in->rows = 2;
    in->width = 128;
    in->T = 6;
    switch (i) {
    case C_COMPRESS:
        return "V4's compressing-layer table (base 160000, YaRN factor 16, original 65536, beta "
               "32/1: low 15, high 25) at positions 0, 1, 2 and three below 4096; 2 rows of 64 "
               "copied + 64 rotated channels, bf16 x ~ N(0,1).";
    case C_WINDOW:
        in->c = V4_WINDOW;
        return "V4's window-only table (base 10000, no YaRN) at positions 0, 1, 2 and three "
               "below 4096; 2 rows of 64 copied + 64 rotated channels.";
    case C_POS_1M:
        in->T = COUNT(POS_1M);
        in->rows = 1;
        in->width = 64;
        return "the compressing table at positions up to 1048575 (a 1M context), around "
               "65536, 2^18, 2^19 and 10^6: angles up to 1.05e6 radians.";
    case C_POS_2P24:
        in->T = COUNT(POS_2P24);
        in->rows = 1;
        in->width = 64;
        return "positions where fp32(pos) rounds: 2^24 - 1, 2^24, 2^24 + 1 (to 2^24), 2^24 + 3 "
               "(to 2^24 + 4), 2^25 - 1, 2^30 + 1 and 2^31 - 1 (angles up to 2^31).";
    case C_INVERSE:
        in->c.inverse = 1;
        in->T = 5;
        in->rows = 3;
        return "the conjugate rotation (inverse yes, V4's output de-rotation) with the "
               "compressing table at random positions below 2^20; 3 rows.";
    case C_DIM8:
        in->c = (or_cfg){8, 160000.0, 4.0, 4096, 32.0, 1.0, 0};
        in->T = 7;
        in->rows = 3;
        in->width = 8;
        return "rope_dim 8, factor 4, original 4096: low 1, high 3, so frequencies 0-1 "
               "unscaled, 2 on the ramp (0.5), 3 scaled by 1/4; odd T 7, no copied channels.";
    case C_LOW_EQ_HIGH:
        in->c = (or_cfg){16, 10000.0, 40.0, 6, 32.0, 1.0, 0};
        in->T = 5;
        in->rows = 1;
        in->width = 24;
        return "rope_dim 16, base 10000, factor 40, original 6: both correction dimensions "
               "below 1, low = high = 0, the span 0.001 of V4's linear_ramp_factor; 8 copied "
               "channels.";
    case C_CLAMPED:
        in->c = (or_cfg){16, 10000.0, 8.0, 1099511627776ull, 32.0, 1.0, 0};
        in->T = 5;
        in->rows = 1;
        in->width = 16;
        return "rope_dim 16, original 2^40: low 19 above high 15 (clamped to rope_dim - 1), a "
               "negative span, every ramp value clamped to 1: all frequencies scaled by 1/8.";
    default: /* C_NONFINITE */
        in->T = 4;
        in->width = 72;
        return "NaN, +Inf and -Inf entries at position 0 (an infinity times sin 0 makes its "
               "pair's partner NaN) and at position 7, in copied and rotated channels; pairs "
               "of bf16 max whose rotated sum overflows to Inf.";
    }
}

/* The positions of case i: fixed lists, 0, 1, 2 then below 4096, 0 and
 * multiples of 7, or random below 2^20. */
static void case_positions(size_t i, or_case *in, ox_rng *r) {
    for (size_t t = 0; t < in->T; t++) {
        if (i == C_POS_1M) in->pos[t] = POS_1M[t];
        else if (i == C_POS_2P24) in->pos[t] = POS_2P24[t];
        else if (i == C_COMPRESS || i == C_WINDOW)
            in->pos[t] = t < 3 ? (int32_t)t : (int32_t)ox_rng_below(r, 4096);
        else if (i == C_NONFINITE) in->pos[t] = (int32_t)(7 * t);
        else in->pos[t] = (int32_t)ox_rng_below(r, 1u << 20);
    }
}

/* The corners of the nonfinite case. */
static void nonfinite_x(or_case *in) {
    size_t w = in->width, nope = w - 64;
    uint32_t *x0 = in->x, *x1 = in->x + in->rows * w; /* tokens 0 (pos 0) and 1 (pos 7) */
    x0[nope + 0] = F32_PINF;      /* pair 0: (Inf, b) at angle 0: Inf * 0 -> y1 NaN */
    x0[nope + 3] = F32_NINF;      /* pair 1: (a, -Inf): -Inf * sin 0 -> y0 NaN */
    x0[nope + 4] = F32_NAN;       /* pair 2: NaN */
    x0[0] = F32_PINF;             /* copied channels keep Inf and NaN */
    x0[1] = F32_NAN;
    x1[nope + 0] = F32_PINF;      /* at a nonzero angle: Inf, -Inf or NaN */
    x1[nope + 6] = F32_NAN;
    x1[w + nope + 10] = BF16_MAX; /* row 1: a pair of bf16 max */
    x1[w + nope + 11] = BF16_MAX;
    x1[w + nope + 12] = BF16_MAX | 0x80000000u;
    x1[w + nope + 13] = BF16_MAX;
}

static int build_case(size_t i, og_file *f, char *err, size_t errlen) {
    or_case in;
    memset(&in, 0, sizeof in);
    const char *desc = case_shape(i, &in);
    uint64_t seed = 1700 + i;
    ox_rng r;
    ox_rng_seed(&r, seed);
    if (case_alloc(&in) != 0) {
        case_free(&in);
        return oom(err, errlen);
    }
    case_positions(i, &in, &r);
    random_x(&in, &r);
    if (i == C_NONFINITE) nonfinite_x(&in);
    int rc = or_build(f, case_names[i], seed, desc, &in, err, errlen);
    case_free(&in);
    return rc;
}

/* ======================================================================== */
/* oracle gen                                                                */
/* ======================================================================== */
static int gen(const dsv4_json *config, uint64_t seed, const char *case_name_,
               const og_shape *shape, og_file *f, char *err, size_t errlen) {
    or_case in;
    memset(&in, 0, sizeof in);
    in.c.rope_dim = (size_t)dsv4_json_get(config, "rope_dim")->u;
    in.c.base = dsv4_json_get(config, "base")->number;
    in.c.factor = dsv4_json_get(config, "factor")->number;
    in.c.original_seq_len = dsv4_json_get(config, "original_seq_len")->u;
    in.c.beta_fast = dsv4_json_get(config, "beta_fast")->number;
    in.c.beta_slow = dsv4_json_get(config, "beta_slow")->number;
    in.c.inverse = strcmp(dsv4_json_get(config, "inverse")->string, "yes") == 0;
    in.T = shape && shape->rank >= 1 ? shape->dim[0] : 4;
    in.rows = 2;
    in.width = 2 * in.c.rope_dim;
    if ((shape && shape->rank != 1) || in.T * in.rows * in.width > (1u << 24)) {
        snprintf(err, errlen, "shape must be T (tokens); 2 rows of 2*rope_dim channels each, "
                              "at most 2^24 elements");
        return -1;
    }
    if (case_alloc(&in) != 0) {
        case_free(&in);
        return oom(err, errlen);
    }
    ox_rng r;
    ox_rng_seed(&r, seed);
    for (size_t t = 0; t < in.T; t++) in.pos[t] = (int32_t)ox_rng_below(&r, 1u << 20);
    random_x(&in, &r);
    char desc[200];
    snprintf(desc, sizeof desc,
             "rope on %zu random tokens at positions below 2^20, 2 rows, rope_dim %zu "
             "(oracle gen).",
             in.T, in.c.rope_dim);
    int rc = or_build(f, case_name_, seed, desc, &in, err, errlen);
    case_free(&in);
    return rc;
}

/* ======================================================================== */
/* self test: the worked values of spec/rope.md §6                           */
/* ======================================================================== */
typedef struct worked_freq {
    size_t i;
    uint32_t compress, window;
} worked_freq;

static const worked_freq FREQ[] = {
    {0, 0x3F800000u, 0x3F800000u},  {1, 0x3F300A3Au, 0x3F3FF911u},
    {15, 0x3B6E4237u, 0x3C5A7BF2u}, {16, 0x3B147AE1u, 0x3C23D70Au},
    {20, 0x399BB3AFu, 0x3B4F3E38u}, {24, 0x37A3D708u, 0x3A83126Fu},
    {25, 0x36B443D0u, 0x3A44948Cu}, {31, 0x35187C4Du, 0x390BD472u},
};

typedef struct worked_angle {
    int32_t pos;
    size_t i;
    uint32_t cos, sin; /* of the compressing table */
} worked_angle;

static const worked_angle ANGLE[] = {
    {1, 16, 0x3F7FFFD5u, 0x3B147AD9u},       {65536, 0, 0xBF38CA2Au, 0x3F312B34u},
    {65536, 24, 0x3E92CC5Fu, 0x3F754086u},   {1048575, 0, 0x3F49BD23u, 0xBF1D9959u},
    {1048575, 16, 0x3F4E4C20u, 0x3F17953Du}, {1048575, 24, 0xBD7413AFu, 0x3F7F8B8Bu},
    {1048575, 31, 0x3F53E9CCu, 0x3F0FA08Fu},
};

static int selftest(void) {
    uint32_t fc[32], fw[32];
    char err[200];
    int fails = 0;
    long low, high;
    if (or_inv_freq(&V4_COMPRESS, fc, err, sizeof err) != 0 ||
        or_inv_freq(&V4_WINDOW, fw, err, sizeof err) != 0) {
        fprintf(stderr, "selftest FAIL rope: %s\n", err);
        return 1;
    }
    or_yarn_range(&V4_COMPRESS, &low, &high, err, sizeof err);
    if (low != 15 || high != 25) {
        fprintf(stderr, "selftest FAIL rope: V4 YaRN range %ld..%ld, want 15..25\n", low, high);
        fails++;
    }
    for (size_t k = 0; k < sizeof FREQ / sizeof FREQ[0]; k++) {
        fails += ox_check_bits("rope compress inv_freq", fc[FREQ[k].i], FREQ[k].compress);
        fails += ox_check_bits("rope window inv_freq", fw[FREQ[k].i], FREQ[k].window);
    }
    for (size_t k = 0; k < sizeof ANGLE / sizeof ANGLE[0]; k++) {
        uint32_t c[32], s[32];
        or_table(&V4_COMPRESS, fc, 1, &ANGLE[k].pos, c, s);
        fails += ox_check_bits("rope cos", c[ANGLE[k].i], ANGLE[k].cos);
        fails += ox_check_bits("rope sin", s[ANGLE[k].i], ANGLE[k].sin);
    }
    /* the conjugate rotation undoes the rotation up to its roundings: a
     * pair (1, 0) at position 1, frequency 0, turns to (cos 1, sin 1) */
    or_cfg c2 = V4_COMPRESS;
    uint32_t x[64] = {0}, y[3 * 64], cs[32], sn[32];
    int32_t one = 1;
    x[0] = 0x3F800000u;
    or_table(&c2, fc, 1, &one, cs, sn);
    or_rotate(&c2, 1, 1, 64, cs, sn, x, y, y + 64, y + 128);
    fails += ox_check_bits("rope rotate (1,0) y0", y[64], cs[0]);
    fails += ox_check_bits("rope rotate (1,0) y1", y[65], sn[0]);
    c2.inverse = 1;
    or_rotate(&c2, 1, 1, 64, cs, sn, x, y, y + 64, y + 128);
    fails += ox_check_bits("rope inverse (1,0) y1", y[65], sn[0] ^ 0x80000000u);
    return fails;
}

const og_op og_op_rope = {
    .name = "rope",
    .n_cases = N_CASES,
    .case_name = case_name,
    .build_case = build_case,
    .gen = gen,
    .selftest = selftest,
};
