/* brain_vk.c: the Vulkan compute backend of the brain (field-brain.md on the
 * GPU). Buffers and pipelines are made once; every cycle variant's command
 * buffer is recorded once at create, and a cycle is one submit of one of them
 * and one fence wait (a fleet's step: every brain's in one submit,
 * fbvk_step_many, on the fbvk_device the brains share). vk_device.c chooses the device and makes buffers;
 * vk_layout.h is the layout the shaders share.
 *
 * brain/README.md is the picture of a cycle: the variants, the passes each
 * one records (fbvk_record_cycle), what they read and write, and the lazy
 * cycles that keep the field as a * F + b and skip the dense pass
 * (FB_VK_DENSE=1 in the environment records the dense cycles alone).
 */
#include "vk_internal.h"
#include "vk_layout.h"
#include "rng.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const uint32_t spv_init[] =
#include "spv/init.h"
    ;
static const uint32_t spv_sums[] =
#include "spv/sums.h"
    ;
static const uint32_t spv_inject[] =
#include "spv/inject.h"
    ;
static const uint32_t spv_noise_sum[] =
#include "spv/noise_sum.h"
    ;
static const uint32_t spv_cycle[] =
#include "spv/cycle.h"
    ;
/* The same passes with the field stored as float16 (precision f16). */
static const uint32_t spv_init_f16[] =
#include "spv/init_f16.h"
    ;
static const uint32_t spv_sums_f16[] =
#include "spv/sums_f16.h"
    ;
static const uint32_t spv_inject_f16[] =
#include "spv/inject_f16.h"
    ;
static const uint32_t spv_cycle_f16[] =
#include "spv/cycle_f16.h"
    ;
static const uint32_t spv_motors_f16[] =
#include "spv/motors_f16.h"
    ;
static const uint32_t spv_finish_f16[] =
#include "spv/finish_f16.h"
    ;
static const uint32_t spv_momentum[] =
#include "spv/momentum.h"
    ;
static const uint32_t spv_momentum_f16[] =
#include "spv/momentum_f16.h"
    ;
static const uint32_t spv_noise_sum_f16[] =
#include "spv/noise_sum_f16.h"
    ;
static const uint32_t spv_decide[] =
#include "spv/decide.h"
    ;
static const uint32_t spv_gather[] =
#include "spv/gather.h"
    ;
static const uint32_t spv_gather_f16[] =
#include "spv/gather_f16.h"
    ;
static const uint32_t spv_activity_reduce[] =
#include "spv/activity_reduce.h"
    ;
static const uint32_t spv_motors[] =
#include "spv/motors.h"
    ;
static const uint32_t spv_finish[] =
#include "spv/finish.h"
    ;
static const uint32_t spv_stats_reduce[] =
#include "spv/stats_reduce.h"
    ;

/* A state word of vk_layout.h for this brain's sizes: FBVK_WORD(vb, ST_A)
 * is the word the shaders call ST_A. */
#define FBVK_WORD(vb, NAME) FBVK_##NAME((vb)->C, (vb)->S, (vb)->MO)
/* What the one copy of a cycle brings back: the results and the momentum
 * right after them (state_finite looks at it; no second transfer). */
#define FBVK_RES_BYTES(vb) ((VkDeviceSize)(FBVK_WORD(vb, ST_MOMENTUM) + (vb)->C) * 4)

/* Diffusion bricks: the shortest z segment of one (fbvk_plan); the lines a
 * lane takes on a CPU device. */
#define FBVK_MIN_DZ 16u
#define FBVK_CPU_LPT 16u

/* Workgroups along x of every 2-D dispatch (the minimum every device has). */
#define FBVK_GX 65535u
#define FBVK_STAGING_BYTES ((VkDeviceSize)16 << 20)
#define FBVK_WAIT_NS 60000000000ull

/* An op is refused once the device is lost or the validation layer has
 * reported an error: a test must not pass over either. */
static int fbvk_usable(fbvk_brain *vb)
{
    if (vb->broken || vb->dev->validation_errors)
        return BRAIN_ERR_DEVICE;
    return BRAIN_OK;
}

/* ---- geometry of the field passes ---- */

static void fbvk_plan(fbvk_brain *vb)
{
    const uint32_t C = vb->C;
    /* FB_VK_PLAN=gpu or cpu forces either shape (tests run both on lavapipe). */
    const char *env = getenv("FB_VK_PLAN");
    bool cpu = vb->dev->props.deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU;
    if (env && strcmp(env, "gpu") == 0)
        cpu = false;
    else if (env && strcmp(env, "cpu") == 0)
        cpu = true;
    /* Lanes along channels: up to 64 per workgroup, the channels split into
     * equal chunks; small C fills the rest of the 64 lanes with more lines. */
    vb->nchunk = (C + 63) / 64;
    vb->tc = (C + vb->nchunk - 1) / vb->nchunk;
    vb->tp = vb->tc >= 32 ? 1 : 64 / vb->tc;
    /* At most ~4096 line blocks: enough workgroups to fill a big GPU, few
     * enough partial sums for momentum.comp. A CPU device (lavapipe) runs
     * a few workgroups at a time and pays for each one's start and its
     * barriers: there a lane takes FBVK_CPU_LPT lines. */
    uint64_t lines = (uint64_t)vb->X * vb->Y;
    uint64_t per_block = (lines + 4095) / 4096;
    if (cpu && per_block < (uint64_t)vb->tp * FBVK_CPU_LPT)
        per_block = (uint64_t)vb->tp * FBVK_CPU_LPT;
    vb->lpt = (uint32_t)((per_block + vb->tp - 1) / vb->tp);
    if (vb->lpt == 0)
        vb->lpt = 1;
    uint64_t lb = (uint64_t)vb->tp * vb->lpt;
    vb->nlb = (uint32_t)((lines + lb - 1) / lb);
    vb->nblk = vb->nchunk * vb->nlb;
    vb->nnb = (uint32_t)(((uint64_t)vb->X * vb->Y * vb->Z + FBVK_NOISE_PB - 1) / FBVK_NOISE_PB);

    /* The diffusion pass (cycle.comp DIFFUSE) runs the same NBLK workgroups
     * (so its partial sums land where every reader looks), each lane on
     * bricks of FBVK_BRICK_X x FBVK_BRICK_Y lines and dz heights. A GPU wants about
     * one brick per lane slot, so the columns are cut into z segments (of
     * at least FBVK_MIN_DZ heights: each costs 2 extra planes of loads); a CPU
     * device does not care how the work is spread and takes whole columns,
     * the fewest loads. Lanes beyond the last brick only add zeros. */
    uint64_t columns = (uint64_t)((vb->X + FBVK_BRICK_X - 1) / FBVK_BRICK_X) *
                       ((vb->Y + FBVK_BRICK_Y - 1) / FBVK_BRICK_Y);
    uint64_t slots = (uint64_t)vb->nlb * vb->tp;
    uint64_t nz = cpu ? 1 : slots / columns;
    if (nz < 1)
        nz = 1;
    vb->dz = (uint32_t)((vb->Z + nz - 1) / nz);
    uint32_t min_dz = vb->Z < FBVK_MIN_DZ ? vb->Z : FBVK_MIN_DZ;
    if (vb->dz < min_dz)
        vb->dz = min_dz;
    uint64_t bricks = columns * ((vb->Z + vb->dz - 1) / vb->dz);
    vb->bpt = (uint32_t)((bricks + slots - 1) / slots);
}

/* Words of the partial-sum buffer (vk_layout.h's P_WORDS), in 64 bits. */
static VkDeviceSize fbvk_part_words(const fbvk_brain *vb)
{
    return FBVK_P_WORDS((VkDeviceSize)vb->nlb, (VkDeviceSize)vb->nnb, (VkDeviceSize)vb->nblk,
                        (VkDeviceSize)vb->C);
}

/* ---- pipelines ---- */

static int fbvk_create_pipelines(fbvk_brain *vb)
{
    /* Each pipeline: its module and specialization flags. */
    static const struct {
        const uint32_t *code;
        size_t size;
        const uint32_t *code16; /* f16 field; NULL: the pass does not touch it */
        size_t size16;
        bool diffuse, noise, energy, split, lazy;
    } src[FBVK_PIPE_COUNT] = {
        [FBVK_PIPE_INIT] = {spv_init, sizeof spv_init, spv_init_f16, sizeof spv_init_f16, 0, 0, 0, 0, 0},
        [FBVK_PIPE_SUMS] = {spv_sums, sizeof spv_sums, spv_sums_f16, sizeof spv_sums_f16, 0, 0, 0, 0, 0},
        [FBVK_PIPE_INJECT] = {spv_inject, sizeof spv_inject, spv_inject_f16, sizeof spv_inject_f16, 0, 0, 0, 0, 0},
        [FBVK_PIPE_NOISE_SUM] = {spv_noise_sum, sizeof spv_noise_sum, spv_noise_sum_f16, sizeof spv_noise_sum_f16, 0, 0, 0, 0, 0},
        [FBVK_PIPE_NOISE_FOLD] = {spv_noise_sum, sizeof spv_noise_sum, spv_noise_sum_f16, sizeof spv_noise_sum_f16, 0, 0, 0, 0, 1},
        [FBVK_PIPE_MOMENTUM] = {spv_momentum, sizeof spv_momentum, spv_momentum_f16, sizeof spv_momentum_f16, 0, 0, 0, 0, 0},
        [FBVK_PIPE_DECIDE] = {spv_decide, sizeof spv_decide, NULL, 0, 0, 0, 0, 0, 0},
        [FBVK_PIPE_CYCLE + 0] = {spv_cycle, sizeof spv_cycle, spv_cycle_f16, sizeof spv_cycle_f16, 0, 0, 0, 0, 0},
        [FBVK_PIPE_CYCLE + 1] = {spv_cycle, sizeof spv_cycle, spv_cycle_f16, sizeof spv_cycle_f16, 0, 0, 0, 1, 0},
        [FBVK_PIPE_CYCLE + 2] = {spv_cycle, sizeof spv_cycle, spv_cycle_f16, sizeof spv_cycle_f16, 0, 1, 0, 0, 0},
        [FBVK_PIPE_CYCLE + 3] = {spv_cycle, sizeof spv_cycle, spv_cycle_f16, sizeof spv_cycle_f16, 0, 1, 0, 1, 0},
        [FBVK_PIPE_CYCLE + 4] = {spv_cycle, sizeof spv_cycle, spv_cycle_f16, sizeof spv_cycle_f16, 1, 0, 0, 0, 0},
        [FBVK_PIPE_CYCLE + 5] = {spv_cycle, sizeof spv_cycle, spv_cycle_f16, sizeof spv_cycle_f16, 1, 0, 0, 1, 0},
        [FBVK_PIPE_CYCLE + 6] = {spv_cycle, sizeof spv_cycle, spv_cycle_f16, sizeof spv_cycle_f16, 1, 1, 0, 0, 0},
        [FBVK_PIPE_CYCLE + 7] = {spv_cycle, sizeof spv_cycle, spv_cycle_f16, sizeof spv_cycle_f16, 1, 1, 0, 1, 0},
        [FBVK_PIPE_MOTORS + 0] = {spv_motors, sizeof spv_motors, spv_motors_f16, sizeof spv_motors_f16, 0, 0, 0, 0, 0},
        [FBVK_PIPE_MOTORS + 1] = {spv_motors, sizeof spv_motors, spv_motors_f16, sizeof spv_motors_f16, 0, 1, 0, 0, 0},
        [FBVK_PIPE_MOTORS + 2] = {spv_motors, sizeof spv_motors, spv_motors_f16, sizeof spv_motors_f16, 1, 0, 0, 0, 0},
        [FBVK_PIPE_MOTORS + 3] = {spv_motors, sizeof spv_motors, spv_motors_f16, sizeof spv_motors_f16, 1, 1, 0, 0, 0},
        [FBVK_PIPE_MOTORS_ENERGY] = {spv_motors, sizeof spv_motors, spv_motors_f16, sizeof spv_motors_f16, 0, 0, 1, 0, 0},
        [FBVK_PIPE_FINISH] = {spv_finish, sizeof spv_finish, spv_finish_f16, sizeof spv_finish_f16, 0, 0, 0, 0, 0},
        [FBVK_PIPE_ACTIVITY_REDUCE] = {spv_activity_reduce, sizeof spv_activity_reduce, NULL, 0, 0, 0, 0, 0, 0},
        [FBVK_PIPE_STATS_REDUCE] = {spv_stats_reduce, sizeof spv_stats_reduce, NULL, 0, 0, 0, 0, 0, 0},
        [FBVK_PIPE_GATHER] = {spv_gather, sizeof spv_gather, spv_gather_f16, sizeof spv_gather_f16, 0, 0, 0, 0, 0},
    };
    VkPushConstantRange range = {.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT, .size = sizeof(fbvk_push)};
    VkPipelineLayoutCreateInfo lci = {
        .sType = VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO,
        .pushConstantRangeCount = 1,
        .pPushConstantRanges = &range,
    };
    int rc = fbvk__check(vb, vkCreatePipelineLayout(vb->dev->device, &lci, NULL, &vb->dev->layout),
                         "vkCreatePipelineLayout");
    if (rc)
        return rc;

    /* The specialization constants (vk_layout.h's FBVK_SC_*), constant id i
     * at word i; the variant flags are set per pipeline below. */
    uint32_t consts[FBVK_SC_COUNT] = {
        [FBVK_SC_X] = vb->X,           [FBVK_SC_Y] = vb->Y,     [FBVK_SC_Z] = vb->Z,
        [FBVK_SC_C] = vb->C,           [FBVK_SC_S] = vb->S,     [FBVK_SC_MO] = vb->MO,
        [FBVK_SC_TC] = vb->tc,         [FBVK_SC_TP] = vb->tp,   [FBVK_SC_LPT] = vb->lpt,
        [FBVK_SC_NCHUNK] = vb->nchunk, [FBVK_SC_NLB] = vb->nlb, [FBVK_SC_GX] = FBVK_GX,
        [FBVK_SC_DZ] = vb->dz,         [FBVK_SC_BPT] = vb->bpt,
    };
    VkSpecializationMapEntry entries[FBVK_SC_COUNT];
    for (uint32_t i = 0; i < FBVK_SC_COUNT; i++)
        entries[i] = (VkSpecializationMapEntry){.constantID = i, .offset = 4 * i, .size = 4};
    for (int i = 0; i < FBVK_PIPE_COUNT; i++) {
        bool half = vb->f16 && src[i].code16;
        VkShaderModuleCreateInfo mci = {
            .sType = VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO,
            .codeSize = half ? src[i].size16 : src[i].size,
            .pCode = half ? src[i].code16 : src[i].code,
        };
        if ((rc = fbvk__check(vb, vkCreateShaderModule(vb->dev->device, &mci, NULL, &vb->dev->modules[i]),
                              "vkCreateShaderModule")))
            return rc;
        consts[FBVK_SC_DIFFUSE] = src[i].diffuse;
        consts[FBVK_SC_NOISE] = src[i].noise;
        consts[FBVK_SC_ENERGY] = src[i].energy;
        consts[FBVK_SC_SPLIT] = src[i].split;
        consts[FBVK_SC_LAZY] = src[i].lazy;
        VkSpecializationInfo si = {
            .mapEntryCount = FBVK_SC_COUNT,
            .pMapEntries = entries,
            .dataSize = sizeof consts,
            .pData = consts,
        };
        VkComputePipelineCreateInfo pci = {
            .sType = VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO,
            .stage = {
                .sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO,
                .stage = VK_SHADER_STAGE_COMPUTE_BIT,
                .module = vb->dev->modules[i],
                .pName = "main",
                .pSpecializationInfo = &si,
            },
            .layout = vb->dev->layout,
        };
        if ((rc = fbvk__check(vb, vkCreateComputePipelines(vb->dev->device, VK_NULL_HANDLE, 1, &pci, NULL,
                                                           &vb->dev->pipes[i]),
                              "vkCreateComputePipelines")))
            return rc;
    }
    return BRAIN_OK;
}

/* ---- recording ---- */

/* A memory dependency from `src` stages/accesses to `dst` ones. */
static void fbvk_barrier(VkCommandBuffer cmd, VkPipelineStageFlags src_stage, VkAccessFlags src_access,
                         VkPipelineStageFlags dst_stage, VkAccessFlags dst_access)
{
    VkMemoryBarrier mb = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_BARRIER,
        .srcAccessMask = src_access,
        .dstAccessMask = dst_access,
    };
    vkCmdPipelineBarrier(cmd, src_stage, dst_stage, 0, 1, &mb, 0, NULL, 0, NULL);
}

/* Compute writes, then compute reads and writes. */
static void fbvk_barrier_cc(VkCommandBuffer cmd)
{
    fbvk_barrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                 VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
}

static void fbvk_dispatch(fbvk_brain *vb, VkCommandBuffer cmd, int pipe, const fbvk_push *push,
                          uint64_t groups)
{
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, vb->dev->pipes[pipe]);
    vkCmdPushConstants(cmd, vb->dev->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof *push, push);
    uint32_t gx = groups < FBVK_GX ? (uint32_t)groups : FBVK_GX;
    uint32_t gy = (uint32_t)((groups + FBVK_GX - 1) / FBVK_GX);
    vkCmdDispatch(cmd, gx, gy, 1);
}

/* A dispatch whose size a shader wrote to state word `word` (x, y, z). */
static void fbvk_dispatch_indirect(fbvk_brain *vb, VkCommandBuffer cmd, int pipe, const fbvk_push *push,
                                   VkDeviceSize word)
{
    vkCmdBindPipeline(cmd, VK_PIPELINE_BIND_POINT_COMPUTE, vb->dev->pipes[pipe]);
    vkCmdPushConstants(cmd, vb->dev->layout, VK_SHADER_STAGE_COMPUTE_BIT, 0, sizeof *push, push);
    vkCmdDispatchIndirect(cmd, vb->state.buf, word * 4);
}

/* The cycle with field `cur` current, and which optional steps run. */
static int fbvk_record_cycle(fbvk_brain *vb, VkCommandBuffer cmd, uint32_t cur, bool diffuse, bool noise,
                             bool activity)
{
    VkCommandBufferBeginInfo bi = {.sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO};
    int rc = fbvk__check(vb, vkBeginCommandBuffer(cmd, &bi), "vkBeginCommandBuffer");
    if (rc)
        return rc;
    VkDeviceAddress src = vb->field[cur].addr;
    VkDeviceAddress dst = vb->field[diffuse ? cur ^ 1u : cur].addr;
    fbvk_push push = {.src = src, .dst = src, .inputs = vb->inputs.addr, .state = vb->state.addr,
                      .part = vb->part.addr};

    if (vb->queries) {
        vkCmdResetQueryPool(cmd, vb->queries, 0, 2);
        vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, vb->queries, 0);
    }
    /* The previous cycle's shaders, or a write_field copy, wrote the field
     * and the state this cycle reads and writes again. */
    fbvk_barrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                 VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                 VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                 VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);

    if (vb->lazy && !diffuse && !activity) {
        /* A lazy-capable cycle: the sparse steps go into the stored field,
         * decide.comp sizes the dense pass (0 workgroups: a lazy cycle). */
        fbvk_dispatch(vb, cmd, FBVK_PIPE_INJECT, &push, (vb->S + FBVK_INJECT_WG - 1) / FBVK_INJECT_WG);
        fbvk_barrier_cc(cmd);
        if (noise) {
            /* After injection: a draw may land on an injected element. */
            fbvk_dispatch(vb, cmd, FBVK_PIPE_NOISE_FOLD, &push, vb->nnb);
            fbvk_barrier_cc(cmd);
        }
        fbvk_dispatch(vb, cmd, FBVK_PIPE_MOMENTUM, &push, vb->C);
        fbvk_barrier_cc(cmd);
        fbvk_dispatch(vb, cmd, FBVK_PIPE_MOTORS, &push, 1);
        fbvk_barrier_cc(cmd);
        fbvk_dispatch(vb, cmd, FBVK_PIPE_DECIDE, &push, 1);
        fbvk_barrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                     VK_PIPELINE_STAGE_DRAW_INDIRECT_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                     VK_ACCESS_INDIRECT_COMMAND_READ_BIT | VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
        fbvk_dispatch_indirect(vb, cmd, FBVK_PIPE_CYCLE, &push, (VkDeviceSize)FBVK_WORD(vb, ST_IND));
        fbvk_barrier_cc(cmd);
        fbvk_dispatch_indirect(vb, cmd, FBVK_PIPE_STATS_REDUCE, &push,
                               (VkDeviceSize)FBVK_WORD(vb, ST_IND_STATS));
        goto results;
    }

    /* Injection and the noise sums touch different memory: one barrier. */
    fbvk_dispatch(vb, cmd, FBVK_PIPE_INJECT, &push, (vb->S + FBVK_INJECT_WG - 1) / FBVK_INJECT_WG);
    if (noise)
        fbvk_dispatch(vb, cmd, FBVK_PIPE_NOISE_SUM, &push, vb->nnb);
    fbvk_barrier_cc(cmd);
    fbvk_dispatch(vb, cmd, FBVK_PIPE_MOMENTUM, &push, vb->C);
    fbvk_barrier_cc(cmd);

    if (!activity) {
        /* Motors read the field before the pass overwrites it (in place). */
        fbvk_dispatch(vb, cmd, FBVK_PIPE_MOTORS + 2 * diffuse + noise, &push, 1);
        fbvk_barrier_cc(cmd);
        push.dst = dst;
        fbvk_dispatch(vb, cmd, FBVK_PIPE_CYCLE + 4 * diffuse + 2 * noise, &push, vb->nblk);
        fbvk_barrier_cc(cmd);
    } else {
        push.dst = dst;
        fbvk_dispatch(vb, cmd, FBVK_PIPE_CYCLE + 4 * diffuse + 2 * noise + 1, &push, vb->nblk);
        fbvk_barrier_cc(cmd);
        /* From here on the field of the cycle is dst, changed in place. */
        push.src = dst;
        fbvk_dispatch(vb, cmd, FBVK_PIPE_ACTIVITY_REDUCE, &push, 1);
        fbvk_barrier_cc(cmd);
        fbvk_dispatch(vb, cmd, FBVK_PIPE_MOTORS_ENERGY, &push, 1);
        fbvk_barrier_cc(cmd);
        fbvk_dispatch(vb, cmd, FBVK_PIPE_FINISH, &push, vb->nblk);
        fbvk_barrier_cc(cmd);
    }
    fbvk_dispatch(vb, cmd, FBVK_PIPE_STATS_REDUCE, &push, 1);

results:
    /* Results to the host: shader write, transfer read; transfer write, host read. */
    fbvk_barrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_WRITE_BIT,
                 VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT);
    VkBufferCopy copy = {.size = FBVK_RES_BYTES(vb)};
    vkCmdCopyBuffer(cmd, vb->state.buf, vb->readback.buf, 1, &copy);
    fbvk_barrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                 VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
    if (vb->queries)
        vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, vb->queries, 1);
    return fbvk__check(vb, vkEndCommandBuffer(cmd), "vkEndCommandBuffer");
}

static int fbvk_variant(uint32_t cur, bool diffuse, bool noise, bool activity)
{
    return (int)(cur * 8u + (diffuse ? 4u : 0u) + (noise ? 2u : 0u) + (activity ? 1u : 0u));
}

/* ---- one-off work: begin, record, submit, wait ---- */

static int fbvk_util_begin(fbvk_brain *vb)
{
    int rc = fbvk_usable(vb);
    if (rc)
        return rc;
    VkCommandBufferBeginInfo bi = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO,
        .flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT,
    };
    return fbvk__check(vb, vkBeginCommandBuffer(vb->util_cmd, &bi), "vkBeginCommandBuffer");
}

static int fbvk_submit_wait(fbvk_brain *vb, VkCommandBuffer cmd)
{
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .commandBufferCount = 1,
        .pCommandBuffers = &cmd,
    };
    VkResult r = vkQueueSubmit(vb->dev->queue, 1, &si, vb->fence);
    if (r == VK_SUCCESS)
        r = vkWaitForFences(vb->dev->device, 1, &vb->fence, VK_TRUE, FBVK_WAIT_NS);
    if (r == VK_SUCCESS)
        r = vkResetFences(vb->dev->device, 1, &vb->fence);
    if (r != VK_SUCCESS) {
        vb->broken = true;
        return fbvk__check(vb, r, "vkQueueSubmit/vkWaitForFences");
    }
    return fbvk_usable(vb);
}

static int fbvk_util_end(fbvk_brain *vb)
{
    int rc = fbvk__check(vb, vkEndCommandBuffer(vb->util_cmd), "vkEndCommandBuffer");
    return rc ? rc : fbvk_submit_wait(vb, vb->util_cmd);
}

/* float32 -> float16 bits, rounded to nearest even (overflow: infinity). */
static uint16_t fbvk_half_of(float f)
{
    uint32_t x;
    memcpy(&x, &f, 4);
    uint32_t sign = (x >> 16) & 0x8000u, ax = x & 0x7FFFFFFFu;
    if (ax > 0x7F800000u)
        return (uint16_t)(sign | 0x7E00u); /* NaN */
    if (ax >= 0x477FF000u)
        return (uint16_t)(sign | 0x7C00u); /* rounds past 65504 */
    if (ax < 0x38800000u) {                /* below 2^-14: subnormal or zero */
        if (ax < 0x33000000u)
            return (uint16_t)sign;
        uint32_t e = ax >> 23, m = (ax & 0x7FFFFFu) | 0x800000u;
        uint32_t shift = 126u - e, h = m >> shift, rest = m & ((1u << shift) - 1u);
        uint32_t half = 1u << (shift - 1u);
        if (rest > half || (rest == half && (h & 1u)))
            h++;
        return (uint16_t)(sign | h);
    }
    uint32_t h = ((ax - 0x38000000u) >> 13), rest = ax & 0x1FFFu;
    if (rest > 0x1000u || (rest == 0x1000u && (h & 1u)))
        h++;
    return (uint16_t)(sign | h);
}

static float fbvk_float_of(uint16_t h)
{
    uint32_t sign = (uint32_t)(h & 0x8000u) << 16, e = (h >> 10) & 0x1Fu, m = h & 0x3FFu, x;
    if (e == 0x1Fu)
        x = sign | 0x7F800000u | (m << 13);
    else if (e != 0)
        x = sign | ((e + 112u) << 23) | (m << 13);
    else if (m == 0)
        x = sign;
    else { /* subnormal: normalise */
        e = 113u;
        while (!(m & 0x400u)) {
            m <<= 1;
            e--;
        }
        x = sign | (e << 23) | ((m & 0x3FFu) << 13);
    }
    float f;
    memcpy(&f, &x, 4);
    return f;
}

/* Copies bytes between a device buffer and host memory through the staging
 * buffer, in chunks. to_host: device -> dst; else src -> device. half: the
 * device holds float16 and the host float32 (bytes counts the device's). */
static int fbvk_transfer(fbvk_brain *vb, const fbvk_buffer *dev, VkDeviceSize offset, VkDeviceSize bytes,
                         void *dst, const void *src, bool to_host, bool half)
{
    for (VkDeviceSize done = 0; done < bytes;) {
        VkDeviceSize n = bytes - done < vb->staging.size ? bytes - done : vb->staging.size;
        if (!to_host && half) {
            const float *from = (const float *)src + done / 2;
            uint16_t *to = vb->staging.map;
            for (VkDeviceSize i = 0; i < n / 2; i++)
                to[i] = fbvk_half_of(from[i]);
            fbvk__buffer_flush(vb, &vb->staging);
        } else if (!to_host) {
            memcpy(vb->staging.map, (const char *)src + done, n);
            fbvk__buffer_flush(vb, &vb->staging);
        }
        int rc = fbvk_util_begin(vb);
        if (rc)
            return rc;
        VkCommandBuffer cmd = vb->util_cmd;
        if (to_host) {
            fbvk_barrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                         VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT);
            VkBufferCopy c = {.srcOffset = offset + done, .dstOffset = 0, .size = n};
            vkCmdCopyBuffer(cmd, dev->buf, vb->staging.buf, 1, &c);
            fbvk_barrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT,
                         VK_PIPELINE_STAGE_HOST_BIT, VK_ACCESS_HOST_READ_BIT);
        } else {
            /* The previous cycle may still read or write this buffer. */
            fbvk_barrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                         VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                         VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT);
            VkBufferCopy c = {.srcOffset = 0, .dstOffset = offset + done, .size = n};
            vkCmdCopyBuffer(cmd, vb->staging.buf, dev->buf, 1, &c);
        }
        if ((rc = fbvk_util_end(vb)))
            return rc;
        if (to_host) {
            fbvk__buffer_invalidate(vb, &vb->staging);
            if (half) {
                const uint16_t *from = vb->staging.map;
                float *to = (float *)dst + done / 2;
                for (VkDeviceSize i = 0; i < n / 2; i++)
                    to[i] = fbvk_float_of(from[i]);
            } else {
                memcpy((char *)dst + done, vb->staging.map, n);
            }
        }
        done += n;
    }
    return BRAIN_OK;
}

/* ---- ops ---- */

/* The time between the two timestamps of the last submit, -1 if unknown. */
static double fbvk_timestamps_ms(fbvk_brain *vb)
{
    uint64_t ts[2];
    if (!vb->queries || vkGetQueryPoolResults(vb->dev->device, vb->queries, 0, 2, sizeof ts, ts, sizeof ts[0],
                                              VK_QUERY_RESULT_64_BIT) != VK_SUCCESS)
        return -1.0;
    uint64_t mask = vb->dev->timestamp_bits >= 64 ? ~0ull : (1ull << vb->dev->timestamp_bits) - 1;
    uint64_t ticks = (ts[1] - ts[0]) & mask;
    return (double)ticks * vb->dev->props.limits.timestampPeriod / 1e6;
}

static int fbvk_initialise(fbvk_brain *vb, const brain_backend_init *init);

/* As created: the field drawn again from the seed, a zero momentum. */
static int fbvk_reset(void *impl)
{
    fbvk_brain *vb = impl;
    int rc = fbvk_usable(vb);
    if (rc)
        return rc;
    vb->cur = 0; /* init.comp draws into field 0 */
    brain_backend_init init = {.p = &vb->p, .sensor_spots = vb->sensor_spots,
                               .motor_spots = vb->motor_spots};
    return fbvk_initialise(vb, &init);
}

/* The momentum came back with the motors (FBVK_RES_BYTES). */
static bool fbvk_state_finite(void *impl)
{
    const fbvk_brain *vb = impl;
    const float *m = (const float *)vb->readback.map + FBVK_WORD(vb, ST_MOMENTUM);
    for (uint32_t c = 0; c < vb->C; c++)
        if (!isfinite(m[c]))
            return false;
    return true;
}

/* The cycle's inputs into the input block; returns the variant to submit. */
static int fbvk_write_inputs(fbvk_brain *vb, const brain_cycle *cyc)
{
    fbvk_inputs *in = vb->inputs.map;
    in->flags = (cyc->diffusion ? FBVK_FLAG_DIFFUSE : 0u) | (cyc->noise ? FBVK_FLAG_NOISE : 0u);
    in->noise_key = cyc->noise_key;
    in->energy_key = cyc->energy_key;
    in->noise_threshold = cyc->noise_threshold;
    in->energy_threshold = cyc->energy_threshold;
    in->t_lo = (uint32_t)cyc->t;
    in->t_hi = (uint32_t)(cyc->t >> 32);
    memcpy(in->sensors, cyc->sensors, sizeof(float) * vb->S);
    fbvk__buffer_flush(vb, &vb->inputs);
    return fbvk_variant(vb->cur, cyc->diffusion, cyc->noise, cyc->activity);
}

/* After the cycle's submission came back: the motors, stats and momentum
 * from the readback buffer. */
static void fbvk_collect(fbvk_brain *vb, const brain_cycle *cyc, float *motors, brain_stats *stats)
{
    if (cyc->diffusion)
        vb->cur ^= 1u;

    fbvk__buffer_invalidate(vb, &vb->readback);
    const float *res = vb->readback.map;
    const uint32_t *resu = vb->readback.map;
    memcpy(motors, res + FBVK_RES_MOTORS, sizeof(float) * vb->MO);
    stats->energy = res[FBVK_RES_ENERGY];
    stats->saturated = res[FBVK_RES_SATURATED];
    if (cyc->activity) {
        stats->activity = res[FBVK_RES_ACTIVITY];
        stats->energized = resu[FBVK_RES_ENERGIZED] != 0;
    }
    stats->gpu_ms = fbvk_timestamps_ms(vb);
}

static int fbvk_step(void *impl, const brain_cycle *cyc, float *motors, brain_stats *stats)
{
    fbvk_brain *vb = impl;
    int rc = fbvk_usable(vb);
    if (rc)
        return rc;
    int v = fbvk_write_inputs(vb, cyc);
    if ((rc = fbvk_submit_wait(vb, vb->cycle_cmd[v])))
        return rc;
    fbvk_collect(vb, cyc, motors, stats);
    return BRAIN_OK;
}

/* A fleet's step (brain_ops.step_many): every usable brain's recorded cycle
 * in one vkQueueSubmit (one VkSubmitInfo, one command buffer per brain, in
 * the order given) with the device's batch fence, one wait, then each
 * brain's results from its own readback buffer. The brains' buffers are
 * disjoint; the barriers each cycle's buffer records are queue-wide, so on
 * the device the brains run one after another: what the batch saves is a
 * submission and a wait per brain. Each brain's own timestamps give its
 * gpu_ms. Allocates nothing (dev->batch has room for every brain). */
static int fbvk_step_many(void *const *impls, uint32_t n, const brain_cycle *const *cycs,
                          float *const *motors, brain_stats *const *stats, int *rc)
{
    if (n == 0)
        return BRAIN_OK;
    fbvk_device *dev = ((fbvk_brain *)impls[0])->dev;
    uint32_t k = 0;
    for (uint32_t i = 0; i < n; i++) {
        fbvk_brain *vb = impls[i];
        vb->pending_variant = -1;
        rc[i] = vb->dev != dev || k >= dev->batch_cap ? BRAIN_ERR_PARAM : fbvk_usable(vb);
        if (rc[i])
            continue;
        vb->pending_variant = fbvk_write_inputs(vb, cycs[i]);
        dev->batch[k++] = vb->cycle_cmd[vb->pending_variant];
    }
    if (k == 0)
        return BRAIN_OK;
    VkSubmitInfo si = {
        .sType = VK_STRUCTURE_TYPE_SUBMIT_INFO,
        .commandBufferCount = k,
        .pCommandBuffers = dev->batch,
    };
    VkResult r = vkQueueSubmit(dev->queue, 1, &si, dev->batch_fence);
    if (r == VK_SUCCESS)
        r = vkWaitForFences(dev->device, 1, &dev->batch_fence, VK_TRUE, FBVK_WAIT_NS);
    if (r == VK_SUCCESS)
        r = vkResetFences(dev->device, 1, &dev->batch_fence);
    for (uint32_t i = 0; i < n; i++) {
        fbvk_brain *vb = impls[i];
        if (vb->pending_variant < 0)
            continue;
        vb->pending_variant = -1;
        if (r != VK_SUCCESS)
            vb->broken = true;
        if ((rc[i] = fbvk_usable(vb)))
            continue;
        fbvk_collect(vb, cycs[i], motors[i], stats[i]);
    }
    return r == VK_SUCCESS ? BRAIN_OK : BRAIN_ERR_DEVICE;
}

static void *fbvk_shared(void *impl) { return ((fbvk_brain *)impl)->dev; }

/* Reads `nrun` runs of `run_len` field elements, run r starting at element
 * first + r * stride, into dst as float32, packed, through the staging
 * buffer (in chunks when it is too small). One run (the whole field, an x
 * plane) is a vkCmdCopyBuffer; several (a y or z plane: X or X*Y runs) are
 * gathered by gather.comp in one dispatch: copy regions by the thousand make
 * the validation layer take seconds. The same submit copies the affine map
 * (a, b) to the staging buffer's tail, and the host gives the brain's field
 * a * F + b, as the shaders compute it (common.glsl's materialise).
 * Allocates nothing. */
static int fbvk_gather(fbvk_brain *vb, uint64_t first, uint64_t nrun, uint64_t run_len, uint64_t stride,
                       float *dst)
{
    const VkDeviceSize e = vb->elem;
    const uint64_t cap = vb->staging_data / e, total = nrun * run_len, C = vb->C;
    for (uint64_t out = 0; out < total;) {
        uint64_t got = total - out < cap ? total - out : cap;
        int rc = fbvk_util_begin(vb);
        if (rc)
            return rc;
        VkCommandBuffer cmd = vb->util_cmd;
        fbvk_barrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                     VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                     VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                     VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_SHADER_READ_BIT);
        if (nrun == 1) {
            VkBufferCopy c = {.srcOffset = (first + out) * e, .dstOffset = 0, .size = got * e};
            vkCmdCopyBuffer(cmd, vb->field[vb->cur].buf, vb->staging.buf, 1, &c);
        } else {
            /* gather.comp's arguments ride in the push constants' spare words. */
            fbvk_push push = {.src = vb->field[vb->cur].addr, .dst = vb->staging.addr, .inputs = out,
                              .state = run_len | got << 32, .part = first | stride << 32};
            fbvk_dispatch(vb, cmd, FBVK_PIPE_GATHER, &push,
                          (got + FBVK_GATHER_WG - 1) / FBVK_GATHER_WG);
        }
        VkBufferCopy map = {.srcOffset = (VkDeviceSize)FBVK_WORD(vb, ST_A) * 4,
                            .dstOffset = vb->staging_data,
                            .size = (VkDeviceSize)FBVK_WORD(vb, MAP_WORDS) * 4};
        vkCmdCopyBuffer(cmd, vb->state.buf, vb->staging.buf, 1, &map);
        fbvk_barrier(cmd, VK_PIPELINE_STAGE_TRANSFER_BIT | VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT,
                     VK_ACCESS_TRANSFER_WRITE_BIT | VK_ACCESS_SHADER_WRITE_BIT, VK_PIPELINE_STAGE_HOST_BIT,
                     VK_ACCESS_HOST_READ_BIT);
        if ((rc = fbvk_util_end(vb)))
            return rc;
        fbvk__buffer_invalidate(vb, &vb->staging);
        float *to = dst + out;
        if (vb->f16) {
            const uint16_t *from = vb->staging.map;
            for (uint64_t i = 0; i < got; i++)
                to[i] = fbvk_float_of(from[i]);
        } else {
            memcpy(to, vb->staging.map, got * sizeof(float));
        }
        const float *ab = (const float *)((const char *)vb->staging.map + vb->staging_data);
        const float a = ab[0], *b = ab + (FBVK_WORD(vb, ST_B) - FBVK_WORD(vb, ST_A));
        for (uint64_t i = 0; i < got; i++) {
            uint64_t c = (out + i) % C; /* runs start and end on whole points */
            if (a != 1.0f || b[c] != 0.0f) {
                float t = a * to[i];
                to[i] = t + b[c];
            }
        }
        out += got;
    }
    return BRAIN_OK;
}

static int fbvk_read_field(void *impl, float *dst)
{
    fbvk_brain *vb = impl;
    return fbvk_gather(vb, 0, 1, vb->count, 0, dst);
}

/* One plane with all channels (brain_read_slab; brain.c checked axis and
 * index): axis 0 is one contiguous run, axis 1 X runs of Z*C elements, axis
 * 2 X*Y runs of C. Only the plane moves. */
static int fbvk_read_slab(void *impl, uint32_t axis, uint32_t index, float *dst)
{
    fbvk_brain *vb = impl;
    const uint64_t C = vb->C, Z = vb->Z, YZC = (uint64_t)vb->Y * Z * C;
    if (axis == 0)
        return fbvk_gather(vb, index * YZC, 1, YZC, 0, dst);
    if (axis == 1)
        return fbvk_gather(vb, index * Z * C, vb->X, Z * C, YZC, dst);
    return fbvk_gather(vb, index * C, (uint64_t)vb->X * vb->Y, C, Z * C, dst);
}

/* S/W of the current field (sums.comp), recorded into util_cmd after the
 * field's last writer. */
static void fbvk_record_sums(fbvk_brain *vb, VkCommandBuffer cmd)
{
    fbvk_barrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                 VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                 VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT, VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT);
    fbvk_push push = {.src = vb->field[vb->cur].addr, .dst = vb->field[vb->cur].addr,
                      .inputs = vb->inputs.addr, .state = vb->state.addr, .part = vb->part.addr};
    fbvk_dispatch(vb, cmd, FBVK_PIPE_SUMS, &push, vb->nblk);
}

static int fbvk_write_field(void *impl, const float *src)
{
    fbvk_brain *vb = impl;
    int rc = fbvk_transfer(vb, &vb->field[vb->cur], 0, vb->count * vb->elem, NULL, src, false, vb->f16);
    /* The stored field is the brain's now (a = 1, b = 0, no lazy cycle
     * pending), and the next cycle predicts its mean from S/W: they must be
     * this field's. */
    if (!rc)
        rc = fbvk_util_begin(vb);
    if (!rc) {
        VkCommandBuffer cmd = vb->util_cmd;
        fbvk_barrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                     VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                     VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_WRITE_BIT);
        vkCmdFillBuffer(cmd, vb->state.buf, (VkDeviceSize)FBVK_WORD(vb, ST_A) * 4, 4, 0x3F800000u); /* 1.0f */
        vkCmdFillBuffer(cmd, vb->state.buf, (VkDeviceSize)FBVK_WORD(vb, ST_FRESH) * 4, 4, 1u);
        vkCmdFillBuffer(cmd, vb->state.buf, (VkDeviceSize)FBVK_WORD(vb, ST_B) * 4,
                        (VkDeviceSize)vb->C * 4, 0u);
        fbvk_record_sums(vb, cmd);
        rc = fbvk_util_end(vb);
    }
    return rc;
}

static int fbvk_read_momentum(void *impl, float *dst)
{
    fbvk_brain *vb = impl;
    return fbvk_transfer(vb, &vb->state, (VkDeviceSize)FBVK_WORD(vb, ST_MOMENTUM) * 4,
                         (VkDeviceSize)vb->C * 4, dst, NULL, true, false);
}

static int fbvk_write_momentum(void *impl, const float *src)
{
    fbvk_brain *vb = impl;
    return fbvk_transfer(vb, &vb->state, (VkDeviceSize)FBVK_WORD(vb, ST_MOMENTUM) * 4,
                         (VkDeviceSize)vb->C * 4, NULL, src, false, false);
}

/* Copy bandwidth of the device (read + write bytes per second): the spare
 * field copied from the current one, timed by timestamps (or the host clock
 * when the queue has none), best of 5. The spare field holds nothing between
 * cycles, so the brain's state is untouched. */
static int fbvk_measure_bandwidth(void *impl, uint64_t bytes, double *bytes_per_s)
{
    fbvk_brain *vb = impl;
    VkDeviceSize n = vb->count * vb->elem;
    if (bytes && bytes < n)
        n = bytes & ~(VkDeviceSize)3;
    if (n == 0)
        n = 4;
    double best = 0.0;
    for (int run = 0; run < 5; run++) {
        int rc = fbvk_util_begin(vb);
        if (rc)
            return rc;
        VkCommandBuffer cmd = vb->util_cmd;
        if (vb->queries) {
            vkCmdResetQueryPool(cmd, vb->queries, 0, 2);
            vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, vb->queries, 0);
        }
        fbvk_barrier(cmd, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                     VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT,
                     VK_PIPELINE_STAGE_TRANSFER_BIT, VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT);
        VkBufferCopy c = {.size = n};
        vkCmdCopyBuffer(cmd, vb->field[vb->cur].buf, vb->field[vb->cur ^ 1u].buf, 1, &c);
        if (vb->queries)
            vkCmdWriteTimestamp(cmd, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, vb->queries, 1);
        struct timespec t0, t1;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        if ((rc = fbvk_util_end(vb)))
            return rc;
        clock_gettime(CLOCK_MONOTONIC, &t1);
        double sec = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) * 1e-9;
        double ms = fbvk_timestamps_ms(vb);
        if (ms > 0.0)
            sec = ms * 1e-3;
        if (sec > 0.0 && 2.0 * (double)n / sec > best)
            best = 2.0 * (double)n / sec;
    }
    *bytes_per_s = best;
    return BRAIN_OK;
}

/* One brain less on dev; the last one frees it, in reverse order of
 * brain_vk_create's fbvk_device_open and fbvk_create_pipelines. */
static void fbvk_device_release(fbvk_device *dev)
{
    if (!dev || --dev->refs > 0)
        return;
    if (dev->device) {
        vkDeviceWaitIdle(dev->device);
        if (dev->batch_fence)
            vkDestroyFence(dev->device, dev->batch_fence, NULL);
        for (int i = FBVK_PIPE_COUNT - 1; i >= 0; i--) {
            if (dev->pipes[i])
                vkDestroyPipeline(dev->device, dev->pipes[i], NULL);
            if (dev->modules[i])
                vkDestroyShaderModule(dev->device, dev->modules[i], NULL);
        }
        if (dev->layout)
            vkDestroyPipelineLayout(dev->device, dev->layout, NULL);
        vkDestroyDevice(dev->device, NULL);
    }
    if (dev->messenger)
        dev->destroy_messenger(dev->instance, dev->messenger, NULL);
    if (dev->instance)
        vkDestroyInstance(dev->instance, NULL);
    free(dev->batch);
    free(dev);
}

static void fbvk_destroy(void *impl)
{
    fbvk_brain *vb = impl;
    if (!vb)
        return;
    if (vb->dev && vb->dev->device) {
        vkDeviceWaitIdle(vb->dev->device);
        if (vb->queries)
            vkDestroyQueryPool(vb->dev->device, vb->queries, NULL);
        if (vb->fence)
            vkDestroyFence(vb->dev->device, vb->fence, NULL);
        if (vb->pool)
            vkDestroyCommandPool(vb->dev->device, vb->pool, NULL);
        fbvk__buffer_destroy(vb, &vb->staging);
        fbvk__buffer_destroy(vb, &vb->readback);
        fbvk__buffer_destroy(vb, &vb->inputs);
        fbvk__buffer_destroy(vb, &vb->part);
        fbvk__buffer_destroy(vb, &vb->state);
        fbvk__buffer_destroy(vb, &vb->field[1]);
        fbvk__buffer_destroy(vb, &vb->field[0]);
    }
    fbvk_device_release(vb->dev);
    free(vb);
}

/* The parameters the shaders read from the input block each cycle. */
static void fbvk_write_params(fbvk_inputs *in, const brain_params *p)
{
    in->decay = p->decay;
    in->diffusion_rate = p->diffusion_rate;
    in->noise_std = p->noise_std;
    in->momentum_keep = p->momentum_keep;
    in->momentum_gain = p->momentum_gain;
    in->activity_threshold = p->activity_threshold;
    in->energy_std = p->energy_std;
    in->motor_gain = p->motor_gain;
    in->clamp_limit = p->clamp_limit;
    in->sensor_gain = p->sensor_gain;
    in->init_std = p->init_std;
}

/* The numbers live in the input block the shaders read each cycle (as
 * fbvk_initialise writes them); the next step's flush carries them. Only
 * the lazy cycles were chosen at create: recorded for decay >= 1/2, they
 * cannot take a lower one. */
static int fbvk_set_params(void *impl, const brain_params *p, char *err, size_t err_len)
{
    fbvk_brain *vb = impl;
    if (vb->lazy && p->decay < 0.5f)
        return fb_fail(err, err_len, BRAIN_ERR_PARAM,
                       "decay: %g cannot be set while the brain runs on the Vulkan backend: its "
                       "cycles were recorded for a decay of at least 0.5 (restart with it)",
                       (double)p->decay);
    if (vb->f16 && p->clamp_limit > 65504.0f)
        return fb_fail(err, err_len, BRAIN_ERR_PARAM,
                       "clamp_limit: %g is more than f16 holds (allowed up to 65504)",
                       (double)p->clamp_limit);
    vb->p = *p;
    fbvk_write_params(vb->inputs.map, p);
    return BRAIN_OK;
}

static const brain_ops fbvk_ops = {
    .set_params = fbvk_set_params,
    .name = "vulkan",
    .step = fbvk_step,
    .read_field = fbvk_read_field,
    .write_field = fbvk_write_field,
    .read_momentum = fbvk_read_momentum,
    .reset = fbvk_reset,
    .state_finite = fbvk_state_finite,
    .write_momentum = fbvk_write_momentum,
    .destroy = fbvk_destroy,
    .measure_bandwidth = fbvk_measure_bandwidth,
    .read_slab = fbvk_read_slab,
    .step_many = fbvk_step_many,
    .shared = fbvk_shared,
};

/* ---- create ---- */

/* The bytes of one brain's buffers as fbvk_create_buffers makes them
 * (before alignment): a fleet's memory check. */
static VkDeviceSize fbvk_brain_bytes(const fbvk_brain *vb)
{
    const VkDeviceSize field_bytes = vb->count * vb->elem;
    const VkDeviceSize state = (VkDeviceSize)FBVK_WORD(vb, ST_WORDS) * 4;
    VkDeviceSize staging = field_bytes < FBVK_STAGING_BYTES ? field_bytes : FBVK_STAGING_BYTES;
    if (staging < state)
        staging = state;
    staging += (VkDeviceSize)FBVK_WORD(vb, MAP_WORDS) * 4;
    return 2 * field_bytes + state + fbvk_part_words(vb) * 4 + sizeof(fbvk_inputs) +
           sizeof(float) * vb->S + FBVK_RES_BYTES(vb) + staging;
}

/* A fleet of n brains like vb: all their buffers against the largest
 * device-local heap, before the first buffer is made. */
static int fbvk_fleet_fits(fbvk_brain *vb, uint32_t n)
{
    VkDeviceSize heap = 0;
    for (uint32_t i = 0; i < vb->dev->mem_props.memoryHeapCount; i++)
        if ((vb->dev->mem_props.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
            vb->dev->mem_props.memoryHeaps[i].size > heap)
            heap = vb->dev->mem_props.memoryHeaps[i].size;
    const VkDeviceSize one = fbvk_brain_bytes(vb), need = one * n;
    if (need <= heap)
        return BRAIN_OK;
    char need_s[32], heap_s[32];
    return fb_fail(vb->err, vb->err_len, BRAIN_ERR_TOO_BIG,
                   "a fleet of %u brains of %u x %u x %u x %u needs %llu bytes (%s) of buffers "
                   "(%llu each), but Vulkan device %s has %llu bytes (%s) of device-local memory",
                   n, vb->X, vb->Y, vb->Z, vb->C, (unsigned long long)need,
                   brain__bytes_text(need, need_s, sizeof need_s), (unsigned long long)one,
                   vb->dev->props.deviceName, (unsigned long long)heap,
                   brain__bytes_text(heap, heap_s, sizeof heap_s));
}

static int fbvk_create_buffers(fbvk_brain *vb)
{
    const VkMemoryPropertyFlags local = VK_MEMORY_PROPERTY_DEVICE_LOCAL_BIT;
    const VkMemoryPropertyFlags host = VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT;
    const VkMemoryPropertyFlags coherent = VK_MEMORY_PROPERTY_HOST_COHERENT_BIT;
    const VkDeviceSize field_bytes = vb->count * vb->elem;
    const char *type = vb->f16 ? "halves" : "floats";
    char what[96];
    int rc;
    /* Both fields in one device-local heap at most: say so before trying. */
    VkDeviceSize heap = 0;
    for (uint32_t i = 0; i < vb->dev->mem_props.memoryHeapCount; i++)
        if ((vb->dev->mem_props.memoryHeaps[i].flags & VK_MEMORY_HEAP_DEVICE_LOCAL_BIT) &&
            vb->dev->mem_props.memoryHeaps[i].size > heap)
            heap = vb->dev->mem_props.memoryHeaps[i].size;
    if (2 * field_bytes > heap || (vb->dev->max_allocation && field_bytes > vb->dev->max_allocation))
        return fb_fail(vb->err, vb->err_len, BRAIN_ERR_TOO_BIG,
                          "the field (%u x %u x %u x %u %s) needs 2 x %.1f MB (two copies for "
                          "diffusion), but Vulkan device %s has %.1f MB of device memory and "
                          "allows %.1f MB per allocation",
                          vb->X, vb->Y, vb->Z, vb->C, type, (double)field_bytes / 1e6,
                          vb->dev->props.deviceName, (double)heap / 1e6, (double)vb->dev->max_allocation / 1e6);
    for (int i = 0; i < 2; i++) {
        snprintf(what, sizeof what, "field (%u x %u x %u x %u %s, buffer %d of 2)", vb->X, vb->Y,
                 vb->Z, vb->C, type, i + 1);
        if ((rc = fbvk__buffer_create(vb, &vb->field[i], field_bytes, 0, local, what)))
            return rc;
    }
    if ((rc = fbvk__buffer_create(vb, &vb->state, (VkDeviceSize)FBVK_WORD(vb, ST_WORDS) * 4, 0, local,
                                  "state buffer")))
        return rc;
    if ((rc = fbvk__buffer_create(vb, &vb->part, fbvk_part_words(vb) * 4, 0, local, "partial-sum buffer")))
        return rc;
    if ((rc = fbvk__buffer_create(vb, &vb->inputs, sizeof(fbvk_inputs) + sizeof(float) * vb->S, host,
                                  coherent, "input buffer")))
        return rc;
    if ((rc = fbvk__buffer_create(vb, &vb->readback, FBVK_RES_BYTES(vb), host,
                                  VK_MEMORY_PROPERTY_HOST_CACHED_BIT | coherent, "readback buffer")))
        return rc;
    VkDeviceSize staging = field_bytes < FBVK_STAGING_BYTES ? field_bytes : FBVK_STAGING_BYTES;
    VkDeviceSize small = (VkDeviceSize)FBVK_WORD(vb, ST_WORDS) * 4;
    if (staging < small)
        staging = small;
    /* Field data, then the affine map that read_field reads with it. */
    vb->staging_data = staging;
    staging += (VkDeviceSize)FBVK_WORD(vb, MAP_WORDS) * 4;
    return fbvk__buffer_create(vb, &vb->staging, staging, host, coherent, "staging buffer");
}

static int fbvk_create_commands(fbvk_brain *vb)
{
    VkCommandPoolCreateInfo pci = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO,
        .flags = VK_COMMAND_POOL_CREATE_RESET_COMMAND_BUFFER_BIT,
        .queueFamilyIndex = vb->dev->queue_family,
    };
    int rc = fbvk__check(vb, vkCreateCommandPool(vb->dev->device, &pci, NULL, &vb->pool), "vkCreateCommandPool");
    if (rc)
        return rc;
    VkCommandBuffer cmds[FBVK_VARIANTS + 1];
    VkCommandBufferAllocateInfo ai = {
        .sType = VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO,
        .commandPool = vb->pool,
        .level = VK_COMMAND_BUFFER_LEVEL_PRIMARY,
        .commandBufferCount = FBVK_VARIANTS + 1,
    };
    if ((rc = fbvk__check(vb, vkAllocateCommandBuffers(vb->dev->device, &ai, cmds), "vkAllocateCommandBuffers")))
        return rc;
    memcpy(vb->cycle_cmd, cmds, sizeof vb->cycle_cmd);
    vb->util_cmd = cmds[FBVK_VARIANTS];
    VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
    if ((rc = fbvk__check(vb, vkCreateFence(vb->dev->device, &fci, NULL, &vb->fence), "vkCreateFence")))
        return rc;
    if (vb->dev->timestamp_bits > 0 && vb->dev->props.limits.timestampPeriod > 0.0f) {
        VkQueryPoolCreateInfo qci = {
            .sType = VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO,
            .queryType = VK_QUERY_TYPE_TIMESTAMP,
            .queryCount = 2,
        };
        if ((rc = fbvk__check(vb, vkCreateQueryPool(vb->dev->device, &qci, NULL, &vb->queries),
                              "vkCreateQueryPool")))
            return rc;
    }
    for (uint32_t cur = 0; cur < 2; cur++)
        for (int d = 0; d < 2; d++)
            for (int n = 0; n < 2; n++)
                for (int a = 0; a < 2; a++)
                    if ((rc = fbvk_record_cycle(vb, vb->cycle_cmd[fbvk_variant(cur, d, n, a)], cur, d, n, a)))
                        return rc;
    return BRAIN_OK;
}

/* The initial state: parameters into the input block, spots and a zero
 * momentum into the state buffer, the field drawn by init.comp. */
static int fbvk_initialise(fbvk_brain *vb, const brain_backend_init *init)
{
    const brain_params *p = &vb->p;
    fbvk_inputs *in = vb->inputs.map;
    memset(in, 0, sizeof *in + sizeof(float) * vb->S);
    fbvk_write_params(in, p);
    in->init_key = rng_key(p->seed, 0, RNG_STREAM_INIT);
    fbvk__buffer_flush(vb, &vb->inputs);

    uint32_t *words = vb->staging.map;
    memset(words, 0, (size_t)FBVK_WORD(vb, ST_WORDS) * 4);
    words[FBVK_WORD(vb, ST_A)] = 0x3F800000u; /* a = 1.0f, b = 0: nothing pending */
    words[FBVK_WORD(vb, ST_FRESH)] = 1u;      /* sums.comp below writes P_SW, P_H */
    for (uint32_t i = 0; i < vb->S; i++) {
        const uint32_t *s = init->sensor_spots + 3 * i;
        words[FBVK_WORD(vb, ST_SENSOR_SPOTS) + i] = (s[0] * vb->Y + s[1]) * vb->Z + s[2];
    }
    for (uint32_t j = 0; j < vb->MO; j++) {
        const uint32_t *s = init->motor_spots + 3 * j;
        words[FBVK_WORD(vb, ST_MOTOR_SPOTS) + j] = (s[0] * vb->Y + s[1]) * vb->Z + s[2];
    }
    /* inject.comp's chains: each sensor links to the next one (in index
     * order) that hits the same element. Quadratic, but once and S <= 4096. */
    uint32_t *chain = words + FBVK_WORD(vb, ST_SENSOR_CHAIN);
    for (uint32_t i = 0; i < vb->S; i++)
        chain[i] = FBVK_CHAIN_END;
    for (uint32_t i = 0; i < vb->S; i++) {
        if (chain[i] & FBVK_CHAIN_TAIL)
            continue; /* already linked from an earlier sensor */
        uint64_t ei = (uint64_t)words[FBVK_WORD(vb, ST_SENSOR_SPOTS) + i] * vb->C + i % vb->C;
        uint32_t last = i;
        for (uint32_t j = i + 1; j < vb->S; j++) {
            uint64_t ej = (uint64_t)words[FBVK_WORD(vb, ST_SENSOR_SPOTS) + j] * vb->C + j % vb->C;
            if (ej != ei)
                continue;
            chain[last] = (chain[last] & FBVK_CHAIN_TAIL) | j;
            chain[j] = FBVK_CHAIN_TAIL | FBVK_CHAIN_END;
            last = j;
        }
    }
    fbvk__buffer_flush(vb, &vb->staging);

    int rc = fbvk_util_begin(vb);
    if (rc)
        return rc;
    VkCommandBuffer cmd = vb->util_cmd;
    VkBufferCopy c = {.size = (VkDeviceSize)FBVK_WORD(vb, ST_WORDS) * 4};
    vkCmdCopyBuffer(cmd, vb->staging.buf, vb->state.buf, 1, &c);
    fbvk_push push = {.dst = vb->field[0].addr, .inputs = vb->inputs.addr, .state = vb->state.addr};
    fbvk_dispatch(vb, cmd, FBVK_PIPE_INIT, &push, (vb->count + FBVK_INIT_WG - 1) / FBVK_INIT_WG);
    fbvk_record_sums(vb, cmd);
    return fbvk_util_end(vb);
}

int brain_vk_create(const brain_backend_init *init, const brain_ops **ops, void **impl)
{
    *ops = NULL;
    *impl = NULL;
    const brain_params *p = init->p;
    fbvk_brain *vb = calloc(1, sizeof *vb);
    if (!vb)
        return fb_fail(init->err, init->err_len, BRAIN_ERR_NOMEM, "out of memory");
    vb->p = *p;
    vb->X = p->size_x;
    vb->Y = p->size_y;
    vb->Z = p->size_z;
    vb->C = p->channels;
    vb->S = p->sensors;
    vb->MO = p->motors;
    vb->count = (uint64_t)vb->X * vb->Y * vb->Z * vb->C;
    vb->f16 = p->precision == BRAIN_PRECISION_F16;
    vb->elem = vb->f16 ? 2 : 4;
    vb->err = init->err;
    vb->err_len = init->err_len;
    vb->sensor_spots = init->sensor_spots;
    vb->motor_spots = init->motor_spots;

    /* A clamped element must stay finite when stored as half. */
    if (vb->f16 && p->clamp_limit > 65504.0f) {
        int rc = fb_fail(vb->err, vb->err_len, BRAIN_ERR_PARAM,
                            "precision f16: clamp_limit %g exceeds 65504, the largest half",
                            (double)p->clamp_limit);
        free(vb);
        return rc;
    }
    const char *env = getenv("FB_VALIDATION");
    bool validation = p->validation || (env && strcmp(env, "1") == 0);
    /* FB_VK_DENSE=1: the dense cycles alone, to compare the lazy ones with.
     * A decay under 1/2 makes a lazy cycle's noise 1 / (a d) in stored units
     * too large to be exact (infinite for d = 0): dense cycles alone then. */
    env = getenv("FB_VK_DENSE");
    vb->lazy = !(env && strcmp(env, "1") == 0) && p->decay >= 0.5f;
    int rc = BRAIN_OK;
    fbvk_device *shared = init->shared;
    if (shared) {
        /* A fleet's next brain: the first one's device and pipelines. */
        vb->dev = shared;
        shared->refs++;
        fbvk_plan(vb);
        snprintf(init->device_name, BRAIN_DEVICE_LEN, "%s", shared->device_name);
        snprintf(init->device_reason, 256, "%s", shared->device_reason);
    } else {
        vb->dev = calloc(1, sizeof *vb->dev);
        if (!vb->dev) {
            free(vb);
            return fb_fail(init->err, init->err_len, BRAIN_ERR_NOMEM, "out of memory");
        }
        vb->dev->refs = 1;
        rc = fbvk__create_instance(vb, validation);
        if (!rc)
            rc = fbvk__choose_device(vb, p->device, init->require_gpu, init->device_name,
                                     init->device_reason);
        if (!rc) {
            fbvk_plan(vb); /* the device type shapes the passes */
            rc = fbvk__create_device(vb);
        }
        if (!rc && vb->dev->props.limits.maxComputeWorkGroupCount[1] <
                       (uint32_t)(((vb->count + FBVK_INIT_WG - 1) / FBVK_INIT_WG + FBVK_GX - 1) / FBVK_GX))
            rc = fb_fail(vb->err, vb->err_len, BRAIN_ERR_TOO_BIG,
                            "the field needs more workgroups than Vulkan device %s can dispatch",
                            vb->dev->props.deviceName);
        if (!rc) {
            VkFenceCreateInfo fci = {.sType = VK_STRUCTURE_TYPE_FENCE_CREATE_INFO};
            rc = fbvk__check(vb, vkCreateFence(vb->dev->device, &fci, NULL, &vb->dev->batch_fence),
                             "vkCreateFence");
        }
        if (!rc) {
            snprintf(vb->dev->device_name, BRAIN_DEVICE_LEN, "%s", init->device_name);
            snprintf(vb->dev->device_reason, 256, "%s", init->device_reason);
        }
    }
    /* Room in the fleet's batch for this brain too (at create, never per cycle). */
    if (!rc && vb->dev->batch_cap < vb->dev->refs) {
        VkCommandBuffer *grown = realloc(vb->dev->batch, sizeof *grown * vb->dev->refs);
        if (!grown)
            rc = fb_fail(vb->err, vb->err_len, BRAIN_ERR_NOMEM, "out of memory");
        else
            vb->dev->batch = grown, vb->dev->batch_cap = vb->dev->refs;
    }
    if (!rc && init->fleet_n > 0)
        rc = fbvk_fleet_fits(vb, init->fleet_n);
    if (!rc)
        rc = fbvk_create_buffers(vb);
    if (!rc && !shared)
        rc = fbvk_create_pipelines(vb);
    if (!rc)
        rc = fbvk_create_commands(vb);
    if (!rc)
        rc = fbvk_initialise(vb, init);
    if (!rc && vb->dev->validation_errors)
        rc = fb_fail(vb->err, vb->err_len, BRAIN_ERR_DEVICE,
                        "Vulkan: the validation layer reported %u error(s) while creating the brain",
                        vb->dev->validation_errors);
    if (rc) {
        fbvk_destroy(vb);
        return rc;
    }
    vb->err = NULL; /* the caller's buffer is only lent for create */
    vb->err_len = 0;
    *ops = &fbvk_ops;
    *impl = vb;
    return BRAIN_OK;
}
