/* codec_inputs.c - inputs of the codec golden cases.
 *
 * Only integer arithmetic on fp32 bit patterns and exact MPFR values, driven
 * by the oracle's own RNG: the same seed gives the same bits on any machine. */
#include "codec_inputs.h"

#include <stdlib.h>
#include <string.h>

#define F32_SIGN 0x80000000u

uint32_t oc_f32_scaled(double d, long k) {
    mpfr_t t;
    mpfr_init(t);
    mpfr_set_d(t, d, MPFR_RNDN); /* exact: a double */
    mpfr_mul_2si(t, t, k, MPFR_RNDN);
    uint32_t bits = ox_round_f32(t);
    mpfr_clear(t);
    return bits;
}

/* fp32 bits of (1 + m/2^23) * 2^e with a sign; below 2^-126 the value is
 * truncated onto the subnormal grid, above 2^127 e is clamped. */
static uint32_t make_f32(int negative, int e, uint32_t m) {
    uint32_t sign = negative ? F32_SIGN : 0u;
    if (e > 127) e = 127;
    if (e >= -126) return sign | ((uint32_t)(e + 127) << 23) | m;
    if (e < -149) return sign;
    return sign | (((1u << 23) | m) >> (-126 - e));
}

/* Pushes v and -v. */
static void push_pm(og_vec *x, uint32_t v) {
    og_vec_push(x, v);
    og_vec_push(x, v ^ F32_SIGN);
}

/* Pushes a non-negative v, its fp32 neighbours, and all three negated. */
static void push_neighbourhood(og_vec *x, uint32_t v) {
    push_pm(x, v);
    push_pm(x, ox_f32_nextup(v));
    if (v != 0) push_pm(x, ox_f32_nextdown(v));
}

/* Inputs every cast special case carries whatever the format. */
static void push_fp32_corners(og_vec *x) {
    static const uint32_t corners[] = {
        0x00000000u, 0x80000000u,              /* +-0 */
        0x7F800000u, 0xFF800000u,              /* +-Inf */
        0x7FC00000u, 0xFFC00000u,              /* quiet NaN, both signs */
        0x7F800001u, 0xFF800001u,              /* signalling NaN, smallest payload */
        0x7FA5A5A5u, 0x7FFFFFFFu, 0xFFFFFFFFu, /* other payloads */
        0x7FC00001u,
        0x00000001u, 0x80000001u,              /* min subnormal */
        0x007FFFFFu, 0x807FFFFFu,              /* max subnormal */
        0x00400000u, 0x00000100u,              /* mid subnormals */
        0x00800000u, 0x80800000u,              /* min normal */
        0x7F7FFFFFu, 0xFF7FFFFFu,              /* fp32 max */
        0x7149F2CAu, 0xF149F2CAu,              /* 1e30 */
        0x3F800000u, 0xBF800000u,              /* 1 */
    };
    for (size_t i = 0; i < sizeof corners / sizeof corners[0]; i++) og_vec_push(x, corners[i]);
}

/* bf16 has 32640 non-negative finite values; its special case keeps the
 * subnormals and first normals, the top of the range, the ends of every
 * binade, and a random sample, so the file stays small. */
static void bf16_pick(const on_format *f, uint64_t seed, unsigned char *pick) {
    memset(pick, 0, f->n);
    for (size_t i = 0; i < f->n; i++) {
        uint32_t m = f->code[i] & 0x7Fu;
        if (i < 130 || i + 16 >= f->n || m <= 1 || m >= 0x7E) pick[i] = 1;
    }
    ox_rng r;
    ox_rng_seed(&r, seed);
    for (int i = 0; i < 256; i++) pick[ox_rng_below(&r, (uint32_t)f->n)] = 1;
}

void oc_cast_special_inputs(int fmt, uint64_t seed, og_vec *x) {
    if (fmt == OC_UE8M0) {
        for (int k = -149; k <= 127; k++) push_neighbourhood(x, ox_f32_pow2(k, 0));
        og_vec_push(x, oc_f32_scaled(6.0, -126)); /* FP4 amax floor */
        mpfr_t t;
        mpfr_init(t);
        mpfr_set_str(t, "1e-4", 10, MPFR_RNDN);
        mpfr_div_ui(t, t, 448, MPFR_RNDN);
        og_vec_push(x, ox_round_f32(t)); /* about the FP8 floor / 448 */
        mpfr_clear(t);
        push_fp32_corners(x);
        return;
    }
    const on_format *f = on_get((on_id)fmt);
    unsigned char *pick = malloc(f->n);
    if (!pick) {
        x->oom = 1;
        return;
    }
    if (fmt == ON_BF16) bf16_pick(f, seed, pick);
    else memset(pick, 1, f->n);
    mpfr_t mid;
    mpfr_init(mid);
    for (size_t i = 0; i < f->n; i++) {
        if (!pick[i]) continue;
        /* The value itself, then the midpoint to the next value up (the
         * overflow neighbour after the largest: its midpoint is the
         * overflow threshold), each with its fp32 neighbours. */
        push_neighbourhood(x, ox_round_f32(f->val[i]));
        mpfr_add(mid, f->val[i], (i + 1 < f->n) ? f->val[i + 1] : f->beyond, MPFR_RNDN);
        mpfr_div_2ui(mid, mid, 1, MPFR_RNDN);
        push_neighbourhood(x, ox_round_f32(mid));
    }
    mpfr_clear(mid);
    free(pick);
    push_fp32_corners(x);
}

/* Exponent range of the random cast inputs: the format's range with a
 * margin on both sides (underflow to zero, saturation or overflow). */
static void cast_random_range(int fmt, int *lo, int *hi) {
    switch (fmt) {
    case ON_E4M3: *lo = -13; *hi = 10; break;
    case ON_E5M2: *lo = -20; *hi = 17; break;
    case ON_E2M1: *lo = -4; *hi = 4; break;
    default: *lo = -149; *hi = 127; break; /* bf16, ue8m0: all of fp32 */
    }
}

void oc_cast_random_inputs(int fmt, uint64_t seed, size_t n, og_vec *x) {
    ox_rng r;
    ox_rng_seed(&r, seed);
    int lo, hi;
    cast_random_range(fmt, &lo, &hi);
    for (size_t i = 0; i < n; i++) {
        int e = ox_rng_range(&r, lo, hi);
        uint32_t m = (uint32_t)(ox_rng_next(&r) >> 41); /* 23 bits */
        /* UE8M0 is mostly fed positive values; its negatives all give 0xFF. */
        int negative = (fmt == OC_UE8M0) ? ox_rng_below(&r, 16) == 0 : (int)ox_rng_below(&r, 2);
        og_vec_push(x, make_f32(negative, e, m));
    }
}

/* One tile of random bf16-valued inputs.  Each tile picks a magnitude
 * style, so that the scale bytes cover the range: mostly moderate
 * exponents, some anywhere in fp32, some tiny (subnormal), some sparse. */
static void random_tile(ox_rng *r, uint32_t *x, size_t cols, size_t r0, size_t c0,
                        const oc_qcfg *c) {
    uint32_t style = ox_rng_below(r, 20);
    int top;
    if (style < 14) top = ox_rng_range(r, -20, 20);
    else if (style < 18) top = ox_rng_range(r, -133, 127);
    else top = ox_rng_range(r, -149, -120);
    int sparse = style == 19;
    for (size_t i = r0; i < r0 + c->br; i++)
        for (size_t j = c0; j < c0 + c->bc; j++) {
            int negative = (int)ox_rng_below(r, 2);
            uint32_t zero_odds = sparse ? 8 : 16;
            if (ox_rng_below(r, zero_odds) < (sparse ? 7u : 1u)) {
                x[i * cols + j] = negative ? F32_SIGN : 0u;
                continue;
            }
            int e = top - ox_rng_range(r, 0, 12);
            uint32_t m = (uint32_t)(ox_rng_next(r) >> 41);
            x[i * cols + j] = ox_f32_round_to_bf16_value(make_f32(negative, e, m));
        }
}

void oc_quant_random_inputs(const oc_qcfg *c, size_t rows, size_t cols, uint64_t seed,
                            uint32_t *x) {
    ox_rng r;
    ox_rng_seed(&r, seed);
    for (size_t tr = 0; tr < rows / c->br; tr++)
        for (size_t tc = 0; tc < cols / c->bc; tc++)
            random_tile(&r, x, cols, tr * c->br, tc * c->bc, c);
}

/* ---- adversarial rows ------------------------------------------------------ */
typedef struct rowset {
    og_vec *x;
    size_t width;
    size_t rows;
} rowset;

/* A row starting with vals[0..n), the rest +0 (n <= width). */
static void row_add(rowset *rs, const uint32_t *vals, size_t n) {
    for (size_t j = 0; j < rs->width; j++) og_vec_push(rs->x, j < n ? vals[j] : 0u);
    rs->rows++;
}

/* A row of the values cycled to fill it. */
static void row_fill(rowset *rs, const uint32_t *vals, size_t n) {
    for (size_t j = 0; j < rs->width; j++) og_vec_push(rs->x, vals[j % n]);
    rs->rows++;
}

/* Rows whose first element is `pin` (fixing the scale) followed by the
 * values, width-1 at a time. */
static void rows_pinned(rowset *rs, uint32_t pin, const og_vec *vals) {
    for (size_t i = 0; i < vals->n;) {
        og_vec_push(rs->x, pin);
        for (size_t j = 1; j < rs->width; j++, i++) og_vec_push(rs->x, i < vals->n ? vals->v[i] : 0u);
        rs->rows++;
    }
}

/* Largest k with M * 2^k an fp32 finite value. */
static long k_largest(const mpfr_t m) {
    long k = 127;
    mpfr_t t;
    mpfr_init(t);
    for (;; k--) {
        mpfr_mul_2si(t, m, k, MPFR_RNDN);
        if (!ox_f32_is_inf(ox_round_f32(t))) break;
    }
    mpfr_clear(t);
    return k;
}

/* fp32 bits of v * 2^k (v exact). */
static uint32_t scaled_value(const mpfr_t v, long k) {
    mpfr_t t;
    mpfr_init(t);
    mpfr_mul_2si(t, v, k, MPFR_RNDN);
    uint32_t bits = ox_round_f32(t);
    mpfr_clear(t);
    return bits;
}

/* Every midpoint below the format's max, scaled by 2^k, with its fp32
 * neighbours, both signs; pinned by max*2^k so the tile scale is 2^k. */
static void rows_ties(rowset *rs, const on_format *f, long k) {
    og_vec v = {0};
    mpfr_t mid;
    mpfr_init(mid);
    for (size_t i = 0; i + 1 < f->n; i++) {
        mpfr_add(mid, f->val[i], f->val[i + 1], MPFR_RNDN);
        mpfr_div_2ui(mid, mid, 1, MPFR_RNDN);
        uint32_t m = scaled_value(mid, k);
        push_pm(&v, m);
        push_pm(&v, ox_f32_nextup(m));
        push_pm(&v, ox_f32_nextdown(m));
    }
    mpfr_clear(mid);
    rows_pinned(rs, scaled_value(f->val[f->n - 1], k), &v);
    if (v.oom) rs->x->oom = 1;
    og_vec_free(&v);
}

/* The worked FP4 tiles of spec/formats.md §4.3 (first 4 elements). */
static void rows_fp4_worked(rowset *rs) {
    const uint32_t next6 = ox_f32_nextup(0x40C00000u);
    const uint32_t rows[][4] = {
        {0x40C00000u, 0xC0400000u, 0x3E800000u, 0x3F400000u}, /* 6, -3, 0.25, 0.75 */
        {next6, 0x3E800000u, 0x3FA00000u, 0x40200000u},       /* 6+, 0.25, 1.25, 2.5 */
        {0x41400000u, 0x40A00000u, 0xC0A00000u, 0x40200000u}, /* 12, 5, -5, 2.5 */
        {0x40800000u, 0x3F800000u, 0xBDCCCCCDu, 0x3E99999Au}, /* 4, 1, -0.1, 0.3 */
        {0x43E00000u, 0x3F800000u, 0, 0},                     /* 448, 1 */
        {0x000116C2u, 0, 0, 0},                               /* 1e-40 (subnormal) */
        {0x40E00000u, 0x40600000u, 0x3FE00000u, 0x3F600000u}, /* 7, 3.5, 1.75, 0.875 */
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) row_add(rs, rows[i], 4);
}

size_t oc_quant_adversarial_inputs(const oc_qcfg *c, og_vec *x) {
    const on_format *f = on_get(c->fmt);
    const mpfr_t *mx = on_max(f);
    rowset rs = {x, c->bc, 0};
    mpfr_t fl;
    mpfr_init(fl);
    oc_quant_floor(c->fmt, fl);
    oc_qcfg rc = *c;
    rc.rule = OC_RCEIL;
    long kmin = oc_quant_k(&rc, fl), kmax = k_largest(*mx);
    uint32_t mbits = ox_round_f32(*mx);

    /* 1. zero tiles */
    uint32_t z[2] = {0u, F32_SIGN};
    row_fill(&rs, &z[0], 1);
    row_fill(&rs, &z[1], 1);
    /* 2. amax exactly max*2^k, and the next fp32 above it */
    const long ks[5] = {kmin, -1, 0, 1, kmax};
    for (int i = 0; i < 5; i++) {
        uint32_t a = scaled_value(*mx, ks[i]);
        uint32_t r1[3] = {a, scaled_value(*mx, ks[i] - 1) ^ F32_SIGN,
                          scaled_value(*mx, ks[i] - 2)};
        row_add(&rs, r1, 3);
        r1[0] = ox_f32_nextup(a);
        row_add(&rs, r1, 3);
    }
    /* 3. amax a power of two: 2^emax, 2^(emax+1), 1, 2^-100, 2^100 */
    long emax = (long)mpfr_get_exp(*mx) - 1;
    const long ps[5] = {emax, emax + 1, 0, -100, 100};
    for (int i = 0; i < 5; i++) {
        uint32_t r2[4] = {oc_f32_scaled(1.0, ps[i]), oc_f32_scaled(-0.75, ps[i]),
                          oc_f32_scaled(0.5, ps[i]), oc_f32_scaled(-0.3125, ps[i])};
        row_add(&rs, r2, 4);
    }
    /* 4. amax 448 (FP4: the top element ties 3.5 -> 4) */
    uint32_t r448[4] = {0x43E00000u, 0x3F800000u, 0xBF800000u, 0x40600000u};
    row_add(&rs, r448, 4);
    /* 5. the amax floor, its fp32 neighbours, half of it; all subnormals */
    uint32_t fb = ox_round_f32(fl);
    const uint32_t floors[4] = {fb, ox_f32_nextup(fb), ox_f32_nextdown(fb),
                                scaled_value(fl, -1)};
    for (int i = 0; i < 4; i++) {
        uint32_t r3[3] = {floors[i], floors[i] ^ F32_SIGN, 0x00000001u};
        row_add(&rs, r3, 3);
    }
    const uint32_t subs[6] = {0x007FFFFFu, 0x80000001u, 0x00000001u,
                              0x80400000u, 0x00012345u, 0x807FFFFFu};
    row_fill(&rs, subs, 6);
    uint32_t r4[4] = {0x3F800000u, 0x007FFFFFu, 0x80000001u, 0x807FFFFFu};
    row_add(&rs, r4, 4);
    /* 6. bf16 max and fp32 max */
    uint32_t r5[4] = {0x7F7F0000u, 0xFF7F0000u, 0x3F800000u, 0x7F000000u};
    row_add(&rs, r5, 4);
    uint32_t r6[3] = {0x7F7FFFFFu, 0xFF7FFFFFu, 0x71800000u};
    row_add(&rs, r6, 3);
    /* 7. every tie, both signs, with neighbours, at scales 2^0, smallest, largest */
    rows_ties(&rs, f, 0);
    rows_ties(&rs, f, kmin);
    rows_ties(&rs, f, kmax);
    /* 8. invalid tiles: one NaN, +Inf, -Inf, all NaN (several payloads) */
    uint32_t r7[4] = {0x3F800000u, 0x7FC00000u, 0x40000000u, mbits};
    row_add(&rs, r7, 4);
    r7[1] = 0x7F800000u;
    row_add(&rs, r7, 4);
    r7[1] = 0xFF800000u;
    row_add(&rs, r7, 4);
    const uint32_t nans[4] = {0x7FC00000u, 0xFFC00000u, 0x7F800001u, 0x7FFFFFFFu};
    row_fill(&rs, nans, 4);
    /* 9. FP4: the worked tiles */
    if (c->fmt == ON_E2M1) rows_fp4_worked(&rs);
    mpfr_clear(fl);
    return rs.rows;
}
