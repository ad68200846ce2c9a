# The CPU backend and checkpoints.
fb_add_tests(TARGET test_brain_cpu SOURCES test_brain_cpu.c LIBS fb_brain LABELS unit)
