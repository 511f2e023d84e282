/* compressor_seq.c - a sequence of compressor calls (spec/compressor.md
 * §4.3, §5, §7): the stages call after call, each call starting from the
 * state the one before left; the rules of spec §7 derived from each call's
 * own data; the margins of the end-to-end rule; the file. */
#include "compressor.h"

#include "numfmt.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint32_t *words(size_t n) { return calloc(n + 1, sizeof(uint32_t)); }

/* ---- the sequence ---------------------------------------------------------------------- */
int ocp_seq_alloc(ocp_seq *s) {
    const ocp_cfg *c = &s->c;
    size_t cd = c->coff * c->d;
    s->w.wkv = words(cd * c->dim);
    s->w.wgate = words(cd * c->dim);
    s->w.ape = words(c->r * cd);
    s->w.norm = words(c->d);
    s->x = words(s->N * c->dim);
    s->kv = words(s->N * cd);
    s->score = words(s->N * cd);
    s->kv_mag = words(s->N * cd);
    s->score_mag = words(s->N * cd);
    s->inv_freq = words(c->rope.rope_dim / 2);
    return s->w.wkv && s->w.wgate && s->w.ape && s->w.norm && s->x && s->kv && s->score &&
                   s->kv_mag && s->score_mag && s->inv_freq
               ? 0
               : -1;
}

void ocp_seq_free(ocp_seq *s) {
    free(s->w.wkv);
    free(s->w.wgate);
    free(s->w.ape);
    free(s->w.norm);
    free(s->x);
    free(s->kv);
    free(s->score);
    free(s->kv_mag);
    free(s->score_mag);
    free(s->inv_freq);
    memset(&s->w, 0, sizeof s->w);
    s->x = s->kv = s->score = s->kv_mag = s->score_mag = s->inv_freq = NULL;
}

int ocp_seq_table(ocp_seq *s, char *err, size_t errlen) {
    return or_inv_freq(&s->c.rope, s->inv_freq, err, errlen);
}

void ocp_seq_project(ocp_seq *s, size_t row0, size_t row1) {
    size_t cd = s->c.coff * s->c.d;
    for (size_t q = 0; q < s->N; q++)
        ocp_project_token(&s->c, &s->w, &s->x[q * s->c.dim], q, row0, row1, &s->kv[q * cd],
                          &s->score[q * cd], &s->kv_mag[q * cd], &s->score_mag[q * cd]);
}

/* ---- the calls of a split ------------------------------------------------------------- */
static void call_free(ocp_call *k) {
    free(k->in.kv);
    free(k->in.score);
    free(k->out.kv);
    free(k->out.score);
    free(k->e);
    free(k->e_mag);
    for (int j = 0; j < 3; j++) {
        free(k->ny[j]);
        free(k->ry[j]);
        free(k->hy[j]);
    }
    free(k->q);
    mpfr_clears(k->a_kv, k->a_score, k->a_pool, (mpfr_ptr)0);
}

int ocp_run_alloc(ocp_run *run, const ocp_seq *s, const size_t *T, size_t n_calls) {
    const ocp_cfg *c = &s->c;
    size_t st = c->coff * c->r * c->coff * c->d, t0 = 0;
    int ok = 1;
    run->calls = calloc(n_calls + 1, sizeof *run->calls);
    run->n_calls = run->calls ? n_calls : 0;
    for (size_t i = 0; i < run->n_calls; i++) {
        ocp_call *k = &run->calls[i];
        mpfr_inits(k->a_kv, k->a_score, k->a_pool, (mpfr_ptr)0);
        k->t0 = t0;
        k->T = T[i];
        k->first = t0 / c->r;
        k->n = ocp_entries(c, t0, T[i]);
        t0 += T[i];
        size_t nd = k->n * c->d;
        k->in.kv = words(st);
        k->in.score = words(st);
        k->out.kv = words(st);
        k->out.score = words(st);
        k->e = words(nd);
        k->e_mag = words(nd);
        for (int j = 0; j < 3; j++) {
            k->ny[j] = words(nd);
            k->ry[j] = words(nd);
            k->hy[j] = words(nd);
            ok = ok && k->ny[j] && k->ry[j] && k->hy[j];
        }
        k->q = words(nd);
        ok = ok && k->in.kv && k->in.score && k->out.kv && k->out.score && k->e && k->e_mag &&
             k->q;
    }
    if (!run->calls || !ok || t0 != s->N) {
        ocp_run_free(run);
        return -1;
    }
    return 0;
}

void ocp_run_free(ocp_run *run) {
    for (size_t i = 0; i < run->n_calls; i++) call_free(&run->calls[i]);
    free(run->calls);
    run->calls = NULL;
    run->n_calls = 0;
}

/* The largest of n fp32 magnitudes (as bits: ordered like their values). */
static uint32_t max_bits(const uint32_t *v, size_t n) {
    uint32_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (v[i] > m) m = v[i];
    return m;
}

/* abs = (1 + 2^-10) * k * u * mag + 2^-149 (spec §7 with the factor that
 * covers the golden value's own rounding against the exact one). */
static void abs_bound(mpfr_t abs, unsigned long k, uint32_t mag) {
    mpfr_t t;
    mpfr_init(t);
    ox_set_f32_bits(abs, mag);
    mpfr_mul_ui(abs, abs, k, MPFR_RNDU);
    mpfr_mul_2si(abs, abs, -24, MPFR_RNDU);
    mpfr_mul_2si(t, abs, -10, MPFR_RNDU);
    mpfr_add(abs, abs, t, MPFR_RNDU);
    mpfr_set_ui_2exp(t, 1, -149, MPFR_RNDN);
    mpfr_add(abs, abs, t, MPFR_RNDU);
    mpfr_clear(t);
}

static void reset_state(const ocp_cfg *c, ocp_state *s) {
    size_t n = c->coff * c->r * c->coff * c->d;
    for (size_t i = 0; i < n; i++) {
        s->kv[i] = 0u;
        s->score[i] = OCP_SCORE_RESET;
    }
    s->pos = 0;
}

int ocp_run_stages(const ocp_seq *s, ocp_run *run, const uint8_t *dirty, char *err,
                   size_t errlen) {
    const ocp_cfg *c = &s->c;
    size_t cd = c->coff * c->d, st = c->coff * c->r * cd;
    for (size_t i = 0; i < run->n_calls; i++) {
        ocp_call *k = &run->calls[i];
        if (i == 0) {
            reset_state(c, &k->in);
        } else {
            memcpy(k->in.kv, run->calls[i - 1].out.kv, st * sizeof *k->in.kv);
            memcpy(k->in.score, run->calls[i - 1].out.score, st * sizeof *k->in.score);
            k->in.pos = run->calls[i - 1].out.pos;
        }
        const uint32_t *kv = &s->kv[k->t0 * cd], *score = &s->score[k->t0 * cd];
        int rc = 0;
        for (size_t ch = 0; ch < c->d && rc == 0; ch++) {
            if (dirty && !dirty[ch]) continue;
            size_t c1 = dirty ? ch + 1 : c->d;
            rc = ocp_pool(c, &k->in, k->T, kv, score, ch, c1, k->e, k->e_mag);
            ch = c1 - 1;
        }
        if (rc == 0) rc = ocp_norm(c, s->w.norm, k->n, k->e, k->ny[0], k->ny[1], k->ny[2]);
        if (rc == 0)
            rc = ocp_rope(c, s->inv_freq, k->first, k->n, k->ny[0], k->ry[0], k->ry[1], k->ry[2]);
        if (rc == 0 && c->quant == OCP_FP4)
            ocp_rotate(c, k->n, k->ry[0], k->hy[0], k->hy[1], k->hy[2]);
        if (rc == 0) rc = ocp_quant_rows(c, k->n, c->quant == OCP_FP4 ? k->hy[0] : k->ry[0], k->q);
        if (rc != 0) {
            snprintf(err, errlen, "out of memory");
            return -1;
        }
        ocp_carry(c, &k->in, k->T, kv, score, &k->out);
        abs_bound(k->a_kv, (unsigned long)c->dim + 1, max_bits(&s->kv_mag[k->t0 * cd], k->T * cd));
        abs_bound(k->a_score, (unsigned long)c->dim + 1,
                  max_bits(&s->score_mag[k->t0 * cd], k->T * cd));
        abs_bound(k->a_pool, 4ul * c->r + 8, max_bits(k->e_mag, k->n * c->d));
    }
    return 0;
}

/* ---- margins ---------------------------------------------------------------------------- */
int ocp_margins_alloc(ocp_margins *m, size_t d) {
    memset(m, 0, sizeof *m);
    m->entry = calloc(3 * d + 1, 1);
    if (!m->entry) return -1;
    m->norm = m->entry + d;
    m->rope = m->entry + 2 * d;
    return 0;
}

void ocp_margins_free(ocp_margins *m) {
    free(m->entry);
    memset(m, 0, sizeof *m);
}

void ocp_margins_clear(ocp_margins *m, size_t d) {
    memset(m->entry, 0, 3 * d);
    m->n_entry = m->n_norm = m->n_rope = m->n_rotate = 0;
}

int ocp_margins_hold(const ocp_margins *m) {
    return m->n_entry + m->n_norm + m->n_rope + m->n_rotate == 0;
}

/* 1 when every value within t of v rounds to the same bf16 value: the
 * roundings of v - t' and v + t' agree, t' = t (1 + 2^-20) covering the
 * checker's double arithmetic.  v, t: fp32 bits. */
static int has_margin(uint32_t v, const mpfr_t t) {
    const on_format *bf = on_get(ON_BF16);
    mpfr_t lo, hi, w;
    mpfr_inits(lo, hi, w, (mpfr_ptr)0);
    mpfr_mul_2si(w, t, -20, MPFR_RNDU);
    mpfr_add(w, w, t, MPFR_RNDU);
    ox_set_f32_bits(lo, v);
    mpfr_sub(lo, lo, w, MPFR_RNDN);
    ox_set_f32_bits(hi, v);
    mpfr_add(hi, hi, w, MPFR_RNDN);
    /* values, not codes: a zero's sign is set by the IEEE rules, not by
     * where in the interval the value lies (the checker compares values) */
    uint32_t a = on_decode_f32(bf, on_encode(bf, lo)), b = on_decode_f32(bf, on_encode(bf, hi));
    int ok = a == b || ((a | b) & 0x7FFFFFFFu) == 0;
    mpfr_clears(lo, hi, w, (mpfr_ptr)0);
    return ok;
}

/* Margins of a bf16_boundary output: y_f32 and y_tol [n, d]; flags the
 * channels that lack one (and counts them); with pair, both channels of
 * the RoPE pair.  Returns the number of elements without a margin. */
static size_t bf16_margins(const ocp_cfg *c, size_t n, uint32_t *const y[3], uint8_t *flag,
                           int pair) {
    size_t d = c->d, nope = d - c->rope.rope_dim, bad = 0;
    mpfr_t t;
    mpfr_init(t);
    for (size_t i = 0; i < n * d; i++) {
        ox_set_f32_bits(t, y[2][i]);
        if (has_margin(y[1][i], t)) continue;
        bad++;
        size_t ch = i % d;
        if (!flag) continue;
        if (pair && ch >= nope) ch = nope + ((ch - nope) & ~(size_t)1);
        flag[ch] = 1;
        if (pair && ch + 1 < d) flag[ch + 1] = 1;
    }
    mpfr_clear(t);
    return bad;
}

void ocp_margins_measure(const ocp_seq *s, const ocp_run *run, ocp_margins *m) {
    const ocp_cfg *c = &s->c;
    mpfr_t t;
    mpfr_init(t);
    for (size_t i = 0; i < run->n_calls; i++) {
        const ocp_call *k = &run->calls[i];
        /* the entry before the norm: every value the pool rule accepts,
         * |x - g| <= abs + 2u |g|, must round to the same bf16 value */
        for (size_t j = 0; j < k->n * c->d; j++) {
            uint32_t g = k->e[j];
            if (ox_f32_is_nan(g) || ox_f32_is_inf(g)) continue;
            ox_set_f32_bits(t, g & 0x7FFFFFFFu);
            mpfr_mul_2si(t, t, -23, MPFR_RNDU);
            mpfr_add(t, t, k->a_pool, MPFR_RNDU);
            if (has_margin(g, t)) continue;
            m->n_entry++;
            m->entry[j % c->d] = 1;
        }
        m->n_norm += bf16_margins(c, k->n, k->ny, m->norm, 0);
        m->n_rope += bf16_margins(c, k->n, k->ry, m->rope, 1);
        if (c->quant == OCP_FP4) m->n_rotate += bf16_margins(c, k->n, k->hy, NULL, 0);
    }
    mpfr_clear(t);
}

/* ---- the file ---------------------------------------------------------------------------- */
#define NAMES(...) ((const char *const[]){__VA_ARGS__, NULL})
#define TOL_TEXT 512

static void abs_rel_text(char *buf, size_t len, const mpfr_t abs) {
    mpfr_t rel;
    mpfr_init(rel);
    mpfr_set_ui_2exp(rel, 1, -23, MPFR_RNDN); /* 2u */
    mpfr_snprintf(buf, len, "{\"kind\":\"abs_rel\",\"abs\":%.6RUe,\"rel\":%.6RUe}", abs, rel);
    mpfr_clear(rel);
}

static void bf16_text(char *buf, size_t len, const char *stage) {
    snprintf(buf, len, "{\"kind\":\"bf16_boundary\",\"tol\":\"%s.y_tol\",\"ref\":\"%s.y_f32\"}",
             stage, stage);
}

/* One bf16 stage: its three tensors and its rule. */
static void add_bf16_stage(og_file *f, const char *stage, const char *input, size_t n,
                           size_t d, uint32_t *const y[3]) {
    static const char *const suffix[3] = {"y", "y_f32", "y_tol"};
    size_t shape[2] = {n, d};
    char name[64], tol[TOL_TEXT];
    for (int j = 0; j < 3; j++) {
        snprintf(name, sizeof name, "%s.%s", stage, suffix[j]);
        og_add(f, name, DSV4_DT_F32, 2, shape, y[j]);
    }
    snprintf(name, sizeof name, "%s.y", stage);
    bf16_text(tol, sizeof tol, stage);
    og_stage(f, stage, (const char *const[]){input, "state.pos", NULL},
             (const char *const[]){name, NULL}, tol);
}

int ocp_write(og_file *f, const char *case_name, uint64_t seed, const char *desc,
              const ocp_seq *s, const ocp_run *run, char *err, size_t errlen) {
    const ocp_cfg *c = &s->c;
    size_t cd = c->coff * c->d, d = c->d;
    char config[1024], tol[2 * TOL_TEXT], t1[TOL_TEXT / 2], t2[TOL_TEXT / 2];
    ocp_config_text(c, config, sizeof config);
    og_begin(f, "compressor", case_name, config, seed, desc);
    size_t sw[2] = {cd, c->dim}, sa[2] = {c->r, cd}, sn[1] = {d}, ss[2] = {c->coff * c->r, cd};
    size_t one[1] = {1};
    og_add(f, "w.wkv", DSV4_DT_F32, 2, sw, s->w.wkv);
    og_add(f, "w.wgate", DSV4_DT_F32, 2, sw, s->w.wgate);
    og_add(f, "w.ape", DSV4_DT_F32, 2, sa, s->w.ape);
    og_add(f, "w.norm", DSV4_DT_F32, 1, sn, s->w.norm);
    for (size_t i = 0; i < run->n_calls; i++) {
        const ocp_call *k = &run->calls[i];
        size_t sx[2] = {k->T, c->dim}, sp[2] = {k->T, cd}, se[2] = {k->n, d};
        og_call(f, i);
        og_add(f, "in.x", DSV4_DT_F32, 2, sx, &s->x[k->t0 * c->dim]);
        og_add(f, "state.kv", DSV4_DT_F32, 2, ss, k->in.kv);
        og_add(f, "state.score", DSV4_DT_F32, 2, ss, k->in.score);
        og_add(f, "state.pos", DSV4_DT_I32, 1, one, &k->in.pos);
        og_add(f, "project.kv", DSV4_DT_F32, 2, sp, &s->kv[k->t0 * cd]);
        og_add(f, "project.score", DSV4_DT_F32, 2, sp, &s->score[k->t0 * cd]);
        abs_rel_text(t1, sizeof t1, k->a_kv);
        abs_rel_text(t2, sizeof t2, k->a_score);
        snprintf(tol, sizeof tol, "{\"project.kv\":%s,\"project.score\":%s}", t1, t2);
        og_stage(f, "project", NAMES("in.x", "w.wkv", "w.wgate", "w.ape", "state.pos"),
                 NAMES("project.kv", "project.score"), tol);
        og_add(f, "pool.e", DSV4_DT_F32, 2, se, k->e);
        abs_rel_text(tol, sizeof tol, k->a_pool);
        og_stage(f, "pool",
                 NAMES("project.kv", "project.score", "state.kv", "state.score", "state.pos"),
                 NAMES("pool.e"), tol);
        /* norm reads w.norm too */
        static const char *const suffix[3] = {"norm.y", "norm.y_f32", "norm.y_tol"};
        for (int j = 0; j < 3; j++) og_add(f, suffix[j], DSV4_DT_F32, 2, se, k->ny[j]);
        bf16_text(tol, sizeof tol, "norm");
        og_stage(f, "norm", NAMES("pool.e", "w.norm", "state.pos"), NAMES("norm.y"), tol);
        add_bf16_stage(f, "rope", "norm.y", k->n, d, k->ry);
        if (c->quant == OCP_FP4) add_bf16_stage(f, "rotate", "rope.y", k->n, d, k->hy);
        og_add(f, "quant.y", DSV4_DT_F32, 2, se, k->q);
        og_stage(f, "quant", NAMES(c->quant == OCP_FP4 ? "rotate.y" : "rope.y", "state.pos"),
                 NAMES("quant.y"), OG_TOL_EXACT);
        og_add(f, "carry.kv", DSV4_DT_F32, 2, ss, k->out.kv);
        og_add(f, "carry.score", DSV4_DT_F32, 2, ss, k->out.score);
        og_add(f, "carry.pos", DSV4_DT_I32, 1, one, &k->out.pos);
        og_stage(f, "carry",
                 NAMES("project.kv", "project.score", "state.kv", "state.score", "state.pos"),
                 NAMES("carry.kv", "carry.score", "carry.pos"), OG_TOL_EXACT);
    }
    if (f->status != DSV4_OK) {
        snprintf(err, errlen, "%s", f->err);
        return -1;
    }
    return 0;
}
