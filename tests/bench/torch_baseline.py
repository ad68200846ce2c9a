#!/usr/bin/env python3
"""torch_baseline.py: the field-brain cycle written the ordinary way in PyTorch.

One torch operation per step of field-brain.md, as the original PyTorch brain
does (avg_pool3d for diffusion, a random mask for the sparse steps, .item()
for the activity decision, one .cpu() for the motors), timed with CUDA events
per cycle. It is the yardstick fieldbrain-bench is compared with on the same
GPU; its random numbers are torch's, so only the cost is compared, not the
values.

    python3 torch_baseline.py --sizes 96x192,64x64 --cycles 300 --json
"""
import argparse
import json
import math
import sys

import torch
import torch.nn.functional as functional


DEFAULTS = dict(init_std=0.01, sensor_gain=0.3, decay=0.995, diffusion_every=5,
                diffusion_rate=0.1, noise_every=3, noise_fraction=0.01, noise_std=0.01,
                momentum_keep=0.9, momentum_gain=0.004, activity_every=10,
                activity_threshold=0.05, energy_fraction=0.05, energy_std=0.05,
                motor_gain=5.0, clamp_limit=10.0, sensors=16, motors=5)


class TorchBrain:
    def __init__(self, x, y, z, c, p, device, seed=1):
        self.p = p
        gen = torch.Generator(device="cpu").manual_seed(seed)
        self.field = (torch.randn(x, y, z, c, generator=gen) * p["init_std"]).to(device)
        self.momentum = torch.zeros(c, device=device)
        self.sensor_spots = torch.stack([torch.randint(0, n, (p["sensors"],), generator=gen)
                                         for n in (x, y, z)]).to(device)
        self.sensor_channels = (torch.arange(p["sensors"]) % c).to(device)
        self.motor_spots = [torch.randint(0, n, (p["motors"],), generator=gen).to(device)
                            for n in (x, y, z)]
        self.t = 0

    def sparse_add(self, fraction, std):
        f = self.field
        mask = torch.rand(f.shape[:3], device=f.device) < fraction
        picked = mask.nonzero(as_tuple=True)
        f[picked] += torch.randn((picked[0].numel(), f.shape[3]), device=f.device) * std

    def step(self, sensors):
        p, f = self.p, self.field
        self.t += 1
        sx, sy, sz = self.sensor_spots
        f.index_put_((sx, sy, sz, self.sensor_channels), sensors * p["sensor_gain"], accumulate=True)
        f.mul_(p["decay"])
        if self.t % p["diffusion_every"] == 0:
            pooled = functional.avg_pool3d(f.permute(3, 0, 1, 2).unsqueeze(0), 3, stride=1,
                                           padding=1, count_include_pad=True)
            blurred = pooled.squeeze(0).permute(1, 2, 3, 0)
            f.mul_(1 - p["diffusion_rate"]).add_(blurred, alpha=p["diffusion_rate"])
        if self.t % p["noise_every"] == 0:
            self.sparse_add(p["noise_fraction"], p["noise_std"])
        m = f.mean(dim=(0, 1, 2))
        self.momentum.mul_(p["momentum_keep"]).add_(m, alpha=1 - p["momentum_keep"])
        f.add_(self.momentum * p["momentum_gain"])
        if self.t % p["activity_every"] == 0:
            if f.abs().mean().item() < p["activity_threshold"]:
                self.sparse_add(p["energy_fraction"], p["energy_std"])
        mx, my, mz = self.motor_spots
        motors = torch.tanh(p["motor_gain"] * f[mx, my, mz].mean(dim=1)).cpu()
        f.clamp_(-p["clamp_limit"], p["clamp_limit"])
        energy = f.abs().mean()
        saturated = (f.abs() == p["clamp_limit"]).float().mean()
        return motors, energy, saturated


def percentile(values, q):
    s = sorted(values)
    return s[min(len(s) - 1, max(0, math.ceil(q * len(s)) - 1))]


def parse_size(text):
    parts = [int(v) for v in text.split("x")]
    return (parts[0], parts[0], parts[0], parts[1]) if len(parts) == 2 else tuple(parts)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="96x192")
    ap.add_argument("--cycles", type=int, default=300)
    ap.add_argument("--warmup", type=int, default=30)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    if not torch.cuda.is_available():
        print("torch_baseline: no CUDA device", file=sys.stderr)
        return 1
    device = torch.device("cuda")
    for text in args.sizes.split(","):
        x, y, z, c = parse_size(text)
        brain = TorchBrain(x, y, z, c, DEFAULTS, device)
        times = []
        for k in range(args.warmup + args.cycles):
            sensors = torch.sin(0.05 * k + torch.arange(DEFAULTS["sensors"], device=device))
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            brain.step(sensors)
            end.record()
            end.synchronize()
            if k >= args.warmup:
                times.append(start.elapsed_time(end))
        result = dict(impl="torch", device=torch.cuda.get_device_name(), torch=torch.__version__,
                      size=[x, y, z, c], cycles=args.cycles,
                      ms=dict(median=percentile(times, 0.5), p99=percentile(times, 0.99),
                              mean=sum(times) / len(times)))
        if args.json:
            print(json.dumps(result), flush=True)
        else:
            print("torch %s %dx%dx%d x %d: median %.3f ms, p99 %.3f ms, mean %.3f ms" % (
                result["device"], x, y, z, c, result["ms"]["median"], result["ms"]["p99"],
                result["ms"]["mean"]), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
