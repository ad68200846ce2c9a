// init.comp: the initial field, F[p*C + c] = init_std * rng_normal(init_key,
// p, c), drawn on the device (a 680 MB field is never uploaded). 256
// elements per workgroup, 2-D dispatch.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "rng.glsl"
#include "common.glsl"

layout(local_size_x = FBVK_INIT_WG) in;
const uint WG = FBVK_INIT_WG;

void main()
{
    const uint total = N * C;
    const uint groups = total / WG + (total % WG != 0u ? 1u : 0u);
    uint wg = workgroup_index();
    if (wg >= groups)
        return;
    uint e = wg * WG + gl_LocalInvocationIndex;
    if (e >= total)
        return;
    Inputs in_ = Inputs(pc.inputs);
    precise float v = in_.init_std * rng_normal(in_.init_key, e / C, e % C);
    field_at(pc.dst, e).v[0] = FIELD_STORE(v);
}
