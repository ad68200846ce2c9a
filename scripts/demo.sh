#!/usr/bin/env bash
# demo.sh: the brain drives the simulated rover for about 30 s (make demo).
#
# Starts the brain (backend auto: a GPU when there is one, else the CPU), a
# telemetry recorder and the MuJoCo rover in real time; stops them all
# cleanly; prints a summary and writes pictures to out/demo/: the arena seen
# from above with the trajectory, motors, energy and cycle time over time,
# field slices, and the live page of fieldbrain-web (web.png). Works without
# a display and without a GPU. The programs it runs live in their folders
# (fieldbrain-plot, sim/plot_trajectory.py) and beside it (free_ports.py,
# demo_summary.py).
#
#   scripts/demo.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
build=${1:-build}
seconds=${2:-${DEMO_SECONDS:-30}}
out=${DEMO_OUT:-out/demo}
py=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

. "$here/demo_lib.sh"
demo_start demo "$out" fieldbrain fieldbrain-sim fieldbrain-record fieldbrain-plot fieldbrain-web
# The input log of this run alone (fieldbrain replay steps it again below).
rm -rf "$out/log"

cat > "$out/demo.yaml" <<EOF
# The demo's configuration (scripts/demo.sh): the defaults of
# config/default.yaml with the endpoints of this run and a brain that uses
# the motors' range.
brain:
  backend: auto
  motor_gain: ${DEMO_MOTOR_GAIN:-400.0}
record:
  path: $out/log
EOF
demo_yaml_common >> "$out/demo.yaml"

echo "demo: brain, recorder and rover for ${seconds} s; output in $out"
demo_run_brain "$out/demo.yaml"

# fieldbrain-web on the demo's telemetry, and a screenshot of its page in
# headless chromium once the rover has been driving for a while (with the
# web tests' driver; a failed screenshot is reported, the demo goes on).
shot_js=$(cd "$(dirname "$0")/.." && pwd)/tests/web/screenshot.mjs
"$build/fieldbrain-web" "tcp://127.0.0.1:$p_tele" --port 0 > "$out/web.log" 2>&1 &
web_pid=$!
pids+=("$web_pid")
(
    for _ in $(seq 50); do
        url=$(sed -n 's|^fieldbrain-web: \(http://[^ ]*\) .*|\1|p' "$out/web.log")
        [ -n "$url" ] && break
        sleep 0.1
    done
    sleep $(( seconds > 25 ? seconds - 10 : seconds / 2 ))
    node "$shot_js" "$url" "$out/web.png" 20 > "$out/web-shot.log" 2>&1 ||
        echo "demo: the page screenshot failed (see $out/web-shot.log)" >&2
) &
shot_pid=$!

# The sim runs for sim.duration_s of simulated time in real time, then exits.
sim_rc=0
(cd "$work" && "$build/fieldbrain-sim" --config "$out/demo.yaml" --summary "$out/sim.json") \
    > "$out/sim.log" 2>&1 || sim_rc=$?

stop_ns=$(date +%s%N)
wait "$shot_pid" || true
kill -INT "$web_pid" 2>/dev/null || true
wait "$web_pid" || true
kill -INT "$brain_pid" "$record_pid" 2>/dev/null || true
brain_rc=0
wait "$brain_pid" || brain_rc=$?
wait "$record_pid" || true
pids=()
if [ "$sim_rc" != 0 ] || [ "$brain_rc" != 0 ]; then
    echo "demo: the sim exited $sim_rc and the brain $brain_rc; logs in $out" >&2
    tail -5 "$out/brain.log" "$out/sim.log" >&2
    exit 1
fi

# Pictures: plots of the recording (the slice sheet among them), the arena
# with the trajectory, the slices themselves.
"$build/fieldbrain-plot" "$out/recording" "$out" > "$out/plot.log" 2>&1 ||
    echo "demo: plotting failed (see $out/plot.log)" >&2
if [ -f "$root/sim/plot_trajectory.py" ]; then
    "$py" "$root/sim/plot_trajectory.py" "$out/trajectory.csv" "$out/arena.png" > "$out/arena.log" 2>&1 ||
        echo "demo: the arena picture failed (see $out/arena.log)" >&2
fi
mkdir -p "$out/slices"
cp "$out"/recording/slice-*.png "$out/slices/" 2>/dev/null || true

# The brain once more, offline: the input log replayed, every motor checked.
"$build/fieldbrain" replay "$out/log" > "$out/replay.txt" 2> "$out/replay.log" ||
    echo "demo: the replay of $out/log did not match (see $out/replay.txt)" >&2

# The summary, from the JSON the brain and the sim wrote at exit.
"$py" "$here/demo_summary.py" "$out" "$(( (stop_ns - start_ns) / 1000000 ))"
echo "  everything in    $out"
