#!/usr/bin/python3
"""test_limits.py: the real fieldbrain program under a low file-descriptor
soft limit with many idle TCP connections to its sensor port: it raises the
soft limit to the hard one at start (and says so), keeps serving a robot
and keeps writing its autosaves. And under floods of subscriptions to its
motor and telemetry sockets: the flooding connections are cut and counted,
its memory stays bounded, robots and subscribers go on being served.
Usage: test_limits.py FIELDBRAIN ROBOT_CLIENT_PY TEST"""
import json, math, os, resource, signal, socket, struct, subprocess, sys, tempfile, time

FIELDBRAIN, CLIENT = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.dirname(os.path.abspath(CLIENT)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import robot_client as rc  # noqa: E402
from fbtest import free_port  # noqa: E402


def write_config(tmp, port, motor, telemetry_port=None, checkpoint='  on_exit: false\n'):
    """TMP/brain.yaml: an 8^3 x 8 CPU brain at 100 Hz on these ports
    (telemetry on telemetry_port, or off), with these checkpoint lines."""
    cfg = os.path.join(tmp, 'brain.yaml')
    telemetry = ('  enabled: true\n  endpoint: "tcp://127.0.0.1:%d"\n  every: 10\n  slice_every: 0\n'
                 % telemetry_port if telemetry_port else '  enabled: false\n')
    with open(cfg, 'w') as f:
        f.write('brain:\n  size: 8\n  channels: 8\n  backend: cpu\n  threads: 1\n'
                'loop:\n  mode: fixed_rate\n  rate_hz: 100\n'
                'link:\n  sensor_endpoint: "tcp://127.0.0.1:%d"\n  motor_endpoint: "tcp://127.0.0.1:%d"\n'
                'telemetry:\n%scontrol:\n  enabled: false\ncheckpoint:\n%s'
                % (port, motor, telemetry, checkpoint))
    return cfg


def start_brain(tmp, limits, on_exit):
    """fieldbrain on free ports, autosaving every 0.2 s to TMP/auto, under
    the descriptor limits (soft, hard); returns (process, sensor port, motor
    port, its stderr file)."""
    port, motor = free_port(), free_port()
    cfg = write_config(tmp, port, motor, checkpoint='  path: "%s/auto"\n  every_s: 0.2\n  on_exit: %s\n'
                       % (tmp, 'true' if on_exit else 'false'))
    err = open(os.path.join(tmp, 'stderr'), 'w+')
    p = subprocess.Popen([FIELDBRAIN, 'run', '--config', cfg], stderr=err,
                         preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_NOFILE, limits))
    return p, port, motor, err


def test_idle_connections_under_a_low_soft_limit_starve_nothing():
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 1024:
        print('hard limit %d: nothing to raise to; skipped' % hard)
        return
    with tempfile.TemporaryDirectory() as tmp:
        # 64 descriptors: 100 idle connections would take them all.
        p, port, motor, err = start_brain(tmp, (64, hard), on_exit=False)
        idle = []
        try:
            time.sleep(0.5)
            for _ in range(100):
                s = socket.create_connection(('127.0.0.1', port), timeout=5)
                idle.append(s)
            robot = rc.Robot('tcp://127.0.0.1:%d' % port, 'tcp://127.0.0.1:%d' % motor)
            m = robot.recv(5000)
            assert m is not None, 'no motor message with 100 idle connections'
            seq = robot.send([math.sin(k) for k in range(16)])
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                m = robot.recv(200)
                if m is not None and m['answer_seq'] == seq:
                    break
            else:
                raise AssertionError('the robot was not answered')
            robot.close()
            side = os.path.join(tmp, 'auto.json')
            before = os.path.getmtime(side) if os.path.exists(side) else 0
            time.sleep(1.0)
            assert os.path.exists(side) and os.path.getmtime(side) > before, 'no autosave'
        finally:
            for s in idle:
                s.close()
            p.send_signal(signal.SIGTERM)
            code = p.wait(timeout=30)
        err.seek(0)
        text = err.read()
        sys.stderr.write(text)
        assert code == 0
        assert 'raised the soft limit from 64 to the hard limit' in text, text
        assert 'autosave failed' not in text, text


def test_connections_that_take_every_descriptor_do_not_stop_the_saves():
    # Soft and hard limit 64: nothing to raise to. 100 idle connections take
    # every descriptor the brain has left; the loop runs on, publishing to the
    # robot that connected first, and the autosaves and the exit checkpoint
    # go on through the files the loop opened at start.
    with tempfile.TemporaryDirectory() as tmp:
        p, port, motor, err = start_brain(tmp, (64, 64), on_exit=True)
        idle = []
        side = os.path.join(tmp, 'auto.json')
        try:
            robot = rc.Robot('tcp://127.0.0.1:%d' % port, 'tcp://127.0.0.1:%d' % motor)
            assert robot.recv(5000) is not None, 'no motor message'
            for _ in range(100):
                idle.append(socket.create_connection(('127.0.0.1', port), timeout=5))
            time.sleep(0.5)  # the brain has accepted what it can
            seen = set()
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                if os.path.exists(side):
                    seen.add(json.load(open(side))['cycle'])
                time.sleep(0.1)
            assert len(seen) >= 3, 'autosaves stopped: %r' % sorted(seen)
            # The loop runs on: motor messages keep coming to the robot.
            first = robot.recv(2000)
            assert first is not None, 'no motor message with every descriptor taken'
            later = None
            for _ in range(50):
                later = robot.recv(2000)
            assert later is not None and later['seq'] > first['seq']
            robot.close()
        finally:
            for s in idle:
                s.close()
            p.send_signal(signal.SIGTERM)
            code = p.wait(timeout=30)
        err.seek(0)
        text = err.read()
        sys.stderr.write(text)
        assert code == 0, text
        assert 'autosave failed' not in text and 'exit checkpoint failed' not in text, text
        # The last checkpoint is whole: its field file has the size it says.
        doc = json.load(open(side))
        assert os.path.getsize(os.path.join(tmp, doc['field_file'])) == doc['field_bytes']


FLOOD = r"""
import os, sys, time, zmq
ep, n, tl = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = zmq.Context(); s = c.socket(zmq.XSUB); s.linger = 0; s.connect(ep)
sent, t_end = 0, time.monotonic() + 30
while sent < n and time.monotonic() < t_end:
    try:
        s.send(b'\x01' + os.urandom(tl), zmq.DONTWAIT); sent += 1
    except zmq.Again:
        time.sleep(0.0005)
print(sent)
"""


def rss_kb(pid):
    for line in open('/proc/%d/status' % pid):
        if line.startswith('VmRSS'):
            return int(line.split()[1])
    raise AssertionError('no VmRSS')


def sanitized(pid):
    """Under AddressSanitizer freed memory waits in its quarantine (256 MB),
    so the resident size says nothing about what the brain holds."""
    return 'libasan' in open('/proc/%d/maps' % pid).read()


def flood(endpoint, n, topic_len):
    """n distinct subscriptions of topic_len random bytes from one XSUB
    (which reconnects when cut and re-sends what it subscribed)."""
    out = subprocess.run([sys.executable, '-c', FLOOD, endpoint, str(n), str(topic_len)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return int(out.stdout)


def flood_brain(tmp, telemetry):
    port, motor, tel = free_port(), free_port(), free_port()
    cfg = write_config(tmp, port, motor, telemetry_port=tel if telemetry else None)
    err = open(os.path.join(tmp, 'stderr'), 'w+')
    summary = os.path.join(tmp, 'summary.json')
    p = subprocess.Popen([FIELDBRAIN, 'run', '--config', cfg, '--summary', summary], stderr=err)
    return p, port, motor, tel, err, summary


def exited_clean(err, code):
    """The brain's stderr (also echoed), after checking that it exited 0."""
    err.seek(0)
    text = err.read()
    sys.stderr.write(text)
    assert code == 0, text
    return text


def served_robot(port, motor):
    """A robot on these ports that has had its first motor message."""
    robot = rc.Robot('tcp://127.0.0.1:%d' % port, 'tcp://127.0.0.1:%d' % motor)
    assert robot.recv(5000) is not None, 'no motor message'
    return robot


def flood_outcome(err, code, sent, grown):
    """The brain's stderr, after checking that it exited 0, that the whole
    flood went out and that the brain stayed within 20 MB of where it was."""
    text = exited_clean(err, code)
    print('sent %d subscriptions; the brain grew by %d kB' % (sent, grown))
    assert sent == 300000
    assert grown < 20000, 'the brain grew by %d kB under the flood' % grown
    return text


def answered(robot):
    seq = robot.send([math.sin(k) for k in range(16)])
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        m = robot.recv(200)
        if m is not None and m['answer_seq'] == seq:
            return True
    return False


def test_motor_subscription_flood_is_cut_and_the_robot_served():
    # 300 000 distinct 4-byte subscriptions (an honest robot sends one):
    # libzmq keeps each one a peer sent while it is connected (about 290
    # bytes each), so without the guard the brain grows by about 90 MB.
    with tempfile.TemporaryDirectory() as tmp:
        p, port, motor, _, err, summary = flood_brain(tmp, telemetry=False)
        try:
            robot = served_robot(port, motor)
            before = rss_kb(p.pid)
            sent = flood('tcp://127.0.0.1:%d' % motor, 300000, 4)
            time.sleep(0.5)
            grown = 0 if sanitized(p.pid) else rss_kb(p.pid) - before
            assert answered(robot), 'the robot was not answered after the flood'
            robot.close()
            # The flooder's address is refused for a second after its cut
            # (its XSUB, reconnecting by itself, was); then a new robot
            # from it connects and is answered.
            time.sleep(1.5)
            late = rc.Robot('tcp://127.0.0.1:%d' % port, 'tcp://127.0.0.1:%d' % motor)
            assert late.recv(5000) is not None, 'a robot that came after the ban got nothing'
            assert answered(late), 'a robot that came after the ban was not answered'
            late.close()
        finally:
            p.send_signal(signal.SIGTERM)
            code = p.wait(timeout=30)
        text = flood_outcome(err, code, sent, grown)
        doc = json.load(open(summary))
        cut = doc['peers_cut']
        assert cut >= 1, 'no connection cut'
        assert doc['peers_refused'] >= 1, 'the cut peer was not refused when it came back'
        assert 'warning: cut ' in text and 'motor connection(s)' in text, text
        assert 'peers_cut=%d peers_refused=%d' % (cut, doc['peers_refused']) in text, text


def test_telemetry_subscription_flood_is_cut_and_subscribers_served():
    import zmq
    with tempfile.TemporaryDirectory() as tmp:
        p, port, motor, tel, err, summary = flood_brain(tmp, telemetry=True)
        ctx = zmq.Context()
        try:
            robot = served_robot(port, motor)
            # An honest subscriber with as many topics as a fleet's largest
            # (256 robots, three topics each) is within its budget.
            many = ctx.socket(zmq.SUB)
            many.linger = 0
            many.rcvtimeo = 3000
            for k in range(256):
                for t in ('stats', 'event', 'slice'):
                    many.setsockopt(zmq.SUBSCRIBE, ('%s/%d/' % (t, k)).encode())
            many.setsockopt(zmq.SUBSCRIBE, b'stats')
            many.connect('tcp://127.0.0.1:%d' % tel)
            first = json.loads(many.recv_multipart()[1])
            assert first['telemetry']['peers_cut'] == 0, first['telemetry']
            before = rss_kb(p.pid)
            sent = flood('tcp://127.0.0.1:%d' % tel, 300000, 4)
            time.sleep(0.5)
            grown = 0 if sanitized(p.pid) else rss_kb(p.pid) - before
            # The honest one was not cut and still gets stats; the flood's were.
            last = None
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                last = json.loads(many.recv_multipart()[1])
                if last['telemetry']['peers_cut'] >= 1 and last['cycle'] > first['cycle']:
                    break
            assert last['telemetry']['peers_cut'] >= 1, last['telemetry']
            assert answered(robot), 'the robot was not answered after the flood'
            robot.close()
        finally:
            ctx.destroy(linger=0)
            p.send_signal(signal.SIGTERM)
            code = p.wait(timeout=30)
        flood_outcome(err, code, sent, grown)



def test_connections_over_the_per_address_limit_are_refused():
    # 320 subscribers from one address, each with a topic of its own: the
    # 300 first are let in, the rest refused at the handshake (libzmq
    # forgets a leaving connection's topics by walking all the socket holds,
    # so many that leave at once would stall the loop).
    import zmq
    with tempfile.TemporaryDirectory() as tmp:
        p, port, motor, _, err, summary = flood_brain(tmp, telemetry=False)
        ctx = zmq.Context()
        ctx.max_sockets = 1000
        try:
            robot = served_robot(port, motor)
            subs = []
            for k in range(320):
                s = ctx.socket(zmq.SUB)
                s.linger = 0
                s.setsockopt(zmq.SUBSCRIBE, struct.pack('<I', 1000 + k))
                s.connect('tcp://127.0.0.1:%d' % motor)
                subs.append(s)
                time.sleep(0.002)
            time.sleep(1.0)
            for s in subs:
                s.close()
            assert answered(robot), 'the robot was not answered'
            robot.close()
        finally:
            ctx.destroy(linger=0)
            p.send_signal(signal.SIGTERM)
            code = p.wait(timeout=30)
        exited_clean(err, code)
        doc = json.load(open(summary))
        print('refused %d of 321 connections' % doc['peers_refused'])
        assert doc['peers_cut'] == 0, doc
        # the robot's and 299 more are in, the other 21 refused: a handshake
        # or two may pass before the guard has counted a connection, and a
        # refused peer whose libzmq saw the connection end before the
        # refusal tries again (refused again, counted again: 25 seen); a
        # limit much lower than 300 would refuse more than 60
        assert 10 <= doc['peers_refused'] <= 60, doc



def test_connections_cut_together_are_refused_for_one_second():
    # Three connections of one address over their budget at once: one ban
    # of 1 s, not one doubling per cut (a robot of that address that comes
    # after it is served).
    import zmq
    with tempfile.TemporaryDirectory() as tmp:
        p, port, motor, _, err, summary = flood_brain(tmp, telemetry=False)
        ctx = zmq.Context()
        try:
            robot = served_robot(port, motor)
            floods = []
            for _ in range(3):
                x = ctx.socket(zmq.XSUB)
                x.linger = 0
                x.connect('tcp://127.0.0.1:%d' % motor)
                floods.append(x)
            time.sleep(0.5)
            for x in floods:
                for k in range(400):
                    x.send(b'\x01' + struct.pack('<I', 5000 + k))
            time.sleep(1.5)
            late = rc.Robot('tcp://127.0.0.1:%d' % port, 'tcp://127.0.0.1:%d' % motor)
            assert late.recv(3000) is not None, 'refused for longer than a second'
            late.close()
            robot.close()
        finally:
            ctx.destroy(linger=0)
            p.send_signal(signal.SIGTERM)
            code = p.wait(timeout=30)
        text = exited_clean(err, code)
        assert json.load(open(summary))['peers_cut'] == 3, text


if __name__ == '__main__':
    globals()['test_' + sys.argv[3]]()
