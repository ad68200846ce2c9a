/* brain_cpu.c: the CPU backend, the reference the shaders are tested against.
 *
 * It follows field-brain.md step by step; the only liberties are ones that
 * keep that obvious: steps 2-4 are one pass over the field and steps 5-8 a
 * second one, x-slabs run on a small pool of threads, and reductions are
 * summed in double per thread, then in thread order (so a run is
 * bit-identical to the next one with the same thread count).
 */
#include "brain_internal.h"
#include "rng.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define CPU_MAX_THREADS 64
/* Below this many elements a thread costs more to wake than it saves. */
#define CPU_MIN_ELEMS_PER_THREAD (1u << 17)

typedef struct cpu_brain cpu_brain;
typedef void (*cpu_job)(cpu_brain *cb, uint32_t worker, uint32_t x0, uint32_t x1);

/* Reductions are kept per channel (independent lanes the compiler can
 * vectorise) and summed over channels once per pass. */
typedef struct {
    double sum_abs;        /* sum of |F| (energy, activity) */
    uint64_t saturated;    /* elements at +-clamp_limit */
    double *channel_sum;   /* C sums (momentum) */
    double *abs_sum;       /* C sums of |F| */
    uint32_t *sat_count;   /* C counts of elements at the clamp */
    float *row_sum;        /* C float sums over one row of Z points, */
    float *row_sat;        /* flushed into the doubles above per row */
    float *planes;         /* diffusion: 4 planes of Y*Z*C */
} cpu_worker;

struct cpu_brain {
    brain_params p;
    const uint32_t *sensor_spots, *motor_spots;
    uint32_t X, Y, Z, C;
    uint64_t points, count;
    float *field, *spare;  /* spare: diffusion writes here, then they swap */
    float *momentum;       /* M, C */
    float *offset;         /* momentum_gain * M, C */
    const brain_cycle *cyc;
    bool energize;

    /* the pool: workers 1..n-1 are threads, worker 0 is the caller */
    uint32_t n_workers;
    cpu_worker workers[CPU_MAX_THREADS];
    pthread_t threads[CPU_MAX_THREADS];
    pthread_mutex_t lock;
    pthread_cond_t wake, done;
    uint64_t generation;
    uint32_t pending;
    bool stopping;
    cpu_job job;
    const void *job_arg;   /* for jobs outside a cycle */
};

static void cpu_slab(const cpu_brain *cb, uint32_t worker, uint32_t *x0, uint32_t *x1)
{
    *x0 = (uint32_t)((uint64_t)cb->X * worker / cb->n_workers);
    *x1 = (uint32_t)((uint64_t)cb->X * (worker + 1) / cb->n_workers);
}

static void *cpu_worker_main(void *arg)
{
    cpu_brain *cb = ((void **)arg)[0];
    uint32_t worker = (uint32_t)(uintptr_t)((void **)arg)[1];
    free(arg);
    uint64_t seen = 0;
    pthread_mutex_lock(&cb->lock);
    for (;;) {
        while (cb->generation == seen && !cb->stopping)
            pthread_cond_wait(&cb->wake, &cb->lock);
        if (cb->stopping)
            break;
        seen = cb->generation;
        cpu_job job = cb->job;
        pthread_mutex_unlock(&cb->lock);
        uint32_t x0, x1;
        cpu_slab(cb, worker, &x0, &x1);
        job(cb, worker, x0, x1);
        pthread_mutex_lock(&cb->lock);
        if (--cb->pending == 0)
            pthread_cond_signal(&cb->done);
    }
    pthread_mutex_unlock(&cb->lock);
    return NULL;
}

/* Runs job on every x-slab and returns when all are done. */
static void cpu_run(cpu_brain *cb, cpu_job job)
{
    uint32_t x0, x1;
    if (cb->n_workers == 1) {
        job(cb, 0, 0, cb->X);
        return;
    }
    pthread_mutex_lock(&cb->lock);
    cb->job = job;
    cb->pending = cb->n_workers - 1;
    cb->generation++;
    pthread_cond_broadcast(&cb->wake);
    pthread_mutex_unlock(&cb->lock);
    cpu_slab(cb, 0, &x0, &x1);
    job(cb, 0, x0, x1);
    pthread_mutex_lock(&cb->lock);
    while (cb->pending)
        pthread_cond_wait(&cb->done, &cb->lock);
    pthread_mutex_unlock(&cb->lock);
}

/* ---- steps 2-4: decay, diffusion, noise, and the channel sums of step 5 ---- */

/* The 3x3 box sum over (y, z) of plane x of `src`, zero outside the grid,
 * into out (Y*Z*C); tmp is another plane. */
static void cpu_box_plane(const cpu_brain *cb, const float *src, int64_t x, float *tmp, float *out)
{
    const uint32_t Y = cb->Y, Z = cb->Z, C = cb->C;
    const size_t plane = (size_t)Y * Z * C, row = (size_t)Z * C;
    if (x < 0 || x >= (int64_t)cb->X) {
        memset(out, 0, plane * sizeof(float));
        return;
    }
    const float *in = src + (size_t)x * plane;
    /* along z */
    for (uint32_t y = 0; y < Y; y++) {
        const float *r = in + y * row;
        float *t = tmp + y * row;
        for (uint32_t z = 0; z < Z; z++) {
            const float *mid = r + (size_t)z * C;
            const float *lo = z > 0 ? mid - C : NULL;
            const float *hi = z + 1 < Z ? mid + C : NULL;
            float *o = t + (size_t)z * C;
            for (uint32_t c = 0; c < C; c++)
                o[c] = (lo ? lo[c] : 0.0f) + mid[c] + (hi ? hi[c] : 0.0f);
        }
    }
    /* along y */
    for (uint32_t y = 0; y < Y; y++) {
        const float *mid = tmp + y * row;
        const float *lo = y > 0 ? mid - row : NULL;
        const float *hi = y + 1 < Y ? mid + row : NULL;
        float *o = out + y * row;
        for (size_t i = 0; i < row; i++)
            o[i] = (lo ? lo[i] : 0.0f) + mid[i] + (hi ? hi[i] : 0.0f);
    }
}

static void cpu_noise_point(const cpu_brain *cb, uint32_t point, float *v)
{
    const brain_cycle *cyc = cb->cyc;
    if (rng_bits(cyc->noise_key, point, 0) >= cyc->noise_threshold)
        return;
    for (uint32_t c = 0; c < cb->C; c++)
        v[c] += cb->p.noise_std * rng_normal(cyc->noise_key, point, c);
}

static void cpu_job_advance(cpu_brain *cb, uint32_t worker, uint32_t x0, uint32_t x1)
{
    const uint32_t Y = cb->Y, Z = cb->Z, C = cb->C;
    const size_t plane = (size_t)Y * Z * C;
    const float d = cb->p.decay, r = cb->p.diffusion_rate;
    const bool diffuse = cb->cyc->diffusion, noise = cb->cyc->noise;
    cpu_worker *w = &cb->workers[worker];
    double *sum = w->channel_sum;
    memset(sum, 0, C * sizeof(double));
    if (x0 == x1)
        return;

    float *box[3] = {NULL, NULL, NULL}, *tmp = NULL;
    if (diffuse) {
        box[0] = w->planes;
        box[1] = w->planes + plane;
        box[2] = w->planes + 2 * plane;
        tmp = w->planes + 3 * plane;
        cpu_box_plane(cb, cb->field, (int64_t)x0 - 1, tmp, box[0]);
        cpu_box_plane(cb, cb->field, x0, tmp, box[1]);
    }
    float *row = w->row_sum;
    for (uint32_t x = x0; x < x1; x++) {
        if (diffuse)
            cpu_box_plane(cb, cb->field, (int64_t)x + 1, tmp, box[2]);
        const float *in = cb->field + (size_t)x * plane;
        float *out = (diffuse ? cb->spare : cb->field) + (size_t)x * plane;
        for (uint32_t yz = 0; yz < Y * Z; yz++) {
            const size_t o = (size_t)yz * C;
            if (yz % Z == 0)
                memset(row, 0, C * sizeof(float));
            float *v = out + o;
            if (diffuse) {
                const float *b0 = box[0] + o, *b1 = box[1] + o, *b2 = box[2] + o;
                for (uint32_t c = 0; c < C; c++) {
                    float decayed = d * in[o + c];
                    float mean = d * (b0[c] + b1[c] + b2[c]) / 27.0f;
                    v[c] = (1.0f - r) * decayed + r * mean;
                }
            } else {
                for (uint32_t c = 0; c < C; c++)
                    v[c] = d * in[o + c];
            }
            if (noise)
                cpu_noise_point(cb, x * Y * Z + yz, v);
            for (uint32_t c = 0; c < C; c++)
                row[c] += v[c];
            if (yz % Z == Z - 1)
                for (uint32_t c = 0; c < C; c++)
                    sum[c] += row[c];
        }
        if (diffuse) {
            float *t = box[0];
            box[0] = box[1];
            box[1] = box[2];
            box[2] = t;
        }
    }
}

/* ---- step 6: activity ---- */

static void cpu_job_activity(cpu_brain *cb, uint32_t worker, uint32_t x0, uint32_t x1)
{
    const uint32_t C = cb->C;
    const size_t plane = (size_t)cb->Y * cb->Z * C;
    double *acc = cb->workers[worker].abs_sum;
    const float *off = cb->offset;
    memset(acc, 0, C * sizeof(double));
    for (size_t i = (size_t)x0 * plane; i < (size_t)x1 * plane; i += C) {
        const float *v = cb->field + i;
        for (uint32_t c = 0; c < C; c++)
            acc[c] += fabsf(v[c] + off[c]);
    }
    double s = 0.0;
    for (uint32_t c = 0; c < C; c++)
        s += acc[c];
    cb->workers[worker].sum_abs = s;
}

/* ---- steps 5 (add), 6 (energy), 8 (clamp) and the cycle's reductions ---- */

static void cpu_energy_point(const cpu_brain *cb, uint32_t point, float *v)
{
    const brain_cycle *cyc = cb->cyc;
    if (rng_bits(cyc->energy_key, point, 0) >= cyc->energy_threshold)
        return;
    for (uint32_t c = 0; c < cb->C; c++)
        v[c] += cb->p.energy_std * rng_normal(cyc->energy_key, point, c);
}

static void cpu_job_finish(cpu_brain *cb, uint32_t worker, uint32_t x0, uint32_t x1)
{
    const uint32_t C = cb->C, YZ = cb->Y * cb->Z;
    const float lim = cb->p.clamp_limit;
    const float *off = cb->offset;
    const uint32_t Z = cb->Z;
    cpu_worker *w = &cb->workers[worker];
    double *acc = w->abs_sum;
    uint32_t *sat = w->sat_count;
    float *racc = w->row_sum, *rsat = w->row_sat;
    memset(acc, 0, C * sizeof(double));
    memset(sat, 0, C * sizeof(uint32_t));
    for (uint32_t point = x0 * YZ; point < x1 * YZ; point++) {
        float *v = cb->field + (size_t)point * C;
        if (point % Z == 0) {
            memset(racc, 0, C * sizeof(float));
            memset(rsat, 0, C * sizeof(float));
        }
        for (uint32_t c = 0; c < C; c++)
            v[c] = v[c] + off[c];
        if (cb->energize)
            cpu_energy_point(cb, point, v);
        for (uint32_t c = 0; c < C; c++) {
            /* ternaries, not fminf/fmaxf: those are libm calls here */
            float f = v[c] < -lim ? -lim : v[c] > lim ? lim : v[c];
            v[c] = f;
            racc[c] += fabsf(f);
            rsat[c] += fabsf(f) == lim ? 1.0f : 0.0f;
        }
        if (point % Z == Z - 1)
            for (uint32_t c = 0; c < C; c++) {
                acc[c] += racc[c];
                sat[c] += (uint32_t)rsat[c];
            }
    }
    double s = 0.0;
    uint64_t n_sat = 0;
    for (uint32_t c = 0; c < C; c++) {
        s += acc[c];
        n_sat += sat[c];
    }
    cb->workers[worker].sum_abs = s;
    cb->workers[worker].saturated = n_sat;
}

/* Step 7 reads the field after steps 5 and 6, before the clamp: computed per
 * motor spot from the stored field, the offset and the energy draws. */
static void cpu_motors(cpu_brain *cb, float *motors)
{
    const uint32_t C = cb->C;
    float v[4096];
    for (uint32_t j = 0; j < cb->p.motors; j++) {
        const uint32_t *s = cb->motor_spots + 3 * j;
        uint32_t point = (s[0] * cb->Y + s[1]) * cb->Z + s[2];
        const float *f = cb->field + (size_t)point * C;
        for (uint32_t c = 0; c < C; c++)
            v[c] = f[c] + cb->offset[c];
        if (cb->energize)
            cpu_energy_point(cb, point, v);
        double mean = 0.0;
        for (uint32_t c = 0; c < C; c++)
            mean += v[c];
        motors[j] = tanhf(cb->p.motor_gain * (float)(mean / C));
    }
}

static int cpu_step(void *impl, const brain_cycle *cyc, float *motors, brain_stats *stats)
{
    cpu_brain *cb = impl;
    const brain_params *p = &cb->p;
    const uint32_t C = cb->C;
    cb->cyc = cyc;
    cb->energize = false;

    /* 1. sensor injection, in sensor order */
    for (uint32_t i = 0; i < p->sensors; i++) {
        const uint32_t *s = cb->sensor_spots + 3 * i;
        size_t e = ((size_t)(s[0] * cb->Y + s[1]) * cb->Z + s[2]) * C + i % C;
        cb->field[e] += p->sensor_gain * cyc->sensors[i];
    }

    /* 2-4, with the channel sums for 5 */
    cpu_run(cb, cpu_job_advance);
    if (cyc->diffusion) {
        float *t = cb->field;
        cb->field = cb->spare;
        cb->spare = t;
    }

    /* 5. momentum */
    for (uint32_t c = 0; c < C; c++) {
        double s = 0.0;
        for (uint32_t w = 0; w < cb->n_workers; w++)
            s += cb->workers[w].channel_sum[c];
        float m = (float)(s / (double)cb->points);
        cb->momentum[c] = p->momentum_keep * cb->momentum[c] + (1.0f - p->momentum_keep) * m;
        cb->offset[c] = p->momentum_gain * cb->momentum[c];
    }

    /* 6. activity */
    if (cyc->activity) {
        cpu_run(cb, cpu_job_activity);
        double s = 0.0;
        for (uint32_t w = 0; w < cb->n_workers; w++)
            s += cb->workers[w].sum_abs;
        float a = (float)(s / (double)cb->count);
        stats->activity = a;
        cb->energize = a < p->activity_threshold;
        stats->energized = cb->energize;
    }

    /* 7. motors, then 5 (add), 6 (energy) and 8 (clamp) in one pass */
    cpu_motors(cb, motors);
    cpu_run(cb, cpu_job_finish);
    double s = 0.0;
    uint64_t sat = 0;
    for (uint32_t w = 0; w < cb->n_workers; w++) {
        s += cb->workers[w].sum_abs;
        sat += cb->workers[w].saturated;
    }
    stats->energy = (float)(s / (double)cb->count);
    stats->saturated = (float)((double)sat / (double)cb->count);
    return BRAIN_OK;
}

static void cpu_job_init(cpu_brain *cb, uint32_t worker, uint32_t x0, uint32_t x1)
{
    (void)worker;
    const uint32_t C = cb->C, YZ = cb->Y * cb->Z;
    uint32_t key = rng_key(cb->p.seed, 0, RNG_STREAM_INIT);
    for (uint32_t point = x0 * YZ; point < x1 * YZ; point++)
        for (uint32_t c = 0; c < C; c++)
            cb->field[(size_t)point * C + c] = cb->p.init_std * rng_normal(key, point, c);
}

static int cpu_read_field(void *impl, float *dst)
{
    cpu_brain *cb = impl;
    memcpy(dst, cb->field, cb->count * sizeof(float));
    return BRAIN_OK;
}

static int cpu_write_field(void *impl, const float *src)
{
    cpu_brain *cb = impl;
    memcpy(cb->field, src, cb->count * sizeof(float));
    return BRAIN_OK;
}

static int cpu_read_momentum(void *impl, float *dst)
{
    cpu_brain *cb = impl;
    memcpy(dst, cb->momentum, cb->C * sizeof(float));
    return BRAIN_OK;
}

static int cpu_write_momentum(void *impl, const float *src)
{
    cpu_brain *cb = impl;
    memcpy(cb->momentum, src, cb->C * sizeof(float));
    return BRAIN_OK;
}

static void cpu_destroy(void *impl)
{
    cpu_brain *cb = impl;
    if (!cb)
        return;
    if (cb->n_workers > 1) {
        pthread_mutex_lock(&cb->lock);
        cb->stopping = true;
        pthread_cond_broadcast(&cb->wake);
        pthread_mutex_unlock(&cb->lock);
        for (uint32_t w = 1; w < cb->n_workers; w++)
            if (cb->threads[w])
                pthread_join(cb->threads[w], NULL);
    }
    pthread_cond_destroy(&cb->done);
    pthread_cond_destroy(&cb->wake);
    pthread_mutex_destroy(&cb->lock);
    for (uint32_t w = 0; w < CPU_MAX_THREADS; w++) {
        free(cb->workers[w].planes);
        free(cb->workers[w].row_sat);
        free(cb->workers[w].row_sum);
        free(cb->workers[w].sat_count);
        free(cb->workers[w].abs_sum);
        free(cb->workers[w].channel_sum);
    }
    free(cb->offset);
    free(cb->momentum);
    free(cb->spare);
    free(cb->field);
    free(cb);
}

typedef struct {
    float *data;
    size_t count;
} cpu_bw_job;

static void cpu_job_scale(cpu_brain *cb, uint32_t worker, uint32_t x0, uint32_t x1)
{
    (void)x0;
    (void)x1;
    const cpu_bw_job *job = cb->job_arg;
    size_t a = job->count * worker / cb->n_workers, e = job->count * (worker + 1) / cb->n_workers;
    float *d = job->data;
    for (size_t i = a; i < e; i++)
        d[i] *= 0.999f;
}

static double cpu_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cpu_measure_bandwidth(void *impl, uint64_t bytes, double *bytes_per_s)
{
    cpu_brain *cb = impl;
    cpu_bw_job job = {.count = (size_t)(bytes / sizeof(float))};
    if (job.count < 1024)
        job.count = 1024;
    job.data = aligned_alloc(64, (job.count * sizeof(float) + 63) / 64 * 64);
    if (!job.data)
        return BRAIN_ERR_NOMEM;
    for (size_t i = 0; i < job.count; i++)
        job.data[i] = 1.0f;
    cb->job_arg = &job;
    double best = 1e30;
    for (int rep = 0; rep < 12; rep++) {
        double t0 = cpu_now_s();
        cpu_run(cb, cpu_job_scale);
        double dt = cpu_now_s() - t0;
        if (dt < best)
            best = dt;
    }
    cb->job_arg = NULL;
    free(job.data);
    *bytes_per_s = 2.0 * (double)job.count * sizeof(float) / best;
    return BRAIN_OK;
}

static const brain_ops cpu_ops = {
    .name = "cpu",
    .step = cpu_step,
    .read_field = cpu_read_field,
    .write_field = cpu_write_field,
    .read_momentum = cpu_read_momentum,
    .write_momentum = cpu_write_momentum,
    .destroy = cpu_destroy,
    .measure_bandwidth = cpu_measure_bandwidth,
};

static uint32_t cpu_choose_workers(const brain_params *p, uint64_t count)
{
    uint32_t n = p->threads;
    if (n == 0) {
        long cores = sysconf(_SC_NPROCESSORS_ONLN);
        n = cores > 0 ? (uint32_t)cores : 1;
        uint64_t by_size = count / CPU_MIN_ELEMS_PER_THREAD;
        if (by_size < n)
            n = by_size ? (uint32_t)by_size : 1;
    }
    if (n > CPU_MAX_THREADS)
        n = CPU_MAX_THREADS;
    if (n > p->size_x)
        n = p->size_x;
    return n ? n : 1;
}

int brain_cpu_create(const brain_backend_init *init, const brain_ops **ops, void **impl)
{
    const brain_params *p = init->p;
    if (p->channels > 4096)
        return brain_fail(init->err, init->err_len, BRAIN_ERR_PARAM,
                          "channels: %u is too many for the CPU backend (allowed up to 4096)",
                          p->channels);
    cpu_brain *cb = calloc(1, sizeof *cb);
    if (!cb)
        return brain_fail(init->err, init->err_len, BRAIN_ERR_NOMEM, "out of memory");
    cb->p = *p;
    cb->sensor_spots = init->sensor_spots;
    cb->motor_spots = init->motor_spots;
    cb->X = p->size_x;
    cb->Y = p->size_y;
    cb->Z = p->size_z;
    cb->C = p->channels;
    cb->points = (uint64_t)cb->X * cb->Y * cb->Z;
    cb->count = cb->points * cb->C;
    cb->n_workers = cpu_choose_workers(p, cb->count);
    pthread_mutex_init(&cb->lock, NULL);
    pthread_cond_init(&cb->wake, NULL);
    pthread_cond_init(&cb->done, NULL);

    size_t bytes = cb->count * sizeof(float);
    size_t plane = (size_t)cb->Y * cb->Z * cb->C;
    cb->field = aligned_alloc(64, (bytes + 63) / 64 * 64);
    cb->spare = aligned_alloc(64, (bytes + 63) / 64 * 64);
    cb->momentum = calloc(cb->C, sizeof(float));
    cb->offset = calloc(cb->C, sizeof(float));
    bool ok = cb->field && cb->spare && cb->momentum && cb->offset;
    for (uint32_t w = 0; ok && w < cb->n_workers; w++) {
        cb->workers[w].channel_sum = calloc(cb->C, sizeof(double));
        cb->workers[w].abs_sum = calloc(cb->C, sizeof(double));
        cb->workers[w].sat_count = calloc(cb->C, sizeof(uint32_t));
        cb->workers[w].row_sum = calloc(cb->C, sizeof(float));
        cb->workers[w].row_sat = calloc(cb->C, sizeof(float));
        cb->workers[w].planes = malloc(4 * plane * sizeof(float));
        ok = cb->workers[w].channel_sum && cb->workers[w].abs_sum && cb->workers[w].sat_count &&
             cb->workers[w].row_sum && cb->workers[w].row_sat && cb->workers[w].planes;
    }
    if (!ok) {
        uint32_t nw = cb->n_workers;
        cb->n_workers = 1;
        cpu_destroy(cb);
        return brain_fail(init->err, init->err_len, BRAIN_ERR_NOMEM,
                          "field %ux%ux%u x %u needs %.1f MB twice (%u threads); out of memory",
                          p->size_x, p->size_y, p->size_z, p->channels, bytes / 1e6, nw);
    }
    for (uint32_t w = 1; w < cb->n_workers; w++) {
        void **arg = malloc(2 * sizeof(void *));
        if (!arg || (arg[0] = cb, arg[1] = (void *)(uintptr_t)w,
                     pthread_create(&cb->threads[w], NULL, cpu_worker_main, arg)) != 0) {
            free(arg);
            cb->n_workers = w;
            cpu_destroy(cb);
            return brain_fail(init->err, init->err_len, BRAIN_ERR_NOMEM,
                              "could not start CPU worker thread %u", w);
        }
    }
    cpu_run(cb, cpu_job_init);

    snprintf(init->device_name, BRAIN_DEVICE_LEN, "cpu: %u thread%s", cb->n_workers,
             cb->n_workers == 1 ? "" : "s");
    if (init->device_reason[0] == '\0')
        snprintf(init->device_reason, 256, "backend cpu requested");
    *ops = &cpu_ops;
    *impl = cb;
    return BRAIN_OK;
}
