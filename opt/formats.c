/* formats.c - the optimized number formats and block quantizers: argument
 * checks (the same as ref/, in the same order, so the same bad input gives
 * the same status), the kernel table of the active ISA, and the split of the
 * work into pool tasks.
 *
 * The split: array kernels get chunks of elements, tile kernels runs of
 * whole tiles taken in row-major tile order (a run may cross tile-rows;
 * each piece within one tile-row is one kernel call, and with one-row tiles
 * the whole run is).  The work is cut into the fewest pieces of at most
 * TASK_MAX elements that are a multiple of the thread count, spread evenly,
 * none below ARRAY_TASK / TILE_TASK elements (dsv4_task_units, opt.h: a
 * few large pieces per thread run faster than many small interleaved
 * ones).  Every element or tile is computed from its own elements only, so
 * the bits never depend on the split. */
#include "kernels.h"

enum { ARRAY_TASK = 1 << 16, TILE_TASK = 1 << 15, TASK_MAX = 1 << 20 };

/* Fake quant outputs above this many bytes go around the caches
 * (tile_run.stream): they cannot stay cached anyway, and a normal store
 * first reads each line it writes, a third memory stream beside the input
 * and the output (glibc's memcpy makes the same switch for large copies).
 * Quant's codes, a quarter or an eighth of the input, keep normal stores. */
enum { STREAM_BYTES = 4 << 20 };

static const dsv4_fmt_kernels *active_kernels(void) {
    return dsv4_kernels_for(dsv4_isa_active())->formats;
}

/* ---- arrays ------------------------------------------------------------------ */
typedef struct array_job {
    dsv4_encode_fn encode; /* one of the two is set */
    dsv4_decode_fn decode;
    const void *in;
    void *out;
    size_t n;
    size_t in_size, out_size; /* element sizes in bytes */
    size_t per_task;          /* elements per pool task */
} array_job;

static void array_task(void *ctx, size_t task) {
    const array_job *j = ctx;
    size_t lo = task * j->per_task;
    size_t len = j->n - lo < j->per_task ? j->n - lo : j->per_task;
    const char *in = (const char *)j->in + lo * j->in_size;
    char *out = (char *)j->out + lo * j->out_size;
    if (j->encode) j->encode((const float *)in, out, len);
    else j->decode(in, (float *)out, len);
}

static size_t code_size(dsv4_fmt f) { return f == DSV4_FMT_BF16 ? 2 : 1; }

static dsv4_status run_array(array_job *j) {
    j->per_task = j->n <= ARRAY_TASK ? j->n
                  : dsv4_task_units(j->n, (size_t)dsv4_threads_get(), 64, ARRAY_TASK, TASK_MAX);
    return dsv4_pool_run((j->n + j->per_task - 1) / j->per_task, array_task, j);
}

dsv4_status dsv4_opt_encode(dsv4_fmt f, size_t n, const float *x, void *codes) {
    if (dsv4_isa_status() != DSV4_OK) return DSV4_E_ISA;
    if ((unsigned)f >= DSV4_FMT_COUNT) return DSV4_E_ARG;
    if (n == 0) return DSV4_OK;
    if (!x || !codes) return DSV4_E_NULL;
    array_job j = {active_kernels()->encode[f], NULL, x, codes, n, sizeof(float), code_size(f), 0};
    return run_array(&j);
}

dsv4_status dsv4_opt_decode(dsv4_fmt f, size_t n, const void *codes, float *y) {
    if (dsv4_isa_status() != DSV4_OK) return DSV4_E_ISA;
    if ((unsigned)f >= DSV4_FMT_COUNT) return DSV4_E_ARG;
    if (n == 0) return DSV4_OK;
    if (!codes || !y) return DSV4_E_NULL;
    array_job j = {NULL, active_kernels()->decode[f], codes, y, n, code_size(f), sizeof(float), 0};
    return run_array(&j);
}

/* ---- tiles ---------------------------------------------------------------------- */
typedef enum tile_op { OP_QUANT, OP_DEQUANT, OP_FAKE_QUANT } tile_op;

typedef struct tile_job {
    tile_op op;
    const dsv4_fmt_kernels *k;
    dsv4_tile_run run;
    size_t tiles_c;        /* tiles per tile-row */
    size_t n_tiles;        /* all tiles */
    size_t tiles_per_task;
    const float *x;        /* [rows, cols] (quant, fake quant) */
    float *y;              /* [rows, cols] (dequant, fake quant) */
    const uint8_t *codes_in; /* [rows, code_ld] (dequant) */
    uint8_t *codes;        /* [rows, code_ld] (quant) */
    const uint8_t *scales_in;
    uint8_t *scales_out;   /* [tiles_r, tiles_c] */
} tile_job;

/* Kernel call for tiles [t, t + count) of one tile-row. */
static void tile_piece(const tile_job *j, size_t t, size_t count) {
    const dsv4_tile_run *r = &j->run;
    size_t tr = t / j->tiles_c, tc = t % j->tiles_c;
    size_t elem = tr * r->block_rows * r->ld + tc * r->block_cols;
    size_t code = tr * r->block_rows * r->code_ld + tc * (r->packed ? r->block_cols / 2 : r->block_cols);
    switch (j->op) {
    case OP_QUANT: j->k->quant(r, j->x + elem, j->codes + code, j->scales_out + t, count); break;
    case OP_DEQUANT: j->k->dequant(r, j->codes_in + code, j->scales_in + t, j->y + elem, count); break;
    case OP_FAKE_QUANT: j->k->fake_quant(r, j->x + elem, j->y + elem, count); break;
    }
}

static void tile_task(void *ctx, size_t task) {
    const tile_job *j = ctx;
    size_t t = task * j->tiles_per_task;
    size_t end = j->n_tiles - t < j->tiles_per_task ? j->n_tiles : t + j->tiles_per_task;
    while (t < end) {
        /* one-row tiles follow each other in memory across tile-rows too */
        size_t row_left = j->run.block_rows == 1 ? end - t : j->tiles_c - t % j->tiles_c;
        size_t count = end - t < row_left ? end - t : row_left;
        tile_piece(j, t, count);
        t += count;
    }
}

/* Checks shared by the three tile operations, as ref/quant.c makes them
 * (the NULL checks come after, per operation, in ref's order). */
static dsv4_status tile_setup(tile_job *j, tile_op op, const dsv4_quant_cfg *cfg,
                              size_t rows, size_t cols) {
    dsv4_quant_geom g;
    if (dsv4_isa_status() != DSV4_OK) return DSV4_E_ISA;
    dsv4_status st = dsv4_quant_check(cfg, rows, cols, &g);
    if (st != DSV4_OK) return st;
    *j = (tile_job){0};
    j->op = op;
    j->k = active_kernels();
    j->run = (dsv4_tile_run){&dsv4_opt_elem[cfg->fmt], cfg->rule, cfg->fmt == DSV4_FMT_E2M1,
                             cfg->block_rows, cfg->block_cols, cols, g.row_code_bytes, 0};
    j->tiles_c = g.tiles_c;
    j->n_tiles = g.scale_bytes;
    return DSV4_OK;
}

/* For a non-empty tensor (then a tile is no bigger than it: no overflow). */
static dsv4_status run_tiles(tile_job *j) {
    size_t tile_elems = j->run.block_rows * j->run.block_cols;
    size_t least = tile_elems >= TILE_TASK ? 1 : TILE_TASK / tile_elems;
    size_t most = tile_elems >= TASK_MAX ? 1 : TASK_MAX / tile_elems;
    j->tiles_per_task = j->n_tiles <= least ? j->n_tiles
                        : dsv4_task_units(j->n_tiles, (size_t)dsv4_threads_get(), 1, least, most);
    return dsv4_pool_run((j->n_tiles + j->tiles_per_task - 1) / j->tiles_per_task, tile_task, j);
}

dsv4_status dsv4_opt_quant(const dsv4_quant_cfg *cfg, size_t rows, size_t cols,
                           const float *x, uint8_t *codes, uint8_t *scales) {
    tile_job j;
    dsv4_status st = tile_setup(&j, OP_QUANT, cfg, rows, cols);
    if (st != DSV4_OK) return st;
    if (rows == 0 || cols == 0) return DSV4_OK;
    if (!x || !codes || !scales) return DSV4_E_NULL;
    j.x = x;
    j.codes = codes;
    j.scales_out = scales;
    return run_tiles(&j);
}

dsv4_status dsv4_opt_dequant(const dsv4_quant_cfg *cfg, size_t rows, size_t cols,
                             const uint8_t *codes, const uint8_t *scales, float *y) {
    tile_job j;
    dsv4_status st = tile_setup(&j, OP_DEQUANT, cfg, rows, cols);
    if (st != DSV4_OK) return st;
    if (rows == 0 || cols == 0) return DSV4_OK;
    if (!codes || !scales || !y) return DSV4_E_NULL;
    j.codes_in = codes;
    j.scales_in = scales;
    j.y = y;
    return run_tiles(&j);
}

dsv4_status dsv4_opt_fake_quant(const dsv4_quant_cfg *cfg, size_t rows, size_t cols,
                                const float *x, float *y) {
    tile_job j;
    dsv4_status st = tile_setup(&j, OP_FAKE_QUANT, cfg, rows, cols);
    if (st != DSV4_OK) return st;
    if (rows == 0 || cols == 0) return DSV4_OK;
    if (!x || !y) return DSV4_E_NULL;
    j.x = x;
    j.y = y;
    j.run.stream = rows > (size_t)STREAM_BYTES / sizeof(float) / cols; /* rows * cols * 4 > STREAM_BYTES */
    return run_tiles(&j);
}
