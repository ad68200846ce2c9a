#!/usr/bin/python3
"""test_replay.py: the input log and `fieldbrain replay` with the real
program: a lockstep brain fed by the Python robot over real sockets records
its log, the replay steps it again bit for bit; segments, --from, --until,
a what-if with --out, the numpy reader of inlog/FORMAT.md, and bad logs; a
fleet of three robots, each robot's log replayed on its own.
Usage: test_replay.py FIELDBRAIN ROBOT_CLIENT_PY FORMAT_MD READ_INLOG_PY TEST"""
import math, os, shutil, signal, struct, subprocess, sys, tempfile, time
import numpy as np

FIELDBRAIN, CLIENT, FORMAT_MD, READER = sys.argv[1:5]
sys.path.insert(0, os.path.dirname(os.path.abspath(CLIENT)))
sys.path.insert(0, os.path.dirname(os.path.abspath(READER)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import robot_client as rc  # noqa: E402
from fbtest import free_port  # noqa: E402
import read_inlog  # noqa: E402

SENSORS = 16


def record(tmp, cycles, max_mb=64, size=8, mode='lockstep', linger_s=0, channels=8, between=None):
    """Runs a brain with record.path, feeds it `cycles` vectors, waits
    `linger_s` (a fixed_rate brain loses the link after 0.5 s and steps on
    with zeros) and stops it; returns (log dir, the motors the robot received
    by seq)."""
    log = os.path.join(tmp, 'log')
    sensor, motor = 'tcp://127.0.0.1:%d' % free_port(), 'tcp://127.0.0.1:%d' % free_port()
    cfg = os.path.join(tmp, 'brain.yaml')
    control = 'tcp://127.0.0.1:%d' % free_port()
    with open(cfg, 'w') as f:
        f.write('brain:\n  size: %d\n  channels: %d\n  backend: cpu\n  threads: 1\n'
                'loop:\n  mode: %s\n  rate_hz: 200\n'
                'link:\n  sensor_endpoint: "%s"\n  motor_endpoint: "%s"\n'
                'telemetry:\n  enabled: false\ncontrol:\n  enabled: %s\n  endpoint: "%s"\n'
                'record:\n  path: "%s"\n  max_mb: %d\n'
                % (size, channels, mode, sensor, motor, 'true' if between else 'false', control, log, max_mb))
    err = open(os.path.join(tmp, 'stderr'), 'w+')
    p = subprocess.Popen([FIELDBRAIN, 'run', '--config', cfg], stderr=err)
    robot = rc.Robot(sensor, motor)
    got = {}
    try:
        assert robot.recv(5000) is not None, 'no link_lost heartbeat'
        for i in range(cycles):
            seq = robot.send([math.sin(0.05 * i + k) for k in range(SENSORS)])
            m = robot.recv(3000)
            while m is not None and m['answer_seq'] < seq:
                m = robot.recv(3000)
            assert m is not None and m['answer_seq'] == seq, 'no answer to %d' % seq
            got[m['seq']] = m['values']
            if between:
                between(i, control)
        time.sleep(linger_s)
    finally:
        robot.close()
        p.send_signal(signal.SIGTERM)
        assert p.wait(timeout=30) == 0
    err.seek(0)
    text = err.read()
    assert 'input log in' in text, text
    return log, got


def replay(*args):
    r = subprocess.run([FIELDBRAIN, 'replay'] + list(args), capture_output=True, text=True, timeout=120)
    sys.stderr.write(r.stdout + r.stderr)
    return r.returncode, r.stdout, r.stderr


def test_replay_is_bit_identical_and_the_log_holds_the_motors_sent():
    with tempfile.TemporaryDirectory() as tmp:
        log, got = record(tmp, 300)
        code, out, _ = replay(log)
        assert code == 0 and 'bit-identical' in out, out
        assert '300 cycles stepped' in out, out
        # The numpy reader of FORMAT.md: the motors in the log are exactly
        # the ones the robot received, bit for bit.
        header, r = read_inlog.read_segment(os.path.join(log, '000001.fbin'))
        assert header['format'] == 'fieldbrain-inlog' and header['backend'] == 'cpu'
        stepped = r[(r['flags'] & 1) == 1]
        assert len(stepped) == 300
        for rec in stepped:
            want = np.array(got[int(rec['cycle'])], dtype=np.float32)
            assert np.array_equal(rec['motors'], want), int(rec['cycle'])
        assert np.array_equal(stepped['sensors'][0],
                              np.array([math.sin(k) for k in range(SENSORS)], dtype=np.float32))


def test_fixed_rate_with_a_lost_link_replays_bit_for_bit():
    # From the start until the first message, and after the robot stops, the
    # link is lost: the brain steps with zeros and publishes zeros.
    with tempfile.TemporaryDirectory() as tmp:
        log, _ = record(tmp, 200, mode='fixed_rate', linger_s=1.5)
        _, r = read_inlog.read_segment(os.path.join(log, '000001.fbin'))
        lost = r[(r['flags'] & 3) == 3]
        assert len(lost) > 100 and not lost['motors'].any() and not lost['sensors'].any()
        code, out, _ = replay(log)
        assert code == 0 and 'bit-identical' in out, out


def test_demo_sized_recording_replays_bit_for_bit():
    # The demo's brain: 32^3 x 64 on the CPU backend.
    with tempfile.TemporaryDirectory() as tmp:
        log, _ = record(tmp, 400, size=32, channels=64)
        code, out, _ = replay(log)
        assert code == 0 and 'bit-identical' in out and '400 cycles stepped' in out, out


def test_live_changes_and_resets_replay_bit_for_bit():
    ctl = os.path.join(os.path.dirname(FIELDBRAIN), 'fieldbrain-ctl')

    def between(i, control):
        if i in (99, 199, 299):
            what = {99: ['set', 'brain.motor_gain', '20'], 199: ['reset'],
                    299: ['set', 'brain.decay', '0.99']}[i]
            r = subprocess.run([ctl, '--endpoint', control] + what, capture_output=True, text=True, timeout=30)
            assert r.returncode == 0, r.stdout + r.stderr
    with tempfile.TemporaryDirectory() as tmp:
        log, _ = record(tmp, 400, between=between)
        segs = sorted(f for f in os.listdir(log) if f.endswith('.fbin'))
        assert len(segs) == 3, segs  # the start, and one at each parameter change
        _, r = read_inlog.read_segment(os.path.join(log, segs[1]))
        assert ((r['flags'] & 8) == 8).sum() == 1  # the reset, on its cycle
        code, out, _ = replay(log)
        assert code == 0 and 'bit-identical' in out and '400 cycles stepped' in out, out
        # Up to the first change, from the first segment alone.
        code, out, _ = replay(log, '--until', '100')
        assert code == 0 and 'bit-identical' in out, out


def test_reader_in_format_md_is_the_tested_one():
    text = open(FORMAT_MD).read()
    block = text.split('```python\n', 1)[1].split('```\n', 1)[0]
    assert block == open(READER).read(), 'inlog/FORMAT.md and inlog/read_inlog.py differ'
    assert len(block.splitlines()) < 40


def test_segments_rotate_and_from_starts_at_a_later_checkpoint():
    with tempfile.TemporaryDirectory() as tmp:
        # 1 MiB: segments of about 300 kB (2000 records), so 5000 cycles make three.
        log, _ = record(tmp, 5000, max_mb=1, size=4)
        segs = sorted(f for f in os.listdir(log) if f.endswith('.fbin'))
        assert len(segs) >= 3, segs
        total = sum(os.path.getsize(os.path.join(log, f)) for f in os.listdir(log))
        assert total <= 1 << 20, total
        code, out, _ = replay(log)
        assert code == 0 and 'bit-identical' in out, out
        code, out, err = replay(log, '--from', '4000', '--until', '4500')
        assert code == 0 and 'bit-identical' in out, out
        assert '000001.start' not in err, err
        assert 'to 4500' in out, out


def test_what_if_writes_both_series():
    with tempfile.TemporaryDirectory() as tmp:
        log, _ = record(tmp, 200)
        out_dir = os.path.join(tmp, 'whatif')
        code, out, _ = replay(log, '--set', 'brain.motor_gain=20', '--out', out_dir)
        assert code == 0 and 'what-if: brain.motor_gain=20' in out, out
        a = np.load(os.path.join(out_dir, 'motors_recorded.npy'))
        b = np.load(os.path.join(out_dir, 'motors_whatif.npy'))
        assert a.shape == b.shape == (200, 5) and not np.array_equal(a, b)
        assert np.load(os.path.join(out_dir, 'cycles.npy')).shape == (200,)
        for png in ('motors.png', 'energy.png', 'difference.png'):
            assert open(os.path.join(out_dir, png), 'rb').read(8) == b'\x89PNG\r\n\x1a\n', png
        code, _, err = replay(log, '--set', 'brain.size=16')
        assert code == 2 and 'shape' in err, err


def test_cut_corrupt_foreign_and_other_version_logs():
    with tempfile.TemporaryDirectory() as tmp:
        log, _ = record(tmp, 100)
        seg = os.path.join(log, '000001.fbin')
        data = open(seg, 'rb').read()
        header_bytes, record_bytes = struct.unpack_from('<II', data, 12)

        def variant(name, content):
            d = os.path.join(tmp, name)
            shutil.copytree(log, d)
            with open(os.path.join(d, '000001.fbin'), 'wb') as f:
                f.write(content)
            return d

        # Cut mid-record (as a kill -9 may leave it): replays its whole records.
        cut = variant('cut', data[:header_bytes + 50 * record_bytes + record_bytes // 2])
        code, out, err = replay(cut)
        assert code == 0 and 'bit-identical' in out and 'loop cycles 1 to 50' in out, out
        assert '000001.fbin ends %d bytes into a record' % (record_bytes // 2) in err, err
        # A damaged header JSON, a start or first cycle it does not own, a
        # record of another cycle (checksum made to match): corrupt.
        def rewritten(at, text):
            b = bytearray(data)
            b[at:at + len(text)] = text
            return bytes(b)
        js = data[64:header_bytes]
        for name, content, want in (
                ('json', rewritten(64, b'XX'), 'its JSON is damaged near byte 64'),
                ('start', rewritten(64 + js.index(b'000001.start'), b'000009'),
                 'names another start checkpoint'),
                ('first', rewritten(64 + js.index(b'"first_cycle": 1') + 15, b'7'),
                 'names another first cycle')):
            code, _, err = replay(variant(name, content))
            assert code == 2 and 'corrupt header' in err and want in err, (name, err)
        moved = bytearray(data)
        at = header_bytes + 20 * record_bytes
        struct.pack_into('<Q', moved, at, 10 ** 6)
        struct.pack_into('<I', moved, at + 36, 0)
        check = 2166136261
        for byte in moved[at:at + record_bytes]:
            check = ((check ^ byte) * 16777619) & 0xffffffff
        struct.pack_into('<I', moved, at + 36, check)
        code, _, err = replay(variant('moved', bytes(moved)))
        assert code == 2 and 'loop cycle 1000000 where 21 is due' in err, err
        # nothing in range, a range backwards: nothing checked is no pass
        code, _, err = replay(log, '--from', '900')
        last = (len(data) - header_bytes) // record_bytes  # from cycle 1, heartbeats included
        assert code == 2 and '--from 900: the log ends at loop cycle %d' % last in err, err
        code, _, err = replay(cut, '--from', '51')
        assert code == 2 and '--from 51: the log ends at loop cycle 50' in err, err
        code, _, err = replay(log, '--from', '90', '--until', '10')
        assert code == 2 and '--from 90 is after --until 10' in err, err
        bad = bytearray(data)
        bad[header_bytes + 10 * record_bytes + 60] ^= 0x40
        code, _, err = replay(variant('corrupt', bytes(bad)))
        assert code == 2 and 'corrupt' in err and '000001.fbin' in err, err
        code, _, err = replay(variant('foreign', os.urandom(len(data))))
        assert code == 2 and 'not a fieldbrain input log' in err, err
        v2 = bytearray(data)
        struct.pack_into('<I', v2, 8, 2)
        code, _, err = replay(variant('v2', bytes(v2)))
        assert code == 2 and 'version 2' in err, err
        code, _, err = replay(os.path.join(tmp, 'missing'))
        assert code == 2 and 'cannot read the directory' in err, err
        os.makedirs(os.path.join(tmp, 'empty'))
        code, _, err = replay(os.path.join(tmp, 'empty'))
        assert code == 2 and 'no input-log segment' in err, err
        for e in (err,):
            assert len(e.strip().splitlines()) == 1, e


def test_replay_on_the_other_backend_is_within_tolerance():
    with tempfile.TemporaryDirectory() as tmp:
        log, _ = record(tmp, 60)
        code, out, _ = replay(log, '--backend', 'vulkan', '--device', 'llvmpipe')
        assert code == 0 and 'within the cross-backend tolerance' in out, out



def test_fleet_each_robots_log_replays_bit_for_bit():
    # Three robots, each with its own log in record.path/robot-ID fed only its
    # own cycles and events: a change for robot 2 starts a segment in its log
    # alone, a reset of every robot is flagged in each.
    ctl = os.path.join(os.path.dirname(FIELDBRAIN), 'fieldbrain-ctl')
    fleet = (1, 2, 3)
    cycles = 150
    with tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, 'log')
        sensor, motor, control = ('tcp://127.0.0.1:%d' % free_port() for _ in range(3))
        cfg = os.path.join(tmp, 'brain.yaml')
        with open(cfg, 'w') as f:
            f.write('brain:\n  size: 8\n  channels: 8\n  backend: cpu\n  threads: 1\n'
                    'loop:\n  mode: lockstep\n'
                    'link:\n  sensor_endpoint: "%s"\n  motor_endpoint: "%s"\n'
                    'telemetry:\n  enabled: false\ncontrol:\n  endpoint: "%s"\n'
                    'record:\n  path: "%s"\n  max_mb: 64\n'
                    'robots:\n  - id: 1\n  - id: 2\n  - id: 3\n' % (sensor, motor, control, log))
        err = open(os.path.join(tmp, 'stderr'), 'w+')
        p = subprocess.Popen([FIELDBRAIN, 'run', '--config', cfg], stderr=err)
        robots = {r: rc.Robot(sensor, motor, robot=r) for r in fleet}
        got = {r: {} for r in fleet}

        def ask(*what):
            r = subprocess.run([ctl, '--endpoint', control] + list(what), capture_output=True,
                               text=True, timeout=30)
            assert r.returncode == 0, r.stdout + r.stderr
        try:
            for robot in robots.values():
                assert robot.recv(5000) is not None, 'no link_lost heartbeat'
            for i in range(cycles):
                if i == 50:
                    ask('--robot', '2', 'set', 'brain.motor_gain', '20')
                if i == 100:
                    ask('reset')
                for r, robot in robots.items():
                    seq = robot.send([math.sin(0.05 * i + k + r) for k in range(SENSORS)])
                    m = robot.recv(3000)
                    while m is not None and m['answer_seq'] < seq:
                        m = robot.recv(3000)
                    assert m is not None and m['answer_seq'] == seq, 'no answer to %d' % seq
                    got[r][m['seq']] = m['values']
        finally:
            for robot in robots.values():
                robot.close()
            p.send_signal(signal.SIGTERM)
            assert p.wait(timeout=30) == 0
        err.seek(0)
        text = err.read()
        assert 'input logs in %s/robot-ID' % log in text, text
        assert sorted(os.listdir(log)) == ['robot-1', 'robot-2', 'robot-3'], os.listdir(log)
        motors = {}
        for r in fleet:
            d = os.path.join(log, 'robot-%d' % r)
            segs = sorted(f for f in os.listdir(d) if f.endswith('.fbin'))
            assert len(segs) == (2 if r == 2 else 1), (r, segs)
            recs = []
            for seg in segs:
                header, rec = read_inlog.read_segment(os.path.join(d, seg))
                assert header['robot_id'] == r, header
                recs.append(rec)
            rec = np.concatenate(recs)
            stepped = rec[(rec['flags'] & 1) == 1]
            assert len(stepped) == cycles and ((rec['flags'] & 8) == 8).sum() == 1, r
            for x in stepped:
                assert np.array_equal(x['motors'], np.array(got[r][int(x['cycle'])], dtype=np.float32))
            motors[r] = stepped['motors']
            code, out, _ = replay(d)
            assert code == 0 and 'bit-identical' in out and '%d cycles stepped' % cycles in out, out
        assert not np.array_equal(motors[1], motors[3])  # each robot its own brain


if __name__ == '__main__':
    globals()['test_' + sys.argv[5]]()
