// advance.comp: field-brain.md steps 2-4 in one pass over the field: decay,
// diffusion (DIFFUSE variant, out of place) and sparse noise, plus the
// per-workgroup channel sums that step 5's mean needs (momentum.comp adds
// them up). Reads the field once and writes it once.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "rng.glsl"
#include "common.glsl"
#include "field_lines.glsl"

layout(local_size_x_id = 6, local_size_y_id = 7) in;

// The 9 lines around (x, y) at height z, zero outside the grid. Neighbour n
// is (x + n/3 - 1, y + n%3 - 1).
void load_ring(uint x, uint y, uint z, uint c, out float v[9])
{
    for (uint n = 0u; n < 9u; n++) {
        int xx = int(x) + int(n / 3u) - 1;
        int yy = int(y) + int(n % 3u) - 1;
        v[n] = 0.0;
        if (xx >= 0 && xx < int(X) && yy >= 0 && yy < int(Y) && z < Z)
            v[n] = floats_at(pc.src, ((uint(xx) * Y + uint(yy)) * Z + z) * C + c).v[0];
    }
}

void main()
{
    lane_t l = lane_of();
    if (l.block >= NBLK)
        return;
    Inputs in_ = Inputs(pc.inputs);
    const float d = in_.decay;
    const float r = in_.diffusion_rate;
    const float keep = 1.0 - r;
    const bool noise = (in_.flags & FLAG_NOISE) != 0u;
    const uint nkey = in_.noise_key, nthr = in_.noise_threshold;
    const float nstd = in_.noise_std;

    float sum = 0.0;
    for (uint k = 0u; k < LPT && l.live; k++) {
        uint line = lane_line(l, k);
        if (line == LINES)
            break;
        uint x = line / Y, y = line % Y;
        Floats src = floats_at(pc.src, line * Z * C + l.c);
        Floats dst = floats_at(pc.dst, line * Z * C + l.c);
        float lo[9], mid[9], hi[9];
        if (DIFFUSE) {
            for (uint n = 0u; n < 9u; n++)
                lo[n] = 0.0;
            load_ring(x, y, 0u, l.c, mid);
        }
        for (uint z = 0u; z < Z; z++) {
            precise float v;
            if (DIFFUSE) {
                load_ring(x, y, z + 1u, l.c, hi);
                // The box sum in the CPU reference's order: along z, then y,
                // then x, so both round alike.
                precise float u[3];
                for (uint i = 0u; i < 3u; i++) {
                    precise float t0 = lo[3u * i] + mid[3u * i] + hi[3u * i];
                    precise float t1 = lo[3u * i + 1u] + mid[3u * i + 1u] + hi[3u * i + 1u];
                    precise float t2 = lo[3u * i + 2u] + mid[3u * i + 2u] + hi[3u * i + 2u];
                    u[i] = t0 + t1 + t2;
                }
                precise float box = u[0] + u[1] + u[2];
                precise float decayed = d * mid[4];
                precise float mean = d * box / 27.0;
                v = keep * decayed + r * mean;
                lo = mid;
                mid = hi;
            } else {
                v = d * src.v[z * C];
            }
            if (noise) {
                uint point = line * Z + z;
                if (picked(nkey, point, nthr))
                    v = v + nstd * rng_normal(nkey, point, l.c);
            }
            dst.v[z * C] = v;
            sum += v;
        }
    }

    // Channel sums of this line block: lanes of one channel, in lane order.
    uint lx = gl_LocalInvocationID.x, ly = gl_LocalInvocationID.y;
    red_f[ly * TC + lx] = sum;
    barrier();
    if (ly == 0u && l.live) {
        float s = 0.0;
        for (uint k = 0u; k < TP; k++)
            s += red_f[k * TC + lx];
        floats_at(pc.part, l.lb * C + l.c).v[0] = s;
    }
}
