# Telemetry: the publisher with real ZeroMQ subscribers on 127.0.0.1 (unit:
# fast, also under ASan; slices from planes read off a real CPU brain), and
# the programs end to end (integration).
fb_add_tests(TARGET test_telemetry
  SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_telemetry.c
  LIBS fb_telemetry fb_brain
  LABELS unit)
# Its flooding client takes every core it can for a few seconds: alone, so
# that neither it nor the timing tests beside it are judged on a machine the
# other is using up.
set_tests_properties(test_telemetry.subscription_flood_neither_grows_memory_nor_starves_subscribers
                     test_telemetry.subscription_flood_with_a_fleet_of_64_robots
  PROPERTIES RUN_SERIAL TRUE)

# End to end: the fieldbrain program with telemetry on, a Python robot,
# Python subscribers, the monitor, the recorder and the plots.
foreach(name stats_fields_and_cycle_numbers link_loss_events_reach_a_subscriber
             slice_png_has_the_documented_size monitor_once_and_json
             recorder_writes_stops_cleanly_and_plots recorder_stays_within_its_budget
             idle_subscriber_does_not_slow_the_loop readme_subscriber_example_runs)
  add_test(NAME test_telemetry_e2e.${name}
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_telemetry.py
            $<TARGET_FILE:fieldbrain> $<TARGET_FILE:fieldbrain-monitor>
            $<TARGET_FILE:fieldbrain-record> ${CMAKE_BINARY_DIR}/fieldbrain-plot
            ${PROJECT_SOURCE_DIR}/io/robot_client.py ${PROJECT_SOURCE_DIR}/telemetry/README.md ${name})
  set_tests_properties(test_telemetry_e2e.${name} PROPERTIES LABELS integration TIMEOUT 120)
endforeach()

# Telemetry under CURVE: the link's server key and allow-list by default,
# its own keys, telemetry.unencrypted, the monitor and recorder with --keys.
foreach(name without_keys_nothing_arrives allowed_key_gets_stats key_not_on_the_list_gets_nothing
             monitor_and_recorder_need_the_keys telemetry_own_keys unencrypted_is_explicit_and_warned
             readme_subscriber_example_with_keys config_refuses_half_keys_and_contradictions)
  add_test(NAME test_telemetry_curve.${name}
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_telemetry_curve.py
            $<TARGET_FILE:fieldbrain> $<TARGET_FILE:fieldbrain-monitor>
            $<TARGET_FILE:fieldbrain-record> ${PROJECT_SOURCE_DIR}/io/robot_client.py
            ${PROJECT_SOURCE_DIR}/telemetry/README.md ${name})
  set_tests_properties(test_telemetry_curve.${name} PROPERTIES LABELS integration TIMEOUT 120)
endforeach()

# A stand-in for a fieldbrain serving a fleet (the real publisher fed with
# several robots' cycles, each with energy and motors of its own), for the
# fleet tests of the monitor, the recorder and the plots; and a real
# fieldbrain with a robots list.
add_executable(telemetry-fleet-source ${CMAKE_CURRENT_LIST_DIR}/telemetry_fleet_source.c)
target_link_libraries(telemetry-fleet-source PRIVATE fb_telemetry m)
foreach(name monitor_shows_a_fleet_and_one_robot_in_detail recorder_and_plots_keep_robots_apart
             fieldbrain_fleet_publishes_each_robot_apart)
  add_test(NAME test_telemetry_fleet.${name}
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_telemetry_fleet.py
            $<TARGET_FILE:telemetry-fleet-source> $<TARGET_FILE:fieldbrain-monitor>
            $<TARGET_FILE:fieldbrain-record> ${CMAKE_BINARY_DIR}/fieldbrain-plot
            $<TARGET_FILE:fieldbrain> ${name})
  set_tests_properties(test_telemetry_fleet.${name} PROPERTIES LABELS integration TIMEOUT 120)
endforeach()

# fieldbrain-telemetry-bench: telemetry's cost on the loop, on against off.
# The smoke test keeps it running; it asserts no timing.
add_executable(fieldbrain-telemetry-bench ${CMAKE_CURRENT_LIST_DIR}/test_telemetry_bench.c)
target_link_libraries(fieldbrain-telemetry-bench PRIVATE fb_telemetry fb_brain)
set_target_properties(fieldbrain-telemetry-bench PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${CMAKE_BINARY_DIR})
add_test(NAME telemetry_bench.smoke
    COMMAND fieldbrain-telemetry-bench --size 8 --channels 8 --cycles 50 --slice-every 10)
set_tests_properties(telemetry_bench.smoke PROPERTIES LABELS unit TIMEOUT 60)

# What stats say of cycles that do not step, and which cycle an event names.
foreach(name cycles_that_do_not_step_carry_the_brains_state link_events_name_the_first_motor_message_that_shows_them)
  add_test(NAME test_events.${name}
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_events.py
            $<TARGET_FILE:fieldbrain> ${PROJECT_SOURCE_DIR}/io/robot_client.py ${name})
  set_tests_properties(test_events.${name} PROPERTIES LABELS integration TIMEOUT 120)
endforeach()
