// common.glsl: what every pass of the field brain shares: sizes as
// specialization constants, buffers reached by device address (so a field
// larger than maxStorageBufferRange needs no descriptor), the per-cycle
// input block written by the host, and the layout of the small state buffer.
// The ids, offsets and blocks are brain/vk_layout.h's, which the host
// includes too; this file gives them their shader names.
#extension GL_EXT_buffer_reference : require
#extension GL_EXT_shader_explicit_arithmetic_types_int64 : require
#include "vk_layout.h"

layout(constant_id = FBVK_SC_X) const uint X = 1;
layout(constant_id = FBVK_SC_Y) const uint Y = 1;
layout(constant_id = FBVK_SC_Z) const uint Z = 1;
layout(constant_id = FBVK_SC_C) const uint C = 1;
layout(constant_id = FBVK_SC_S) const uint S = 1;             // sensors
layout(constant_id = FBVK_SC_MO) const uint MO = 1;           // motors
// Field passes: a workgroup is TC channel lanes x TP line lanes; it covers one
// chunk of TC channels of TP*LPT z-lines (a line: fixed x, y, all z).
layout(constant_id = FBVK_SC_TC) const uint TC = 1;
layout(constant_id = FBVK_SC_TP) const uint TP = 1;
layout(constant_id = FBVK_SC_LPT) const uint LPT = 1;         // lines per lane
layout(constant_id = FBVK_SC_NCHUNK) const uint NCHUNK = 1;   // channel chunks
layout(constant_id = FBVK_SC_NLB) const uint NLB = 1;         // line blocks
layout(constant_id = FBVK_SC_GX) const uint GX = 1;           // workgroups along x of a 2-D dispatch
// Variants of a pass (a uniform branch on a flag read from memory still
// costs its body on lavapipe, so the cycle picks a pipeline instead).
layout(constant_id = FBVK_SC_DIFFUSE) const bool DIFFUSE = false;  // advance: step 3 runs
layout(constant_id = FBVK_SC_NOISE) const bool NOISE = false;      // advance: step 4 runs
layout(constant_id = FBVK_SC_ENERGY) const bool ENERGY = false;    // motors: after the split pass of an activity cycle
layout(constant_id = FBVK_SC_SPLIT) const bool SPLIT = false;      // cycle: an activity cycle's first pass (no clamp)
layout(constant_id = FBVK_SC_LAZY) const bool LAZY = false;        // noise_sum: a lazy-capable cycle's, adds the draws to the field
// The diffusion pass (cycle.comp DIFFUSE): heights per brick, and bricks per
// lane (brain_vk.c's fbvk_plan; the same NBLK workgroups as the other passes).
layout(constant_id = FBVK_SC_DZ) const uint DZ = 1;
layout(constant_id = FBVK_SC_BPT) const uint BPT = 1;

const uint N = X * Y * Z;                        // spatial points
const uint LINES = X * Y;
const uint NBLK = NCHUNK * NLB;                  // workgroups of a field pass
// noise_sum.comp: points per workgroup, and its workgroups.
const uint NOISE_PB = FBVK_NOISE_PB;
const uint NNB = (N + NOISE_PB - 1u) / NOISE_PB;

// The partial-sum buffer, in 4-byte words from pc.part:
//   P_SW     per line block and channel: S = sum of F, then W = sum of w(p) F
//            over the block's points, of the field the last field pass (or
//            sums.comp) wrote: [lb*C + c], then [(NLB + lb)*C + c]
//   P_H      per line block and channel: max |F| of that same field
//   P_NOISE  per noise block and channel, the sum of this cycle's noise draws,
//            then (P_NOISE_W) their sum weighted by w(p), then (P_NOISE_H)
//            the max |F stored| at the points they were added to (LAZY)
//   P_STATS  per field-pass workgroup: sum |F|, saturated count
//   P_ACT    per field-pass workgroup: sum |F| before the clamp (activity cycles)
const uint P_SW = FBVK_P_SW(NLB, NNB, NBLK, C);
const uint P_H = FBVK_P_H(NLB, NNB, NBLK, C);
const uint P_NOISE = FBVK_P_NOISE(NLB, NNB, NBLK, C);
const uint P_NOISE_W = FBVK_P_NOISE_W(NLB, NNB, NBLK, C);
const uint P_NOISE_H = FBVK_P_NOISE_H(NLB, NNB, NBLK, C);
const uint P_STATS = FBVK_P_STATS(NLB, NNB, NBLK, C);
const uint P_ACT = FBVK_P_ACT(NLB, NNB, NBLK, C);
const uint P_WORDS = FBVK_P_WORDS(NLB, NNB, NBLK, C);

// Cycle flags in Inputs.flags (written by the host each cycle).
const uint FLAG_DIFFUSE = FBVK_FLAG_DIFFUSE;
const uint FLAG_NOISE = FBVK_FLAG_NOISE;

// The state buffer, in 4-byte words: the results the host reads back (one
// copy per cycle), then the momentum, then the spots as point indices.
const uint RES_ENERGY = FBVK_RES_ENERGY;
const uint RES_SATURATED = FBVK_RES_SATURATED;
const uint RES_ACTIVITY = FBVK_RES_ACTIVITY;
const uint RES_ENERGIZED = FBVK_RES_ENERGIZED;
const uint RES_MOTORS = FBVK_RES_MOTORS;
const uint ST_MOMENTUM = FBVK_ST_MOMENTUM(C, S, MO);
const uint ST_SENSOR_SPOTS = FBVK_ST_SENSOR_SPOTS(C, S, MO);
const uint ST_MOTOR_SPOTS = FBVK_ST_MOTOR_SPOTS(C, S, MO);
// Sensors that hit the same element form a chain in index order: word i holds
// the next sensor of i's chain (CHAIN_END if none), with CHAIN_TAIL set when
// i is not the first of its chain.
const uint ST_SENSOR_CHAIN = FBVK_ST_SENSOR_CHAIN(C, S, MO);
const uint CHAIN_END = FBVK_CHAIN_END;
const uint CHAIN_TAIL = FBVK_CHAIN_TAIL;
// The lazy affine map (brain/README.md): the brain's field is
// a * F_stored + b[c]. ST_FRESH: P_SW and P_H hold the sums of the stored
// field (a dense pass or sums.comp wrote them; a = 1, b = 0), else the
// carried ST_SUM_S, ST_SUM_W, ST_HI are current. ST_IND: decide.comp's
// indirect dispatch sizes of the dense pass and of stats_reduce.comp.
// ST_B_NEXT, ST_OK: momentum.comp's offset for a lazy cycle and whether
// this channel allows one.
const uint ST_A = FBVK_ST_A(C, S, MO);
const uint ST_FRESH = FBVK_ST_FRESH(C, S, MO);
const uint ST_IND = FBVK_ST_IND(C, S, MO);
const uint ST_IND_STATS = FBVK_ST_IND_STATS(C, S, MO);
const uint ST_B = FBVK_ST_B(C, S, MO);
const uint ST_B_NEXT = FBVK_ST_B_NEXT(C, S, MO);
const uint ST_SUM_S = FBVK_ST_SUM_S(C, S, MO);
const uint ST_SUM_W = FBVK_ST_SUM_W(C, S, MO);
const uint ST_HI = FBVK_ST_HI(C, S, MO);
const uint ST_OK = FBVK_ST_OK(C, S, MO);
// The smallest scale a lazy cycle may reach before a dense pass folds it in.
const float A_MIN = 0.5;
// A lazy cycle needs max |a F + b| <= clamp_limit * LAZY_MARGIN: below the
// limit by far more than the rounding of either backend, so that no element
// reaches the clamp on the CPU either and `saturated` is exactly 0.
const float LAZY_MARGIN = 0.9999;

layout(buffer_reference, std430, buffer_reference_align = 4) buffer Floats { float v[]; };
layout(buffer_reference, std430, buffer_reference_align = 4) buffer Uints { uint v[]; };

// Constant parameters (written once at create) and the cycle's inputs
// (written by the host before each submit): vk_layout.h's members.
layout(buffer_reference, std430, buffer_reference_align = 16) readonly buffer Inputs {
    FBVK_INPUTS_MEMBERS
};

// Device addresses of the fields and buffers (vk_layout.h).
layout(push_constant) uniform Push {
    FBVK_PUSH_MEMBERS
} pc;

// The field's storage: float32, or float16 when built with FIELD_F16 (the
// arithmetic stays float32; every element is rounded once when stored).
#ifdef FIELD_F16
#extension GL_EXT_shader_16bit_storage : require
#extension GL_EXT_shader_explicit_arithmetic_types_float16 : require
layout(buffer_reference, std430, buffer_reference_align = 2) buffer Field { float16_t v[]; };
const uint64_t FIELD_BYTES = 2ul;
// The largest finite half: what the split pass stores for anything beyond.
const float FIELD_MAX = 65504.0;
float field_round(float v) { return float(float16_t(v)); }
#define FIELD_STORE(x) float16_t(x)
#else
layout(buffer_reference, std430, buffer_reference_align = 4) buffer Field { float v[]; };
const uint64_t FIELD_BYTES = 4ul;
const float FIELD_MAX = 3.4028235e38;
float field_round(float v) { return v; }
#define FIELD_STORE(x) (x)
#endif

// The brain's value of a stored element: a * f + b, never fused, so that
// the host (read_field) computes the same bits.
float materialise(float f, float a, float b)
{
    precise float t = a * f;
    precise float v = t + b;
    return v;
}

// The sum of w(p) over the grid: (3X - 2)(3Y - 2)(3Z - 2) (1 for a side of 1).
float sum_weights()
{
    return float(3u * X - 2u) * float(3u * Y - 2u) * float(3u * Z - 2u);
}

// The field from element `first` on (64-bit address arithmetic).
Field field_at(uint64_t base, uint first)
{
    return Field(base + uint64_t(first) * FIELD_BYTES);
}

// How many of {i-1, i, i+1} lie in [0, n): a point's weight along one axis,
// so that w(p) = span(x,X)*span(y,Y)*span(z,Z) counts the 3x3x3 boxes that
// hold p, and the sum of the zero-padded box sums is sum_p w(p) F(p).
uint span(uint i, uint n)
{
    return 1u + (i > 0u ? 1u : 0u) + (i + 1u < n ? 1u : 0u);
}

// A float array starting at element `first` of a buffer: 64-bit address
// arithmetic, so that no 32-bit index ever exceeds 2^31.
Floats floats_at(uint64_t base, uint first)
{
    return Floats(base + uint64_t(first) * 4ul);
}

// The linear index of the workgroup in a 2-D dispatch of GX columns.
uint workgroup_index()
{
    return gl_WorkGroupID.y * GX + gl_WorkGroupID.x;
}

// A sparse pick (field-brain.md steps 4 and 6): the same test as brain/rng.h.
bool picked(uint key, uint point, uint threshold)
{
    return rng_bits(key, point, 0u) < threshold;
}
