# io tests: the wire codec (unit), the link and loop against the real
# fieldbrain program over real sockets on 127.0.0.1 (integration).
fb_add_tests(TARGET test_wire SOURCES test_wire.c LIBS fb_wire LABELS unit)
