// momentum.comp: field-brain.md step 5's mean and update. One workgroup per
// channel adds up advance.comp's line-block sums in a fixed order, then
// M = keep*M + (1-keep)*m. Also clears the cycle's energized flag (set by
// activity_reduce.comp on activity cycles only).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "rng.glsl"
#include "common.glsl"

layout(local_size_x = 64) in;

shared float red[64];

void main()
{
    uint c = workgroup_index();
    if (c >= C)
        return;
    uint i = gl_LocalInvocationIndex;
    Floats part = Floats(pc.part);
    float s = 0.0;
    for (uint lb = i; lb < NLB; lb += 64u)
        s += part.v[lb * C + c];
    red[i] = s;
    barrier();
    for (uint w = 32u; w > 0u; w >>= 1u) {
        if (i < w)
            red[i] += red[i + w];
        barrier();
    }
    if (i == 0u) {
        Inputs in_ = Inputs(pc.inputs);
        Floats st = Floats(pc.state);
        precise float m = red[0] / float(N);
        float k = in_.momentum_keep;
        precise float M = k * st.v[ST_MOMENTUM + c] + (1.0 - k) * m;
        st.v[ST_MOMENTUM + c] = M;
        if (c == 0u)
            Uints(pc.state).v[RES_ENERGIZED] = 0u;
    }
}
