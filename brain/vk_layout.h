/* vk_layout.h: the layout the Vulkan backend's host code and its shaders
 * share, written once: specialization-constant ids, workgroup sizes the host
 * counts by, the words of the state and partial-sum buffers, the cycle
 * flags, the Inputs block and the push constants. brain_vk.c includes it;
 * so does shaders/common.glsl (glslc -I brain), after enabling 64-bit
 * integers, and gives each offset its shader name (ST_A for FBVK_ST_A).
 * So it is written in what C and GLSL have in common: #define, comments,
 * and the two blocks as member lists that each language wraps in its own
 * struct or block. Offsets are unsigned literals, so that both languages
 * add them up unsigned; ids and workgroup sizes are plain ints, as layout
 * qualifiers want. Offsets that depend on the brain take its sizes as
 * arguments: C channels, S sensors, MO motors; NLB line blocks, NNB noise
 * blocks, NBLK field-pass workgroups (brain_vk.c's fbvk_plan). */
#ifndef FIELDBRAIN_VK_LAYOUT_H
#define FIELDBRAIN_VK_LAYOUT_H

/* Specialization constants (common.glsl), all 32-bit. */
#define FBVK_SC_X 0
#define FBVK_SC_Y 1
#define FBVK_SC_Z 2
#define FBVK_SC_C 3
#define FBVK_SC_S 4           /* sensors */
#define FBVK_SC_MO 5          /* motors */
#define FBVK_SC_TC 6          /* field passes: channel lanes of a workgroup */
#define FBVK_SC_TP 7          /* line lanes */
#define FBVK_SC_LPT 8         /* lines per lane */
#define FBVK_SC_NCHUNK 9      /* channel chunks */
#define FBVK_SC_NLB 10        /* line blocks */
#define FBVK_SC_GX 11         /* workgroups along x of a 2-D dispatch */
#define FBVK_SC_DIFFUSE 12    /* the variants of a pass (booleans) */
#define FBVK_SC_NOISE 13
#define FBVK_SC_ENERGY 14
#define FBVK_SC_SPLIT 15
#define FBVK_SC_LAZY 16
#define FBVK_SC_DZ 17         /* diffusion bricks: heights */
#define FBVK_SC_BPT 18        /* bricks per lane */
#define FBVK_SC_COUNT 19

/* Workgroup sizes of the passes the host sizes by elements: init.comp and
 * gather.comp (one element a lane), inject.comp (one sensor a lane); and
 * the points of one noise_sum.comp workgroup. */
#define FBVK_INIT_WG 256
#define FBVK_GATHER_WG 256
#define FBVK_INJECT_WG 64
#define FBVK_NOISE_PB 1024u

/* Diffusion bricks (cycle.comp's BX x BY lines; brain_vk.c's fbvk_plan
 * counts them). */
#define FBVK_BRICK_X 4u
#define FBVK_BRICK_Y 4u

/* Inputs.flags, written by the host each cycle. */
#define FBVK_FLAG_DIFFUSE 1u
#define FBVK_FLAG_NOISE 2u

/* The state buffer, in 4-byte words: the results the host reads back (one
 * copy per cycle: FBVK_RES_WORDS), the momentum, the spots as point
 * indices, the sensor chains, then the lazy map's words (common.glsl says
 * what each holds). ST_IND: two indirect dispatches of 3 words each, the
 * dense pass's and stats_reduce.comp's. */
#define FBVK_RES_ENERGY 0u
#define FBVK_RES_SATURATED 1u
#define FBVK_RES_ACTIVITY 2u
#define FBVK_RES_ENERGIZED 3u
#define FBVK_RES_MOTORS 4u
#define FBVK_RES_WORDS(C, S, MO) (FBVK_RES_MOTORS + (MO))
#define FBVK_ST_MOMENTUM(C, S, MO) FBVK_RES_WORDS(C, S, MO)
#define FBVK_ST_SENSOR_SPOTS(C, S, MO) (FBVK_ST_MOMENTUM(C, S, MO) + (C))
#define FBVK_ST_MOTOR_SPOTS(C, S, MO) (FBVK_ST_SENSOR_SPOTS(C, S, MO) + (S))
#define FBVK_ST_SENSOR_CHAIN(C, S, MO) (FBVK_ST_MOTOR_SPOTS(C, S, MO) + (MO))
#define FBVK_ST_A(C, S, MO) (FBVK_ST_SENSOR_CHAIN(C, S, MO) + (S))
#define FBVK_ST_FRESH(C, S, MO) (FBVK_ST_A(C, S, MO) + 1u)
#define FBVK_ST_IND(C, S, MO) (FBVK_ST_A(C, S, MO) + 2u)
#define FBVK_ST_IND_STATS(C, S, MO) (FBVK_ST_IND(C, S, MO) + 3u)
#define FBVK_ST_B(C, S, MO) (FBVK_ST_A(C, S, MO) + 8u)
#define FBVK_ST_B_NEXT(C, S, MO) (FBVK_ST_B(C, S, MO) + (C))
#define FBVK_ST_SUM_S(C, S, MO) (FBVK_ST_B(C, S, MO) + 2u * (C))
#define FBVK_ST_SUM_W(C, S, MO) (FBVK_ST_B(C, S, MO) + 3u * (C))
#define FBVK_ST_HI(C, S, MO) (FBVK_ST_B(C, S, MO) + 4u * (C))
#define FBVK_ST_OK(C, S, MO) (FBVK_ST_B(C, S, MO) + 5u * (C))
#define FBVK_ST_WORDS(C, S, MO) (FBVK_ST_B(C, S, MO) + 6u * (C))
/* The words read_field copies besides the field: a, then b[c] from ST_B. */
#define FBVK_MAP_WORDS(C, S, MO) (FBVK_ST_B(C, S, MO) - FBVK_ST_A(C, S, MO) + (C))
/* Sensor chains (ST_SENSOR_CHAIN): the next sensor, or CHAIN_END; TAIL set
 * when a sensor is not the first of its chain. */
#define FBVK_CHAIN_END 0x7FFFFFFFu
#define FBVK_CHAIN_TAIL 0x80000000u

/* The partial-sum buffer, in 4-byte words (common.glsl says what each
 * holds). */
#define FBVK_P_SW(NLB, NNB, NBLK, C) 0u
#define FBVK_P_H(NLB, NNB, NBLK, C) (2u * (NLB) * (C))
#define FBVK_P_NOISE(NLB, NNB, NBLK, C) (3u * (NLB) * (C))
#define FBVK_P_NOISE_W(NLB, NNB, NBLK, C) (FBVK_P_NOISE(NLB, NNB, NBLK, C) + (NNB) * (C))
#define FBVK_P_NOISE_H(NLB, NNB, NBLK, C) (FBVK_P_NOISE_W(NLB, NNB, NBLK, C) + (NNB) * (C))
#define FBVK_P_STATS(NLB, NNB, NBLK, C) (FBVK_P_NOISE_H(NLB, NNB, NBLK, C) + (NNB) * (C))
#define FBVK_P_ACT(NLB, NNB, NBLK, C) (FBVK_P_STATS(NLB, NNB, NBLK, C) + 2u * (NBLK))
#define FBVK_P_WORDS(NLB, NNB, NBLK, C) (FBVK_P_ACT(NLB, NNB, NBLK, C) + (NBLK))

#ifdef __STDC_VERSION__
#include <stddef.h>
#include <stdint.h>
#define FBVK_UINT uint32_t
#else
#define FBVK_UINT uint
#endif

/* The Inputs block (std430, read by address): the constant parameters,
 * written once at create, then the cycle's inputs, written before each
 * submit. Every member is 4 bytes, so C lays it out as std430 does; the
 * asserts below hold it to that. */
#define FBVK_INPUTS_MEMBERS                                                   \
    float decay, diffusion_rate, noise_std, momentum_keep;                    \
    float momentum_gain, activity_threshold, energy_std, motor_gain;          \
    float clamp_limit, sensor_gain, init_std, pad0;                           \
    FBVK_UINT flags, noise_key, energy_key, noise_threshold; /* FLAG_* */     \
    FBVK_UINT energy_threshold, init_key, t_lo, t_hi;                         \
    float sensors[];

/* The push constants of every pass: device addresses. gather.comp reuses
 * the three last as its arguments (brain_vk.c's fbvk_gather). */
#define FBVK_PUSH_MEMBERS                                                     \
    uint64_t src;     /* field read by this pass */                           \
    uint64_t dst;     /* field written (== src when in place) */              \
    uint64_t inputs;  /* Inputs */                                            \
    uint64_t state;   /* state words */                                       \
    uint64_t part;    /* partial sums */

#ifdef __STDC_VERSION__
typedef struct {
    FBVK_INPUTS_MEMBERS
} fbvk_inputs;

typedef struct {
    FBVK_PUSH_MEMBERS
} fbvk_push;

/* std430: 4-byte scalars at 4-byte offsets, no padding, the sensors array
 * with a stride of 4 after the 20 fixed words. Push constants: 8-byte
 * addresses, within the 128 bytes every device allows. */
_Static_assert(offsetof(fbvk_inputs, decay) == 0, "Inputs starts at decay");
_Static_assert(offsetof(fbvk_inputs, clamp_limit) == 32, "Inputs: clamp_limit is word 8");
_Static_assert(offsetof(fbvk_inputs, flags) == 48, "Inputs: flags is word 12");
_Static_assert(offsetof(fbvk_inputs, t_hi) == 76, "Inputs: t_hi is word 19");
_Static_assert(offsetof(fbvk_inputs, sensors) == 80, "Inputs: sensors from word 20");
_Static_assert(sizeof(fbvk_inputs) == 80, "Inputs: 20 fixed words, no padding");
_Static_assert(offsetof(fbvk_push, part) == 32 && sizeof(fbvk_push) == 40,
               "push constants: five 8-byte addresses");
_Static_assert(sizeof(fbvk_push) <= 128, "push constants fit maxPushConstantsSize's minimum");
#endif

#endif
