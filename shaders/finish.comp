// finish.comp: the second pass of an activity cycle: field-brain.md step 6's
// sparse energy (when activity_reduce.comp found the field too quiet) and
// step 8's clamp, in place on the field cycle.comp's SPLIT pass stored, with
// the sums of |F| and saturation and the S/W channel sums and max |F| of its
// output. (The SPLIT pass stored a * F + b: nothing here is lazy.)
#version 460
#extension GL_GOOGLE_include_directive : require
#include "rng.glsl"
#include "common.glsl"
#include "field_lines.glsl"

layout(local_size_x_id = FBVK_SC_TC, local_size_y_id = FBVK_SC_TP) in;

void main()
{
    lane_t l = lane_of();
    if (l.block >= NBLK)
        return;
    Inputs in_ = Inputs(pc.inputs);
    const float lim = in_.clamp_limit;
    const float lim_stored = field_round(lim);
    const bool energize = Uints(pc.state).v[RES_ENERGIZED] != 0u;
    const uint ekey = in_.energy_key, ethr = in_.energy_threshold;
    const float estd = in_.energy_std;
    float sum_abs = 0.0, sum_s = 0.0, sum_w = 0.0, h = 0.0;
    uint sat = 0u;
    for (uint k = 0u; k < LPT && l.live; k++) {
        uint line = lane_line(l, k);
        if (line == LINES)
            break;
        uint x = line / Y, y = line % Y;
        const float wxy = float(span(x, X) * span(y, Y));
        Field f = field_at(pc.src, line * Z * C + l.c);
        for (uint z = 0u; z < Z; z++) {
            precise float v = float(f.v[z * C]);
            if (energize) {
                uint point = line * Z + z;
                if (picked(ekey, point, ethr))
                    v = v + estd * rng_normal(ekey, point, l.c);
            }
            v = min(max(v, -lim), lim);
            float stored = field_round(v);
            f.v[z * C] = FIELD_STORE(v);
            sum_abs += abs(stored);
            sat += abs(stored) == lim_stored ? 1u : 0u;
            sum_s += stored;
            sum_w += (wxy * float(span(z, Z))) * stored;
            h = max(h, abs(stored));
        }
    }
    float s = workgroup_sum(sum_abs);
    uint n = workgroup_sum_u(sat);
    if (gl_LocalInvocationIndex == 0u) {
        Floats(pc.part).v[P_STATS + 2u * l.block] = s;
        Uints(pc.part).v[P_STATS + 2u * l.block + 1u] = n;
    }
    sw_partials(l, sum_s, sum_w, h);
}
