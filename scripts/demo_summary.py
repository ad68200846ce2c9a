#!/usr/bin/python3
"""demo_summary.py: the summary make demo prints, from what the programs
wrote as JSON into the demo's folder.

usage: demo_summary.py OUT RAN_MS

Reads OUT/brain-summary.json (fieldbrain run --summary), OUT/sim.json
(fieldbrain-sim --summary), OUT/recording/events*.jsonl (the brain's
events as fieldbrain-record kept them) and OUT/replay.txt (what fieldbrain
replay said of the run's input log, OUT/log); RAN_MS is the wall time of the run,
for the rate achieved. What is missing prints as "?".
"""
import json
import os
import sys


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def events(rec):
    """The recorded events, the rotated part first; a cut line is skipped."""
    out = []
    for name in ("events.1.jsonl", "events.jsonl"):
        path = os.path.join(rec, name)
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    return out


def arguments(argv, doc):
    """(out, ran_ms) from the command line OUT RAN_MS, or the exit status
    after printing doc (0 for -h/--help, 2 for a wrong line)."""
    if len(argv) != 3 or argv[1] in ("-h", "--help"):
        print(doc.strip(), file=sys.stdout if len(argv) > 1 else sys.stderr)
        return 0 if len(argv) > 1 and argv[1] in ("-h", "--help") else 2
    return argv[1], int(argv[2])


def main(argv):
    args = arguments(argv, __doc__)
    if isinstance(args, int):
        return args
    out, ran_ms = args
    brain = load(os.path.join(out, "brain-summary.json"))
    sim = load(os.path.join(out, "sim.json"))
    lost = sum(1 for e in events(os.path.join(out, "recording")) if e.get("kind") == "link_lost")

    def get(d, key):
        return d.get(key, "?")

    def ms(d, key, scale, digits):
        return "%.*f ms" % (digits, d[key] / scale) if key in d else "?"

    rate = "%.1f" % (brain["cycles"] / (ran_ms / 1e3)) if "cycles" in brain and ran_ms > 0 else "?"
    target = "%g" % brain["rate_hz_target"] if "rate_hz_target" in brain else "?"
    print()
    print("demo summary")
    if "backend" in brain:
        print("  brain            %s backend, %s (%s)" % (brain["backend"], get(brain, "device"),
                                                       get(brain, "device_reason")))
    print("  cycles           %s at %s Hz achieved (configured %s)" % (get(brain, "cycles"), rate, target))
    print("  lateness p99     %s   work p99 %s   overruns %s" % (
        ms(brain, "lateness_p99_ns", 1e6, 3), ms(brain, "work_p99_ns", 1e6, 3), get(brain, "overruns")))
    print("  end-to-end       p50 %s, p99 %s (sensor sent to motor received, %s samples)" % (
        ms(sim, "latency_p50_us", 1e3, 2), ms(sim, "latency_p99_us", 1e3, 2), get(sim, "latency_samples")))
    print("  driven           %s m, collisions %s, safety stops %s" % (
        get(sim, "distance_m"), get(sim, "collisions"), get(sim, "safety_stops")))
    print("  link losses      %d" % lost)
    try:
        with open(os.path.join(out, "replay.txt")) as f:
            replay = [line.strip() for line in f if line.strip()]
    except OSError:
        replay = []
    for i, line in enumerate(replay[:2]):
        print("  %s %s" % ("replayed        " if i == 0 else "                ", line))
    print("  pictures         %s" % ", ".join(sorted(f for f in os.listdir(out) if f.endswith(".png"))))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
