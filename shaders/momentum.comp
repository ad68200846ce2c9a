// momentum.comp: field-brain.md step 5's mean and update, before the field
// pass. One workgroup per channel. Steps 1-4 are linear in the field apart
// from the noise, whose draws do not depend on it, so the channel sum after
// them follows from the sums S (of F) and W (of w(p) F) that the pass which
// wrote F left (P_SW), the sensor values, and noise_sum.comp's sums:
//   S1 = S + sum of the injections into c, W1 = W + w(spot) * each of them;
//   decay: * d; diffusion: (1 - r) d S1 + r d W1 / 27; noise: + its draws.
// Then M = keep*M + (1-keep)*m with m = the sum / N. Also clears the cycle's
// energized flag (set by activity_reduce.comp on activity cycles only).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "rng.glsl"
#include "common.glsl"

layout(local_size_x = 64) in;

shared float red_s[64], red_w[64], red_n[64];

void main()
{
    uint c = workgroup_index();
    if (c >= C)
        return;
    uint i = gl_LocalInvocationIndex;
    Inputs in_ = Inputs(pc.inputs);
    const bool diffuse = (in_.flags & FLAG_DIFFUSE) != 0u;
    const bool noise = (in_.flags & FLAG_NOISE) != 0u;
    Floats part = Floats(pc.part);
    float s = 0.0, w = 0.0, n = 0.0;
    for (uint lb = i; lb < NLB; lb += 64u) {
        s += part.v[P_SW + lb * C + c];
        w += part.v[P_SW + (NLB + lb) * C + c];
    }
    if (noise)
        for (uint b = i; b < NNB; b += 64u)
            n += part.v[P_NOISE + b * C + c];
    red_s[i] = s;
    red_w[i] = w;
    red_n[i] = n;
    barrier();
    for (uint k = 32u; k > 0u; k >>= 1u) {
        if (i < k) {
            red_s[i] += red_s[i + k];
            red_w[i] += red_w[i + k];
            red_n[i] += red_n[i + k];
        }
        barrier();
    }
    if (i == 0u) {
        Uints st_u = Uints(pc.state);
        precise float S1 = red_s[0], W1 = red_w[0];
        for (uint j = c; j < S; j += C) {
            uint point = st_u.v[ST_SENSOR_SPOTS + j];
            uint z = point % Z, y = (point / Z) % Y, x = point / (Y * Z);
            precise float add = in_.sensor_gain * in_.sensors[j];
            S1 = S1 + add;
            W1 = W1 + float(span(x, X) * span(y, Y) * span(z, Z)) * add;
        }
        const float d = in_.decay, r = in_.diffusion_rate;
        precise float S4 = diffuse ? (1.0 - r) * d * S1 + r * d * W1 / 27.0 : d * S1;
        S4 = S4 + red_n[0];
        precise float m = S4 / float(N);
        Floats st = Floats(pc.state);
        float k = in_.momentum_keep;
        precise float M = k * st.v[ST_MOMENTUM + c] + (1.0 - k) * m;
        st.v[ST_MOMENTUM + c] = M;
        if (c == 0u)
            st_u.v[RES_ENERGIZED] = 0u;
    }
}
