/* brain_cpu.c: the CPU backend, the reference the shaders are tested against
 * (itself tested against brain_ref.c, the literal reading of field-brain.md).
 *
 * It follows field-brain.md step by step, in one read and one write of the
 * field on most cycles (the floor of "What it costs"): the channel means of
 * step 5 are predicted before the pass (see "One pass per cycle" below), x-slabs
 * run on a small pool of threads, and reductions are summed per channel in
 * float over a row, then in double, in a fixed order (so a run is
 * bit-identical to the next one with the same thread count, with or without
 * AVX2 or AVX-512).
 *
 * This file runs a cycle (what is known before the pass, which jobs run, the
 * stats) and owns the backend's memory; the jobs' arithmetic on each x-slab
 * is cpu_kernels.c, the threads that run them cpu_pool.c.
 */
#include "cpu_internal.h"
#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#if defined(__linux__)
#include <sys/mman.h>
#endif

/* ---- One pass per cycle ----
 *
 * Steps 2-8 each touch every element, and step 5 needs the channel means m[c]
 * of the field after steps 1-4 before anything can be clamped. Measuring them
 * costs a pass of its own. Instead they are known before the pass, exactly up
 * to float rounding, because steps 1-4 are linear in the field apart from the
 * noise, whose draws do not depend on it:
 *
 * - Each pass that writes the field (clamped) also sums it, per channel:
 *   S[c] = sum over points of F[p][c] and W[c] = sum over points of
 *   w(p) F[p][c], with w(p) = nx(x) ny(y) nz(z) and nx(x) the number of x' in
 *   {x-1, x, x+1} inside the grid (likewise y, z). With zero padding every
 *   F[p] lands in exactly w(p) of the 3x3x3 box sums, so the sum over points
 *   of the box sum B27 is W.
 * - 1. Injection adds g s_i at spot i:        S += g s_i, W += w(spot) g s_i.
 * - 2. Decay:                                 S *= d.
 * - 3. Diffusion, F' = (1-r) d F + r d B27/27: S' = (1-r) d S + r d W / 27.
 * - 4. Noise: a sweep over the points before the pass hashes every point,
 *   keeps the picked ones with their draws, and sums the draws per channel:
 *   S += N. The pass only adds the stored draws to the picked points.
 * So m = S / points, the momentum and its offset are known before the pass,
 * and one pass does steps 2-5, the clamp, and every reduction of the cycle
 * (energy, saturation, and the S and W of its own output for the next
 * cycle). The prediction is exact arithmetic; it differs from summing the
 * field after step 4 only by the rounding of each element, which averages
 * out in a mean (and S, W are measured afresh on every pass, so nothing
 * accumulates from cycle to cycle).
 *
 * Step 7 reads the field after step 6, before the clamp: the pass records
 * the pre-clamp values at the motor spots (a byte per point marks them).
 *
 * ---- Activity in the same pass ----
 *
 * Step 6 needs mean |F| after step 5 before it may add energy, yet its picks
 * and draws do not depend on the field. So an activity cycle picks and draws
 * the energy before the pass, as for the noise, whether or not it will be
 * due, and its one pass keeps both outcomes: it sums |F| after step 5; it
 * writes the field without energy and the values with energy (clamped) of
 * each energy pick into that pick's slot of the draws list; it records the
 * motors both ways; and it sums S, W, |F| and the saturated count both ways,
 * in the same order as a pass over either field would (the two differ only
 * at the picks), so a brain saved after either outcome resumes bit for bit.
 * When the activity turns out low, a sparse step copies the picks' slots into
 * the field and takes the sums of that outcome. Every cycle is then one read
 * and one write of the field (with diffusion too); the box sums are made once.
 *
 * Keeping both outcomes costs a third more sums per element, and drawing
 * energy that is not due costs the draws. Most activity cycles need neither:
 * the sum of |F| after the last pass bounds that after step 5 (see
 * cpu_energy_due), and unless the activity lies within about a fifth of the
 * threshold (with diffusion; closer without) the outcome is known before the
 * pass. Then energy is drawn only
 * if due and added in the pass itself, with the same additions in the same
 * order as the outcome kept by the sparse step, so bit for bit the same (a
 * test checks); the pass keeps both outcomes only where the bounds cannot
 * tell (and on the first activity cycle after the field was written).
 *
 * The noise and energy draws are computed 16 channels at a time in vector
 * registers (cpu_kernels.c, cpu_normals): the same operations as rng_normal
 * in the same order, so bit for bit the same floats (a test checks), about
 * 10 times faster than one at a time.
 *
 * ---- Sparse draws ahead ----
 *
 * A noise cycle draws C normals for a hundredth of the points (noise_fraction)
 * and an activity cycle that may add energy for a twentieth
 * (energy_fraction): at 96^3 x 192 about a tenth of the dearest cycles of the
 * schedule, which also diffuse. The picks and draws depend only on the seed,
 * the cycle and two parameters, so the cycles before one that neither
 * diffuse nor measure the activity (the cheapest) make them: each makes its
 * share after its pass, 1 / (such cycles left before it) of what is left of
 * each slab, into the step's lists (the noise's sums per channel with them,
 * added in the same order), and the cycle of the step draws only what is
 * missing. Where the key, threshold or std of that cycle differ from what was
 * made (parameters set live, a brain loaded or reset), it draws everything
 * itself; where the last activity cycle knew that energy was not due, no
 * energy is drawn ahead (the activity changes slowly, and draws that are not
 * due would only cost). The same picks, draws and sums either way, so bit
 * for bit the same.
 *
 * Diffusion runs in place: each x-plane's 3x3 (y, z) box sums are computed
 * one plane ahead of the writes, and the planes next to a thread's slab
 * before any thread writes (a separate job, so a barrier lies between).
 * brain_write_field measures S and W of the new field (a read pass), in the
 * same order as a pass does, so a brain restored from a checkpoint continues
 * bit for bit as the one that saved it.
 */

/* Below this many elements a thread costs more to wake than it saves. */
#define CPU_MIN_ELEMS_PER_THREAD (1u << 17)

static void cpu_slab(const cpu_brain *cb, uint32_t worker, uint32_t *x0, uint32_t *x1)
{
    *x0 = (uint32_t)((uint64_t)cb->X * worker / cb->n_workers);
    *x1 = (uint32_t)((uint64_t)cb->X * (worker + 1) / cb->n_workers);
}

/* A pool job: the worker's share of cb->job. */
static void cpu_run_slab(void *ctx, uint32_t worker)
{
    cpu_brain *cb = ctx;
    uint32_t x0, x1;
    cpu_slab(cb, worker, &x0, &x1);
    cb->job(cb, worker, x0, x1);
}

/* Runs job on every x-slab and returns when all are done. */
static void cpu_run(cpu_brain *cb, cpu_job job)
{
    cb->job = job;
    cpu__pool_run(&cb->pool, cpu_run_slab, cb);
}

/* Nothing made ahead for sparse step s (see "Sparse draws ahead"). */
static void cpu_ahead_reset(cpu_brain *cb, int s)
{
    cb->ahead[s].valid = false;
    cb->ahead[s].now = false;
    for (uint32_t w = 0; w < cb->n_workers; w++) {
        cpu_worker *wk = &cb->workers[w];
        uint32_t x0, x1;
        cpu_slab(cb, w, &x0, &x1);
        wk->ahead_x[s] = x0;
        wk->ahead_n[s] = 0;
        if (s == CPU_NOISE) {
            memset(wk->noise_sum, 0, cb->C * sizeof(double));
            wk->noise_abs = 0.0;
        }
    }
}

/* Whether sparse step s runs on cycle t, and what it draws with then. */
static bool cpu_sparse_due(const brain_params *p, int s, uint64_t t)
{
    return t % (s == CPU_NOISE ? p->noise_every : p->activity_every) == 0;
}

static cpu_ahead cpu_sparse_for(const brain_params *p, int s, uint64_t t)
{
    if (s == CPU_NOISE)
        return (cpu_ahead){.key = rng_key(p->seed, t, RNG_STREAM_NOISE),
                           .threshold = rng_threshold(p->noise_fraction), .sd = p->noise_std};
    return (cpu_ahead){.key = rng_key(p->seed, t, RNG_STREAM_ENERGY),
                       .threshold = rng_threshold(p->energy_fraction), .sd = p->energy_std};
}

/* The next cycle after t on which step s runs (t itself when none fits in
 * 64 bits). */
static uint64_t cpu_sparse_next(const brain_params *p, int s, uint64_t t)
{
    const uint64_t every = s == CPU_NOISE ? p->noise_every : p->activity_every, next = (t / every + 1) * every;
    return next > t ? next : t;
}

/* At the start of cycle t: what was made ahead for each step is kept only if
 * it was made for the step's cycle due next (this one, where it runs) with
 * its key, threshold and std as they are now. */
static void cpu_ahead_check(cpu_brain *cb, uint64_t t)
{
    for (int s = 0; s < CPU_SPARSE_STEPS; s++) {
        const cpu_ahead *a = &cb->ahead[s];
        if (!a->valid)
            continue;
        const cpu_ahead want = cpu_sparse_for(&cb->p, s, cpu_sparse_due(&cb->p, s, t) ? t : cpu_sparse_next(&cb->p, s, t));
        if (a->key != want.key || a->threshold != want.threshold || a->sd != want.sd)
            cpu_ahead_reset(cb, s);
    }
}

/* Whether all of step s's picks of this cycle were made ahead; sets each
 * list's count to what was. */
static bool cpu_ahead_take(cpu_brain *cb, int s)
{
    bool made = true;
    for (uint32_t w = 0; w < cb->n_workers; w++) {
        cpu_worker *wk = &cb->workers[w];
        uint32_t x0, x1;
        cpu_slab(cb, w, &x0, &x1);
        made = made && wk->ahead_x[s] == x1;
        (s == CPU_NOISE ? &wk->noise : &wk->energy)->n = wk->ahead_n[s];
    }
    return made;
}

/* Before the pass of cycle t, once what the cycle drew is used (the noise's
 * sums by step 5, the energy's lists by the pass and after it): the steps
 * that ran start afresh, and on a cycle that neither diffuses nor measures
 * the activity, the pass makes a share of each step's next cycle. */
static void cpu_ahead_plan(cpu_brain *cb, const brain_cycle *cyc)
{
    const brain_params *p = &cb->p;
    const uint64_t t = cyc->t;
    for (int s = 0; s < CPU_SPARSE_STEPS; s++) {
        if (cpu_sparse_due(p, s, t))
            cpu_ahead_reset(cb, s);
        cb->ahead[s].now = false;
        const uint64_t next = cpu_sparse_next(p, s, t);
        if (cyc->diffusion || cyc->activity || next == t || (s == CPU_ENERGY && cb->energy_idle))
            continue;
        /* the cycles of [t, next) that neither diffuse nor measure: this one
         * and those after it (a cycle that does both is counted twice, so
         * the shares may end before next, never after) */
        const uint64_t d = p->diffusion_every, a = p->activity_every;
        const uint64_t busy = ((next - 1) / d - (t - 1) / d) + (s == CPU_NOISE ? (next - 1) / a - (t - 1) / a : 0);
        const uint64_t left = next - t > busy ? next - t - busy : 1;
        const cpu_ahead want = cpu_sparse_for(p, s, next);
        if (cb->ahead[s].valid && (cb->ahead[s].key != want.key || cb->ahead[s].threshold != want.threshold ||
                                   cb->ahead[s].sd != want.sd))
            cpu_ahead_reset(cb, s);
        cb->ahead[s] = want;
        cb->ahead[s].valid = true;
        cb->ahead[s].cycles_left = left < UINT32_MAX ? (uint32_t)left : UINT32_MAX;
        cb->ahead[s].now = true;
    }
}

/* S and W of the whole field from the workers' slabs, in worker order. */
static void cpu_gather_sums(cpu_brain *cb)
{
    for (uint32_t c = 0; c < cb->C; c++) {
        cb->sum[c] = cb->wsum[c] = 0.0;
        for (uint32_t w = 0; w < cb->n_workers; w++) {
            cb->sum[c] += cb->workers[w].sum[c];
            cb->wsum[c] += cb->workers[w].wsum[c];
        }
    }
}

/* Whether step 6 will find the activity low (1) or not (0), known before
 * the pass from bounds on the sum of |F| after step 5, or -1 when the bounds
 * cannot tell. With A the sum of |F| after the last pass (abs_total) and I
 * that of this cycle's injection, steps 2-3 give F' = k F + b B27 (k = decay,
 * b = 0 without diffusion), and the sum over points of B27(|F|) is the sum of
 * w(p) |F(p)| <= 27 A; so the sum of |F| after step 5 lies within
 * k (A -+ I) -+ (27 b (A + I) + points sum_c |offset_c| + the noise's sum of
 * |draws|). The margin, 1e-3 of the upper bound, is some hundred times what
 * rounding (each element's, and the float row sums') can move the measured
 * sum; so where this answers, the measured activity gives the same answer,
 * and the pass need not keep both outcomes. */
static int cpu_energy_due(const cpu_brain *cb, double injected)
{
    if (!cb->abs_known)
        return -1;
    const brain_cycle *cyc = cb->cyc;
    const double A = cb->abs_total;
    double k = cb->p.decay, b = 0.0;
    if (cyc->diffusion) {
        k = cb->keep_in;
        b = cb->keep_box;
    }
    double spread = 0.0;
    for (uint32_t c = 0; c < cb->C; c++)
        spread += fabs((double)cb->offset[c]);
    spread *= (double)cb->points;
    for (uint32_t w = 0; cyc->noise && w < cb->n_workers; w++)
        spread += cb->workers[w].noise_abs;
    spread += 27.0 * b * (A + injected);
    const double upper = k * (A + injected) + spread, lower = k * (A - injected) - spread;
    const double margin = 1e-3 * upper, limit = (double)cb->p.activity_threshold * (double)cb->count;
    if (!isfinite(upper) || !isfinite(lower))
        return -1;
    if (upper + margin < limit)
        return 1;
    if (lower - margin > limit)
        return 0;
    return -1;
}

static int cpu_step(void *impl, const brain_cycle *cyc, float *motors, brain_stats *stats)
{
    cpu_brain *cb = impl;
    const brain_params *p = &cb->p;
    const uint32_t C = cb->C, n_workers = cb->n_workers;
    cb->cyc = cyc;
    cb->keep_in = (1.0f - p->diffusion_rate) * p->decay;
    cb->keep_box = p->diffusion_rate * p->decay / 27.0f;

    /* 1. sensor injection, in sensor order (and into S, W) */
    double injected = 0.0; /* sum of |injection|, for cpu_energy_due */
    for (uint32_t i = 0; i < p->sensors; i++) {
        const uint32_t *s = cb->sensor_spots + 3 * i;
        size_t e = ((size_t)(s[0] * cb->Y + s[1]) * cb->Z + s[2]) * C + i % C;
        float add = p->sensor_gain * cyc->sensors[i];
        cb->field[e] += add;
        injected += fabs((double)add);
        uint32_t weight = cpu__neighbours(s[0], cb->X) * cpu__neighbours(s[1], cb->Y) * cpu__neighbours(s[2], cb->Z);
        cb->sum[i % C] += add;
        cb->wsum[i % C] += (double)weight * add;
    }

    /* step 4's picks (those not made ahead) and the box sums next to each slab */
    for (uint32_t w = 0; w < n_workers; w++)
        cb->workers[w].noise.n = cb->workers[w].energy.n = 0;
    cpu_ahead_check(cb, cyc->t);
    cb->prep_noise = cyc->noise && !cpu_ahead_take(cb, CPU_NOISE);
    cb->prep_energy = false;
    cb->prep_planes = cyc->diffusion;
    if (cb->prep_noise || cyc->diffusion)
        cpu_run(cb, cpu__job_prepare);

    /* 5. momentum, from the channel sums after 2-4 predicted as above */
    for (uint32_t c = 0; c < C; c++) {
        double s = cyc->diffusion ? (double)cb->keep_in * cb->sum[c] + (double)cb->keep_box * cb->wsum[c]
                                  : (double)p->decay * cb->sum[c];
        for (uint32_t w = 0; cyc->noise && w < n_workers; w++)
            s += cb->workers[w].noise_sum[c];
        float m = (float)(s / (double)cb->points);
        cb->momentum[c] = p->momentum_keep * cb->momentum[c] + (1.0f - p->momentum_keep) * m;
        cb->offset[c] = p->momentum_gain * cb->momentum[c];
    }

    /* step 6's picks and draws, unless it is known not to be due */
    const int due = cyc->activity ? cpu_energy_due(cb, injected) : 0;
    if (cyc->activity && due != 0 && !cpu_ahead_take(cb, CPU_ENERGY)) {
        cb->prep_noise = cb->prep_planes = false;
        cb->prep_energy = true;
        cpu_run(cb, cpu__job_prepare);
    }
    if (cyc->activity)
        cb->energy_idle = due == 0;
    cpu_ahead_plan(cb, cyc);

    /* 2-5, 7 (motors) and 8 (clamp); on an activity cycle 6, or both of its
     * outcomes when it cannot be known before the pass */
    cb->speculate = cyc->activity && due < 0;
    cb->measure_act = cyc->activity && due >= 0;
    cpu_run(cb, cpu__job_pass);
    if (cyc->activity) {
        double s = 0.0;
        for (uint32_t w = 0; w < n_workers; w++)
            for (uint32_t c = 0; c < C; c++)
                s += cb->workers[w].act_sum[c];
        float a = (float)(s / (double)cb->count);
        stats->activity = a;
        /* (where known before, the bounds of cpu_energy_due make this the same) */
        stats->energized = due >= 0 ? due == 1 : a < p->activity_threshold;
        if (cb->speculate && stats->energized) {
            /* 6. energy: the picks' values with energy into the field */
            cpu_run(cb, cpu__job_energize);
            memcpy(cb->motor_sum, cb->motor_sum_e, p->motors * sizeof(double));
        }
    }

    cpu_gather_sums(cb);
    double s = 0.0;
    uint64_t sat = 0;
    for (uint32_t c = 0; c < C; c++)
        for (uint32_t w = 0; w < n_workers; w++)
            s += cb->workers[w].abs_sum[c];
    for (uint32_t w = 0; w < n_workers; w++)
        sat += cb->workers[w].sat_count;
    cb->abs_total = s;
    cb->abs_known = true;
    stats->energy = (float)(s / (double)cb->count);
    stats->saturated = (float)((double)sat / (double)cb->count);
    for (uint32_t j = 0; j < p->motors; j++)
        motors[j] = tanhf(p->motor_gain * (float)(cb->motor_sum[j] / C));
    return BRAIN_OK;
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
    cb->abs_known = false;
    cpu_run(cb, cpu__job_measure);
    cpu_gather_sums(cb);
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

/* As created: the field drawn again from the seed and measured, a zero
 * momentum, no bound on the activity carried over. */
static int cpu_reset(void *impl)
{
    cpu_brain *cb = impl;
    memset(cb->momentum, 0, cb->C * sizeof(float));
    memset(cb->offset, 0, cb->C * sizeof(float));
    cb->abs_known = false;
    cb->abs_total = 0.0;
    for (int s = 0; s < CPU_SPARSE_STEPS; s++)
        cpu_ahead_reset(cb, s);
    cb->energy_idle = false;
    cpu_run(cb, cpu__job_init);
    cpu_run(cb, cpu__job_measure);
    cpu_gather_sums(cb);
    return BRAIN_OK;
}

/* The momentum after a step: a non-finite field reaches it through the
 * channel means, and an infinite one can leave every motor finite. */
static bool cpu_state_finite(void *impl)
{
    const cpu_brain *cb = impl;
    for (uint32_t c = 0; c < cb->C; c++)
        if (!isfinite(cb->momentum[c]))
            return false;
    return true;
}

static void cpu_destroy(void *impl)
{
    cpu_brain *cb = impl;
    if (!cb)
        return;
    cpu__pool_stop(&cb->pool);
    free(cb->worker_mem);
    free(cb->energy_draws);
    free(cb->energy_points);
    free(cb->noise_draws);
    free(cb->noise_points);
    free(cb->zero_row);
    free(cb->motor_sum_e);
    free(cb->motor_sum);
    free(cb->motor_rows);
    free(cb->motor_mask);
    free(cb->wsum);
    free(cb->sum);
    free(cb->offset);
    free(cb->momentum);
    free(cb->field);
    free(cb);
}

typedef struct {
    float *data;
    size_t count;
    uint32_t n_workers;
    float scale;
} cpu_bw_job;

/* A pool job: the worker's share of the buffer, scaled in place. */
static void cpu_job_scale(void *ctx, uint32_t worker)
{
    const cpu_bw_job *job = ctx;
    size_t a = job->count * worker / job->n_workers, e = job->count * (worker + 1) / job->n_workers;
    float *d = job->data;
    const float scale = job->scale;
    for (size_t i = a; i < e; i++)
        d[i] *= scale;
}

static double cpu_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Up to the field's size the probe scales the field itself by 1 (a load, a
 * multiply and a store per element, as any scale, and every value, NaN and
 * -0 included, as it was), so measuring the floor does not double the
 * process's memory; only a larger probe takes a buffer of its own. The scale
 * is a run-time value, so the compiler cannot drop the multiply. */
static int cpu_measure_bandwidth(void *impl, uint64_t bytes, double *bytes_per_s)
{
    cpu_brain *cb = impl;
    cpu_bw_job job = {.count = (size_t)(bytes / sizeof(float)), .n_workers = cb->n_workers, .scale = 1.0f};
    if (job.count < 1024)
        job.count = 1024;
    float *own = NULL;
    if (job.count <= cb->count) {
        job.data = cb->field;
    } else {
        own = aligned_alloc(64, (job.count * sizeof(float) + 63) / 64 * 64);
        if (!own)
            return BRAIN_ERR_NOMEM;
        for (size_t i = 0; i < job.count; i++)
            own[i] = 1.0f;
        job.data = own;
        job.scale = 0.999f;
    }
    double best = 1e30;
    for (int rep = 0; rep < 12; rep++) {
        double t0 = cpu_now_s();
        cpu__pool_run(&cb->pool, cpu_job_scale, &job);
        double dt = cpu_now_s() - t0;
        if (dt < best)
            best = dt;
    }
    free(own);
    *bytes_per_s = 2.0 * (double)job.count * sizeof(float) / best;
    return BRAIN_OK;
}

static int cpu_read_slab(void *impl, uint32_t axis, uint32_t index, float *dst)
{
    const cpu_brain *cb = impl;
    const size_t C = cb->C, row = (size_t)cb->Z * C, plane = (size_t)cb->Y * row;
    if (axis == 0) {
        memcpy(dst, cb->field + index * plane, plane * sizeof(float));
    } else if (axis == 1) {
        for (uint32_t x = 0; x < cb->X; x++)
            memcpy(dst + x * row, cb->field + x * plane + index * row, row * sizeof(float));
    } else {
        for (uint32_t x = 0; x < cb->X; x++)
            for (uint32_t y = 0; y < cb->Y; y++)
                memcpy(dst + ((size_t)x * cb->Y + y) * C, cb->field + x * plane + y * row + index * C,
                       C * sizeof(float));
    }
    return BRAIN_OK;
}

/* Every cycle reads its numbers from cb->p (and derives keep_in, keep_box
 * and the momentum offset from them then), so a copy is all it takes. */
static int cpu_set_params(void *impl, const brain_params *p, char *err, size_t err_len)
{
    (void)err;
    (void)err_len;
    cpu_brain *cb = impl;
    cb->p = *p;
    return BRAIN_OK;
}

static const brain_ops cpu_ops = {
    .set_params = cpu_set_params,
    .name = "cpu",
    .step = cpu_step,
    .read_field = cpu_read_field,
    .read_slab = cpu_read_slab,
    .write_field = cpu_write_field,
    .read_momentum = cpu_read_momentum,
    .write_momentum = cpu_write_momentum,
    .reset = cpu_reset,
    .state_finite = cpu_state_finite,
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

/* Enough rows of y per diffusion tile that the halo (one row per plane and
 * tile) costs little, few enough that three planes' worth of a tile's box sums
 * and the rows being read and written stay in a core's L2 cache. */
#define CPU_TILE_BYTES (384u << 10)
static uint32_t cpu_choose_tile_rows(uint32_t Y, size_t row)
{
    size_t t = CPU_TILE_BYTES / (3 * row * sizeof(float));
    if (t < 4)
        t = 4;
    return t < Y ? (uint32_t)t : Y;
}

/* A large block (the field, the workers' arrays), asking Linux for 2 MB
 * pages (transparent huge pages, which Debian enables "madvise": only for
 * memory that asks). A diffusion pass streams through several regions of the
 * field at once, its prefetches among them, and with 4 KB pages each region
 * leaves its page, and the TLB's reach, every 4 KB: 2 MB pages took 4-17 %
 * off plain cycles at 64^3 x 64, less off diffusion ones (BENCHMARKS.md,
 * which also says why). Blocks under 2 MB stay on small pages (a fleet of
 * small brains does not round each up). Freed with free(). */
#define CPU_HUGE_PAGE ((size_t)2 << 20)
static void *cpu_alloc_big(size_t bytes)
{
    if (bytes < CPU_HUGE_PAGE)
        return aligned_alloc(64, (bytes + 63) / 64 * 64);
    const size_t rounded = (bytes + CPU_HUGE_PAGE - 1) / CPU_HUGE_PAGE * CPU_HUGE_PAGE;
    void *p = aligned_alloc(CPU_HUGE_PAGE, rounded);
#if defined(__linux__) && defined(MADV_HUGEPAGE)
    if (p)
        (void)madvise(p, rounded, MADV_HUGEPAGE); /* a hint: refused, small pages serve */
#endif
    return p;
}

/* Every worker's arrays lie in one block, cb->worker_mem, each on cache
 * lines of its own (no two workers write one line; rows start aligned).
 * With base NULL this only measures the block: it returns its size in bytes,
 * the same layout either way. The small per-channel arrays start at zero. */
#define CPU_LINE 64
static void *cpu_take(char *base, size_t *at, size_t bytes, bool zero)
{
    void *p = NULL;
    if (base) {
        p = base + *at;
        if (zero)
            memset(p, 0, bytes);
    }
    *at += (bytes + CPU_LINE - 1) / CPU_LINE * CPU_LINE;
    return p;
}

static size_t cpu_carve_workers(cpu_brain *cb, char *base)
{
    const size_t C = cb->C, row = (size_t)cb->Z * C, plane = (size_t)cb->Y * row;
    const size_t cd = C * sizeof(double), cf = C * sizeof(float);
    size_t at = 0;
    for (uint32_t i = 0; i < cb->n_workers; i++) {
        cpu_worker *w = &cb->workers[i];
        uint32_t x0, x1;
        cpu_slab(cb, i, &x0, &x1);
        w->sum = cpu_take(base, &at, cd, true);
        w->wsum = cpu_take(base, &at, cd, true);
        w->abs_sum = cpu_take(base, &at, cd, true);
        w->noise_sum = cpu_take(base, &at, cd, true);
        w->act_sum = cpu_take(base, &at, cd, true);
        w->sum_e = cpu_take(base, &at, cd, true);
        w->wsum_e = cpu_take(base, &at, cd, true);
        w->abs_sum_e = cpu_take(base, &at, cd, true);
        w->row_sum = cpu_take(base, &at, cf, true);
        w->row_abs = cpu_take(base, &at, cf, true);
        w->row_act = cpu_take(base, &at, cf, true);
        w->row_sum_e = cpu_take(base, &at, cf, true);
        w->row_abs_e = cpu_take(base, &at, cf, true);
        w->scratch = cpu_take(base, &at, cf, true);
        w->scratch_e = cpu_take(base, &at, cf, true);
        /* pages of these are touched only by diffusion */
        w->zrows = cpu_take(base, &at, 3 * row * sizeof(float), false);
        w->ring = cpu_take(base, &at, 3 * (size_t)cb->tile_rows * row * sizeof(float), false);
        w->halo = cpu_take(base, &at, ((size_t)(x1 - x0) + 1) * row * sizeof(float), false);
        w->edge_lo = cpu_take(base, &at, plane * sizeof(float), false);
        w->edge_hi = cpu_take(base, &at, plane * sizeof(float), false);
    }
    return at;
}

/* A fleet of n brains like cb against physical memory, before anything is
 * allocated: what each brain touches (the field, every worker's arrays, the
 * motor masks; the lists of picked points are touched only in proportion to
 * the fractions picked, so they are not counted). */
static int cpu_fleet_fits(cpu_brain *cb, uint32_t n, const brain_backend_init *init)
{
    long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
    if (pages <= 0 || page <= 0)
        return BRAIN_OK; /* unknown: the allocations will tell */
    const uint64_t phys = (uint64_t)pages * (uint64_t)page;
    const uint64_t one = cb->count * sizeof(float) + cpu_carve_workers(cb, NULL) +
                         cb->points + (uint64_t)cb->X * cb->Y + (uint64_t)cb->Z * cb->C * sizeof(float);
    const uint64_t need = one * n;
    if (need <= phys)
        return BRAIN_OK;
    char need_s[32], phys_s[32];
    return fb_fail(init->err, init->err_len, BRAIN_ERR_TOO_BIG,
                   "a fleet of %u brains of %u x %u x %u x %u needs %llu bytes (%s) of memory "
                   "(%llu each), but this machine has %llu bytes (%s) of physical memory",
                   n, cb->X, cb->Y, cb->Z, cb->C, (unsigned long long)need,
                   brain__bytes_text(need, need_s, sizeof need_s), (unsigned long long)one,
                   (unsigned long long)phys, brain__bytes_text(phys, phys_s, sizeof phys_s));
}

int brain_cpu_create(const brain_backend_init *init, const brain_ops **ops, void **impl)
{
    const brain_params *p = init->p;
    if (p->channels > 4096)
        return fb_fail(init->err, init->err_len, BRAIN_ERR_PARAM,
                          "channels: %u is too many for the CPU backend (allowed up to 4096)",
                          p->channels);
    cpu_brain *cb = calloc(1, sizeof *cb);
    if (!cb)
        return fb_fail(init->err, init->err_len, BRAIN_ERR_NOMEM, "out of memory");
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
    cb->tile_rows = cpu_choose_tile_rows(cb->Y, (size_t)cb->Z * cb->C);
    if (init->fleet_n > 0) {
        int rc = cpu_fleet_fits(cb, init->fleet_n, init);
        if (rc) {
            free(cb);
            return rc;
        }
    }

    size_t bytes = cb->count * sizeof(float);
    size_t row = (size_t)cb->Z * cb->C, plane = (size_t)cb->Y * row;
    cb->field = cpu_alloc_big(bytes);
    cb->momentum = calloc(cb->C, sizeof(float));
    cb->offset = calloc(cb->C, sizeof(float));
    cb->sum = calloc(cb->C, sizeof(double));
    cb->wsum = calloc(cb->C, sizeof(double));
    cb->motor_mask = calloc(cb->points, 1);
    cb->motor_rows = calloc((size_t)cb->X * cb->Y, 1);
    cb->motor_sum = calloc(p->motors ? p->motors : 1, sizeof(double));
    cb->motor_sum_e = calloc(p->motors ? p->motors : 1, sizeof(double));
    cb->zero_row = calloc(row, sizeof(float));
    /* room for every point to be picked; pages never touched cost nothing */
    cb->noise_points = malloc(cb->points * sizeof(uint32_t));
    cb->noise_draws = malloc(bytes);
    cb->energy_points = malloc(cb->points * sizeof(uint32_t));
    cb->energy_draws = malloc(bytes);
    bool ok = cb->field && cb->momentum && cb->offset && cb->sum && cb->wsum && cb->motor_mask && cb->motor_rows &&
              cb->motor_sum && cb->motor_sum_e && cb->zero_row && cb->noise_points && cb->noise_draws && cb->energy_points &&
              cb->energy_draws;
    size_t worker_bytes = cpu_carve_workers(cb, NULL);
    cb->worker_mem = ok ? cpu_alloc_big(worker_bytes) : NULL;
    ok = ok && cb->worker_mem;
    if (ok) {
        cpu_carve_workers(cb, cb->worker_mem);
        for (int s = 0; s < CPU_SPARSE_STEPS; s++)
            cpu_ahead_reset(cb, s);
    }
    for (uint32_t i = 0; ok && i < cb->n_workers; i++) {
        cpu_worker *w = &cb->workers[i];
        uint32_t x0, x1;
        cpu_slab(cb, i, &x0, &x1);
        w->noise.points = cb->noise_points + (size_t)x0 * cb->Y * cb->Z;
        w->noise.draws = cb->noise_draws + (size_t)x0 * plane;
        w->energy.points = cb->energy_points + (size_t)x0 * cb->Y * cb->Z;
        w->energy.draws = cb->energy_draws + (size_t)x0 * plane;
    }
    if (!ok) {
        uint32_t nw = cb->n_workers;
        cpu_destroy(cb);
        return fb_fail(init->err, init->err_len, BRAIN_ERR_NOMEM,
                          "field %ux%ux%u x %u needs %.1f MB (%u threads); out of memory",
                          p->size_x, p->size_y, p->size_z, p->channels, bytes / 1e6, nw);
    }
    for (uint32_t j = 0; j < p->motors; j++) {
        const uint32_t *m = cb->motor_spots + 3 * j;
        cb->motor_mask[(m[0] * cb->Y + m[1]) * cb->Z + m[2]] = 1;
        cb->motor_rows[m[0] * cb->Y + m[1]] = 1;
    }
    uint32_t failed = 0;
    if (cpu__pool_start(&cb->pool, cb->n_workers, &failed) != 0) {
        cpu_destroy(cb);
        return fb_fail(init->err, init->err_len, BRAIN_ERR_NOMEM, "could not start CPU worker thread %u", failed);
    }
    cpu_run(cb, cpu__job_init);
    cpu_run(cb, cpu__job_measure);
    cpu_gather_sums(cb);

    snprintf(init->device_name, BRAIN_DEVICE_LEN, "cpu: %u thread%s", cb->n_workers,
             cb->n_workers == 1 ? "" : "s");
    if (init->device_reason[0] == '\0')
        snprintf(init->device_reason, 256, "backend cpu requested");
    *ops = &cpu_ops;
    *impl = cb;
    return BRAIN_OK;
}
