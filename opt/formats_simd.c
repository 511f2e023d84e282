/* formats_simd.c - the kernels of the number formats and block quantizers,
 * written once over the vector layer (vec.h) and compiled once per ISA by
 * formats_avx2.c and formats_avx512.c.  Lane for lane these are the
 * operations of formats_scalar.c; formats_kernels.h derives them.  No FMA:
 * every step rounds as the scalar code does.  Tails (arrays whose length is
 * not a multiple of VEC_W, tiles whose width is not) go through the layer's
 * partial loads and stores, which touch nothing past the data. */
#include "vec.h"

#include "formats_kernels.h"
#include "policy.h"

enum { W = VEC_W }; /* lanes */

/* The one-row tile groups prefetch their input this many floats (8 KiB)
 * ahead, one hint per 64-byte line: with the other core busy, the hardware
 * prefetcher alone leaves a single thread well short of the copy rate on
 * these streams. */
enum { PREFETCH_AHEAD = 2048, LINE_FLOATS = 16 };

/* The lines of x[n], PREFETCH_AHEAD floats on; the addresses are formed as
 * integers, since they may lie past the end of x. */
static inline void prefetch_ahead(const float *x, size_t n) {
    for (size_t i = 0; i < n; i += LINE_FLOATS)
        vec_prefetch((const void *)((uintptr_t)(x + i) + PREFETCH_AHEAD * sizeof(float)));
}

static inline size_t min_sz(size_t a, size_t b) { return a < b ? a : b; }

/* The constants of one element format, broadcast once per kernel call. */
typedef struct vfmt {
    vi max_bits, emin_exp, magic_off, magic_min, sign_bit;      /* encode */
    vi mag_mask, norm_mag, inf_mag, nan_mag_minus1, normal_bias; /* decode */
    vf sub_step;
    vcount to_steps, sign_shift, normal_shift;
    uint32_t nan_code;
} vfmt;

static inline vfmt vfmt_of(const dsv4_elem *e) {
    vfmt v;
    uint32_t mb = (uint32_t)e->mbits;
    v.max_bits = vi_set1(e->max_bits);
    v.emin_exp = vi_set1(e->emin_field << 23);
    v.magic_off = vi_set1((23u - mb) << 23);
    v.magic_min = vi_set1((e->emin_field + 23u - mb) << 23);
    v.sign_bit = vi_set1(1u << e->sign_shift);
    v.mag_mask = vi_set1(e->mag_mask);
    v.norm_mag = vi_set1(1u << mb);
    v.inf_mag = vi_set1(e->inf_mag);
    v.nan_mag_minus1 = vi_set1(e->nan_mag - 1u);
    v.normal_bias = vi_set1((e->emin_field - 1u) << 23);
    v.sub_step = vf_bits((e->emin_field - mb) << 23);
    v.to_steps = vcount_of(23u - mb);
    v.sign_shift = vcount_of(31u - e->sign_shift);
    v.normal_shift = vcount_of(23u - mb);
    v.nan_code = e->nan_code;
    return v;
}

/* ---- element math ------------------------------------------------------------ */
/* Integer compares below are signed: every operand is a code, a field or a
 * sign-cleared fp32 pattern, all below 2^31. */

static inline vi abs_bits(vi u) { return vi_and(u, vi_set1(0x7FFFFFFFu)); }
static inline vi sign_bits(vi u) { return vi_and(u, vi_set1(0x80000000u)); }
static inline vm is_nan(vi u) { return vi_gt(abs_bits(u), vi_set1(0x7F800000u)); }

/* The magic number of each lane (formats_kernels.h) for a = min(|q|, M). */
static inline vi magic_of(const vfmt *v, vi a) {
    vi binade = vi_max_u32(vi_and(a, vi_set1(0x7F800000u)), v->emin_exp);
    return vi_add(binade, v->magic_off);
}

/* Magnitude codes of sign-cleared, non-NaN bits. */
static inline vi code_of_abs(const vfmt *v, vi abs) {
    vi a = vi_min_u32(abs, v->max_bits); /* saturate */
    vi magic = magic_of(v, a);
    vf sum = vf_add(vi_as_vf(a), vi_as_vf(magic)); /* the one rounding */
    vi steps = vi_sub(vf_as_vi(sum), magic);
    vi base = vi_srl(vi_sub(magic, v->magic_min), v->to_steps);
    return vi_add(base, steps);
}

/* Rounded values (sign clear) of sign-cleared, non-NaN bits. */
static inline vf value_of_abs(const vfmt *v, vi abs) {
    vi a = vi_min_u32(abs, v->max_bits);
    vf magic = vi_as_vf(magic_of(v, a));
    return vf_sub(vf_add(vi_as_vf(a), magic), magic); /* the subtraction is exact */
}

/* Signed codes of fp32 bits u (not NaN): the sign bit moved down to the
 * code's sign position. */
static inline vi encode_finite(const vfmt *v, vi u) {
    return vi_or_sign(code_of_abs(v, abs_bits(u)), u, v->sign_shift, v->sign_bit);
}

/* Signed rounded values (decode(encode(q))) of fp32 bits u (not NaN). */
static inline vf round_finite(const vfmt *v, vi u) {
    return vi_as_vf(vi_or(vf_as_vi(value_of_abs(v, abs_bits(u))), sign_bits(u)));
}

/* fp32 values of codes c (one per lane). */
static inline vf decode_fp(const vfmt *v, vi c) {
    vi mag = vi_and(c, v->mag_mask);
    vi sign = vi_sll(vi_and(c, v->sign_bit), v->sign_shift);
    vi normal = vi_add(vi_sll(mag, v->normal_shift), v->normal_bias);
    vf sub = vf_mul(vi_to_vf(mag), v->sub_step); /* exact */
    vi r = vi_or(vi_where(vi_gt(v->norm_mag, mag), vf_as_vi(sub), normal), sign);
    r = vi_where(vi_eq(mag, v->inf_mag), vi_or(sign, vi_set1(0x7F800000u)), r);
    r = vi_where(vi_gt(mag, v->nan_mag_minus1), vi_set1(DSV4_POLICY_F32_NAN), r);
    return vi_as_vf(r);
}

/* ---- array kernels: whole vectors, then one partial vector ------------------------ */
static inline void encode_fp_vec(const vfmt *v, const float *x, uint8_t *codes, size_t m) {
    vi u = vf_as_vi(vf_load_n(x, m));
    vi code = vi_where(is_nan(u), vi_set1(v->nan_code), encode_finite(v, u));
    vi_store_u8_n(codes, code, m);
}

static void encode_fp(const dsv4_elem *e, const float *x, uint8_t *codes, size_t n) {
    vfmt v = vfmt_of(e);
    size_t i = 0;
    for (; i + W <= n; i += W) encode_fp_vec(&v, x + i, codes + i, W);
    if (i < n) encode_fp_vec(&v, x + i, codes + i, n - i);
}
static void enc_e4m3(const float *x, void *c, size_t n) {
    encode_fp(&dsv4_opt_elem[DSV4_FMT_E4M3], x, c, n);
}
static void enc_e5m2(const float *x, void *c, size_t n) {
    encode_fp(&dsv4_opt_elem[DSV4_FMT_E5M2], x, c, n);
}
static void enc_e2m1(const float *x, void *c, size_t n) {
    encode_fp(&dsv4_opt_elem[DSV4_FMT_E2M1], x, c, n);
}

static inline void enc_bf16_vec(const float *x, uint16_t *c, size_t m) {
    vi u = vf_as_vi(vf_load_n(x, m));
    vi r = vi_srli(vi_bf16_rne(u), 16);
    vi_store_u16_n(c, vi_where(is_nan(u), vi_set1(DSV4_POLICY_BF16_NAN), r), m);
}

static void enc_bf16(const float *x, void *codes, size_t n) {
    uint16_t *c = codes; /* [n] */
    size_t i = 0;
    for (; i + W <= n; i += W) enc_bf16_vec(x + i, c + i, W);
    if (i < n) enc_bf16_vec(x + i, c + i, n - i);
}

/* The selects of formats_scalar.c's ue8m0_encode, in its order. */
static inline void enc_ue8m0_vec(const float *x, uint8_t *c, size_t m) {
    vi u = vf_as_vi(vf_load_n(x, m));
    vi a = abs_bits(u);
    vi b = vi_srli(vi_sub(a, vi_set1(1)), 23);
    b = vi_min_u32(vi_add(b, vi_set1(1)), vi_set1(0xFE));
    b = vi_where(vi_gt(vi_set1(0x00400001u), a), vi_zero(), b); /* a <= 2^-127 */
    vm neg = vi_gt_u32(u, vi_set1(0x80000000u));                 /* sign set, nonzero */
    b = vi_where(vm_or(neg, is_nan(u)), vi_set1(DSV4_POLICY_UE8M0_NAN), b);
    vi_store_u8_n(c, b, m);
}

static void enc_ue8m0(const float *x, void *codes, size_t n) {
    uint8_t *c = codes; /* [n] */
    size_t i = 0;
    for (; i + W <= n; i += W) enc_ue8m0_vec(x + i, c + i, W);
    if (i < n) enc_ue8m0_vec(x + i, c + i, n - i);
}

static void decode_fp_array(const dsv4_elem *e, const uint8_t *codes, float *y, size_t n) {
    vfmt v = vfmt_of(e);
    size_t i = 0;
    for (; i + W <= n; i += W) vf_store(y + i, decode_fp(&v, vi_load_u8_n(codes + i, W)));
    if (i < n) vf_store_n(y + i, decode_fp(&v, vi_load_u8_n(codes + i, n - i)), n - i);
}
static void dec_e4m3(const void *c, float *y, size_t n) {
    decode_fp_array(&dsv4_opt_elem[DSV4_FMT_E4M3], c, y, n);
}
static void dec_e5m2(const void *c, float *y, size_t n) {
    decode_fp_array(&dsv4_opt_elem[DSV4_FMT_E5M2], c, y, n);
}
static void dec_e2m1(const void *c, float *y, size_t n) {
    decode_fp_array(&dsv4_opt_elem[DSV4_FMT_E2M1], c, y, n);
}

static void dec_bf16(const void *codes, float *y, size_t n) {
    const uint16_t *c = codes; /* [n] */
    size_t i = 0;
    for (; i + W <= n; i += W) vf_store(y + i, vf_load_bf16_n(c + i, W));
    if (i < n) vf_store_n(y + i, vf_load_bf16_n(c + i, n - i), n - i);
}

static inline vf dec_ue8m0_vec(const uint8_t *c, size_t m) {
    vi b = vi_load_u8_n(c, m);
    vi u = vi_where(vi_eq(b, vi_zero()), vi_set1(0x00400000u), vi_slli(b, 23));
    return vi_as_vf(vi_where(vi_eq(b, vi_set1(0xFF)), vi_set1(DSV4_POLICY_F32_NAN), u));
}

static void dec_ue8m0(const void *codes, float *y, size_t n) {
    const uint8_t *c = codes; /* [n] */
    size_t i = 0;
    for (; i + W <= n; i += W) vf_store(y + i, dec_ue8m0_vec(c + i, W));
    if (i < n) vf_store_n(y + i, dec_ue8m0_vec(c + i, n - i), n - i);
}

/* ---- tile kernels ------------------------------------------------------------ */

/* Max of |x| bit patterns over one tile x[block_rows, block_cols] (stride
 * ld), in every lane (the order of non-negative fp32 values is that of
 * their bits). */
static inline vi tile_amax(const dsv4_tile_run *t, const float *x) {
    vi m0 = vi_zero(), m1 = vi_zero();
    size_t bc = t->block_cols;
    for (size_t r = 0; r < t->block_rows; r++) {
        const float *row = x + r * t->ld;
        size_t c = 0;
        for (; c + 2 * W <= bc; c += 2 * W) { /* two chains for the common widths */
            m0 = vi_max_u32(m0, abs_bits(vf_as_vi(vf_load(row + c))));
            m1 = vi_max_u32(m1, abs_bits(vf_as_vi(vf_load(row + c + W))));
        }
        for (; c < bc; c += W) /* up to two vectors left, the last maybe partial */
            m0 = vi_max_u32(m0, abs_bits(vf_as_vi(vf_load_n(row + c, min_sz(W, bc - c)))));
    }
    return vi_max_all(vi_max_u32(m0, m1));
}

/* A NaN or Inf in the tile (policy P6): amax at or above the Inf pattern. */
static inline vm invalid_lanes(vi amax) { return vi_gt(amax, vi_set1(0x7F7FFFFFu)); }

/* The scale of a valid tile, lane by lane (dsv4_opt_tile_scale in vector
 * registers: no round trip through a general register on the way from amax
 * to the element loop). */
typedef struct vrule {
    vi floor_bits, frac_limit, emax;
} vrule;

static inline vrule vrule_of(const dsv4_tile_run *t) {
    vrule r;
    r.floor_bits = vi_set1(t->e->floor_bits);
    /* rceil: one binade up when the fraction of amax' exceeds M's; floor:
     * never (no 23-bit fraction exceeds 0x7FFFFF) */
    r.frac_limit = vi_set1(t->rule == DSV4_SCALE_RCEIL ? t->e->max_frac : 0x7FFFFFu);
    r.emax = vi_set1((uint32_t)t->e->emax);
    return r;
}

typedef struct vscale {
    vi byte;      /* k + 127 */
    vf inv, scale; /* 2^-k, 2^k */
} vscale;

/* fp32 2^(e - 127) from a field e in [0, 254]: e << 23, or the subnormal
 * 2^-127 for 0. */
static inline vf pow2_of_field(vi e) {
    return vi_as_vf(vi_where(vi_eq(e, vi_zero()), vi_set1(0x00400000u), vi_slli(e, 23)));
}

static inline vscale tile_scale(const vrule *r, vi amax) {
    vscale s;
    vi a = vi_max_u32(amax, r->floor_bits);                  /* amax' */
    vi byte = vi_sub(vi_srli(a, 23), r->emax);               /* floor(log2) - emax + 127 */
    vm up = vi_gt(vi_and(a, vi_set1(0x7FFFFFu)), r->frac_limit);
    byte = vi_where(up, vi_add(byte, vi_set1(1)), byte);
    byte = vi_min_i32(vi_max_i32(byte, vi_zero()), vi_set1(254)); /* k in [-127, 127] */
    s.byte = byte;
    s.scale = pow2_of_field(byte);
    s.inv = pow2_of_field(vi_sub(vi_set1(254), byte));
    return s;
}

/* ---- one-row tiles, VEC_W at a time --------------------------------------------
 * When a tile is one row of whole vectors (block_rows = 1, block_cols a
 * multiple of VEC_W: the V4 activation tiles 1x32, 1x64, 1x128), VEC_W tiles
 * are reduced together: their partial-max vectors are transposed into one
 * vector of VEC_W amax values, so the horizontal reduction, the scale
 * arithmetic and the scale-byte store are paid once per VEC_W tiles. */

/* amax of VEC_W consecutive one-row tiles x[VEC_W * bc], lane j for tile j. */
VEC_INLINE vi group_amax(const float *x, size_t bc) {
    vi m[W];
    for (int j = 0; j < W; j++) {
        const float *tile = x + (size_t)j * bc;
        prefetch_ahead(tile, bc);
        vi acc = abs_bits(vf_as_vi(vf_load(tile)));
        for (size_t c = W; c < bc; c += W)
            acc = vi_max_u32(acc, abs_bits(vf_as_vi(vf_load(tile + c))));
        m[j] = acc;
    }
    return vi_max_each(m);
}

/* Codes of one row of a valid tile from column c, m lanes. */
static inline void quant_chunk(const vfmt *v, int packed, const float *x, uint8_t *crow,
                               size_t c, size_t m, vf inv) {
    vf q = vf_mul(vf_load_n(x + c, m), inv); /* exact x / 2^k */
    vi code = encode_finite(v, vf_as_vi(q));
    if (packed) vi_store_nib_n(crow + c / 2, code, m);
    else vi_store_u8_n(crow + c, code, m);
}

/* VEC_W one-row tiles x[VEC_W * bc] -> codes, scales[VEC_W]. */
static void quant_group(const vfmt *v, const vrule *rule, const dsv4_tile_run *t,
                        const float *x, uint8_t *codes, uint8_t *scales) {
    size_t bc = t->block_cols, code_step = t->packed ? bc / 2 : bc;
    vi amax = group_amax(x, bc);
    vm bad = invalid_lanes(amax);
    vscale s = tile_scale(rule, amax);
    vi_store_u8_n(scales, vi_where(bad, vi_set1(DSV4_POLICY_INVALID_SCALE), s.byte), W);
    for (int j = 0; j < W; j++) {
        vf inv = vf_lane(s.inv, j);
        for (size_t c = 0; c < bc; c += W)
            quant_chunk(v, t->packed, x + (size_t)j * bc, codes + (size_t)j * code_step, c, W, inv);
    }
    unsigned bad_bits = vm_bits(bad);
    for (int j = 0; j < W; j++) /* rare: redo invalid tiles */
        if (bad_bits >> j & 1) dsv4_opt_invalid_codes(t, codes + (size_t)j * code_step);
}

static void quant_tiles(const dsv4_tile_run *t, const float *x, uint8_t *codes,
                        uint8_t *scales, size_t n_tiles) {
    vfmt v = vfmt_of(t->e);
    vrule rule = vrule_of(t);
    size_t bc = t->block_cols, code_step = t->packed ? bc / 2 : bc;
    size_t i = 0;
    if (t->block_rows == 1 && bc % W == 0)
        for (; i + W <= n_tiles; i += W)
            quant_group(&v, &rule, t, x + i * bc, codes + i * code_step, scales + i);
    for (; i < n_tiles; i++) {
        const float *xt = x + i * bc;
        uint8_t *ct = codes + i * code_step;
        vi amax = tile_amax(t, xt);
        if (vm_any(invalid_lanes(amax))) {
            scales[i] = DSV4_POLICY_INVALID_SCALE;
            dsv4_opt_invalid_codes(t, ct);
            continue;
        }
        vscale s = tile_scale(&rule, amax);
        scales[i] = (uint8_t)vi_lane0(s.byte);
        for (size_t r = 0; r < t->block_rows; r++) {
            const float *row = xt + r * t->ld;
            uint8_t *crow = ct + r * t->code_ld;
            size_t c = 0;
            for (; c + W <= bc; c += W) quant_chunk(&v, t->packed, row, crow, c, W, s.inv);
            if (c < bc) quant_chunk(&v, t->packed, row, crow, c, bc - c, s.inv);
        }
    }
}

/* dequant(quant(x)) of x in a valid tile (2^-k in inv, 2^k in scale). */
static inline vf fake_value(const vfmt *v, vf x, vf inv, vf scale) {
    vf value = round_finite(v, vf_as_vi(vf_mul(x, inv)));
    return vf_mul(value, scale); /* exact */
}

/* The same for one row of a valid tile, m lanes. */
static inline void fake_chunk(const vfmt *v, const float *x, float *y, size_t m,
                              const vscale *s) {
    vf_store_n(y, fake_value(v, vf_load_n(x, m), s->inv, s->scale), m);
}

/* ---- float output of the one-row tile groups ---------------------------------
 * The groups write y front to back, one result vector after the other.  A
 * small output goes straight to y (it may stay cached for its reader).  A
 * large one (tile_run.stream) goes around the caches where the layer streams
 * whole lines (VEC_STREAM: one vector is one 64-byte line; AVX2's half-line
 * vectors store normally).  Non-temporal stores need aligned lines, so the
 * writer shifts the stream onto line boundaries (lanes `head` .. VEC_W-1 of
 * one result and 0 .. head-1 of the next form one aligned store); the part
 * line before y's first boundary and the rest after the last result go
 * through partial normal stores, and nothing outside y[0 .. VEC_W * puts) is
 * touched. */
typedef struct line_writer {
    float *next; /* y of the next result vector */
#if VEC_STREAM
    vjoin join;  /* a line = lanes head.. of prev, then ..head-1 of the result */
    vf prev;     /* the last result vector */
    size_t head; /* floats before y's first line boundary, 0 .. VEC_W-1 */
    size_t puts; /* result vectors so far */
    int stream;
#endif
} line_writer;

static inline line_writer writer_start(float *y, int stream) {
    line_writer w;
    w.next = y;
#if VEC_STREAM
    w.head = (W - (uintptr_t)y / sizeof(float) % W) % W; /* float * is 4-byte aligned */
    w.join = vjoin_make(w.head);
    w.prev = vf_zero();
    w.puts = 0;
    w.stream = stream;
#else
    (void)stream;
#endif
    return w;
}

static inline void writer_put(line_writer *w, vf v) {
#if VEC_STREAM
    if (w->stream) {
        if (w->puts == 0) vf_store_n(w->next, v, w->head);
        else vf_stream(w->next - W + w->head, vf_join(w->join, w->prev, v)); /* aligned */
        w->prev = v;
        w->puts++;
        w->next += W;
        return;
    }
#endif
    vf_store(w->next, v);
    w->next += W;
}

/* The rest of the last result; then the non-temporal stores are ordered
 * before whatever the caller does next (another thread may read y). */
static inline void writer_finish(line_writer *w) {
#if VEC_STREAM
    if (!w->stream) return;
    if (w->puts > 0) vf_store_where(w->next - W, vm_not(vm_first(w->head)), w->prev);
    _mm_sfence();
#else
    (void)w;
#endif
}

/* VEC_W one-row tiles x[VEC_W * bc] -> the writer (y may be x: every element
 * is read before the writer stores over it). */
static void fake_quant_group(const vfmt *v, const vrule *rule, const dsv4_tile_run *t,
                             const float *x, line_writer *w) {
    size_t bc = t->block_cols;
    vi amax = group_amax(x, bc);
    unsigned bad = vm_bits(invalid_lanes(amax));
    vscale all = tile_scale(rule, amax);
    for (int j = 0; j < W; j++) {
        const float *tile = x + (size_t)j * bc;
        vf inv = vf_lane(all.inv, j), scale = vf_lane(all.scale, j);
        if (bad >> j & 1) /* rare: an invalid tile is all NaN */
            for (size_t c = 0; c < bc; c += W) writer_put(w, vf_bits(DSV4_POLICY_F32_NAN));
        else
            for (size_t c = 0; c < bc; c += W)
                writer_put(w, fake_value(v, vf_load(tile + c), inv, scale));
    }
}

static void fake_quant_tiles(const dsv4_tile_run *t, const float *x, float *y,
                             size_t n_tiles) {
    vfmt v = vfmt_of(t->e);
    vrule rule = vrule_of(t);
    size_t bc = t->block_cols;
    size_t i = 0;
    if (t->block_rows == 1 && bc % W == 0 && n_tiles >= W) {
        line_writer w = writer_start(y, t->stream);
        for (; i + W <= n_tiles; i += W) fake_quant_group(&v, &rule, t, x + i * bc, &w);
        writer_finish(&w);
    }
    for (; i < n_tiles; i++) {
        const float *xt = x + i * bc;
        float *yt = y + i * bc;
        vi amax = tile_amax(t, xt);
        if (vm_any(invalid_lanes(amax))) {
            dsv4_opt_invalid_values(t, yt);
            continue;
        }
        vscale s = tile_scale(&rule, amax);
        for (size_t r = 0; r < t->block_rows; r++) {
            const float *row = xt + r * t->ld;
            float *yrow = yt + r * t->ld;
            size_t c = 0;
            for (; c + W <= bc; c += W) fake_chunk(&v, row + c, yrow + c, W, &s);
            if (c < bc) fake_chunk(&v, row + c, yrow + c, bc - c, &s);
        }
    }
}

static inline void dequant_chunk(const vfmt *v, int packed, const uint8_t *crow, float *y,
                                 size_t c, size_t m, vf scale) {
    vi code = packed ? vi_load_nib_n(crow + c / 2, m) : vi_load_u8_n(crow + c, m);
    vf_store_n(y + c, vf_mul(decode_fp(v, code), scale), m);
}

static void dequant_tiles(const dsv4_tile_run *t, const uint8_t *codes,
                          const uint8_t *scales, float *y, size_t n_tiles) {
    vfmt v = vfmt_of(t->e);
    size_t bc = t->block_cols, code_step = t->packed ? bc / 2 : bc;
    for (size_t i = 0; i < n_tiles; i++) {
        vf vs = vf_bits(dsv4_opt_ue8m0_bits(scales[i]));
        const uint8_t *ct = codes + i * code_step;
        float *yt = y + i * bc;
        for (size_t r = 0; r < t->block_rows; r++) {
            const uint8_t *crow = ct + r * t->code_ld;
            float *yrow = yt + r * t->ld;
            size_t c = 0;
            for (; c + W <= bc; c += W) dequant_chunk(&v, t->packed, crow, yrow, c, W, vs);
            if (c < bc) dequant_chunk(&v, t->packed, crow, yrow, c, bc - c, vs);
        }
    }
}

const dsv4_fmt_kernels VEC_NAME(dsv4_fmt_kernels) = {
    .encode = {enc_bf16, enc_e4m3, enc_e5m2, enc_e2m1, enc_ue8m0},
    .decode = {dec_bf16, dec_e4m3, dec_e5m2, dec_e2m1, dec_ue8m0},
    .quant = quant_tiles,
    .dequant = dequant_tiles,
    .fake_quant = fake_quant_tiles,
};
