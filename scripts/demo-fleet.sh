#!/usr/bin/env bash
# demo-fleet.sh: one brain process drives four simulated rovers for about
# 30 s (make demo-fleet).
#
# Starts one fieldbrain serving a fleet of four robots (a robots list: each
# robot its own brain, backend auto), a telemetry recorder, and one
# fieldbrain-sim with four rovers in real time, all on the same two link
# endpoints; stops them all cleanly; prints a summary per robot and writes
# to out/demo-fleet/: arena.png (the arena from above with every robot's
# path), arena-ID.png for each robot (its path coloured by time, where it
# was held or bumped; from trajectory-ID.csv), the plots of the recording, the
# logs, the configuration, the exit checkpoints (brain-ID.json + .npy) and
# the exit summaries (brain-summary.json, sim.json). Works without a display
# and without a GPU. The programs it runs live in their folders
# (fieldbrain-plot, sim/plot_trajectory.py) and beside it (free_ports.py,
# demo_fleet_summary.py).
#
#   scripts/demo-fleet.sh [BUILD_DIR] [SECONDS]
#
# DEMO_FLEET_SIZE sets brain.size (default 24: four brains of make demo's
# 32^3 fall behind 100 Hz on a two-core CPU), DEMO_FLEET_OUT the folder.
set -euo pipefail
build=${1:-build}
seconds=${2:-${DEMO_SECONDS:-30}}
out=${DEMO_FLEET_OUT:-out/demo-fleet}
ids=(1 2 3 4)
py=/usr/bin/python3
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)

. "$here/demo_lib.sh"
demo_start demo-fleet "$out" fieldbrain fieldbrain-sim fieldbrain-record fieldbrain-plot

{
    cat <<EOF
# The fleet demo's configuration (scripts/demo-fleet.sh): the defaults of
# config/default.yaml with the endpoints of this run, a brain that uses the
# motors' range, a field of size ${DEMO_FLEET_SIZE:-24} (DEMO_FLEET_SIZE), and a robots
# list: one fieldbrain serves them all, each robot with its own brain (seed
# brain.seed + its place in the list), and one fieldbrain-sim simulates a
# rover for each.
brain:
  backend: auto
  size: ${DEMO_FLEET_SIZE:-24}
  motor_gain: ${DEMO_MOTOR_GAIN:-400.0}
EOF
    demo_yaml_common
    echo "robots:"
    for id in "${ids[@]}"; do echo "  - id: $id"; done
} > "$out/demo-fleet.yaml"

echo "demo-fleet: one brain for ${#ids[@]} robots, recorder and ${#ids[@]} rovers for ${seconds} s; output in $out"
demo_run_brain "$out/demo-fleet.yaml"

# One sim process, a rover per robot of the list, for sim.duration_s of
# simulated time in real time; then it exits.
sim_rc=0
(cd "$work" && "$build/fieldbrain-sim" --config "$out/demo-fleet.yaml" --summary "$out/sim.json") \
    > "$out/sim.log" 2>&1 || sim_rc=$?

stop_ns=$(date +%s%N)
kill -INT "$brain_pid" "$record_pid" 2>/dev/null || true
brain_rc=0
wait "$brain_pid" || brain_rc=$?
wait "$record_pid" || true
pids=()
if [ "$sim_rc" != 0 ] || [ "$brain_rc" != 0 ]; then
    echo "demo-fleet: the sim exited $sim_rc and the brain $brain_rc; logs in $out" >&2
    tail -5 "$out/brain.log" "$out/sim.log" >&2
    exit 1
fi

# Pictures: the arena with every path, each robot's arena with its own, and
# the plots of the recording.
csvs=()
for id in "${ids[@]}"; do csvs+=("$out/trajectory-$id.csv"); done
"$py" "$root/sim/plot_trajectory.py" "${csvs[@]}" "$out/arena.png" > "$out/arena.log" 2>&1 ||
    echo "demo-fleet: the arena picture failed (see $out/arena.log)" >&2
for id in "${ids[@]}"; do
    "$py" "$root/sim/plot_trajectory.py" "$out/trajectory-$id.csv" "$out/arena-$id.png" \
        --label "robot $id of ${#ids[@]}" >> "$out/arena.log" 2>&1 ||
        echo "demo-fleet: the arena picture of robot $id failed (see $out/arena.log)" >&2
done
"$build/fieldbrain-plot" "$out/recording" "$out" > "$out/plot.log" 2>&1 ||
    echo "demo-fleet: plotting the recording failed (see $out/plot.log)" >&2

# The summary, from the JSON the brain and the sim wrote at exit.
"$py" "$here/demo_fleet_summary.py" "$out" "$(( (stop_ns - start_ns) / 1000000 ))"
echo "  everything in    $out"
