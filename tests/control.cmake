# The control socket (io/CONTROL.md): the real fieldbrain program and
# fieldbrain-ctl over real sockets on 127.0.0.1 (integration). The
# bit-for-bit test of a change while running is in test_brain_cpu.c and
# test_brain_vk.c (set_params_live_matches_a_brain_made_with_them).
foreach(name set_get_status_and_the_event telemetry_rates_and_slice_change_live
             refused_keys_exit_1_with_a_sentence malformed_requests_are_refused_and_nothing_changes
             live_follows_what_set_takes_with_telemetry_off_and_in_lockstep
             ctl_refuses_a_bad_robot_or_timeout_with_exit_2 a_slow_loop_takes_a_change_at_its_next_cycle
             unreachable_endpoint_exits_2_within_the_timeout
             save_writes_a_loadable_checkpoint_and_resume_keeps_the_change
             pause_stops_the_motors_resume_and_reset_step_again curve_allowed_client_only
             fleet_set_for_one_robot_or_every_robot fleet_pause_one_robot_stops_only_its_motors
             fleet_save_by_robot_and_for_all_and_resume_fleet
             fleet_unknown_robot_is_refused_naming_the_robots fleet_slice_robot_changes_live)
  add_test(NAME test_control.${name}
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_control.py
            $<TARGET_FILE:fieldbrain> $<TARGET_FILE:fieldbrain-ctl>
            ${PROJECT_SOURCE_DIR}/io/robot_client.py ${name})
  set_tests_properties(test_control.${name} PROPERTIES LABELS integration TIMEOUT 120)
endforeach()
