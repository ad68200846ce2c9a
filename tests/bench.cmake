# fieldbrain-bench: links brain/ only (Vulkan loader + libm at run time).
add_executable(fieldbrain-bench bench/bench.c)
target_link_libraries(fieldbrain-bench PRIVATE fb_brain fb_base)
set_target_properties(fieldbrain-bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
# The benchmark must keep running: a smoke run of a few cycles (no timing asserted).
add_test(NAME bench.smoke COMMAND bash -o pipefail -c
  "$<TARGET_FILE:fieldbrain-bench> --backend cpu --sizes 8x8,7x5x3x6 --cycles 20 --warmup 2 --json | /usr/bin/python3 -c 'import json, sys; rows = [json.loads(l) for l in sys.stdin]; assert len(rows) == 2 and all(r[\"wall_ms\"][\"median\"] > 0 for r in rows), rows; assert all(sum(k[\"n\"] for k in r[\"kinds_ms\"].values()) == r[\"cycles\"] and r[\"kinds_ms\"][\"plain\"][\"n\"] == r[\"plain_ms\"][\"n\"] for r in rows), rows'")
set_tests_properties(bench.smoke PROPERTIES LABELS unit TIMEOUT 60)

# fieldbrain-compare: the Vulkan backend against the CPU reference at any size
# (tests/bench/device-check.sh runs it at 96^3 x 192 on a GPU). Here a small
# run on lavapipe with the validation layer on, f32 and f16.
add_executable(fieldbrain-compare bench/compare.c)
target_link_libraries(fieldbrain-compare PRIVATE fb_brain fb_base)
set_target_properties(fieldbrain-compare PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
add_test(NAME bench.compare_f32 COMMAND fieldbrain-compare --sizes 6x5x4x7 --cycles 30)
add_test(NAME bench.compare_f16 COMMAND fieldbrain-compare --sizes 8x12 --cycles 30 --precision f16)
set_tests_properties(bench.compare_f32 bench.compare_f16 PROPERTIES LABELS vulkan TIMEOUT 120
                     ENVIRONMENT "${FB_VULKAN_TEST_ENV}")
# --brains: the fleet beside brains alone, at a tiny size (no timing asserted).
add_test(NAME bench.fleet_smoke COMMAND bash -o pipefail -c
  "$<TARGET_FILE:fieldbrain-bench> --backend cpu --sizes 8x8 --brains 3 --cycles 10 --warmup 1 --threads 2 --json | /usr/bin/python3 -c 'import json, sys; rows = [json.loads(l) for l in sys.stdin]; assert len(rows) == 1 and rows[0][\"brains\"] == 3 and rows[0][\"fleet_tick_ms\"][\"median\"] > 0 and rows[0][\"alone_round_ms\"][\"median\"] > 0, rows'")
set_tests_properties(bench.fleet_smoke PROPERTIES LABELS unit TIMEOUT 60)
