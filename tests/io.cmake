# io tests: the wire codec (unit), the link and loop against the real
# fieldbrain program over real sockets on 127.0.0.1 (integration).
fb_add_tests(TARGET test_wire SOURCES test_wire.c LIBS fb_wire LABELS unit)
# The loop in this process on a clock of the test's own (no wall-clock time).
fb_add_tests(TARGET test_loop_clock SOURCES test_loop_clock.c LIBS fb_io fb_brain LABELS unit)
fb_add_tests(TARGET test_loop SOURCES test_loop.c
  LIBS fb_test_proc fb_wire fb_config fb_brain fb_telemetry PkgConfig::ZMQ m
  LABELS integration TIMEOUT 120)
target_compile_definitions(test_loop PRIVATE FB_FIELDBRAIN="$<TARGET_FILE:fieldbrain>")
add_dependencies(test_loop fieldbrain)

# Python tests drive the program with the Python robot client of io/.
foreach(name robot_client_script_answers link_loss_and_recovery
             garbage_flood_is_counted_and_good_client_served curve_right_key_only
             stop_signals_stop_cleanly_and_start_failures_exit_1_or_2
             ping_counts_only_the_answers_to_its_own_messages
             resume_refuses_a_checkpoint_it_cannot_read_or_that_does_not_fit
             non_loopback_without_curve_warns)
  add_test(NAME test_link.${name}
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_link.py
            $<TARGET_FILE:fieldbrain> ${PROJECT_SOURCE_DIR}/io/robot_client.py ${name})
  set_tests_properties(test_link.${name} PROPERTIES LABELS integration TIMEOUT 120)
endforeach()

# The input log and fieldbrain replay, with the real program and the Python
# robot (the cross-backend one replays on lavapipe).
foreach(name replay_is_bit_identical_and_the_log_holds_the_motors_sent reader_in_format_md_is_the_tested_one
             fixed_rate_with_a_lost_link_replays_bit_for_bit demo_sized_recording_replays_bit_for_bit
             live_changes_and_resets_replay_bit_for_bit
             segments_rotate_and_from_starts_at_a_later_checkpoint what_if_writes_both_series
             cut_corrupt_foreign_and_other_version_logs replay_on_the_other_backend_is_within_tolerance
             fleet_each_robots_log_replays_bit_for_bit)
  add_test(NAME test_replay.${name}
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_replay.py
            $<TARGET_FILE:fieldbrain> ${PROJECT_SOURCE_DIR}/io/robot_client.py
            ${PROJECT_SOURCE_DIR}/inlog/FORMAT.md ${PROJECT_SOURCE_DIR}/inlog/read_inlog.py ${name})
  set_tests_properties(test_replay.${name} PROPERTIES LABELS integration TIMEOUT 180
                       ENVIRONMENT "${FB_VULKAN_TEST_ENV}")
endforeach()

# Many idle connections under a low file-descriptor limit; floods of
# subscriptions to the motor and telemetry sockets.
foreach(name idle_connections_under_a_low_soft_limit_starve_nothing
             connections_that_take_every_descriptor_do_not_stop_the_saves
             motor_subscription_flood_is_cut_and_the_robot_served
             telemetry_subscription_flood_is_cut_and_subscribers_served
             connections_over_the_per_address_limit_are_refused
             connections_cut_together_are_refused_for_one_second)
  add_test(NAME test_limits.${name}
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_limits.py
            $<TARGET_FILE:fieldbrain> ${PROJECT_SOURCE_DIR}/io/robot_client.py ${name})
  set_tests_properties(test_limits.${name} PROPERTIES LABELS integration TIMEOUT 120)
endforeach()

# A fleet: one fieldbrain serving several robots (the Vulkan case on lavapipe).
foreach(name fleet_motors_are_those_of_each_robot_alone_cpu
             fleet_motors_are_those_of_each_robot_alone_vulkan
             fixed_rate_fleet_keeps_each_robots_link_apart
             checkpoints_and_resume_fleet_continue_each_robot bad_fleets_are_refused_at_start
             two_processes_split_a_fleet)
  add_test(NAME test_fleet.${name}
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_fleet.py
            $<TARGET_FILE:fieldbrain> ${PROJECT_SOURCE_DIR}/io/robot_client.py ${name})
  set_tests_properties(test_fleet.${name} PROPERTIES LABELS integration TIMEOUT 240
                       ENVIRONMENT "${FB_VULKAN_TEST_ENV}")
endforeach()
