/* vk_internal.h: what the Vulkan backend's files share (brain_vk.c: the
 * pipelines, the per-cycle command buffers and the ops; vk_device.c: the
 * instance, device choice and buffers). Private to brain/. */
#ifndef FIELDBRAIN_VK_INTERNAL_H
#define FIELDBRAIN_VK_INTERNAL_H

#include "brain_internal.h"

#include <vulkan/vulkan.h>

typedef struct {
    VkBuffer buf;
    VkDeviceMemory mem;
    VkDeviceSize size;
    VkDeviceAddress addr;
    void *map;          /* host-visible buffers only */
    bool coherent;
} vk_buffer;

/* Pipelines; a pass with variants (specialization constants DIFFUSE, NOISE,
 * ENERGY, SPLIT, LAZY of shaders/common.glsl) has one pipeline per variant. */
enum {
    VK_PIPE_INIT,
    VK_PIPE_SUMS,
    VK_PIPE_INJECT,
    VK_PIPE_NOISE_SUM,
    VK_PIPE_NOISE_FOLD,       /* noise_sum LAZY: also adds the draws to the field */
    VK_PIPE_MOMENTUM,
    VK_PIPE_DECIDE,
    VK_PIPE_CYCLE,            /* + 4*diffuse + 2*noise + split: 8 variants */
    VK_PIPE_MOTORS = VK_PIPE_CYCLE + 8, /* + 2*diffuse + noise: 4 variants */
    VK_PIPE_MOTORS_ENERGY = VK_PIPE_MOTORS + 4,
    VK_PIPE_FINISH,
    VK_PIPE_ACTIVITY_REDUCE,
    VK_PIPE_STATS_REDUCE,
    VK_PIPE_GATHER,           /* read_slab: a plane into the staging buffer */
    VK_PIPE_COUNT
};

/* Command buffer variants: which field is current, diffusion, noise, activity. */
#define VK_VARIANTS 16

typedef struct {
    brain_params p;
    uint32_t X, Y, Z, C, S, MO;
    uint64_t count;              /* X*Y*Z*C */
    bool f16;                    /* precision f16: the field stored as half */
    VkDeviceSize elem;           /* bytes per stored field element: 4 or 2 */
    char *err;                   /* create's error buffer; NULL after create */
    size_t err_len;

    /* field-pass geometry (shaders/field_lines.glsl) */
    uint32_t tc, tp, lpt, nchunk, nlb, nblk;
    uint32_t dz, bpt;            /* diffusion bricks: heights, bricks per lane */
    uint32_t nnb;                /* noise_sum.comp workgroups */

    VkInstance instance;
    VkDebugUtilsMessengerEXT messenger;
    PFN_vkDestroyDebugUtilsMessengerEXT destroy_messenger;
    uint32_t validation_errors;  /* counted by the messenger's callback */
    VkPhysicalDevice phys;
    VkPhysicalDeviceProperties props;
    VkPhysicalDeviceMemoryProperties mem_props;
    VkDeviceSize max_allocation;
    VkDevice device;
    uint32_t queue_family;
    uint32_t timestamp_bits;
    VkQueue queue;

    vk_buffer field[2];          /* ping-pong: diffusion writes the other one */
    vk_buffer state;             /* results, momentum, spots (device-local) */
    vk_buffer part;              /* partial sums, common.glsl's P_* (device-local) */
    vk_buffer inputs;            /* parameters + the cycle's inputs (host-visible) */
    vk_buffer readback;          /* results copied here each cycle (host-visible) */
    vk_buffer staging;           /* read/write of field and momentum */
    VkDeviceSize staging_data;   /* staging bytes for field data; the map a, b follows */
    bool lazy;                   /* record lazy-capable cycles (brain_vk.c's header) */

    VkPipelineLayout layout;
    VkShaderModule modules[VK_PIPE_COUNT];
    VkPipeline pipes[VK_PIPE_COUNT];
    VkCommandPool pool;
    VkCommandBuffer cycle_cmd[VK_VARIANTS];
    VkCommandBuffer util_cmd;
    VkFence fence;
    VkQueryPool queries;
    uint32_t cur;                /* which field holds the brain's state */
    bool broken;                 /* a submit or wait failed: the device is gone */
} vk_brain;

const char *vk_result_name(VkResult r);
/* 0 for VK_SUCCESS, else writes "Vulkan: what failed (...)" to vb->err. */
int vk_check(vk_brain *vb, VkResult r, const char *what);
int vk_create_instance(vk_brain *vb, bool validation);
int vk_choose_device(vk_brain *vb, const char *want, bool require_gpu,
                     char *device_name, char *device_reason);
int vk_create_device(vk_brain *vb);
int vk_buffer_create(vk_brain *vb, vk_buffer *b, VkDeviceSize size, VkMemoryPropertyFlags need,
                     VkMemoryPropertyFlags want, const char *what);
void vk_buffer_destroy(vk_brain *vb, vk_buffer *b);
void vk_buffer_invalidate(vk_brain *vb, const vk_buffer *b);
void vk_buffer_flush(vk_brain *vb, const vk_buffer *b);

#endif
