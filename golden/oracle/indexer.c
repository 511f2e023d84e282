/* indexer.c - the exact stages of the lightning indexer (spec/indexer.md
 * §4), its margins and its file (spec/golden.md §6g).
 *
 * Each stage starts from the exact fp32 inputs and the stored (rounded)
 * outputs of the stages it reads, so a stage fed the golden tensors of its
 * inputs is held to the same numbers as a whole call.  Products of fp32
 * values are exact in MPFR at OX_PREC bits and the sums of the shipped data
 * are too; each output is rounded once to its format.  The FP8 and FP4 fake
 * quants are the codec stages (codec_stages.c), the rotation rope.c's and
 * the Hadamard transform hadamard.c's. */
#include "indexer.h"

#include "codec.h"
#include "hadamard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define F32_NINF 0xFF800000u

static uint32_t bf16_of(const mpfr_t v) {
    const on_format *bf = on_get(ON_BF16);
    return on_decode_f32(bf, on_encode(bf, v));
}

/* The smallest fp32 >= v (v >= 0): the tolerances are rounded up. */
static uint32_t f32_up(const mpfr_t v) {
    uint32_t r = ox_round_f32(v);
    mpfr_t t;
    mpfr_init(t);
    ox_set_f32_bits(t, r);
    if (mpfr_cmp(t, v) < 0) r = ox_f32_nextup(r);
    mpfr_clear(t);
    return r;
}

/* (n + 1) u S, the bound of an fp32 sum of n exact products in any order
 * (S the sum of their magnitudes, u = 2^-24), rounded up; 0 for NaN. */
static uint32_t dot_tol(size_t n, const mpfr_t sum, const mpfr_t S) {
    if (!mpfr_number_p(sum)) return 0u;
    mpfr_t t;
    mpfr_init(t);
    mpfr_mul_ui(t, S, (unsigned long)(n + 1), MPFR_RNDU);
    mpfr_mul_2si(t, t, -24, MPFR_RNDU);
    uint32_t r = f32_up(t);
    mpfr_clear(t);
    return r;
}

int oi_alloc(const oi_case *in, oi_out *o) {
    const oi_cfg *c = &in->c;
    size_t T = in->T, q = T * c->H * c->hd, w = T * c->H, half = c->rope.rope_dim / 2;
    memset(o, 0, sizeof *o);
    o->K = c->topk < in->E ? c->topk : in->E;
    o->cos_t = calloc(T * half + 1, sizeof(uint32_t));
    o->sin_t = calloc(T * half + 1, sizeof(uint32_t));
    o->a = calloc(T * c->q_lora + 1, sizeof(uint32_t));
    oi_bf16 *b16[5] = {&o->proj, &o->rope, &o->rot, &o->inner, &o->w};
    int ok = o->cos_t && o->sin_t && o->a;
    for (int i = 0; i < 5; i++) {
        size_t n = (i < 3 ? q : w) + 1;
        b16[i]->y = calloc(n, sizeof(uint32_t));
        b16[i]->f32 = calloc(n, sizeof(uint32_t));
        b16[i]->tol = calloc(n, sizeof(uint32_t));
        ok = ok && b16[i]->y && b16[i]->f32 && b16[i]->tol;
    }
    o->quant = calloc(q + 1, sizeof(uint32_t));
    o->scores = calloc(T * in->E + 1, sizeof(uint32_t));
    o->idx = calloc(T * o->K + 1, sizeof(int32_t));
    o->kv = calloc(T * o->K + 1, sizeof(int32_t));
    return ok && o->quant && o->scores && o->idx && o->kv ? 0 : -1;
}

void oi_free(oi_out *o) {
    oi_bf16 *b16[5] = {&o->proj, &o->rope, &o->rot, &o->inner, &o->w};
    for (int i = 0; i < 5; i++) {
        free(b16[i]->y);
        free(b16[i]->f32);
        free(b16[i]->tol);
    }
    free(o->cos_t);
    free(o->sin_t);
    free(o->a);
    free(o->quant);
    free(o->scores);
    free(o->idx);
    free(o->kv);
    memset(o, 0, sizeof *o);
}

/* ---- (I1) ------------------------------------------------------------------------- */
int oi_table(const oi_case *in, oi_out *o, char *err, size_t errlen) {
    size_t half = in->c.rope.rope_dim / 2;
    uint32_t *freq = malloc((half + 1) * sizeof *freq);
    int32_t *pos = malloc((in->T + 1) * sizeof *pos);
    int rc = -1;
    if (!freq || !pos) snprintf(err, errlen, "out of memory");
    else if (or_inv_freq(&in->c.rope, freq, err, errlen) == 0) {
        for (size_t t = 0; t < in->T; t++) pos[t] = in->pos + (int32_t)t;
        or_table(&in->c.rope, freq, in->T, pos, o->cos_t, o->sin_t);
        rc = 0;
    }
    free(freq);
    free(pos);
    return rc;
}

int oi_activation(const oi_case *in, oi_out *o, size_t t) {
    size_t n = in->c.q_lora;
    const uint32_t *qr = &in->qr[t * n];
    uint32_t *a = &o->a[t * n];
    if (!in->c.act_fp8) {
        memcpy(a, qr, n * sizeof *a);
        return 0;
    }
    /* FP8 E4M3, 1x128 tiles, rceil (spec/formats.md): dequant(quant(qr)) */
    static const oc_qcfg fp8 = {ON_E4M3, 1, 128, OC_RCEIL};
    uint8_t codes[1u << 16], scales[(1u << 16) / 128]; /* q_lora <= 2^16 (the registry) */
    if (oc_quant(&fp8, qr, 1, n, codes, scales) != 0) return -1;
    oc_dequant(&fp8, codes, scales, 1, n, a);
    return 0;
}

void oi_project(const oi_case *in, oi_out *o, size_t t, size_t j) {
    size_t n = in->c.q_lora, at = t * in->c.H * in->c.hd + j;
    const uint32_t *a = &o->a[t * n], *w = &in->wq_b[j * n];
    mpfr_t sum, S, p, v;
    mpfr_inits(sum, S, p, v, (mpfr_ptr)0);
    mpfr_set_ui(sum, 0, MPFR_RNDN);
    mpfr_set_ui(S, 0, MPFR_RNDN);
    for (size_t k = 0; k < n; k++) {
        if ((w[k] & 0x7FFFFFFFu) == 0 && !ox_f32_is_nan(a[k]) && !ox_f32_is_inf(a[k])) continue;
        ox_set_f32_bits(p, a[k]);
        ox_set_f32_bits(v, w[k]);
        mpfr_mul(p, p, v, MPFR_RNDN); /* exact */
        mpfr_add(sum, sum, p, MPFR_RNDN);
        mpfr_abs(p, p, MPFR_RNDN);
        mpfr_add(S, S, p, MPFR_RNDN);
    }
    o->proj.y[at] = bf16_of(sum);
    o->proj.f32[at] = ox_round_f32(sum);
    o->proj.tol[at] = dot_tol(n, sum, S);
    mpfr_clears(sum, S, p, v, (mpfr_ptr)0);
}

/* ---- (I2), (I3), (I4) ---------------------------------------------------------------- */
void oi_rope(const oi_case *in, oi_out *o, size_t t, size_t h) {
    size_t hd = in->c.hd, at = (t * in->c.H + h) * hd, half = in->c.rope.rope_dim / 2;
    or_rotate(&in->c.rope, 1, 1, hd, &o->cos_t[t * half], &o->sin_t[t * half], &o->proj.y[at],
              &o->rope.y[at], &o->rope.f32[at], &o->rope.tol[at]);
}

void oi_rotate(const oi_case *in, oi_out *o, size_t t, size_t h) {
    size_t hd = in->c.hd, at = (t * in->c.H + h) * hd;
    oh_rotate_row(&o->rope.y[at], hd, &o->rot.y[at], &o->rot.f32[at], &o->rot.tol[at]);
}

int oi_quant(const oi_case *in, oi_out *o) {
    /* FP4 E2M1, 1x32 tiles, rceil: a head holds hd/32 whole tiles */
    static const oc_qcfg fp4 = {ON_E2M1, 1, 32, OC_RCEIL};
    size_t rows = in->T * in->c.H, hd = in->c.hd;
    uint8_t *codes = malloc(rows * hd / 2 + 1), *scales = malloc(rows * hd / 32 + 1);
    int rc = codes && scales ? oc_quant(&fp4, o->rot.y, rows, hd, codes, scales) : -1;
    if (rc == 0) oc_dequant(&fp4, codes, scales, rows, hd, o->quant);
    free(codes);
    free(scales);
    return rc;
}

/* ---- (I5) --------------------------------------------------------------------------- */
uint32_t oi_weight_scale(size_t H, size_t hd) {
    mpfr_t a, b;
    mpfr_init2(a, 53);
    mpfr_init2(b, 53);
    mpfr_set_ui(a, (unsigned long)hd, MPFR_RNDN);
    mpfr_rec_sqrt(a, a, MPFR_RNDN);
    mpfr_set_ui(b, (unsigned long)H, MPFR_RNDN);
    mpfr_rec_sqrt(b, b, MPFR_RNDN);
    mpfr_mul(a, a, b, MPFR_RNDN);
    uint32_t c = ox_round_f32(a);
    mpfr_clears(a, b, (mpfr_ptr)0);
    return c;
}

void oi_weight(const oi_case *in, oi_out *o, size_t t, size_t h) {
    size_t n = in->c.dim, at = t * in->c.H + h;
    const uint32_t *x = &in->x[t * n], *w = &in->wp[h * n];
    mpfr_t d, S, p, v, c;
    mpfr_inits(d, S, p, v, c, (mpfr_ptr)0);
    mpfr_set_ui(d, 0, MPFR_RNDN);
    mpfr_set_ui(S, 0, MPFR_RNDN);
    for (size_t k = 0; k < n; k++) {
        if ((w[k] & 0x7FFFFFFFu) == 0 && !ox_f32_is_nan(x[k]) && !ox_f32_is_inf(x[k])) continue;
        ox_set_f32_bits(p, x[k]);
        ox_set_f32_bits(v, w[k]);
        mpfr_mul(p, p, v, MPFR_RNDN);
        mpfr_add(d, d, p, MPFR_RNDN);
        mpfr_abs(p, p, MPFR_RNDN);
        mpfr_add(S, S, p, MPFR_RNDN);
    }
    /* the first rounding: p = bf16(x . weights_proj_h) */
    uint32_t pb = bf16_of(d);
    o->inner.y[at] = pb;
    o->inner.f32[at] = ox_round_f32(d);
    o->inner.tol[at] = dot_tol(n, d, S);
    /* the second: w = bf16(fp32(p c)) */
    ox_set_f32_bits(c, oi_weight_scale(in->c.H, in->c.hd));
    ox_set_f32_bits(p, pb);
    mpfr_mul(v, p, c, MPFR_RNDN); /* p c, exact */
    uint32_t pc = ox_round_f32(v);
    o->w.f32[at] = pc;
    ox_set_f32_bits(S, pc);
    o->w.y[at] = bf16_of(S);
    /* its tolerance: c times the largest move of p an implementation within
     * the first tolerance can make (0 when no bf16 boundary lies within it),
     * plus the rounding of the product, with a factor for the second order */
    if (mpfr_number_p(v)) {
        mpfr_t lo, hi;
        mpfr_inits(lo, hi, (mpfr_ptr)0);
        ox_set_f32_bits(S, o->inner.tol[at]);
        mpfr_sub(lo, d, S, MPFR_RNDN);
        mpfr_add(hi, d, S, MPFR_RNDN);
        ox_set_f32_bits(lo, bf16_of(lo));
        ox_set_f32_bits(hi, bf16_of(hi));
        mpfr_sub(lo, p, lo, MPFR_RNDN);
        mpfr_sub(hi, hi, p, MPFR_RNDN);
        if (mpfr_cmp(hi, lo) > 0) mpfr_swap(hi, lo); /* lo = the largest move */
        mpfr_mul(lo, lo, c, MPFR_RNDU);
        mpfr_abs(lo, lo, MPFR_RNDN);
        mpfr_abs(v, v, MPFR_RNDN);
        mpfr_mul_2si(v, v, -24, MPFR_RNDU);
        mpfr_add(lo, lo, v, MPFR_RNDU);
        mpfr_mul_2si(hi, lo, -10, MPFR_RNDU);
        mpfr_add(lo, lo, hi, MPFR_RNDU);
        o->w.tol[at] = f32_up(lo);
        mpfr_clears(lo, hi, (mpfr_ptr)0);
    } else {
        o->w.tol[at] = 0u;
    }
    mpfr_clears(d, S, p, v, c, (mpfr_ptr)0);
}

/* ---- exactness of the scores in fp32 ---------------------------------------------------- */
/* x = odd * 2^lsb for a finite nonzero fp32 pattern. */
static void odd_part(uint32_t x, uint64_t *odd, int *lsb) {
    uint32_t e = (x >> 23) & 0xFFu, m = x & 0x7FFFFFu;
    int ex = e ? (int)e - 150 : -149;
    if (e) m |= 0x800000u;
    while (!(m & 1u)) {
        m >>= 1;
        ex++;
    }
    *odd = m;
    *lsb = ex;
}

/* 1 when the n terms a_i (times b_i when b is given) are finite, each
 * exact in fp32, and every partial sum in any order is exact in fp32: with
 * g the lowest bit of any term, sum |term| < 2^(g + 24) and g >= -149. */
static int sum_exact(const uint32_t *a, const uint32_t *b, size_t n) {
    int g = 1 << 20;
    for (int pass = 0; pass < 2; pass++) {
        uint64_t total = 0;
        for (size_t i = 0; i < n; i++) {
            if ((a[i] & 0x7FFFFFFFu) == 0 || (b && (b[i] & 0x7FFFFFFFu) == 0)) continue;
            if (ox_f32_is_nan(a[i]) || ox_f32_is_inf(a[i])) return 0;
            if (b && (ox_f32_is_nan(b[i]) || ox_f32_is_inf(b[i]))) return 0;
            uint64_t oa, ob = 1;
            int la, lb = 0;
            odd_part(a[i], &oa, &la);
            if (b) odd_part(b[i], &ob, &lb);
            if (pass == 0) {
                if (la + lb < g) g = la + lb;
                continue;
            }
            int shift = la + lb - g;
            if (oa * ob >= (1u << 24) || shift >= 24 || (oa * ob << shift) >= (1u << 24))
                return 0;
            total += oa * ob << shift;
            if (total >= (1u << 24)) return 0;
        }
        if (pass == 0 && g == 1 << 20) return 1; /* no nonzero term */
    }
    return g >= -149;
}

/* ---- (I6) --------------------------------------------------------------------------- */
/* Entry e is visible to the query at position p + t when its block of
 * `ratio` tokens is complete: (e + 1) ratio <= p + t + 1. */
static int visible(const oi_case *in, size_t t, size_t e) {
    return (e + 1) * in->c.ratio <= (size_t)in->pos + t + 1;
}

/* An fp32 implementation gets the bf16 rounding of this sum in any order:
 * the sum is exact in fp32 (exact), or no bf16 boundary lies within the
 * bound of an fp32 sum of its n terms. */
static int fp32_decided(int exact, const mpfr_t sum, const mpfr_t S, size_t n) {
    return exact || oi_margin(ox_round_f32(sum), dot_tol(n, sum, S), NULL);
}

uint32_t oi_score_key(const oi_case *in, const oi_out *o, size_t t, const uint32_t *k,
                      int *decided, int *relu_zero) {
    size_t H = in->c.H, hd = in->c.hd;
    uint32_t P[1024]; /* [H] the products of the score; H <= 1024 (the registry) */
    int ok = 1, zero = 1;
    mpfr_t dot, S, p, v, sum;
    mpfr_inits(dot, S, p, v, sum, (mpfr_ptr)0);
    mpfr_set_ui(sum, 0, MPFR_RNDN);
    mpfr_set_ui(S, 0, MPFR_RNDN);
    for (size_t h = 0; h < H; h++) {
        const uint32_t *q = &o->quant[(t * H + h) * hd];
        mpfr_set_ui(dot, 0, MPFR_RNDN);
        mpfr_set_ui(S, 0, MPFR_RNDN);
        for (size_t i = 0; i < hd; i++) {
            ox_set_f32_bits(p, q[i]);
            ox_set_f32_bits(v, k[i]);
            mpfr_mul(p, p, v, MPFR_RNDN); /* exact */
            mpfr_add(dot, dot, p, MPFR_RNDN);
            mpfr_abs(p, p, MPFR_RNDN);
            mpfr_add(S, S, p, MPFR_RNDN);
        }
        ok = ok && fp32_decided(sum_exact(q, k, hd), dot, S, hd);
        uint32_t s = bf16_of(dot);                          /* s = bf16(q . k) */
        if (!ox_f32_is_nan(s) && (s >> 31 || s == 0)) s = 0; /* ReLU; NaN stays NaN */
        zero = zero && s == 0;
        ox_set_f32_bits(p, s);
        ox_set_f32_bits(v, o->w.y[t * H + h]);
        mpfr_mul(p, p, v, MPFR_RNDN);
        P[h] = bf16_of(p);                                  /* P = bf16(s w) */
    }
    mpfr_set_ui(S, 0, MPFR_RNDN);
    for (size_t h = 0; h < H; h++) {
        ox_set_f32_bits(p, P[h]);
        mpfr_add(sum, sum, p, MPFR_RNDN);
        mpfr_abs(p, p, MPFR_RNDN);
        mpfr_add(S, S, p, MPFR_RNDN);
    }
    uint32_t I = bf16_of(sum);                              /* I = bf16(sum P) */
    ok = ok && fp32_decided(sum_exact(P, NULL, H), sum, S, H);
    if (decided) *decided = ok || ox_f32_is_nan(I);
    if (relu_zero) *relu_zero = zero;
    mpfr_clears(dot, S, p, v, sum, (mpfr_ptr)0);
    return I;
}

size_t oi_score_column(const oi_case *in, oi_out *o, size_t e) {
    size_t undecided = 0;
    for (size_t t = 0; t < in->T; t++) {
        int ok = 1;
        o->scores[t * in->E + e] =
            visible(in, t, e) ? oi_score_key(in, o, t, &in->k[e * in->c.hd], &ok, NULL) : F32_NINF;
        undecided += !ok;
    }
    return undecided;
}

size_t oi_scores(const oi_case *in, oi_out *o) {
    size_t undecided = 0;
    for (size_t e = 0; e < in->E; e++) undecided += oi_score_column(in, o, e);
    return undecided;
}

/* ---- (I7), (I8) ----------------------------------------------------------------------- */
/* The order of spec/indexer.md §4.4 as an integer key: NaN above every
 * number, zeros equal, otherwise the value. */
static int64_t rank_key(uint32_t s) {
    if (ox_f32_is_nan(s)) return INT64_MAX;
    int64_t m = (int64_t)(s & 0x7FFFFFFFu);
    return (s >> 31) ? -m : m;
}

typedef struct entry {
    int64_t key;
    size_t e;
} entry;

static int by_rank(const void *pa, const void *pb) {
    const entry *a = pa, *b = pb;
    if (a->key != b->key) return a->key > b->key ? -1 : 1; /* larger score first */
    return a->e < b->e ? -1 : a->e > b->e;                 /* exact ties: lower index */
}

int oi_topk(const oi_case *in, oi_out *o) {
    size_t E = in->E, K = o->K;
    int32_t offset = in->pos == 0 ? (int32_t)in->T : (int32_t)in->c.window;
    entry *list = malloc((E + 1) * sizeof *list);
    if (!list) return -1;
    for (size_t t = 0; t < in->T; t++) {
        size_t n = 0;
        for (size_t e = 0; e < E; e++) {
            uint32_t s = o->scores[t * E + e];
            if (s != F32_NINF) list[n++] = (entry){rank_key(s), e}; /* -Inf: never */
        }
        qsort(list, n, sizeof *list, by_rank);
        for (size_t j = 0; j < K; j++) {
            int32_t i = j < n ? (int32_t)list[j].e : -1;
            o->idx[t * K + j] = i;
            o->kv[t * K + j] = i < 0 ? -1 : i + offset;
        }
    }
    free(list);
    return 0;
}

int oi_query(const oi_case *in, oi_out *o, char *err, size_t errlen) {
    if (oi_table(in, o, err, errlen) != 0) return -1;
    for (size_t t = 0; t < in->T; t++) {
        if (oi_activation(in, o, t) != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        for (size_t j = 0; j < in->c.H * in->c.hd; j++) oi_project(in, o, t, j);
        for (size_t h = 0; h < in->c.H; h++) {
            oi_rope(in, o, t, h);
            oi_rotate(in, o, t, h);
            oi_weight(in, o, t, h);
        }
    }
    return 0;
}

int oi_finish(const oi_case *in, oi_out *o, char *err, size_t errlen) {
    if (oi_quant(in, o) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t n = oi_scores(in, o);
    if (n != 0) {
        snprintf(err, errlen, "%zu score(s) an fp32 implementation could round otherwise", n);
        return -1;
    }
    if (oi_topk(in, o) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    return 0;
}

/* ---- margins ------------------------------------------------------------------------ */
int oi_margin(uint32_t f32, uint32_t tol, double *ratio) {
    if (ox_f32_is_nan(f32) || ox_f32_is_inf(f32)) {
        if (ratio) *ratio = 1e300;
        return 1;
    }
    mpfr_t a, q, d, d2, lim;
    mpfr_inits(a, q, d, d2, lim, (mpfr_ptr)0);
    ox_set_f32_bits(a, f32 & 0x7FFFFFFFu);
    /* the exact value lies within half an fp32 ulp of f32 */
    mpfr_exp_t ex = mpfr_zero_p(a) ? -200 : mpfr_get_exp(a); /* |f32| in [2^(ex-1), 2^ex) */
    long binade = ex - 1 < -126 ? -126 : (long)ex - 1;
    mpfr_set_ui_2exp(lim, 1, binade - 24, MPFR_RNDN);
    ox_set_f32_bits(d, tol);
    mpfr_add(lim, lim, d, MPFR_RNDN);
    /* bf16 values are spaced q = 2^(binade - 7) (2^-133 below 2^-125); its
     * rounding boundaries are the midpoints (k + 1/2) q, and the one below
     * the binade start b, b - q/4, where the binade below has spacing q/2 */
    long spacing = ex - 1 < -125 ? -133 : (long)ex - 8;
    mpfr_set_ui_2exp(q, 1, spacing, MPFR_RNDN);
    mpfr_div(d, a, q, MPFR_RNDN); /* exact: a power of two */
    mpfr_frac(d, d, MPFR_RNDN);
    mpfr_sub_d(d, d, 0.5, MPFR_RNDN);
    mpfr_abs(d, d, MPFR_RNDN);
    mpfr_mul(d, d, q, MPFR_RNDN);
    if (ex - 1 >= -125) {
        mpfr_set_ui_2exp(d2, 1, (long)ex - 1, MPFR_RNDN);
        mpfr_sub(d2, a, d2, MPFR_RNDN);
        mpfr_div_2ui(q, q, 2, MPFR_RNDN);
        mpfr_add(d2, d2, q, MPFR_RNDN);
        if (mpfr_cmp(d2, d) < 0) mpfr_set(d, d2, MPFR_RNDN);
    }
    int ok = mpfr_cmp(d, lim) > 0;
    if (ratio) {
        mpfr_div(d, d, lim, MPFR_RNDN);
        *ratio = mpfr_get_d(d, MPFR_RNDN);
    }
    mpfr_clears(a, q, d, d2, lim, (mpfr_ptr)0);
    return ok;
}

int oi_q_block(const oi_case *in, const oi_out *o, size_t t, size_t h, size_t *elem) {
    size_t hd = in->c.hd, at = (t * in->c.H + h) * hd;
    const oi_bf16 *st[3] = {&o->proj, &o->rope, &o->rot};
    for (int s = 0; s < 3; s++)
        for (size_t i = 0; i < hd; i++)
            if (!oi_margin(st[s]->f32[at + i], st[s]->tol[at + i], NULL)) {
                *elem = i;
                return s + 1;
            }
    return 0;
}

int oi_w_block(const oi_case *in, const oi_out *o, size_t t, size_t h) {
    size_t at = t * in->c.H + h;
    if (!oi_margin(o->inner.f32[at], o->inner.tol[at], NULL)) return 4;
    if (!oi_margin(o->w.f32[at], o->w.tol[at], NULL)) return 5;
    return 0;
}

double oi_min_margin(const oi_case *in, const oi_out *o) {
    double m = 1e300, r;
    size_t q = in->T * in->c.H * in->c.hd, w = in->T * in->c.H;
    const oi_bf16 *st[5] = {&o->proj, &o->rope, &o->rot, &o->inner, &o->w};
    for (int s = 0; s < 5; s++)
        for (size_t i = 0; i < (s < 3 ? q : w); i++) {
            if (st[s]->tol[i] == 0u) continue; /* copied channels, non-finite values */
            oi_margin(st[s]->f32[i], st[s]->tol[i], &r);
            if (r < m) m = r;
        }
    return m;
}

/* ---- the file ----------------------------------------------------------------------------- */
void oi_config_text(const oi_cfg *c, char *buf, size_t len) {
    snprintf(buf, len,
             "{\"dim\":%zu,\"q_lora\":%zu,\"n_heads\":%zu,\"head_dim\":%zu,\"ratio\":%zu,"
             "\"topk\":%zu,\"window\":%zu,\"act_fp8\":\"%s\",\"rope_dim\":%zu,\"base\":%.17g,"
             "\"factor\":%.17g,\"original_seq_len\":%llu,\"beta_fast\":%.17g,\"beta_slow\":%.17g}",
             c->dim, c->q_lora, c->H, c->hd, c->ratio, c->topk, c->window,
             c->act_fp8 ? "yes" : "no", c->rope.rope_dim, c->rope.base, c->rope.factor,
             (unsigned long long)c->rope.original_seq_len, c->rope.beta_fast, c->rope.beta_slow);
}

#define TOL_B16(out) "{\"kind\":\"bf16_boundary\",\"tol\":\"" out "_tol\",\"ref\":\"" out "_f32\"}"

/* A bf16 output, its reference tensors and its stage. */
static void add_bf16(og_file *f, const char *stage, const char *out, const char *const *inputs,
                     int rank, const size_t *shape, const oi_bf16 *b, const char *tol) {
    char name[64];
    og_add(f, out, DSV4_DT_F32, rank, shape, b->y);
    snprintf(name, sizeof name, "%s_f32", out);
    og_add(f, name, DSV4_DT_F32, rank, shape, b->f32);
    snprintf(name, sizeof name, "%s_tol", out);
    og_add(f, name, DSV4_DT_F32, rank, shape, b->tol);
    og_stage(f, stage, inputs, (const char *const[]){out, NULL}, tol);
}

int oi_write(og_file *f, const char *case_name, uint64_t seed, const char *desc,
             const oi_case *in, const oi_out *o) {
    const oi_cfg *c = &in->c;
    char config[512], tol_topk[320];
    oi_config_text(c, config, sizeof config);
    og_begin(f, "indexer", case_name, config, seed, desc);
    size_t s_wq[2] = {c->H * c->hd, c->q_lora}, s_wp[2] = {c->H, c->dim};
    size_t s_qr[2] = {in->T, c->q_lora}, s_x[2] = {in->T, c->dim}, s_k[2] = {in->E, c->hd};
    size_t s_pos[1] = {1}, s_q[3] = {in->T, c->H, c->hd}, s_w[2] = {in->T, c->H};
    size_t s_s[2] = {in->T, in->E}, s_idx[2] = {in->T, o->K};
    og_add(f, "w.wq_b", DSV4_DT_F32, 2, s_wq, in->wq_b);
    og_add(f, "w.weights_proj", DSV4_DT_F32, 2, s_wp, in->wp);
    og_add(f, "in.qr", DSV4_DT_F32, 2, s_qr, in->qr);
    og_add(f, "in.x", DSV4_DT_F32, 2, s_x, in->x);
    og_add(f, "in.k", DSV4_DT_F32, 2, s_k, in->k);
    og_add(f, "in.pos", DSV4_DT_I32, 1, s_pos, &in->pos);
    add_bf16(f, "q_proj", "q_proj.q", (const char *const[]){"in.qr", "w.wq_b", NULL}, 3, s_q,
             &o->proj, TOL_B16("q_proj.q"));
    add_bf16(f, "q_rope", "q_rope.q", (const char *const[]){"q_proj.q", "in.pos", NULL}, 3, s_q,
             &o->rope, TOL_B16("q_rope.q"));
    add_bf16(f, "q_rotate", "q_rotate.q", (const char *const[]){"q_rope.q", "in.pos", NULL}, 3,
             s_q, &o->rot, TOL_B16("q_rotate.q"));
    og_add(f, "q_quant.q", DSV4_DT_F32, 3, s_q, o->quant);
    og_stage(f, "q_quant", (const char *const[]){"q_rotate.q", "in.pos", NULL},
             (const char *const[]){"q_quant.q", NULL}, OG_TOL_EXACT);
    add_bf16(f, "weights", "weights.w", (const char *const[]){"in.x", "w.weights_proj", NULL}, 2,
             s_w, &o->w, TOL_B16("weights.w"));
    og_add(f, "scores.i", DSV4_DT_F32, 2, s_s, o->scores);
    og_stage(f, "scores",
             (const char *const[]){"q_quant.q", "in.k", "weights.w", "in.pos", NULL},
             (const char *const[]){"scores.i", NULL}, "{\"kind\":\"abs_rel\",\"abs\":0,\"rel\":0}");
    og_add(f, "topk.idx", DSV4_DT_I32, 2, s_idx, o->idx);
    og_add(f, "topk.kv", DSV4_DT_I32, 2, s_idx, o->kv);
    /* the KV's first rows are the call's T raw rows in prefill, the window
     * in decode (spec/indexer.md §4.5) */
    snprintf(tol_topk, sizeof tol_topk,
             "{\"topk.idx\":{\"kind\":\"topk\",\"scores\":\"scores.i\",\"ties\":\"unspecified\"},"
             "\"topk.kv\":{\"kind\":\"topk\",\"scores\":\"scores.i\",\"ties\":\"unspecified\","
             "\"offset\":%zu}}",
             in->pos == 0 ? in->T : c->window);
    og_stage(f, "topk", (const char *const[]){"scores.i", "in.pos", NULL},
             (const char *const[]){"topk.idx", "topk.kv", NULL}, tol_topk);
    return f->status == DSV4_OK ? 0 : -1;
}
