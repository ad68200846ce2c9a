#!/usr/bin/env bash
# device-check.sh: the whole GPU check of the Vulkan backend in one run (at
# most 8 minutes), on a bare x86-64 Linux machine with the NVIDIA driver and
# PyTorch and no Debian libraries, from binaries and packages built here.
#
# Here, once, from the repository root (Debian 12):
#
#   tests/bench/device-prepare.sh     # build-gpu/, then .gl/ (binaries and .debs, ~10 MB)
#
# There, from the repository root, with .gl carried along:
#
#   tests/bench/device-check.sh "$OUT"
#
# Here, the same on lavapipe with small sizes (every step, the packages
# unpacked into a private root and used from there, not the system's):
#
#   tests/bench/device-check.sh --dry-run /tmp/device-check
#
# What it does:
#   0. unpacks .gl/loader, .gl/extra (and .gl/fallback where the machine has
#      no libstdc++) into a private root; the loader and the validation layer
#      come from there (LD_LIBRARY_PATH, VK_LAYER_PATH on a copy of the
#      layer's json naming its library by full path); checks with ldd that
#      every library resolves, the carried ones into that root; as root on the
#      GPU machine it also unpacks the loader set into / (the workplace's
#      recipe). The NVIDIA driver is found through VK_DRIVER_FILES (searched
#      in the usual places when not set).
#   1. runs test_brain_vk, test by test, with the validation layer on
#      (FB_VALIDATION=1); every validation message goes to validation.txt.
#      Tests that name lavapipe in their body (the device names of
#      device_forced_by_name_and_index, ...) are reported but not counted on
#      another device; test_bounds_vk runs with FB_TEST_DEVICE empty (the
#      backend's own choice of device).
#   2. fieldbrain-compare: one cycle of each kind element by element and a
#      motor run (f32: 200 cycles, f16: 100, the horizon of its stated
#      tolerance) at 96^3 x 192, 64^3 x 64 and 90x50x31 x 131.
#   3. tests/bench/gpu.sh (lazy, dense, f16, the PyTorch baseline; the copy
#      bandwidth floor measured on the same device) at 96^3 x 192, 64^3 x 64,
#      128^3 x 64.
#   4. fieldbrain run at 96^3 x 192 on the GPU, fixed_rate 500 Hz, telemetry
#      off, with fieldbrain-ping sending 500 Hz over TCP loopback for 20 s:
#      the rate achieved, overruns, sensor-to-motor latency p50 / p99.
#
# It writes into OUT_DIR (six files, each capped at 16 MiB): summary.json
# (every step's result and figures), device-check.log (everything printed),
# validation.txt, tests.log (the tests' output), compare.jsonl (step 2) and
# bench.jsonl (step 3: every row with "set": lazy, dense, f16 or torch).
# Exit status 0 when every step passed.
#
# Dry run on lavapipe (not a GPU), 2026-12-01, on the 2-core CI machine:
# `tests/bench/device-check.sh --dry-run /tmp/dc-dry` passed every step in
# 104 s (181 s for an earlier version, a build running beside both). No GPU
# run has been made yet.
#
# Environment: FB_PACK (default .gl), PYTHON (default python3: the one with
# PyTorch), VK_DRIVER_FILES (the ICD json), FB_KEEP=1 keeps the work folder.
set -uo pipefail
dry=0
if [ "${1:-}" = "--dry-run" ]; then
    dry=1
    shift
fi
if [ $# -ne 1 ]; then
    echo "usage: tests/bench/device-check.sh [--dry-run] OUT_DIR" >&2
    exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
out=$1
mkdir -p "$out"
out=$(cd "$out" && pwd)
pack=$(cd "${FB_PACK:-$repo/.gl}" 2>/dev/null && pwd) || { echo "device-check.sh: no ${FB_PACK:-.gl}: run tests/bench/device-prepare.sh first" >&2; exit 2; }
python=${PYTHON:-python3}
work=$(mktemp -d /tmp/device-check.XXXXXX)
[ "${FB_KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
log=$out/device-check.log
: > "$log"
: > "$out/validation.txt"
: > "$out/tests.log"
: > "$out/compare.jsonl"
: > "$out/bench.jsonl"
exec > >(tee -a "$log") 2>&1
start=$(date +%s)
results=$work/results   # one "step key value" line per figure, read into summary.json
: > "$results"
# arithmetic on decimals (no bc on a bare machine)
calc() { awk "BEGIN { printf \"%.2f\", $1 }"; }
note() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" >> "$results"; }
say() { echo "== $(($(date +%s) - start)) s: $*"; }
# Keeps a file under the 16 MiB that may come back.
cap() { [ "$(stat -c %s "$1")" -le 16000000 ] || { head -c 16000000 "$1" > "$1.cap"; mv "$1.cap" "$1"; echo "[cut at 16 MB]" >> "$1"; }; }

if [ $dry = 1 ]; then
    sizes_cmp=16x16,12x10x7x13; cycles_f32=40; cycles_f16=30
    sizes_bench=16x16,12x10x7x13
    loop_size=16; loop_channels=16; loop_seconds=5
    : "${VK_DRIVER_FILES:=/usr/share/vulkan/icd.d/lvp_icd.x86_64.json}"
else
    sizes_cmp=96x192,64x64,90x50x31x131; cycles_f32=200; cycles_f16=100
    sizes_bench=96x192,64x64,128x64
    loop_size=96; loop_channels=192; loop_seconds=20
fi
loop_hz=500
say "device-check $([ $dry = 1 ] && echo 'DRY RUN (lavapipe, small sizes)' || echo 'GPU run') in $repo, results in $out"
note run mode "$([ $dry = 1 ] && echo dry-run || echo gpu)"
note run date "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
note run commit "$(git -C "$repo" rev-parse --short HEAD 2>/dev/null || echo unknown)"
uname -a
ldd --version 2>&1 | head -1
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader |
    tee "$work/gpu" && note run gpu "$(head -1 "$work/gpu")"

# ---- 0. the packages --------------------------------------------------------
say "0. unpacking the packages of $pack into $work/root"
# dpkg-deb where the machine has it, else Python (a .deb is an ar archive
# holding data.tar.*).
unpack() {
    if command -v dpkg-deb >/dev/null; then
        dpkg-deb -x "$1" "$2"
    else
        "$python" - "$1" "$2" <<'PY'
import io, sys, tarfile
data = open(sys.argv[1], "rb").read()
pos = 8
while pos < len(data):
    name = data[pos:pos + 16].decode().strip().rstrip("/")
    size = int(data[pos + 48:pos + 58].decode().strip())
    if name.startswith("data.tar"):
        tarfile.open(fileobj=io.BytesIO(data[pos + 60:pos + 60 + size])).extractall(sys.argv[2])
    pos += 60 + size + (size & 1)
PY
    fi
}
root=$work/root
fallback=$work/fallback
mkdir -p "$root" "$fallback" "$work/layers" "$work/bin"
ok0=1
for f in "$pack"/loader/*.deb "$pack"/extra/*.deb; do
    unpack "$f" "$root" || { echo "cannot unpack $f"; ok0=0; }
done
for f in "$pack"/fallback/*.deb; do
    unpack "$f" "$fallback" || ok0=0
done
libs=$root/usr/lib/x86_64-linux-gnu:$root/lib/x86_64-linux-gnu
layer_so=$root/usr/lib/x86_64-linux-gnu/libVkLayer_khronos_validation.so
# The layer is C++: the machine's libstdc++ where it has one new enough.
if ! ldconfig -p 2>/dev/null | grep -q 'libstdc++\.so\.6 ' ||
   LD_LIBRARY_PATH=$libs ldd "$layer_so" 2>&1 | grep -q 'not found'; then
    echo "no libstdc++ (new enough) on this machine: the carried one (Debian 12) is used"
    libs=$libs:$fallback/usr/lib/x86_64-linux-gnu:$fallback/lib/x86_64-linux-gnu
    note packages libstdcxx carried
else
    note packages libstdcxx machine
fi
if [ $dry = 0 ] && [ "$(id -u)" = 0 ]; then
    # the workplace's recipe, so that anything loaded by name alone also finds the loader
    for f in "$pack"/loader/*.deb; do unpack "$f" /; done
    ldconfig
fi
layer_json=$root/usr/share/vulkan/explicit_layer.d/VkLayer_khronos_validation.json
sed "s|\"library_path\": *\"[^\"]*\"|\"library_path\": \"$layer_so\"|" "$layer_json" > "$work/layers/VkLayer_khronos_validation.json" || ok0=0
if [ -z "${VK_DRIVER_FILES:-}" ]; then
    for d in /usr/share/vulkan/icd.d /etc/vulkan/icd.d /usr/local/nvidia/share/vulkan/icd.d /usr/local/share/vulkan/icd.d; do
        [ -f "$d/nvidia_icd.json" ] && { VK_DRIVER_FILES=$d/nvidia_icd.json; break; }
    done
fi
if [ -z "${VK_DRIVER_FILES:-}" ] || [ ! -f "$VK_DRIVER_FILES" ]; then
    echo "no Vulkan driver json (set VK_DRIVER_FILES)"
    ok0=0
fi
export VK_DRIVER_FILES VK_ICD_FILENAMES=${VK_DRIVER_FILES:-}
export VK_LAYER_PATH=$work/layers
note packages icd "${VK_DRIVER_FILES:-none}"
echo "VK_DRIVER_FILES=${VK_DRIVER_FILES:-}"
cat "${VK_DRIVER_FILES:-/dev/null}"
# Each carried binary runs through a wrapper with the private libraries, so
# that nothing else (the PyTorch Python above all) sees them.
for b in "$pack"/bin/*; do
    printf '#!/bin/sh\nLD_LIBRARY_PATH=%s${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec %s "$@"\n' "$libs" "$b" > "$work/bin/$(basename "$b")"
    chmod +x "$work/bin/$(basename "$b")"
done
# ldd: nothing missing; the loader, the layer's and the link's libraries from
# the private root (only glibc, libstdc++ and libgcc_s may be the machine's).
for b in "$pack"/bin/* "$layer_so"; do
    LD_LIBRARY_PATH=$libs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} ldd "$b" > "$work/ldd" 2>&1
    echo "-- ldd $(basename "$b")"
    cat "$work/ldd"
    if grep -q 'not found' "$work/ldd"; then
        echo "$(basename "$b"): a library is missing"
        ok0=0
    fi
    stray=$(awk '/=>/ {print $1, $3}' "$work/ldd" |
            grep -v -E '^(libc|libm|libdl|librt|libpthread|libresolv|libstdc\+\+|libgcc_s)\.so' |
            grep -v " $root/" || true)
    if [ -n "$stray" ]; then
        echo "$(basename "$b"): not from the carried packages: $stray"
        ok0=0
    fi
done
note packages pass $ok0
if [ $ok0 = 0 ]; then
    say "0. FAILED: the binaries cannot run here; nothing else is tried"
fi
bin=$work/bin

# ---- 1. the Vulkan tests with the validation layer -------------------------
run_tests() {  # binary source [env...]
    local exe=$1 src=$2
    shift 2
    local names pass=0 fail=0 lava_fail=0 lava_names
    names=$(sed -n 's/^TEST(\([A-Za-z0-9_]*\)).*/\1/p' "$src")
    # tests whose body names lavapipe: device names and limits of lavapipe
    lava_names=$(awk '/^TEST\(/ {name = $0; sub(/^TEST\(/, "", name); sub(/\).*/, "", name)}
                      name && tolower($0) ~ /lavapipe|llvmpipe/ {print name}' "$src" | sort -u)
    local t_start
    t_start=$(date +%s)
    for t in $names; do
        local t0 rc
        # at most 200 s for a binary's tests: the whole check must fit 8 minutes
        if [ $(($(date +%s) - t_start)) -gt 200 ]; then
            echo "  SKIP $t (out of time)"
            note tests "$(basename "$exe").$t" skipped
            fail=$((fail + 1))
            continue
        fi
        t0=$(date +%s.%N)
        env FB_VALIDATION=1 "$@" timeout 60 "$bin/$(basename "$exe")" "$t" > "$work/t.log" 2>&1
        rc=$?
        cat "$work/t.log" >> "$out/tests.log"
        grep -i 'validation \(error\|warning\)' "$work/t.log" | sed "s/^/$t: /" >> "$out/validation.txt"
        local secs
        secs=$(calc "$(date +%s.%N) - $t0")
        if [ $rc = 0 ]; then
            pass=$((pass + 1))
            echo "  ok   $t ($secs s)"
        elif [ $dry = 0 ] && echo "$lava_names" | grep -qx "$t"; then
            lava_fail=$((lava_fail + 1))
            echo "  FAIL $t (rc $rc; names lavapipe, not counted on this device): $(grep -m1 CHECK "$work/t.log")"
        else
            fail=$((fail + 1))
            echo "  FAIL $t (rc $rc, $secs s): $(grep -m1 -i 'CHECK\|error' "$work/t.log")"
        fi
        note tests "$(basename "$exe").$t" "$rc"
    done
    note tests "$(basename "$exe").passed" $pass
    note tests "$(basename "$exe").failed" $fail
    note tests "$(basename "$exe").lavapipe_only_failed" $lava_fail
    [ $fail = 0 ]
}
ok1=0
if [ $ok0 = 1 ]; then
    say "1. test_brain_vk with the validation layer on"
    ok1=1
    run_tests test_brain_vk "$repo/tests/test_brain_vk.c" || ok1=0
    say "1. test_bounds_vk on the backend's own choice of device"
    run_tests test_bounds_vk "$repo/tests/test_bounds.c" FB_TEST_VULKAN=1 FB_TEST_DEVICE= || ok1=0
    nval=$(wc -l < "$out/validation.txt")
    note tests validation_messages "$nval"
    say "1. $nval validation message(s)"
    [ "$nval" = 0 ] || ok1=0
    cap "$out/tests.log"; cap "$out/validation.txt"
fi
note tests pass $ok1

# ---- 2. the GPU against the CPU backend -------------------------------------
ok2=0
if [ $ok0 = 1 ]; then
    say "2. fieldbrain-compare at $sizes_cmp: f32 ($cycles_f32 cycles), f16 ($cycles_f16 cycles)"
    ok2=1
    timeout 150 "$bin/fieldbrain-compare" --sizes "$sizes_cmp" --cycles $cycles_f32 | tee -a "$out/compare.jsonl"
    [ "${PIPESTATUS[0]}" = 0 ] || ok2=0
    timeout 90 "$bin/fieldbrain-compare" --sizes "$sizes_cmp" --cycles $cycles_f16 --precision f16 | tee -a "$out/compare.jsonl"
    [ "${PIPESTATUS[0]}" = 0 ] || ok2=0
    note compare checks "$(grep -c '"check"' "$out/compare.jsonl")"
    note compare failed "$(grep -c '"pass": false' "$out/compare.jsonl")"
    cap "$out/compare.jsonl"
fi
note compare pass $ok2

# ---- 3. gpu.sh -----------------------------------------------------------------
ok3=0
if [ $ok0 = 1 ]; then
    say "3. tests/bench/gpu.sh at $sizes_bench"
    if "$python" -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
        note bench torch available
        torch=1
    else
        note bench torch "not available"
        torch=0
        echo "no PyTorch with CUDA in $python$([ $dry = 1 ] && echo ': expected in the dry run')"
    fi
    SIZES=$sizes_bench PYTHON=$python timeout 270 "$here/gpu.sh" "$bin/fieldbrain-bench" "$work/gpu"
    rc3=$?
    cat "$work/gpu/summary.txt" 2>/dev/null
    "$python" - "$work/gpu" "$out/bench.jsonl" <<'PY'
import json, os, sys
src, dst = sys.argv[1], sys.argv[2]
with open(dst, "w") as out:
    for name, tag in (("bench.jsonl", "lazy"), ("bench_dense.jsonl", "dense"),
                      ("bench_f16.jsonl", "f16"), ("torch.jsonl", "torch")):
        path = os.path.join(src, name)
        if not os.path.exists(path):
            continue
        for line in open(path):
            if line.strip().startswith("{"):
                row = json.loads(line)
                row["set"] = tag
                out.write(json.dumps(row) + "\n")
PY
    rows() { grep -c "\"set\": \"$1\"" "$out/bench.jsonl"; }
    n_sizes=$(echo "$sizes_bench" | tr ',' '\n' | wc -l)
    note bench rows_lazy "$(rows lazy)"; note bench rows_dense "$(rows dense)"
    note bench rows_f16 "$(rows f16)"; note bench rows_torch "$(rows torch)"
    ok3=1
    [ $rc3 = 0 ] || ok3=0
    for s in lazy dense f16; do [ "$(rows $s)" = "$n_sizes" ] || ok3=0; done
    # no PyTorch is a failure on the GPU, not in the dry run
    if [ $dry = 0 ] && [ "$(rows torch)" != "$n_sizes" ]; then ok3=0; fi
    [ $torch = 1 ] || [ $dry = 1 ] || ok3=0
    cap "$out/bench.jsonl"
fi
note bench pass $ok3

# ---- 4. the loop end to end -----------------------------------------------------
ok4=0
if [ $ok0 = 1 ]; then
    say "4. fieldbrain run ${loop_size}^3 x $loop_channels, fixed_rate $loop_hz Hz, ping at $loop_hz Hz for $loop_seconds s"
    read -r ps pm pt < <("$python" -c 'import socket
s = [socket.socket() for _ in range(3)]
[x.bind(("127.0.0.1", 0)) for x in s]
print(" ".join(str(x.getsockname()[1]) for x in s))')
    cat > "$work/loop.yaml" <<YAML
brain: {size: $loop_size, channels: $loop_channels, backend: vulkan}
loop: {mode: fixed_rate, rate_hz: $loop_hz}
link: {sensor_endpoint: "tcp://127.0.0.1:$ps", motor_endpoint: "tcp://127.0.0.1:$pm"}
telemetry: {enabled: false, endpoint: "tcp://127.0.0.1:$pt"}
YAML
    "$bin/fieldbrain" run --config "$work/loop.yaml" 2> "$work/brain.log" &
    brain_pid=$!
    # the loop starts after the line that names the field and the device
    for _ in $(seq 600); do
        grep -q 'field, .* motors on ' "$work/brain.log" && break
        kill -0 $brain_pid 2>/dev/null || break
        sleep 0.1
    done
    t_loop=$(date +%s.%N)
    count=$((loop_hz * loop_seconds))
    timeout $((loop_seconds + 30)) "$bin/fieldbrain-ping" --sensor "tcp://127.0.0.1:$ps" --motor "tcp://127.0.0.1:$pm" \
        --rate $loop_hz --count $count > "$work/ping.txt" 2>&1
    rc_ping=$?
    t_stop=$(date +%s.%N)
    kill -INT $brain_pid 2>/dev/null
    wait $brain_pid
    rc_brain=$?
    cat "$work/brain.log" "$work/ping.txt"
    summary=$(grep 'summary:' "$work/brain.log")
    field() { echo "$summary" | grep -o "$1=[0-9-]*" | head -1 | cut -d= -f2; }
    cycles=$(field cycles)
    note loop cycles "${cycles:-}"
    note loop seconds "$(calc "$t_stop - $t_loop")"
    [ -n "$cycles" ] && note loop rate_hz "$(calc "$cycles / ($t_stop - $t_loop)")"
    note loop overruns "$(field overruns)"
    note loop skipped_ticks "$(field skipped_ticks)"
    note loop brain_errors "$(field brain_errors)"
    note loop work_p99_ns "$(echo "$summary" | grep -o 'work_ns p50=[0-9]* p99=[0-9]*' | grep -o 'p99=[0-9]*' | cut -d= -f2)"
    note loop device "$(grep -o ' motors on [^;]*' "$work/brain.log" | head -1 | sed 's/ motors on //')"
    ping=$(grep 'latency us' "$work/ping.txt")
    note loop ping "$ping"
    note loop latency_p50_us "$(echo "$ping" | sed -n 's/.*p50 \([0-9.]*\).*/\1/p')"
    note loop latency_p99_us "$(echo "$ping" | sed -n 's/.*p99 \([0-9.]*\).*/\1/p')"
    [ $rc_ping = 0 ] && [ $rc_brain = 0 ] && [ -n "$cycles" ] && [ "$(field brain_errors)" = 0 ] && ok4=1
fi
note loop pass $ok4

# ---- summary ------------------------------------------------------------------------
note run seconds $(($(date +%s) - start))
all=$(( ok0 && ok1 && ok2 && ok3 && ok4 ))
note run pass $all
"$python" - "$results" "$out/summary.json" <<'PY'
import json, sys
summary = {}
for line in open(sys.argv[1]):
    step, key, value = line.rstrip("\n").split("\t", 2)
    try:
        value = json.loads(value)
    except ValueError:
        pass
    summary.setdefault(step, {})[key] = value
json.dump(summary, open(sys.argv[2], "w"), indent=1)
PY
cat "$out/summary.json"
say "device-check $([ $all = 1 ] && echo PASSED || echo FAILED) (packages $ok0, tests $ok1, compare $ok2, bench $ok3, loop $ok4)"
cap "$log"
[ $all = 1 ]
