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
#extension GL_EXT_control_flow_attributes : require
#include "rng.glsl"
#include "common.glsl"
#include "field_lines.glsl"

layout(local_size_x_id = FBVK_SC_TC, local_size_y_id = FBVK_SC_TP) in;

// Diffusion (DIFFUSE) walks bricks, not lines: a lane takes one channel of
// BX x BY lines and walks them along z from z0 to z1 (DZ heights; a brick of
// the grid's edge is cut short). It keeps, for each of the (BX+2) x (BY+2)
// lines of the brick and its halo, the value at the current height and the
// sum of it and the one below, so a height costs one load per halo line
// (36 for 16 outputs: 2.25 loads an element instead of 9 for a lane on its
// own line) and the box is separable: the z-sums of the halo lines (one add
// each from the running pair), then three y-sums and one x-sum an output (8
// adds, not 26). The order of the adds is the CPU reference's (z, then y,
// then x; motors.comp's too), so the results are the same bits as before.
// A GPU lane keeps the ~110 values in registers (fully unrolled: constant
// sizes); lavapipe keeps them in its stack, a cheap vector access, where a
// field load is a gather of 8 lanes. Lines outside the grid read the
// brick's own corner line and count as zero: the loads need no branch.
const uint BX = FBVK_BRICK_X, BY = FBVK_BRICK_Y;
const uint HX = BX + 2u, HY = BY + 2u;
const uint NBX = (X + BX - 1u) / BX;
const uint NBY = (Y + BY - 1u) / BY;
const uint NBZ = (Z + DZ - 1u) / DZ;
const uint NBRICK = NBX * NBY * NBZ;

// What every element of the pass does once its steps 2-3 are known: noise,
// the momentum offset, the clamp (not SPLIT), the store, and the sums.
struct pass_t {
    uint nkey, nthr;
    float nstd, off, lim, lim_stored;
    float sum_abs, sum_s, sum_w, h;
    uint sat;
};

void element(inout pass_t ps, float v0, uint point, uint c, uint64_t at, float w)
{
    precise float v = v0;
    if (NOISE && picked(ps.nkey, point, ps.nthr))
        v = v + ps.nstd * rng_normal(ps.nkey, point, c);
    v = v + ps.off;
    if (SPLIT) {
        ps.sum_abs += abs(v);
        Field(at).v[0] = FIELD_STORE(min(max(v, -FIELD_MAX), FIELD_MAX));
    } else {
        v = min(max(v, -ps.lim), ps.lim);
        float stored = field_round(v);
        Field(at).v[0] = FIELD_STORE(v);
        ps.sum_abs += abs(stored);
        ps.sat += abs(stored) == ps.lim_stored ? 1u : 0u;
        ps.sum_s += stored;
        ps.sum_w += w * stored;
        ps.h = max(ps.h, abs(stored));
    }
}

// Diffusion over the bricks of lane l (DIFFUSE; the module's specialisation
// decides, so the plain variants carry none of this).
void diffuse_bricks(lane_t l, inout pass_t ps, float d, float r, float sa, float sb)
{
    const float keep = 1.0 - r;
    for (uint k = 0u; k < BPT && l.live; k++) {
        uint q = (l.lb * TP + gl_LocalInvocationID.y) * BPT + k;
        if (q >= NBRICK)
            break;
        uint by = q % NBY, bx = (q / NBY) % NBX, bz = q / (NBY * NBX);
        uint x0 = bx * BX, y0 = by * BY, z0 = bz * DZ;
        uint z1 = min(z0 + DZ, Z);
        // Element offsets (32-bit, as field_at's) of the halo rows and
        // columns: line (x0 - 1 + i, y0 - 1 + j) starts at row[i] + col[j].
        uint row[HX], col[HY];
        bool xin[HX], yin[HY];
        [[unroll]] for (uint i = 0u; i < HX; i++) {
            int xx = int(x0 + i) - 1;
            xin[i] = xx >= 0 && xx < int(X);
            row[i] = (xin[i] ? uint(xx) : x0) * Y * Z * C + l.c;
        }
        [[unroll]] for (uint j = 0u; j < HY; j++) {
            int yy = int(y0 + j) - 1;
            yin[j] = yy >= 0 && yy < int(Y);
            col[j] = (yin[j] ? uint(yy) : y0) * Z * C;
        }
        // cur: F at height z; pair: F(z - 1) + F(z), for every halo line.
        float cur[HX * HY], pair[HX * HY];
        [[unroll]] for (uint i = 0u; i < HX; i++) {
            [[unroll]] for (uint j = 0u; j < HY; j++) {
                bool in_l = xin[i] && yin[j];
                uint e = row[i] + col[j];
                float below = float(Field(pc.src + uint64_t(e + (z0 > 0u ? z0 - 1u : 0u) * C) * FIELD_BYTES).v[0]);
                float here = float(Field(pc.src + uint64_t(e + z0 * C) * FIELD_BYTES).v[0]);
                below = in_l && z0 > 0u ? below : 0.0;
                here = in_l ? here : 0.0;
                precise float p = below + here;
                cur[i * HY + j] = here;
                pair[i * HY + j] = p;
            }
        }
        for (uint z = z0; z < z1; z++) {
            const bool in_z = z + 1u < Z;
            const uint zn = (in_z ? z + 1u : z) * C;
            const float wz = float(span(z, Z));
            // The z-sums at z; the pair and the value move up one.
            float zs[HX * HY], centre[BX * BY];
            [[unroll]] for (uint i = 0u; i < HX; i++) {
                [[unroll]] for (uint j = 0u; j < HY; j++) {
                    const uint n = i * HY + j;
                    float above = float(Field(pc.src + uint64_t(row[i] + col[j] + zn) * FIELD_BYTES).v[0]);
                    above = in_z && xin[i] && yin[j] ? above : 0.0;
                    if (i >= 1u && i <= BX && j >= 1u && j <= BY)
                        centre[(i - 1u) * BY + j - 1u] = cur[n];
                    precise float s = pair[n] + above;
                    precise float p = cur[n] + above;
                    zs[n] = s;
                    pair[n] = p;
                    cur[n] = above;
                }
            }
            [[unroll]] for (uint a = 0u; a < BX; a++) {
                [[unroll]] for (uint b = 0u; b < BY; b++) {
                    const uint x = x0 + a, y = y0 + b;
                    if (x >= X || y >= Y)
                        continue;
                    precise float u[3];
                    [[unroll]] for (uint i = 0u; i < 3u; i++) {
                        const uint n = (a + i) * HY + b;
                        u[i] = zs[n] + zs[n + 1u] + zs[n + 2u];
                    }
                    // The box of a F + b is a * (box of F) + b * (points of
                    // the box inside the grid, w(p)): one map per element,
                    // not nine (a = 1, b = 0 leave the box as it was).
                    const float w = float(span(x, X) * span(y, Y)) * wz;
                    precise float box_s = u[0] + u[1] + u[2];
                    precise float box_a = sa * box_s;
                    precise float box_b = sb * w;
                    precise float box = box_a + box_b;
                    precise float decayed = d * materialise(centre[a * BY + b], sa, sb);
                    precise float mean = d * box / 27.0;
                    precise float v = keep * decayed + r * mean;
                    const uint line = x * Y + y;
                    element(ps, v, line * Z + z, l.c,
                            pc.dst + uint64_t((line * Z + z) * C + l.c) * FIELD_BYTES, w);
                }
            }
        }
    }
}

void main()
{
    lane_t l = lane_of();
    if (l.block >= NBLK)
        return;
    Inputs in_ = Inputs(pc.inputs);
    const float d = in_.decay;
    pass_t ps;
    ps.nkey = in_.noise_key;
    ps.nthr = in_.noise_threshold;
    ps.nstd = in_.noise_std;
    ps.lim = in_.clamp_limit;
    ps.lim_stored = field_round(ps.lim);
    ps.off = 0.0;
    ps.sum_abs = 0.0;
    ps.sum_s = 0.0;
    ps.sum_w = 0.0;
    ps.h = 0.0;
    ps.sat = 0u;
    float sb = 0.0;
    const float sa = Floats(pc.state).v[ST_A];
    if (l.live) {
        ps.off = in_.momentum_gain * Floats(pc.state).v[ST_MOMENTUM + l.c];
        sb = Floats(pc.state).v[ST_B + l.c];
    }

    if (DIFFUSE) {
        diffuse_bricks(l, ps, d, in_.diffusion_rate, sa, sb);
    } else {
        for (uint k = 0u; k < LPT && l.live; k++) {
            uint line = lane_line(l, k);
            if (line == LINES)
                break;
            uint x = line / Y, y = line % Y;
            const float wxy = float(span(x, X) * span(y, Y));
            Field src = field_at(pc.src, line * Z * C + l.c);
            const uint64_t dst = pc.dst + uint64_t(line * Z * C + l.c) * FIELD_BYTES;
            for (uint z = 0u; z < Z; z++) {
                precise float v = d * materialise(float(src.v[z * C]), sa, sb);
                element(ps, v, line * Z + z, l.c, dst + uint64_t(z * C) * FIELD_BYTES,
                        wxy * float(span(z, Z)));
            }
        }
    }

    if (SPLIT) {
        float s = workgroup_sum(ps.sum_abs);
        if (gl_LocalInvocationIndex == 0u)
            Floats(pc.part).v[P_ACT + l.block] = s;
    } else {
        float s = workgroup_sum(ps.sum_abs);
        uint n = workgroup_sum_u(ps.sat);
        if (gl_LocalInvocationIndex == 0u) {
            Floats(pc.part).v[P_STATS + 2u * l.block] = s;
            Uints(pc.part).v[P_STATS + 2u * l.block + 1u] = n;
        }
        sw_partials(l, ps.sum_s, ps.sum_w, ps.h);
    }
}
