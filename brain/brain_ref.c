/* brain_ref.c: THE REFERENCE. field-brain.md, "One cycle", read literally:
 * each step below is one of the document's, in its order, as plain loops.
 * tests/test_brain_cpu.c holds the CPU backend to it (field, motors, energy,
 * saturation within field-brain.md's tolerances), and through the CPU
 * backend the shaders. Keep it plain: its worth is that anyone can check it
 * against the document; speed belongs to the backends. */
#include "brain_ref.h"
#include "brain_internal.h"
#include "rng.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct brain_ref {
    brain_params p;
    float *f, *tmp, *m;         /* field, diffusion's output, momentum */
    uint32_t *sspots, *mspots;  /* sensors x 3, motors x 3 */
    uint64_t t;
};

/* F[x][y][z][c]: channel fastest. */
static size_t ref_idx(const brain_params *p, int64_t x, int64_t y, int64_t z, uint32_t c)
{
    return (size_t)(((x * p->size_y + y) * p->size_z + z) * p->channels + c);
}

void brain_ref_step(brain_ref *r, const float *s, float *motors, brain_stats *st)
{
    const brain_params *p = &r->p;
    const uint32_t X = p->size_x, Y = p->size_y, Z = p->size_z, C = p->channels;
    const size_t count = (size_t)X * Y * Z * C, points = (size_t)X * Y * Z;
    float *f = r->f;
    r->t++;
    *st = (brain_stats){.cycle = r->t, .activity = -1.0f, .gpu_ms = -1.0};
    /* 1. sensor injection */
    for (uint32_t i = 0; i < p->sensors; i++)
        f[ref_idx(p, r->sspots[3 * i], r->sspots[3 * i + 1], r->sspots[3 * i + 2], i % C)] += p->sensor_gain * s[i];
    /* 2. decay */
    for (size_t e = 0; e < count; e++)
        f[e] *= p->decay;
    /* 3. diffusion: the 3x3x3 box mean, zero padding, divisor always 27 */
    if (r->t % p->diffusion_every == 0) {
        st->diffused = true;
        for (int64_t x = 0; x < X; x++)
            for (int64_t y = 0; y < Y; y++)
                for (int64_t z = 0; z < Z; z++)
                    for (uint32_t c = 0; c < C; c++) {
                        double sum = 0;
                        for (int dx = -1; dx <= 1; dx++)
                            for (int dy = -1; dy <= 1; dy++)
                                for (int dz = -1; dz <= 1; dz++) {
                                    int64_t a = x + dx, b = y + dy, d = z + dz;
                                    if (a >= 0 && a < X && b >= 0 && b < Y && d >= 0 && d < Z)
                                        sum += f[ref_idx(p, a, b, d, c)];
                                }
                        size_t e = ref_idx(p, x, y, z, c);
                        r->tmp[e] = (1 - p->diffusion_rate) * f[e] + p->diffusion_rate * (float)(sum / 27);
                    }
        memcpy(f, r->tmp, count * sizeof(float));
    }
    /* 4. sparse noise: each point picked with probability noise_fraction */
    if (r->t % p->noise_every == 0) {
        st->noised = true;
        uint32_t key = rng_key(p->seed, r->t, RNG_STREAM_NOISE), thr = rng_threshold(p->noise_fraction);
        for (uint32_t pt = 0; pt < points; pt++)
            if (rng_bits(key, pt, 0) < thr)
                for (uint32_t c = 0; c < C; c++)
                    f[(size_t)pt * C + c] += p->noise_std * rng_normal(key, pt, c);
    }
    /* 5. global momentum from the channel means */
    for (uint32_t c = 0; c < C; c++) {
        double sum = 0;
        for (size_t pt = 0; pt < points; pt++)
            sum += f[pt * C + c];
        r->m[c] = p->momentum_keep * r->m[c] + (1 - p->momentum_keep) * (float)(sum / points);
    }
    for (size_t e = 0; e < count; e++)
        f[e] += p->momentum_gain * r->m[e % C];
    /* 6. activity maintenance: sparse energy when mean |F| is low */
    if (r->t % p->activity_every == 0) {
        double a = 0;
        for (size_t e = 0; e < count; e++)
            a += fabsf(f[e]);
        st->activity = (float)(a / count);
        if (st->activity < p->activity_threshold) {
            st->energized = true;
            uint32_t key = rng_key(p->seed, r->t, RNG_STREAM_ENERGY), thr = rng_threshold(p->energy_fraction);
            for (uint32_t pt = 0; pt < points; pt++)
                if (rng_bits(key, pt, 0) < thr)
                    for (uint32_t c = 0; c < C; c++)
                        f[(size_t)pt * C + c] += p->energy_std * rng_normal(key, pt, c);
        }
    }
    /* 7. motor readout, before the clamp */
    for (uint32_t j = 0; j < p->motors; j++) {
        double sum = 0;
        for (uint32_t c = 0; c < C; c++)
            sum += f[ref_idx(p, r->mspots[3 * j], r->mspots[3 * j + 1], r->mspots[3 * j + 2], c)];
        motors[j] = tanhf(p->motor_gain * (float)(sum / C));
    }
    /* 8. clamp, and the telemetry of the clamped field */
    double energy = 0;
    size_t sat = 0;
    for (size_t e = 0; e < count; e++) {
        f[e] = fminf(fmaxf(f[e], -p->clamp_limit), p->clamp_limit);
        energy += fabsf(f[e]);
        sat += fabsf(f[e]) == p->clamp_limit;
    }
    st->energy = (float)(energy / count);
    st->saturated = (float)sat / count;
}

int brain_ref_create(const brain_params *p, const uint32_t *sensor_spots, const uint32_t *motor_spots,
                     brain_ref **out, char *err, size_t err_len)
{
    *out = NULL;
    int rc = brain_params_check(p, err, err_len);
    if (rc)
        return rc;
    const uint32_t size[3] = {p->size_x, p->size_y, p->size_z};
    for (uint32_t i = 0; i < 3 * (p->sensors + p->motors); i++) {
        uint32_t v = i < 3 * p->sensors ? sensor_spots[i] : motor_spots[i - 3 * p->sensors];
        if (v >= size[i % 3])
            return fb_fail(err, err_len, BRAIN_ERR_PARAM, "%s spot %u: coordinate %u is outside the grid",
                              i < 3 * p->sensors ? "sensor" : "motor",
                              (i < 3 * p->sensors ? i : i - 3 * p->sensors) / 3, v);
    }
    const size_t points = (size_t)p->size_x * p->size_y * p->size_z, count = points * p->channels;
    brain_ref *r = calloc(1, sizeof *r);
    if (!r)
        return fb_fail(err, err_len, BRAIN_ERR_NOMEM, "out of memory");
    r->p = *p;
    r->f = malloc(count * sizeof(float));
    r->tmp = malloc(count * sizeof(float));
    r->m = calloc(p->channels, sizeof(float));
    r->sspots = malloc((3 * (size_t)p->sensors + 1) * sizeof(uint32_t));
    r->mspots = malloc((3 * (size_t)p->motors + 1) * sizeof(uint32_t));
    if (!r->f || !r->tmp || !r->m || !r->sspots || !r->mspots) {
        brain_ref_destroy(&r);
        return fb_fail(err, err_len, BRAIN_ERR_NOMEM, "reference field of %zu floats: out of memory", count);
    }
    memcpy(r->sspots, sensor_spots, 3 * (size_t)p->sensors * sizeof(uint32_t));
    memcpy(r->mspots, motor_spots, 3 * (size_t)p->motors * sizeof(uint32_t));
    /* State: independent normal draws with std init_std */
    const uint32_t key = rng_key(p->seed, 0, RNG_STREAM_INIT);
    for (size_t pt = 0; pt < points; pt++)
        for (uint32_t c = 0; c < p->channels; c++)
            r->f[pt * p->channels + c] = p->init_std * rng_normal(key, (uint32_t)pt, c);
    *out = r;
    return BRAIN_OK;
}

void brain_ref_destroy(brain_ref **r)
{
    if (!r || !*r)
        return;
    free((*r)->mspots);
    free((*r)->sspots);
    free((*r)->m);
    free((*r)->tmp);
    free((*r)->f);
    free(*r);
    *r = NULL;
}

float *brain_ref_field(brain_ref *r)
{
    return r->f;
}

float *brain_ref_momentum(brain_ref *r)
{
    return r->m;
}

uint64_t brain_ref_cycle(const brain_ref *r)
{
    return r->t;
}
