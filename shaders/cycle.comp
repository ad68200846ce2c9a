// cycle.comp: the one dense pass of a cycle: field-brain.md steps 2-5 and 8
// (decay, diffusion in the DIFFUSE variant (out of place), noise, + the
// momentum offset that momentum.comp computed beforehand, clamp), with the
// per-workgroup sums of |F| and saturation and the S/W channel sums of its
// own output (the next cycle's mean comes from them), and its max |F|. The
// field read is the stored one through the pending affine map a * F + b (the
// lazy cycles before this one), which this pass folds in. Reads the field once,
// writes it once. SPLIT (activity cycles): stops before the clamp, stores the
// field of step 5 and sums |F| for step 6; finish.comp then does the rest.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "rng.glsl"
#include "common.glsl"
#include "field_lines.glsl"

layout(local_size_x_id = 6, local_size_y_id = 7) in;

// The 9 lines around (x, y): neighbour n is (x + n/3 - 1, y + n%3 - 1). Lines
// outside the grid read the centre line instead and count as zero, so the
// loads of the z loop need no branch.
// (Addresses, not Fields: glslang makes invalid SPIR-V for an array of buffer
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
        r.line[n] = pc.src + uint64_t(line * Z * C + c) * FIELD_BYTES;
    }
    return r;
}

// The ring at height z (zero above the top), as stored.
void load_ring(ring_t r, uint z, out float v[9])
{
    bool in_z = z < Z;
    uint zz = in_z ? z : Z - 1u;
    for (uint n = 0u; n < 9u; n++) {
        float f = float(Field(r.line[n]).v[zz * C]);
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
    const float lim = in_.clamp_limit;
    const float lim_stored = field_round(lim);
    precise float off = 0.0;
    float sb = 0.0;
    const float sa = Floats(pc.state).v[ST_A];
    if (l.live) {
        off = in_.momentum_gain * Floats(pc.state).v[ST_MOMENTUM + l.c];
        sb = Floats(pc.state).v[ST_B + l.c];
    }

    float sum_abs = 0.0, sum_s = 0.0, sum_w = 0.0, h = 0.0;
    uint sat = 0u;
    for (uint k = 0u; k < LPT && l.live; k++) {
        uint line = lane_line(l, k);
        if (line == LINES)
            break;
        uint x = line / Y, y = line % Y;
        const float wxy = float(span(x, X) * span(y, Y));
        Field src = field_at(pc.src, line * Z * C + l.c);
        Field dst = field_at(pc.dst, line * Z * C + l.c);
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
                // then x, so both round alike (motors.comp does the same).
                precise float u[3];
                for (uint i = 0u; i < 3u; i++) {
                    precise float t0 = lo[3u * i] + mid[3u * i] + hi[3u * i];
                    precise float t1 = lo[3u * i + 1u] + mid[3u * i + 1u] + hi[3u * i + 1u];
                    precise float t2 = lo[3u * i + 2u] + mid[3u * i + 2u] + hi[3u * i + 2u];
                    u[i] = t0 + t1 + t2;
                }
                // The box of a F + b is a * (box of F) + b * (points of
                // the box inside the grid, w(p)): one map per element, not
                // nine (a = 1, b = 0 leave the box as it was, bit for bit).
                precise float box_s = u[0] + u[1] + u[2];
                precise float box_a = sa * box_s;
                precise float box_b = sb * (wxy * float(span(z, Z)));
                precise float box = box_a + box_b;
                precise float decayed = d * materialise(mid[4], sa, sb);
                precise float mean = d * box / 27.0;
                v = keep * decayed + r * mean;
                lo = mid;
                mid = hi;
            } else {
                v = d * materialise(float(src.v[z * C]), sa, sb);
            }
            if (NOISE) {
                uint point = line * Z + z;
                if (picked(nkey, point, nthr))
                    v = v + nstd * rng_normal(nkey, point, l.c);
            }
            v = v + off;
            if (SPLIT) {
                sum_abs += abs(v);
                dst.v[z * C] = FIELD_STORE(min(max(v, -FIELD_MAX), FIELD_MAX));
            } else {
                v = min(max(v, -lim), lim);
                float stored = field_round(v);
                dst.v[z * C] = FIELD_STORE(v);
                sum_abs += abs(stored);
                sat += abs(stored) == lim_stored ? 1u : 0u;
                sum_s += stored;
                sum_w += (wxy * float(span(z, Z))) * stored;
                h = max(h, abs(stored));
            }
        }
    }

    if (SPLIT) {
        float s = workgroup_sum(sum_abs);
        if (gl_LocalInvocationIndex == 0u)
            Floats(pc.part).v[P_ACT + l.block] = s;
    } else {
        float s = workgroup_sum(sum_abs);
        uint n = workgroup_sum_u(sat);
        if (gl_LocalInvocationIndex == 0u) {
            Floats(pc.part).v[P_STATS + 2u * l.block] = s;
            Uints(pc.part).v[P_STATS + 2u * l.block + 1u] = n;
        }
        sw_partials(l, sum_s, sum_w, h);
    }
}
