// activity.comp: field-brain.md step 6's measurement, on activity cycles
// only: per-workgroup sums of |F + momentum_gain*M[c]| (the field as step 5
// leaves it), read-only. activity_reduce.comp adds them up.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "rng.glsl"
#include "common.glsl"
#include "field_lines.glsl"

layout(local_size_x_id = 6, local_size_y_id = 7) in;

void main()
{
    lane_t l = lane_of();
    if (l.block >= NBLK)
        return;
    Inputs in_ = Inputs(pc.inputs);
    float sum = 0.0;
    if (l.live) {
        precise float off = in_.momentum_gain * Floats(pc.state).v[ST_MOMENTUM + l.c];
        for (uint k = 0u; k < LPT; k++) {
            uint line = lane_line(l, k);
            if (line == LINES)
                break;
            Floats f = floats_at(pc.src, line * Z * C + l.c);
            for (uint z = 0u; z < Z; z++) {
                precise float v = f.v[z * C] + off;
                sum += abs(v);
            }
        }
    }
    float s = workgroup_sum(sum);
    if (gl_LocalInvocationIndex == 0u)
        Floats(pc.part).v[l.block] = s;
}
