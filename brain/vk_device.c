/* vk_device.c: the Vulkan instance and device of the brain (or of the
 * brains of a fleet: fbvk_device): the validation layer and its error counter, the choice of physical device (discrete,
 * integrated, virtual, then CPU, or the one p->device forces), the compute
 * queue, and buffers with their memory. */
#include "vk_internal.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

const char *fbvk__result_name(VkResult r)
{
    switch (r) {
    case VK_SUCCESS: return "VK_SUCCESS";
    case VK_NOT_READY: return "VK_NOT_READY";
    case VK_TIMEOUT: return "VK_TIMEOUT";
    case VK_INCOMPLETE: return "VK_INCOMPLETE";
    case VK_ERROR_OUT_OF_HOST_MEMORY: return "VK_ERROR_OUT_OF_HOST_MEMORY";
    case VK_ERROR_OUT_OF_DEVICE_MEMORY: return "VK_ERROR_OUT_OF_DEVICE_MEMORY";
    case VK_ERROR_INITIALIZATION_FAILED: return "VK_ERROR_INITIALIZATION_FAILED";
    case VK_ERROR_DEVICE_LOST: return "VK_ERROR_DEVICE_LOST";
    case VK_ERROR_MEMORY_MAP_FAILED: return "VK_ERROR_MEMORY_MAP_FAILED";
    case VK_ERROR_LAYER_NOT_PRESENT: return "VK_ERROR_LAYER_NOT_PRESENT";
    case VK_ERROR_EXTENSION_NOT_PRESENT: return "VK_ERROR_EXTENSION_NOT_PRESENT";
    case VK_ERROR_FEATURE_NOT_PRESENT: return "VK_ERROR_FEATURE_NOT_PRESENT";
    case VK_ERROR_INCOMPATIBLE_DRIVER: return "VK_ERROR_INCOMPATIBLE_DRIVER";
    case VK_ERROR_TOO_MANY_OBJECTS: return "VK_ERROR_TOO_MANY_OBJECTS";
    default: return "VkResult error";
    }
}

int fbvk__check(fbvk_brain *vb, VkResult r, const char *what)
{
    if (r == VK_SUCCESS)
        return BRAIN_OK;
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY)
        return fb_fail(vb->err, vb->err_len, BRAIN_ERR_TOO_BIG,
                          "Vulkan: %s: the device is out of memory (%s)", what, fbvk__result_name(r));
    if (r == VK_ERROR_OUT_OF_HOST_MEMORY)
        return fb_fail(vb->err, vb->err_len, BRAIN_ERR_NOMEM,
                          "Vulkan: %s: out of host memory", what);
    return fb_fail(vb->err, vb->err_len, BRAIN_ERR_DEVICE, "Vulkan: %s failed (%s, %d)",
                      what, fbvk__result_name(r), (int)r);
}

/* The validation layer's messages: every error is printed and counted, and
 * the next step or read of the brain fails, so no test passes over one. */
static VKAPI_ATTR VkBool32 VKAPI_CALL fbvk_debug_cb(VkDebugUtilsMessageSeverityFlagBitsEXT severity,
                                                    VkDebugUtilsMessageTypeFlagsEXT type,
                                                    const VkDebugUtilsMessengerCallbackDataEXT *data,
                                                    void *user)
{
    (void)type;
    fbvk_device *dev = user;
    if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT) {
        dev->validation_errors++;
        fprintf(stderr, "fieldbrain: Vulkan validation error: %s\n", data->pMessage);
    } else if (severity & VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT) {
        fprintf(stderr, "fieldbrain: Vulkan validation warning: %s\n", data->pMessage);
    }
    return VK_FALSE;
}

static bool fbvk_has_layer(const char *name)
{
    uint32_t n = 0;
    if (vkEnumerateInstanceLayerProperties(&n, NULL) != VK_SUCCESS || n == 0)
        return false;
    VkLayerProperties *props = calloc(n, sizeof *props);
    if (!props)
        return false;
    bool found = false;
    if (vkEnumerateInstanceLayerProperties(&n, props) == VK_SUCCESS)
        for (uint32_t i = 0; i < n && !found; i++)
            found = strcmp(props[i].layerName, name) == 0;
    free(props);
    return found;
}

int fbvk__create_instance(fbvk_brain *vb, bool validation)
{
    static const char *layer = "VK_LAYER_KHRONOS_validation";
    if (validation && !fbvk_has_layer(layer))
        return fb_fail(vb->err, vb->err_len, BRAIN_ERR_DEVICE,
                          "Vulkan validation was requested (validation: true or FB_VALIDATION=1) "
                          "but %s is not installed (Debian: vulkan-validationlayers)", layer);
    VkApplicationInfo app = {
        .sType = VK_STRUCTURE_TYPE_APPLICATION_INFO,
        .pApplicationName = "fieldbrain",
        .pEngineName = "fieldbrain",
        .apiVersion = VK_API_VERSION_1_2,
    };
    VkDebugUtilsMessengerCreateInfoEXT dbg = {
        .sType = VK_STRUCTURE_TYPE_DEBUG_UTILS_MESSENGER_CREATE_INFO_EXT,
        .messageSeverity = VK_DEBUG_UTILS_MESSAGE_SEVERITY_WARNING_BIT_EXT |
                           VK_DEBUG_UTILS_MESSAGE_SEVERITY_ERROR_BIT_EXT,
        .messageType = VK_DEBUG_UTILS_MESSAGE_TYPE_GENERAL_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_VALIDATION_BIT_EXT |
                       VK_DEBUG_UTILS_MESSAGE_TYPE_PERFORMANCE_BIT_EXT,
        .pfnUserCallback = fbvk_debug_cb,
        .pUserData = vb->dev,
    };
    /* Synchronization validation too: it is what proves the barriers. */
    VkValidationFeatureEnableEXT enables[] = {
        VK_VALIDATION_FEATURE_ENABLE_SYNCHRONIZATION_VALIDATION_EXT,
    };
    VkValidationFeaturesEXT features = {
        .sType = VK_STRUCTURE_TYPE_VALIDATION_FEATURES_EXT,
        .pNext = &dbg,
        .enabledValidationFeatureCount = 1,
        .pEnabledValidationFeatures = enables,
    };
    const char *exts[] = {VK_EXT_DEBUG_UTILS_EXTENSION_NAME, VK_EXT_VALIDATION_FEATURES_EXTENSION_NAME};
    VkInstanceCreateInfo ci = {
        .sType = VK_STRUCTURE_TYPE_INSTANCE_CREATE_INFO,
        .pNext = validation ? &features : NULL,
        .pApplicationInfo = &app,
        .enabledLayerCount = validation ? 1 : 0,
        .ppEnabledLayerNames = &layer,
        .enabledExtensionCount = validation ? 2 : 0,
        .ppEnabledExtensionNames = exts,
    };
    VkResult r = vkCreateInstance(&ci, NULL, &vb->dev->instance);
    if (r != VK_SUCCESS) {
        vb->dev->instance = VK_NULL_HANDLE;
        return fb_fail(vb->err, vb->err_len, BRAIN_ERR_DEVICE,
                          "Vulkan: no usable Vulkan loader or driver (vkCreateInstance: %s)",
                          fbvk__result_name(r));
    }
    if (validation) {
        PFN_vkCreateDebugUtilsMessengerEXT create_messenger =
            (PFN_vkCreateDebugUtilsMessengerEXT)vkGetInstanceProcAddr(vb->dev->instance,
                                                                      "vkCreateDebugUtilsMessengerEXT");
        vb->dev->destroy_messenger =
            (PFN_vkDestroyDebugUtilsMessengerEXT)vkGetInstanceProcAddr(vb->dev->instance,
                                                                       "vkDestroyDebugUtilsMessengerEXT");
        if (!create_messenger || !vb->dev->destroy_messenger)
            return fb_fail(vb->err, vb->err_len, BRAIN_ERR_DEVICE,
                              "Vulkan: the validation layer gives no VK_EXT_debug_utils");
        int rc = fbvk__check(vb, create_messenger(vb->dev->instance, &dbg, NULL, &vb->dev->messenger),
                             "vkCreateDebugUtilsMessengerEXT");
        if (rc)
            return rc;
    }
    return BRAIN_OK;
}

static const char *fbvk_type_name(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return "discrete GPU";
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return "integrated GPU";
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return "virtual GPU";
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return "CPU device";
    default: return "other device";
    }
}

static int fbvk_type_rank(VkPhysicalDeviceType t)
{
    switch (t) {
    case VK_PHYSICAL_DEVICE_TYPE_DISCRETE_GPU: return 0;
    case VK_PHYSICAL_DEVICE_TYPE_INTEGRATED_GPU: return 1;
    case VK_PHYSICAL_DEVICE_TYPE_VIRTUAL_GPU: return 2;
    case VK_PHYSICAL_DEVICE_TYPE_CPU: return 3;
    default: return 4;
    }
}

static bool fbvk_name_matches(const char *name, const char *want)
{
    size_t n = strlen(want);
    for (const char *s = name; *s; s++)
        if (strncasecmp(s, want, n) == 0)
            return true;
    return false;
}

int fbvk__choose_device(fbvk_brain *vb, const char *want, bool require_gpu,
                        char *device_name, char *device_reason)
{
    uint32_t n = 0;
    VkResult r = vkEnumeratePhysicalDevices(vb->dev->instance, &n, NULL);
    if (r != VK_SUCCESS || n == 0)
        return fb_fail(vb->err, vb->err_len, BRAIN_ERR_DEVICE,
                          "Vulkan: no Vulkan devices found (is a driver installed? lavapipe: "
                          "mesa-vulkan-drivers)");
    VkPhysicalDevice *devs = calloc(n, sizeof *devs);
    VkPhysicalDeviceProperties *props = calloc(n, sizeof *props);
    if (!devs || !props) {
        free(devs);
        free(props);
        return fb_fail(vb->err, vb->err_len, BRAIN_ERR_NOMEM, "out of memory");
    }
    int rc = BRAIN_OK;
    r = vkEnumeratePhysicalDevices(vb->dev->instance, &n, devs);
    if (r != VK_SUCCESS && r != VK_INCOMPLETE) {
        rc = fbvk__check(vb, r, "vkEnumeratePhysicalDevices");
        goto out;
    }
    for (uint32_t i = 0; i < n; i++)
        vkGetPhysicalDeviceProperties(devs[i], &props[i]);

    uint32_t pick = n;
    if (want && want[0]) {
        bool digits = true;
        for (const char *s = want; *s; s++)
            digits = digits && isdigit((unsigned char)*s);
        if (digits) {
            unsigned long idx = strtoul(want, NULL, 10);
            if (idx < n)
                pick = (uint32_t)idx;
        } else {
            for (uint32_t i = 0; i < n && pick == n; i++)
                if (fbvk_name_matches(props[i].deviceName, want))
                    pick = i;
        }
        if (pick == n) {
            char list[512] = "";
            size_t len = 0;
            for (uint32_t i = 0; i < n && len < sizeof list; i++)
                len += (size_t)snprintf(list + len, sizeof list - len, "%s%u: %s", i ? ", " : "", i,
                                        props[i].deviceName);
            rc = fb_fail(vb->err, vb->err_len, BRAIN_ERR_DEVICE,
                            "device '%s': no Vulkan device has that index or name (devices: %s)",
                            want, list);
            goto out;
        }
        snprintf(device_reason, 256, "forced by device '%s'", want);
    } else {
        for (uint32_t i = 0; i < n; i++)
            if (pick == n || fbvk_type_rank(props[i].deviceType) < fbvk_type_rank(props[pick].deviceType))
                pick = i;
        if (require_gpu && props[pick].deviceType == VK_PHYSICAL_DEVICE_TYPE_CPU) {
            rc = fb_fail(vb->err, vb->err_len, BRAIN_ERR_DEVICE,
                            "the only Vulkan device%s a CPU device (%s)", n > 1 ? "s are" : " is",
                            props[pick].deviceName);
            goto out;
        }
        uint32_t same = 0;
        for (uint32_t i = 0; i < n; i++)
            same += fbvk_type_rank(props[i].deviceType) == fbvk_type_rank(props[pick].deviceType);
        snprintf(device_reason, 256, "%s, %s of %u device%s", fbvk_type_name(props[pick].deviceType),
                 same > 1 ? "first" : "best", n, n > 1 ? "s" : "");
    }
    vb->dev->phys = devs[pick];
    vb->dev->props = props[pick];
    /* deviceName holds up to 255 characters; the brain keeps the first 127. */
    size_t len = strnlen(props[pick].deviceName, BRAIN_DEVICE_LEN - 1);
    memcpy(device_name, props[pick].deviceName, len);
    device_name[len] = '\0';
out:
    free(props);
    free(devs);
    return rc;
}

int fbvk__create_device(fbvk_brain *vb)
{
    const VkPhysicalDeviceProperties *pp = &vb->dev->props;
    if (VK_API_VERSION_MAJOR(pp->apiVersion) == 1 && VK_API_VERSION_MINOR(pp->apiVersion) < 2)
        return fb_fail(vb->err, vb->err_len, BRAIN_ERR_DEVICE,
                          "Vulkan device %s supports Vulkan %u.%u; the brain needs 1.2",
                          pp->deviceName, VK_API_VERSION_MAJOR(pp->apiVersion),
                          VK_API_VERSION_MINOR(pp->apiVersion));
    VkPhysicalDeviceVulkan11Features f11 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES};
    VkPhysicalDeviceVulkan12Features f12 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
                                            .pNext = &f11};
    VkPhysicalDeviceFeatures2 f2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2, .pNext = &f12};
    vkGetPhysicalDeviceFeatures2(vb->dev->phys, &f2);
    if (!f12.bufferDeviceAddress || !f2.features.shaderInt64)
        return fb_fail(vb->err, vb->err_len, BRAIN_ERR_DEVICE,
                          "Vulkan device %s lacks %s, which the brain's shaders need", pp->deviceName,
                          !f12.bufferDeviceAddress ? "bufferDeviceAddress" : "shaderInt64");
    if (vb->f16 && !f11.storageBuffer16BitAccess)
        return fb_fail(vb->err, vb->err_len, BRAIN_ERR_DEVICE,
                          "precision f16: Vulkan device %s lacks storageBuffer16BitAccess (16-bit "
                          "values in storage buffers); use precision f32 there",
                          pp->deviceName);

    /* A compute-only family when there is one (it may run beside graphics). */
    uint32_t nf = 0;
    vkGetPhysicalDeviceQueueFamilyProperties(vb->dev->phys, &nf, NULL);
    VkQueueFamilyProperties *fam = calloc(nf ? nf : 1, sizeof *fam);
    if (!fam)
        return fb_fail(vb->err, vb->err_len, BRAIN_ERR_NOMEM, "out of memory");
    vkGetPhysicalDeviceQueueFamilyProperties(vb->dev->phys, &nf, fam);
    uint32_t pick = nf;
    for (uint32_t i = 0; i < nf; i++) {
        if (!(fam[i].queueFlags & VK_QUEUE_COMPUTE_BIT) || fam[i].queueCount == 0)
            continue;
        bool only = !(fam[i].queueFlags & VK_QUEUE_GRAPHICS_BIT);
        if (pick == nf || (only && (fam[pick].queueFlags & VK_QUEUE_GRAPHICS_BIT)))
            pick = i;
    }
    if (pick == nf) {
        free(fam);
        return fb_fail(vb->err, vb->err_len, BRAIN_ERR_DEVICE,
                          "Vulkan device %s has no compute queue", pp->deviceName);
    }
    vb->dev->queue_family = pick;
    vb->dev->timestamp_bits = fam[pick].timestampValidBits;
    free(fam);

    float prio = 1.0f;
    VkDeviceQueueCreateInfo qci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_QUEUE_CREATE_INFO,
        .queueFamilyIndex = vb->dev->queue_family,
        .queueCount = 1,
        .pQueuePriorities = &prio,
    };
    VkPhysicalDeviceVulkan11Features want11 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_1_FEATURES,
        .storageBuffer16BitAccess = vb->f16 ? VK_TRUE : VK_FALSE,
    };
    VkPhysicalDeviceVulkan12Features want12 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_VULKAN_1_2_FEATURES,
        .pNext = &want11,
        .bufferDeviceAddress = VK_TRUE,
    };
    VkPhysicalDeviceFeatures2 want = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_FEATURES_2,
        .pNext = &want12,
        .features = {.shaderInt64 = VK_TRUE},
    };
    VkDeviceCreateInfo dci = {
        .sType = VK_STRUCTURE_TYPE_DEVICE_CREATE_INFO,
        .pNext = &want,
        .queueCreateInfoCount = 1,
        .pQueueCreateInfos = &qci,
    };
    int rc = fbvk__check(vb, vkCreateDevice(vb->dev->phys, &dci, NULL, &vb->dev->device), "vkCreateDevice");
    if (rc)
        return rc;
    vkGetDeviceQueue(vb->dev->device, vb->dev->queue_family, 0, &vb->dev->queue);
    vkGetPhysicalDeviceMemoryProperties(vb->dev->phys, &vb->dev->mem_props);

    VkPhysicalDeviceMaintenance3Properties m3 = {
        .sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_MAINTENANCE_3_PROPERTIES};
    VkPhysicalDeviceProperties2 p2 = {.sType = VK_STRUCTURE_TYPE_PHYSICAL_DEVICE_PROPERTIES_2, .pNext = &m3};
    vkGetPhysicalDeviceProperties2(vb->dev->phys, &p2);
    vb->dev->max_allocation = m3.maxMemoryAllocationSize;
    return BRAIN_OK;
}

/* The first memory type in type_bits with all of `need`, preferring one that
 * also has all of `want`; -1 if none. */
static int fbvk_memory_type(const fbvk_brain *vb, uint32_t type_bits, VkMemoryPropertyFlags need,
                            VkMemoryPropertyFlags want)
{
    int fallback = -1;
    for (uint32_t i = 0; i < vb->dev->mem_props.memoryTypeCount; i++) {
        VkMemoryPropertyFlags f = vb->dev->mem_props.memoryTypes[i].propertyFlags;
        if (!(type_bits & (1u << i)) || (f & need) != need)
            continue;
        if ((f & want) == want)
            return (int)i;
        if (fallback < 0)
            fallback = (int)i;
    }
    return fallback;
}

int fbvk__buffer_create(fbvk_brain *vb, fbvk_buffer *b, VkDeviceSize size, VkMemoryPropertyFlags need,
                        VkMemoryPropertyFlags want, const char *what)
{
    VkBufferCreateInfo bci = {
        .sType = VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO,
        .size = size,
        /* Indirect: the state buffer holds decide.comp's dispatch sizes. */
        .usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
                 VK_BUFFER_USAGE_TRANSFER_DST_BIT | VK_BUFFER_USAGE_SHADER_DEVICE_ADDRESS_BIT |
                 VK_BUFFER_USAGE_INDIRECT_BUFFER_BIT,
        .sharingMode = VK_SHARING_MODE_EXCLUSIVE,
    };
    VkResult cr = vkCreateBuffer(vb->dev->device, &bci, NULL, &b->buf);
    if (cr == VK_ERROR_OUT_OF_DEVICE_MEMORY) {
        b->buf = VK_NULL_HANDLE;
        return fb_fail(vb->err, vb->err_len, BRAIN_ERR_TOO_BIG,
                          "the %s needs %.1f MB, more than Vulkan device %s accepts in one buffer",
                          what, (double)size / 1e6, vb->dev->props.deviceName);
    }
    int rc = fbvk__check(vb, cr, what);
    if (rc)
        return rc;
    b->size = size;
    VkMemoryRequirements req;
    vkGetBufferMemoryRequirements(vb->dev->device, b->buf, &req);
    int type = fbvk_memory_type(vb, req.memoryTypeBits, need, want);
    if (type < 0)
        return fb_fail(vb->err, vb->err_len, BRAIN_ERR_DEVICE,
                          "Vulkan device %s has no suitable memory type for the %s",
                          vb->dev->props.deviceName, what);
    VkMemoryType mt = vb->dev->mem_props.memoryTypes[type];
    VkDeviceSize heap = vb->dev->mem_props.memoryHeaps[mt.heapIndex].size;
    if (req.size > heap || (vb->dev->max_allocation && req.size > vb->dev->max_allocation))
        return fb_fail(vb->err, vb->err_len, BRAIN_ERR_TOO_BIG,
                          "the %s needs %.1f MB, but Vulkan device %s allows %.1f MB per allocation "
                          "and has %.1f MB in that memory heap",
                          what, (double)req.size / 1e6, vb->dev->props.deviceName,
                          (double)vb->dev->max_allocation / 1e6, (double)heap / 1e6);
    VkMemoryAllocateFlagsInfo flags = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_FLAGS_INFO,
        .flags = VK_MEMORY_ALLOCATE_DEVICE_ADDRESS_BIT,
    };
    VkMemoryAllocateInfo mai = {
        .sType = VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO,
        .pNext = &flags,
        .allocationSize = req.size,
        .memoryTypeIndex = (uint32_t)type,
    };
    VkResult r = vkAllocateMemory(vb->dev->device, &mai, NULL, &b->mem);
    if (r == VK_ERROR_OUT_OF_DEVICE_MEMORY || r == VK_ERROR_OUT_OF_HOST_MEMORY) {
        b->mem = VK_NULL_HANDLE;
        return fb_fail(vb->err, vb->err_len, BRAIN_ERR_TOO_BIG,
                          "the %s needs %.1f MB, and Vulkan device %s could not allocate it "
                          "(%.1f MB in that heap, shared with everything else on the device)",
                          what, (double)req.size / 1e6, vb->dev->props.deviceName, (double)heap / 1e6);
    }
    if ((rc = fbvk__check(vb, r, what)))
        return rc;
    if ((rc = fbvk__check(vb, vkBindBufferMemory(vb->dev->device, b->buf, b->mem, 0), what)))
        return rc;
    VkBufferDeviceAddressInfo ai = {.sType = VK_STRUCTURE_TYPE_BUFFER_DEVICE_ADDRESS_INFO, .buffer = b->buf};
    b->addr = vkGetBufferDeviceAddress(vb->dev->device, &ai);
    b->coherent = (mt.propertyFlags & VK_MEMORY_PROPERTY_HOST_COHERENT_BIT) != 0;
    if (need & VK_MEMORY_PROPERTY_HOST_VISIBLE_BIT)
        return fbvk__check(vb, vkMapMemory(vb->dev->device, b->mem, 0, VK_WHOLE_SIZE, 0, &b->map), what);
    return BRAIN_OK;
}

void fbvk__buffer_destroy(fbvk_brain *vb, fbvk_buffer *b)
{
    if (b->map)
        vkUnmapMemory(vb->dev->device, b->mem);
    if (b->buf)
        vkDestroyBuffer(vb->dev->device, b->buf, NULL);
    if (b->mem)
        vkFreeMemory(vb->dev->device, b->mem, NULL);
    memset(b, 0, sizeof *b);
}

/* Makes the device's writes to a mapped buffer visible to the host. */
void fbvk__buffer_invalidate(fbvk_brain *vb, const fbvk_buffer *b)
{
    if (b->coherent)
        return;
    VkMappedMemoryRange range = {
        .sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE,
        .memory = b->mem,
        .offset = 0,
        .size = VK_WHOLE_SIZE,
    };
    vkInvalidateMappedMemoryRanges(vb->dev->device, 1, &range);
}

void fbvk__buffer_flush(fbvk_brain *vb, const fbvk_buffer *b)
{
    if (b->coherent)
        return;
    VkMappedMemoryRange range = {
        .sType = VK_STRUCTURE_TYPE_MAPPED_MEMORY_RANGE,
        .memory = b->mem,
        .offset = 0,
        .size = VK_WHOLE_SIZE,
    };
    vkFlushMappedMemoryRanges(vb->dev->device, 1, &range);
}
