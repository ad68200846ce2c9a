#!/usr/bin/python3
"""test_link.py: the link of the real fieldbrain program over real sockets on
127.0.0.1: the Python robot client, link loss and recovery, a garbage flood
beside a good client, CURVE, the non-loopback warning.
Usage: test_link.py FIELDBRAIN ROBOT_CLIENT_PY TEST"""
import json, math, os, re, signal, subprocess, sys, tempfile, time
import zmq

FIELDBRAIN, CLIENT = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.dirname(os.path.abspath(CLIENT)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import robot_client as rc  # noqa: E402
import fbtest  # noqa: E402
from fbtest import free_port, summary  # noqa: E402

SENSORS = 16


class Brain(fbtest.Program):
    """A fieldbrain process with a small CPU field on fresh ports."""

    def __init__(self, mode='fixed_rate', rate=100, extra='', link_extra=''):
        self.sensor, self.motor = fbtest.endpoint(), fbtest.endpoint()
        super().__init__(FIELDBRAIN,
                         'brain:\n  size: 8\n  channels: 16\n  backend: cpu\n  threads: 1\n'
                         'loop:\n  mode: %s\n  rate_hz: %g\n  stats_window: 100\n'
                         'link:\n  sensor_endpoint: "%s"\n  motor_endpoint: "%s"\n%s'
                         'telemetry:\n  enabled: false\ncontrol:\n  enabled: false\n%s'
                         % (mode, rate, self.sensor, self.motor, link_extra, extra))

    def robot(self, **kw):
        return rc.Robot(self.sensor, self.motor, **kw)


def exchange(robot, values, timeout_ms=3000):
    """Sends one vector and returns the motor message that answers it."""
    seq = robot.send(values)
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        m = robot.recv(100)
        if m is not None and m['answer_seq'] == seq:
            return m
    raise AssertionError('no answer to seq %d' % seq)


def sensors(i):
    return [math.sin(0.1 * i + k) for k in range(SENSORS)]


def test_robot_client_script_answers():
    b = Brain(mode='lockstep')
    out = subprocess.run([sys.executable, CLIENT, '--sensor', b.sensor, '--motor', b.motor,
                          '--count', '20'], capture_output=True, text=True, timeout=60)
    code, text = b.stop()
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert len(lines) == 20, out.stdout
    for i, line in enumerate(lines):
        f = line.split()
        assert int(f[0]) == i + 1 and f[-1] == 'flags=0' and len(f) == 7, line
        assert all(math.isfinite(float(v)) and abs(float(v)) <= 1 for v in f[1:6])
    assert code == 0
    assert summary(text)['received'] == 20


def test_link_loss_and_recovery():
    b = Brain(link_extra='  timeout_ms: 200\n')
    r = b.robot()
    assert r.recv(5000) is not None
    for i in range(20):
        m = exchange(r, sensors(i))
        assert m['flags'] == 0 and any(v != 0 for v in m['values'])
    # Silence: within the timeout and a little, motors turn to flagged zeros.
    deadline, lost = time.monotonic() + 5, []
    while time.monotonic() < deadline and len(lost) < 20:
        m = r.recv(1000)
        if m is not None and m['flags'] & rc.LINK_LOST:
            lost.append(m)
    assert len(lost) == 20, 'link loss not signalled'
    assert all(m['values'] == (0.0,) * 5 for m in lost)
    m = exchange(r, sensors(99))
    assert m['flags'] == 0 and any(v != 0 for v in m['values'])
    r.close()
    code, text = b.stop()
    assert code == 0
    assert text.count('event link_lost') == 1, text
    # once when the robot first appears, once after the loss
    assert text.count('event link_restored') == 2, text


def test_garbage_flood_is_counted_and_good_client_served():
    b = Brain(link_extra='  max_message_bytes: 4096\n')
    good = b.robot()
    assert good.recv(5000) is not None
    ctx = zmq.Context()
    bad = ctx.socket(zmq.PUSH)
    bad.linger = 0
    bad.connect(b.sensor)
    valid = rc.encode(rc.SENSORS, 1, 1, sensors(0))
    nan = list(sensors(1)); nan[3] = float('nan')
    inf = list(sensors(2)); inf[0] = float('-inf')
    import random
    rnd = random.Random(7)
    want = dict(truncated=0, magic=0, version=0, kind=0, trailing=0, length=0,
                nonfinite=0, robot=0, frames=0, range=0)
    plan = []
    for i in range(300):
        n = rnd.randrange(0, 200)
        plan.append((bytes(rnd.randrange(256) for _ in range(n)), 'truncated' if n < 48 else 'magic'))
    plan += [(valid[:rnd.randrange(1, len(valid))], 'truncated') for _ in range(100)]
    plan += [(valid + bytes(1000), 'trailing') for _ in range(50)]
    plan += [(rc.encode(rc.SENSORS, 1, 1, nan), 'nonfinite') for _ in range(50)]
    plan += [(rc.encode(rc.SENSORS, 1, 1, inf), 'nonfinite') for _ in range(50)]
    plan += [(rc.encode(rc.SENSORS, 1, 1, sensors(3), version=2), 'version') for _ in range(50)]
    plan += [(rc.encode(rc.MOTORS, 1, 1, sensors(3)), 'kind') for _ in range(50)]
    plan += [(rc.encode(rc.SENSORS, 1, 1, sensors(3)[:5]), 'length') for _ in range(50)]
    plan += [(rc.encode(rc.SENSORS, 9, 1, sensors(3)), 'robot') for _ in range(50)]
    plan += [([valid, valid], 'frames') for _ in range(50)]
    # Finite but far beyond link.sensor_limit (1000): the values that once
    # overflowed the injection to infinity.
    plan += [(rc.encode(rc.SENSORS, 1, 1, [3.4e38 * (-1) ** k for k in range(16)]), 'range')
             for _ in range(50)]
    plan += [(rc.encode(rc.SENSORS, 1, 1, [0.0] * 15 + [1000.5]), 'range') for _ in range(50)]
    rnd.shuffle(plan)
    # A frame over max_message_bytes never reaches the brain: ZeroMQ drops
    # that connection; the brain must stay up and keep serving.
    huge = ctx.socket(zmq.PUSH)
    huge.linger = 0
    huge.connect(b.sensor)
    huge.send(bytes(100000))
    for i, (frame, reason) in enumerate(plan):
        want[reason] += 1
        bad.send_multipart(frame) if isinstance(frame, list) else bad.send(frame)
        if i % 50 == 0:
            m = exchange(good, sensors(i))
            assert all(math.isfinite(v) for v in m['values']) and m['flags'] == 0
    # A valid message last on the same connection: once it is answered,
    # everything sent before it has been taken (one connection is in order).
    marker = rc.encode(rc.SENSORS, 1, 10 ** 9, sensors(5))
    bad.send(marker)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        m = good.recv(100)
        if m is not None and m['answer_seq'] == 10 ** 9:
            break
    else:
        raise AssertionError('marker never answered')
    m = exchange(good, sensors(1))
    assert all(math.isfinite(v) for v in m['values'])
    good.close()
    ctx.destroy(linger=0)
    code, text = b.stop()
    assert code == 0
    s = summary(text)
    for k, v in want.items():
        assert s[k] == v, '%s: counted %d, sent %d' % (k, s[k], v)
    assert s['bad'] == sum(want.values())
    # The log lines add up, and their last totals are the summary's counts
    # (the last second's drops are logged at the stop).
    logged = fbtest.bad_input_logged(text)
    assert {r: t for (_, r), t in logged.items()} == {k: v for k, v in want.items() if v}, logged


def test_stop_signals_stop_cleanly_and_start_failures_exit_1_or_2():
    """SIGINT, SIGTERM and SIGHUP stop it the same way: zero motors flagged
    stop, the summary, exit 0 (README, "Stopping fieldbrain run"). A port
    in use exits 1, a bad config 2."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        b = Brain()
        r = b.robot()
        assert r.recv(5000) is not None  # the loop runs: past the banner
        code, text = b.stop(sig)
        assert code == 0 and 'summary: cycles=' in text, (sig, code, text)
        deadline, last = time.monotonic() + 5, None
        while time.monotonic() < deadline:
            m = r.recv(200)
            if m is None:
                break
            last = m
        assert last is not None and last['flags'] & rc.STOP and last['values'] == (0.0,) * 5, (sig, last)
        r.close()
    # a sensor endpoint another socket holds: cannot start
    ctx = zmq.Context()
    port = free_port()
    holder = ctx.socket(zmq.PULL)
    holder.linger = 0
    holder.bind('tcp://127.0.0.1:%d' % port)
    d = tempfile.TemporaryDirectory()
    cfg = os.path.join(d.name, 'b.yaml')
    with open(cfg, 'w') as f:
        f.write('brain:\n  size: 8\n  channels: 16\n  backend: cpu\nlink:\n'
                '  sensor_endpoint: "tcp://127.0.0.1:%d"\n  motor_endpoint: "%s"\n'
                'telemetry:\n  enabled: false\ncontrol:\n  enabled: false\n' % (port, fbtest.endpoint()))
    out = subprocess.run([FIELDBRAIN, 'run', '--config', cfg], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and 'link.sensor_endpoint' in out.stderr, out.stderr
    holder.close()
    ctx.destroy(linger=0)
    # a checkpoint directory that is not there: every save would fail
    with open(cfg, 'w') as f:
        f.write('brain:\n  size: 8\n  channels: 16\n  backend: cpu\nlink:\n'
                '  sensor_endpoint: "%s"\n  motor_endpoint: "%s"\n'
                'telemetry:\n  enabled: false\ncontrol:\n  enabled: false\n'
                'checkpoint:\n  path: "%s/no/such/dir/ck"\n' % (fbtest.endpoint(), fbtest.endpoint(), d.name))
    out = subprocess.run([FIELDBRAIN, 'run', '--config', cfg], capture_output=True, text=True, timeout=60)
    assert out.returncode == 1 and 'checkpoint.path: ' in out.stderr and 'No such file' in out.stderr, out.stderr
    with open(cfg, 'w') as f:
        f.write('brain:\n  decay: 3\n')
    out = subprocess.run([FIELDBRAIN, 'run', '--config', cfg], capture_output=True, text=True, timeout=60)
    assert out.returncode == 2 and 'b.yaml:2:10: brain.decay: 3 is out of range' in out.stderr, out.stderr
    out = subprocess.run([FIELDBRAIN, 'run', '--config', cfg, '--frobnicate'], capture_output=True,
                         text=True, timeout=60)
    assert out.returncode == 2, out.stderr


def test_resume_refuses_a_checkpoint_it_cannot_read_or_that_does_not_fit():
    """--resume: a checkpoint whose brain breaks the config's checks (16
    sensors where link.max_message_bytes holds 8) and a field file cut
    short both exit 2 with the reason."""
    d = tempfile.TemporaryDirectory()
    ck = os.path.join(d.name, 'ck')
    b = Brain(extra='checkpoint:\n  path: "%s"\n  on_exit: true\n' % ck)
    r = b.robot()
    assert r.recv(5000) is not None
    r.close()
    assert b.stop()[0] == 0
    side = json.load(open(ck + '.json'))
    assert side['params']['sensors'] == SENSORS

    def resume(brain_extra='', link_extra=''):
        cfg = os.path.join(d.name, 'r.yaml')
        with open(cfg, 'w') as f:
            f.write('brain:\n  size: 8\n  channels: 16\n  backend: cpu\n%s'
                    'link:\n  sensor_endpoint: "%s"\n  motor_endpoint: "%s"\n%s'
                    'telemetry:\n  enabled: false\ncontrol:\n  enabled: false\n'
                    % (brain_extra, fbtest.endpoint(), fbtest.endpoint(), link_extra))
        return subprocess.run([FIELDBRAIN, 'run', '--config', cfg, '--resume', ck], capture_output=True,
                              text=True, timeout=60)
    out = resume('  sensors: 8\n', '  max_message_bytes: 80\n')
    assert out.returncode == 2 and "the checkpoint's brain does not fit the config" in out.stderr and \
        'link.max_message_bytes: 80 is less than one sensor message' in out.stderr, out.stderr
    npy = os.path.join(d.name, side['field_file'])
    data = open(npy, 'rb').read()
    with open(npy, 'wb') as f:
        f.write(data[:len(data) // 2])
    out = resume()
    assert out.returncode == 2 and 'truncated' in out.stderr, out.stderr


def test_ping_counts_only_the_answers_to_its_own_messages():
    ping = os.path.join(os.path.dirname(FIELDBRAIN), 'fieldbrain-ping')
    b = Brain()
    r = b.robot()
    assert r.recv(5000) is not None
    args = [ping, '--sensor', b.sensor, '--motor', b.motor, '--rate', '20', '--count', '20']
    out = subprocess.run(args + ['--sensors', str(SENSORS)], capture_output=True, text=True, timeout=60)
    # (a brain at 100 Hz answers the newest message of a tick: two sent
    # within one tick, as a late scheduler may, are one answer)
    answered = re.search(r'20 sent at 20 Hz, (\d+) answered', out.stdout)
    assert out.returncode == 0 and answered and 15 <= int(answered.group(1)) <= 20, (out.stdout, out.stderr)
    # Its messages all dropped (4 sensors to a brain of 16) while another
    # client with the same seq numbers is answered: none of those is its.
    import threading
    done = threading.Event()

    def other():
        i = 0
        while not done.is_set():
            r.send(sensors(i))
            i += 1
            time.sleep(0.005)
    t = threading.Thread(target=other)
    t.start()
    out = subprocess.run(args + ['--sensors', '4'], capture_output=True, text=True, timeout=60)
    done.set()
    t.join()
    assert out.returncode == 1 and 'no answers to its 20 messages' in out.stderr, (out.stdout, out.stderr)
    for bad in (['--count', '2x'], ['--robot', '-1'], ['--sensors', '70000'], ['--rate', 'fast']):
        out = subprocess.run(args + bad, capture_output=True, text=True, timeout=60)
        assert out.returncode == 2 and bad[0] in out.stderr, (bad, out.stderr)
    r.close()
    code, text = b.stop()
    assert code == 0
    assert fbtest.summary(text)['length'] == 20


def test_curve_right_key_only():
    server_pub, server_sec = zmq.curve_keypair()
    good_pub, good_sec = zmq.curve_keypair()
    evil_pub, evil_sec = zmq.curve_keypair()
    d = tempfile.TemporaryDirectory()
    keys = os.path.join(d.name, 'clients')
    with open(keys, 'w') as f:
        f.write('# allowed robots\n%s\n' % good_pub.decode())
    b = Brain(link_extra='  curve_secret_key: "%s"\n  curve_public_key: "%s"\n'
              '  curve_client_keys: "%s"\n' % (server_sec.decode(), server_pub.decode(), keys))
    good = b.robot(curve=(server_pub, good_pub, good_sec))
    evil = b.robot(curve=(server_pub, evil_pub, evil_sec))
    plain = b.robot()
    if good.recv(5000) is None:
        b.stop()
        raise AssertionError('the allowed client got no motors')
    for i in range(10):
        for r in (evil, plain):  # never connected: a blocking send would hang
            try:
                r.push.send(rc.encode(rc.SENSORS, 1, i + 1, sensors(i)), zmq.NOBLOCK)
            except zmq.Again:
                pass
        m = exchange(good, sensors(i))
        assert m['flags'] == 0
    # The others were never let in: nothing arrived for them in all this time.
    assert evil.recv(500) is None and plain.recv(100) is None
    for r in (good, evil, plain):
        r.close()
    code, text = b.stop()
    assert code == 0
    assert summary(text)['received'] == 10


def test_non_loopback_without_curve_warns():
    d = tempfile.TemporaryDirectory()
    cfg = os.path.join(d.name, 'c.yaml')
    with open(cfg, 'w') as f:
        f.write('brain:\n  size: 8\n  channels: 16\n  backend: cpu\ntelemetry:\n  enabled: false\ncontrol:\n  enabled: false\n'
                'link:\n  sensor_endpoint: "tcp://0.0.0.0:%d"\n  motor_endpoint: "tcp://127.0.0.1:%d"\n'
                % (free_port(), free_port()))
    p = subprocess.Popen([FIELDBRAIN, 'run', '--config', cfg], stderr=subprocess.PIPE, text=True)
    err = ''
    for line in p.stderr:  # the banner comes after the warning and the signal handlers
        err += line
        if line.startswith('fieldbrain ') and 'field,' in line:
            break
    p.send_signal(signal.SIGINT)
    err += p.stderr.read()
    p.wait(timeout=30)
    assert p.returncode == 0, err
    assert 'not a loopback address and CURVE is off' in err, err
    assert err.count('not a loopback address') == 1, err
    # fieldbrain-config check says the same, and the control socket's too
    tool = os.path.join(os.path.dirname(FIELDBRAIN), 'fieldbrain-config')
    out = subprocess.run([tool, 'check', cfg], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and 'warning: link.sensor_endpoint: tcp://0.0.0.0:' in out.stderr, out.stderr
    with open(cfg, 'a') as f:
        f.write('control:\n  enabled: true\n  endpoint: "tcp://0.0.0.0:%d"\n' % free_port())
    text = open(cfg).read().replace('control:\n  enabled: false\n', '')
    with open(cfg, 'w') as f:
        f.write(text)
    out = subprocess.run([tool, 'check', cfg], capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and 'warning: control.endpoint: tcp://0.0.0.0:' in out.stderr, out.stderr


if __name__ == '__main__':
    globals()['test_' + sys.argv[3]]()
    print('ok')
