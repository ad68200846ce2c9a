# fieldbrain-web end to end (integration): real brains, the simulated rover
# and fieldbrain-web on fresh loopback ports; Foxglove WebSocket clients
# from npm (@foxglove/ws-protocol) and the page in a real headless chromium
# (playwright-core). The npm packages are in tests/web/node_modules
# (scripts/setup-deps.sh runs npm ci there).
find_program(FB_NODE node REQUIRED)
find_program(FB_CHROMIUM chromium REQUIRED)

foreach(name advertise_subscribe_typed_messages slice_is_a_compressed_png unsubscribe_stops_messages
             a_fleet_shows_every_robot
             stalled_viewer_does_not_hold_up_others malformed_clients_get_a_close brain_gone_and_back)
  add_test(NAME test_web.${name}
    COMMAND ${FB_NODE} ${CMAKE_CURRENT_LIST_DIR}/web/test_web_protocol.mjs ${CMAKE_BINARY_DIR} ${name})
  set_tests_properties(test_web.${name} PROPERTIES LABELS integration TIMEOUT 120)
endforeach()

# The screenshot lands in the build directory: test_web_page.png.
add_test(NAME test_web_page.page_shows_live_brain_and_sim
  COMMAND ${FB_NODE} ${CMAKE_CURRENT_LIST_DIR}/web/test_web_page.mjs ${CMAKE_BINARY_DIR} page_shows_live_brain_and_sim)
set_tests_properties(test_web_page.page_shows_live_brain_and_sim PROPERTIES
  LABELS integration TIMEOUT 120 ENVIRONMENT "CHROMIUM=${FB_CHROMIUM}")
