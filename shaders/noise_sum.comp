// noise_sum.comp: the per-channel sums of this cycle's noise draws (step 4),
// before the field pass adds them, so that step 5's mean is known first. The
// draws do not depend on the field: no field traffic. A workgroup takes
// NOISE_PB points: its lanes test them for a pick into a bit mask, then add
// the picked points' draws, lane = channel, in point order (the same sum
// every run).
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
    for (uint c = i; c < C; c += 64u) {
        float s = 0.0;
        for (uint w = 0u; w < NOISE_PB / 32u; w++) {
            uint m = mask[w];
            while (m != 0u) {
                uint bit = uint(findLSB(m));
                m &= m - 1u;
                uint p = b * NOISE_PB + w * 32u + bit;
                precise float add = nstd * rng_normal(key, p, c);
                s += add;
            }
        }
        Floats(pc.part).v[P_NOISE + b * C + c] = s;
    }
}
