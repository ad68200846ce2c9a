# The programs make demo runs (scripts/demo.sh), each on its own: the slice
# sheet of fieldbrain-plot, scripts/free_ports.py, scripts/demo_summary.py on
# what a real fieldbrain run wrote with --summary; and make demo-fleet's
# scripts/demo_fleet_summary.py on what a real fleet (fieldbrain and
# fieldbrain-sim, two robots) wrote.
foreach(name plot_draws_the_slice_sheet free_ports_are_distinct_and_bindable
             summary_reads_what_the_programs_wrote fleet_summary_reads_what_the_programs_wrote)
  add_test(NAME test_demo_tools.${name}
    COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_demo_tools.py
            $<TARGET_FILE:fieldbrain> ${CMAKE_BINARY_DIR}/fieldbrain-plot
            ${PROJECT_SOURCE_DIR}/scripts ${name})
  set_tests_properties(test_demo_tools.${name} PROPERTIES LABELS integration TIMEOUT 120)
endforeach()
