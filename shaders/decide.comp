// decide.comp: on a cycle without diffusion or activity, chooses between a
// lazy cycle and the dense pass, after momentum.comp. Lazy when every channel
// allows it (ST_OK): the scale and offsets move to a' = a d, b' (ST_B_NEXT),
// the dense pass and stats_reduce.comp get zero workgroups (ST_IND), the
// carried sums become current (ST_FRESH = 0), `saturated` is 0 (no element
// can reach the clamp) and `energy` NaN (mean |a F + b| was not measured).
// Else both get their workgroups and the pending map is folded in by the pass.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "rng.glsl"
#include "common.glsl"

layout(local_size_x = 64) in;

shared uint red[64];

void main()
{
    uint i = gl_LocalInvocationIndex;
    Floats st = Floats(pc.state);
    Uints st_u = Uints(pc.state);
    uint ok = 1u;
    for (uint c = i; c < C; c += 64u)
        ok &= st_u.v[ST_OK + c];
    red[i] = ok;
    barrier();
    for (uint k = 32u; k > 0u; k >>= 1u) {
        if (i < k)
            red[i] &= red[i + k];
        barrier();
    }
    const bool lazy = red[0] != 0u;
    if (lazy)
        for (uint c = i; c < C; c += 64u)
            st.v[ST_B + c] = st.v[ST_B_NEXT + c];
    if (i == 0u) {
        const uint groups = lazy ? 0u : NBLK;
        st_u.v[ST_IND + 0u] = min(groups, GX);
        st_u.v[ST_IND + 1u] = (groups + GX - 1u) / GX;
        st_u.v[ST_IND + 2u] = 1u;
        st_u.v[ST_IND_STATS + 0u] = lazy ? 0u : 1u;
        st_u.v[ST_IND_STATS + 1u] = 1u;
        st_u.v[ST_IND_STATS + 2u] = 1u;
        if (lazy) {
            Inputs in_ = Inputs(pc.inputs);
            precise float a2 = st.v[ST_A] * in_.decay;
            st.v[ST_A] = a2;
            st_u.v[ST_FRESH] = 0u;
            st.v[RES_ENERGY] = uintBitsToFloat(0x7FC00000u);
            st.v[RES_SATURATED] = 0.0;
        }
    }
}
