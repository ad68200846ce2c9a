// motors.comp: field-brain.md step 7, from the field before the clamp, which
// exists only inside the field pass. Plain cycles (before cycle.comp, from the
// field it is about to read): each motor recomputes steps 2-5 at its spot as
// cycle.comp does (decay, the box sum in the same order, noise, + the
// momentum offset), the stored field read as a * F + b (lazy cycles pending).
// ENERGY (activity cycles, after cycle.comp's SPLIT pass): from the field of
// step 5 that pass stored (the map already folded in), + the energy draws.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "rng.glsl"
#include "common.glsl"

layout(local_size_x = 64) in;

// tanh without exp overflow: for large |x|, t -> 0 and the result -> +-1.
float safe_tanh(float x)
{
    float t = exp(-2.0 * abs(x));
    float r = (1.0 - t) / (1.0 + t);
    return x < 0.0 ? -r : r;
}

// F at (x + dx - 1, y + dy - 1, z + dz - 1), channel c, as a * F + b; 0
// outside the grid.
float at(uint x, uint y, uint z, uint dx, uint dy, uint dz, uint c, float a, float b)
{
    int xx = int(x + dx) - 1, yy = int(y + dy) - 1, zz = int(z + dz) - 1;
    if (xx < 0 || xx >= int(X) || yy < 0 || yy >= int(Y) || zz < 0 || zz >= int(Z))
        return 0.0;
    uint point = (uint(xx) * Y + uint(yy)) * Z + uint(zz);
    return materialise(float(field_at(pc.src, point * C + c).v[0]), a, b);
}

// Steps 2-4 at one element, as cycle.comp computes them.
float advanced(Inputs in_, uint point, uint c, float a, float b)
{
    uint z = point % Z, y = (point / Z) % Y, x = point / (Y * Z);
    const float d = in_.decay;
    precise float v;
    if (DIFFUSE) {
        const float r = in_.diffusion_rate;
        precise float u[3];
        for (uint i = 0u; i < 3u; i++) {
            precise float t0 = at(x, y, z, i, 0u, 0u, c, a, b) + at(x, y, z, i, 0u, 1u, c, a, b) + at(x, y, z, i, 0u, 2u, c, a, b);
            precise float t1 = at(x, y, z, i, 1u, 0u, c, a, b) + at(x, y, z, i, 1u, 1u, c, a, b) + at(x, y, z, i, 1u, 2u, c, a, b);
            precise float t2 = at(x, y, z, i, 2u, 0u, c, a, b) + at(x, y, z, i, 2u, 1u, c, a, b) + at(x, y, z, i, 2u, 2u, c, a, b);
            u[i] = t0 + t1 + t2;
        }
        precise float box = u[0] + u[1] + u[2];
        precise float decayed = d * at(x, y, z, 1u, 1u, 1u, c, a, b);
        precise float mean = d * box / 27.0;
        v = (1.0 - r) * decayed + r * mean;
    } else {
        v = d * at(x, y, z, 1u, 1u, 1u, c, a, b);
    }
    if (NOISE && picked(in_.noise_key, point, in_.noise_threshold))
        v = v + in_.noise_std * rng_normal(in_.noise_key, point, c);
    return v;
}

void main()
{
    Inputs in_ = Inputs(pc.inputs);
    Floats st = Floats(pc.state);
    const bool energize = ENERGY && Uints(pc.state).v[RES_ENERGIZED] != 0u;
    const uint ekey = in_.energy_key;
    const float g = in_.momentum_gain, estd = in_.energy_std;
    const float a = st.v[ST_A];
    for (uint j = gl_LocalInvocationIndex; j < MO; j += 64u) {
        uint point = Uints(pc.state).v[ST_MOTOR_SPOTS + j];
        bool hit = energize && picked(ekey, point, in_.energy_threshold);
        float sum = 0.0;
        for (uint c = 0u; c < C; c++) {
            precise float v;
            if (ENERGY) {
                v = float(field_at(pc.src, point * C + c).v[0]);
                if (hit)
                    v = v + estd * rng_normal(ekey, point, c);
            } else {
                precise float off = g * st.v[ST_MOMENTUM + c];
                v = advanced(in_, point, c, a, Floats(pc.state).v[ST_B + c]) + off;
            }
            sum += v;
        }
        precise float x = in_.motor_gain * (sum / float(C));
        st.v[RES_MOTORS + j] = safe_tanh(x);
    }
}
