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

// The 9 lines around (x, y): neighbour n is (x + n/3 - 1, y + n%3 - 1). Lines
// outside the grid read the centre line instead and count as zero, so the
// loads of the z loop need no branch.
// (Addresses, not Floats: glslang makes invalid SPIR-V for an array of buffer
// references in a function variable.)
struct ring_t {
    uint64_t line[9];
    bool inside[9];
};

ring_t ring_of(uint x, uint y, uint c)
{
    ring_t r;
    for (uint n = 0u; n < 9u; n++) {
        int xx = int(x) + int(n / 3u) - 1;
        int yy = int(y) + int(n % 3u) - 1;
        r.inside[n] = xx >= 0 && xx < int(X) && yy >= 0 && yy < int(Y);
        uint line = r.inside[n] ? uint(xx) * Y + uint(yy) : x * Y + y;
        r.line[n] = pc.src + uint64_t(line * Z * C + c) * 4ul;
    }
    return r;
}

// The ring at height z (zero above the top).
void load_ring(ring_t r, uint z, out float v[9])
{
    bool in_z = z < Z;
    uint zz = in_z ? z : Z - 1u;
    for (uint n = 0u; n < 9u; n++) {
        float f = Floats(r.line[n]).v[zz * C];
        v[n] = in_z && r.inside[n] ? f : 0.0;
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
        ring_t ring;
        if (DIFFUSE) {
            ring = ring_of(x, y, l.c);
            for (uint n = 0u; n < 9u; n++)
                lo[n] = 0.0;
            load_ring(ring, 0u, mid);
        }
        for (uint z = 0u; z < Z; z++) {
            precise float v;
            if (DIFFUSE) {
                load_ring(ring, z + 1u, hi);
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
            if (NOISE) {
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
