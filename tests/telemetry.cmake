# Telemetry: the publisher with real ZeroMQ subscribers on 127.0.0.1 (unit:
# fast, also under ASan), and the programs end to end (integration).
if(TARGET fb_telemetry)
  fb_add_tests(TARGET test_telemetry
    SOURCES ${CMAKE_CURRENT_LIST_DIR}/test_telemetry.c
    LIBS fb_telemetry
    LABELS unit)
endif()
