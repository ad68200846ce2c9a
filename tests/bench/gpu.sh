#!/usr/bin/env bash
# gpu.sh: every GPU figure of the performance work in one run (< 10 minutes).
#
# On a GPU machine that has a Vulkan loader and a Python with PyTorch, with
# fieldbrain-bench built beforehand on a Debian machine (make, or
# cmake -DFB_BRAIN_ONLY=ON for the benchmark alone):
#
#   tests/bench/gpu.sh [BENCH_BINARY] [OUT_DIR]
#
# Writes OUT_DIR/bench.jsonl (fieldbrain-bench --json, every size: lazy
# cycles, the default), OUT_DIR/bench_dense.jsonl (the same with FB_VK_DENSE=1:
# every cycle a dense pass, what "plain cycle within 1.3x of the floor" is
# about), OUT_DIR/bench_f16.jsonl (--precision f16, the field stored as half),
# OUT_DIR/torch.jsonl (the PyTorch baseline on the same GPU) and
# OUT_DIR/summary.txt (the ratio of the two, device and driver), and prints
# the summary. The time limits below add up to 560 s.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
bench=${1:-$here/../../build/fieldbrain-bench}
out=${2:-gpu-results}
mkdir -p "$out"
python=${PYTHON:-python3}

if [ ! -x "$bench" ]; then
    echo "gpu.sh: no benchmark binary at $bench (build it first)" >&2
    exit 1
fi

{
    echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader
} > "$out/summary.txt"

# fieldbrain: the headline size and the two others the issue names, 600 cycles
# each (a 5-cycle diffusion pattern, 120 periods); the device by default is
# the best one (discrete first).
sizes=${SIZES:-96x192,64x64,128x64}
timeout 180 "$bench" --backend vulkan --sizes "$sizes" --cycles 600 --warmup 60 --json \
    | tee "$out/bench.jsonl"

# every cycle dense (no lazy cycles): the plain pass against the floor, and
# the diffusion pass against the plain one
FB_VK_DENSE=1 timeout 100 "$bench" --backend vulkan --sizes "$sizes" --cycles 300 --warmup 30 --json \
    | tee "$out/bench_dense.jsonl"

# the same sizes with the field stored as half (precision f16), when the
# benchmark has the option (fieldbrain-bench --precision f16)
if "$bench" --help 2>&1 | grep -q -- '--precision'; then
    timeout 100 "$bench" --backend vulkan --sizes "$sizes" --cycles 600 --warmup 60 --json \
        --precision f16 | tee "$out/bench_f16.jsonl"
else
    echo "gpu.sh: $bench has no --precision option: no f16 rows" | tee -a "$out/summary.txt" >&2
fi

# the ordinary PyTorch version, the same sizes, timed with CUDA events
timeout 180 "$python" "$here/torch_baseline.py" --sizes "$sizes" --cycles 300 --warmup 30 --json \
    | tee "$out/torch.jsonl"

"$python" - "$out" <<'PY' | tee -a "$out/summary.txt"
import json, sys, os
out = sys.argv[1]
def rows(name):
    path = os.path.join(out, name)
    if not os.path.exists(path):
        return []
    return [json.loads(l) for l in open(path) if l.strip().startswith("{")]
torch_by_size = {tuple(r["size"]): r for r in rows("torch.jsonl")}
f32_by_size = {tuple(r["size"]): r for r in rows("bench.jsonl")}
def f(v):
    return "-" if v is None else "%.3f" % v
for name, precision in (("bench.jsonl", "f32"), ("bench_dense.jsonl", "f32 dense"), ("bench_f16.jsonl", "f16")):
  for r in rows(name):
    size = tuple(r["size"])
    line = "fieldbrain %s %s %s: mean %s ms, median %s, p99 %s, plain %s (gpu %s, overhead %s), floor %s ms, plain at %s of floor" % (
        precision, r["device"], "x".join(map(str, size)), f(r["wall_ms"]["mean"]), f(r["wall_ms"]["median"]),
        f(r["wall_ms"]["p99"]), f(r["plain_ms"]["median"]), f(r["plain_ms"]["gpu_median"]),
        f(r.get("overhead_ms", {}).get("median")), f(r["floor_ms"]), f(r["fraction_of_floor_plain"]))
    d = r.get("diffusion_ms")
    if d and d["median"] and r["plain_ms"]["median"]:
        line += ", diffuse %s (%.2fx plain)" % (f(d["median"]), d["median"] / r["plain_ms"]["median"])
    t = torch_by_size.get(size)
    if t and r["wall_ms"]["mean"]:
        line += "; torch mean %.3f ms: %.1fx" % (t["ms"]["mean"], t["ms"]["mean"] / r["wall_ms"]["mean"])
    g = f32_by_size.get(size)
    if precision == "f16" and g and g["wall_ms"]["mean"]:
        line += "; f16/f32 mean time %.2f" % (r["wall_ms"]["mean"] / g["wall_ms"]["mean"])
    print(line)
PY
