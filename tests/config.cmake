# tests/config.cmake: the config reader (test_config.c) and the
# fieldbrain-config tool run on good and bad files.
fb_add_tests(TARGET test_config SOURCES test_config.c LIBS fb_config LABELS unit)
target_compile_definitions(test_config PRIVATE
  FB_CONFIG_DIR="${PROJECT_SOURCE_DIR}/config"
  FB_CONFIG_DATA="${CMAKE_CURRENT_SOURCE_DIR}/data/config")

set(FB_CONFIG_DATA_DIR ${CMAKE_CURRENT_SOURCE_DIR}/data/config)

# `fieldbrain-config check FILE` on a bad file: exit status 1 (not 0, and not
# a crash) and EXPECTED on stderr.
function(fb_config_tool_bad name file expected)
  add_test(NAME config_tool.check_${name}
    COMMAND sh -c [=[err=$("$1" check "$2" 2>&1 >/dev/null)
rc=$?
printf '%s\n' "$err"
if [ "$rc" -ne 1 ]; then echo "exit status $rc, want 1"; exit 1; fi
case "$err" in *"$3"*) exit 0 ;; esac
echo "stderr lacks: $3"
exit 1]=] sh $<TARGET_FILE:fieldbrain-config> ${file} ${expected})
  set_tests_properties(config_tool.check_${name} PROPERTIES LABELS unit TIMEOUT 60)
endfunction()

fb_config_tool_bad(unknown_key ${FB_CONFIG_DATA_DIR}/unknown_key.yaml
  "unknown_key.yaml:5:3: brain.decy: unknown key (did you mean decay?)")
fb_config_tool_bad(out_of_range ${FB_CONFIG_DATA_DIR}/out_of_range.yaml
  "out_of_range.yaml:4:10: brain.decay: 1.5 is out of range (allowed 0 to 1)")
fb_config_tool_bad(bad_enum ${FB_CONFIG_DATA_DIR}/bad_enum.yaml
  "bad_enum.yaml:4:9: loop.mode: 'fast' is not one of fixed_rate, lockstep")
fb_config_tool_bad(syntax_error ${FB_CONFIG_DATA_DIR}/syntax_error.yaml
  "syntax_error.yaml:5:1: YAML syntax error: could not find expected ':'")
fb_config_tool_bad(duplicate_key ${FB_CONFIG_DATA_DIR}/duplicate_key.yaml
  "duplicate_key.yaml:5:3: link.timeout_ms: duplicate key (first set at line 3)")
fb_config_tool_bad(wrong_type ${FB_CONFIG_DATA_DIR}/wrong_type.yaml
  "wrong_type.yaml:3:10: telemetry.every: expected an integer, got 2.5 (allowed 1 to 1000000)")
fb_config_tool_bad(bad_endpoint ${FB_CONFIG_DATA_DIR}/bad_endpoint.yaml
  "bad_endpoint.yaml:3:20: link.sensor_endpoint: 'tcp://192.168.1.10' is not a ZeroMQ endpoint")
fb_config_tool_bad(empty ${FB_CONFIG_DATA_DIR}/empty.yaml
  "empty.yaml:1:1: the file is empty")
fb_config_tool_bad(endpoint_clash ${FB_CONFIG_DATA_DIR}/endpoint_clash.yaml
  "endpoint_clash.yaml:4:3: link.sensor_endpoint: 'tcp://127.0.0.1:6000' takes the same address as link.motor_endpoint 'tcp://*:6000'")
fb_config_tool_bad(checkpoint_without_path ${FB_CONFIG_DATA_DIR}/checkpoint_without_path.yaml
  "checkpoint_without_path.yaml:4:3: checkpoint.every_s: 60 needs checkpoint.path (it is not set)")
fb_config_tool_bad(missing ${FB_CONFIG_DATA_DIR}/no-such-file.yaml
  "no-such-file.yaml: cannot open: No such file or directory")

# `fieldbrain-config show FILE`: its output checks out and shows the same again.
function(fb_config_tool_shows_back name file)
  add_test(NAME config_tool.show_${name}
    COMMAND sh -c [=[out="$3/config_tool_show_$4"
"$1" show "$2" > "$out.1" 2>/dev/null || exit 1
"$1" check "$out.1" || exit 1
"$1" show "$out.1" > "$out.2" 2>/dev/null || exit 1
cmp "$out.1" "$out.2"]=] sh $<TARGET_FILE:fieldbrain-config> ${file} ${CMAKE_CURRENT_BINARY_DIR}
      ${name})
  set_tests_properties(config_tool.show_${name} PROPERTIES LABELS unit TIMEOUT 60)
endfunction()

# Good files: every shipped config checks out (exit 0), em-brain.yaml with
# its instability warning on stderr, and show's output checks out again.
file(GLOB FB_SHIPPED_CONFIGS CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/config/*.yaml)
foreach(cfg ${FB_SHIPPED_CONFIGS})
  get_filename_component(cfg_name ${cfg} NAME_WE)
  add_test(NAME config_tool.check_shipped_${cfg_name}
    COMMAND $<TARGET_FILE:fieldbrain-config> check ${cfg})
  set_tests_properties(config_tool.check_shipped_${cfg_name} PROPERTIES LABELS unit TIMEOUT 60)
  fb_config_tool_shows_back(shipped_${cfg_name} ${cfg})
endforeach()
fb_config_tool_shows_back(odd_strings ${FB_CONFIG_DATA_DIR}/odd_strings.yaml)

add_test(NAME config_tool.em_brain_warns
  COMMAND sh -c [=[err=$("$1" check "$2" 2>&1 >/dev/null) || { echo "check failed: $err"; exit 1; }
printf '%s\n' "$err"
case "$err" in *"warning: brain.momentum_gain: decay * (1 + momentum_gain)"*) exit 0 ;; esac
echo "no instability warning"
exit 1]=] sh $<TARGET_FILE:fieldbrain-config> ${PROJECT_SOURCE_DIR}/config/em-brain.yaml)
set_tests_properties(config_tool.em_brain_warns PROPERTIES LABELS unit TIMEOUT 60)

add_test(NAME config_tool.show_output_checks
  COMMAND sh -c [=[out="$3/config_tool_show.yaml"
"$1" show "$2" > "$out" || exit 1
grep -q '^  rate_hz: 100 ' "$out" || { echo "show lacks loop.rate_hz"; exit 1; }
"$1" check "$out"]=] sh $<TARGET_FILE:fieldbrain-config> ${PROJECT_SOURCE_DIR}/config/cpu-small.yaml
    ${CMAKE_CURRENT_BINARY_DIR})
set_tests_properties(config_tool.show_output_checks PROPERTIES LABELS unit TIMEOUT 60)

add_test(NAME config_tool.usage_errors
  COMMAND sh -c [=["$1" --help | grep -q '^usage: fieldbrain-config check FILE' || exit 1
"$1" frobnicate 2>/dev/null
rc=$?
[ "$rc" -eq 2 ] || { echo "unknown command: exit status $rc, want 2"; exit 1; }]=]
    sh $<TARGET_FILE:fieldbrain-config>)
set_tests_properties(config_tool.usage_errors PROPERTIES LABELS unit TIMEOUT 60)

# What check reads on this machine besides the file (config_tool.c).
fb_config_tool_bad(localhost_endpoint ${FB_CONFIG_DATA_DIR}/localhost_endpoint.yaml
  "link.sensor_endpoint: tcp://localhost:6001: ZeroMQ binds '*', an address or an interface name, and 'localhost' is none of these")
fb_config_tool_bad(missing_allow_list ${FB_CONFIG_DATA_DIR}/missing_allow_list.yaml
  "link.curve_client_keys: cannot open no-such-allow-list.keys")
fb_config_tool_bad(curve_pair_mismatch ${FB_CONFIG_DATA_DIR}/curve_pair_mismatch.yaml
  "link.curve_public_key: is not the public key of link.curve_secret_key")
