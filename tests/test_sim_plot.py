#!/usr/bin/python3
"""test_sim_plot.py: sim/plot_trajectory.py draws a real fieldbrain-sim
trajectory over the arena of the real model into a PNG, and several (a
fleet's) into one.

    test_sim_plot.py FIELDBRAIN_SIM PLOT_SCRIPT MODEL
"""
import os
import subprocess
import sys
import tempfile


def main():
    sim, plot, model = sys.argv[1:4]
    with tempfile.TemporaryDirectory(prefix="fb-test-sim-plot-") as d:
        # No brain: the sim still writes its trajectory (at rest, held).
        cfg = os.path.join(d, "alone.yaml")
        with open(cfg, "w") as f:
            f.write('link:\n  sensor_endpoint: "tcp://127.0.0.1:9"\n  motor_endpoint: "tcp://127.0.0.1:7"\n'
                    "sim:\n  mode: realtime\n  sensor_hz: 100\n  duration_s: 0.3\n")
        traj = os.path.join(d, "traj.csv")
        subprocess.run([sim, "--config", cfg, "--trajectory", traj], cwd=d, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        # A moving path too, with a bump and a held stretch, written by hand.
        moving = os.path.join(d, "moving.csv")
        with open(traj) as src, open(moving, "w") as dst:
            dst.write(src.readline())
            for i in range(200):
                held = 1 if 120 <= i < 150 else 0
                bump = 0.8 if i == 100 else 0.0
                dst.write(f"{i*0.02:.4f},{0.9+0.004*i:.6f},{0.003*i:.6f},0.6,0.2,0.5,0.5,0,0,0,{bump},0,{held}\n")
        for name in (traj, moving):
            out = name + ".png"
            r = subprocess.run(["/usr/bin/python3", plot, name, out, "--model", model], cwd=d,
                               capture_output=True, text=True)
            assert r.returncode == 0, r.stderr
            with open(out, "rb") as f:
                head = f.read(8)
            assert head == b"\x89PNG\r\n\x1a\n", f"{out} is not a PNG"
            assert os.path.getsize(out) > 10000, f"{out} is nearly empty"
        # A fleet's paths in one picture.
        fleet = [os.path.join(d, "traj-%d.csv" % i) for i in (3, 5)]
        for i, name in enumerate(fleet):
            with open(moving) as src, open(name, "w") as dst:
                dst.write(src.readline())
                for line in src:
                    v = line.split(",")
                    v[2] = "%.6f" % (float(v[2]) + 0.5 * i)
                    dst.write(",".join(v))
        r = subprocess.run(["/usr/bin/python3", plot, *fleet, os.path.join(d, "fleet.png"), "--model", model],
                           cwd=d, capture_output=True, text=True)
        assert r.returncode == 0 and os.path.getsize(os.path.join(d, "fleet.png")) > 10000, r.stderr
        # A fleet's rover, named in the title.
        r = subprocess.run(["/usr/bin/python3", plot, moving, moving + "-3.png", "--model", model,
                            "--label", "robot 3"], cwd=d, capture_output=True, text=True)
        assert r.returncode == 0 and os.path.getsize(moving + "-3.png") > 10000, r.stderr
        # A broken CSV is a clear error, not a traceback-free success.
        bad = os.path.join(d, "empty.csv")
        open(bad, "w").close()
        r = subprocess.run(["/usr/bin/python3", plot, bad, bad + ".png", "--model", model], cwd=d,
                           capture_output=True, text=True)
        assert r.returncode != 0 and not os.path.exists(bad + ".png")
    print("ok")


if __name__ == "__main__":
    main()
