/* cpu_pool.h: the CPU backend's worker pool (private to brain/). Worker 0 is
 * the caller's thread, workers 1..n-1 are threads that sleep until a job is
 * handed out; a run returns when every worker has finished it. Knows nothing
 * of fields: the backend says what each worker's share is. */
#ifndef FIELDBRAIN_CPU_POOL_H
#define FIELDBRAIN_CPU_POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#define CPU_MAX_THREADS 64

/* One worker's part of a run: ctx as given to cpu__pool_run. */
typedef void (*cpu_pool_job)(void *ctx, uint32_t worker);

typedef struct cpu_pool cpu_pool;

/* What a thread of the pool is started with (kept in the pool, so starting a
 * thread allocates nothing). */
typedef struct {
    cpu_pool *pool;
    uint32_t worker;
} cpu_pool_arg;

struct cpu_pool {
    uint32_t n_workers;
    uint32_t n_started;    /* threads running: workers 1..n_started */
    bool ready;            /* lock and conditions initialised */
    pthread_t threads[CPU_MAX_THREADS];
    cpu_pool_arg args[CPU_MAX_THREADS];
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    uint64_t generation;   /* one more for each run handed out */
    uint32_t pending;      /* threads yet to finish this run */
    bool stopping;
    cpu_pool_job job;
    void *ctx;
};

/* Starts n_workers - 1 threads (1 <= n_workers <= CPU_MAX_THREADS) in a
 * zeroed pool. Returns 0, or -1 with *failed set to the worker whose thread
 * would not start (the pool is then stopped; cpu__pool_stop is harmless). */
int cpu__pool_start(cpu_pool *pool, uint32_t n_workers, uint32_t *failed);

/* Runs job(ctx, w) for every worker w, worker 0 on this thread, and returns
 * when all are done. No allocation. */
void cpu__pool_run(cpu_pool *pool, cpu_pool_job job, void *ctx);

/* Stops and joins the threads; harmless on a zeroed or stopped pool. */
void cpu__pool_stop(cpu_pool *pool);

#endif
