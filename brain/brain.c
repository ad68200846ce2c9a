/* brain.c: the backend-independent part of the brain: the choice of
 * backend, the spots, and the per-cycle schedule (which steps run, the
 * random keys) handed to the backend. The parameters and their rules are
 * brain_params.c. */
#include "brain_internal.h"
#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct brain {
    brain_params p;
    const brain_ops *ops;
    void *impl;
    brain_backend backend;
    uint64_t cycle;
    uint32_t *sensor_spots;    /* sensors x 3 */
    uint32_t *motor_spots;     /* motors x 3 */
    float *sensor_scratch;     /* sensors, padded with zeros */
    char device_name[BRAIN_DEVICE_LEN];
    char device_reason[256];
};

static void brain_draw_spots(uint64_t seed, uint32_t stream, uint32_t n,
                             const brain_params *p, uint32_t *spots)
{
    uint32_t key = rng_key(seed, 0, stream);
    for (uint32_t i = 0; i < n; i++) {
        spots[3 * i + 0] = rng_below(rng_bits(key, i, 0), p->size_x);
        spots[3 * i + 1] = rng_below(rng_bits(key, i, 1), p->size_y);
        spots[3 * i + 2] = rng_below(rng_bits(key, i, 2), p->size_z);
    }
}

int brain_create(const brain_params *p, brain **out, char *err, size_t err_len)
{
    return brain__create(p, p, NULL, 0, out, err, err_len);
}

int brain__create(const brain_params *p, const brain_params *backend_p, void *shared, uint32_t fleet_n,
                  brain **out, char *err, size_t err_len)
{
    *out = NULL;
    int rc = brain_params_check(p, err, err_len);
    if (rc)
        return rc;
    brain *b = calloc(1, sizeof *b);
    if (!b)
        return fb_fail(err, err_len, BRAIN_ERR_NOMEM, "out of memory");
    b->p = *p;
    b->p.device[BRAIN_DEVICE_LEN - 1] = '\0';
    b->sensor_spots = malloc(sizeof(uint32_t) * 3 * p->sensors);
    b->motor_spots = malloc(sizeof(uint32_t) * 3 * p->motors);
    b->sensor_scratch = calloc(p->sensors, sizeof(float));
    if (!b->sensor_spots || !b->motor_spots || !b->sensor_scratch) {
        brain_destroy(&b);
        return fb_fail(err, err_len, BRAIN_ERR_NOMEM, "out of memory");
    }
    brain_draw_spots(p->seed, RNG_STREAM_SENSOR_SPOTS, p->sensors, p, b->sensor_spots);
    brain_draw_spots(p->seed, RNG_STREAM_MOTOR_SPOTS, p->motors, p, b->motor_spots);

    brain_params bp = *backend_p;
    bp.device[BRAIN_DEVICE_LEN - 1] = '\0';
    brain_backend_init init = {
        .p = &bp,
        .shared = shared,
        .fleet_n = fleet_n,
        .sensor_spots = b->sensor_spots,
        .motor_spots = b->motor_spots,
        .device_name = b->device_name,
        .device_reason = b->device_reason,
        .err = err,
        .err_len = err_len,
    };
    if (p->backend == BRAIN_BACKEND_CPU) {
        rc = brain_cpu_create(&init, &b->ops, &b->impl);
        b->backend = BRAIN_BACKEND_CPU;
    } else {
        init.require_gpu = p->backend == BRAIN_BACKEND_AUTO && p->device[0] == '\0';
        rc = brain_vk_create(&init, &b->ops, &b->impl);
        b->backend = BRAIN_BACKEND_VULKAN;
        /* No CPU fallback for f16: the CPU backend stores float32 only. */
        if (rc == BRAIN_ERR_DEVICE && p->backend == BRAIN_BACKEND_AUTO &&
            p->precision == BRAIN_PRECISION_F32) {
            char why[256];
            snprintf(why, sizeof why, "backend auto: no GPU (%s), so the CPU", err ? err : "");
            rc = brain_cpu_create(&init, &b->ops, &b->impl);
            b->backend = BRAIN_BACKEND_CPU;
            if (rc == 0)
                snprintf(b->device_reason, sizeof b->device_reason, "%s", why);
        }
    }
    if (rc) {
        brain_destroy(&b);
        return rc;
    }
    *out = b;
    return BRAIN_OK;
}

void brain_destroy(brain **bp)
{
    if (!bp || !*bp)
        return;
    brain *b = *bp;
    if (b->ops)
        b->ops->destroy(b->impl);
    free(b->sensor_scratch);
    free(b->motor_spots);
    free(b->sensor_spots);
    free(b);
    *bp = NULL;
}

int brain_step(brain *b, const float *sensors, uint32_t n_sensors,
               float *motors, brain_stats *stats)
{
    brain_cycle cyc;
    brain_stats local;
    brain_stats *s = stats ? stats : &local;
    int rc = brain__cycle_begin(b, sensors, n_sensors, &cyc, s);
    if (rc)
        return rc;
    if ((rc = b->ops->step(b->impl, &cyc, motors, s)))
        return rc;
    return brain__cycle_end(b, &cyc, motors, s);
}

int brain__cycle_begin(brain *b, const float *sensors, uint32_t n_sensors, brain_cycle *cyc,
                       brain_stats *s)
{
    const brain_params *p = &b->p;
    if (n_sensors > p->sensors || (n_sensors && !sensors))
        return BRAIN_ERR_PARAM;
    for (uint32_t i = 0; i < n_sensors; i++)
        if (!isfinite(sensors[i]))
            return BRAIN_ERR_PARAM;
    for (uint32_t i = 0; i < p->sensors; i++)
        b->sensor_scratch[i] = i < n_sensors ? sensors[i] : 0.0f;

    uint64_t t = b->cycle + 1;
    *cyc = (brain_cycle){
        .t = t,
        .sensors = b->sensor_scratch,
        .diffusion = t % p->diffusion_every == 0,
        .noise = t % p->noise_every == 0,
        .activity = t % p->activity_every == 0,
        .noise_key = rng_key(p->seed, t, RNG_STREAM_NOISE),
        .energy_key = rng_key(p->seed, t, RNG_STREAM_ENERGY),
        .noise_threshold = rng_threshold(p->noise_fraction),
        .energy_threshold = rng_threshold(p->energy_fraction),
    };
    memset(s, 0, sizeof *s);
    s->activity = -1.0f;
    s->gpu_ms = -1.0;
    return BRAIN_OK;
}

int brain__cycle_end(brain *b, const brain_cycle *cyc, const float *motors, brain_stats *s)
{
    const brain_params *p = &b->p;
    const uint64_t t = cyc->t;
    for (uint32_t j = 0; j < p->motors; j++)
        if (!isfinite(motors[j]))
            return BRAIN_ERR_NONFINITE;
    if (b->ops->state_finite && !b->ops->state_finite(b->impl))
        return BRAIN_ERR_NONFINITE;
    b->cycle = t;
    s->cycle = t;
    s->diffused = cyc->diffusion;
    s->noised = cyc->noise;
    return BRAIN_OK;
}

int brain_reset(brain *b)
{
    if (!b->ops->reset)
        return BRAIN_ERR_DEVICE;
    return b->ops->reset(b->impl);
}

int brain_set_params(brain *b, const brain_params *p, char *err, size_t err_len)
{
    const brain_params *o = &b->p;
    /* What was fixed at create: the buffers, spots, draws and device. */
    static const char *const why_shape = "it sets the size of the field and its buffers";
    const char *key = NULL, *why = NULL;
    if (p->size_x != o->size_x || p->size_y != o->size_y || p->size_z != o->size_z)
        key = "size", why = why_shape;
    else if (p->channels != o->channels)
        key = "channels", why = why_shape;
    else if (p->sensors != o->sensors || p->motors != o->motors)
        key = p->sensors != o->sensors ? "sensors" : "motors",
        why = "it sets the length of the wire messages and the spots drawn at start";
    else if (p->seed != o->seed)
        key = "seed", why = "every random draw and the spots follow from it";
    else if (p->backend != o->backend || strncmp(p->device, o->device, BRAIN_DEVICE_LEN) != 0)
        key = p->backend != o->backend ? "backend" : "device",
        why = "the field lives on the device chosen at start";
    else if (p->precision != o->precision)
        key = "precision", why = "the field is stored in it";
    else if (p->threads != o->threads)
        key = "threads", why = "the CPU backend starts its workers once";
    else if (p->validation != o->validation)
        key = "validation", why = "the Vulkan layers load at start";
    if (key)
        return fb_fail(err, err_len, BRAIN_ERR_PARAM,
                       "%s: cannot change while the brain runs (%s); restart with it", key, why);
    int rc = brain_params_check(p, err, err_len);
    if (rc)
        return rc;
    if (b->ops->set_params && (rc = b->ops->set_params(b->impl, p, err, err_len)))
        return rc;
    b->p = *p;
    b->p.device[BRAIN_DEVICE_LEN - 1] = '\0';
    return BRAIN_OK;
}

int brain_measure_bandwidth(brain *b, uint64_t bytes, double *bytes_per_s)
{
    if (!b->ops->measure_bandwidth)
        return BRAIN_ERR_DEVICE;
    return b->ops->measure_bandwidth(b->impl, bytes, bytes_per_s);
}

uint64_t brain_slab_count(const brain *b, uint32_t axis)
{
    const brain_params *p = &b->p;
    uint64_t plane = axis == 0 ? (uint64_t)p->size_y * p->size_z
                   : axis == 1 ? (uint64_t)p->size_x * p->size_z
                               : (uint64_t)p->size_x * p->size_y;
    return axis > 2 ? 0 : plane * p->channels;
}

int brain_read_slab(brain *b, uint32_t axis, uint32_t index, float *dst)
{
    const uint32_t extent[3] = {b->p.size_x, b->p.size_y, b->p.size_z};
    if (axis > 2 || index >= extent[axis])
        return BRAIN_ERR_PARAM;
    if (!b->ops->read_slab)
        return BRAIN_ERR_DEVICE;
    return b->ops->read_slab(b->impl, axis, index, dst);
}

int brain_read_field(brain *b, float *dst) { return b->ops->read_field(b->impl, dst); }
int brain_write_field(brain *b, const float *src) { return b->ops->write_field(b->impl, src); }
int brain_read_momentum(brain *b, float *dst) { return b->ops->read_momentum(b->impl, dst); }
int brain_write_momentum(brain *b, const float *src) { return b->ops->write_momentum(b->impl, src); }

uint64_t brain_field_count(const brain *b)
{
    return (uint64_t)b->p.size_x * b->p.size_y * b->p.size_z * b->p.channels;
}

const brain_params *brain_get_params(const brain *b) { return &b->p; }
const brain_ops *brain__ops(const brain *b) { return b->ops; }
void *brain__impl(const brain *b) { return b->impl; }

const char *brain__bytes_text(uint64_t bytes, char *buf, size_t len)
{
    const double mib = (double)bytes / (1024.0 * 1024.0);
    if (mib >= 1024.0)
        snprintf(buf, len, "%.1f GiB", mib / 1024.0);
    else
        snprintf(buf, len, "%.1f MiB", mib);
    return buf;
}
uint64_t brain_get_cycle(const brain *b) { return b->cycle; }
const uint32_t *brain_sensor_spots(const brain *b) { return b->sensor_spots; }
const uint32_t *brain_motor_spots(const brain *b) { return b->motor_spots; }
brain_backend brain_get_backend(const brain *b) { return b->backend; }
const char *brain_device_name(const brain *b) { return b->device_name; }
const char *brain_device_reason(const brain *b) { return b->device_reason; }

/* For checkpoint.c: restores what lives in this struct. */
int brain_restore_state(brain *b, uint64_t cycle, const float *momentum, const float *field)
{
    int rc = b->ops->write_field(b->impl, field);
    if (rc)
        return rc;
    rc = b->ops->write_momentum(b->impl, momentum);
    if (rc)
        return rc;
    b->cycle = cycle;
    return BRAIN_OK;
}
