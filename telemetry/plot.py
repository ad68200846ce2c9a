#!/usr/bin/python3
"""fieldbrain-plot: plots of a fieldbrain-record recording, as PNG files.

usage: fieldbrain-plot DIR [OUTDIR]

Reads DIR/stats.1.jsonl and DIR/stats.jsonl (what fieldbrain-record wrote)
and writes into OUTDIR (default DIR/plots):
  motors.png            every motor over time
  energy.png            field energy (mean |F|) and the saturated fraction
  cycle_time.png        work time and wake-up lateness per recorded cycle,
                        with the window p99
  cycle_time_hist.png   histogram of the recorded work times
  field_slices.png      the last six recorded slices side by side, with
                        their value ranges (only when DIR holds slices)
A recording of a brain serving a fleet (stats of several robot_id): one line
per robot in energy.png (energy above, saturated below), one panel per robot
in motors.png (the first 16 robots), and the timing plots from the first
robot's stats (the timing is the fleet's tick, the same for every robot).
Uses matplotlib (Debian's python3-matplotlib), without a display.
Exit status: 0 done, 1 DIR missing or holding fewer than 2 stats lines, or
OUTDIR that cannot be made, 2 a bad command line.
"""
import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def jsonl_objects(dirname, stem):
    """The JSON objects of DIR/STEM.1.jsonl then DIR/STEM.jsonl (the part
    before a rotation, then the current one), in file order; blank lines and
    a line cut by a crash are skipped."""
    for name in (stem + ".1.jsonl", stem + ".jsonl"):
        path = os.path.join(dirname, name)
        if not os.path.exists(path):
            continue
        with open(path) as f:
            for line in f:
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError:
                    continue
                if isinstance(obj, dict):
                    yield obj


def load(dirname):
    rows = [r for r in jsonl_objects(dirname, "stats") if "cycle" in r]
    rows.sort(key=lambda r: r["cycle"])
    return rows


def robot_of(r):
    """The robot a stats line is of: its robot_id, or (a recording from
    before fleets) its first link's."""
    if "robot_id" in r:
        return r["robot_id"]
    links = r.get("links") or [{}]
    return links[0].get("robot_id", 0)


MAX_PANELS = 16  # motor panels of a fleet's motors.png


def fleet_plots(rows, by_robot, save, src):
    """energy.png and motors.png of a fleet: each robot apart. Each robot's
    rows by its own cycle numbers; one time axis for all."""
    t0 = min(r["time_ns"] for r in rows)
    ids = sorted(by_robot)
    title = "%s (%s), %d robots" % (rows[-1].get("device", ""), rows[-1].get("backend", ""), len(ids))

    def times(rs):
        return [(r["time_ns"] - t0) / 1e9 for r in rs]

    fig, (ax, ax2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
    for rid in ids:
        rs = by_robot[rid]
        measured = [(ti, r["energy"]) for ti, r in zip(times(rs), rs) if r.get("energy") is not None]
        line, = ax.plot([m[0] for m in measured], [m[1] for m in measured], linewidth=1,
                        label="robot %s" % rid)
        ax2.plot(times(rs), [100 * (r["saturated"] or 0) for r in rs], linewidth=0.8,
                 color=line.get_color(), label="robot %s" % rid)
    ax.set_ylabel("energy (mean |F|)")
    ax2.set_ylabel("saturated (%)")
    ax2.set_xlabel("time (s)")
    ax.set_title("Field energy, one line per robot\n" + title)
    if len(ids) <= 10:
        ax.legend(loc="upper right", fontsize="small")
    save(fig, "energy.png")

    shown = ids[:MAX_PANELS]
    fig, axes = plt.subplots(len(shown), 1, figsize=(10, 1.8 * len(shown) + 1.2), sharex=True,
                             squeeze=False)
    for ax, rid in zip(axes[:, 0], shown):
        rs = by_robot[rid]
        n_motors = max(len(r.get("motors", [])) for r in rs)
        for j in range(n_motors):
            ax.plot(times(rs), [r["motors"][j] if j < len(r.get("motors", [])) else float("nan")
                                for r in rs], linewidth=1, label=f"motor {j}")
        ax.set_ylim(-1.05, 1.05)
        ax.set_ylabel("robot %s" % rid)
    axes[-1, 0].set_xlabel("time (s)")
    if max(len(r.get("motors", [])) for r in rows) <= 10:
        axes[0, 0].legend(loc="upper right", fontsize="x-small", ncol=5)
    more = "" if len(ids) <= MAX_PANELS else " (the first %d of %d robots)" % (MAX_PANELS, len(ids))
    axes[0, 0].set_title("Motors, a panel per robot%s\n%s" % (more, title))
    save(fig, "motors.png")


def slice_heads(dirname, last=6):
    """The slice headers (slices.1.jsonl, then slices.jsonl) whose PNG is
    still there (the recorder deletes the oldest), the last `last` of them."""
    heads = [h for h in jsonl_objects(dirname, "slices")
             if "file" in h and os.path.exists(os.path.join(dirname, h["file"]))]
    return heads[-last:]


def slice_sheet(dirname, heads, fleet=False):
    """The slices side by side, large enough to see, each titled with its
    cycle and value range (and in a fleet whose field it is); the plane
    they cut in the title."""
    fig, axes = plt.subplots(1, len(heads), figsize=(3 * len(heads), 3.4), squeeze=False)
    for ax, h in zip(axes[0], heads):
        ax.imshow(plt.imread(os.path.join(dirname, h["file"])), interpolation="nearest")
        who = "robot %s, " % h.get("robot_id", "?") if fleet else ""
        ax.set_title("%scycle %d\n[%.3g, %.3g]" % (who, h["cycle"], h["min"], h["max"]), fontsize=9)
        ax.axis("off")
    h = heads[-1]
    channel = h.get("channel", "mean")
    fig.suptitle("field slices: %s = %s, %s (horizontal %s, vertical %s)" % (
        h["axis"], h["index"], "channel mean" if channel == "mean" else "channel %s" % channel,
        h.get("horizontal", "?"), h.get("vertical", "?")))
    fig.tight_layout(rect=(0, 0, 1, 0.88))
    return fig


def main(argv):
    if len(argv) >= 2 and argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    if len(argv) < 2 or len(argv) > 3 or any(a.startswith("-") for a in argv[1:]):
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    src = argv[1]
    out = argv[2] if len(argv) > 2 else os.path.join(src, "plots")
    if not os.path.isdir(src):
        print(f"fieldbrain-plot: {src}: no such directory (a fieldbrain-record DIR)", file=sys.stderr)
        return 1
    rows = load(src)
    if len(rows) < 2:
        print(f"fieldbrain-plot: {src} holds {len(rows)} stats lines; need at least 2", file=sys.stderr)
        return 1
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        print(f"fieldbrain-plot: {out}: cannot make it: {e.strerror}", file=sys.stderr)
        return 1
    by_robot = {}
    for r in rows:
        by_robot.setdefault(robot_of(r), []).append(r)
    fleet = len(by_robot) > 1
    if fleet:
        # The timing plots below from one robot's stats: the fleet's ticks.
        all_rows = rows
        rows = by_robot[sorted(by_robot)[0]]
        if len(rows) < 2:
            print(f"fieldbrain-plot: {src}: robot {sorted(by_robot)[0]} has {len(rows)} stats lines; "
                  "need at least 2", file=sys.stderr)
            return 1
    t0 = rows[0]["time_ns"]
    t = [(r["time_ns"] - t0) / 1e9 for r in rows]
    title = f"{rows[-1].get('device', '')} ({rows[-1].get('backend', '')}), cycles {rows[0]['cycle']}-{rows[-1]['cycle']}"
    written = []

    def save(fig, name):
        path = os.path.join(out, name)
        fig.tight_layout()
        fig.savefig(path, dpi=100)
        plt.close(fig)
        written.append(path)

    if fleet:
        fleet_plots(all_rows, by_robot, save, src)
        title += " (the fleet's ticks, from robot %s's stats)" % robot_of(rows[0])
    else:
        one_robot_plots(rows, t, title, save)
    timing_plots(rows, t, title, save)

    heads = slice_heads(src)
    if heads:
        fig = slice_sheet(src, heads, fleet)
        path = os.path.join(out, "field_slices.png")
        fig.savefig(path, dpi=100)  # its own layout: save() would redo it
        plt.close(fig)
        written.append(path)

    for p in written:
        print(p)
    return 0


def one_robot_plots(rows, t, title, save):
    fig, ax = plt.subplots(figsize=(10, 4))
    n_motors = max(len(r.get("motors", [])) for r in rows)
    for j in range(n_motors):
        ax.plot(t, [r["motors"][j] if j < len(r.get("motors", [])) else float("nan") for r in rows],
                label=f"motor {j}", linewidth=1)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("motor command")
    ax.set_ylim(-1.05, 1.05)
    ax.set_title("Motors\n" + title)
    if n_motors <= 10:
        ax.legend(loc="upper right", fontsize="small")
    save(fig, "motors.png")

    fig, ax = plt.subplots(figsize=(10, 4))
    # energy is null on cycles that did not measure it (the Vulkan backend's
    # lazy cycles): plot the measured ones, joined, rather than gaps.
    measured = [(ti, r["energy"]) for ti, r in zip(t, rows) if r.get("energy") is not None]
    ax.plot([m[0] for m in measured], [m[1] for m in measured], label="energy (mean |F|)")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("energy")
    ax2 = ax.twinx()
    ax2.plot(t, [100 * (r["saturated"] or 0) for r in rows], color="tab:red", linewidth=0.8, label="saturated (%)")
    ax2.set_ylabel("saturated (%)")
    ax.set_title("Field energy\n" + title)
    save(fig, "energy.png")


def timing_plots(rows, t, title, save):
    work_ms = [r["work_ns"] / 1e6 for r in rows]
    fig, ax = plt.subplots(figsize=(10, 4))
    ax.plot(t, work_ms, linewidth=0.8, label="work (wake-up to motors)")
    ax.plot(t, [r["lateness_ns"] / 1e6 for r in rows], linewidth=0.8, label="wake-up lateness")
    ax.plot(t, [r["work"]["p99_ns"] / 1e6 for r in rows], linewidth=1.2, label="work p99 (window)")
    target = rows[-1].get("rate_hz_target") or 0
    if target > 0:
        ax.axhline(1000.0 / target, color="black", linestyle="--", linewidth=0.8, label="period")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("ms")
    ax.set_title("Cycle time\n" + title)
    ax.legend(loc="upper right", fontsize="small")
    save(fig, "cycle_time.png")

    fig, ax = plt.subplots(figsize=(8, 4))
    ax.hist(work_ms, bins=min(100, max(10, len(work_ms) // 10)))
    ax.set_xlabel("work time (ms)")
    ax.set_ylabel("cycles")
    ax.set_yscale("log")
    ax.set_title(f"Cycle time histogram ({len(work_ms)} recorded cycles, every {rows[-1].get('every', 1)})")
    save(fig, "cycle_time_hist.png")


if __name__ == "__main__":
    sys.exit(main(sys.argv))
