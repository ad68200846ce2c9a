# fieldbrain-bench: links brain/ only (Vulkan loader + libm at run time).
add_executable(fieldbrain-bench bench/bench.c)
target_link_libraries(fieldbrain-bench PRIVATE fb_brain)
set_target_properties(fieldbrain-bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
# The benchmark must keep running: a smoke run of a few cycles (no timing asserted).
add_test(NAME bench.smoke COMMAND bash -o pipefail -c
  "$<TARGET_FILE:fieldbrain-bench> --backend cpu --sizes 8x8,7x5x3x6 --cycles 20 --warmup 2 --json | /usr/bin/python3 -c 'import json, sys; rows = [json.loads(l) for l in sys.stdin]; assert len(rows) == 2 and all(r[\"wall_ms\"][\"median\"] > 0 for r in rows), rows'")
set_tests_properties(bench.smoke PROPERTIES LABELS unit TIMEOUT 60)
