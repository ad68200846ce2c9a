/* rng.h: the counter-based random numbers of the field brain.
 *
 * Every draw is a pure function of (key, point, draw): no state, no buffer of
 * random numbers, and the same bits on the CPU and in the shaders
 * (shaders/rng.glsl is the same code in GLSL; change both or neither).
 * Normal draws use only + - * / and sqrt, with our own log and cos, because
 * GPU log/cos are allowed errors far above the tolerance of field-brain.md.
 *
 *   key    = rng_key(seed, t, stream)            once per cycle and stream, on the host
 *   pick   = rng_bits(key, p, 0) < threshold    a point p = (x*Y + y)*Z + z
 *   value  = rng_normal(key, p, c)              uses draws 2c+1 and 2c+2
 */
#ifndef FIELDBRAIN_RNG_H
#define FIELDBRAIN_RNG_H

#include <math.h>
#include <stdint.h>
#include <string.h>

enum {
    RNG_STREAM_INIT = 1,
    RNG_STREAM_SENSOR_SPOTS = 2,
    RNG_STREAM_MOTOR_SPOTS = 3,
    RNG_STREAM_NOISE = 4,
    RNG_STREAM_ENERGY = 5,
};

/* A bijective 32-bit mixer with strong avalanche ("lowbias32"). */
static inline uint32_t rng_mix32(uint32_t x)
{
    x ^= x >> 16;
    x *= 0x7feb352dU;
    x ^= x >> 15;
    x *= 0x846ca68bU;
    x ^= x >> 16;
    return x;
}

static inline uint32_t rng_key(uint64_t seed, uint64_t t, uint32_t stream)
{
    uint32_t h = rng_mix32(stream * 0x9E3779B9U + 0x85EBCA6BU);
    h = rng_mix32(h ^ (uint32_t)seed);
    h = rng_mix32(h ^ (uint32_t)(seed >> 32));
    h = rng_mix32(h ^ (uint32_t)t);
    h = rng_mix32(h ^ (uint32_t)(t >> 32));
    return h;
}

static inline uint32_t rng_bits(uint32_t key, uint32_t point, uint32_t draw)
{
    return rng_mix32(rng_mix32(key ^ point) + draw * 0x9E3779B9U);
}

/* bits < rng_threshold(f) holds with probability f. */
static inline uint32_t rng_threshold(double fraction)
{
    double t = fraction * 4294967296.0;
    if (t <= 0.0)
        return 0;
    if (t >= 4294967295.0)
        return 0xFFFFFFFFU;
    return (uint32_t)t;
}

/* An integer uniform in [0, n). */
static inline uint32_t rng_below(uint32_t bits, uint32_t n)
{
    return (uint32_t)(((uint64_t)bits * n) >> 32);
}

/* ln(u) for u in (0, 1]: exponent split, then 2*atanh((m-1)/(m+1)). */
static inline float rng_log(float u)
{
    uint32_t bits;
    memcpy(&bits, &u, sizeof bits);
    int e = (int)((bits >> 23) & 0xFFU) - 127;
    uint32_t mbits = (bits & 0x007FFFFFU) | 0x3F800000U;
    float m;
    memcpy(&m, &mbits, sizeof m);
    if (m > 1.41421356f) {
        m = m * 0.5f;
        e = e + 1;
    }
    float s = (m - 1.0f) / (m + 1.0f);
    float s2 = s * s;
    float poly = 1.0f + s2 * (0.333333333f + s2 * (0.2f + s2 * (0.142857143f + s2 * 0.111111111f)));
    return (float)e * 0.693147181f + 2.0f * s * poly;
}

/* cos(2 pi u) for u in [0, 1): exact quadrant reduction, then Taylor. */
static inline float rng_cos2pi(float u)
{
    float q = u * 4.0f;
    float k = floorf(q + 0.5f);
    float x = (q - k) * 1.57079633f;
    float x2 = x * x;
    float c = 1.0f - x2 * (0.5f - x2 * (0.0416666667f - x2 * (0.00138888889f - x2 * 0.0000248015873f)));
    float s = x * (1.0f - x2 * (0.166666667f - x2 * (0.00833333333f - x2 * (0.000198412698f - x2 * 0.00000275573192f))));
    uint32_t quadrant = (uint32_t)k & 3U;
    return quadrant == 0U ? c : quadrant == 1U ? -s : quadrant == 2U ? -c : s;
}

/* A standard normal draw (Box-Muller, cosine branch). */
static inline float rng_normal(uint32_t key, uint32_t point, uint32_t c)
{
    uint32_t b1 = rng_bits(key, point, 2U * c + 1U);
    uint32_t b2 = rng_bits(key, point, 2U * c + 2U);
    float u1 = (float)((b1 >> 8) + 1U) * 5.9604645e-08f; /* (0, 1] */
    float u2 = (float)(b2 >> 8) * 5.9604645e-08f;        /* [0, 1) */
    return sqrtf(-2.0f * rng_log(u1)) * rng_cos2pi(u2);
}

#endif
