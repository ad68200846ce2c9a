// inject.comp: field-brain.md step 1, one invocation: the sensors are added
// in index order, exactly as a sequential loop would, since several may hit
// the same element.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "rng.glsl"
#include "common.glsl"

layout(local_size_x = 1) in;

void main()
{
    Inputs in_ = Inputs(pc.inputs);
    Uints st = Uints(pc.state);
    const float g = in_.sensor_gain;
    for (uint i = 0u; i < S; i++) {
        uint e = st.v[ST_SENSOR_SPOTS + i] * C + i % C;
        Floats f = floats_at(pc.src, e);
        precise float add = g * in_.sensors[i];
        precise float v = f.v[0] + add;
        f.v[0] = v;
    }
}
