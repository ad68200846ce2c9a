// rng.glsl: the counter-based random numbers of the field brain, in GLSL.
// The same code as brain/rng.h (read it for the scheme); change both or
// neither. `precise` keeps the driver from contracting into FMAs, so the
// bits and the floats match the C reference.

uint rng_mix32(uint x)
{
    x ^= x >> 16;
    x *= 0x7feb352du;
    x ^= x >> 15;
    x *= 0x846ca68bu;
    x ^= x >> 16;
    return x;
}

uint rng_bits(uint key, uint point, uint draw)
{
    return rng_mix32(rng_mix32(key ^ point) + draw * 0x9E3779B9u);
}

float rng_log(float u)
{
    uint bits = floatBitsToUint(u);
    int e = int((bits >> 23) & 0xFFu) - 127;
    precise float m = uintBitsToFloat((bits & 0x007FFFFFu) | 0x3F800000u);
    if (m > 1.41421356) {
        m = m * 0.5;
        e = e + 1;
    }
    precise float s = (m - 1.0) / (m + 1.0);
    precise float s2 = s * s;
    precise float poly = 1.0 + s2 * (0.333333333 + s2 * (0.2 + s2 * (0.142857143 + s2 * 0.111111111)));
    precise float r = float(e) * 0.693147181 + 2.0 * s * poly;
    return r;
}

float rng_cos2pi(float u)
{
    precise float q = u * 4.0;
    precise float k = floor(q + 0.5);
    precise float x = (q - k) * 1.57079633;
    precise float x2 = x * x;
    precise float c = 1.0 - x2 * (0.5 - x2 * (0.0416666667 - x2 * (0.00138888889 - x2 * 0.0000248015873)));
    precise float s = x * (1.0 - x2 * (0.166666667 - x2 * (0.00833333333 - x2 * (0.000198412698 - x2 * 0.00000275573192))));
    uint quadrant = uint(k) & 3u;
    return quadrant == 0u ? c : quadrant == 1u ? -s : quadrant == 2u ? -c : s;
}

float rng_normal(uint key, uint point, uint c)
{
    uint b1 = rng_bits(key, point, 2u * c + 1u);
    uint b2 = rng_bits(key, point, 2u * c + 2u);
    precise float u1 = float((b1 >> 8) + 1u) * 5.9604645e-08;
    precise float u2 = float(b2 >> 8) * 5.9604645e-08;
    precise float r = sqrt(-2.0 * rng_log(u1)) * rng_cos2pi(u2);
    return r;
}
