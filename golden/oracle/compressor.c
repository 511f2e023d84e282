/* compressor.c - the exact stages of the KV compressor (spec/compressor.md
 * §4), one call at a time.
 *
 * Every stage reads the stored (rounded) outputs of the stages before it,
 * as a stage check feeds them, computes its result in MPFR and rounds it
 * once: the projections and the pooled entries to fp32, the bf16 stages
 * (RMSNorm, RoPE, the Hadamard rotation) to bf16 and to fp32 (their
 * reference value), the fake quantization through the codec family's
 * exact quantizer.  The softmax is the real one: e^(a_j - m) at OX_PREC
 * bits, its sum, the quotients and the weighted sum, none rounded to fp32.
 * The building blocks of the other families are used as they are: the
 * exact RMSNorm (norm.c), the RoPE table and rotation (rope.c), the
 * Hadamard row (hadamard.c) and the block quantizer (codec_stages.c). */
#include "compressor.h"

#include "codec.h"
#include "hadamard.h"
#include "norm.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- configuration ----------------------------------------------------------------- */
int ocp_cfg_finish(ocp_cfg *c, char *err, size_t errlen) {
    size_t rd = c->rope.rope_dim;
    c->coff = c->r == 4 ? 2 : 1;
    c->rope.inverse = 0;
    const char *why = NULL;
    if (c->r < 1 || c->dim < 1 || c->d < 1) why = "dim, head_dim and ratio must be positive";
    else if (rd < 2 || rd % 2 != 0 || rd > c->d) why = "rope_dim must be even, in [2, head_dim]";
    else if (c->quant == OCP_FP8 && (c->d - rd) % 64 != 0)
        why = "fp8 needs head_dim - rope_dim a multiple of 64";
    else if (c->quant == OCP_FP4 && ((c->d & (c->d - 1)) != 0 || c->d % 32 != 0))
        why = "hadamard_fp4 needs head_dim a power of two and a multiple of 32";
    if (why) snprintf(err, errlen, "compressor: %s", why);
    return why ? -1 : 0;
}

void ocp_config_text(const ocp_cfg *c, char *buf, size_t len) {
    static const char *const quant[] = {"fp8", "hadamard_fp4", "none"};
    char eps[40], rope[512];
    ox_f32_decimal(c->eps, eps, sizeof eps);
    or_config_text(&c->rope, rope, sizeof rope);
    /* or_config_text writes {"rope_dim":..,...,"inverse":"no"}: the compressor
     * takes the same keys but inverse, which it does not have. */
    char *inv = strstr(rope, ",\"inverse\"");
    if (inv) strcpy(inv, "}");
    snprintf(buf, len,
             "{\"dim\":%zu,\"head_dim\":%zu,\"ratio\":%zu,\"quant\":\"%s\",\"norm_eps\":%s,%s",
             c->dim, c->d, c->r, quant[c->quant], eps, rope + 1);
}

size_t ocp_entries(const ocp_cfg *c, size_t p, size_t T) { return (p + T) / c->r - p / c->r; }

/* An fp32 at least as large as v >= 0 (the bits of the nearest fp32, moved
 * up one step when that is below v); 0 when v is not finite. */
static uint32_t f32_up(const mpfr_t v) {
    if (!mpfr_number_p(v)) return 0u;
    uint32_t b = ox_round_f32(v);
    mpfr_t t;
    mpfr_init(t);
    ox_set_f32_bits(t, b);
    if (mpfr_cmp(t, v) < 0) b = ox_f32_nextup(b);
    mpfr_clear(t);
    return b;
}

/* ---- (C1) projections ------------------------------------------------------------------ */
/* acc = sum_k x_k W_k exactly (fp32 products are exact at OX_PREC bits and
 * the sum is rounded at OX_PREC bits), mag = sum_k |x_k W_k|. */
static void dot(const uint32_t *x, const uint32_t *w, size_t n, mpfr_t acc, mpfr_t mag,
                mpfr_t a, mpfr_t b) {
    mpfr_set_ui(acc, 0, MPFR_RNDN);
    mpfr_set_ui(mag, 0, MPFR_RNDN);
    for (size_t k = 0; k < n; k++) {
        ox_set_f32_bits(a, x[k]);
        ox_set_f32_bits(b, w[k]);
        mpfr_mul(a, a, b, MPFR_RNDN);
        mpfr_add(acc, acc, a, MPFR_RNDN);
        mpfr_abs(a, a, MPFR_RNDN);
        mpfr_add(mag, mag, a, MPFR_RNDN);
    }
}

void ocp_project_token(const ocp_cfg *c, const ocp_weights *w, const uint32_t *x, size_t q,
                       size_t row0, size_t row1, uint32_t *kv, uint32_t *score,
                       uint32_t *kv_mag, uint32_t *score_mag) {
    size_t cd = c->coff * c->d;
    const uint32_t *ape = &w->ape[(q % c->r) * cd]; /* (C1b): the position in the block */
    mpfr_t acc, mag, a, b;
    mpfr_inits(acc, mag, a, b, (mpfr_ptr)0);
    for (size_t row = row0; row < row1; row++) {
        dot(x, &w->wkv[row * c->dim], c->dim, acc, mag, a, b); /* (C1a) */
        kv[row] = ox_round_f32(acc);
        kv_mag[row] = mpfr_number_p(acc) ? f32_up(mag) : 0u;
        dot(x, &w->wgate[row * c->dim], c->dim, acc, mag, a, b); /* (C1b) */
        ox_set_f32_bits(a, ape[row]);
        mpfr_add(acc, acc, a, MPFR_RNDN);
        mpfr_abs(a, a, MPFR_RNDN);
        mpfr_add(mag, mag, a, MPFR_RNDN);
        score[row] = ox_round_f32(acc);
        score_mag[row] = mpfr_number_p(acc) ? f32_up(mag) : 0u;
    }
    mpfr_clears(acc, mag, a, b, (mpfr_ptr)0);
}

/* ---- where a token's projections are ------------------------------------------------- */
/* The kv and score rows [coff*d] of token q for a call that starts at
 * p = s->pos with projections kv, score [T, coff*d]: the call's own row
 * when q >= p, else the row of the state that holds it (spec §3). */
static void token_rows(const ocp_cfg *c, const ocp_state *s, const uint32_t *kv,
                       const uint32_t *score, size_t q, const uint32_t **kv_row,
                       const uint32_t **score_row) {
    size_t cd = c->coff * c->d, p = (size_t)s->pos, b0 = p / c->r, row;
    if (q >= p) {
        *kv_row = &kv[(q - p) * cd];
        *score_row = &score[(q - p) * cd];
        return;
    }
    if (q >= b0 * c->r) row = (c->coff == 2 ? c->r : 0) + q % c->r; /* the current block */
    else row = q % c->r;                                             /* the last complete one */
    *kv_row = &s->kv[row * cd];
    *score_row = &s->score[row * cd];
}

/* ---- (C2) entries ----------------------------------------------------------------------- */
/* The softmax over logits a [m] and the weighted sum of v [m] (C2c), exact:
 * e = sum_j v_j e^(a_j - max a) / sum_j e^(a_j - max a) rounded to fp32,
 * mag = sum_j w_j |v_j| rounded up.  IEEE rules for the special values, as
 * the fp32 formula has them: a NaN logit, or a max of +Inf (Inf - Inf) or
 * -Inf (every logit -Inf), makes the entry NaN; a -Inf logit gets weight 0,
 * and 0 times an infinite v is NaN.  t [m] is scratch. */
static void softmax_pool(const uint32_t *a, const uint32_t *v, size_t m, mpfr_t *t, uint32_t *e,
                         uint32_t *mag) {
    mpfr_t mx, s, p, acc, ab;
    mpfr_inits(mx, s, p, acc, ab, (mpfr_ptr)0);
    int nan = 0;
    for (size_t j = 0; j < m; j++) {
        ox_set_f32_bits(t[j], a[j]);
        nan |= mpfr_nan_p(t[j]) != 0;
        if (j == 0 || mpfr_cmp(t[j], mx) > 0) mpfr_set(mx, t[j], MPFR_RNDN);
    }
    if (nan) mpfr_set_nan(mx); /* mpfr_max would skip a NaN */
    mpfr_set_ui(s, 0, MPFR_RNDN);
    for (size_t j = 0; j < m; j++) {
        mpfr_sub(t[j], t[j], mx, MPFR_RNDN); /* fp32 operands: exact or within 2^-256 */
        mpfr_exp(t[j], t[j], MPFR_RNDN);     /* exp(-Inf) = +0 */
        mpfr_add(s, s, t[j], MPFR_RNDN);
    }
    mpfr_set_ui(acc, 0, MPFR_RNDN);
    mpfr_set_ui(ab, 0, MPFR_RNDN);
    for (size_t j = 0; j < m; j++) {
        mpfr_div(t[j], t[j], s, MPFR_RNDN); /* w_j */
        ox_set_f32_bits(p, v[j]);
        mpfr_mul(p, p, t[j], MPFR_RNDN);
        mpfr_add(acc, acc, p, MPFR_RNDN);
        mpfr_abs(p, p, MPFR_RNDN);
        mpfr_add(ab, ab, p, MPFR_RNDN);
    }
    *e = ox_round_f32(acc);
    *mag = mpfr_number_p(acc) ? f32_up(ab) : 0u;
    mpfr_clears(mx, s, p, acc, ab, (mpfr_ptr)0);
}

int ocp_pool(const ocp_cfg *c, const ocp_state *s, size_t T, const uint32_t *kv,
             const uint32_t *score, size_t c0, size_t c1, uint32_t *e, uint32_t *e_mag) {
    size_t r = c->r, d = c->d, m = c->coff * r, p = (size_t)s->pos, first = p / r;
    size_t n = ocp_entries(c, p, T), cd = c->coff * d;
    mpfr_t *t = malloc(m * sizeof *t);
    uint32_t *a = malloc(2 * m * sizeof *a);
    const uint32_t **kr = malloc(2 * m * sizeof *kr); /* the rows of the window */
    if (!t || !a || !kr) {
        free(t);
        free(a);
        free(kr);
        return -1;
    }
    const uint32_t **sr = kr + m;
    uint32_t *vv = a + m;
    for (size_t j = 0; j < m; j++) mpfr_init(t[j]);
    for (size_t i = first; i < first + n; i++) {
        /* (C2a), (C2b): row j of the window and the channel offset it reads */
        for (size_t j = 0; j < m; j++) {
            if (c->coff == 2 && j < r) {
                if (i == first) { /* block i - 1 is the state's last complete block */
                    kr[j] = &s->kv[j * cd];
                    sr[j] = &s->score[j * cd];
                } else {
                    token_rows(c, s, kv, score, (i - 1) * r + j, &kr[j], &sr[j]);
                }
            } else {
                token_rows(c, s, kv, score, i * r + j - (c->coff == 2 ? r : 0), &kr[j], &sr[j]);
            }
        }
        for (size_t ch = c0; ch < c1; ch++) {
            for (size_t j = 0; j < m; j++) {
                size_t col = (c->coff == 2 && j >= r) ? d + ch : ch;
                a[j] = sr[j][col];
                vv[j] = kr[j][col];
            }
            softmax_pool(a, vv, m, t, &e[(i - first) * d + ch], &e_mag[(i - first) * d + ch]);
        }
    }
    for (size_t j = 0; j < m; j++) mpfr_clear(t[j]);
    free(t);
    free(a);
    free(kr);
    return 0;
}

/* ---- (C3) bf16, RMSNorm ------------------------------------------------------------------ */
int ocp_norm(const ocp_cfg *c, const uint32_t *wnorm, size_t n, const uint32_t *e, uint32_t *y,
             uint32_t *y_f32, uint32_t *y_tol) {
    const on_format *bf = on_get(ON_BF16);
    size_t d = c->d;
    /* spec/norm.md §4: abs 2^-148 + relative (tau_d + 2u)(1 + 2^-10),
     * tau_d = 8 sqrt(d) u; times 1 + 2^-20 for the fp32 reference value
     * standing for the exact one and the rounding of the bound. */
    mpfr_t rel, r, t, abs;
    mpfr_inits(rel, r, t, abs, (mpfr_ptr)0);
    mpfr_set_ui(rel, (unsigned long)d, MPFR_RNDN);
    mpfr_sqrt(rel, rel, MPFR_RNDN);
    mpfr_mul_2si(rel, rel, 3 - 24, MPFR_RNDN);
    mpfr_set_ui_2exp(t, 1, -23, MPFR_RNDN);
    mpfr_add(rel, rel, t, MPFR_RNDN);
    mpfr_mul_2si(t, rel, -10, MPFR_RNDN);
    mpfr_add(rel, rel, t, MPFR_RNDN);
    mpfr_mul_2si(t, rel, -20, MPFR_RNDN);
    mpfr_add(rel, rel, t, MPFR_RNDN);
    mpfr_set_ui_2exp(abs, 1, -148, MPFR_RNDN);
    uint32_t *xb = malloc((d + 1) * sizeof *xb);
    for (size_t i = 0; xb && i < n; i++) {
        for (size_t k = 0; k < d; k++) { /* (C3): the entry rounded to bf16 */
            ox_set_f32_bits(t, e[i * d + k]);
            xb[k] = on_decode_f32(bf, on_encode(bf, t));
        }
        onr_rms(xb, d, c->eps, r);
        onr_apply(xb, r, wnorm, d, &y[i * d], &y_f32[i * d]);
        for (size_t k = 0; k < d; k++) {
            uint32_t f = y_f32[i * d + k];
            if (ox_f32_is_nan(f) || ox_f32_is_inf(f)) {
                y_tol[i * d + k] = 0u;
                continue;
            }
            ox_set_f32_bits(t, f & 0x7FFFFFFFu);
            mpfr_mul(t, t, rel, MPFR_RNDN);
            mpfr_add(t, t, abs, MPFR_RNDN);
            y_tol[i * d + k] = f32_up(t);
        }
    }
    mpfr_clears(rel, r, t, abs, (mpfr_ptr)0);
    int rc = xb ? 0 : -1;
    free(xb);
    return rc;
}

/* ---- (C4) RoPE at the first token of each block ------------------------------------------ */
int ocp_rope(const ocp_cfg *c, const uint32_t *inv_freq, size_t first, size_t n,
             const uint32_t *x, uint32_t *y, uint32_t *y_f32, uint32_t *y_tol) {
    size_t half = c->rope.rope_dim / 2;
    int32_t *pos = malloc((n + 1) * sizeof *pos);
    uint32_t *cs = malloc((2 * n * half + 1) * sizeof *cs);
    if (!pos || !cs) {
        free(pos);
        free(cs);
        return -1;
    }
    for (size_t i = 0; i < n; i++) pos[i] = (int32_t)((first + i) * c->r); /* position i*r */
    or_table(&c->rope, inv_freq, n, pos, cs, cs + n * half);
    or_rotate(&c->rope, n, 1, c->d, cs, cs + n * half, x, y, y_f32, y_tol);
    free(pos);
    free(cs);
    return 0;
}

/* ---- (C5) ------------------------------------------------------------------------------ */
void ocp_rotate(const ocp_cfg *c, size_t n, const uint32_t *x, uint32_t *y, uint32_t *y_f32,
                uint32_t *y_tol) {
    for (size_t i = 0; i < n; i++)
        oh_rotate_row(&x[i * c->d], c->d, &y[i * c->d], &y_f32[i * c->d], &y_tol[i * c->d]);
}

int ocp_quant_rows(const ocp_cfg *c, size_t n, const uint32_t *x, uint32_t *y) {
    size_t d = c->d, cols = c->quant == OCP_FP8 ? d - c->rope.rope_dim : d;
    memcpy(y, x, n * d * sizeof *y);
    if (c->quant == OCP_NONE || cols == 0 || n == 0) return 0;
    oc_qcfg q = {c->quant == OCP_FP8 ? ON_E4M3 : ON_E2M1, 1, c->quant == OCP_FP8 ? 64 : 32,
                 OC_RCEIL};
    uint32_t *slab = malloc(n * cols * sizeof *slab);
    uint8_t *codes = malloc(n * cols + 1), *scales = malloc(n * cols / q.bc + 1);
    int rc = -1;
    if (slab && codes && scales) {
        for (size_t i = 0; i < n; i++) memcpy(&slab[i * cols], &x[i * d], cols * sizeof *slab);
        if (oc_quant(&q, slab, n, cols, codes, scales) == 0) {
            oc_dequant(&q, codes, scales, n, cols, slab); /* fake quant: (D2) */
            for (size_t i = 0; i < n; i++) memcpy(&y[i * d], &slab[i * cols], cols * sizeof *y);
            rc = 0;
        }
    }
    free(slab);
    free(codes);
    free(scales);
    return rc;
}

/* ---- carry: the state after the call (spec §3) ------------------------------------------- */
void ocp_carry(const ocp_cfg *c, const ocp_state *s, size_t T, const uint32_t *kv,
               const uint32_t *score, ocp_state *out) {
    size_t r = c->r, cd = c->coff * c->d, rows = c->coff * r;
    size_t P = (size_t)s->pos + T, b = P / r;
    for (size_t i = 0; i < rows * cd; i++) {
        out->kv[i] = 0u;
        out->score[i] = OCP_SCORE_RESET;
    }
    /* the tokens of the incomplete block b, and with overlap those of block b - 1 */
    size_t from = (c->coff == 2 && b > 0) ? (b - 1) * r : b * r;
    for (size_t q = from; q < P; q++) {
        const uint32_t *kr, *sr;
        token_rows(c, s, kv, score, q, &kr, &sr);
        size_t row = (q >= b * r && c->coff == 2) ? r + q % r : q % r;
        memcpy(&out->kv[row * cd], kr, cd * sizeof *kr);
        memcpy(&out->score[row * cd], sr, cd * sizeof *sr);
    }
    out->pos = (int32_t)P;
}
