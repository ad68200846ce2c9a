// activity_reduce.comp: adds up the SPLIT cycle pass's sums of |F| (the
// field of step 5) in a fixed order: a = mean |F|; energized = a <
// activity_threshold.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "rng.glsl"
#include "common.glsl"

layout(local_size_x = 64) in;

shared float red[64];

void main()
{
    uint i = gl_LocalInvocationIndex;
    Floats part = Floats(pc.part);
    float s = 0.0;
    for (uint b = i; b < NBLK; b += 64u)
        s += part.v[P_ACT + b];
    red[i] = s;
    barrier();
    for (uint w = 32u; w > 0u; w >>= 1u) {
        if (i < w)
            red[i] += red[i + w];
        barrier();
    }
    if (i == 0u) {
        Inputs in_ = Inputs(pc.inputs);
        float a = red[0] / float(N * C);
        Floats(pc.state).v[RES_ACTIVITY] = a;
        Uints(pc.state).v[RES_ENERGIZED] = a < in_.activity_threshold ? 1u : 0u;
    }
}
