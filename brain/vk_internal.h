/* vk_internal.h: what the Vulkan backend's files share (brain_vk.c: the
 * pipelines, the per-cycle command buffers and the ops; vk_device.c: the
 * instance, device choice and buffers). Private to brain/.
 *
 * Names: the backend keeps out of Vulkan's vk/Vk/VK_ namespace. Functions
 * one of its files calls in another are fbvk__name (declared here, as
 * libuv's uv__); types, and functions private to one file (static), are
 * fbvk_name; constants and macros are FBVK_NAME. */
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
} fbvk_buffer;

/* Pipelines; a pass with variants (specialization constants DIFFUSE, NOISE,
 * ENERGY, SPLIT, LAZY of shaders/common.glsl) has one pipeline per variant. */
enum {
    FBVK_PIPE_INIT,
    FBVK_PIPE_SUMS,
    FBVK_PIPE_INJECT,
    FBVK_PIPE_NOISE_SUM,
    FBVK_PIPE_NOISE_FOLD,         /* noise_sum LAZY: also adds the draws to the field */
    FBVK_PIPE_MOMENTUM,
    FBVK_PIPE_DECIDE,
    FBVK_PIPE_CYCLE,              /* + 4*diffuse + 2*noise + split: 8 variants */
    FBVK_PIPE_MOTORS = FBVK_PIPE_CYCLE + 8, /* + 2*diffuse + noise: 4 variants */
    FBVK_PIPE_MOTORS_ENERGY = FBVK_PIPE_MOTORS + 4,
    FBVK_PIPE_FINISH,
    FBVK_PIPE_ACTIVITY_REDUCE,
    FBVK_PIPE_STATS_REDUCE,
    FBVK_PIPE_GATHER,             /* read_slab: a plane into the staging buffer */
    FBVK_PIPE_COUNT
};

/* Command buffer variants: which field is current, diffusion, noise, activity. */
#define FBVK_VARIANTS 16

/* What the brains on one device share: the instance, its validation
 * messenger and error count, the device and its queue, and (since the brains
 * sharing it have one shape and so one set of specialization constants) the
 * pipelines. A brain made alone owns one; the brains of a Vulkan fleet share
 * the first one's, counted by refs (the last brain destroyed frees it). */
typedef struct {
    uint32_t refs;
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
    char device_name[BRAIN_DEVICE_LEN], device_reason[256];

    VkPipelineLayout layout;
    VkShaderModule modules[FBVK_PIPE_COUNT];
    VkPipeline pipes[FBVK_PIPE_COUNT];

    /* A fleet's step: the command buffers of one submission (room for every
     * brain sharing the device, grown as each joins) and its fence. */
    VkCommandBuffer *batch;
    uint32_t batch_cap;
    VkFence batch_fence;
} fbvk_device;

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

    fbvk_device *dev;            /* owned (refs 1) or shared with a fleet */

    fbvk_buffer field[2];          /* ping-pong: diffusion writes the other one */
    fbvk_buffer state;             /* results, momentum, spots (device-local) */
    fbvk_buffer part;              /* partial sums, common.glsl's P_* (device-local) */
    fbvk_buffer inputs;            /* parameters + the cycle's inputs (host-visible) */
    fbvk_buffer readback;          /* results copied here each cycle (host-visible) */
    fbvk_buffer staging;           /* read/write of field and momentum */
    VkDeviceSize staging_data;   /* staging bytes for field data; the map a, b follows */
    bool lazy;                   /* record lazy-capable cycles (brain/README.md) */
    const uint32_t *sensor_spots, *motor_spots; /* brain.c's, for reset */

    VkCommandPool pool;
    VkCommandBuffer cycle_cmd[FBVK_VARIANTS];
    VkCommandBuffer util_cmd;
    VkFence fence;               /* this brain's own submits (brain_step, utility work) */
    VkQueryPool queries;
    uint32_t cur;                /* which field holds the brain's state */
    bool broken;                 /* a submit or wait failed: the device is gone */
    int pending_variant;         /* fleet step: the variant submitted, -1 if none */
} fbvk_brain;

const char *fbvk__result_name(VkResult r);
/* 0 for VK_SUCCESS, else writes "Vulkan: what failed (...)" to vb->err. */
int fbvk__check(fbvk_brain *vb, VkResult r, const char *what);
int fbvk__create_instance(fbvk_brain *vb, bool validation);
int fbvk__choose_device(fbvk_brain *vb, const char *want, bool require_gpu,
                        char *device_name, char *device_reason);
int fbvk__create_device(fbvk_brain *vb);
int fbvk__buffer_create(fbvk_brain *vb, fbvk_buffer *b, VkDeviceSize size, VkMemoryPropertyFlags need,
                        VkMemoryPropertyFlags want, const char *what);
void fbvk__buffer_destroy(fbvk_brain *vb, fbvk_buffer *b);
void fbvk__buffer_invalidate(fbvk_brain *vb, const fbvk_buffer *b);
void fbvk__buffer_flush(fbvk_brain *vb, const fbvk_buffer *b);

#endif
