// sums.comp: the S/W channel sums and max |F| (common.glsl, P_SW, P_H) of the field as it
// stands, read-only: after the initial draw and after the host replaced the
// field (write_field: tests, checkpoint loads), so that the next cycle's
// momentum mean can be predicted before its pass.
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
    float sum_s = 0.0, sum_w = 0.0, h = 0.0;
    for (uint k = 0u; k < LPT && l.live; k++) {
        uint line = lane_line(l, k);
        if (line == LINES)
            break;
        uint x = line / Y, y = line % Y;
        const float wxy = float(span(x, X) * span(y, Y));
        Field f = field_at(pc.src, line * Z * C + l.c);
        for (uint z = 0u; z < Z; z++) {
            float v = float(f.v[z * C]);
            sum_s += v;
            sum_w += (wxy * float(span(z, Z))) * v;
            h = max(h, abs(v));
        }
    }
    sw_partials(l, sum_s, sum_w, h);
}
