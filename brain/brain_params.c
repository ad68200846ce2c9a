/* brain_params.c: the parameters of a brain, their allowed ranges in one
 * table, the defaults of field-brain.md, the checks and the stability rule
 * (brain_params.h). libm only. */
#include "brain_params.h"
#include "fail.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

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
    case BRAIN_ERR_NONFINITE: return "non-finite value in the brain's state";
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
            return fb_fail(err, err_len, BRAIN_ERR_PARAM,
                              "%s: %g is out of range (allowed %g to %g)",
                              info[i].key, v, info[i].min, info[i].max);
    }
    uint64_t count = (uint64_t)p->size_x * p->size_y * p->size_z * p->channels;
    if (count > 0xFFFFFFFFULL)
        return fb_fail(err, err_len, BRAIN_ERR_PARAM,
                          "field: %u x %u x %u x %u = %llu elements is too many "
                          "(allowed up to 4294967295)",
                          p->size_x, p->size_y, p->size_z, p->channels,
                          (unsigned long long)count);
    if (p->backend != BRAIN_BACKEND_AUTO && p->backend != BRAIN_BACKEND_VULKAN &&
        p->backend != BRAIN_BACKEND_CPU)
        return fb_fail(err, err_len, BRAIN_ERR_PARAM,
                          "backend: unknown value %d (allowed auto, vulkan, cpu)",
                          (int)p->backend);
    if (p->precision != BRAIN_PRECISION_F32 && p->precision != BRAIN_PRECISION_F16)
        return fb_fail(err, err_len, BRAIN_ERR_PARAM,
                          "precision: unknown value %d (allowed f32, f16)", (int)p->precision);
    if (p->precision == BRAIN_PRECISION_F16 && p->backend == BRAIN_BACKEND_CPU)
        return fb_fail(err, err_len, BRAIN_ERR_PARAM,
                          "precision: f16 needs the Vulkan backend (the CPU backend stores float32)");
    return BRAIN_OK;
}

int brain_params_check_bounds(const brain_params *p, double sensor_limit, double *bound,
                              char *err, size_t err_len)
{
    const double z = BRAIN_NORMAL_MAX;
    /* Decay, diffusion (a convex mix) and the clamp never grow |F|; the
     * momentum is a running mean of channel means, so |M| stays under the
     * largest |F| it has seen. */
    double start = fmax((double)p->clamp_limit, (double)p->init_std * z);
    double injected = (double)p->sensors * fabs((double)p->sensor_gain) * sensor_limit;
    double before_momentum = start + injected + (double)p->noise_std * z;
    double worst = before_momentum * (1.0 + fabs((double)p->momentum_gain)) + (double)p->energy_std * z;
    double elements = (double)p->size_x * p->size_y * p->size_z * p->channels;
    if (bound)
        *bound = worst;
    /* A sum of every element must stay far from FLT_MAX (3.4e38). */
    const double most = fmin(1e37 / elements, 1e37 / fmax(fabs((double)p->motor_gain), 1.0));
    if (!(worst <= most))
        return fb_fail(err, err_len, BRAIN_ERR_PARAM,
                       "sensor_gain, clamp_limit, momentum_gain: with sensor values up to "
                       "+-%g (link.sensor_limit) a cycle could reach |F| = %.3g ((max(clamp_limit, "
                       "%g init_std) + sensors * |sensor_gain| * sensor_limit + %g noise_std) * "
                       "(1 + |momentum_gain|) + %g energy_std), and sums over the %.0f elements "
                       "would overflow float32: that bound must stay under %.3g (1e37 / the "
                       "elements, and / |motor_gain|)",
                       sensor_limit, worst, z, z, z, elements, most);
    if (p->precision == BRAIN_PRECISION_F16 && !(worst <= 65504.0))
        return fb_fail(err, err_len, BRAIN_ERR_PARAM,
                       "precision: f16 holds at most 65504, but with sensor values up to +-%g "
                       "(link.sensor_limit) a cycle could reach |F| = %.3g (lower clamp_limit, "
                       "sensor_gain or link.sensor_limit, or use f32)",
                       sensor_limit, worst);
    return BRAIN_OK;
}

bool brain_params_unstable(const brain_params *p, char *warn, size_t warn_len)
{
    double growth = (double)p->decay * (1.0 + (double)p->momentum_gain);
    if (growth < 1.0)
        return false;
    /* A channel mean m and its momentum M step together (field-brain.md,
     * Stability): M' = k M + (1-k) d m, m' = d m + g M', the matrix
     * [[d (1 + g (1-k)), g k], [(1-k) d, k]]; its larger eigenvalue is the
     * growth a cycle once the momentum has built up. The means start near
     * init_std / sqrt(points) (the mean of that many draws) and saturate
     * at the clamp. */
    const double d = p->decay, g = p->momentum_gain, k = p->momentum_keep;
    const double a = d * (1.0 + g * (1.0 - k)), b = g * k, c = (1.0 - k) * d;
    const double tr = a + k, det = a * k - b * c, disc = tr * tr - 4.0 * det;
    const double lambda = disc >= 0 ? 0.5 * (tr + sqrt(disc)) : growth;
    const double rate = lambda - 1.0;
    const double points = (double)p->size_x * p->size_y * p->size_z;
    const double start = fmax((double)p->init_std / sqrt(fmax(points, 1.0)), 1e-12);
    double cycles = rate > 0 ? log((double)p->clamp_limit / start) / log1p(rate) : INFINITY;
    if (warn && warn_len) {
        if (isfinite(cycles))
            snprintf(warn, warn_len,
                     "decay * (1 + momentum_gain) = %.4f >= 1: the channel means grow "
                     "without bound (about %.2g %% a cycle) and the field will saturate at +-%g "
                     "by about cycle %.0f (lower momentum_gain or decay)",
                     growth, 100.0 * rate, (double)p->clamp_limit, cycles);
        else
            snprintf(warn, warn_len,
                     "decay * (1 + momentum_gain) = 1: the channel means never decay "
                     "(lower momentum_gain or decay)");
    }
    return true;
}

