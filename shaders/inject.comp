// inject.comp: field-brain.md step 1. Several sensors may hit one element;
// they must add in index order, exactly as a sequential loop would. The host
// chains the sensors of each element at create, so one invocation per chain
// adds its sensors in order: the same sums, in parallel, no atomics. The
// stored element is read as a * F + b and written back through the inverse
// map (lazy cycles pending; a = 1, b = 0 give the plain sum, bit for bit).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "rng.glsl"
#include "common.glsl"

layout(local_size_x = FBVK_INJECT_WG) in;
const uint WG = FBVK_INJECT_WG;

void main()
{
    uint i = workgroup_index() * WG + gl_LocalInvocationIndex;
    if (i >= S)
        return;
    Uints st = Uints(pc.state);
    uint link = st.v[ST_SENSOR_CHAIN + i];
    if ((link & CHAIN_TAIL) != 0u)
        return;
    Inputs in_ = Inputs(pc.inputs);
    const float g = in_.sensor_gain;
    const float a = Floats(pc.state).v[ST_A], b = Floats(pc.state).v[ST_B + i % C];
    Field f = field_at(pc.src, st.v[ST_SENSOR_SPOTS + i] * C + i % C);
    precise float v = materialise(float(f.v[0]), a, b);
    for (uint j = i; j != CHAIN_END; j = st.v[ST_SENSOR_CHAIN + j] & ~CHAIN_TAIL) {
        precise float add = g * in_.sensors[j];
        v = v + add;
    }
    precise float back = (v - b) / a;
    f.v[0] = FIELD_STORE(min(max(back, -FIELD_MAX), FIELD_MAX));
}
