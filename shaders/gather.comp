// gather.comp: packs runs of field elements into the staging buffer, as
// stored (read_slab: a y plane is X runs of Z*C elements, a z plane X*Y runs
// of C), so that only the plane crosses to the host, in one dispatch. Its
// arguments ride in the push constants' spare words: inputs = the plane's
// element this dispatch starts at, state = run length | count << 32,
// part = first element | stride between runs << 32.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "rng.glsl"
#include "common.glsl"

layout(local_size_x = FBVK_GATHER_WG) in;
const uint WG = FBVK_GATHER_WG;

void main()
{
    const uint run_len = uint(pc.state), count = uint(pc.state >> 32);
    const uint first = uint(pc.part), stride = uint(pc.part >> 32);
    uint k = workgroup_index() * WG + gl_LocalInvocationIndex;
    if (k >= count)
        return;
    uint g = uint(pc.inputs) + k;
    uint src = first + (g / run_len) * stride + g % run_len;
    field_at(pc.dst, k).v[0] = field_at(pc.src, src).v[0];
}
