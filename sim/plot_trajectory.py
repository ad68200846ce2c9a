#!/usr/bin/python3
"""plot_trajectory.py: the top view of the sim's arena with the rover's path.

Reads the arena from the MJCF model (walls, obstacles and the floor line:
the world's geoms) and the path from fieldbrain-sim's trajectory CSV, and
writes a PNG: the path coloured by time, where the robot was held (safety
stop), where it bumped into something, the start and the end.

    plot_trajectory.py TRAJECTORY.csv OUT.png [--model sim/models/rover.xml] [--title TEXT]
                       [--label TEXT]
    plot_trajectory.py TRAJECTORY.csv TRAJECTORY.csv... OUT.png [--model ...] [--title TEXT]

--label names the rover in the default title ("robot 3": a fleet's rover).
With several trajectories (a fleet's, fieldbrain-sim's NAME-ID.csv) all go
into one picture, each path in its own colour with its start and end, named
"robot ID" after the ID in its file name (else by the file name).
"""
import argparse
import csv
import math
import os
import re
import sys
import xml.etree.ElementTree as ET

import matplotlib

matplotlib.use("Agg")  # no display needed
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.patches import Circle, Polygon, Rectangle  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
BUMP_SHOWN = 0.15  # a scaled bumper reading above this marks a hit


def floats(text, n=None):
    vals = [float(v) for v in text.split()] if text else []
    return vals if n is None else (vals + [0.0] * n)[:n]


def geom_defaults(root):
    """class name -> the geom attributes its <default> gives (inherited)."""
    out = {}

    def walk(node, inherited):
        attrs = dict(inherited)
        g = node.find("geom")
        if g is not None:
            attrs.update(g.attrib)
        out[node.get("class", "main")] = attrs
        for child in node.findall("default"):
            walk(child, attrs)

    for d in root.findall("default"):
        walk(d, {})
    return out


def arena(model_path):
    """The world's geoms as (kind, dict) in the xy plane."""
    root = ET.parse(model_path).getroot()
    comp = root.find("compiler")
    degrees = comp is None or comp.get("angle", "degree") == "degree"
    defaults = geom_defaults(root)
    shapes = []
    for geom in root.find("worldbody").findall("geom"):
        g = dict(defaults.get("main", {}))
        g.update(defaults.get(geom.get("class", "main"), {}))
        g.update(geom.attrib)
        kind = g.get("type", "sphere")
        x, y, _ = floats(g.get("pos"), 3)
        size = floats(g.get("size"), 3)
        yaw = floats(g.get("euler"), 3)[2]
        if degrees:
            yaw = math.radians(yaw)
        shapes.append((kind, dict(name=g.get("name", ""), cls=g.get("class", ""), x=x, y=y,
                                  size=size, yaw=yaw)))
    return shapes


def box_corners(s):
    hx, hy = s["size"][0], s["size"][1]
    c, sn = math.cos(s["yaw"]), math.sin(s["yaw"])
    return [(s["x"] + c * px - sn * py, s["y"] + sn * px + c * py)
            for px, py in ((-hx, -hy), (hx, -hy), (hx, hy), (-hx, hy))]


def read_trajectory(path):
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        sys.exit(f"plot_trajectory: {path}: no rows")
    return {k: [float(r[k]) for r in rows] for k in rows[0]}


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("paths", nargs="+", metavar="PATH", help="TRAJECTORY.csv (one or more), then OUT.png")
    ap.add_argument("--model", default=os.path.join(HERE, "models", "rover.xml"))
    ap.add_argument("--title", default="")
    ap.add_argument("--label", default="", help="the rover's name in the default title (robot 3)")
    args = ap.parse_args()
    if len(args.paths) < 2:
        ap.error("want at least one TRAJECTORY.csv and OUT.png")
    args.out = args.paths[-1]
    trajectories = [read_trajectory(p) for p in args.paths[:-1]]
    fig, ax = plt.subplots(figsize=(7.5, 7.5), dpi=120)
    draw_arena(ax, args.model)
    if len(trajectories) == 1:
        draw_one(fig, ax, trajectories[0], args)
    else:
        draw_several(ax, trajectories, args)
    ax.set_aspect("equal")
    ax.autoscale_view()
    ax.set_xlabel("x (m)")
    ax.set_ylabel("y (m)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.09), ncol=4, fontsize=8, frameon=False)
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"plot_trajectory: wrote {args.out}")


def path_length(x, y):
    return sum(math.hypot(x[i + 1] - x[i], y[i + 1] - y[i]) for i in range(len(x) - 1))


def draw_arena(ax, model):
    for kind, s in arena(model):
        if kind == "plane":
            ax.add_patch(Rectangle((s["x"] - s["size"][0], s["y"] - s["size"][1]), 2 * s["size"][0],
                                   2 * s["size"][1], color="#f2f0e8", zorder=0))
        elif kind == "box":
            line = s["cls"] == "line"
            ax.add_patch(Polygon(box_corners(s), closed=True, color="#222222" if line else "#5b6d99",
                                 alpha=0.8 if line else 1.0, zorder=1 if line else 2, lw=0))
        elif kind in ("cylinder", "sphere", "capsule"):
            ax.add_patch(Circle((s["x"], s["y"]), s["size"][0], color="#5b6d99", zorder=2))


def draw_one(fig, ax, t, args):
    """One path coloured by time, with where it was held and bumped."""
    x, y, time = t["x"], t["y"], t["time_s"]
    pts = list(zip(x, y))
    segs = [[pts[i], pts[i + 1]] for i in range(len(pts) - 1)]
    if segs:
        lc = LineCollection(segs, cmap="viridis", linewidths=2.0, zorder=4)
        lc.set_array(time[1:])
        ax.add_collection(lc)
        fig.colorbar(lc, ax=ax, shrink=0.7, label="simulated time (s)")
    held = [i for i, h in enumerate(t["holding"]) if h > 0 and i > 0]
    if held:
        ax.scatter([x[i] for i in held], [y[i] for i in held], s=6, color="#d62728", zorder=5,
                   label="held (safety stop)")
    bumps = [i for i in range(len(x)) if max(t["bump_front"][i], t["bump_rear"][i]) > BUMP_SHOWN]
    if bumps:
        ax.scatter([x[i] for i in bumps], [y[i] for i in bumps], s=40, marker="x", color="#ff7f0e",
                   zorder=6, label="bumper contact")
    ax.plot(x[0], y[0], "o", color="#2ca02c", ms=9, zorder=7, label="start")
    ax.annotate("", xy=(x[0] + 0.25 * math.cos(t["yaw"][0]), y[0] + 0.25 * math.sin(t["yaw"][0])),
                xytext=(x[0], y[0]), arrowprops=dict(arrowstyle="->", color="#2ca02c", lw=2), zorder=7)
    ax.plot(x[-1], y[-1], "s", color="#d62728", ms=8, zorder=7, label="end")

    dist = path_length(x, y)
    who = f"fieldbrain-sim, {args.label}" if args.label else "fieldbrain-sim"
    ax.set_title(args.title or f"{who}: {time[-1]:.1f} s simulated, {dist:.2f} m driven")


def draw_several(ax, trajectories, args):
    """Each path in its own colour: a start dot with its heading, an end square."""
    colours = plt.get_cmap("tab10").colors
    total, longest = 0.0, 0.0
    for k, (path, t) in enumerate(zip(args.paths[:-1], trajectories)):
        m = re.search(r"-(\d+)\.[^./]*$", os.path.basename(path))
        name = f"robot {m.group(1)}" if m else os.path.basename(path)
        c = colours[k % len(colours)]
        x, y = t["x"], t["y"]
        dist = path_length(x, y)
        total += dist
        longest = max(longest, t["time_s"][-1])
        ax.plot(x, y, color=c, lw=2.0, zorder=4, label=f"{name}: {dist:.2f} m")
        ax.plot(x[0], y[0], "o", color=c, ms=8, zorder=7)
        ax.annotate("", xy=(x[0] + 0.2 * math.cos(t["yaw"][0]), y[0] + 0.2 * math.sin(t["yaw"][0])),
                    xytext=(x[0], y[0]), arrowprops=dict(arrowstyle="->", color=c, lw=2), zorder=7)
        ax.plot(x[-1], y[-1], "s", color=c, ms=7, zorder=7, markeredgecolor="black")
    ax.set_title(args.title or f"fieldbrain-sim, {len(trajectories)} rovers: {longest:.1f} s simulated, "
                 f"{total:.2f} m driven in all (start: dot and arrow, end: square)", fontsize=10)


if __name__ == "__main__":
    main()
