/* compressor_selftest.c - the worked cases of spec/compressor.md §10 and
 * the oracle's self test against them.
 *
 * W1 (ratio 2, no overlap, head_dim 4) and W2 (ratio 4, overlapping
 * windows, head_dim 2) have small dyadic inputs, so their projections are
 * exact; their entries, RMSNorm and RoPE outputs come from a separate
 * mpmath program (300 bits, each rounding emulated), written from the spec
 * apart from this oracle.  Both are shipped as golden files too. */
#include "compressor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Values as num * 2^exp. */
typedef struct dy {
    long num;
    int exp;
} dy;

#define ONE {1, 0}
#define ZERO {0, 0}
#define NEG1 {-1, 0}
#define HALF {1, -1}

typedef struct worked {
    size_t dim, d, r, N;
    const dy *x, *wkv, *wgate, *ape, *norm;
    size_t n_calls;
    size_t T[4];
    const uint32_t *pool, *norm_y, *rope_y; /* [N/r, d] fp32 bits */
} worked;

/* W1: x [4, 2], wkv and wgate [4, 2], ape [2, 4], w.norm [4]. */
static const dy W1_X[] = {ONE, ZERO, ZERO, ONE, ONE, NEG1, HALF, {2, 0}};
static const dy W1_WKV[] = {ONE, ZERO, ZERO, ONE, ONE, ONE, {2, 0}, NEG1};
static const dy W1_WGATE[] = {HALF, ZERO, ZERO, NEG1, ONE, ONE, ZERO, ZERO};
static const dy W1_APE[] = {ZERO, {1, -2}, ZERO, ZERO, ZERO, ZERO, {-1, -1}, ONE};
static const dy W1_NORM[] = {ONE, HALF, {2, 0}, NEG1};
static const uint32_t W1_POOL[] = {0x3F1F597Fu, 0x3E640B81u, 0x3F800000u, 0xBE45CFDCu,
                                   0x3F47F566u, 0xBF63553Cu, 0x400CED73u, 0x3D9B2B0Au};
static const uint32_t W1_NORM_Y[] = {0x3F830000u, 0x3E3C0000u, 0x40530000u, 0x3EA30000u,
                                     0x3F200000u, 0xBEB60000u, 0x40610000u, 0xBD780000u};
static const uint32_t W1_ROPE_Y[] = {0x3F830000u, 0x3E3C0000u, 0x40530000u, 0x3EA30000u,
                                     0x3F200000u, 0xBEB60000u, 0xBFB40000u, 0x404E0000u};

/* W2: x [8, 2], wkv and wgate [4, 2], ape [4, 4], w.norm [2]. */
static const dy W2_X[] = {ONE, ZERO, ZERO, ONE, ONE, ONE, ONE, NEG1,
                          {2, 0}, ZERO, ZERO, {2, 0}, NEG1, ONE, HALF, HALF};
static const dy W2_WKV[] = {ONE, ZERO, ZERO, ONE, ONE, NEG1, HALF, HALF};
static const dy W2_WGATE[] = {ZERO, ONE, ONE, ZERO, HALF, {-1, -1}, ONE, ONE};
static const dy W2_APE[] = {ZERO, ZERO, ZERO, ZERO, {1, -2}, ZERO, ZERO,     ZERO,
                            ZERO, HALF, ZERO, ZERO, ZERO,    ZERO, ZERO, {-1, -2}};
static const dy W2_NORM[] = {{3, -1}, {-3, -2}};
static const uint32_t W2_POOL[] = {0x3F8AD367u, 0x3F3E31A7u, 0x3F2B52B0u, 0x3F2541BFu};
static const uint32_t W2_NORM_Y[] = {0x3FE00000u, 0xBF190000u, 0x3FC30000u, 0xBF3D0000u};
static const uint32_t W2_ROPE_Y[] = {0x3FE00000u, 0xBF190000u, 0xBFC70000u, 0xBF2C0000u};

static const worked WORKED[2] = {
    {2, 4, 2, 4, W1_X, W1_WKV, W1_WGATE, W1_APE, W1_NORM, 3, {1, 2, 1}, W1_POOL, W1_NORM_Y,
     W1_ROPE_Y},
    {2, 2, 4, 8, W2_X, W2_WKV, W2_WGATE, W2_APE, W2_NORM, 4, {3, 0, 2, 3}, W2_POOL, W2_NORM_Y,
     W2_ROPE_Y},
};

static void set_dy(uint32_t *out, const dy *v, size_t n) {
    for (size_t i = 0; i < n; i++) out[i] = ox_f32_of_dyadic(v[i].num, v[i].exp);
}

int ocp_worked_seq(size_t which, ocp_seq *s, size_t *n_calls, size_t *T, char *err,
                   size_t errlen) {
    const worked *w = &WORKED[which];
    memset(s, 0, sizeof *s);
    ocp_cfg c = {w->dim, w->d, w->r, 1, OCP_NONE, 0x358637BDu, /* fp32(1e-6) */
                 {2, 160000.0, 16.0, 65536, 32.0, 1.0, 0}};   /* V4's table, rope_dim 2 */
    s->c = c;
    s->N = w->N;
    if (ocp_cfg_finish(&s->c, err, errlen) != 0) return -1;
    if (ocp_seq_alloc(s) != 0) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    size_t cd = s->c.coff * w->d;
    set_dy(s->x, w->x, w->N * w->dim);
    set_dy(s->w.wkv, w->wkv, cd * w->dim);
    set_dy(s->w.wgate, w->wgate, cd * w->dim);
    set_dy(s->w.ape, w->ape, w->r * cd);
    set_dy(s->w.norm, w->norm, w->d);
    *n_calls = w->n_calls;
    memcpy(T, w->T, w->n_calls * sizeof *T);
    ocp_seq_project(s, 0, cd);
    if (ocp_seq_table(s, err, errlen) != 0) {
        ocp_seq_free(s);
        return -1;
    }
    return 0;
}

/* The expected entries of one run: each call's rows against the tables. */
static int check_run(const char *name, const worked *w, const ocp_run *run) {
    int fails = 0;
    char what[96];
    for (size_t k = 0; k < run->n_calls; k++) {
        const ocp_call *c = &run->calls[k];
        for (size_t i = 0; i < c->n * w->d; i++) {
            size_t at = c->first * w->d + i;
            snprintf(what, sizeof what, "%s pool.e[%zu]", name, at);
            fails += ox_check_bits(what, c->e[i], w->pool[at]);
            snprintf(what, sizeof what, "%s norm.y[%zu]", name, at);
            fails += ox_check_bits(what, c->ny[0][i], w->norm_y[at]);
            snprintf(what, sizeof what, "%s rope.y[%zu]", name, at);
            fails += ox_check_bits(what, c->ry[0][i], w->rope_y[at]);
            snprintf(what, sizeof what, "%s quant.y[%zu] (none)", name, at);
            fails += ox_check_bits(what, c->q[i], w->rope_y[at]);
        }
    }
    return fails;
}

/* W2's state after its first 5 tokens (calls 3, 0, 2): rows 0..3 hold
 * tokens 0..3 (block 0, complete), row 4 token 4, rows 5..7 the reset
 * values (spec §3). */
static int check_w2_state(const ocp_seq *s, const ocp_run *run) {
    const ocp_state *st = &run->calls[2].out;
    size_t cd = s->c.coff * s->c.d;
    int fails = ox_check_bits("W2 state.pos after 5", (uint32_t)st->pos, 5u);
    for (size_t row = 0; row < 8; row++)
        for (size_t j = 0; j < cd; j++) {
            uint32_t kv = row < 5 ? s->kv[row * cd + j] : 0u;
            uint32_t sc = row < 5 ? s->score[row * cd + j] : OCP_SCORE_RESET;
            fails += ox_check_bits("W2 state.kv after 5", st->kv[row * cd + j], kv);
            fails += ox_check_bits("W2 state.score after 5", st->score[row * cd + j], sc);
        }
    return fails;
}

int ocp_selftest(void) {
    int fails = 0;
    char err[256];
    for (size_t which = 0; which < 2; which++) {
        const worked *w = &WORKED[which];
        ocp_seq s;
        size_t n_calls, T[4], one = w->N;
        ocp_run split = {0, NULL}, prefill = {0, NULL};
        if (ocp_worked_seq(which, &s, &n_calls, T, err, sizeof err) != 0) {
            fprintf(stderr, "selftest FAIL compressor W%zu: %s\n", which + 1, err);
            fails++;
            continue;
        }
        const char *name = which ? "W2" : "W1";
        if (ocp_run_alloc(&split, &s, T, n_calls) != 0 ||
            ocp_run_alloc(&prefill, &s, &one, 1) != 0 ||
            ocp_run_stages(&s, &split, NULL, err, sizeof err) != 0 ||
            ocp_run_stages(&s, &prefill, NULL, err, sizeof err) != 0) {
            fprintf(stderr, "selftest FAIL compressor %s: cannot run\n", name);
            fails++;
        } else {
            fails += check_run(name, w, &split) + check_run(name, w, &prefill);
            if (which == 1) fails += check_w2_state(&s, &split);
        }
        ocp_run_free(&split);
        ocp_run_free(&prefill);
        ocp_seq_free(&s);
    }
    return fails;
}
