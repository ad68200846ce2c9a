/* cpu_pool.c: the CPU backend's worker threads and how a job reaches them
 * (one mutex, a generation counter the threads wait on, a count of those
 * still busy). */
#include "cpu_pool.h"

static void *cpu_pool_thread(void *arg)
{
    const cpu_pool_arg *a = arg;
    cpu_pool *pool = a->pool;
    const uint32_t worker = a->worker;
    uint64_t seen = 0;
    pthread_mutex_lock(&pool->lock);
    for (;;) {
        while (pool->generation == seen && !pool->stopping)
            pthread_cond_wait(&pool->wake, &pool->lock);
        if (pool->stopping)
            break;
        seen = pool->generation;
        cpu_pool_job job = pool->job;
        void *ctx = pool->ctx;
        pthread_mutex_unlock(&pool->lock);
        job(ctx, worker);
        pthread_mutex_lock(&pool->lock);
        if (--pool->pending == 0)
            pthread_cond_signal(&pool->done);
    }
    pthread_mutex_unlock(&pool->lock);
    return NULL;
}

int cpu__pool_start(cpu_pool *pool, uint32_t n_workers, uint32_t *failed)
{
    pool->n_workers = n_workers;
    pthread_mutex_init(&pool->lock, NULL);
    pthread_cond_init(&pool->wake, NULL);
    pthread_cond_init(&pool->done, NULL);
    pool->ready = true;
    for (uint32_t w = 1; w < n_workers; w++) {
        pool->args[w] = (cpu_pool_arg){pool, w};
        if (pthread_create(&pool->threads[w], NULL, cpu_pool_thread, &pool->args[w]) != 0) {
            *failed = w;
            cpu__pool_stop(pool);
            return -1;
        }
        pool->n_started = w;
    }
    return 0;
}

void cpu__pool_run(cpu_pool *pool, cpu_pool_job job, void *ctx)
{
    if (pool->n_workers == 1) {
        job(ctx, 0);
        return;
    }
    pthread_mutex_lock(&pool->lock);
    pool->job = job;
    pool->ctx = ctx;
    pool->pending = pool->n_workers - 1;
    pool->generation++;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    job(ctx, 0);
    pthread_mutex_lock(&pool->lock);
    while (pool->pending)
        pthread_cond_wait(&pool->done, &pool->lock);
    pthread_mutex_unlock(&pool->lock);
}

void cpu__pool_stop(cpu_pool *pool)
{
    if (!pool->ready)
        return;
    pthread_mutex_lock(&pool->lock);
    pool->stopping = true;
    pthread_cond_broadcast(&pool->wake);
    pthread_mutex_unlock(&pool->lock);
    for (uint32_t w = 1; w <= pool->n_started; w++)
        pthread_join(pool->threads[w], NULL);
    pool->n_started = 0;
    pthread_cond_destroy(&pool->done);
    pthread_cond_destroy(&pool->wake);
    pthread_mutex_destroy(&pool->lock);
    pool->ready = false;
}
