/* quant.c - the block quantizers of spec/formats.md ("Block quantizers"):
 * DeepSeek-V4's FP4 (E2M1, 1x32) and FP8 (E4M3, 1x128 / 1x64 / 128x128) with
 * one UE8M0 power-of-two scale per tile, and the OCP MX floor rule beside it.
 *
 * A tensor x[rows, cols] is cut into tiles of block_rows x block_cols.  Per
 * tile, in this order (the stage names of the spec):
 *   Q1 tile_amax        amax = max |x|, and whether the tile is valid
 *   Q2 scale_exponent   k from amax' = max(amax, floor) and the scale rule
 *   Q3 encode_elements  code = encode(x / 2^k), saturating, ties to even
 *   Q4 store            scale byte k + 127; codes (E2M1 packed in nibbles)
 * Dequantization is y = decode(code) * 2^(byte - 127), one fp32 multiply. */
#include "internal.h"
#include "policy.h"

/* Per element format: the largest finite value M, its exponent emax (OCP:
 * floor(log2 M)), and the amax floor (policy P7). */
typedef struct elem_info {
    double max_value;   /* M */
    int emax;           /* floor(log2 M) */
    int log2_ceil_max;  /* ceil(log2 M) */
    uint32_t floor_bits;
} elem_info;

static int elem_info_of(dsv4_fmt fmt, elem_info *out) {
    static const elem_info e2m1 = {6.0, 2, 3, DSV4_POLICY_AMAX_FLOOR_FP4_BITS};
    static const elem_info e4m3 = {448.0, 8, 9, DSV4_POLICY_AMAX_FLOOR_FP8_BITS};
    static const elem_info e5m2 = {57344.0, 15, 16, DSV4_POLICY_AMAX_FLOOR_FP8_BITS};
    switch (fmt) {
    case DSV4_FMT_E2M1: *out = e2m1; return 1;
    case DSV4_FMT_E4M3: *out = e4m3; return 1;
    case DSV4_FMT_E5M2: *out = e5m2; return 1;
    default: return 0;
    }
}

dsv4_status dsv4_quant_check(const dsv4_quant_cfg *cfg, size_t rows, size_t cols,
                             dsv4_quant_geom *g) {
    elem_info info;
    size_t numel;
    if (!cfg) return DSV4_E_NULL;
    if (!elem_info_of(cfg->fmt, &info)) return DSV4_E_ARG;
    if ((unsigned)cfg->rule >= DSV4_SCALE_COUNT) return DSV4_E_ARG;
    if (cfg->block_rows == 0 || cfg->block_cols == 0) return DSV4_E_ARG;
    if (cfg->fmt == DSV4_FMT_E2M1 && cfg->block_cols % 2 != 0) return DSV4_E_ARG;
    if (!dsv4_mul_ok(rows, cols, &numel)) return DSV4_E_OVERFLOW;
    if (rows % cfg->block_rows != 0 || cols % cfg->block_cols != 0) return DSV4_E_ALIGN;
    if (g) {
        g->tiles_r = rows / cfg->block_rows;
        g->tiles_c = cols / cfg->block_cols;
        g->scale_bytes = g->tiles_r * g->tiles_c;
        g->row_code_bytes = cfg->fmt == DSV4_FMT_E2M1 ? cols / 2 : cols;
        g->code_bytes = cfg->fmt == DSV4_FMT_E2M1 ? numel / 2 : numel;
    }
    return DSV4_OK;
}

dsv4_status dsv4_quant_sizes(const dsv4_quant_cfg *cfg, size_t rows, size_t cols,
                             size_t *code_bytes, size_t *scale_bytes) {
    dsv4_quant_geom g;
    dsv4_status st = dsv4_quant_check(cfg, rows, cols, &g);
    if (st != DSV4_OK) return st;
    if (code_bytes) *code_bytes = g.code_bytes;
    if (scale_bytes) *scale_bytes = g.scale_bytes;
    return DSV4_OK;
}

static int is_finite_bits(uint32_t u) { return (u & 0x7F800000u) != 0x7F800000u; }

/* Where a tile sits in x[rows, cols]. */
typedef struct tile {
    size_t r0, c0;    /* top-left element */
    size_t nr, nc;    /* block_rows, block_cols */
    size_t cols;      /* row stride of x */
} tile;

/* Q1: amax = max |x| over the tile (exact: |x| and max are exact).  Returns
 * 0 when the tile holds a NaN or an Inf (policy P6). */
static int tile_amax(const float *x, const tile *t, float *amax) {
    float m = 0.0f;
    for (size_t r = t->r0; r < t->r0 + t->nr; r++)
        for (size_t c = t->c0; c < t->c0 + t->nc; c++) {
            uint32_t u = dsv4_f32_bits(x[r * t->cols + c]) & 0x7FFFFFFFu;
            if (!is_finite_bits(u)) return 0;
            float a = dsv4_f32_from_bits(u);
            if (a > m) m = a;
        }
    *amax = m;
    return 1;
}

/* Q2: the scale exponent k, with amax' = max(amax, floor)         (eq. Q2a)
 *   rceil (DeepSeek-V4):  k = ceil(log2(amax' / M))               (eq. Q2b)
 *                           = the smallest k with M * 2^k >= amax'
 *   floor (OCP MX):       k = floor(log2 amax') - emax            (eq. Q2c)
 * amax' is a normal fp32 number (the floors are), so its exponent field gives
 * floor(log2) and ceil(log2) exactly.  For rceil, with a = ceil(log2 amax')
 * and m = ceil(log2 M) (M is not a power of two), the answer is a - m or
 * a - m + 1; one exact comparison in double decides. */
static int scale_exponent(float amax, dsv4_fmt fmt, dsv4_scale_rule rule) {
    elem_info info = {0};
    elem_info_of(fmt, &info);
    float floor_v = dsv4_f32_from_bits(info.floor_bits);
    float a_prime = amax > floor_v ? amax : floor_v;
    uint32_t u = dsv4_f32_bits(a_prime);
    int exp_floor = (int)(u >> 23) - 127;             /* floor(log2 amax') */
    int k;
    if (rule == DSV4_SCALE_FLOOR) {
        k = exp_floor - info.emax;
    } else {
        int a = exp_floor + ((u & 0x7FFFFFu) != 0);   /* ceil(log2 amax') */
        k = a - info.log2_ceil_max;
        if (info.max_value * dsv4_pow2d(k) < (double)a_prime) k++;
    }
    if (k < -127) k = -127;
    if (k > 127) k = 127;
    return k;
}

/* Q3: one element's code, saturating (spec/formats.md F3 + P3). */
static uint8_t encode_element(float q, dsv4_fmt fmt) {
    switch (fmt) {
    case DSV4_FMT_E2M1: return dsv4_e2m1_encode(q);
    case DSV4_FMT_E4M3: return dsv4_e4m3_encode(q);
    default: return dsv4_e5m2_encode(q);
    }
}

static float decode_element(uint8_t code, dsv4_fmt fmt) {
    switch (fmt) {
    case DSV4_FMT_E2M1: return dsv4_e2m1_decode(code);
    case DSV4_FMT_E4M3: return dsv4_e4m3_decode(code);
    default: return dsv4_e5m2_decode(code);
    }
}

/* Q4: codes[] layout. E2M1: [rows, cols/2], element (r, c) in byte
 * r*cols/2 + c/2, low nibble for even c.  FP8: [rows, cols]. */
static void put_code(uint8_t *codes, dsv4_fmt fmt, size_t cols, size_t r, size_t c,
                     uint8_t code) {
    if (fmt != DSV4_FMT_E2M1) {
        codes[r * cols + c] = code;
        return;
    }
    uint8_t *byte = &codes[r * (cols / 2) + c / 2];
    if (c % 2 == 0) *byte = (uint8_t)((*byte & 0xF0u) | code);
    else *byte = (uint8_t)((*byte & 0x0Fu) | (code << 4));
}

static uint8_t get_code(const uint8_t *codes, dsv4_fmt fmt, size_t cols, size_t r, size_t c) {
    if (fmt != DSV4_FMT_E2M1) return codes[r * cols + c];
    uint8_t byte = codes[r * (cols / 2) + c / 2];
    return (uint8_t)(c % 2 == 0 ? byte & 0x0Fu : byte >> 4);
}

/* Q1-Q3 for one tile: its scale byte, and codes written through put. */
static uint8_t quant_tile(const dsv4_quant_cfg *cfg, const float *x, const tile *t,
                          uint8_t *codes) {
    float amax;
    if (!tile_amax(x, t, &amax)) {
        for (size_t r = t->r0; r < t->r0 + t->nr; r++)
            for (size_t c = t->c0; c < t->c0 + t->nc; c++)
                put_code(codes, cfg->fmt, t->cols, r, c, DSV4_POLICY_INVALID_CODE);
        return DSV4_POLICY_INVALID_SCALE;
    }
    int k = scale_exponent(amax, cfg->fmt, cfg->rule);
    float s = dsv4_pow2f(k);                                 /* s = 2^k */
    for (size_t r = t->r0; r < t->r0 + t->nr; r++)
        for (size_t c = t->c0; c < t->c0 + t->nc; c++) {
            float q = x[r * t->cols + c] / s;                /* eq. Q3: exact unless subnormal */
            put_code(codes, cfg->fmt, t->cols, r, c, encode_element(q, cfg->fmt));
        }
    return (uint8_t)(k + 127);
}

static tile tile_at(const dsv4_quant_cfg *cfg, size_t cols, size_t tr, size_t tc) {
    tile t = {tr * cfg->block_rows, tc * cfg->block_cols, cfg->block_rows, cfg->block_cols,
              cols};
    return t;
}

dsv4_status dsv4_ref_quant(const dsv4_quant_cfg *cfg, size_t rows, size_t cols,
                           const float *x, uint8_t *codes, uint8_t *scales) {
    dsv4_quant_geom g;
    dsv4_status st = dsv4_quant_check(cfg, rows, cols, &g);
    if (st != DSV4_OK) return st;
    if (rows == 0 || cols == 0) return DSV4_OK;
    if (!x || !codes || !scales) return DSV4_E_NULL;
    for (size_t tr = 0; tr < g.tiles_r; tr++)          /* scales: [tiles_r, tiles_c] */
        for (size_t tc = 0; tc < g.tiles_c; tc++) {
            tile t = tile_at(cfg, cols, tr, tc);
            scales[tr * g.tiles_c + tc] = quant_tile(cfg, x, &t, codes);
        }
    return DSV4_OK;
}

/* eq. D1: y = decode(code) * 2^(byte - 127), one fp32 multiply. */
dsv4_status dsv4_ref_dequant(const dsv4_quant_cfg *cfg, size_t rows, size_t cols,
                             const uint8_t *codes, const uint8_t *scales, float *y) {
    dsv4_quant_geom g;
    dsv4_status st = dsv4_quant_check(cfg, rows, cols, &g);
    if (st != DSV4_OK) return st;
    if (rows == 0 || cols == 0) return DSV4_OK;
    if (!codes || !scales || !y) return DSV4_E_NULL;
    for (size_t r = 0; r < rows; r++)
        for (size_t c = 0; c < cols; c++) {
            size_t tile_index = (r / cfg->block_rows) * g.tiles_c + c / cfg->block_cols;
            float s = dsv4_ue8m0_decode(scales[tile_index]);
            float v = decode_element(get_code(codes, cfg->fmt, cols, r, c), cfg->fmt);
            y[r * cols + c] = v * s;
        }
    return DSV4_OK;
}

/* y = dequant(quant(x)), tile by tile; y may be x (each tile's amax is taken
 * before any of its elements is overwritten). */
dsv4_status dsv4_ref_fake_quant(const dsv4_quant_cfg *cfg, size_t rows, size_t cols,
                                const float *x, float *y) {
    dsv4_quant_geom g;
    dsv4_status st = dsv4_quant_check(cfg, rows, cols, &g);
    if (st != DSV4_OK) return st;
    if (rows == 0 || cols == 0) return DSV4_OK;
    if (!x || !y) return DSV4_E_NULL;
    for (size_t tr = 0; tr < g.tiles_r; tr++)
        for (size_t tc = 0; tc < g.tiles_c; tc++) {
            tile t = tile_at(cfg, cols, tr, tc);
            float amax;
            if (!tile_amax(x, &t, &amax)) {
                float nan = dsv4_ue8m0_decode(DSV4_POLICY_INVALID_SCALE);
                for (size_t r = t.r0; r < t.r0 + t.nr; r++)
                    for (size_t c = t.c0; c < t.c0 + t.nc; c++) y[r * cols + c] = nan;
                continue;
            }
            int k = scale_exponent(amax, cfg->fmt, cfg->rule);
            float s = dsv4_pow2f(k);
            for (size_t r = t.r0; r < t.r0 + t.nr; r++)
                for (size_t c = t.c0; c < t.c0 + t.nc; c++) {
                    float q = x[r * cols + c] / s;
                    y[r * cols + c] = decode_element(encode_element(q, cfg->fmt), cfg->fmt) * s;
                }
        }
    return DSV4_OK;
}
