/* brain_cpu.c: the CPU backend, the reference the shaders are tested against.
 *
 * It follows field-brain.md step by step, in one read and one write of the
 * field on most cycles (the floor of "What it costs"): the channel means of
 * step 5 are predicted before the pass (see "One pass per cycle" below), x-slabs
 * run on a small pool of threads, and reductions are summed per channel in
 * float over a row, then in double, in a fixed order (so a run is
 * bit-identical to the next one with the same thread count, with or without
 * AVX2 or AVX-512).
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
 * registers (cpu_normals): the same operations as rng_normal in the same
 * order, so bit for bit the same floats (a test checks), about 10 times
 * faster than one at a time.
 *
 * Diffusion runs in place: each x-plane's 3x3 (y, z) box sums are computed
 * one plane ahead of the writes, and the planes next to a thread's slab
 * before any thread writes (a separate job, so a barrier lies between).
 * brain_write_field measures S and W of the new field (a read pass), in the
 * same order as a pass does, so a brain restored from a checkpoint continues
 * bit for bit as the one that saved it.
 */

#define CPU_MAX_THREADS 64
/* Below this many elements a thread costs more to wake than it saves. */
#define CPU_MIN_ELEMS_PER_THREAD (1u << 17)
#define CPU_NO_POINT UINT32_MAX

/* The loops that carry a cycle are compiled three times, for AVX-512
 * (x86-64-v4), AVX2 and any x86-64, and chosen when the program loads; all
 * round the same (no contraction, no reassociation: every sum is added in the
 * same order at any vector width). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CPU_HOT __attribute__((target_clones("arch=x86-64-v4", "avx2", "default")))
#else
#define CPU_HOT
#endif
#if defined(__SSE__)
#include <immintrin.h>
#endif

typedef struct cpu_brain cpu_brain;
typedef void (*cpu_job)(cpu_brain *cb, uint32_t worker, uint32_t x0, uint32_t x1);

/* The points of one slab that a sparse step (noise, energy) picked, in point
 * order, with their C draws each, already times the step's std. */
typedef struct {
    uint32_t n;
    uint32_t *points;
    float *draws;
} cpu_sparse;

typedef struct {
    /* per channel over this worker's slab, in double (summed row by row) */
    double *sum;          /* S: sum of F */
    double *wsum;         /* W: sum of w(p) F */
    double *abs_sum;      /* sum of |F| (energy, activity) */
    double *noise_sum;    /* this cycle's noise draws */
    double noise_abs;     /* and the sum of their |draws| over all channels */
    uint64_t sat_count;   /* elements at +-clamp_limit */
    /* activity cycles (see "Activity in the same pass"): sum |F| after step 5,
     * and S, W, |F| and the saturated count as they are if energy is added */
    double *act_sum, *sum_e, *wsum_e, *abs_sum_e;
    uint64_t sat_count_e;
    /* per channel over one row of Z points, in float lanes */
    float *row_sum, *row_abs, *row_act, *row_sum_e, *row_abs_e;
    uint32_t row_sat, row_sat_e;  /* elements at the clamp in the row */
    float *scratch, *scratch_e;   /* C: one point before the clamp (with energy) */
    cpu_sparse noise, energy;  /* picked in this slab this cycle */
    /* diffusion (see cpu_job_pass): the (y, z) box sums of the planes next to
     * the slab, of 3 planes of a tile in turn, the z sums of each plane's row
     * before the tile, and 3 rows of z sums */
    float *edge_lo, *edge_hi, *ring, *halo, *zrows;
} cpu_worker;

struct cpu_brain {
    brain_params p;
    const uint32_t *sensor_spots, *motor_spots;
    uint32_t X, Y, Z, C;
    uint64_t points, count;
    float *field;
    float *momentum;       /* M, C */
    float *offset;         /* momentum_gain * M, C */
    double *sum, *wsum;    /* S and W of the field as it is (see above) */
    uint8_t *motor_mask;   /* per point: a motor spot is here */
    uint8_t *motor_rows;   /* per row of Z points: a motor spot is in it */
    double *motor_sum;     /* per motor: sum over c before the clamp */
    double *motor_sum_e;   /* the same if energy is added (activity cycles) */
    float *zero_row;       /* Z*C zeros: the box sums outside the grid */
    /* room for every point to be picked by noise and by energy: each
     * worker's lists start at its slab's start */
    uint32_t *noise_points, *energy_points;  /* points */
    float *noise_draws, *energy_draws;       /* count: C per picked point */

    /* the cycle being run */
    const brain_cycle *cyc;
    bool speculate;        /* an activity cycle: the pass keeps both outcomes */
    bool measure_act;      /* an activity cycle whose outcome is known: the pass
                            * sums |F| after step 5 and adds any energy picked */
    bool abs_known;        /* abs_total is the sum of |F| of the field as it is */
    double abs_total;
    bool prep_noise, prep_energy, prep_planes;  /* what cpu_job_prepare does */
    float keep_in, keep_box;  /* step 3 as F' = keep_in F + keep_box B27 */

    /* the pool: workers 1..n-1 are threads, worker 0 is the caller */
    uint32_t n_workers;
    uint32_t tile_rows;    /* diffusion: y rows per tile (cpu_job_pass) */
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

/* How many of {i-1, i, i+1} lie in [0, n): the w(p) factors above. */
static inline uint32_t cpu_neighbours(uint32_t i, uint32_t n)
{
    return 1u + (i > 0) + (i + 1 < n);
}

/* ---- step 3: the 3x3x3 box sum, one (y, z) plane and one x at a time ---- */

/* out = in[z-1] + in[z] + in[z+1] per channel, zero outside the row. */
CPU_HOT static void cpu_zsum_row(size_t Z, size_t C, const float *restrict in, float *restrict out)
{
    if (Z == 1) {
        memcpy(out, in, C * sizeof(float));
        return;
    }
    for (size_t c = 0; c < C; c++)
        out[c] = in[c] + in[C + c];
    for (size_t i = C; i < (Z - 1) * C; i++)
        out[i] = (in[i - C] + in[i]) + in[i + C];
    for (size_t i = (Z - 1) * C; i < Z * C; i++)
        out[i] = in[i - C] + in[i];
}

/* out = (lo + mid) + hi, n floats. */
CPU_HOT static void cpu_add3(size_t n, const float *restrict lo, const float *restrict mid, const float *restrict hi,
                             float *restrict out)
{
    for (size_t i = 0; i < n; i++)
        out[i] = (lo[i] + mid[i]) + hi[i];
}

/* Rows [ya, yb) of the 3x3 (y, z) box sum of plane x of the field, into out
 * (yb - ya rows). halo_in: the z sums of row ya-1 when ya > 0 (that row may be
 * overwritten already; NULL: read it from the field); halo_out (if not NULL)
 * receives the z sums of row yb-1, for the tile after this one. The z sums of
 * three rows at a time live in w->zrows. */
static void cpu_box_rows(const cpu_brain *cb, cpu_worker *w, uint32_t x, uint32_t ya, uint32_t yb,
                         const float *halo_in, float *halo_out, float *out)
{
    const size_t row = (size_t)cb->Z * cb->C;
    const float *plane = cb->field + (size_t)x * cb->Y * row;
    /* the z sums of row y go to slot (y + 1) mod 3, so rows y-1, y, y+1 never share one */
#define CPU_ZSLOT(y) (w->zrows + (size_t)(((y) + 1) % 3) * row)
    const float *lo = cb->zero_row, *mid, *hi;
    if (ya > 0 && halo_in) {
        lo = halo_in;
    } else if (ya > 0) {
        cpu_zsum_row(cb->Z, cb->C, plane + (ya - 1) * row, CPU_ZSLOT(ya - 1));
        lo = CPU_ZSLOT(ya - 1);
    }
    cpu_zsum_row(cb->Z, cb->C, plane + ya * row, CPU_ZSLOT(ya));
    mid = CPU_ZSLOT(ya);
    for (uint32_t y = ya; y < yb; y++) {
        hi = cb->zero_row;
        if (y + 1 < cb->Y) {
            cpu_zsum_row(cb->Z, cb->C, plane + (y + 1) * row, CPU_ZSLOT(y + 1));
            hi = CPU_ZSLOT(y + 1);
        }
        cpu_add3(row, lo, mid, hi, out + (y - ya) * row);
        lo = mid;
        mid = hi;
    }
    if (halo_out)
        memcpy(halo_out, lo, row * sizeof(float)); /* row yb-1 */
#undef CPU_ZSLOT
}

/* ---- before the pass: the noise picks and the box sums next to the slab;
 * S and W of a field written from outside ---- */

/* S and W of this slab, into w->sum and w->wsum (a read of the field). */
static void cpu_measure_sums(cpu_brain *cb, cpu_worker *w, uint32_t x0, uint32_t x1)
{
    const uint32_t Y = cb->Y, Z = cb->Z, C = cb->C;
    float *rs = w->row_sum;
    for (uint32_t x = x0; x < x1; x++)
        for (uint32_t y = 0; y < Y; y++) {
            const float *f = cb->field + ((size_t)x * Y + y) * Z * C;
            memset(rs, 0, C * sizeof(float));
            for (uint32_t z = 0; z < Z; z++)
                for (uint32_t c = 0; c < C; c++)
                    rs[c] += f[(size_t)z * C + c];
            double nxy = (double)(cpu_neighbours(x, cb->X) * cpu_neighbours(y, Y));
            const float *last = f + (size_t)(Z - 1) * C;
            for (uint32_t c = 0; c < C; c++) {
                w->sum[c] += rs[c];
                w->wsum[c] += nxy * (3.0 * rs[c] - f[c] - last[c]);
            }
        }
}

/* ---- rng.h, CPU_NORMAL_BLOCK draws at a time ---- */

#define CPU_NORMAL_BLOCK 16

/* out[i] = scale * rng_normal(key, point, c0 + i) for i < CPU_NORMAL_BLOCK,
 * given h = rng_mix32(key ^ point): rng_bits, rng_log, rng_cos2pi and
 * rng_normal written out with the same operations in the same order, so the
 * same floats bit for bit. What differs is only how: a fixed trip count (so
 * the loop vectorises without a scalar tail); the branches of rng_log and
 * rng_cos2pi as integer selects (a conditional float operation keeps the loop
 * scalar); floorf(q + 0.5) as a truncation (the argument is in [0.5, 4.5));
 * and sqrt outside the loop through _mm_sqrt_ps, because sqrtf sets errno and
 * so cannot be vectorised without -fno-math-errno. */
CPU_HOT static void cpu_normal_block(uint32_t h, uint32_t c0, float scale, float *restrict out)
{
    float rad[CPU_NORMAL_BLOCK], cosine[CPU_NORMAL_BLOCK];
    for (uint32_t i = 0; i < CPU_NORMAL_BLOCK; i++) {
        const uint32_t draw = 2U * (c0 + i) + 1U;
        const uint32_t b1 = rng_mix32(h + draw * 0x9E3779B9U);
        const uint32_t b2 = rng_mix32(h + (draw + 1U) * 0x9E3779B9U);
        /* both below 2^25: exact through int32 */
        const float u1 = (float)(int32_t)((b1 >> 8) + 1U) * 5.9604645e-08f;
        const float u2 = (float)(int32_t)(b2 >> 8) * 5.9604645e-08f;

        /* rng_log(u1) */
        uint32_t bits;
        memcpy(&bits, &u1, sizeof bits);
        int32_t e = (int32_t)((bits >> 23) & 0xFFU) - 127;
        const uint32_t mbits = (bits & 0x007FFFFFU) | 0x3F800000U;
        float m;
        memcpy(&m, &mbits, sizeof m);
        const uint32_t big = m > 1.41421356f;
        const uint32_t halve_bits = 0x3F800000U - (big << 23); /* 0.5f or 1.0f */
        float halve;
        memcpy(&halve, &halve_bits, sizeof halve);
        m = m * halve;
        e = e + (int32_t)big;
        const float s = (m - 1.0f) / (m + 1.0f);
        const float s2 = s * s;
        const float poly = 1.0f + s2 * (0.333333333f + s2 * (0.2f + s2 * (0.142857143f + s2 * 0.111111111f)));
        const float log_u1 = (float)e * 0.693147181f + 2.0f * s * poly;

        /* rng_cos2pi(u2) */
        const float q = u2 * 4.0f;
        const int32_t k = (int32_t)(q + 0.5f);
        const float x = (q - (float)k) * 1.57079633f;
        const float x2 = x * x;
        const float c = 1.0f - x2 * (0.5f - x2 * (0.0416666667f - x2 * (0.00138888889f - x2 * 0.0000248015873f)));
        const float sn = x * (1.0f - x2 * (0.166666667f - x2 * (0.00833333333f - x2 * (0.000198412698f -
                                                                                      x2 * 0.00000275573192f))));
        /* quadrant 0: c, 1: -s, 2: -c, 3: s */
        const uint32_t quadrant = (uint32_t)k & 3U, odd = 0U - (quadrant & 1U);
        uint32_t cbits, sbits;
        memcpy(&cbits, &c, sizeof cbits);
        memcpy(&sbits, &sn, sizeof sbits);
        cbits = ((sbits & odd) | (cbits & ~odd)) ^ (((quadrant + 1U) & 2U) << 30);
        memcpy(&cosine[i], &cbits, sizeof cbits);
        rad[i] = -2.0f * log_u1;
    }
#if defined(__SSE__)
    for (uint32_t i = 0; i < CPU_NORMAL_BLOCK; i += 4)
        _mm_storeu_ps(rad + i, _mm_sqrt_ps(_mm_loadu_ps(rad + i)));
#else
    for (uint32_t i = 0; i < CPU_NORMAL_BLOCK; i++)
        rad[i] = sqrtf(rad[i]);
#endif
    for (uint32_t i = 0; i < CPU_NORMAL_BLOCK; i++)
        out[i] = scale * (rad[i] * cosine[i]);
}

/* out[c] = scale * rng_normal(key, point, c) for c < C, bit for bit. */
static void cpu_normals(uint32_t key, uint32_t point, uint32_t C, float scale, float *out)
{
    const uint32_t h = rng_mix32(key ^ point);
    uint32_t c0 = 0;
    for (; c0 + CPU_NORMAL_BLOCK <= C; c0 += CPU_NORMAL_BLOCK)
        cpu_normal_block(h, c0, scale, out + c0);
    if (c0 < C) {
        float tail[CPU_NORMAL_BLOCK];
        cpu_normal_block(h, c0, scale, tail);
        memcpy(out + c0, tail, (C - c0) * sizeof(float));
    }
}

/* bits[i] = rng_bits(key, point0 + i, 0): the pick of each point. */
CPU_HOT static void cpu_pick_bits(uint32_t key, uint32_t point0, uint32_t *restrict bits)
{
    for (uint32_t i = 0; i < CPU_NORMAL_BLOCK; i++)
        bits[i] = rng_mix32(rng_mix32(key ^ (point0 + i)));
}

/* A sparse step's picks and draws for the points [first, end) of a slab, in
 * point order, into list (and the sum of the draws per channel into sum, if
 * not NULL). */
static void cpu_pick_sparse(const cpu_brain *cb, uint32_t first, uint32_t end, uint32_t key, uint32_t threshold,
                            float sd, cpu_sparse *list, double *sum, double *abs)
{
    const uint32_t C = cb->C;
    uint32_t bits[CPU_NORMAL_BLOCK];
    list->n = 0;
    for (uint32_t p0 = first; p0 < end; p0 += CPU_NORMAL_BLOCK) {
        cpu_pick_bits(key, p0, bits);
        const uint32_t n = end - p0 < CPU_NORMAL_BLOCK ? end - p0 : CPU_NORMAL_BLOCK;
        for (uint32_t i = 0; i < n; i++) {
            if (bits[i] >= threshold)
                continue;
            float *v = list->draws + (size_t)list->n * C;
            list->points[list->n++] = p0 + i;
            cpu_normals(key, p0 + i, C, sd, v);
            for (uint32_t c = 0; sum && c < C; c++) {
                sum[c] += v[c];
                *abs += fabs((double)v[c]);
            }
        }
    }
}

static void cpu_job_measure(cpu_brain *cb, uint32_t worker, uint32_t x0, uint32_t x1)
{
    cpu_worker *w = &cb->workers[worker];
    memset(w->sum, 0, cb->C * sizeof(double));
    memset(w->wsum, 0, cb->C * sizeof(double));
    cpu_measure_sums(cb, w, x0, x1);
}

/* Before a pass, as cb->prep_* say: step 4's picks and draws, step 6's, and
 * the box sums next to the slab. */
static void cpu_job_prepare(cpu_brain *cb, uint32_t worker, uint32_t x0, uint32_t x1)
{
    cpu_worker *w = &cb->workers[worker];
    const brain_cycle *cyc = cb->cyc;
    const uint32_t YZ = cb->Y * cb->Z;
    if (cb->prep_noise) {
        memset(w->noise_sum, 0, cb->C * sizeof(double));
        w->noise_abs = 0.0;
        cpu_pick_sparse(cb, x0 * YZ, x1 * YZ, cyc->noise_key, cyc->noise_threshold, cb->p.noise_std, &w->noise,
                        w->noise_sum, &w->noise_abs);
    }
    if (cb->prep_energy)
        cpu_pick_sparse(cb, x0 * YZ, x1 * YZ, cyc->energy_key, cyc->energy_threshold, cb->p.energy_std,
                        &w->energy, NULL, NULL);
    if (x0 == x1)
        return;
    if (cb->prep_planes) {
        /* planes another thread writes in the pass: before it starts */
        if (x0 > 0)
            cpu_box_rows(cb, w, x0 - 1, 0, cb->Y, NULL, NULL, w->edge_lo);
        if (x1 < cb->X)
            cpu_box_rows(cb, w, x1, 0, cb->Y, NULL, NULL, w->edge_hi);
    }
}

/* ---- the pass: steps 2-5 (advance), 6 (energy), 8 (clamp) per point ---- */

/* Step 8 on one value. Written so that it compiles to min and max: a NaN
 * (which nothing lets in) would come out as -lim, as from fminf(fmaxf()). */
static inline float cpu_clamp(float v, float lim)
{
    float below = lim < v ? lim : v;
    return -lim < below ? below : -lim;
}

/* The constants of the hot loops. */
typedef struct {
    float decay, keep_in, keep_box, lim;
} cpu_consts;

/* Steps 2-5 on one point, from f into g: decay (with diffusion when box0 is
 * not NULL: the (y, z) box sums of planes x-1, x, x+1 at this point), then
 * the noise draws (NULL: not picked) and the momentum offset (step 6 is
 * added by the caller, see "Activity in the same pass"). restrict on
 * parameters (GCC ignores it on locals); g never overlaps the rest. */
CPU_HOT static void cpu_advance1(cpu_consts k, size_t C, float *restrict g, const float *restrict f,
                                 const float *restrict box0, const float *restrict box1,
                                 const float *restrict box2, const float *restrict noise,
                                 const float *restrict off)
{
    if (box0)
        for (size_t c = 0; c < C; c++)
            g[c] = k.keep_in * f[c] + k.keep_box * ((box0[c] + box1[c]) + box2[c]);
    else
        for (size_t c = 0; c < C; c++)
            g[c] = k.decay * f[c];
    if (noise)
        for (size_t c = 0; c < C; c++)
            g[c] += noise[c];
    for (size_t c = 0; c < C; c++)
        g[c] += off[c];
}

/* Step 8 on one point, from g into f, with its row's reductions; returns the
 * number of elements at the clamp. */
CPU_HOT static uint32_t cpu_clamp1(float lim, size_t C, float *restrict f, const float *restrict g,
                                   float *restrict rs, float *restrict ra)
{
    uint32_t sat = 0;
    for (size_t c = 0; c < C; c++) {
        float v = cpu_clamp(g[c], lim);
        f[c] = v;
        rs[c] += v;
        ra[c] += fabsf(v);
        sat += fabsf(v) == lim;
    }
    return sat;
}

/* ra += |g| (|F| after step 5, on an activity cycle). */
CPU_HOT static void cpu_abs_add1(size_t C, const float *restrict g, float *restrict ra)
{
    for (size_t c = 0; c < C; c++)
        ra[c] += fabsf(g[c]);
}

/* Steps 2, 5 and 8 fused on 4 consecutive points of a row that have neither
 * noise, energy nor a motor (the hot loop): the arithmetic of cpu_advance1,
 * then cpu_clamp1, element for element, with the row's per-channel sums
 * loaded and stored once for the 4 points and the saturated elements counted
 * in integers (CPU_HOT). restrict on parameters: the 4 points, the box sums
 * (box0/1/2, NULL: no diffusion; 4 points each), the offset and the row sums
 * never overlap. size_t indices: wrapping ones cannot be vectorised. */
CPU_HOT static uint32_t cpu_sweep4(cpu_consts k, size_t C, float *restrict f0, float *restrict f1,
                                   float *restrict f2, float *restrict f3, const float *restrict box0,
                                   const float *restrict box1, const float *restrict box2,
                                   const float *restrict off, float *restrict rs, float *restrict ra)
{
    const float d = k.decay, ka = k.keep_in, kb = k.keep_box, lim = k.lim;
    uint32_t sat = 0;
    if (box0) {
        for (size_t c = 0; c < C; c++) {
            float g0 = cpu_clamp((ka * f0[c] + kb * ((box0[c] + box1[c]) + box2[c])) + off[c], lim);
            float g1 = cpu_clamp((ka * f1[c] + kb * ((box0[C + c] + box1[C + c]) + box2[C + c])) + off[c], lim);
            float g2 = cpu_clamp((ka * f2[c] + kb * ((box0[2 * C + c] + box1[2 * C + c]) + box2[2 * C + c])) + off[c],
                                 lim);
            float g3 = cpu_clamp((ka * f3[c] + kb * ((box0[3 * C + c] + box1[3 * C + c]) + box2[3 * C + c])) + off[c],
                                 lim);
            f0[c] = g0;
            f1[c] = g1;
            f2[c] = g2;
            f3[c] = g3;
            rs[c] = (((rs[c] + g0) + g1) + g2) + g3;
            float a0 = fabsf(g0), a1 = fabsf(g1), a2 = fabsf(g2), a3 = fabsf(g3);
            ra[c] = (((ra[c] + a0) + a1) + a2) + a3;
            sat += (uint32_t)(a0 == lim) + (uint32_t)(a1 == lim) + (uint32_t)(a2 == lim) + (uint32_t)(a3 == lim);
        }
    } else {
        for (size_t c = 0; c < C; c++) {
            float g0 = cpu_clamp(d * f0[c] + off[c], lim);
            float g1 = cpu_clamp(d * f1[c] + off[c], lim);
            float g2 = cpu_clamp(d * f2[c] + off[c], lim);
            float g3 = cpu_clamp(d * f3[c] + off[c], lim);
            f0[c] = g0;
            f1[c] = g1;
            f2[c] = g2;
            f3[c] = g3;
            rs[c] = (((rs[c] + g0) + g1) + g2) + g3;
            float a0 = fabsf(g0), a1 = fabsf(g1), a2 = fabsf(g2), a3 = fabsf(g3);
            ra[c] = (((ra[c] + a0) + a1) + a2) + a3;
            sat += (uint32_t)(a0 == lim) + (uint32_t)(a1 == lim) + (uint32_t)(a2 == lim) + (uint32_t)(a3 == lim);
        }
    }
    return sat;
}

/* cpu_sweep4 on an activity cycle, for points that neither energy nor noise
 * picked: the same values and sums, and also |F| after step 5 (before the
 * clamp) into act, and (both) the clamped values once more into rs_e and ra_e
 * (the sums as they are if energy is added: the same additions in the same
 * order wherever energy adds nothing). */
static inline __attribute__((always_inline)) uint32_t
cpu_sweep4_act_body(bool diffuse, bool both, cpu_consts k, size_t C, float *restrict f0, float *restrict f1, float *restrict f2,
                    float *restrict f3, const float *restrict box0, const float *restrict box1,
                    const float *restrict box2, const float *restrict off, float *restrict rs, float *restrict ra,
                    float *restrict act, float *restrict rs_e, float *restrict ra_e)
{
    const float d = k.decay, ka = k.keep_in, kb = k.keep_box, lim = k.lim;
    uint32_t sat = 0;
    for (size_t c = 0; c < C; c++) {
        float g0, g1, g2, g3;
        if (diffuse) {
            g0 = (ka * f0[c] + kb * ((box0[c] + box1[c]) + box2[c])) + off[c];
            g1 = (ka * f1[c] + kb * ((box0[C + c] + box1[C + c]) + box2[C + c])) + off[c];
            g2 = (ka * f2[c] + kb * ((box0[2 * C + c] + box1[2 * C + c]) + box2[2 * C + c])) + off[c];
            g3 = (ka * f3[c] + kb * ((box0[3 * C + c] + box1[3 * C + c]) + box2[3 * C + c])) + off[c];
        } else {
            g0 = d * f0[c] + off[c];
            g1 = d * f1[c] + off[c];
            g2 = d * f2[c] + off[c];
            g3 = d * f3[c] + off[c];
        }
        act[c] = (((act[c] + fabsf(g0)) + fabsf(g1)) + fabsf(g2)) + fabsf(g3);
        g0 = cpu_clamp(g0, lim);
        g1 = cpu_clamp(g1, lim);
        g2 = cpu_clamp(g2, lim);
        g3 = cpu_clamp(g3, lim);
        f0[c] = g0;
        f1[c] = g1;
        f2[c] = g2;
        f3[c] = g3;
        const float s = (((rs[c] + g0) + g1) + g2) + g3;
        rs[c] = s;
        float a0 = fabsf(g0), a1 = fabsf(g1), a2 = fabsf(g2), a3 = fabsf(g3);
        ra[c] = (((ra[c] + a0) + a1) + a2) + a3;
        if (both) {
            rs_e[c] = (((rs_e[c] + g0) + g1) + g2) + g3;
            ra_e[c] = (((ra_e[c] + a0) + a1) + a2) + a3;
        }
        sat += (uint32_t)(a0 == lim) + (uint32_t)(a1 == lim) + (uint32_t)(a2 == lim) + (uint32_t)(a3 == lim);
    }
    return sat;
}

/* (the body once for each case, so that no loop tests for diffusion or both
 * outcomes; rs_e and ra_e are not touched unless both) */
CPU_HOT static uint32_t cpu_sweep4_act(bool both, cpu_consts k, size_t C, float *restrict f0, float *restrict f1,
                                       float *restrict f2, float *restrict f3, const float *restrict box0,
                                       const float *restrict box1, const float *restrict box2,
                                       const float *restrict off, float *restrict rs, float *restrict ra,
                                       float *restrict act, float *restrict rs_e, float *restrict ra_e)
{
    if (box0 && both)
        return cpu_sweep4_act_body(true, true, k, C, f0, f1, f2, f3, box0, box1, box2, off, rs, ra, act, rs_e, ra_e);
    if (box0)
        return cpu_sweep4_act_body(true, false, k, C, f0, f1, f2, f3, box0, box1, box2, off, rs, ra, act, NULL, NULL);
    if (both)
        return cpu_sweep4_act_body(false, true, k, C, f0, f1, f2, f3, NULL, NULL, NULL, off, rs, ra, act, rs_e, ra_e);
    return cpu_sweep4_act_body(false, false, k, C, f0, f1, f2, f3, NULL, NULL, NULL, off, rs, ra, act, NULL, NULL);
}

/* cpu_sweep4 and cpu_sweep4_act on one point, for the points of a row
 * between runs of 4 and the points noise or energy picked (not motors): the
 * arithmetic of cpu_advance1 (noise added after steps 2-3, then the offset),
 * of cpu_clamp1 and, on an activity cycle (act), of cpu_abs_add1 and of step
 * 6 as cpu_pass_row does it, element for element in the same order, without
 * the scratch rows. With both outcomes (spec), energy (not NULL: the pick's
 * draws) is overwritten with the clamped values with energy, the sums of
 * that outcome go to rs_e, ra_e and *sat_e, and f gets the values without;
 * otherwise f gets the values with energy. Returns the elements at the
 * clamp of what f gets. */
static inline __attribute__((always_inline)) uint32_t
cpu_sweep1_body(bool diffuse, bool act_sum, bool spec, cpu_consts k, size_t C, float *restrict f, const float *restrict box0,
                const float *restrict box1, const float *restrict box2, const float *restrict noise,
                float *restrict energy, const float *restrict off, float *restrict rs, float *restrict ra,
                float *restrict act, float *restrict rs_e, float *restrict ra_e, uint32_t *sat_e)
{
    const float d = k.decay, ka = k.keep_in, kb = k.keep_box, lim = k.lim;
    uint32_t sat = 0, se = 0;
    for (size_t c = 0; c < C; c++) {
        float g = diffuse ? ka * f[c] + kb * ((box0[c] + box1[c]) + box2[c]) : d * f[c];
        if (noise)
            g += noise[c];
        g += off[c];
        if (act_sum)
            act[c] += fabsf(g);
        const float v = cpu_clamp(!spec && energy ? g + energy[c] : g, lim), a = fabsf(v);
        f[c] = v;
        rs[c] += v;
        ra[c] += a;
        sat += a == lim;
        if (!spec)
            continue;
        if (energy) {
            const float ve = cpu_clamp(g + energy[c], lim), ae = fabsf(ve);
            energy[c] = ve;
            rs_e[c] += ve;
            ra_e[c] += ae;
            se += ae == lim;
        } else {
            rs_e[c] += v;
            ra_e[c] += a;
        }
    }
    if (spec)
        *sat_e += energy ? se : sat;
    return sat;
}

/* (the body once for each kind of point, so that no loop tests what it is) */
CPU_HOT static uint32_t cpu_sweep1(cpu_consts k, size_t C, float *restrict f, const float *restrict box0,
                                   const float *restrict box1, const float *restrict box2,
                                   const float *restrict noise, const float *restrict off, float *restrict rs,
                                   float *restrict ra)
{
    if (box0) {
        if (noise)
            return cpu_sweep1_body(true, false, false, k, C, f, box0, box1, box2, noise, NULL, off, rs, ra, NULL,
                                   NULL, NULL, NULL);
        return cpu_sweep1_body(true, false, false, k, C, f, box0, box1, box2, NULL, NULL, off, rs, ra, NULL, NULL,
                               NULL, NULL);
    }
    if (noise)
        return cpu_sweep1_body(false, false, false, k, C, f, NULL, NULL, NULL, noise, NULL, off, rs, ra, NULL, NULL,
                               NULL, NULL);
    return cpu_sweep1_body(false, false, false, k, C, f, NULL, NULL, NULL, NULL, NULL, off, rs, ra, NULL, NULL, NULL,
                           NULL);
}

CPU_HOT static uint32_t cpu_sweep1_act(bool spec, cpu_consts k, size_t C, float *restrict f, const float *restrict box0,
                                       const float *restrict box1, const float *restrict box2,
                                       const float *restrict noise, float *restrict energy,
                                       const float *restrict off, float *restrict rs, float *restrict ra,
                                       float *restrict act, float *restrict rs_e, float *restrict ra_e,
                                       uint32_t *sat_e)
{
#define CPU_SWEEP1_ACT(diffuse, nz, en)                                                                          \
    (spec ? cpu_sweep1_body(diffuse, true, true, k, C, f, box0, box1, box2, nz, en, off, rs, ra, act, rs_e, ra_e,   \
                            sat_e)                                                                                 \
          : cpu_sweep1_body(diffuse, true, false, k, C, f, box0, box1, box2, nz, en, off, rs, ra, act, NULL, NULL,  \
                            NULL))
    if (box0) {
        if (noise)
            return energy ? CPU_SWEEP1_ACT(true, noise, energy) : CPU_SWEEP1_ACT(true, noise, NULL);
        return energy ? CPU_SWEEP1_ACT(true, NULL, energy) : CPU_SWEEP1_ACT(true, NULL, NULL);
    }
    if (noise)
        return energy ? CPU_SWEEP1_ACT(false, noise, energy) : CPU_SWEEP1_ACT(false, noise, NULL);
    return energy ? CPU_SWEEP1_ACT(false, NULL, energy) : CPU_SWEEP1_ACT(false, NULL, NULL);
#undef CPU_SWEEP1_ACT
}

/* rs += v, ra += |v|: a clamped point into a row's sums. */
CPU_HOT static void cpu_row_add1(size_t C, const float *restrict v, float *restrict rs, float *restrict ra)
{
    for (size_t c = 0; c < C; c++) {
        rs[c] += v[c];
        ra[c] += fabsf(v[c]);
    }
}

/* Step 7 at a motor spot: the sum over channels before the clamp, into sums
 * (cb->motor_sum, or cb->motor_sum_e for the outcome with energy). */
static void cpu_record_motors(cpu_brain *cb, uint32_t point, const float *v, double *sums)
{
    double s = 0.0;
    for (uint32_t c = 0; c < cb->C; c++)
        s += v[c];
    for (uint32_t j = 0; j < cb->p.motors; j++) {
        const uint32_t *m = cb->motor_spots + 3 * j;
        if ((m[0] * cb->Y + m[1]) * cb->Z + m[2] == point)
            sums[j] = s;
    }
}

/* The index of the first pick at or after point in a sparse list. */
static uint32_t cpu_first_pick(const cpu_sparse *list, uint32_t point)
{
    uint32_t lo = 0, hi = list->n;
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (list->points[mid] < point)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

/* The point of pick i of a sparse list (CPU_NO_POINT: none left). */
static inline uint32_t cpu_next_pick(const cpu_sparse *list, uint32_t i)
{
    return i < list->n ? list->points[i] : CPU_NO_POINT;
}

/* A row's float sums into a slab's double sums: sum += rs and, unless wsum
 * is NULL, wsum += nxy (3 rs - first - last) and abs += ra (first, last: the
 * row's end points). restrict, so that it vectorises: through the fields of
 * cpu_worker the compiler must assume the sums overlap. */
CPU_HOT static void cpu_row_into(size_t C, double nxy, const float *restrict rs, const float *restrict ra,
                                 const float *restrict first, const float *restrict last, double *restrict sum,
                                 double *restrict wsum, double *restrict abs)
{
    for (size_t c = 0; c < C; c++)
        sum[c] += rs[c];
    if (!wsum)
        return;
    for (size_t c = 0; c < C; c++)
        wsum[c] += nxy * (3.0 * rs[c] - first[c] - last[c]);
    for (size_t c = 0; c < C; c++)
        abs[c] += ra[c];
}

/* One row of Z points at (x, y) through this cycle's pass (the rows of a
 * slab are not visited in point order when it diffuses: each row finds its
 * first noise and energy pick; the energy list is empty unless this is an
 * activity cycle). On an activity cycle (cb->speculate) the row is written
 * without energy, and the energy picks' values with energy go to their slots
 * of the draws list (see "Activity in the same pass"); on one whose outcome
 * is known (cb->measure_act) the row is written with any energy picked, and
 * |F| after step 5 summed. */
static void cpu_pass_row(cpu_brain *cb, cpu_worker *w, uint32_t x, uint32_t y, const float *const *box_rows)
{
    const brain_params *p = &cb->p;
    const uint32_t Z = cb->Z, C = cb->C;
    const uint32_t point0 = (x * cb->Y + y) * Z;
    const bool spec = cb->speculate, act = spec || cb->measure_act;
    const bool has_motor = cb->motor_rows[x * cb->Y + y];
    uint32_t next_noise = w->noise.n ? cpu_first_pick(&w->noise, point0) : 0;
    uint32_t next_energy = w->energy.n ? cpu_first_pick(&w->energy, point0) : 0;
    float *row = cb->field + (size_t)point0 * C;
    /* the first and last point of the row with energy (for W) */
    const float *first_e = row, *last_e = row + (size_t)(Z - 1) * C;
    memset(w->row_sum, 0, C * sizeof(float));
    memset(w->row_abs, 0, C * sizeof(float));
    w->row_sat = 0;
    if (act)
        memset(w->row_act, 0, C * sizeof(float));
    if (spec) {
        memset(w->row_sum_e, 0, C * sizeof(float));
        memset(w->row_abs_e, 0, C * sizeof(float));
        w->row_sat_e = 0;
    }
    const cpu_consts k = {p->decay, cb->keep_in, cb->keep_box, p->clamp_limit};
    for (uint32_t z = 0; z < Z; z++) {
        const uint32_t noise_point = cpu_next_pick(&w->noise, next_noise);
        const uint32_t energy_point = cpu_next_pick(&w->energy, next_energy);
        /* the points up to the next one with noise, energy or a motor, 4 at a
         * time (both picks lie at or after this point) */
        uint32_t end = z;
        if (has_motor) {
            while (end < Z && point0 + end != noise_point && point0 + end != energy_point &&
                   !cb->motor_mask[point0 + end])
                end++;
        } else {
            const uint64_t pick = noise_point < energy_point ? noise_point : energy_point;
            end = pick - point0 < Z ? (uint32_t)(pick - point0) : Z;
        }
        for (; z + 4 <= end; z += 4) {
            float *f = row + (size_t)z * C;
            /* without diffusion nothing has read the field ahead of the
             * pass: ask for the points 16 on (a 4 KB lead at 64 channels;
             * the hardware's prefetch alone leaves the cores waiting) */
            for (size_t o = 0; !box_rows && o < 4 * (size_t)C; o += 16)
                __builtin_prefetch(f + 16 * (size_t)C + o, 1);
            const float *b0 = NULL, *b1 = NULL, *b2 = NULL;
            if (box_rows) {
                b0 = box_rows[0] + (size_t)z * C;
                b1 = box_rows[1] + (size_t)z * C;
                b2 = box_rows[2] + (size_t)z * C;
            }
            if (act) {
                uint32_t sat = cpu_sweep4_act(spec, k, C, f, f + C, f + 2 * C, f + 3 * C, b0, b1, b2, cb->offset,
                                              w->row_sum, w->row_abs, w->row_act, w->row_sum_e, w->row_abs_e);
                w->row_sat += sat;
                w->row_sat_e += sat;
            } else {
                w->row_sat += cpu_sweep4(k, C, f, f + C, f + 2 * C, f + 3 * C, b0, b1, b2, cb->offset,
                                         w->row_sum, w->row_abs);
            }
        }
        if (z == Z)
            break;
        /* one point at a time: the rest of a run, or a point with noise,
         * energy or a motor */
        const uint32_t here = point0 + z;
        float *f = row + (size_t)z * C;
        const float *b0 = NULL, *b1 = NULL, *b2 = NULL, *noise = NULL;
        float *energy = NULL;
        if (box_rows) {
            b0 = box_rows[0] + (size_t)z * C;
            b1 = box_rows[1] + (size_t)z * C;
            b2 = box_rows[2] + (size_t)z * C;
        }
        if (here == noise_point)
            noise = w->noise.draws + (size_t)next_noise++ * C;
        if (here == energy_point)
            energy = w->energy.draws + (size_t)next_energy++ * C;
        if (!cb->motor_mask[here]) {
            if (!act) {
                w->row_sat += cpu_sweep1(k, C, f, b0, b1, b2, noise, cb->offset, w->row_sum, w->row_abs);
                continue;
            }
            w->row_sat += cpu_sweep1_act(spec, k, C, f, b0, b1, b2, noise, energy, cb->offset, w->row_sum, w->row_abs,
                                         w->row_act, w->row_sum_e, w->row_abs_e, &w->row_sat_e);
            if (spec && energy && z == 0)
                first_e = energy;
            if (spec && energy && z == Z - 1)
                last_e = energy;
            continue;
        }
        /* a motor spot: steps 2-5 */
        cpu_advance1(k, C, w->scratch, f, b0, b1, b2, noise, cb->offset);
        if (!act) {
            cpu_record_motors(cb, here, w->scratch, cb->motor_sum);
            w->row_sat += cpu_clamp1(k.lim, C, f, w->scratch, w->row_sum, w->row_abs);
            continue;
        }
        cpu_abs_add1(C, w->scratch, w->row_act);
        const float *with_energy = w->scratch;
        if (energy) {
            /* step 6, after step 5 */
            for (uint32_t c = 0; c < C; c++)
                w->scratch_e[c] = w->scratch[c] + energy[c];
            with_energy = w->scratch_e;
        }
        if (!spec) {
            /* the outcome is known: energy (if picked) is due */
            cpu_record_motors(cb, here, with_energy, cb->motor_sum);
            w->row_sat += cpu_clamp1(k.lim, C, f, with_energy, w->row_sum, w->row_abs);
            continue;
        }
        {
            cpu_record_motors(cb, here, w->scratch, cb->motor_sum);
            cpu_record_motors(cb, here, with_energy, cb->motor_sum_e);
        }
        uint32_t sat = cpu_clamp1(k.lim, C, f, w->scratch, w->row_sum, w->row_abs);
        w->row_sat += sat;
        if (energy) {
            w->row_sat_e += cpu_clamp1(k.lim, C, energy, w->scratch_e, w->row_sum_e, w->row_abs_e);
            if (z == 0)
                first_e = energy;
            if (z == Z - 1)
                last_e = energy;
        } else {
            cpu_row_add1(C, f, w->row_sum_e, w->row_abs_e);
            w->row_sat_e += sat;
        }
    }

    /* S, W (the weights of z are 3 inside and 2 at the ends: 3 S - ends),
     * |F| and the saturated count of the clamped row */
    const double nxy = (double)(cpu_neighbours(x, cb->X) * cpu_neighbours(y, cb->Y));
    cpu_row_into(C, nxy, w->row_sum, w->row_abs, row, row + (size_t)(Z - 1) * C, w->sum, w->wsum, w->abs_sum);
    w->sat_count += w->row_sat;
    if (act)
        cpu_row_into(C, 0.0, w->row_act, NULL, NULL, NULL, w->act_sum, NULL, NULL);
    if (!spec)
        return;
    cpu_row_into(C, nxy, w->row_sum_e, w->row_abs_e, first_e, last_e, w->sum_e, w->wsum_e, w->abs_sum_e);
    w->sat_count_e += w->row_sat_e;
}

/* The pass over one slab. Diffusion runs in place, in tiles of tile_rows
 * rows of y across the slab: for each x the (y, z) box sums of the tile's rows
 * of plane x+1 are computed before plane x is written (three planes' worth in
 * turn in w->ring, small enough to stay in the core's cache, where whole
 * planes would not); the z sums of each plane's last row of a tile are kept
 * in w->halo for the next tile, whose first box sums need that row as it was;
 * the planes next to the slab, which other threads write, were summed by
 * cpu_job_prepare. */
static void cpu_job_pass(cpu_brain *cb, uint32_t worker, uint32_t x0, uint32_t x1)
{
    const uint32_t Y = cb->Y, C = cb->C;
    const size_t row = (size_t)cb->Z * C;
    cpu_worker *w = &cb->workers[worker];
    memset(w->sum, 0, C * sizeof(double));
    memset(w->wsum, 0, C * sizeof(double));
    memset(w->abs_sum, 0, C * sizeof(double));
    w->sat_count = 0;
    if (cb->speculate || cb->measure_act)
        memset(w->act_sum, 0, C * sizeof(double));
    if (cb->speculate) {
        memset(w->sum_e, 0, C * sizeof(double));
        memset(w->wsum_e, 0, C * sizeof(double));
        memset(w->abs_sum_e, 0, C * sizeof(double));
        w->sat_count_e = 0;
    }
    if (!cb->cyc->diffusion) {
        for (uint32_t x = x0; x < x1; x++)
            for (uint32_t y = 0; y < Y; y++)
                cpu_pass_row(cb, w, x, y, NULL);
        return;
    }
    const uint32_t T = cb->tile_rows;
    for (uint32_t ya = 0; ya < Y; ya += T) {
        const uint32_t yb = ya + T < Y ? ya + T : Y;
        float *halo = w->halo;  /* the row of plane x: halo + (x - x0) * row */
        float *slot[3];         /* the box sums of the tile in plane x: slot[(x - x0) % 3] */
        for (int i = 0; i < 3; i++)
            slot[i] = w->ring + (size_t)i * T * row;
        cpu_box_rows(cb, w, x0, ya, yb, halo, yb < Y ? halo : NULL, slot[0]);
        for (uint32_t x = x0; x < x1; x++) {
            const float *before = x > x0 ? slot[(x - x0 + 2) % 3] : x > 0 ? w->edge_lo + (size_t)ya * row : NULL;
            const float *here = slot[(x - x0) % 3];
            const float *after = NULL;
            if (x + 1 < x1) {
                float *h = halo + (size_t)(x + 1 - x0) * row;
                cpu_box_rows(cb, w, x + 1, ya, yb, h, yb < Y ? h : NULL, slot[(x + 1 - x0) % 3]);
                after = slot[(x + 1 - x0) % 3];
            } else if (x + 1 < cb->X) {
                after = w->edge_hi + (size_t)ya * row;
            }
            for (uint32_t y = ya; y < yb; y++) {
                const size_t at = (size_t)(y - ya) * row;
                const float *box_rows[3] = {before ? before + at : cb->zero_row, here + at,
                                            after ? after + at : cb->zero_row};
                cpu_pass_row(cb, w, x, y, box_rows);
            }
        }
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

/* Step 6 after an activity cycle's pass that found it due: each energy
 * pick's values with energy (clamped, in its slot of the draws list) into
 * the field, and the slab's sums of that outcome in place of the others. */
static void cpu_job_energize(cpu_brain *cb, uint32_t worker, uint32_t x0, uint32_t x1)
{
    (void)x0;
    (void)x1;
    cpu_worker *w = &cb->workers[worker];
    const size_t C = cb->C;
    for (uint32_t i = 0; i < w->energy.n; i++)
        memcpy(cb->field + (size_t)w->energy.points[i] * C, w->energy.draws + (size_t)i * C, C * sizeof(float));
    memcpy(w->sum, w->sum_e, C * sizeof(double));
    memcpy(w->wsum, w->wsum_e, C * sizeof(double));
    memcpy(w->abs_sum, w->abs_sum_e, C * sizeof(double));
    w->sat_count = w->sat_count_e;
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
        uint32_t weight = cpu_neighbours(s[0], cb->X) * cpu_neighbours(s[1], cb->Y) * cpu_neighbours(s[2], cb->Z);
        cb->sum[i % C] += add;
        cb->wsum[i % C] += (double)weight * add;
    }

    /* step 4's picks and the box sums next to each slab */
    for (uint32_t w = 0; w < n_workers; w++)
        cb->workers[w].noise.n = cb->workers[w].energy.n = 0;
    cb->prep_noise = cyc->noise;
    cb->prep_energy = false;
    cb->prep_planes = cyc->diffusion;
    if (cyc->noise || cyc->diffusion)
        cpu_run(cb, cpu_job_prepare);

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
    if (cyc->activity && due != 0) {
        cb->prep_noise = cb->prep_planes = false;
        cb->prep_energy = true;
        cpu_run(cb, cpu_job_prepare);
    }

    /* 2-5, 7 (motors) and 8 (clamp); on an activity cycle 6, or both of its
     * outcomes when it cannot be known before the pass */
    cb->speculate = cyc->activity && due < 0;
    cb->measure_act = cyc->activity && due >= 0;
    cpu_run(cb, cpu_job_pass);
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
            cpu_run(cb, cpu_job_energize);
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

static void cpu_job_init(cpu_brain *cb, uint32_t worker, uint32_t x0, uint32_t x1)
{
    (void)worker;
    const uint32_t C = cb->C, YZ = cb->Y * cb->Z;
    uint32_t key = rng_key(cb->p.seed, 0, RNG_STREAM_INIT);
    for (uint32_t point = x0 * YZ; point < x1 * YZ; point++)
        cpu_normals(key, point, C, cb->p.init_std, cb->field + (size_t)point * C);
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
    cpu_run(cb, cpu_job_measure);
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
    for (uint32_t i = 0; i < CPU_MAX_THREADS; i++) {
        cpu_worker *w = &cb->workers[i];
        free(w->zrows);
        free(w->halo);
        free(w->ring);
        free(w->edge_hi);
        free(w->edge_lo);
        free(w->scratch_e);
        free(w->scratch);
        free(w->row_abs_e);
        free(w->row_sum_e);
        free(w->row_act);
        free(w->abs_sum_e);
        free(w->wsum_e);
        free(w->sum_e);
        free(w->act_sum);
        free(w->row_abs);
        free(w->row_sum);
        free(w->noise_sum);
        free(w->abs_sum);
        free(w->wsum);
        free(w->sum);
    }
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

static const brain_ops cpu_ops = {
    .name = "cpu",
    .step = cpu_step,
    .read_field = cpu_read_field,
    .read_slab = cpu_read_slab,
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
    cb->tile_rows = cpu_choose_tile_rows(cb->Y, (size_t)cb->Z * cb->C);
    pthread_mutex_init(&cb->lock, NULL);
    pthread_cond_init(&cb->wake, NULL);
    pthread_cond_init(&cb->done, NULL);

    size_t bytes = cb->count * sizeof(float);
    size_t row = (size_t)cb->Z * cb->C, plane = (size_t)cb->Y * row;
    cb->field = aligned_alloc(64, (bytes + 63) / 64 * 64);
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
    for (uint32_t i = 0; ok && i < cb->n_workers; i++) {
        cpu_worker *w = &cb->workers[i];
        uint32_t x0, x1;
        cpu_slab(cb, i, &x0, &x1);
        w->sum = calloc(cb->C, sizeof(double));
        w->wsum = calloc(cb->C, sizeof(double));
        w->abs_sum = calloc(cb->C, sizeof(double));
        w->noise_sum = calloc(cb->C, sizeof(double));
        w->row_sum = calloc(cb->C, sizeof(float));
        w->row_abs = calloc(cb->C, sizeof(float));
        w->scratch = calloc(cb->C, sizeof(float));
        w->act_sum = calloc(cb->C, sizeof(double));
        w->sum_e = calloc(cb->C, sizeof(double));
        w->wsum_e = calloc(cb->C, sizeof(double));
        w->abs_sum_e = calloc(cb->C, sizeof(double));
        w->row_act = calloc(cb->C, sizeof(float));
        w->row_sum_e = calloc(cb->C, sizeof(float));
        w->row_abs_e = calloc(cb->C, sizeof(float));
        w->scratch_e = calloc(cb->C, sizeof(float));
        w->edge_lo = malloc(plane * sizeof(float));
        w->edge_hi = malloc(plane * sizeof(float));
        w->ring = malloc(3 * (size_t)cb->tile_rows * row * sizeof(float));
        w->halo = malloc(((size_t)(x1 - x0) + 1) * row * sizeof(float));
        w->zrows = malloc(3 * row * sizeof(float));
        w->noise.points = cb->noise_points + (size_t)x0 * cb->Y * cb->Z;
        w->noise.draws = cb->noise_draws + (size_t)x0 * plane;
        w->energy.points = cb->energy_points + (size_t)x0 * cb->Y * cb->Z;
        w->energy.draws = cb->energy_draws + (size_t)x0 * plane;
        ok = w->sum && w->wsum && w->abs_sum && w->noise_sum && w->row_sum && w->row_abs &&
             w->scratch && w->act_sum && w->sum_e && w->wsum_e && w->abs_sum_e && w->row_act && w->row_sum_e &&
             w->row_abs_e && w->scratch_e && w->edge_lo && w->edge_hi && w->ring && w->halo && w->zrows;
    }
    if (!ok) {
        uint32_t nw = cb->n_workers;
        cb->n_workers = 1;
        cpu_destroy(cb);
        return brain_fail(init->err, init->err_len, BRAIN_ERR_NOMEM,
                          "field %ux%ux%u x %u needs %.1f MB twice (%u threads); out of memory",
                          p->size_x, p->size_y, p->size_z, p->channels, bytes / 1e6, nw);
    }
    for (uint32_t j = 0; j < p->motors; j++) {
        const uint32_t *m = cb->motor_spots + 3 * j;
        cb->motor_mask[(m[0] * cb->Y + m[1]) * cb->Z + m[2]] = 1;
        cb->motor_rows[m[0] * cb->Y + m[1]] = 1;
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
    cpu_run(cb, cpu_job_measure);
    cpu_gather_sums(cb);

    snprintf(init->device_name, BRAIN_DEVICE_LEN, "cpu: %u thread%s", cb->n_workers,
             cb->n_workers == 1 ? "" : "s");
    if (init->device_reason[0] == '\0')
        snprintf(init->device_reason, 256, "backend cpu requested");
    *ops = &cpu_ops;
    *impl = cb;
    return BRAIN_OK;
}
