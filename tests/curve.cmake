# curve/: key files, and a CURVE server with the ZAP allow-list against real
# ZeroMQ clients on 127.0.0.1 (unit: fast, also under ASan).
fb_add_tests(TARGET test_curve SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_curve.c
  LIBS fb_curve PkgConfig::ZMQ LABELS unit)
