# demo_lib.sh: what scripts/demo.sh and scripts/demo-fleet.sh share, sourced
# by both (they set build, py and here first).
#
# demo_start NAME DIR PROGRAM...: checks that each program is built in
# $build (then absolute), makes DIR afresh as $out (absolute), a scratch
# folder $work, an empty list pids of the processes started (each is sent
# SIGTERM at exit, then $work goes), and four free TCP ports on loopback,
# $p_sensor $p_motor $p_tele $p_control, so a demo never collides with a
# brain already running on the default ports.
demo_start() {
    local name=$1 dir=$2 prog
    shift 2
    for prog in "$@"; do
        [ -x "$build/$prog" ] || { echo "$name: $build/$prog is missing (run make)" >&2; exit 1; }
    done
    build=$(cd "$build" && pwd)
    rm -rf "$dir"
    mkdir -p "$dir"
    out=$(cd "$dir" && pwd)
    work=$(mktemp -d)
    pids=()
    trap demo_cleanup EXIT
    read -r p_sensor p_motor p_tele p_control < <("$py" "$here/free_ports.py" 4)
}

demo_cleanup() {
    local p
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}

# demo_yaml_common: the configuration sections both demos share, on stdout:
# the loop at 100 Hz, this run's endpoints (from demo_start), telemetry,
# checkpoints into $out on exit, and the simulation for $seconds in real time.
demo_yaml_common() {
    cat <<EOF
loop:
  mode: fixed_rate
  rate_hz: 100
link:
  sensor_endpoint: tcp://127.0.0.1:$p_sensor
  motor_endpoint: tcp://127.0.0.1:$p_motor
telemetry:
  endpoint: tcp://127.0.0.1:$p_tele
  every: 5
  slice_every: 400
checkpoint:
  path: $out/brain
  on_exit: true
control:
  endpoint: tcp://127.0.0.1:$p_control
sim:
  mode: realtime
  sensor_hz: 100
  duration_s: $seconds
  trajectory: $out/trajectory.csv
EOF
}

# demo_run_brain CONFIG: starts fieldbrain on CONFIG (its --summary into
# $out/brain-summary.json, its output into $out/brain.log) and
# fieldbrain-record on its telemetry (into $out/recording), in the
# background; sets start_ns, brain_pid and record_pid.
demo_run_brain() {
    start_ns=$(date +%s%N)
    "$build/fieldbrain" run --config "$1" --summary "$out/brain-summary.json" > "$out/brain.log" 2>&1 &
    brain_pid=$!
    pids+=("$brain_pid")
    "$build/fieldbrain-record" "tcp://127.0.0.1:$p_tele" "$out/recording" > "$out/record.log" 2>&1 &
    record_pid=$!
    pids+=("$record_pid")
}
