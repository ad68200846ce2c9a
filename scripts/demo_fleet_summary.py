#!/usr/bin/python3
"""demo_fleet_summary.py: the summary make demo-fleet prints, a line per
robot, from what the programs wrote as JSON into the demo's folder.

usage: demo_fleet_summary.py OUT RAN_MS

Reads OUT/brain-summary.json (fieldbrain run --summary of a fleet: the
fleet's totals and one entry per robot in "robots"),
OUT/sim.json (fieldbrain-sim --summary with a robots list: one entry per
rover in "rovers") and OUT/recording/events*.jsonl (the brain's events as
fieldbrain-record kept them); RAN_MS is the wall time of the run, for the
rate achieved. Per robot: the brain's cycles, the sensor messages the brain
received from it and the motor messages its rover received, its link
losses, and what the rover did. What is missing prints as "?".
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from demo_summary import arguments, events, load  # noqa: E402


def robot_id(entry):
    for key in ("robot_id", "id", "robot"):
        if isinstance(entry.get(key), int):
            return entry[key]
    return None


def by_robot(entries):
    """robot id -> its entry, for a list of per-robot objects."""
    out = {}
    for e in entries if isinstance(entries, list) else []:
        if isinstance(e, dict) and robot_id(e) is not None:
            out[robot_id(e)] = e
    return out


def main(argv):
    args = arguments(argv, __doc__)
    if isinstance(args, int):
        return args
    out, ran_ms = args
    brain = load(os.path.join(out, "brain-summary.json"))
    sim = load(os.path.join(out, "sim.json"))
    rovers = by_robot(sim.get("rovers"))
    brains = by_robot(brain.get("robots"))
    lost = {}
    for e in events(os.path.join(out, "recording")):
        if e.get("kind") == "link_lost":
            lost[robot_id(e)] = lost.get(robot_id(e), 0) + 1

    def get(d, key):
        return d.get(key, "?")

    def ms(d, key, scale, digits):
        return "%.*f ms" % (digits, d[key] / scale) if key in d else "?"

    # The fleet's ticks: a robot's cycles (every robot gets one a tick; the
    # top-level count is over all robots).
    ticks = max((b["cycles"] for b in brains.values() if "cycles" in b), default=brain.get("cycles"))
    rate = "%.1f" % (ticks / (ran_ms / 1e3)) if ticks is not None and ran_ms > 0 else "?"
    target = "%g" % brain["rate_hz_target"] if "rate_hz_target" in brain else "?"
    print()
    print("demo-fleet summary: one fieldbrain, one fieldbrain-sim, %d robots" % len(rovers))
    if "backend" in brain:
        print("  brain            %s backend, %s (%s)" % (brain["backend"], get(brain, "device"),
                                                       get(brain, "device_reason")))
    print("  ticks            %s at %s Hz achieved (configured %s), %s robot cycles in all" % (
        "?" if ticks is None else ticks, rate, target, get(brain, "cycles")))
    print("  lateness p99     %s   work p99 %s   overruns %s" % (
        ms(brain, "lateness_p99_ns", 1e6, 3), ms(brain, "work_p99_ns", 1e6, 3), get(brain, "overruns")))
    print("  robot  cycles  sensors in  motors in  link losses  driven m  collisions  safety stops"
          "  e2e p50/p99 ms")
    for rid in sorted(set(rovers) | set(brains)):
        r, b = rovers.get(rid, {}), brains.get(rid, {})
        if "link_losses" in b:
            losses = b["link_losses"]
        elif "link_lost" in b:
            losses = b["link_lost"]
        else:
            # From the recorded events; an event without a robot id is the
            # only robot's (as in a one-robot brain).
            losses = lost.get(rid, 0) + (lost.get(None, 0) if len(rovers) == 1 else 0)
        e2e = "%s/%s" % (ms(r, "latency_p50_us", 1e3, 2)[:-3], ms(r, "latency_p99_us", 1e3, 2)[:-3]) \
            if "latency_p50_us" in r else "?"
        print("  %-5s  %6s  %10s  %9s  %11s  %8s  %10s  %12s  %s" % (
            rid, b.get("cycles", brain.get("cycles", "?")), get(b, "received"), get(r, "motor_received"),
            losses, "%.2f" % r["distance_m"] if "distance_m" in r else "?", get(r, "collisions"),
            get(r, "safety_stops"), e2e))
    pics = sorted(f for f in os.listdir(out) if f.endswith(".png"))
    arenas = [f for f in pics if f.startswith("arena")]
    print("  trajectories     %s" % (", ".join(arenas) or "none"))
    print("  other pictures   %s" % (", ".join(f for f in pics if f not in arenas) or "none"))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
