/* brain_vk.c: placeholder until the Vulkan backend lands. */
#include "brain_internal.h"

int brain_vk_create(const brain_backend_init *init, const brain_ops **ops, void **impl)
{
    (void)ops;
    (void)impl;
    return brain_fail(init->err, init->err_len, BRAIN_ERR_DEVICE, "Vulkan backend not built yet");
}
