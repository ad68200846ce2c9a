#!/usr/bin/env bash
# loop_latency.sh: end-to-end latency and loop timing of a running brain.
#
#   tests/bench/loop_latency.sh [BUILD_DIR]
#
# For each brain mode (lockstep; fixed_rate at 100 Hz and 1 kHz) on a small
# CPU field (8^3 x 16): starts build/fieldbrain, sends sensor messages with
# fieldbrain-ping over TCP loopback (97 Hz, so the phase against the brain's
# ticks drifts instead of repeating) and prints ping's latency (sensor send to
# the motor message that answers it: p50, p99, max) and the loop's own
# lateness and work time from the brain's summary line.
set -euo pipefail
build=${1:-build}
count=${COUNT:-1000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
ports=$(/usr/bin/python3 -c 'import socket
s = [socket.socket() for _ in range(3)]
[x.bind(("127.0.0.1", 0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))')
read -r ps pm pt <<<"$ports"

run() {
    local mode=$1 rate=$2 ping_rate=$3
    cat > "$work/b.yaml" <<YAML
brain: {size: 8, channels: 16, backend: cpu, threads: 1}
loop: {mode: $mode, rate_hz: $rate}
link: {sensor_endpoint: "tcp://127.0.0.1:$ps", motor_endpoint: "tcp://127.0.0.1:$pm"}
telemetry: {enabled: false, endpoint: "tcp://127.0.0.1:$pt"}
control: {enabled: false}
YAML
    "$build/fieldbrain" run --config "$work/b.yaml" 2> "$work/brain.log" &
    local pid=$!
    sleep 1
    echo "== brain $mode${rate:+ at $rate Hz}, ping at $ping_rate Hz, $count messages"
    "$build/fieldbrain-ping" --sensor "tcp://127.0.0.1:$ps" --motor "tcp://127.0.0.1:$pm" \
        --rate "$ping_rate" --count "$count"
    kill -INT "$pid"
    wait "$pid"
    grep -o 'overruns=[0-9]*\|lateness_ns.*' "$work/brain.log" | tr '\n' ' '
    echo
}

run lockstep 100 97
run fixed_rate 100 97
run fixed_rate 1000 97
