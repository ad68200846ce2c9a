#!/usr/bin/python3
"""test_telemetry_fleet.py: telemetry of a brain serving several robots,
over real sockets on 127.0.0.1: a real fieldbrain with a robots list (each
robot's stats every N of its cycles on its own topic, slices of the slice
robot, shutdown events per robot), and the monitor, the recorder and the
plots against the real publisher fed with a fleet's cycles
(tests/telemetry_fleet_source.c: robots 10, 20, 30, ... each with its own
cycle numbers, energy 0.01 x its place + 1, robot 30's link lost, slices of
the last robot).
Usage: test_telemetry_fleet.py SOURCE MONITOR RECORD PLOT FIELDBRAIN TEST"""
import json, os, re, signal, subprocess, sys, tempfile, time
import zmq

SOURCE, MONITOR, RECORD, PLOT, FIELDBRAIN = sys.argv[1:6]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fbtest  # noqa: E402


class Source:
    def __init__(self, robots, seconds=30, slice_every=0):
        self.p = subprocess.Popen([SOURCE, str(robots), '--seconds', str(seconds),
                                   '--slice-every', str(slice_every)],
                                  stdout=subprocess.PIPE, text=True)
        self.endpoint = self.p.stdout.readline().strip()
        assert self.endpoint.startswith('tcp://'), self.endpoint
        time.sleep(0.5)  # a few cycles of each robot: rates measured

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        assert self.p.wait(timeout=30) == 0


def monitor(*args):
    return subprocess.run([MONITOR, *args], capture_output=True, text=True, timeout=60)


def test_monitor_shows_a_fleet_and_one_robot_in_detail():
    src = Source(3)
    try:
        out = monitor(src.endpoint, '--once')
        assert out.returncode == 0, out.stderr
        text = out.stdout
        assert '\x1b' not in text
        assert re.search(r'fleet of 3 robots \(3 heard from\)', text), text
        # one line per robot: id, link, cycle, cycles/s, energy, the first motors
        for rid, link, energy in ((10, 'up', '0.01'), (20, 'up', '0.02'), (30, 'lost', '0.03')):
            m = re.search(r'^ +%d +%s +(\d+) +([\d.]+) +%s +((?:[+-]\d\.\d\d ){3}[+-]\d\.\d\d) ' % (
                rid, link, re.escape(energy)), text, re.M)
            assert m, 'no line for robot %d in:\n%s' % (rid, text)
            assert 50 < float(m.group(2)) < 200, m.group(0)  # about 100 cycles/s
        cycles = [int(re.search(r'^ +%d +\w+ +(\d+)' % rid, text, re.M).group(1)) for rid in (10, 20, 30)]
        assert cycles[1] > cycles[0] + 50 and cycles[2] > cycles[1] + 50, cycles  # each its own count
        # one robot in detail, as the monitor shows a brain of one robot
        out = monitor(src.endpoint, '--once', '--robot', '20')
        assert out.returncode == 0, out.stderr
        text = out.stdout
        for pattern in [r'robot 20 of 3 +cycle \d+', r'rate +[\d.]+ Hz of 100 Hz configured',
                        r'energy +0\.02 ', r'motor 5 +\[', r'robot 20 +link up']:
            assert re.search(pattern, text), 'no %r in:\n%s' % (pattern, text)
        assert 'robot 10' not in text and 'robot 30' not in text, text
        # --json --robot: that robot's messages only
        out = monitor(src.endpoint, '--once', '--json', '--robot', '30')
        assert out.returncode == 0, out.stderr
        msg = json.loads(out.stdout)
        assert msg['robot_id'] == 30 and msg['n_robots'] == 3 and msg['links'][0]['state'] == 'lost'
        # a robot the fleet does not have: says so, non-zero
        out = monitor(src.endpoint, '--once', '--robot', '21', '--timeout', '1')
        assert out.returncode == 1 and 'nothing from robot 21' in out.stderr, out
    finally:
        src.stop()
    # a fleet of one looks as a brain of one robot does
    src = Source(1)
    try:
        out = monitor(src.endpoint, '--once')
        assert out.returncode == 0, out.stderr
        assert 'fleet of' not in out.stdout and re.search(r'robot 10 +link up', out.stdout), out.stdout
        assert re.search(r'^fieldbrain-monitor  \S+  cycle \d+', out.stdout), out.stdout
    finally:
        src.stop()


def test_recorder_and_plots_keep_robots_apart():
    src = Source(3, slice_every=10)
    tmp = tempfile.TemporaryDirectory()
    rec_dir = os.path.join(tmp.name, 'rec')
    try:
        rec = subprocess.run([RECORD, src.endpoint, rec_dir, '--duration', '1.5'],
                             capture_output=True, text=True, timeout=60)
        assert rec.returncode == 0, rec.stderr
    finally:
        src.stop()
    stats = [json.loads(l) for l in open(os.path.join(rec_dir, 'stats.jsonl'))]
    by_robot = {}
    for s in stats:
        by_robot.setdefault(s['robot_id'], []).append(s)
    assert sorted(by_robot) == [10, 20, 30], sorted(by_robot)
    for rid, rows in by_robot.items():
        cycles = [r['cycle'] for r in rows]
        assert len(cycles) >= 50 and cycles == list(range(cycles[0], cycles[0] + len(cycles))), rid
        assert all(abs(r['energy'] - 0.01 * (rid // 10)) < 1e-6 for r in rows)
    events = [json.loads(l) for l in open(os.path.join(rec_dir, 'events.jsonl'))]
    heads = [json.loads(l) for l in open(os.path.join(rec_dir, 'slices.jsonl'))]
    assert heads and all(h['robot_id'] == 30 and h['file'] == 'slice-30-%09d.png' % h['cycle']
                         for h in heads), heads[:3]
    assert all(os.path.exists(os.path.join(rec_dir, h['file'])) for h in heads)
    plots = subprocess.run([PLOT, rec_dir], capture_output=True, text=True, timeout=120)
    assert plots.returncode == 0, plots.stderr
    for name in ('motors.png', 'energy.png', 'cycle_time.png', 'cycle_time_hist.png', 'field_slices.png'):
        with open(os.path.join(rec_dir, 'plots', name), 'rb') as f:
            assert f.read(8) == b'\x89PNG\r\n\x1a\n', name
    # one line per robot in energy.png, a panel per robot in motors.png
    sys.path.insert(0, os.path.dirname(os.path.abspath(PLOT)))
    import importlib.machinery, importlib.util
    loader = importlib.machinery.SourceFileLoader('fieldbrain_plot', PLOT)
    spec = importlib.util.spec_from_loader('fieldbrain_plot', loader)
    plot = importlib.util.module_from_spec(spec)
    loader.exec_module(plot)
    figures = {}

    def save(fig, name):
        figures[name] = fig
    rows = plot.load(rec_dir)
    by = {}
    for r in rows:
        by.setdefault(plot.robot_of(r), []).append(r)
    plot.fleet_plots(rows, by, save, rec_dir)
    energy_axes = figures['energy.png'].axes
    assert [l.get_label() for l in energy_axes[0].get_lines()] == ['robot 10', 'robot 20', 'robot 30']
    motor_axes = figures['motors.png'].axes
    assert [a.get_ylabel() for a in motor_axes] == ['robot 10', 'robot 20', 'robot 30']
    assert all(len(a.get_lines()) == 6 for a in motor_axes)
    del events


def test_fieldbrain_fleet_publishes_each_robot_apart():
    tele = fbtest.endpoint()
    b = fbtest.Program(FIELDBRAIN, (
        'brain:\n  size: 8\n  channels: 8\n  backend: cpu\n  threads: 1\n'
        'loop:\n  mode: fixed_rate\n  rate_hz: 100\n'
        'link:\n  sensor_endpoint: "%s"\n  motor_endpoint: "%s"\n  timeout_ms: 200\n'
        'control:\n  enabled: false\ncheckpoint:\n  on_exit: false\n'
        'telemetry:\n  endpoint: "%s"\n  every: 5\n  slice_every: 10\n  slice_robot: 5\n'
        'robots:\n  - id: 3\n  - id: 5\n  - id: 9\n') % (fbtest.endpoint(), fbtest.endpoint(), tele))
    ctx = zmq.Context.instance()

    def sub(*topics):
        s = ctx.socket(zmq.SUB)
        s.linger = 0
        s.connect(tele)
        for t in topics:
            s.setsockopt(zmq.SUBSCRIBE, t)
        return s
    try:
        every, nine, slices, events = sub(b'stats'), sub(b'stats/9/'), sub(b'slice'), sub(b'event')
        seen = {}
        deadline = time.monotonic() + 20
        while len(seen) < 3 or min(len(v) for v in seen.values()) < 20:
            assert time.monotonic() < deadline, {k: len(v) for k, v in seen.items()}
            assert every.poll(5000), 'no stats'
            topic, body = every.recv_multipart()
            m = json.loads(body)
            assert topic.decode() == 'stats/%d/' % m['robot_id'], topic
            assert m['n_robots'] == 3 and m['cycle'] % 5 == 0
            assert m['links'][0]['robot_id'] == m['robot_id']
            seen.setdefault(m['robot_id'], []).append(m)
        assert sorted(seen) == [3, 5, 9]
        for rid, ms in seen.items():
            cycles = [m['cycle'] for m in ms]
            drops = ms[-1]['telemetry']['dropped_stats'] - ms[0]['telemetry']['dropped_stats']
            # every 5 of the robot's own cycles, each of them (bar counted drops)
            assert (cycles[-1] - cycles[0]) // 5 + 1 - len(cycles) == drops, (rid, cycles, drops)
            assert ms[-1]['rate_hz'] is not None and 50 < ms[-1]['rate_hz'] < 200, ms[-1]['rate_hz']
        for _ in range(5):
            assert nine.poll(5000)
            topic, body = nine.recv_multipart()
            assert topic == b'stats/9/' and json.loads(body)['robot_id'] == 9
        for _ in range(2):
            assert slices.poll(5000), 'no slice'
            frames = slices.recv_multipart()
            head = json.loads(frames[1])
            assert frames[0] == b'slice/5/' and head['robot_id'] == 5 and head['cycle'] % 10 == 0
        out = monitor(tele, '--once')
        assert out.returncode == 0, out.stderr
        assert 'fleet of 3 robots (3 heard from)' in out.stdout, out.stdout
        for rid in (3, 5, 9):
            assert re.search(r'^ +%d +lost +\d+ +[\d.]+ ' % rid, out.stdout, re.M), out.stdout
    finally:
        code, _ = b.stop()
        assert code == 0
    # once per robot, on its topic, with its id
    shutdown = {}
    while events.poll(1000):
        topic, body = events.recv_multipart()
        m = json.loads(body)
        if m['kind'] == 'shutdown':
            assert topic.decode() == 'event/%d/' % m['robot_id']
            shutdown[m['robot_id']] = shutdown.get(m['robot_id'], 0) + 1
    assert shutdown == {3: 1, 5: 1, 9: 1}, shutdown


if __name__ == '__main__':
    globals()['test_' + sys.argv[6]]()
    print('passed')
