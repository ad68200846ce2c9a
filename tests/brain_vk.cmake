# The Vulkan backend against the CPU reference, on lavapipe with the Khronos
# validation layer on (FB_VULKAN_TEST_ENV): any validation error fails a test.
fb_add_tests(TARGET test_brain_vk SOURCES test_brain_vk.c LIBS fb_brain LABELS vulkan
             ENV ${FB_VULKAN_TEST_ENV} TIMEOUT 300)
# Bounds and faults (tests/test_bounds.c) on the Vulkan backend too.
fb_add_tests(TARGET test_bounds_vk SOURCES test_bounds.c LIBS fb_brain LABELS vulkan
             ENV ${FB_VULKAN_TEST_ENV} FB_TEST_VULKAN=1 TIMEOUT 300)
# Fleets on the Vulkan backend: one device, one submission per fleet step.
fb_add_tests(TARGET test_brain_fleet_vk SOURCES test_brain_fleet.c LIBS fb_brain LABELS vulkan
             ENV ${FB_VULKAN_TEST_ENV} FB_TEST_VULKAN=1 TIMEOUT 300)
