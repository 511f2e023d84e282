/* pool.c - a small persistent pthread pool for opt/.
 *
 * dsv4_pool_run(n, fn, ctx) runs fn(ctx, i) for i in [0, n).  Threads claim
 * task indices from a shared counter; which thread runs a task never changes
 * what the task computes, so results are independent of the thread count.
 * The calling thread works too.  One job runs at a time (a mutex serialises
 * callers); a call made from inside a task runs inline.
 *
 * Waiting: a thread that sleeps on a condition variable can take tens of
 * microseconds to wake, which is the whole run time of many calls.  So a
 * worker that finished a job first spins for up to SPIN_NS on the job
 * counter before it sleeps, and the caller spins the same way before it
 * sleeps waiting for the workers; back-to-back calls then never wait for a
 * wake-up.  Spinning only pays when every thread has a CPU: with more
 * threads than online CPUs a spinning thread takes the CPU that the one it
 * waits for needs, so then nobody spins; and a spinning thread yields its
 * CPU every 256 rounds in case other processes want it.
 *
 * Placement (Linux): the scheduler sometimes puts a worker on the CPU the
 * caller is running on, even with another CPU idle, and leaves it there for
 * tens of milliseconds.  The worker then cannot run until the caller stops
 * computing, so the caller does every task itself and the call takes as
 * long as on one thread.  So a worker that finds itself on the caller's CPU
 * when it joins a job steps aside: it narrows its CPU mask to the others
 * for a moment, so the kernel moves it at once, then puts its mask back as
 * it was.  A mask is never widened, the caller is never moved, and nothing
 * happens when the threads outnumber the CPUs (they must share then).
 *
 * Thread count: dsv4_threads_set(), else DSV4_THREADS, else the number of
 * online CPUs, capped at DSV4_MAX_THREADS. */
#if defined(__linux__)
#define _GNU_SOURCE /* sched_getcpu, sched_{get,set}affinity */
#endif
#include "opt.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#define DSV4_MAX_THREADS 256

enum { SPIN_NS = 1000000 }; /* how long a waiting thread spins before it sleeps */

static pthread_mutex_t submit_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wake = PTHREAD_COND_INITIALIZER;
static pthread_cond_t done = PTHREAD_COND_INITIALIZER;

static int n_threads;        /* configured, including the caller; 0 = unset */
static int n_workers;        /* started helper threads */
static pthread_t workers[DSV4_MAX_THREADS];
static atomic_ulong generation; /* +1 per job; stored (release) with `lock` held */
static atomic_int busy_workers; /* workers of the current job still in it */
static atomic_int active_workers; /* workers taking part in the current job */
static atomic_int spin_ok;        /* the current thread count fits the online CPUs */
static atomic_int job_cpu;        /* the CPU the caller ran on when it published the job */

static dsv4_task_fn job_fn;
static void *job_ctx;
static size_t job_n;
static atomic_size_t next_task;

static _Thread_local int in_task;

static int online_cpus(void) {
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    if (n < 1) n = 1;
    if (n > DSV4_MAX_THREADS) n = DSV4_MAX_THREADS;
    return (int)n;
}

static int default_threads(void) {
    const char *env = getenv("DSV4_THREADS");
    if (env && *env) {
        char *end;
        long v = strtol(env, &end, 10);
        if (*end == '\0' && v >= 1 && v <= DSV4_MAX_THREADS) return (int)v;
    }
    return online_cpus();
}

static void drain(void) {
    in_task = 1;
    for (;;) {
        size_t i = atomic_fetch_add(&next_task, 1);
        if (i >= job_n) break;
        job_fn(job_ctx, i);
    }
    in_task = 0;
}

static void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

static int64_t now_ns(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Spin until ready(arg) or SPIN_NS have passed (at once when spinning is
 * off); returns ready(arg). */
static int spin_until(int (*ready)(const void *), const void *arg) {
    if (!atomic_load_explicit(&spin_ok, memory_order_relaxed)) return ready(arg);
    int64_t start = now_ns();
    for (unsigned i = 1;; i++) {
        if (ready(arg)) return 1;
        cpu_relax();
        if (i % 256 == 0) {
            if (now_ns() - start > SPIN_NS) return ready(arg);
            sched_yield();
        }
    }
}

/* The CPU this thread runs on, or -1 where that cannot be known. */
static int current_cpu(void) {
#if defined(__linux__)
    return sched_getcpu();
#else
    return -1;
#endif
}

/* Move the calling worker off `cpu` (see "Placement" above): narrow its
 * mask to the other CPUs it may use, which makes the kernel migrate it
 * now, then restore the mask.  Does nothing if `cpu` is its only CPU or a
 * call fails. */
static void step_aside(int cpu) {
#if defined(__linux__)
    cpu_set_t mine, others;
    if (cpu < 0 || cpu >= CPU_SETSIZE || sched_getaffinity(0, sizeof mine, &mine) != 0) return;
    others = mine;
    CPU_CLR(cpu, &others);
    if (CPU_COUNT(&others) == 0) return;
    if (sched_setaffinity(0, sizeof others, &others) == 0) sched_setaffinity(0, sizeof mine, &mine);
#else
    (void)cpu;
#endif
}

static int new_job(const void *seen) {
    return atomic_load_explicit(&generation, memory_order_acquire) != *(const unsigned long *)seen;
}

static int workers_done(const void *unused) {
    (void)unused;
    return atomic_load_explicit(&busy_workers, memory_order_acquire) == 0;
}

/* Workers spin only after a job they took part in: helpers left over from
 * a larger thread count sleep between jobs. */
static void *worker_main(void *arg) {
    int id = (int)(intptr_t)arg, worked = 0;
    unsigned long seen = 0;
    for (;;) {
        if (!(worked && spin_until(new_job, &seen))) {
            pthread_mutex_lock(&lock);
            while (!new_job(&seen)) pthread_cond_wait(&wake, &lock);
            pthread_mutex_unlock(&lock);
        }
        /* the job's fields were written before the generation was published */
        seen = atomic_load_explicit(&generation, memory_order_acquire);
        worked = id < atomic_load(&active_workers);
        if (!worked) continue; /* not part of this job */
        int caller = atomic_load_explicit(&job_cpu, memory_order_relaxed);
        if (atomic_load_explicit(&spin_ok, memory_order_relaxed) && caller >= 0 &&
            current_cpu() == caller)
            step_aside(caller);
        drain();
        if (atomic_fetch_sub_explicit(&busy_workers, 1, memory_order_acq_rel) == 1) {
            pthread_mutex_lock(&lock); /* the caller may be about to sleep: signal under the lock */
            pthread_cond_signal(&done);
            pthread_mutex_unlock(&lock);
        }
    }
    return NULL;
}

/* Start helper threads up to n_threads - 1 (never stops any: a smaller
 * count just leaves some idle, since only n_threads - 1 are woken). */
static dsv4_status ensure_workers(void) {
    static int cpus;
    if (cpus == 0) cpus = online_cpus();
    if (n_threads == 0) n_threads = default_threads();
    atomic_store_explicit(&spin_ok, n_threads <= cpus, memory_order_relaxed);
    while (n_workers < n_threads - 1) {
        if (pthread_create(&workers[n_workers], NULL, worker_main, (void *)(intptr_t)n_workers) != 0)
            return DSV4_E_THREAD;
        pthread_detach(workers[n_workers]);
        n_workers++;
    }
    return DSV4_OK;
}

dsv4_status dsv4_threads_set(int n) {
    if (n < 1 || n > DSV4_MAX_THREADS) return DSV4_E_ARG;
    pthread_mutex_lock(&submit_lock);
    n_threads = n;
    pthread_mutex_unlock(&submit_lock);
    return DSV4_OK;
}

int dsv4_threads_get(void) {
    pthread_mutex_lock(&submit_lock);
    if (n_threads == 0) n_threads = default_threads();
    int n = n_threads;
    pthread_mutex_unlock(&submit_lock);
    return n;
}

static void run_inline(size_t n_tasks, dsv4_task_fn fn, void *ctx) {
    for (size_t i = 0; i < n_tasks; i++) fn(ctx, i);
}

dsv4_status dsv4_pool_run(size_t n_tasks, dsv4_task_fn fn, void *ctx) {
    if (!fn) return DSV4_E_NULL;
    if (n_tasks == 0) return DSV4_OK;
    if (in_task || n_tasks == 1) {
        run_inline(n_tasks, fn, ctx);
        return DSV4_OK;
    }
    pthread_mutex_lock(&submit_lock);
    dsv4_status st = ensure_workers();
    if (st != DSV4_OK || n_threads == 1) {
        pthread_mutex_unlock(&submit_lock);
        if (st == DSV4_OK) run_inline(n_tasks, fn, ctx);
        return st;
    }
    /* Workers 0 .. n_threads-2 take part; any extra ones started under a
     * larger earlier setting wake, see they are not needed and sleep again. */
    pthread_mutex_lock(&lock);
    job_fn = fn;
    job_ctx = ctx;
    job_n = n_tasks;
    atomic_store(&next_task, 0);
    atomic_store(&active_workers, n_threads - 1);
    atomic_store(&busy_workers, n_threads - 1);
    atomic_store_explicit(&job_cpu, current_cpu(), memory_order_relaxed);
    atomic_fetch_add_explicit(&generation, 1, memory_order_release);
    pthread_cond_broadcast(&wake);
    pthread_mutex_unlock(&lock);

    drain();

    if (!spin_until(workers_done, NULL)) {
        pthread_mutex_lock(&lock);
        while (!workers_done(NULL)) pthread_cond_wait(&done, &lock);
        pthread_mutex_unlock(&lock);
    }
    pthread_mutex_unlock(&submit_lock);
    return DSV4_OK;
}
