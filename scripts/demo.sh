#!/usr/bin/env bash
# demo.sh: the brain drives the simulated rover for about 30 s (make demo).
#
# Starts the brain (backend auto: a GPU when there is one, else the CPU), a
# telemetry recorder and the MuJoCo rover in real time; stops them all
# cleanly; prints a summary and writes pictures to out/demo/: the arena seen
# from above with the trajectory, motors, energy and cycle time over time,
# field slices, and the live page of fieldbrain-web (web.png). Works without
# a display and without a GPU.
#
#   scripts/demo.sh [BUILD_DIR] [SECONDS]
set -euo pipefail
build=${1:-build}
seconds=${2:-${DEMO_SECONDS:-30}}
out=${DEMO_OUT:-out/demo}
py=/usr/bin/python3

for prog in fieldbrain fieldbrain-sim fieldbrain-record fieldbrain-plot fieldbrain-web; do
    [ -x "$build/$prog" ] || { echo "demo: $build/$prog is missing (run make)" >&2; exit 1; }
done
build=$(cd "$build" && pwd)

rm -rf "$out"
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# Three free TCP ports on loopback, so a demo never collides with a brain
# already running on the default ports.
read -r p_sensor p_motor p_tele < <("$py" - <<'PY'
import socket
socks = [socket.socket() for _ in range(3)]
for s in socks:
    s.bind(("127.0.0.1", 0))
print(*[s.getsockname()[1] for s in socks])
PY
)

cat > "$out/demo.yaml" <<EOF
# The demo's configuration (scripts/demo.sh): the defaults of
# config/default.yaml with the endpoints of this run and a brain that uses
# the motors' range.
brain:
  backend: auto
  motor_gain: ${DEMO_MOTOR_GAIN:-400.0}
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
sim:
  mode: realtime
  sensor_hz: 100
  duration_s: $seconds
  trajectory: $out/trajectory.csv
EOF

echo "demo: brain, recorder and rover for ${seconds} s; output in $out"
start_ns=$(date +%s%N)
"$build/fieldbrain" run --config "$out/demo.yaml" > "$out/brain.log" 2>&1 &
brain_pid=$!
pids+=("$brain_pid")
"$build/fieldbrain-record" "tcp://127.0.0.1:$p_tele" "$out/recording" > "$out/record.log" 2>&1 &
record_pid=$!
pids+=("$record_pid")

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

# Pictures: plots of the recording, the arena with the trajectory, slices.
"$build/fieldbrain-plot" "$out/recording" "$out" > "$out/plot.log" 2>&1 ||
    echo "demo: plotting failed (see $out/plot.log)" >&2
if [ -f sim/plot_trajectory.py ]; then
    "$py" sim/plot_trajectory.py "$out/trajectory.csv" "$out/arena.png" > "$out/arena.log" 2>&1 ||
        echo "demo: the arena picture failed (see $out/arena.log)" >&2
fi
mkdir -p "$out/slices"
cp "$out"/recording/slice-*.png "$out/slices/" 2>/dev/null || true
# The slices side by side, large enough to see, with their value ranges.
"$py" - "$out" > "$out/slices.log" 2>&1 <<'PY' || echo "demo: the slice sheet failed (see $out/slices.log)" >&2
import json, os, sys
import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt
out = sys.argv[1]
rec = os.path.join(out, "recording")
heads = [json.loads(l) for l in open(os.path.join(rec, "slices.jsonl")) if l.strip()]
heads = [h for h in heads if os.path.exists(os.path.join(rec, h["file"]))][-6:]
if heads:
    fig, axes = plt.subplots(1, len(heads), figsize=(3 * len(heads), 3.4), squeeze=False)
    for ax, h in zip(axes[0], heads):
        ax.imshow(plt.imread(os.path.join(rec, h["file"])), interpolation="nearest")
        ax.set_title("cycle %d\n[%.3g, %.3g]" % (h["cycle"], h["min"], h["max"]), fontsize=9)
        ax.axis("off")
    channel = h.get("channel", "mean")
    fig.suptitle("field slices: %s = %s, %s (horizontal %s, vertical %s)" % (
        h["axis"], h["index"], "channel mean" if channel == "mean" else "channel %s" % channel,
        h.get("horizontal", "?"), h.get("vertical", "?")))
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    fig.savefig(os.path.join(out, "field_slices.png"), dpi=100)
PY

# The summary: the brain's own line, the sim's JSON.
"$py" - "$out" "$(( (stop_ns - start_ns) / 1000000 ))" <<'PY'
import json, os, re, sys
out, ran_ms = sys.argv[1], int(sys.argv[2])
log = open(os.path.join(out, "brain.log")).read()
device = re.search(r"brain .* on (\S+): (.*)", log)
summary = (re.findall(r"fieldbrain: summary: (.*)", log) or [""])[-1]
fields = dict(re.findall(r"(\w+)=(\d+)", summary.split(" lateness_ns")[0]))
def window(name):
    m = re.search(name + r" p50=(\d+) p99=(\d+) max=(\d+)", summary)
    return ["%.3f ms" % (int(v) / 1e6) for v in m.groups()] if m else ["?"] * 3
fields["rate_hz"] = "%.1f" % (int(fields.get("cycles", 0)) / (ran_ms / 1e3)) if ran_ms else "?"
fields["lateness_p99"] = window("lateness_ns")[1]
fields["work_p99"] = window("work_ns")[1]
sim = json.load(open(os.path.join(out, "sim.json")))
events = [l for l in log.splitlines() if "link lost" in l or "link restored" in l]
def get(d, *keys, default="?"):
    for k in keys:
        if k in d:
            return d[k]
    return default
print()
print("demo summary")
if device:
    print("  brain            %s backend, %s" % (device.group(1), device.group(2)))
print("  cycles           %s at %s Hz achieved (configured 100)" % (get(fields, "cycles"), get(fields, "rate_hz")))
print("  lateness p99     %s   work p99 %s   overruns %s" % (get(fields, "lateness_p99"), get(fields, "work_p99"), get(fields, "overruns")))
def ms(key):
    return "%.2f" % (sim[key] / 1e3) if key in sim else "?"
print("  end-to-end       p50 %s ms, p99 %s ms (sensor sent to motor received, %s samples)" % (
    ms("latency_p50_us"), ms("latency_p99_us"), sim.get("latency_samples", "?")))
print("  driven           %s m, collisions %s, safety stops %s" % (get(sim, "distance_m"), get(sim, "collisions"), get(sim, "safety_stops")))
print("  link events      %d" % len(events))
print("  pictures         %s" % ", ".join(sorted(f for f in os.listdir(out) if f.endswith(".png"))))
PY
echo "  everything in    $out"
