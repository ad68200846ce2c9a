#!/usr/bin/python3
"""test_control.py: the control socket of the real fieldbrain program and the
fieldbrain-ctl client over real sockets on 127.0.0.1 (io/CONTROL.md): set,
get and status, refusals, an unreachable brain, save and --resume, pause and
resume, reset, --json, the telemetry event, telemetry's rates and slice
changed live, CURVE with an allow-list; with a fleet of three robots: set,
get, pause and save for one robot or every robot, --resume-fleet, and an
unknown robot refused.
Usage: test_control.py FIELDBRAIN FIELDBRAIN_CTL ROBOT_CLIENT_PY TEST"""
import atexit, json, math, os, signal, subprocess, sys, tempfile, time
import numpy as np
import zmq

FIELDBRAIN, CTL, CLIENT = sys.argv[1], sys.argv[2], sys.argv[3]
sys.path.insert(0, os.path.dirname(os.path.abspath(CLIENT)))
import robot_client as rc  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fbtest import free_port  # noqa: E402


class Brain:
    """A fieldbrain process with a small CPU field, telemetry and control on
    fresh ports."""

    def __init__(self, link_extra='', resume=None, mode='fixed_rate', robots=(), ckpt=None,
                 extra_args=(), telemetry=True, rate_hz=100):
        self.dir = tempfile.TemporaryDirectory()
        ep = lambda: 'tcp://127.0.0.1:%d' % free_port()  # noqa: E731
        self.sensor, self.motor, self.telemetry, self.control = ep(), ep(), ep(), ep()
        self.ckpt = ckpt or os.path.join(self.dir.name, 'ckpt')
        cfg = os.path.join(self.dir.name, 'brain.yaml')
        with open(cfg, 'w') as f:
            f.write('brain:\n  size: 8\n  channels: 16\n  backend: cpu\n  threads: 1\n'
                    'loop:\n  mode: %s\n  rate_hz: %g\n  stats_window: 100\n'
                    'link:\n  sensor_endpoint: "%s"\n  motor_endpoint: "%s"\n%s'
                    'telemetry:\n  enabled: %s\n  endpoint: "%s"\n  every: 1\n  slice_every: 0\n'
                    'checkpoint:\n  path: "%s"\n  on_exit: false\n'
                    'control:\n  endpoint: "%s"\n'
                    % (mode, rate_hz, self.sensor, self.motor, link_extra, str(telemetry).lower(),
                       self.telemetry, self.ckpt, self.control))
            if robots:
                f.write('robots:\n' + ''.join('  - id: %d\n' % r for r in robots))
        self.err = open(os.path.join(self.dir.name, 'stderr'), 'w+')
        args = [FIELDBRAIN, 'run', '--config', cfg] + (['--resume', resume] if resume else [])
        args += list(extra_args)
        self.p = subprocess.Popen(args, stderr=self.err)
        atexit.register(self.p.kill)  # a failed assertion leaves no brain running
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # the banner: every socket is bound
            self.err.seek(0)
            if 'field,' in self.err.read():
                return
            assert self.p.poll() is None, 'fieldbrain exited'
            time.sleep(0.05)
        raise AssertionError('no banner')

    def ctl(self, *args, json_out=False, timeout_ms=3000, extra=()):
        cmd = [CTL, '--endpoint', self.control, '--timeout-ms', str(timeout_ms)] + list(extra)
        cmd += ['--json'] if json_out else []
        out = subprocess.run(cmd + list(args), capture_output=True, text=True, timeout=30)
        return out.returncode, out.stdout, out.stderr

    def stop(self):
        self.p.send_signal(signal.SIGTERM)
        code = self.p.wait(timeout=30)
        self.err.seek(0)
        text = self.err.read()
        sys.stderr.write(text)
        return code, text


def one_sentence(err):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith('fieldbrain-ctl: '), err
    return lines[0]


def test_set_get_status_and_the_event():
    b = Brain()
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b'event')
    sub.connect(b.telemetry)
    time.sleep(0.3)
    code, out, err = b.ctl('get', 'brain.motor_gain')
    assert code == 0 and out.strip() == '5', (code, out, err)
    code, out, err = b.ctl('set', 'brain.motor_gain', '50', json_out=True)
    assert code == 0, err
    r = json.loads(out)
    assert r['ok'] and r['v'] == 1 and r['old'] == '5' and r['value'] == '50' and r['cycle'] > 0, r
    code, out, err = b.ctl('get', 'brain.motor_gain')
    assert code == 0 and out.strip() == '50', (out, err)
    code, out, err = b.ctl('status', json_out=True)
    s = json.loads(out)
    assert code == 0 and s['ok'] and s['backend'] == 'cpu' and s['robots'] == [1], s
    assert s['cycle'] >= r['cycle'] and s['rate_hz'] == 100 and not s['paused'], s
    code, out, err = b.ctl('status')
    assert code == 0 and out.startswith('cycle ') and 'fixed_rate at 100 Hz' in out, out
    # the rate changes from the next tick
    code, out, err = b.ctl('set', 'loop.rate_hz', '200')
    assert code == 0 and 'loop.rate_hz: 100 -> 200 from cycle' in out, (out, err)
    code, out, err = b.ctl('status', json_out=True)
    assert json.loads(out)['rate_hz'] == 200
    # the change arrives as a telemetry event naming the key, the values and the cycle
    found = None
    deadline = time.monotonic() + 5
    while found is None and time.monotonic() < deadline:
        if sub.poll(200):
            topic, body = sub.recv_multipart()[:2]
            e = json.loads(body)
            if e['kind'] == 'param_changed' and e['detail'].startswith('brain.motor_gain'):
                found = e
    assert found, 'no param_changed event'
    assert found['detail'] == 'brain.motor_gain 5 -> 50' and found['cycle'] == r['cycle'], found
    ctx.destroy(linger=0)
    code, text = b.stop()
    assert code == 0 and 'brain.motor_gain changed from 5 to 50' in text


def test_telemetry_rates_and_slice_change_live():
    b = Brain()
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    for t in (b'stats', b'slice', b'event'):
        sub.setsockopt(zmq.SUBSCRIBE, t)
    sub.connect(b.telemetry)
    time.sleep(0.3)

    def collect(until, want):
        """Messages by topic until want(got) or the deadline."""
        got = {'stats': [], 'slice': [], 'event': []}
        deadline = time.monotonic() + until
        while time.monotonic() < deadline and not want(got):
            if sub.poll(100):
                frames = sub.recv_multipart()
                got[frames[0].decode()].append((json.loads(frames[1]), frames[2:]))
        return got

    code, out, err = b.ctl('set', 'telemetry.every', '2', json_out=True)
    assert code == 0, err
    r = json.loads(out)
    assert r['ok'] and r['old'] == '1' and r['value'] == '2' and r['cycle'] > 0, r
    got = collect(10, lambda g: sum(1 for m, _ in g['stats'] if m['cycle'] >= r['cycle']) >= 10)
    after = [m for m, _ in got['stats'] if m['cycle'] >= r['cycle']]
    assert len(after) >= 10, got['stats'][-3:]
    cycles = [m['cycle'] for m in after]
    assert all(c % 2 == 0 for c in cycles) and all(m['every'] == 2 for m in after), cycles
    assert all(b_ - a == 2 for a, b_ in zip(cycles, cycles[1:])), cycles  # no drops at 100 Hz
    before = [m['cycle'] for m, _ in got['stats'] if m['cycle'] < r['cycle']]
    assert all(m['every'] == 1 for m, _ in got['stats'] if m['cycle'] < r['cycle']), before
    # the change is an event like the brain's, from the cycle the reply named
    ev = [m for m, _ in got['event'] if m['kind'] == 'param_changed']
    assert ev and ev[0]['detail'] == 'telemetry.every 1 -> 2' and ev[0]['cycle'] == r['cycle'], ev
    code, out, err = b.ctl('get', 'telemetry.every', json_out=True)
    g = json.loads(out)
    assert code == 0 and g['value'] == '2' and g['live'], g

    # slices on (off at start: the slot is there anyway), then across x
    assert b.ctl('set', 'telemetry.slice_every', '5')[0] == 0
    code, out, err = b.ctl('set', 'telemetry.slice_axis', '0', json_out=True)
    assert code == 0, err
    ra = json.loads(out)
    got = collect(10, lambda g: sum(1 for m, _ in g['slice'] if m['cycle'] >= ra['cycle']) >= 3)
    xs = [(m, f) for m, f in got['slice'] if m['cycle'] >= ra['cycle']]
    assert len(xs) >= 3, [m for m, _ in got['slice']]
    for m, frames in xs:
        assert m['axis'] == 'x' and m['index'] == 4 and m['width'] == 8 and m['height'] == 8, m
        assert m['horizontal'] == 'y' and m['vertical'] == 'z' and m['cycle'] % 5 == 0, m
        assert frames and frames[0][:8] == b'\x89PNG\r\n\x1a\n', m
    # slices before the change were z slices, labelled so
    assert all(m['axis'] == 'z' for m, _ in got['slice'] if m['cycle'] < ra['cycle'])

    # config's checks, and what stays fixed
    code, out, err = b.ctl('set', 'telemetry.slice_index', '8')
    assert code == 1 and 'telemetry.slice_index: 8 is outside the field' in one_sentence(err), err
    code, out, err = b.ctl('set', 'telemetry.every', '0')
    assert code == 1 and 'telemetry.every' in one_sentence(err), err
    code, out, err = b.ctl('set', 'telemetry.endpoint', 'tcp://127.0.0.1:1')
    assert code == 1 and 'cannot change while the brain runs' in one_sentence(err), err
    code, out, err = b.ctl('get', 'telemetry.slice_index')
    assert code == 0 and out.strip() == '-1', out
    ctx.destroy(linger=0)
    assert b.stop()[0] == 0


def test_refused_keys_exit_1_with_a_sentence():
    b = Brain()
    code, out, err = b.ctl('set', 'brain.size', '9')
    line = one_sentence(err)
    assert code == 1 and 'brain.size: cannot change while the brain runs' in line and 'restart' in line, err
    code, out, err = b.ctl('set', 'brain.seed', '3')
    assert code == 1 and 'random draw' in one_sentence(err), err
    code, out, err = b.ctl('set', 'link.sensor_endpoint', 'tcp://127.0.0.1:1')
    assert code == 1 and 'cannot change while the brain runs' in one_sentence(err), err
    code, out, err = b.ctl('set', 'brain.decay', '3')
    assert code == 1 and one_sentence(err) == \
        'fieldbrain-ctl: brain.decay: 3 is out of range (allowed 0 to 1)', err
    code, out, err = b.ctl('set', 'brain.motor_gain', 'fast')
    assert code == 1 and 'brain.motor_gain' in one_sentence(err), err
    code, out, err = b.ctl('get', 'brain.motor_gian')
    assert code == 1 and 'motor_gain' in one_sentence(err), err
    code, out, err = b.ctl('set', 'brain.momentum_gain', '0.1', json_out=True)
    assert code == 0 and 'saturate' in json.loads(out)['warning'], out
    # nothing changed by the refusals
    code, out, err = b.ctl('get', 'brain.decay')
    assert out.strip() == '0.995'
    assert b.stop()[0] == 0


def test_malformed_requests_are_refused_and_nothing_changes():
    b = Brain()
    ctx = zmq.Context()

    def req_socket():
        s = ctx.socket(zmq.REQ)
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVTIMEO, 3000)
        s.connect(b.control)
        return s

    req = req_socket()

    def ask(body):
        req.send(body if isinstance(body, bytes) else json.dumps(body).encode())
        return json.loads(req.recv())

    def refused(body, sentence, rid=None):
        r = ask(body)
        assert r['ok'] is False and r['error'] == sentence and r['id'] == rid, (body, r)

    # too long (up to what the socket takes at all), and two frames
    refused(b'{' + b' ' * 4999, 'request: 5000 bytes is too long (allowed up to 4096)')
    dealer = ctx.socket(zmq.DEALER)
    dealer.setsockopt(zmq.LINGER, 0)
    dealer.setsockopt(zmq.RCVTIMEO, 3000)
    dealer.connect(b.control)
    dealer.send_multipart([b'{"v":1,"request":"status"}', b'{}'])
    r = json.loads(dealer.recv())
    assert r['error'] == 'request: 2 frames (a request is one frame)', r
    # over 65536 bytes: ZeroMQ drops the connection, no reply at all
    big = req_socket()
    big.send(b' ' * 70000)
    try:
        big.recv()
        raise AssertionError('a reply to 70000 bytes')
    except zmq.Again:
        pass
    big.close()
    # fields of the wrong type, with NULs, too long
    refused({'v': 1, 'id': {'a': 1}, 'request': 'status'}, 'id: must be a string, a number or null')
    refused({'v': 1, 'id': True, 'request': 'status'}, 'id: must be a string, a number or null')
    refused({'v': 1, 'id': 'x' * 128, 'request': 'status'},
            'id: a UTF-8 string of at most 127 bytes without NUL')
    assert ask({'v': 1, 'id': 'x' * 127, 'request': 'status'})['id'] == 'x' * 127
    refused(b'{"v": 1, "id": "\xff\xfe", "request": "status"}',
            'id: a UTF-8 string of at most 127 bytes without NUL')  # echoed, it would break the reply
    refused({'v': 1, 'id': 3, 'request': 'save', 'path': 5}, 'path: must be a string', 3)
    refused({'v': 1, 'id': 3, 'request': 'status', 'robot': '1'},
            "robot: must be a number (a robot's id)", 3)
    refused({'v': 1, 'request': 'set', 'key': 'brain.motor_gain', 'value': {'x': 1}},
            'value: must be a string, a number or a boolean')
    refused({'v': 1, 'request': 'set', 'key': 'brain.motor_gain\u0000x', 'value': '50'},
            'key: a UTF-8 string of at most 127 bytes without NUL')
    refused({'v': 1, 'request': 'set', 'key': 'brain.motor_gain', 'value': '5' + '0' * 255},
            'value: a UTF-8 string of at most 255 bytes without NUL')
    long_path = os.path.join(b.dir.name, 'p' * 300)
    refused({'v': 1, 'request': 'save', 'path': long_path}, 'path: a UTF-8 string of at most 255 bytes without NUL')
    refused({'v': 1, 'request': 'save', 'path': b.ckpt + '\u0000.x'},
            'path: a UTF-8 string of at most 255 bytes without NUL')
    assert not os.path.exists(long_path[:255] + '.json')
    assert ask({'v': 1, 'request': 'get', 'key': 'brain.motor_gain'})['value'] == '5'
    # escapes decoded as JSON writes them: json.dumps sends \u00e9 for é
    path = os.path.join(b.dir.name, 'caf\u00e9-\U0001F916')
    r = ask({'v': 1, 'request': 'save', 'path': path})
    assert r['ok'] and r['path'] == path, r
    assert os.path.exists(path + '.json'), os.listdir(b.dir.name)
    # live: what set may change in this brain now
    assert ask({'v': 1, 'request': 'get', 'key': 'telemetry.every'})['live'] is True
    assert ask({'v': 1, 'request': 'get', 'key': 'loop.rate_hz'})['live'] is True
    assert ask({'v': 1, 'request': 'get', 'key': 'brain.size'})['live'] is False
    req.close()
    dealer.close()
    ctx.destroy(linger=0)
    assert b.stop()[0] == 0


def test_live_follows_what_set_takes_with_telemetry_off_and_in_lockstep():
    for brain, key in ((Brain(telemetry=False), 'telemetry.every'), (Brain(mode='lockstep'), 'loop.rate_hz')):
        code, out, err = brain.ctl('get', key, json_out=True)
        assert code == 0 and json.loads(out)['live'] is False, out
        code, out, err = brain.ctl('set', key, '4')
        assert code == 1 and key in one_sentence(err), err
        assert brain.stop()[0] == 0


def test_a_slow_loop_takes_a_change_at_its_next_cycle():
    """At 0.15 Hz a cycle comes every 6.7 s, more than the 5 s a request
    waits at least: it waits two periods, and what it says is what holds."""
    b = Brain(rate_hz=0.15)
    code, out, err = b.ctl('set', 'brain.motor_gain', '7', timeout_ms=30000)
    assert code == 0 and 'brain.motor_gain: 5 -> 7' in out, (code, out, err)
    assert b.ctl('get', 'brain.motor_gain')[1].strip() == '7'
    assert b.stop()[0] == 0


def test_ctl_refuses_a_bad_robot_or_timeout_with_exit_2():
    b = Brain()
    for extra in (['--robot', 'abc'], ['--robot', '1x'], ['--robot', '-1'], ['--robot', '4294967296'],
                  ['--timeout-ms', '0'], ['--timeout-ms', '12ms']):
        code, out, err = b.ctl('status', extra=extra)
        assert code == 2 and extra[0] in one_sentence(err), (extra, code, err)
    assert b.ctl('status', extra=['--robot', '1'])[0] == 0
    assert b.stop()[0] == 0


def test_unreachable_endpoint_exits_2_within_the_timeout():
    t0 = time.monotonic()
    out = subprocess.run([CTL, '--endpoint', 'tcp://127.0.0.1:%d' % free_port(), '--timeout-ms', '500',
                          'status'], capture_output=True, text=True, timeout=30)
    took = time.monotonic() - t0
    assert out.returncode == 2 and took < 3, (out.returncode, took)
    assert 'could not reach' in one_sentence(out.stderr), out.stderr
    out = subprocess.run([CTL, 'frobnicate'], capture_output=True, text=True, timeout=30)
    assert out.returncode == 2


def events_of(sub, kind, n, timeout_s=5):
    """The next n telemetry events of kind from sub."""
    got, deadline = [], time.monotonic() + timeout_s
    while len(got) < n and time.monotonic() < deadline:
        if sub.poll(100):
            e = json.loads(sub.recv_multipart()[1])
            if e['kind'] == kind:
                got.append(e)
    assert len(got) == n, (kind, got)
    return got


def test_save_writes_a_loadable_checkpoint_and_resume_keeps_the_change():
    b = Brain()
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b'event')
    sub.connect(b.telemetry)
    time.sleep(0.3)
    assert b.ctl('set', 'brain.motor_gain', '42')[0] == 0
    path = os.path.join(b.dir.name, 'saved')
    code, out, err = b.ctl('save', path, json_out=True)
    assert code == 0, err
    r = json.loads(out)
    assert r['path'] == path and r['brain_cycle'] > 0
    side = json.load(open(path + '.json'))  # on disk when the reply came
    field = np.load(os.path.join(b.dir.name, side['field_file']))
    assert field.shape == (8, 8, 8, 16) and np.isfinite(field).all()
    assert side['cycle'] == r['brain_cycle']
    # the save is an event as an autosave is, naming the cycle saved
    assert events_of(sub, 'checkpoint_written', 1)[0]['count'] == r['brain_cycle']
    code, out, err = b.ctl('save')  # to checkpoint.path
    assert code == 0 and out.startswith('saved ' + b.ckpt), out
    events_of(sub, 'checkpoint_written', 1)
    # a path it cannot write: refused, and the event says it failed
    code, out, err = b.ctl('save', os.path.join(b.dir.name, 'no', 'such', 'dir', 'x'))
    assert code == 1, (out, err)
    events_of(sub, 'checkpoint_failed', 1)
    # a reset's event names the first brain cycle of the fresh field, as its reply does
    code, out, err = b.ctl('reset', json_out=True)
    assert code == 0, err
    assert events_of(sub, 'reset', 1)[0]['count'] == json.loads(out)['brain_cycle']
    ctx.destroy(linger=0)
    code, text = b.stop()
    assert code == 0 and text.count('event checkpoint_written') == 2, text
    c = Brain(resume=path)
    code, out, err = c.ctl('get', 'brain.motor_gain')
    assert code == 0 and out.strip() == '42', (out, err)
    assert c.ctl('status', json_out=True)[0] == 0
    code, text = c.stop()
    assert code == 0 and 'resumed %s at brain cycle %d' % (path, r['brain_cycle']) in text, text


def test_pause_stops_the_motors_resume_and_reset_step_again():
    b = Brain(mode='lockstep')
    robot = rc.Robot(b.sensor, b.motor)
    robot.recv(3000)  # the lockstep heartbeat: subscribed

    def answer(i):
        seq = robot.send([math.sin(0.1 * i + k) for k in range(16)])
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            m = robot.recv(100)
            if m is not None and m['answer_seq'] == seq:
                return m
        raise AssertionError('no answer')

    for i in range(5):
        m = answer(i)
        assert not (m['flags'] & rc.STOP) and any(v != 0 for v in m['values'])
    code, out, err = b.ctl('pause', json_out=True)
    assert code == 0 and json.loads(out)['ok'], err
    before = json.loads(b.ctl('status', json_out=True)[1])
    assert before['paused']
    for i in range(5, 10):
        m = answer(i)
        assert m['flags'] & rc.STOP and all(v == 0 for v in m['values']), m
    after = json.loads(b.ctl('status', json_out=True)[1])
    assert after['brain_cycle'] == before['brain_cycle'], (before, after)  # it did not step
    code, out, err = b.ctl('resume')
    assert code == 0 and out.startswith('resumed from cycle'), out
    m = answer(10)
    assert not (m['flags'] & rc.STOP) and any(v != 0 for v in m['values'])
    code, out, err = b.ctl('reset', json_out=True)
    assert code == 0 and json.loads(out)['ok'], err
    m = answer(11)
    assert not (m['flags'] & rc.STOP)
    robot.close()
    code, text = b.stop()
    assert code == 0 and 'event paused' in text and 'event reset' in text


def test_curve_allowed_client_only():
    server_pub, server_sec = zmq.curve_keypair()
    good_pub, good_sec = zmq.curve_keypair()
    evil_pub, evil_sec = zmq.curve_keypair()
    d = tempfile.TemporaryDirectory()
    keys = os.path.join(d.name, 'clients')
    with open(keys, 'w') as f:
        f.write('# allowed\n%s\n' % good_pub.decode())
    b = Brain(link_extra='  curve_secret_key: "%s"\n  curve_public_key: "%s"\n'
              '  curve_client_keys: "%s"\n' % (server_sec.decode(), server_pub.decode(), keys))
    good = ['--server-key', server_pub.decode(), '--public-key', good_pub.decode(),
            '--secret-key', good_sec.decode()]
    evil = ['--server-key', server_pub.decode(), '--public-key', evil_pub.decode(),
            '--secret-key', evil_sec.decode()]
    code, out, err = b.ctl('get', 'brain.motor_gain', extra=good)
    assert code == 0 and out.strip() == '5', err
    # a stranger and a plain client get nothing at all
    assert b.ctl('status', extra=evil, timeout_ms=700)[0] == 2
    assert b.ctl('status', timeout_ms=700)[0] == 2
    assert b.ctl('set', 'brain.motor_gain', '7', extra=evil, timeout_ms=700)[0] == 2
    code, out, err = b.ctl('get', 'brain.motor_gain', extra=good)
    assert out.strip() == '5'
    # the secret key is never shown
    code, out, err = b.ctl('get', 'link.curve_secret_key', extra=good)
    assert code == 0 and server_sec.decode() not in out
    assert b.stop()[0] == 0


# ---- a fleet of three robots ----

FLEET = (1, 2, 3)


class Fleet:
    """The Python robots of a lockstep fleet, each answered on its own."""

    def __init__(self, b):
        self.robots = {r: rc.Robot(b.sensor, b.motor, robot=r) for r in FLEET}
        for r in self.robots.values():
            assert r.recv(3000) is not None  # the lockstep heartbeat: subscribed
        self.i = 0

    def answer(self, robot):
        """Sends robot one vector; its motor message answering it."""
        r = self.robots[robot]
        self.i += 1
        seq = r.send([math.sin(0.1 * self.i + k) for k in range(16)])
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            m = r.recv(100)
            if m is not None and m['answer_seq'] == seq:
                assert m['robot'] == robot, m
                return m
        raise AssertionError('no answer for robot %d' % robot)

    def step(self, n=3):
        """n answers for each robot: {robot: the last motor message}."""
        last = {}
        for _ in range(n):
            for robot in FLEET:
                last[robot] = self.answer(robot)
        return last

    def close(self):
        for r in self.robots.values():
            r.close()


def test_fleet_set_for_one_robot_or_every_robot():
    b = Brain(mode='lockstep', robots=FLEET)
    f = Fleet(b)
    before = f.step()
    assert all(any(v != 0 for v in m['values']) for m in before.values())
    # one robot: only its brain changes (motor_gain 0: its motors are tanh(0) = 0)
    code, out, err = b.ctl('set', 'brain.motor_gain', '0', json_out=True, extra=['--robot', '2'])
    assert code == 0, err
    r = json.loads(out)
    assert r['old'] == '5' and r['value'] == '0' and 'by_robot' not in r, r
    after = f.step()
    assert all(v == 0 for v in after[2]['values']) and not after[2]['flags'] & rc.STOP, after[2]
    assert after[2]['seq'] == r['cycle'] + 2, (after[2], r)  # three answers from r's cycle on
    for robot in (1, 3):
        assert any(v != 0 for v in after[robot]['values']), after[robot]
    assert b.ctl('get', 'brain.motor_gain', extra=['--robot', '2'])[1].strip() == '0'
    assert b.ctl('get', 'brain.motor_gain', extra=['--robot', '3'])[1].strip() == '5'
    # without a robot, get refuses a value the robots do not share, naming each
    code, out, err = b.ctl('get', 'brain.motor_gain')
    assert code == 1 and 'robot 1: 5, robot 2: 0, robot 3: 5' in one_sentence(err), err
    code, out, err = b.ctl('get', 'brain.seed')
    assert code == 1 and 'differ' in one_sentence(err), err
    seeds = [b.ctl('get', 'brain.seed', extra=['--robot', str(robot)])[1].strip() for robot in FLEET]
    assert len(set(seeds)) == 3, seeds
    # every robot: each keeps its own seed and its other values
    assert b.ctl('set', 'brain.decay', '0.99', extra=['--robot', '3'])[0] == 0
    code, out, err = b.ctl('set', 'brain.motor_gain', '7', json_out=True)
    assert code == 0, err
    r = json.loads(out)
    assert r['old'] == '5' and r['value'] == '7', r
    assert [(e['robot'], e['old']) for e in r['by_robot']] == [(1, '5'), (2, '0'), (3, '5')], r
    assert b.ctl('get', 'brain.motor_gain')[1].strip() == '7'
    assert [b.ctl('get', 'brain.seed', extra=['--robot', str(robot)])[1].strip()
            for robot in FLEET] == seeds
    assert b.ctl('get', 'brain.decay', extra=['--robot', '3'])[1].strip() == '0.99'
    assert b.ctl('get', 'brain.decay', extra=['--robot', '1'])[1].strip() == '0.995'
    after = f.step()
    assert all(any(v != 0 for v in m['values']) for m in after.values())
    # checked against each robot as the config file is; the fleet's keys take no robot
    code, out, err = b.ctl('set', 'brain.decay', '3')
    assert code == 1 and one_sentence(err) == \
        'fieldbrain-ctl: brain.decay: 3 is out of range (allowed 0 to 1)', err
    code, out, err = b.ctl('set', 'telemetry.every', '2', extra=['--robot', '2'])
    assert code == 1 and "the whole fleet's" in one_sentence(err), err
    assert b.ctl('set', 'telemetry.every', '2')[0] == 0
    # status: robot 1 where a one-robot brain has it, every robot in by_robot
    code, out, err = b.ctl('status', json_out=True)
    s = json.loads(out)
    assert s['robots'] == [1, 2, 3] and [e['robot'] for e in s['by_robot']] == [1, 2, 3], s
    assert s['cycle'] == s['by_robot'][0]['cycle'] == after[1]['seq'], (s, after[1])
    assert [e['counters']['received'] for e in s['by_robot']] == [9, 9, 9], s
    code, out, err = b.ctl('status')
    assert code == 0 and 'robots 1 2 3' in out and 'robot 3: cycle %d' % after[3]['seq'] in out, out
    f.close()
    code, text = b.stop()
    assert code == 0 and 'brain.motor_gain changed from 5 to 0' in text, text
    assert "brain.motor_gain changed from each robot's own to 7" in text, text


def test_fleet_pause_one_robot_stops_only_its_motors():
    b = Brain(mode='lockstep', robots=FLEET)
    f = Fleet(b)
    f.step(2)
    code, out, err = b.ctl('pause', json_out=True, extra=['--robot', '2'])
    assert code == 0 and json.loads(out)['ok'], err
    s = json.loads(b.ctl('status', json_out=True)[1])
    assert [e['paused'] for e in s['by_robot']] == [False, True, False] and not s['paused'], s
    s2 = json.loads(b.ctl('status', json_out=True, extra=['--robot', '2'])[1])
    assert s2['paused'] and [e['robot'] for e in s2['by_robot']] == [2], s2
    last = f.step()
    assert last[2]['flags'] & rc.STOP and all(v == 0 for v in last[2]['values']), last[2]
    for robot in (1, 3):
        assert not last[robot]['flags'] & rc.STOP and any(v != 0 for v in last[robot]['values'])
    after = json.loads(b.ctl('status', json_out=True)[1])
    assert after['by_robot'][1]['brain_cycle'] == s['by_robot'][1]['brain_cycle']  # it did not step
    assert after['by_robot'][0]['brain_cycle'] == s['by_robot'][0]['brain_cycle'] + 3
    assert b.ctl('resume', extra=['--robot', '2'])[0] == 0
    last = f.step(1)
    assert not last[2]['flags'] & rc.STOP and any(v != 0 for v in last[2]['values'])
    # without a robot: every robot
    assert b.ctl('pause')[0] == 0
    last = f.step(1)
    assert all(m['flags'] & rc.STOP for m in last.values()), last
    assert b.ctl('resume')[0] == 0
    assert b.ctl('reset')[0] == 0
    last = f.step(1)
    assert not any(m['flags'] & rc.STOP for m in last.values()), last
    f.close()
    code, text = b.stop()
    assert code == 0 and text.count('event reset') == 3, text


def test_fleet_save_by_robot_and_for_all_and_resume_fleet():
    b = Brain(mode='lockstep', robots=FLEET)
    f = Fleet(b)
    f.step(2)
    assert b.ctl('set', 'brain.motor_gain', '9', extra=['--robot', '3'])[0] == 0
    f.step(2)
    # one robot, to the path given
    one = os.path.join(b.dir.name, 'two')
    code, out, err = b.ctl('save', one, json_out=True, extra=['--robot', '2'])
    assert code == 0, err
    r = json.loads(out)
    assert r['path'] == one and 'by_robot' not in r and json.load(open(one + '.json'))['cycle'] == 4
    # every robot, to PATH with -ID before .json
    code, out, err = b.ctl('save', os.path.join(b.dir.name, 'all.json'), json_out=True)
    assert code == 0, err
    r = json.loads(out)
    paths = [e['path'] for e in r['by_robot']]
    assert paths == [os.path.join(b.dir.name, 'all-%d.json' % robot) for robot in FLEET], r
    assert r['path'] == paths[0] and all(os.path.exists(p) for p in paths)
    # every robot, each to its own checkpoint (checkpoint.path with -ID): what --resume-fleet reads
    code, out, err = b.ctl('save')
    assert code == 0, err
    lines = out.strip().splitlines()
    assert lines == ['saved %s-%d (robot %d, brain cycle 4)' % (b.ckpt, robot, robot) for robot in FLEET], out
    seeds = [json.load(open('%s-%d.json' % (b.ckpt, robot)))['params']['seed']
             for robot in FLEET]
    assert len(set(seeds)) == 3, seeds
    f.close()
    assert b.stop()[0] == 0
    c = Brain(mode='lockstep', robots=FLEET, ckpt=b.ckpt, extra_args=['--resume-fleet'])
    assert c.ctl('get', 'brain.motor_gain', extra=['--robot', '3'])[1].strip() == '9'
    assert c.ctl('get', 'brain.motor_gain', extra=['--robot', '1'])[1].strip() == '5'
    assert [c.ctl('get', 'brain.seed', extra=['--robot', str(robot)])[1].strip()
            for robot in FLEET] == [str(s) for s in seeds]
    s = json.loads(c.ctl('status', json_out=True)[1])
    assert [e['brain_cycle'] for e in s['by_robot']] == [4, 4, 4], s
    code, text = c.stop()
    assert code == 0 and 'resumed %s-3 at brain cycle 4' % b.ckpt in text, text


def test_fleet_slice_robot_changes_live():
    b = Brain(robots=FLEET)
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b'slice')
    sub.connect(b.telemetry)
    time.sleep(0.3)
    assert b.ctl('set', 'telemetry.slice_every', '5')[0] == 0
    code, out, err = b.ctl('set', 'telemetry.slice_robot', str(FLEET[1]), json_out=True)
    assert code == 0, err
    r = json.loads(out)
    got = []
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and sum(1 for t, m in got if m['cycle'] >= r['cycle']) < 3:
        if sub.poll(100):
            frames = sub.recv_multipart()
            got.append((frames[0].decode(), json.loads(frames[1])))
    after = [(t, m) for t, m in got if m['cycle'] >= r['cycle']]
    assert len(after) >= 3, got
    assert all(m['robot_id'] == FLEET[1] and t == 'slice/%d/' % FLEET[1] for t, m in after), after
    # no robot of the fleet: refused, the slices stay where they are
    code, out, err = b.ctl('set', 'telemetry.slice_robot', '99')
    assert code == 1 and '99' in err, err
    code, out, err = b.ctl('get', 'telemetry.slice_robot')
    assert code == 0 and out.strip().endswith(str(FLEET[1])), out
    sub.close()
    ctx.destroy(linger=0)
    code, _ = b.stop()
    assert code == 0


def test_fleet_unknown_robot_is_refused_naming_the_robots():
    b = Brain(robots=FLEET)
    for what in (['status'], ['get', 'brain.motor_gain'], ['set', 'brain.motor_gain', '1'], ['pause']):
        code, out, err = b.ctl(*what, extra=['--robot', '9'])
        assert code == 1 and one_sentence(err) == \
            'fieldbrain-ctl: robot: 9 is not a robot of this brain (its robots: 1, 2, 3)', err
    assert not json.loads(b.ctl('status', json_out=True)[1])['paused']
    assert b.ctl('get', 'brain.motor_gain')[1].strip() == '5'
    assert b.stop()[0] == 0


if __name__ == '__main__':
    globals()['test_' + sys.argv[4]]()
    print('ok')
