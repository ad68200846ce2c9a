# sim tests: the rover's physics through fb_sim (unit: real MuJoCo, also
# under ASan), and fieldbrain-sim over real sockets against a fake brain
# written in the test and against the real fieldbrain program (integration).
fb_add_tests(TARGET test_sim SOURCES test_sim.c LIBS fb_sim m LABELS unit TIMEOUT 120)
fb_add_tests(TARGET test_sim_link SOURCES test_sim_link.c
  LIBS fb_test_proc fb_wire PkgConfig::ZMQ m LABELS integration TIMEOUT 120)
target_compile_definitions(test_sim_link PRIVATE
  FB_SIM_BIN="$<TARGET_FILE:fieldbrain-sim>" FB_BRAIN_BIN="$<TARGET_FILE:fieldbrain>"
  FB_ROVER_XML="${PROJECT_SOURCE_DIR}/sim/models/rover.xml")
add_dependencies(test_sim_link fieldbrain-sim fieldbrain)
add_test(NAME test_sim_plot.draws_the_arena_and_trajectory
  COMMAND /usr/bin/python3 ${CMAKE_CURRENT_SOURCE_DIR}/test_sim_plot.py $<TARGET_FILE:fieldbrain-sim>
          ${PROJECT_SOURCE_DIR}/sim/plot_trajectory.py ${PROJECT_SOURCE_DIR}/sim/models/rover.xml)
set_tests_properties(test_sim_plot.draws_the_arena_and_trajectory PROPERTIES LABELS integration TIMEOUT 120)
