#!/usr/bin/python3
"""test_telemetry_curve.py: telemetry under CURVE, end to end over real
sockets on 127.0.0.1. With CURVE on the link, telemetry takes the link's
server key and allow-list: a subscriber without keys, or with a key not on
the list, gets nothing; one with an allowed key gets stats; the monitor and
the recorder connect with --keys. Telemetry's own keys, and the explicit
telemetry.unencrypted, are tested too.
Usage: test_telemetry_curve.py FIELDBRAIN MONITOR RECORD ROBOT_CLIENT_PY README TEST"""
import json, os, re, signal, subprocess, sys, tempfile, threading, time
import zmq

FIELDBRAIN, MONITOR, RECORD, CLIENT, README = sys.argv[1:6]
sys.path.insert(0, os.path.dirname(os.path.abspath(CLIENT)))
import robot_client as rc  # noqa: E402
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fbtest import free_port  # noqa: E402

SENSORS = 16
TIMEOUT_S = 20   # how long to wait for something that must come
NOTHING_S = 3    # how long a stranger is watched for getting nothing


def keypair():
    pub, sec = zmq.curve_keypair()
    return pub.decode(), sec.decode()


class Brain:
    """A fieldbrain with a small CPU field on fresh ports. link_curve: the
    link is a CURVE server with its own key pair and an allow-list holding
    the robot's and the viewer's keys; telemetry: extra telemetry keys."""

    def __init__(self, link_curve=True, telemetry=''):
        self.dir = tempfile.TemporaryDirectory()
        self.sensor = 'tcp://127.0.0.1:%d' % free_port()
        self.motor = 'tcp://127.0.0.1:%d' % free_port()
        self.tele = 'tcp://127.0.0.1:%d' % free_port()
        self.server = keypair()
        self.robot_keys = keypair()
        self.viewer = keypair()     # on the allow-list
        self.stranger = keypair()   # not on it
        link = ''
        if link_curve:
            clients = self.path('clients')
            with open(clients, 'w') as f:
                f.write('# robot, then the viewer\n%s\n\n%s  laptop\n'
                        % (self.robot_keys[0], self.viewer[0]))
            link = ('  curve_secret_key: "%s"\n  curve_public_key: "%s"\n  curve_client_keys: "%s"\n'
                    % (self.server[1], self.server[0], clients))
        self.link_curve = link_curve
        cfg = self.path('brain.yaml')
        with open(cfg, 'w') as f:
            f.write('brain:\n  size: 8\n  channels: 16\n  backend: cpu\n  threads: 1\n'
                    'loop:\n  rate_hz: 100\n  stats_window: 50\n'
                    'link:\n  sensor_endpoint: "%s"\n  motor_endpoint: "%s"\n%s'
                    'telemetry:\n  enabled: true\n  endpoint: "%s"\n  every: 2\n  slice_every: 0\n%s'
                    'checkpoint:\n  on_exit: false\ncontrol:\n  enabled: false\n'
                    % (self.sensor, self.motor, link, self.tele, telemetry))
        self.err = open(self.path('stderr'), 'w+')
        self.p = subprocess.Popen([FIELDBRAIN, 'run', '--config', cfg], stderr=self.err)
        self.go = True
        self.feeder = threading.Thread(target=self.feed, daemon=True)
        self.feeder.start()

    def path(self, name):
        return os.path.join(self.dir.name, name)

    def feed(self):
        """A robot on the link (with its allowed key when the link is CURVE)."""
        curve = None
        if self.link_curve:
            curve = tuple(k.encode() for k in (self.server[0],) + self.robot_keys)
        robot = rc.Robot(self.sensor, self.motor, curve=curve)
        k = 0
        while self.go:
            k += 1
            try:
                robot.push.send(rc.encode(rc.SENSORS, 1, k, [0.1 * (k % 5)] * SENSORS), zmq.NOBLOCK)
            except zmq.Again:
                pass
            time.sleep(0.005)
        robot.close()

    def subscriber(self, server_key=None, pair=None):
        """A SUB socket on the telemetry endpoint for stats; CURVE when a
        server key and a (public, secret) pair are given."""
        s = zmq.Context.instance().socket(zmq.SUB)
        s.linger = 0
        if server_key:
            s.curve_serverkey = server_key.encode()
            s.curve_publickey, s.curve_secretkey = pair[0].encode(), pair[1].encode()
        s.connect(self.tele)
        s.setsockopt(zmq.SUBSCRIBE, b'stats')
        return s

    def keys_file(self, server_key, pair, name='viewer.keys'):
        path = self.path(name)
        with open(path, 'w', newline='') as f:
            f.write('# fieldbrain-monitor keys\r\nserver-key %s\r\npublic-key %s\r\n\r\nsecret-key %s\r\n'
                    % (server_key, pair[0], pair[1]))
        return path

    def stop(self):
        self.go = False
        self.feeder.join()
        self.p.send_signal(signal.SIGTERM)
        code = self.p.wait(timeout=30)
        self.err.seek(0)
        text = self.err.read()
        sys.stderr.write(text)
        return code, text


def stats_from(sub, timeout_s=TIMEOUT_S):
    """The first stats message with the robot's link up, or None."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not sub.poll(100):
            continue
        frames = sub.recv_multipart()
        msg = json.loads(frames[1])
        if frames[0] == b'stats' and msg['links'][0]['state'] == 'up':
            return msg
    return None


def nothing_from(sub, timeout_s=NOTHING_S):
    return sub.poll(int(timeout_s * 1000)) == 0


def test_without_keys_nothing_arrives():
    b = Brain()
    try:
        plain = b.subscriber()
        allowed = b.subscriber(b.server[0], b.viewer)
        # Once the brain publishes (the allowed one gets stats), a subscriber
        # without keys still gets nothing: its handshake fails.
        first = stats_from(allowed)
        assert nothing_from(plain), 'a subscriber without keys got telemetry'
        assert first is not None, 'the allowed subscriber got no stats'
    finally:
        code, _ = b.stop()
    assert code == 0


def test_allowed_key_gets_stats():
    b = Brain()
    try:
        sub = b.subscriber(b.server[0], b.viewer)
        msg = stats_from(sub)
        assert msg is not None, 'the allowed subscriber got no stats'
        assert msg['type'] == 'stats' and msg['input']['received'] > 0, msg
    finally:
        code, _ = b.stop()
    assert code == 0


def test_key_not_on_the_list_gets_nothing():
    b = Brain()
    try:
        stranger = b.subscriber(b.server[0], b.stranger)
        allowed = b.subscriber(b.server[0], b.viewer)
        assert stats_from(allowed) is not None, 'the allowed subscriber got no stats'
        assert nothing_from(stranger), 'a key not on the allow-list got telemetry'
    finally:
        code, _ = b.stop()
    assert code == 0


def test_monitor_and_recorder_need_the_keys():
    b = Brain()
    try:
        sub = b.subscriber(b.server[0], b.viewer)
        assert stats_from(sub) is not None
        keys = b.keys_file(b.server[0], b.viewer)
        out = subprocess.run([MONITOR, b.tele, '--once', '--keys', keys], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out
        assert 'robot 1' in out.stdout and 'link up' in out.stdout, out.stdout
        out = subprocess.run([MONITOR, b.tele, '--once', '--timeout', '2'], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 1 and 'nothing received from' in out.stderr, out
        bad = b.keys_file(b.server[0], b.stranger, 'stranger.keys')
        out = subprocess.run([MONITOR, b.tele, '--once', '--timeout', '2', '--keys', bad],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 1, out
        rec = b.path('rec')
        out = subprocess.run([RECORD, b.tele, rec, '--keys', keys, '--duration', '2'],
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out
        with open(os.path.join(rec, 'stats.jsonl')) as f:
            assert len(f.readlines()) > 0, 'the recorder with the keys recorded no stats'
        # A file whose public key is not the secret key's is refused at once.
        mixed = b.keys_file(b.server[0], (b.viewer[0], b.stranger[1]), 'mixed.keys')
        out = subprocess.run([MONITOR, b.tele, '--once', '--keys', mixed], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 2 and 'public-key is not the public key of secret-key' in out.stderr, out
    finally:
        code, _ = b.stop()
    assert code == 0


def test_telemetry_own_keys():
    """Telemetry's own server key and allow-list, the link without CURVE."""
    own_server, own_viewer = keypair(), keypair()
    d = tempfile.TemporaryDirectory()
    clients = os.path.join(d.name, 'viewers')
    with open(clients, 'w') as f:
        f.write('%s\n' % own_viewer[0])
    b = Brain(link_curve=False,
              telemetry='  curve_secret_key: "%s"\n  curve_public_key: "%s"\n  curve_client_keys: "%s"\n'
              % (own_server[1], own_server[0], clients))
    try:
        plain = b.subscriber()
        stranger = b.subscriber(own_server[0], b.viewer)
        allowed = b.subscriber(own_server[0], own_viewer)
        assert stats_from(allowed) is not None, 'the allowed subscriber got no stats'
        assert nothing_from(plain) and nothing_from(stranger, 0.5)
    finally:
        code, _ = b.stop()
    assert code == 0


def test_unencrypted_is_explicit_and_warned():
    b = Brain(telemetry='  unencrypted: true\n')
    try:
        plain = b.subscriber()
        assert stats_from(plain) is not None, 'telemetry.unencrypted: the plain subscriber got nothing'
    finally:
        code, text = b.stop()
    assert code == 0
    assert 'warning: telemetry.unencrypted' in text, text


def test_readme_subscriber_example_with_keys():
    blocks = re.findall(r'```python\n(.*?)```', open(README).read(), re.S)
    assert len(blocks) == 1, 'README must hold one python block'
    b = Brain()
    script = b.path('subscriber.py')
    with open(script, 'w') as f:
        f.write(blocks[0])
    try:
        keys = b.keys_file(b.server[0], b.viewer)
        out = subprocess.run(['/usr/bin/python3', script, b.tele, '3', keys], capture_output=True,
                             text=True, timeout=60)
        assert out.returncode == 0, out
        assert len(out.stdout.strip().splitlines()) == 3, out.stdout
        # Without the key file the same script gets nothing and keeps waiting.
        try:
            out = subprocess.run(['/usr/bin/python3', script, b.tele, '1'], capture_output=True,
                                 text=True, timeout=NOTHING_S + 4)
            raise AssertionError('the README subscriber without keys got telemetry: %r' % (out,))
        except subprocess.TimeoutExpired:
            pass
    finally:
        code, _ = b.stop()
    assert code == 0


def test_config_refuses_half_keys_and_contradictions():
    pub, sec = keypair()
    cases = [
        ('telemetry:\n  curve_secret_key: "%s"\n' % sec,
         'telemetry.curve_public_key: missing'),
        ('telemetry:\n  curve_client_keys: "viewers"\n',
         'telemetry.curve_client_keys: needs telemetry.curve_secret_key'),
        ('telemetry:\n  unencrypted: true\n  curve_secret_key: "%s"\n  curve_public_key: "%s"\n'
         % (sec, pub), 'telemetry.unencrypted: true contradicts telemetry.curve_secret_key'),
    ]
    d = tempfile.TemporaryDirectory()
    cfg = os.path.join(d.name, 'c.yaml')
    for text, want in cases:
        with open(cfg, 'w') as f:
            f.write('brain:\n  size: 8\n  channels: 16\n  backend: cpu\n' + text)
        out = subprocess.run([FIELDBRAIN, 'run', '--config', cfg], capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 2 and want in out.stderr, (want, out)
        assert sec not in out.stderr, 'a secret key was printed'


if __name__ == '__main__':
    globals()['test_' + sys.argv[6]]()
    print('passed')
