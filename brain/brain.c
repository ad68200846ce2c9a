/* brain.c: the backend-independent part of the brain: parameters and their
 * ranges, the choice of backend, the spots, and the per-cycle schedule
 * (which steps run, the random keys) handed to the backend. */
#include "brain_internal.h"
#include "rng.h"

#include <math.h>
#include <stdarg.h>
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

int brain_fail(char *err, size_t err_len, int code, const char *fmt, ...)
{
    if (err && err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, err_len, fmt, ap);
        va_end(ap);
    }
    return code;
}

const char *brain_strerror(int err)
{
    switch (err) {
    case BRAIN_OK: return "ok";
    case BRAIN_ERR_PARAM: return "parameter out of range";
    case BRAIN_ERR_NOMEM: return "out of host memory";
    case BRAIN_ERR_DEVICE: return "device error";
    case BRAIN_ERR_TOO_BIG: return "field does not fit the device";
    case BRAIN_ERR_IO: return "file error";
    case BRAIN_ERR_FORMAT: return "malformed checkpoint";
    case BRAIN_ERR_MISMATCH: return "checkpoint does not match the brain";
    }
    return "unknown error";
}

const char *brain_backend_name(brain_backend backend)
{
    switch (backend) {
    case BRAIN_BACKEND_AUTO: return "auto";
    case BRAIN_BACKEND_VULKAN: return "vulkan";
    case BRAIN_BACKEND_CPU: return "cpu";
    }
    return "?";
}

#define P_U32(k, lo, hi, d) { #k, BRAIN_PARAM_U32, offsetof(brain_params, k), lo, hi, d }
#define P_U64(k, lo, hi, d) { #k, BRAIN_PARAM_U64, offsetof(brain_params, k), lo, hi, d }
#define P_F(k, lo, hi, d) { #k, BRAIN_PARAM_FLOAT, offsetof(brain_params, k), lo, hi, d }

static const brain_param_info brain_params_info[] = {
    P_U32(size_x, 1, 4096, "grid points along x"),
    P_U32(size_y, 1, 4096, "grid points along y"),
    P_U32(size_z, 1, 4096, "grid points along z"),
    P_U32(channels, 1, 4096, "channels per point (C)"),
    P_U32(sensors, 1, 4096, "length of the sensor vector"),
    P_U32(motors, 1, 4096, "number of motors"),
    P_U64(seed, 0, 18446744073709551615.0, "seed of every random draw"),
    P_F(init_std, 0, 1e3, "std of the initial field"),
    P_F(sensor_gain, -1e6, 1e6, "sensor injection gain"),
    P_F(decay, 0, 1, "factor applied to the field every cycle"),
    P_U32(diffusion_every, 1, 1000000, "diffuse every N cycles"),
    P_F(diffusion_rate, 0, 1, "weight of the 3x3x3 box mean"),
    P_U32(noise_every, 1, 1000000, "sparse noise every N cycles"),
    P_F(noise_fraction, 0, 1, "probability that a point gets noise"),
    P_F(noise_std, 0, 1e3, "std of the noise"),
    P_F(momentum_keep, 0, 1, "how much momentum is kept each cycle"),
    P_F(momentum_gain, -1e3, 1e3, "how much momentum is added to the field"),
    P_U32(activity_every, 1, 1000000, "measure activity every N cycles"),
    P_F(activity_threshold, 0, 1e6, "inject energy when mean |F| is below this"),
    P_F(energy_fraction, 0, 1, "probability that a point gets energy"),
    P_F(energy_std, 0, 1e3, "std of the energy"),
    P_F(motor_gain, -1e6, 1e6, "gain inside tanh of the motor readout"),
    P_F(clamp_limit, 1e-6, 1e30, "the field is clamped to +-clamp_limit"),
    P_U32(threads, 0, 1024, "CPU backend threads; 0 = one per core"),
};

const brain_param_info *brain_param_table(size_t *count)
{
    *count = sizeof brain_params_info / sizeof brain_params_info[0];
    return brain_params_info;
}

void brain_params_default(brain_params *p)
{
    memset(p, 0, sizeof *p);
    p->size_x = p->size_y = p->size_z = 32;
    p->channels = 64;
    p->sensors = 16;
    p->motors = 5;
    p->seed = 1;
    p->init_std = 0.01f;
    p->sensor_gain = 0.3f;
    p->decay = 0.995f;
    p->diffusion_every = 5;
    p->diffusion_rate = 0.1f;
    p->noise_every = 3;
    p->noise_fraction = 0.01f;
    p->noise_std = 0.01f;
    p->momentum_keep = 0.9f;
    p->momentum_gain = 0.004f;
    p->activity_every = 10;
    p->activity_threshold = 0.05f;
    p->energy_fraction = 0.05f;
    p->energy_std = 0.05f;
    p->motor_gain = 5.0f;
    p->clamp_limit = 10.0f;
    p->backend = BRAIN_BACKEND_AUTO;
    p->threads = 0;
}

int brain_params_check(const brain_params *p, char *err, size_t err_len)
{
    size_t n;
    const brain_param_info *info = brain_param_table(&n);
    for (size_t i = 0; i < n; i++) {
        const char *field = (const char *)p + info[i].offset;
        double v;
        switch (info[i].type) {
        case BRAIN_PARAM_U32: v = *(const uint32_t *)(const void *)field; break;
        case BRAIN_PARAM_U64: v = (double)*(const uint64_t *)(const void *)field; break;
        default: v = *(const float *)(const void *)field; break;
        }
        double lo = info[i].min, hi = info[i].max;
        if (info[i].type == BRAIN_PARAM_FLOAT) {
            /* a float parameter is stored as float: compare with the bounds
             * as they round to float, so a value at a bound is accepted */
            lo = (float)lo;
            hi = (float)hi;
        }
        if (!(v >= lo && v <= hi))
            return brain_fail(err, err_len, BRAIN_ERR_PARAM,
                              "%s: %g is out of range (allowed %g to %g)",
                              info[i].key, v, info[i].min, info[i].max);
    }
    uint64_t count = (uint64_t)p->size_x * p->size_y * p->size_z * p->channels;
    if (count > 0xFFFFFFFFULL)
        return brain_fail(err, err_len, BRAIN_ERR_PARAM,
                          "field: %u x %u x %u x %u = %llu elements is too many "
                          "(allowed up to 4294967295)",
                          p->size_x, p->size_y, p->size_z, p->channels,
                          (unsigned long long)count);
    if (p->backend != BRAIN_BACKEND_AUTO && p->backend != BRAIN_BACKEND_VULKAN &&
        p->backend != BRAIN_BACKEND_CPU)
        return brain_fail(err, err_len, BRAIN_ERR_PARAM,
                          "backend: unknown value %d (allowed auto, vulkan, cpu)",
                          (int)p->backend);
    if (p->precision != BRAIN_PRECISION_F32 && p->precision != BRAIN_PRECISION_F16)
        return brain_fail(err, err_len, BRAIN_ERR_PARAM,
                          "precision: unknown value %d (allowed f32, f16)", (int)p->precision);
    if (p->precision == BRAIN_PRECISION_F16 && p->backend == BRAIN_BACKEND_CPU)
        return brain_fail(err, err_len, BRAIN_ERR_PARAM,
                          "precision: f16 needs the Vulkan backend (the CPU backend stores float32)");
    return BRAIN_OK;
}

bool brain_params_unstable(const brain_params *p, char *warn, size_t warn_len)
{
    double growth = (double)p->decay * (1.0 + (double)p->momentum_gain);
    if (growth < 1.0)
        return false;
    /* The channel means grow by about `growth - 1 + small` a cycle once the
     * momentum has built up; from init_std-sized means to the clamp. */
    double rate = growth - 1.0;
    double cycles = rate > 0 ? log((double)p->clamp_limit / fmax((double)p->init_std, 1e-6)) / log1p(rate)
                             : INFINITY;
    if (warn && warn_len) {
        if (isfinite(cycles))
            snprintf(warn, warn_len,
                     "decay * (1 + momentum_gain) = %.4f >= 1: the channel means grow "
                     "without bound and the field will saturate at +-%g by about cycle %.0f "
                     "(lower momentum_gain or decay)",
                     growth, (double)p->clamp_limit, cycles);
        else
            snprintf(warn, warn_len,
                     "decay * (1 + momentum_gain) = 1: the channel means never decay "
                     "(lower momentum_gain or decay)");
    }
    return true;
}

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
    *out = NULL;
    int rc = brain_params_check(p, err, err_len);
    if (rc)
        return rc;
    brain *b = calloc(1, sizeof *b);
    if (!b)
        return brain_fail(err, err_len, BRAIN_ERR_NOMEM, "out of memory");
    b->p = *p;
    b->p.device[BRAIN_DEVICE_LEN - 1] = '\0';
    b->sensor_spots = malloc(sizeof(uint32_t) * 3 * p->sensors);
    b->motor_spots = malloc(sizeof(uint32_t) * 3 * p->motors);
    b->sensor_scratch = calloc(p->sensors, sizeof(float));
    if (!b->sensor_spots || !b->motor_spots || !b->sensor_scratch) {
        brain_destroy(&b);
        return brain_fail(err, err_len, BRAIN_ERR_NOMEM, "out of memory");
    }
    brain_draw_spots(p->seed, RNG_STREAM_SENSOR_SPOTS, p->sensors, p, b->sensor_spots);
    brain_draw_spots(p->seed, RNG_STREAM_MOTOR_SPOTS, p->motors, p, b->motor_spots);

    brain_backend_init init = {
        .p = &b->p,
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
    if (!p->quiet)
        fprintf(stderr, "fieldbrain: brain %ux%ux%u x %u on %s: %s (%s)\n",
                p->size_x, p->size_y, p->size_z, p->channels,
                brain_backend_name(b->backend), b->device_name, b->device_reason);
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
    const brain_params *p = &b->p;
    if (n_sensors > p->sensors || (n_sensors && !sensors))
        return BRAIN_ERR_PARAM;
    for (uint32_t i = 0; i < n_sensors; i++)
        if (!isfinite(sensors[i]))
            return BRAIN_ERR_PARAM;
    for (uint32_t i = 0; i < p->sensors; i++)
        b->sensor_scratch[i] = i < n_sensors ? sensors[i] : 0.0f;

    uint64_t t = b->cycle + 1;
    brain_cycle cyc = {
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
    brain_stats local;
    brain_stats *s = stats ? stats : &local;
    memset(s, 0, sizeof *s);
    s->activity = -1.0f;
    s->gpu_ms = -1.0;
    int rc = b->ops->step(b->impl, &cyc, motors, s);
    if (rc)
        return rc;
    b->cycle = t;
    s->cycle = t;
    s->diffused = cyc.diffusion;
    s->noised = cyc.noise;
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

uint64_t brain_field_count(const brain *b)
{
    return (uint64_t)b->p.size_x * b->p.size_y * b->p.size_z * b->p.channels;
}

const brain_params *brain_get_params(const brain *b) { return &b->p; }
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
