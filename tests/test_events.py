#!/usr/bin/python3
"""test_events.py: what telemetry says of cycles the brain does not step and
which cycle an event names, with the real fieldbrain program, the Python
robot and a telemetry subscriber over real sockets on 127.0.0.1.
Usage: test_events.py FIELDBRAIN ROBOT_CLIENT_PY TEST"""
import json, math, os, sys, time
import zmq

FIELDBRAIN, CLIENT = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.dirname(os.path.abspath(CLIENT)))
import fbtest  # noqa: E402
import robot_client as rc  # noqa: E402


class Brain(fbtest.Program):
    def __init__(self, mode):
        self.sensor, self.motor, self.tele = fbtest.endpoint(), fbtest.endpoint(), fbtest.endpoint()
        super().__init__(FIELDBRAIN,
                         'brain:\n  size: 8\n  channels: 8\n  backend: cpu\n  threads: 1\n'
                         'loop:\n  mode: %s\n  rate_hz: 200\n'
                         'link:\n  sensor_endpoint: "%s"\n  motor_endpoint: "%s"\n  timeout_ms: 200\n'
                         'telemetry:\n  endpoint: "%s"\n  every: 1\n  slice_every: 0\n'
                         'control:\n  enabled: false\ncheckpoint:\n  on_exit: false\n'
                         % (mode, self.sensor, self.motor, self.tele))
        self.ctx = zmq.Context()
        self.sub = self.ctx.socket(zmq.SUB)
        self.sub.linger = 0
        self.sub.setsockopt(zmq.SUBSCRIBE, b'')
        self.sub.connect(self.tele)

    def messages(self, seconds):
        """Every telemetry message that comes within `seconds`."""
        out, end = [], time.monotonic() + seconds
        while time.monotonic() < end:
            if self.sub.poll(50):
                topic, body = self.sub.recv_multipart()[:2]
                if topic in (b'stats', b'event'):
                    out.append(json.loads(body))
        return out

    def close(self):
        self.ctx.destroy(linger=0)
        code, _ = self.stop()
        assert code == 0


def exchange(robot, i, into=None):
    seq = robot.send([math.sin(0.1 * i + k) for k in range(16)])
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        m = robot.recv(100)
        if m is not None and into is not None:
            into.append(m)
        if m is not None and m['answer_seq'] == seq:
            return m
    raise AssertionError('no answer to %d' % seq)


def test_cycles_that_do_not_step_carry_the_brains_state():
    # Lockstep: after the robot stops, the link-lost heartbeats do not step;
    # their stats must show the brain's own cycle and its last energy, not 0.
    b = Brain('lockstep')
    robot = rc.Robot(b.sensor, b.motor)
    try:
        time.sleep(0.3)  # the subscriber's subscription reaches the brain
        assert robot.recv(5000) is not None
        for i in range(30):
            exchange(robot, i)
        msgs = b.messages(1.5)  # the link is lost after 200 ms; heartbeats every 100 ms
    finally:
        robot.close()
        b.close()
    stats = [m for m in msgs if m['type'] == 'stats']
    stepped = [s for s in stats if s['stepped']]
    last = stepped[-1]
    before = [s for s in stats if not s['stepped'] and s['cycle'] < stepped[0]['cycle']]
    idle = [s for s in stats if not s['stepped'] and s['cycle'] > last['cycle']]
    assert before and idle, (len(before), len(idle))
    assert last['brain_cycle'] == 30, last['brain_cycle']
    for s in before:  # nothing measured yet: null, the brain at cycle 0
        assert s['brain_cycle'] == 0 and s['energy'] is None and s['saturated'] is None, s
    for s in idle:
        assert s['links'][0]['state'] == 'lost', s
        assert s['brain_cycle'] == 30, s
        assert s['energy'] == last['energy'] and s['energy'] is not None, s
        assert s['saturated'] == last['saturated'], s
        assert s['activity'] is None, s


def test_link_events_name_the_first_motor_message_that_shows_them():
    b = Brain('fixed_rate')
    robot = rc.Robot(b.sensor, b.motor)
    motors = []
    try:
        time.sleep(0.3)
        for i in range(20):
            exchange(robot, i, motors)
        # silence: the link is lost after 200 ms; then it comes back
        end = time.monotonic() + 0.6
        while time.monotonic() < end:
            m = robot.recv(50)
            if m is not None:
                motors.append(m)
        exchange(robot, 99, motors)
        end = time.monotonic() + 0.2
        while time.monotonic() < end:
            m = robot.recv(50)
            if m is not None:
                motors.append(m)
        msgs = b.messages(0.5)
    finally:
        robot.close()
        b.close()
    events = {e['kind']: e for e in msgs if e['type'] == 'event'}
    assert 'link_lost' in events and 'link_restored' in events, list(events)
    by_seq = {m['seq']: m for m in motors}
    lost = events['link_lost']['cycle']
    restored = events['link_restored']['cycle']
    # link_lost: that motor message is the first flagged one.
    assert by_seq[lost]['flags'] & rc.LINK_LOST, by_seq[lost]
    assert not by_seq[lost - 1]['flags'] & rc.LINK_LOST, by_seq[lost - 1]
    # link_restored: the first unflagged one after the loss.
    assert not by_seq[restored]['flags'] & rc.LINK_LOST, by_seq[restored]
    assert restored - 1 in by_seq and by_seq[restored - 1]['flags'] & rc.LINK_LOST


if __name__ == '__main__':
    globals()['test_' + sys.argv[3]]()
