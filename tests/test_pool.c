/* test_pool.c - opt/pool.c: every task runs exactly once for any thread
 * count, calls from inside a task run inline, and (Linux, 2+ CPUs) a worker
 * that finds itself on the caller's CPU moves off it before it works. */
#if defined(__linux__)
#define _GNU_SOURCE /* sched_getcpu, gettid, pthread_setaffinity_np */
#endif
#include "dsv4.h"
#include "internal.h"

#include <criterion/criterion.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

enum { MAX_TASKS = 4096 };

typedef struct count_job {
    atomic_int runs[MAX_TASKS];
    int nested; /* each task also runs a pool call of 3 tasks (inline) */
    atomic_int inner;
} count_job;

static void inner_task(void *ctx, size_t i) {
    (void)i;
    atomic_fetch_add(&((count_job *)ctx)->inner, 1);
}

static void count_task(void *ctx, size_t i) {
    count_job *j = ctx;
    atomic_fetch_add(&j->runs[i], 1);
    if (j->nested) dsv4_pool_run(3, inner_task, j);
}

Test(pool, every_task_runs_once_for_any_thread_count) {
    static const size_t counts[] = {0, 1, 2, 3, 17, 1000, MAX_TASKS};
    static count_job job;
    for (int threads = 1; threads <= 5; threads++) {
        cr_assert_eq(dsv4_threads_set(threads), DSV4_OK);
        for (size_t c = 0; c < sizeof counts / sizeof counts[0]; c++)
            for (int nested = 0; nested <= 1; nested++) {
                size_t n = counts[c];
                for (size_t i = 0; i < MAX_TASKS; i++) atomic_init(&job.runs[i], 0);
                job.nested = nested;
                atomic_init(&job.inner, 0);
                cr_assert_eq(dsv4_pool_run(n, count_task, &job), DSV4_OK);
                for (size_t i = 0; i < MAX_TASKS; i++)
                    cr_assert_eq(atomic_load(&job.runs[i]), i < n ? 1 : 0,
                                 "threads %d, %zu tasks: task %zu ran %d times", threads, n, i,
                                 atomic_load(&job.runs[i]));
                cr_assert_eq(atomic_load(&job.inner), nested ? (int)(3 * n) : 0);
            }
    }
    cr_assert_eq(dsv4_pool_run(2, NULL, &job), DSV4_E_NULL);
}

#if defined(__linux__)
/* Two tasks that each wait (yielding the CPU) until both have started, so
 * the worker must take one; each records its thread and CPU. */
typedef struct meet_job {
    atomic_int arrived;
    pid_t tid[2];
    int cpu[2];
} meet_job;

static double now_s(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void meet_task(void *ctx, size_t i) {
    meet_job *j = ctx;
    j->tid[i] = gettid();
    j->cpu[i] = sched_getcpu();
    atomic_fetch_add(&j->arrived, 1);
    double give_up = now_s() + 2.0;
    while (atomic_load(&j->arrived) < 2 && now_s() < give_up) sched_yield();
}

static void meet(meet_job *j) {
    atomic_init(&j->arrived, 0);
    j->tid[0] = j->tid[1] = 0;
    cr_assert_eq(dsv4_pool_run(2, meet_task, j), DSV4_OK);
    cr_assert_eq(atomic_load(&j->arrived), 2);
}

/* The worker is put on the caller's CPU (its mask narrowed to that CPU for
 * one job, then given back while it still spins there), then the caller
 * submits a job from that CPU: the worker must run its task elsewhere.
 * Without the step aside in opt/pool.c it stays on the caller's CPU (this
 * test then fails), until the kernel's balancer moves it milliseconds later. */
Test(pool, worker_leaves_the_callers_cpu) {
    cpu_set_t all, one;
    if (sched_getaffinity(0, sizeof all, &all) != 0 || CPU_COUNT(&all) < 2)
        cr_skip_test("needs two CPUs");
    int a = 0;
    while (!CPU_ISSET(a, &all)) a++;
    CPU_ZERO(&one);
    CPU_SET(a, &one);
    cr_assert_eq(dsv4_threads_set(2), DSV4_OK);
    cr_assert_eq(pthread_setaffinity_np(pthread_self(), sizeof one, &one), 0);
    pid_t self = gettid();
    meet_job j;
    for (int trial = 0; trial < 5; trial++) {
        meet(&j); /* starts the worker; find its thread */
        pid_t worker = j.tid[0] == self ? j.tid[1] : j.tid[0];
        cr_assert(worker != self && worker != 0);
        if (sched_setaffinity(worker, sizeof one, &one) != 0) cr_skip_test("cannot move threads");
        meet(&j); /* the worker works on CPU a and spins there afterwards */
        size_t w = j.tid[0] == worker ? 0 : 1;
        cr_assert_eq(j.cpu[w], a);
        cr_assert_eq(sched_setaffinity(worker, sizeof all, &all), 0);
        meet(&j);
        w = j.tid[0] == worker ? 0 : 1;
        cr_assert_eq(j.tid[w], worker);
        cr_assert_neq(j.cpu[w], a, "trial %d: the worker ran on the caller's CPU %d", trial, a);
    }
    cr_assert_eq(pthread_setaffinity_np(pthread_self(), sizeof all, &all), 0);
}
#endif
