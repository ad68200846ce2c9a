/* brain_internal.h: what brain.c shares with its backends (brain_cpu.c,
 * brain_vk.c) and the checkpoint code. Not part of the public door. */
#ifndef FIELDBRAIN_BRAIN_INTERNAL_H
#define FIELDBRAIN_BRAIN_INTERNAL_H

#include "brain.h"
#include "fail.h"

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
} brain_ops;

/* What a backend's create gets and gives back. */
typedef struct {
    const brain_params *p;
    const uint32_t *sensor_spots;   /* p->sensors x 3 */
    const uint32_t *motor_spots;    /* p->motors x 3 */
    bool require_gpu;               /* backend auto: refuse CPU-type devices */
    char *device_name;              /* out, BRAIN_DEVICE_LEN */
    char *device_reason;            /* out, 256 */
    char *err;                      /* out */
    size_t err_len;
} brain_backend_init;

int brain_cpu_create(const brain_backend_init *init, const brain_ops **ops, void **impl);
int brain_vk_create(const brain_backend_init *init, const brain_ops **ops, void **impl);

/* checkpoint.c: replaces field, momentum and cycle (spots follow from the
 * seed, which the caller has checked). */
int brain_restore_state(brain *b, uint64_t cycle, const float *momentum, const float *field);

#endif
