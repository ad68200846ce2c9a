// finish.comp: field-brain.md steps 5 (add momentum), 6 (sparse energy when
// activity_reduce.comp found the field too quiet) and 8 (clamp), in place, in
// one pass, with the per-workgroup sums of |F| and the count of saturated
// elements (stats_reduce.comp adds them up).
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
    const float lim = in_.clamp_limit;
    const bool energize = ENERGY && Uints(pc.state).v[RES_ENERGIZED] != 0u;
    const uint ekey = in_.energy_key, ethr = in_.energy_threshold;
    const float estd = in_.energy_std;
    float sum = 0.0;
    uint sat = 0u;
    if (l.live) {
        precise float off = in_.momentum_gain * Floats(pc.state).v[ST_MOMENTUM + l.c];
        for (uint k = 0u; k < LPT; k++) {
            uint line = lane_line(l, k);
            if (line == LINES)
                break;
            Floats f = floats_at(pc.src, line * Z * C + l.c);
            for (uint z = 0u; z < Z; z++) {
                precise float v = f.v[z * C] + off;
                if (ENERGY && energize) {
                    uint point = line * Z + z;
                    if (picked(ekey, point, ethr))
                        v = v + estd * rng_normal(ekey, point, l.c);
                }
                v = min(max(v, -lim), lim);
                f.v[z * C] = v;
                sum += abs(v);
                sat += abs(v) == lim ? 1u : 0u;
            }
        }
    }
    float s = workgroup_sum(sum);
    uint n = workgroup_sum_u(sat);
    if (gl_LocalInvocationIndex == 0u) {
        Floats(pc.part).v[2u * l.block] = s;
        Uints(pc.part).v[2u * l.block + 1u] = n;
    }
}
