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
