// noise_sum.comp: the per-channel sums of this cycle's noise draws (step 4),
// before the field pass adds them, so that step 5's mean is known first. The
// draws do not depend on the field: no field traffic. A workgroup takes
// NOISE_PB points: its lanes test them for a pick into a bit mask, then add
// the picked points' draws, lane = channel, in point order (the same sum
// every run), plain and weighted by w(p) (for the W of a lazy cycle). LAZY
// (non-diffusion cycles that may skip the dense pass): also adds each draw
// to the stored field, in the units of the scale a * d that the field has
// after this cycle's decay (F += n / (a d): the dense pass, if one runs,
// computes d (a F + b) and gets the draw back), and keeps the max |F| of
// what it wrote for the clamp bound.
#version 460
#extension GL_GOOGLE_include_directive : require
#include "rng.glsl"
#include "common.glsl"

layout(local_size_x = 64) in;

shared uint mask[NOISE_PB / 32u];

void main()
{
    uint b = workgroup_index();
    if (b >= NNB)
        return;
    uint i = gl_LocalInvocationIndex;
    Inputs in_ = Inputs(pc.inputs);
    const uint key = in_.noise_key, thr = in_.noise_threshold;
    const float nstd = in_.noise_std;
    for (uint w = i; w < NOISE_PB / 32u; w += 64u)
        mask[w] = 0u;
    barrier();
    for (uint k = i; k < NOISE_PB; k += 64u) {
        uint p = b * NOISE_PB + k;
        if (p < N && picked(key, p, thr))
            atomicOr(mask[k >> 5], 1u << (k & 31u));
    }
    barrier();
    precise float ad = 1.0;
    if (LAZY)
        ad = Floats(pc.state).v[ST_A] * in_.decay;
    for (uint c = i; c < C; c += 64u) {
        float s = 0.0, sw = 0.0, h = 0.0;
        for (uint w = 0u; w < NOISE_PB / 32u; w++) {
            uint m = mask[w];
            while (m != 0u) {
                uint bit = uint(findLSB(m));
                m &= m - 1u;
                uint p = b * NOISE_PB + w * 32u + bit;
                precise float add = nstd * rng_normal(key, p, c);
                s += add;
                uint z = p % Z, y = (p / Z) % Y, x = p / (Y * Z);
                sw += float(span(x, X) * span(y, Y) * span(z, Z)) * add;
                if (LAZY) {
                    Field f = field_at(pc.src, p * C + c);
                    precise float v = float(f.v[0]) + add / ad;
                    v = min(max(v, -FIELD_MAX), FIELD_MAX);
                    f.v[0] = FIELD_STORE(v);
                    h = max(h, abs(field_round(v)));
                }
            }
        }
        Floats(pc.part).v[P_NOISE + b * C + c] = s;
        Floats(pc.part).v[P_NOISE_W + b * C + c] = sw;
        Floats(pc.part).v[P_NOISE_H + b * C + c] = h;
    }
}
