// field_lines.glsl: how a field pass walks the field. Workgroup b covers
// channel chunk b % NCHUNK (TC channels) of line block b / NCHUNK; lane
// (lx, ly) takes channel chunk*TC + lx of lines lb*TP*LPT + ly + k*TP.
// Neighbouring lanes read neighbouring channels of one point: coalesced.

struct lane_t {
    bool live;       // the workgroup exists and the channel is < C
    uint c;          // channel
    uint lb;         // line block
    uint block;      // workgroup index
};

lane_t lane_of()
{
    lane_t l;
    l.block = workgroup_index();
    uint chunk = l.block % NCHUNK;
    l.lb = l.block / NCHUNK;
    l.c = chunk * TC + gl_LocalInvocationID.x;
    l.live = l.block < NBLK && l.c < C;
    return l;
}

// The k-th line of this lane, or LINES when there is none.
uint lane_line(lane_t l, uint k)
{
    uint line = l.lb * TP * LPT + gl_LocalInvocationID.y + k * TP;
    return line < LINES ? line : LINES;
}

shared float red_f[64];
shared uint red_u[64];

// Sums one float per lane over the workgroup in a fixed order (lane 0 adds
// them up): the same bits every run. Returns the sum in lane 0.
float workgroup_sum(float v)
{
    uint i = gl_LocalInvocationIndex;
    red_f[i] = v;
    barrier();
    float s = 0.0;
    if (i == 0u)
        for (uint k = 0u; k < TC * TP; k++)
            s += red_f[k];
    barrier();
    return s;
}

uint workgroup_sum_u(uint v)
{
    uint i = gl_LocalInvocationIndex;
    red_u[i] = v;
    barrier();
    uint s = 0u;
    if (i == 0u)
        for (uint k = 0u; k < TC * TP; k++)
            s += red_u[k];
    barrier();
    return s;
}

// Adds one float per lane over the line lanes of each channel, in lane
// order, and stores it at pc.part word `at + lb*C + c` (a channel's sum over
// this workgroup's line block). Every lane of the workgroup must call it.
void channel_partial(lane_t l, float v, uint at)
{
    uint lx = gl_LocalInvocationID.x, ly = gl_LocalInvocationID.y;
    red_f[ly * TC + lx] = v;
    barrier();
    if (ly == 0u && l.live) {
        float s = 0.0;
        for (uint k = 0u; k < TP; k++)
            s += red_f[k * TC + lx];
        Floats(pc.part).v[at + l.lb * C + l.c] = s;
    }
    barrier();
}

// As channel_partial, the max instead of the sum (P_H: v >= 0).
void channel_partial_max(lane_t l, float v, uint at)
{
    uint lx = gl_LocalInvocationID.x, ly = gl_LocalInvocationID.y;
    red_f[ly * TC + lx] = v;
    barrier();
    if (ly == 0u && l.live) {
        float s = 0.0;
        for (uint k = 0u; k < TP; k++)
            s = max(s, red_f[k * TC + lx]);
        Floats(pc.part).v[at + l.lb * C + l.c] = s;
    }
    barrier();
}

// The S and W partials of field-brain.md's prediction (common.glsl, P_SW).
// and the max |F| of P_H.
void sw_partials(lane_t l, float s, float w, float h)
{
    channel_partial(l, s, P_SW);
    channel_partial(l, w, P_SW + NLB * C);
    channel_partial_max(l, h, P_H);
}
