/* fleet.c: many brains of one shape stepped together (brain.h, Fleets).
 * Each brain is a whole brain (brain.c); what the fleet adds is how a step
 * of all of them reaches the backend: on Vulkan one submission for every
 * brain stepped (brain_ops.step_many on the device the brains share), on the
 * CPU one-thread brains spread over one pool of workers owned by the fleet.
 * brain.c keeps the schedule: each brain's cycle is prepared and checked by
 * brain__cycle_begin and brain__cycle_end as brain_step does it. */
#include "brain_internal.h"
#include "cpu_pool.h"

#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

struct brain_fleet {
    uint32_t n;
    brain **brains;
    const brain_ops *ops;        /* brain 0's: every brain's */
    bool batched;                /* Vulkan (step_many) with more than one brain */
    bool pooled;                 /* CPU with more than one brain: the pool below */
    char device[BRAIN_DEVICE_LEN];  /* brain_fleet_device_name */

    /* A step's scratch, n of each, made at create (a step allocates nothing). */
    uint32_t *todo;              /* the brains stepped, in index order */
    void **impls;
    brain_cycle *cycs;
    const brain_cycle **cyc_ptrs;
    float **motor_ptrs;
    brain_stats *spare_stats;    /* where stats go when the caller passes none */
    brain_stats **stat_ptrs;
    int *rcs;

    /* CPU: the workers, and the step they are running */
    cpu_pool pool;
    uint32_t n_todo;
    atomic_uint next;            /* the next entry of todo to take */
    const float *const *sensors;
    float *const *motors;
    brain_stats *stats;
    int *rc;
};

/* The workers a CPU fleet runs on: p->threads (0: one per core), never more
 * than there are brains. */
static uint32_t fleet_workers(const brain_params *p, uint32_t n)
{
    uint32_t w = p->threads;
    if (w == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        w = cores > 0 ? (uint32_t)cores : 1;
    }
    if (w > CPU_MAX_THREADS)
        w = CPU_MAX_THREADS;
    if (w > n)
        w = n;
    return w ? w : 1;
}

/* The brains of one fleet's first brain's backend: a CPU fleet of more than
 * one gives each brain one thread (the fleet's workers run the brains);
 * brains after the first share its device (Vulkan), chosen explicitly so
 * that backend auto cannot fall back to the CPU for some of them. */
static int fleet_create_brains(brain_fleet *f, const brain_params *p, const uint64_t *seeds,
                               char *err, size_t err_len)
{
    brain_params pi = *p, bp = *p;
    pi.seed = bp.seed = seeds[0];
    if (f->n > 1 && p->backend == BRAIN_BACKEND_CPU)
        bp.threads = 1;
    int rc = brain__create(&pi, &bp, NULL, f->n, &f->brains[0], err, err_len);
    if (rc)
        return rc;
    if (f->n > 1 && brain_get_backend(f->brains[0]) == BRAIN_BACKEND_CPU && bp.threads != 1) {
        /* backend auto chose the CPU only now: again with one thread */
        brain_destroy(&f->brains[0]);
        bp.threads = 1;
        if ((rc = brain__create(&pi, &bp, NULL, f->n, &f->brains[0], err, err_len)))
            return rc;
    }
    f->ops = brain__ops(f->brains[0]);
    void *shared = f->ops->shared ? f->ops->shared(brain__impl(f->brains[0])) : NULL;
    if (shared)
        bp.backend = BRAIN_BACKEND_VULKAN;
    for (uint32_t i = 1; i < f->n; i++) {
        pi.seed = bp.seed = seeds[i];
        if ((rc = brain__create(&pi, &bp, shared, 0, &f->brains[i], err, err_len)))
            return rc;
    }
    f->batched = f->n > 1 && shared && f->ops->step_many;
    f->pooled = f->n > 1 && brain_get_backend(f->brains[0]) == BRAIN_BACKEND_CPU;
    return BRAIN_OK;
}

int brain_fleet_create(const brain_params *p, const uint64_t *seeds, uint32_t n,
                       brain_fleet **out, char *err, size_t err_len)
{
    *out = NULL;
    if (n < 1 || n > BRAIN_FLEET_MAX || !seeds)
        return fb_fail(err, err_len, BRAIN_ERR_PARAM, "a fleet holds 1 to %u brains, not %u",
                       BRAIN_FLEET_MAX, n);
    int rc = brain_params_check(p, err, err_len);
    if (rc)
        return rc;
    brain_fleet *f = calloc(1, sizeof *f);
    if (!f)
        return fb_fail(err, err_len, BRAIN_ERR_NOMEM, "out of memory");
    f->n = n;
    f->brains = calloc(n, sizeof *f->brains);
    f->todo = calloc(n, sizeof *f->todo);
    f->impls = calloc(n, sizeof *f->impls);
    f->cycs = calloc(n, sizeof *f->cycs);
    f->cyc_ptrs = calloc(n, sizeof *f->cyc_ptrs);
    f->motor_ptrs = calloc(n, sizeof *f->motor_ptrs);
    f->spare_stats = calloc(n, sizeof *f->spare_stats);
    f->stat_ptrs = calloc(n, sizeof *f->stat_ptrs);
    f->rcs = calloc(n, sizeof *f->rcs);
    if (!f->brains || !f->todo || !f->impls || !f->cycs || !f->cyc_ptrs || !f->motor_ptrs ||
        !f->spare_stats || !f->stat_ptrs || !f->rcs) {
        brain_fleet_destroy(&f);
        return fb_fail(err, err_len, BRAIN_ERR_NOMEM, "out of memory");
    }
    if ((rc = fleet_create_brains(f, p, seeds, err, err_len))) {
        brain_fleet_destroy(&f);
        return rc;
    }
    uint32_t failed = 0;
    if (f->pooled && cpu__pool_start(&f->pool, fleet_workers(p, n), &failed) != 0) {
        brain_fleet_destroy(&f);
        return fb_fail(err, err_len, BRAIN_ERR_NOMEM, "could not start fleet worker thread %u", failed);
    }
    if (f->pooled)
        snprintf(f->device, sizeof f->device, "cpu: %u worker%s for %u one-thread brains",
                 fleet_workers(p, n), fleet_workers(p, n) == 1 ? "" : "s", n);
    else
        snprintf(f->device, sizeof f->device, "%s", brain_device_name(f->brains[0]));
    *out = f;
    return BRAIN_OK;
}

void brain_fleet_destroy(brain_fleet **fp)
{
    brain_fleet *f = fp ? *fp : NULL;
    if (!f)
        return;
    cpu__pool_stop(&f->pool);
    for (uint32_t i = f->brains ? f->n : 0; i-- > 0;)
        brain_destroy(&f->brains[i]);
    free(f->rcs);
    free(f->stat_ptrs);
    free(f->spare_stats);
    free(f->motor_ptrs);
    free(f->cyc_ptrs);
    free(f->cycs);
    free(f->impls);
    free(f->todo);
    free(f->brains);
    free(f);
    *fp = NULL;
}

const char *brain_fleet_device_name(const brain_fleet *f) { return f->device; }

uint32_t brain_fleet_size(const brain_fleet *f) { return f->n; }
brain *brain_fleet_brain(brain_fleet *f, uint32_t i) { return i < f->n ? f->brains[i] : NULL; }

/* A pool job: each worker takes the next brain to step until none is left
 * (brains differ in cost when some skip; a shared counter balances them). */
static void fleet_cpu_job(void *ctx, uint32_t worker)
{
    (void)worker;
    brain_fleet *f = ctx;
    for (;;) {
        uint32_t k = atomic_fetch_add_explicit(&f->next, 1u, memory_order_relaxed);
        if (k >= f->n_todo)
            break;
        uint32_t i = f->todo[k];
        brain *b = f->brains[i];
        f->rc[i] = brain_step(b, f->sensors[i], brain_get_params(b)->sensors, f->motors[i],
                              f->stats ? &f->stats[i] : NULL);
    }
}

/* Vulkan: every brain's cycle prepared by brain.c, one step_many (one
 * submission, one wait), every brain's result checked by brain.c. */
static int fleet_step_batched(brain_fleet *f, const bool *step, const float *const *sensors,
                              float *const *motors, brain_stats *stats, int *rc)
{
    uint32_t k = 0;
    for (uint32_t i = 0; i < f->n; i++) {
        if (!step[i])
            continue;
        brain *b = f->brains[i];
        brain_stats *s = stats ? &stats[i] : &f->spare_stats[i];
        if ((rc[i] = brain__cycle_begin(b, sensors[i], brain_get_params(b)->sensors, &f->cycs[k], s)))
            continue;
        f->todo[k] = i;
        f->impls[k] = brain__impl(b);
        f->cyc_ptrs[k] = &f->cycs[k];
        f->motor_ptrs[k] = motors[i];
        f->stat_ptrs[k] = s;
        k++;
    }
    if (k == 0)
        return BRAIN_OK;  /* nothing to submit (a lockstep tick of link states only) */
    int ret = f->ops->step_many(f->impls, k, f->cyc_ptrs, f->motor_ptrs, f->stat_ptrs, f->rcs);
    for (uint32_t j = 0; j < k; j++) {
        uint32_t i = f->todo[j];
        rc[i] = f->rcs[j] ? f->rcs[j]
                          : brain__cycle_end(f->brains[i], &f->cycs[j], motors[i], f->stat_ptrs[j]);
    }
    return ret;
}

int brain_fleet_step(brain_fleet *f, const bool *step, const float *const *sensors,
                     float *const *motors, brain_stats *stats, int *rc)
{
    if (!f || !step || !sensors || !motors || !rc)
        return BRAIN_ERR_PARAM;
    for (uint32_t i = 0; i < f->n; i++)
        rc[i] = 0;
    if (f->batched)
        return fleet_step_batched(f, step, sensors, motors, stats, rc);
    if (f->pooled) {
        f->n_todo = 0;
        for (uint32_t i = 0; i < f->n; i++)
            if (step[i])
                f->todo[f->n_todo++] = i;
        if (f->n_todo == 0)
            return BRAIN_OK;  /* no worker to wake */
        f->sensors = sensors;
        f->motors = motors;
        f->stats = stats;
        f->rc = rc;
        atomic_store_explicit(&f->next, 0u, memory_order_relaxed);
        cpu__pool_run(&f->pool, fleet_cpu_job, f);
        return BRAIN_OK;
    }
    /* A fleet of one: the brain alone, as brain_create made it. */
    for (uint32_t i = 0; i < f->n; i++)
        if (step[i])
            rc[i] = brain_step(f->brains[i], sensors[i], brain_get_params(f->brains[i])->sensors,
                               motors[i], stats ? &stats[i] : NULL);
    return BRAIN_OK;
}
