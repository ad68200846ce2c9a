#!/usr/bin/python3
"""fieldbrain-replay-plot DIR: plots of what `fieldbrain replay --out DIR`
wrote: motors.png (each motor, recorded against replayed or what-if),
energy.png, and difference.png (|replayed - recorded| over the cycles).
Needs Debian's python3-numpy and python3-matplotlib (/usr/bin/python3).
`fieldbrain replay --out DIR` runs it by itself. Exit status 0, 1 when DIR
holds no replay output, 2 for a bad command line."""
import glob
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402


def main(d):
    other = "whatif" if os.path.exists(os.path.join(d, "motors_whatif.npy")) else "replayed"
    cycles = np.load(os.path.join(d, "cycles.npy"))
    rec = np.load(os.path.join(d, "motors_recorded.npy"))
    rep = np.load(os.path.join(d, f"motors_{other}.npy"))
    motors = rec.shape[1] if rec.ndim == 2 else 0
    fig, axes = plt.subplots(max(motors, 1), 1, figsize=(10, 1.6 * max(motors, 1) + 0.8), sharex=True,
                             squeeze=False)
    for j in range(motors):
        ax = axes[j][0]
        ax.plot(cycles, rec[:, j], lw=1.0, label="recorded")
        ax.plot(cycles, rep[:, j], lw=0.8, ls="--", label=other)
        ax.set_ylabel(f"motor {j}")
        ax.set_ylim(-1.05, 1.05)
    axes[0][0].legend(loc="upper right", fontsize=8)
    axes[-1][0].set_xlabel("loop cycle")
    fig.tight_layout()
    fig.savefig(os.path.join(d, "motors.png"), dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(10, 3))
    ax.plot(cycles, np.load(os.path.join(d, "energy_recorded.npy")), lw=1.0, label="recorded")
    ax.plot(cycles, np.load(os.path.join(d, f"energy_{other}.npy")), lw=0.8, ls="--", label=other)
    ax.set_xlabel("loop cycle")
    ax.set_ylabel("energy (mean |F|)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(os.path.join(d, "energy.png"), dpi=90)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(10, 3))
    diff = np.abs(rep - rec).max(axis=1) if motors else np.zeros_like(cycles, dtype=float)
    ax.plot(cycles, diff, lw=0.8)
    ax.set_xlabel("loop cycle")
    ax.set_ylabel(f"max |{other} - recorded|")
    fig.tight_layout()
    fig.savefig(os.path.join(d, "difference.png"), dpi=90)
    plt.close(fig)
    print(f"plots: {', '.join(sorted(glob.glob(os.path.join(d, '*.png'))))}")


if __name__ == "__main__":
    if len(sys.argv) == 2 and sys.argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        sys.exit(0)
    if len(sys.argv) != 2 or sys.argv[1].startswith("-"):
        print(__doc__.strip(), file=sys.stderr)
        sys.exit(2)
    if not os.path.exists(os.path.join(sys.argv[1], "cycles.npy")):
        print(f"fieldbrain-replay-plot: {sys.argv[1]} holds no cycles.npy "
              "(the --out DIR of fieldbrain replay)", file=sys.stderr)
        sys.exit(1)
    main(sys.argv[1])
