# The CPU backend and checkpoints.
fb_add_tests(TARGET test_brain_cpu SOURCES test_brain_cpu.c LIBS fb_brain LABELS unit)
# The CPU backend's results bit for bit as recorded, on 1-7 threads.
fb_add_tests(TARGET test_brain_cpu_hash SOURCES test_brain_cpu_hash.c LIBS fb_brain LABELS unit)
# No accepted input makes the state non-finite; a fault is reported and reset.
fb_add_tests(TARGET test_bounds SOURCES test_bounds.c LIBS fb_brain LABELS unit)
# Fleets: each brain bit for bit as one made alone, faults kept to their brain.
fb_add_tests(TARGET test_brain_fleet SOURCES test_brain_fleet.c LIBS fb_brain LABELS unit)
