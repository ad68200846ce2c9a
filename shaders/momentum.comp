// momentum.comp: field-brain.md step 5's mean and update, before the field
// pass. One workgroup per channel. Steps 1-4 are linear in the field apart
// from the noise, whose draws do not depend on it, so the channel sum after
// them follows from the sums S (of F) and W (of w(p) F) that the pass which
// wrote F left (P_SW), the sensor values, and noise_sum.comp's sums:
//   S1 = S + sum of the injections into c, W1 = W + w(spot) * each of them;
//   decay: * d; diffusion: (1 - r) d S1 + r d W1 / 27; noise: + its draws.
// Then M = keep*M + (1-keep)*m with m = the sum / N. Also clears the cycle's
// energized flag (set by activity_reduce.comp on activity cycles only).
//
// The sums are those of the brain's field a * F + b: after a dense pass
// (ST_FRESH) the partials P_SW of its output (a = 1, b = 0 then), after a
// lazy cycle the carried ST_SUM_S/W, which this shader moves through a lazy
// cycle (decay, the draws, + N and sum w(p) times the offset g M). Likewise
// the bound H >= max |F stored| of the channel (P_H or ST_HI, then the
// injected elements and noise_sum.comp's P_NOISE_H). From them, whether this
// channel allows a lazy cycle: after it the field is a' F + b' with
// a' = a d, b' = d b + g M, and |a' F + b'| <= a' H + |b'| must stay under
// the clamp (LAZY_MARGIN) with a' >= A_MIN (ST_OK; decide.comp reads it).
#version 460
#extension GL_GOOGLE_include_directive : require
#include "rng.glsl"
#include "common.glsl"

layout(local_size_x = 64) in;

shared float red_s[64], red_w[64], red_n[64], red_nw[64], red_h[64];

void main()
{
    uint c = workgroup_index();
    if (c >= C)
        return;
    uint i = gl_LocalInvocationIndex;
    Inputs in_ = Inputs(pc.inputs);
    const bool diffuse = (in_.flags & FLAG_DIFFUSE) != 0u;
    const bool noise = (in_.flags & FLAG_NOISE) != 0u;
    Floats st = Floats(pc.state);
    Uints st_u = Uints(pc.state);
    const bool fresh = st_u.v[ST_FRESH] != 0u;
    Floats part = Floats(pc.part);
    float s = 0.0, w = 0.0, n = 0.0, nw = 0.0, h = 0.0;
    if (fresh)
        for (uint lb = i; lb < NLB; lb += 64u) {
            s += part.v[P_SW + lb * C + c];
            w += part.v[P_SW + (NLB + lb) * C + c];
            h = max(h, part.v[P_H + lb * C + c]);
        }
    if (noise)
        for (uint b = i; b < NNB; b += 64u) {
            n += part.v[P_NOISE + b * C + c];
            nw += part.v[P_NOISE_W + b * C + c];
            h = max(h, part.v[P_NOISE_H + b * C + c]);
        }
    red_s[i] = s;
    red_w[i] = w;
    red_n[i] = n;
    red_nw[i] = nw;
    red_h[i] = h;
    barrier();
    for (uint k = 32u; k > 0u; k >>= 1u) {
        if (i < k) {
            red_s[i] += red_s[i + k];
            red_w[i] += red_w[i + k];
            red_n[i] += red_n[i + k];
            red_nw[i] += red_nw[i + k];
            red_h[i] = max(red_h[i], red_h[i + k]);
        }
        barrier();
    }
    if (i == 0u) {
        precise float S1 = fresh ? red_s[0] : st.v[ST_SUM_S + c];
        precise float W1 = fresh ? red_w[0] : st.v[ST_SUM_W + c];
        float H = fresh ? red_h[0] : max(red_h[0], st.v[ST_HI + c]);
        for (uint j = c; j < S; j += C) {
            uint point = st_u.v[ST_SENSOR_SPOTS + j];
            uint z = point % Z, y = (point / Z) % Y, x = point / (Y * Z);
            precise float add = in_.sensor_gain * in_.sensors[j];
            S1 = S1 + add;
            W1 = W1 + float(span(x, X) * span(y, Y) * span(z, Z)) * add;
            H = max(H, abs(float(field_at(pc.src, point * C + c).v[0])));
        }
        const float d = in_.decay, r = in_.diffusion_rate;
        precise float S4 = diffuse ? (1.0 - r) * d * S1 + r * d * W1 / 27.0 : d * S1;
        S4 = S4 + red_n[0];
        precise float m = S4 / float(N);
        float k = in_.momentum_keep;
        precise float M = k * st.v[ST_MOMENTUM + c] + (1.0 - k) * m;
        st.v[ST_MOMENTUM + c] = M;
        if (c == 0u)
            st_u.v[RES_ENERGIZED] = 0u;

        // A lazy cycle's outcome (used only if decide.comp chooses one).
        precise float off = in_.momentum_gain * M;
        precise float a2 = st.v[ST_A] * d;
        precise float db = d * st.v[ST_B + c];
        precise float b2 = db + off;
        precise float W4 = d * W1 + red_nw[0];
        precise float bound = a2 * H + abs(b2);
        bool ok = !diffuse && a2 >= A_MIN &&
                  bound <= in_.clamp_limit * LAZY_MARGIN;
        st.v[ST_B_NEXT + c] = b2;
        st_u.v[ST_OK + c] = ok ? 1u : 0u;
        st.v[ST_SUM_S + c] = S4 + float(N) * off;
        st.v[ST_SUM_W + c] = W4 + sum_weights() * off;
        st.v[ST_HI + c] = H;
    }
}
