/* cpu_internal.h: what the CPU backend's files share (brain_cpu.c runs a
 * cycle, cpu_kernels.c holds the per-slab arithmetic, cpu_pool.c the
 * threads). Private to brain/: nothing here is part of the door. */
#ifndef FIELDBRAIN_CPU_INTERNAL_H
#define FIELDBRAIN_CPU_INTERNAL_H

#include "brain_internal.h"
#include "cpu_pool.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CPU_NO_POINT UINT32_MAX

/* The sparse steps, whose picks and draws may be made ahead of their cycle
 * (brain_cpu.c, "Sparse draws ahead"). */
enum { CPU_NOISE, CPU_ENERGY, CPU_SPARSE_STEPS };

/* What is made ahead for one sparse step's next cycle: for the key,
 * threshold and std below when valid. */
typedef struct {
    bool valid;
    uint32_t key, threshold;
    float sd;
    uint32_t cycles_left;  /* this cycle's share: 1 / cycles_left of what is left */
    bool now;              /* this cycle's pass makes its share (cpu__job_pass) */
} cpu_ahead;

typedef struct cpu_brain cpu_brain;
/* One worker's share of a job: the x-slab [x0, x1) (see cpu_run). */
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
    /* what is made ahead of step s's next cycle (cb->ahead[s]): the picks of
     * the planes [x0, ahead_x[s]) of the slab, the first ahead_n[s] entries
     * of noise (with their sums in noise_sum and noise_abs) or energy */
    uint32_t ahead_x[CPU_SPARSE_STEPS], ahead_n[CPU_SPARSE_STEPS];
    /* diffusion (see cpu__job_pass): the (y, z) box sums of the planes next to
     * the slab, of 3 planes of a tile in turn, the z sums of each plane's row
     * before the tile, and 3 rows of z sums. Every array of a worker lies in
     * cb->worker_mem. */
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
    bool prep_noise, prep_energy, prep_planes;  /* what cpu__job_prepare does */
    cpu_ahead ahead[CPU_SPARSE_STEPS];  /* see "Sparse draws ahead" */
    bool energy_idle;      /* the last activity cycle knew energy was not due: none drawn ahead */
    float keep_in, keep_box;  /* step 3 as F' = keep_in F + keep_box B27 */

    /* the workers: x-slabs of the field, worker 0 on the caller's thread */
    uint32_t n_workers;
    uint32_t tile_rows;    /* diffusion: y rows per tile (cpu__job_pass) */
    cpu_worker workers[CPU_MAX_THREADS];
    void *worker_mem;      /* one block: every worker's arrays (cpu_carve_workers) */
    cpu_pool pool;
    cpu_job job;           /* the job cpu_run hands out */
};

/* How many of {i-1, i, i+1} lie in [0, n): the w(p) factors of brain_cpu.c,
 * "One pass per cycle". */
static inline uint32_t cpu__neighbours(uint32_t i, uint32_t n)
{
    return 1u + (i > 0) + (i + 1 < n);
}

/* The jobs of cpu_kernels.c, each on one x-slab. */
/* The initial field: init_std * rng_normal(key(seed, 0, INIT), point, c). */
void cpu__job_init(cpu_brain *cb, uint32_t worker, uint32_t x0, uint32_t x1);
/* S and W of the slab into the worker's sum and wsum (a read of the field). */
void cpu__job_measure(cpu_brain *cb, uint32_t worker, uint32_t x0, uint32_t x1);
/* Before a pass, as cb->prep_* say: step 4's picks and draws, step 6's, and
 * the box sums of the planes next to the slab. */
void cpu__job_prepare(cpu_brain *cb, uint32_t worker, uint32_t x0, uint32_t x1);
/* The one pass of a cycle: steps 2-5, 7 and 8 (and 6, or both of its
 * outcomes, on an activity cycle), with the slab's sums. */
void cpu__job_pass(cpu_brain *cb, uint32_t worker, uint32_t x0, uint32_t x1);
/* After a pass that kept both outcomes and found energy due: the outcome
 * with energy into the field and the slab's sums. */
void cpu__job_energize(cpu_brain *cb, uint32_t worker, uint32_t x0, uint32_t x1);

#endif
