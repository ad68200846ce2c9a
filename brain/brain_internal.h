/* brain_internal.h: what brain.c shares with its backends (brain_cpu.c,
 * brain_vk.c) and the checkpoint code. Not part of the public door. */
#ifndef FIELDBRAIN_BRAIN_INTERNAL_H
#define FIELDBRAIN_BRAIN_INTERNAL_H

#include "brain.h"
#include "fail.h"

/* FNV-1a, 64 bits, of n bytes, going on from h (start from BRAIN_FNV_OFFSET):
 * the checkpoints' checksum of the field, and the tests' hash of results. */
#define BRAIN_FNV_OFFSET 0xcbf29ce484222325ULL
static inline uint64_t brain__fnv1a64(uint64_t h, const void *data, size_t n)
{
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) {
        h ^= p[i];
        h *= 0x100000001b3ULL;
    }
    return h;
}

/* Everything a backend needs to run cycle t, prepared by brain.c on the host
 * so both backends draw from the same keys and thresholds. */
typedef struct {
    uint64_t t;
    const float *sensors;   /* p.sensors values; missing ones are 0 */
    bool diffusion;         /* step 3 runs */
    bool noise;             /* step 4 runs */
    bool activity;          /* step 6 measures (and maybe injects) */
    uint32_t noise_key, energy_key;
    uint32_t noise_threshold, energy_threshold; /* pick if rng_bits(key, p, 0) < threshold */
} brain_cycle;

typedef struct {
    const char *name;
    /* Runs one cycle: fills motors (p.motors) and stats (cycle, energy,
     * saturated, activity, energized, gpu_ms; the rest is brain.c's). */
    int (*step)(void *impl, const brain_cycle *cyc, float *motors, brain_stats *stats);
    int (*read_field)(void *impl, float *dst);
    int (*write_field)(void *impl, const float *src);
    int (*read_momentum)(void *impl, float *dst);
    int (*write_momentum)(void *impl, const float *src);
    void (*destroy)(void *impl);
    /* Optional: the device's own copy bandwidth, read + write bytes per
     * second, measured on a buffer of about `bytes` (best of several). */
    int (*measure_bandwidth)(void *impl, uint64_t bytes, double *bytes_per_s);
    /* Optional: one plane of the field (axis and index checked by brain.c),
     * see brain_read_slab. */
    int (*read_slab)(void *impl, uint32_t axis, uint32_t index, float *dst);
    /* The field and momentum as brain_create drew them from the seed (the
     * carried sums and lazy terms with them). */
    int (*reset)(void *impl);
    /* Whether the state the backend holds on the host after a step (the
     * momentum; the motors are brain.c's to check) is finite. Called after
     * every step: cheap, no device access. */
    bool (*state_finite)(void *impl);
    /* The live parameters of p (brain.c has checked that nothing else
     * changed and that p is in range) for the next step on; may refuse a
     * value the backend cannot take live, with a sentence. */
    int (*set_params)(void *impl, const brain_params *p, char *err, size_t err_len);
    /* Optional, for fleets (fleet.c): one cycle of each of n brains of this
     * backend on one shared device, as n calls of step would run them
     * (cycs[i], motors[i], stats[i] for impls[i]), with one device
     * submission and one wait; rc[i] is step's result for brain i. Returns
     * 0, or a negative brain_err when the submission itself failed (then
     * every brain in it has rc[i] set). No allocation. */
    int (*step_many)(void *const *impls, uint32_t n, const brain_cycle *const *cycs,
                     float *const *motors, brain_stats *const *stats, int *rc);
    /* Optional: what brains made after this one may share with it (the
     * Vulkan device context), for brain_backend_init.shared. */
    void *(*shared)(void *impl);
} brain_ops;

/* What a backend's create gets and gives back. */
typedef struct {
    const brain_params *p;
    const uint32_t *sensor_spots;   /* p->sensors x 3 */
    const uint32_t *motor_spots;    /* p->motors x 3 */
    bool require_gpu;               /* backend auto: refuse CPU-type devices */
    void *shared;                   /* a fleet's brain after the first: ops->shared of it */
    uint32_t fleet_n;               /* the first brain of a fleet of fleet_n: check that
                                     * all fit in memory before allocating (0: alone) */
    char *device_name;              /* out, BRAIN_DEVICE_LEN */
    char *device_reason;            /* out, 256 */
    char *err;                      /* out */
    size_t err_len;
} brain_backend_init;

int brain_cpu_create(const brain_backend_init *init, const brain_ops **ops, void **impl);
int brain_vk_create(const brain_backend_init *init, const brain_ops **ops, void **impl);

/* For fleet.c: a brain made as brain_create makes it, but with backend_p
 * (p with the backend's own settings changed: threads) given to the
 * backend, sharing `shared` (NULL: its own device), and for the first brain
 * of a fleet of fleet_n (else 0) the fleet's memory check. */
int brain__create(const brain_params *p, const brain_params *backend_p, void *shared, uint32_t fleet_n,
                  brain **out, char *err, size_t err_len);
/* brain_step in three parts, for a fleet that steps many brains with one
 * backend call: begin checks the sensors and prepares cycle t (keys,
 * thresholds, the padded sensors in the brain's own scratch) and the stats'
 * defaults; the backend's step or step_many runs it; end checks the result
 * and counts the cycle. */
int brain__cycle_begin(brain *b, const float *sensors, uint32_t n_sensors, brain_cycle *cyc,
                       brain_stats *stats);
int brain__cycle_end(brain *b, const brain_cycle *cyc, const float *motors, brain_stats *stats);
const brain_ops *brain__ops(const brain *b);
void *brain__impl(const brain *b);
/* "1.5 MiB", "4.0 GiB": bytes for a sentence, into buf. */
const char *brain__bytes_text(uint64_t bytes, char *buf, size_t len);

/* checkpoint.c: replaces field, momentum and cycle (spots follow from the
 * seed, which the caller has checked). */
int brain_restore_state(brain *b, uint64_t cycle, const float *momentum, const float *field);

#endif
