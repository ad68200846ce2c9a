#!/usr/bin/python3
"""test_demo_tools.py: the programs make demo runs, each on its own:
fieldbrain-plot's slice sheet, scripts/free_ports.py, and
scripts/demo_summary.py on the --summary JSON of a real fieldbrain run;
and what make demo-fleet runs: scripts/demo_fleet_summary.py on the
summaries of a real fleet (one fieldbrain, one fieldbrain-sim, two robots;
fieldbrain-sim beside FIELDBRAIN in the build folder).
Usage: test_demo_tools.py FIELDBRAIN PLOT SCRIPTS_DIR TEST"""
import json, os, signal, socket, subprocess, sys, tempfile, time

FIELDBRAIN, PLOT, SCRIPTS = sys.argv[1:4]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fbtest  # noqa: E402

PNG = b'\x89PNG\r\n\x1a\n'


def fake_recording(d, slices):
    """A recording as fieldbrain-record writes it: three stats lines and
    `slices` slice headers, the oldest one's PNG already deleted."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    os.makedirs(d)
    with open(os.path.join(d, 'stats.jsonl'), 'w') as f:
        for i in range(3):
            f.write(json.dumps({'cycle': 10 * i, 'time_ns': i * 10 ** 8, 'motors': [0.1 * i] * 5,
                                'energy': 0.01, 'saturated': 0, 'work_ns': 10 ** 6,
                                'lateness_ns': 10 ** 4, 'work': {'p99_ns': 2 * 10 ** 6},
                                'rate_hz_target': 100, 'every': 1, 'device': 'cpu', 'backend': 'cpu'})
                    + '\n')
    if not slices:
        return
    with open(os.path.join(d, 'slices.jsonl'), 'w') as f:
        for k in range(slices):
            h = {'file': 'slice-%09d.png' % (100 * k), 'type': 'slice', 'cycle': 100 * k,
                 'axis': 'z', 'index': 4, 'channel': 'mean', 'min': -k, 'max': k,
                 'horizontal': 'x', 'vertical': 'y'}
            f.write(json.dumps(h) + '\n')
            if k > 0:
                plt.imsave(os.path.join(d, h['file']), [[k, 0], [0, -k]])


def test_plot_draws_the_slice_sheet():
    with tempfile.TemporaryDirectory() as t:
        rec, out = os.path.join(t, 'rec'), os.path.join(t, 'out')
        fake_recording(rec, slices=8)
        r = subprocess.run([PLOT, rec, out], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        sheet = os.path.join(out, 'field_slices.png')
        assert sheet in r.stdout.split(), r.stdout
        with open(sheet, 'rb') as f:
            assert f.read(8) == PNG
        # A recording without slices: the other plots, no sheet.
        bare, out2 = os.path.join(t, 'bare'), os.path.join(t, 'out2')
        fake_recording(bare, slices=0)
        r = subprocess.run([PLOT, bare, out2], capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr
        assert os.path.exists(os.path.join(out2, 'motors.png'))
        assert not os.path.exists(os.path.join(out2, 'field_slices.png'))


def test_free_ports_are_distinct_and_bindable():
    r = subprocess.run(['/usr/bin/python3', os.path.join(SCRIPTS, 'free_ports.py'), '3'],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
    ports = [int(p) for p in r.stdout.split()]
    assert len(ports) == 3 and len(set(ports)) == 3, r.stdout
    for p in ports:
        with socket.socket() as s:
            s.bind(('127.0.0.1', p))
    bad = subprocess.run(['/usr/bin/python3', os.path.join(SCRIPTS, 'free_ports.py'), 'x'],
                         capture_output=True, text=True, timeout=30)
    assert bad.returncode == 2 and 'whole number' in bad.stderr


def test_summary_reads_what_the_programs_wrote():
    with tempfile.TemporaryDirectory() as out:
        summary = os.path.join(out, 'brain-summary.json')
        b = fbtest.Program(FIELDBRAIN,
                           'brain:\n  size: 8\n  channels: 16\n  backend: cpu\n  threads: 1\n'
                           'loop:\n  mode: fixed_rate\n  rate_hz: 200\n  stats_window: 10\n'
                           'link:\n  sensor_endpoint: "%s"\n  motor_endpoint: "%s"\n'
                           'telemetry:\n  enabled: false\n' % (fbtest.endpoint(), fbtest.endpoint()),
                           args=['--summary', summary])
        time.sleep(1.0)
        code, text = b.stop(signal.SIGINT)
        assert code == 0, text
        brain = json.load(open(summary))
        assert brain['cycles'] == fbtest.summary(text)['cycles'] > 0
        with open(os.path.join(out, 'sim.json'), 'w') as f:
            json.dump({'latency_p50_us': 4522.0, 'latency_p99_us': 8781.8, 'latency_samples': 7,
                       'distance_m': 2.5, 'collisions': 1, 'safety_stops': 0}, f)
        os.makedirs(os.path.join(out, 'recording'))
        with open(os.path.join(out, 'recording', 'events.jsonl'), 'w') as f:
            for kind in ('link_restored', 'link_lost', 'link_restored'):
                f.write(json.dumps({'type': 'event', 'kind': kind}) + '\n')
        open(os.path.join(out, 'arena.png'), 'wb').close()
        ran_ms = 2000
        r = subprocess.run(['/usr/bin/python3', os.path.join(SCRIPTS, 'demo_summary.py'), out, str(ran_ms)],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        sys.stderr.write(r.stdout)
        assert 'brain            cpu backend, cpu' in r.stdout, r.stdout
        assert 'cycles           %d at %.1f Hz achieved (configured 200)' % (
            brain['cycles'], brain['cycles'] / (ran_ms / 1e3)) in r.stdout, r.stdout
        assert 'work p99 %.3f ms' % (brain['work_p99_ns'] / 1e6) in r.stdout, r.stdout
        assert 'overruns %d' % brain['overruns'] in r.stdout, r.stdout
        assert 'p50 4.52 ms, p99 8.78 ms' in r.stdout and '7 samples' in r.stdout, r.stdout
        assert '2.5 m, collisions 1, safety stops 0' in r.stdout, r.stdout
        assert 'link losses      1\n' in r.stdout, r.stdout
        assert 'pictures         arena.png\n' in r.stdout, r.stdout
    # Nothing written at all: question marks, not a traceback.
    with tempfile.TemporaryDirectory() as empty:
        r = subprocess.run(['/usr/bin/python3', os.path.join(SCRIPTS, 'demo_summary.py'), empty, '0'],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert 'cycles           ? at ? Hz achieved (configured ?)' in r.stdout, r.stdout


def test_fleet_summary_reads_what_the_programs_wrote():
    sim = os.path.join(os.path.dirname(os.path.abspath(FIELDBRAIN)), 'fieldbrain-sim')
    with tempfile.TemporaryDirectory() as out:
        cfg = os.path.join(out, 'fleet.yaml')
        with open(cfg, 'w') as f:
            f.write('brain:\n  size: 8\n  channels: 16\n  backend: cpu\n  threads: 1\n  motor_gain: 20\n'
                    'loop:\n  mode: fixed_rate\n  rate_hz: 50\n'
                    'link:\n  sensor_endpoint: "%s"\n  motor_endpoint: "%s"\n'
                    'telemetry:\n  enabled: false\ncontrol:\n  enabled: false\n'
                    'sim:\n  mode: realtime\n  sensor_hz: 50\n  duration_s: 1\n'
                    'robots:\n  - id: 5\n  - id: 9\n' % (fbtest.endpoint(), fbtest.endpoint()))
        err = open(os.path.join(out, 'brain.err'), 'w')
        b = subprocess.Popen([FIELDBRAIN, 'run', '--config', cfg, '--summary',
                              os.path.join(out, 'brain-summary.json')], stderr=err)
        try:
            r = subprocess.run([sim, '--config', cfg, '--summary', os.path.join(out, 'sim.json')], cwd=out,
                               capture_output=True, text=True, timeout=60)
        finally:
            b.send_signal(signal.SIGINT)
            code = b.wait(timeout=60)
        assert code == 0 and r.returncode == 0, r.stderr
        brain = json.load(open(os.path.join(out, 'brain-summary.json')))
        rovers = json.load(open(os.path.join(out, 'sim.json')))['rovers']
        open(os.path.join(out, 'arena.png'), 'wb').close()
        open(os.path.join(out, 'arena-5.png'), 'wb').close()
        open(os.path.join(out, 'arena-9.png'), 'wb').close()
        r = subprocess.run(['/usr/bin/python3', os.path.join(SCRIPTS, 'demo_fleet_summary.py'), out, '2000'],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        sys.stderr.write(r.stdout)
        assert '2 robots' in r.stdout and 'brain            cpu backend, cpu' in r.stdout, r.stdout
        ticks = max(x['cycles'] for x in brain['robots'])
        assert 'ticks            %d at %.1f Hz achieved (configured 50), %d robot cycles in all' % (
            ticks, ticks / 2.0, brain['cycles']) in r.stdout, r.stdout
        lines = {int(line.split()[0]): line.split() for line in r.stdout.splitlines()
                 if line.split() and line.split()[0].isdigit()}
        assert sorted(lines) == [5, 9], r.stdout
        for x, rover in zip(brain['robots'], rovers):
            assert x['robot_id'] == rover['robot_id']
            row = lines[x['robot_id']]
            assert row[1:6] == [str(x['cycles']), str(x['received']), str(rover['motor_received']),
                                str(x['link_losses']), '%.2f' % rover['distance_m']], (row, x, rover)
            assert x['received'] > 0 and rover['motor_received'] > 0, (x, rover)
        assert 'trajectories     arena-5.png, arena-9.png, arena.png\n' in r.stdout, r.stdout
    # Nothing written at all: question marks, not a traceback.
    with tempfile.TemporaryDirectory() as empty:
        r = subprocess.run(['/usr/bin/python3', os.path.join(SCRIPTS, 'demo_fleet_summary.py'), empty, '0'],
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 0, r.stderr
        assert 'ticks            ? at ? Hz achieved (configured ?)' in r.stdout, r.stdout


if __name__ == '__main__':
    globals()['test_' + sys.argv[4]]()
    print('ok')
