/* adamw.c - the optimized AdamW step: the ISA kernel over chunks of the
 * arrays spread over the pool, the fewest of at most CHUNK_MAX elements that
 * are a multiple of the thread count, none below CHUNK elements
 * (dsv4_task_units, opt.h: a few large pieces per thread, not many small
 * interleaved ones).  Element-wise, so bit-exact with ref and independent
 * of the thread count and the split. */
#include "kernels.h"

enum { CHUNK = 16384, CHUNK_MAX = 1 << 20 };

typedef struct adamw_job {
    dsv4_adamw_scalars s;
    dsv4_adamw_fn kernel;
    float *p, *m, *v;
    const float *g;
    size_t n;
    size_t per_task; /* elements per pool task */
} adamw_job;

static void adamw_task(void *ctx, size_t task) {
    adamw_job *j = ctx;
    size_t lo = task * j->per_task, len = j->n - lo < j->per_task ? j->n - lo : j->per_task;
    j->kernel(&j->s, j->p + lo, j->m + lo, j->v + lo, j->g + lo, len);
}

/* The portable kernel is ref's own loop: the same operations in the same
 * order are all the SIMD kernels do, lane by lane. */
const dsv4_adamw_kernels dsv4_adamw_kernels_scalar = {dsv4_adamw_range};

dsv4_status dsv4_opt_adamw_step(const dsv4_adamw_cfg *cfg, long step, size_t n, const float *g,
                                float *p, float *m, float *v) {
    if (dsv4_isa_status() != DSV4_OK) return DSV4_E_ISA;
    dsv4_status st = dsv4_adamw_check(cfg, step, n, g, p, m, v);
    if (st != DSV4_OK || n == 0) return st;
    size_t per = n <= CHUNK ? n : dsv4_task_units(n, (size_t)dsv4_threads_get(), 64, CHUNK, CHUNK_MAX);
    dsv4_adamw_fn kernel = dsv4_kernels_for(dsv4_isa_active())->adamw->step;
    adamw_job job = {dsv4_adamw_scalars_of(cfg, step), kernel, p, m, v, g, n, per};
    return dsv4_pool_run((n + per - 1) / per, adamw_task, &job);
}
