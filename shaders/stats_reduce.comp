// stats_reduce.comp: adds up the clamping pass's sums (cycle.comp, or
// finish.comp on activity cycles) in a fixed order into the cycle's energy
// (mean |F| after the clamp) and saturated fraction. It runs after every
// dense pass and only then: the pass folded the pending map a * F + b into
// the stored field and left fresh partial sums, so a = 1, b = 0, ST_FRESH.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "rng.glsl"
#include "common.glsl"

layout(local_size_x = 64) in;

shared float red[64];
shared uint redn[64];

void main()
{
    uint i = gl_LocalInvocationIndex;
    Floats part = Floats(pc.part);
    Uints partn = Uints(pc.part);
    float s = 0.0;
    uint n = 0u;
    for (uint b = i; b < NBLK; b += 64u) {
        s += part.v[P_STATS + 2u * b];
        n += partn.v[P_STATS + 2u * b + 1u];
    }
    red[i] = s;
    redn[i] = n;
    barrier();
    for (uint w = 32u; w > 0u; w >>= 1u) {
        if (i < w) {
            red[i] += red[i + w];
            redn[i] += redn[i + w];
        }
        barrier();
    }
    Floats st = Floats(pc.state);
    for (uint c = i; c < C; c += 64u)
        st.v[ST_B + c] = 0.0;
    if (i == 0u) {
        st.v[ST_A] = 1.0;
        Uints(pc.state).v[ST_FRESH] = 1u;
        st.v[RES_ENERGY] = red[0] / float(N * C);
        st.v[RES_SATURATED] = float(redn[0]) / float(N * C);
    }
}
