// motors.comp: field-brain.md step 7. The field after steps 5 and 6 exists
// only inside finish.comp, so each motor recomputes it at its spot from the
// stored field, the momentum and the energy draws, exactly as finish.comp does.
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

void main()
{
    Inputs in_ = Inputs(pc.inputs);
    Floats st = Floats(pc.state);
    const bool energize = ENERGY && Uints(pc.state).v[RES_ENERGIZED] != 0u;
    const uint ekey = in_.energy_key;
    const float g = in_.momentum_gain, estd = in_.energy_std;
    for (uint j = gl_LocalInvocationIndex; j < MO; j += 64u) {
        uint point = Uints(pc.state).v[ST_MOTOR_SPOTS + j];
        bool hit = energize && picked(ekey, point, in_.energy_threshold);
        Floats f = floats_at(pc.src, point * C);
        float sum = 0.0;
        for (uint c = 0u; c < C; c++) {
            precise float off = g * st.v[ST_MOMENTUM + c];
            precise float v = f.v[c] + off;
            if (hit)
                v = v + estd * rng_normal(ekey, point, c);
            sum += v;
        }
        precise float x = in_.motor_gain * (sum / float(C));
        st.v[RES_MOTORS + j] = safe_tanh(x);
    }
}
