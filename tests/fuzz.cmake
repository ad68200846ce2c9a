# Fuzz tests with a fixed seed and a fixed number of inputs, so every run
# (and the ASan + UBSan one of make test) reads the same ones: the wire
# decoder against random and mutated frames, the config reader against the
# shipped configs mutated.
if(TARGET fb_wire)
  fb_add_tests(TARGET test_fuzz_wire SOURCES test_fuzz_wire.c LIBS fb_wire LABELS unit)
endif()
if(TARGET fb_config)
  fb_add_tests(TARGET test_fuzz_config SOURCES test_fuzz_config.c LIBS fb_config LABELS unit)
  target_compile_definitions(test_fuzz_config PRIVATE FB_CONFIG_DIR="${PROJECT_SOURCE_DIR}/config")
endif()
# A running brain (link, loop, CPU backend in this process) under random and
# mutated frames over a real socket.
fb_add_tests(TARGET test_fuzz_brain SOURCES test_fuzz_brain.c LIBS fb_io fb_brain PkgConfig::ZMQ LABELS unit TIMEOUT 120)
