#!/usr/bin/python3
"""test_fleet.py: one fieldbrain serving a fleet of robots, over real sockets
on 127.0.0.1: each robot's motors are bit for bit those a one-robot
fieldbrain with its id and seed sends for the same messages, whatever the
other robots do; per-robot link state, counters and summaries; checkpoints
and --resume-fleet; a fleet too large for memory is refused.
Usage: test_fleet.py FIELDBRAIN ROBOT_CLIENT_PY TEST"""
import json, math, os, random, struct, sys, time
import zmq

FIELDBRAIN, CLIENT = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.dirname(os.path.abspath(CLIENT)))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import robot_client as rc  # noqa: E402
import fbtest  # noqa: E402

SENSORS = 16
SEEDS = {1: 11, 2: 22, 3: 33, 7: 77}
GOOD = (1, 2, 3)     # robots that speak lockstep properly
ROGUE = 7            # the fleet's fourth robot: floods, then falls silent


def brain_yaml(backend, mode='lockstep', extra=''):
    # Diffusion, noise and energy all run within a few cycles, so the
    # comparison covers every kind of cycle.
    return ('brain:\n  size: 8\n  channels: 16\n  backend: %s\n  threads: 2\n'
            '  diffusion_every: 3\n  noise_every: 2\n  activity_every: 5\n'
            '  activity_threshold: 1.0\n'
            'loop:\n  mode: %s\n  rate_hz: 200\n  stats_window: 100\n'
            'telemetry:\n  enabled: false\ncontrol:\n  enabled: false\n%s'
            % (backend, mode, extra))


class Brain(fbtest.Program):
    def __init__(self, backend='cpu', mode='lockstep', robots=None, robot_id=1, seed=None,
                 extra='', args=()):
        self.sensor, self.motor = fbtest.endpoint(), fbtest.endpoint()
        link = ('link:\n  sensor_endpoint: "%s"\n  motor_endpoint: "%s"\n  timeout_ms: %d\n'
                '  robot_id: %d\n' % (self.sensor, self.motor, 300 if mode == 'fixed_rate' else 20000,
                                      robot_id))
        text = brain_yaml(backend, mode, extra) + link
        if seed is not None:
            text = text.replace('brain:\n', 'brain:\n  seed: %d\n' % seed, 1)
        if robots:
            text += 'robots:\n' + ''.join('  - {id: %d, seed: %d}\n' % (r, SEEDS[r]) for r in robots)
        super().__init__(FIELDBRAIN, text, args)

    def robot(self, rid):
        r = rc.Robot(self.sensor, self.motor, robot=rid)
        assert r.recv(10000) is not None, 'no heartbeat for robot %d' % rid
        return r


def sensors(rid, i):
    return [math.sin(0.37 * i + 0.9 * rid + k) * (1 + rid) for k in range(SENSORS)]


def answer(robot, seq, timeout_s=10):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        m = robot.recv(200)
        if m is not None and m['answer_seq'] == seq and m['flags'] == 0:
            return m
    raise AssertionError('robot %d: no answer to seq %d' % (robot.robot, seq))


def bits(values):
    return struct.pack('<%df' % len(values), *values)


def alone(backend, rid, n):
    """The motors a one-robot fieldbrain with rid's id and seed sends for
    rid's first n vectors, one at a time (lockstep)."""
    b = Brain(backend, robot_id=rid, seed=SEEDS[rid])
    r = b.robot(rid)
    out = []
    for i in range(n):
        out.append(bits(answer(r, r.send(sensors(rid, i)))['values']))
    r.close()
    code, _ = b.stop()
    assert code == 0
    return out


def fleet_answers_equal_alone(backend):
    n = 40
    b = Brain(backend, robots=GOOD + (ROGUE,))
    robots = {rid: b.robot(rid) for rid in GOOD}
    rogue = b.robot(ROGUE)
    ctx = zmq.Context()
    garbage = ctx.socket(zmq.PUSH)
    garbage.linger = 0
    garbage.connect(b.sensor)
    rnd = random.Random(5)
    got = {rid: [] for rid in GOOD}
    for i in range(n):
        # The good robots send at different moments; the others misbehave
        # in between.
        seqs = {}
        for rid in rnd.sample(GOOD, len(GOOD)):
            seqs[rid] = robots[rid].send(sensors(rid, i))
            if i < n // 2:
                for _ in range(rnd.randrange(4)):          # a flood of valid messages
                    rogue.send(sensors(ROGUE, rnd.randrange(1000)))
            garbage.send(bytes(rnd.randrange(256) for _ in range(rnd.randrange(80))))
            garbage.send(rc.encode(rc.SENSORS, 99, i + 1, sensors(1, i)))   # not in the fleet
            bad = sensors(rid, i)
            bad[2] = float('nan')
            garbage.send(rc.encode(rc.SENSORS, rid, 10 ** 6 + i, bad))      # names rid, bad
            garbage.send(rc.encode(rc.SENSORS, rid, 10 ** 6 + i, bad[:4]))  # wrong length
            garbage.send_multipart([rc.encode(rc.SENSORS, rid, 10 ** 6 + i, sensors(rid, i)),
                                    b'more'])                                # frames, names rid
        # Robot 2 stalls for a while now and then: the others go on.
        if i % 10 == 5:
            time.sleep(0.3)
        for rid in GOOD:
            got[rid].append(bits(answer(robots[rid], seqs[rid])['values']))
    for r in robots.values():
        r.close()
    rogue.close()
    ctx.destroy(linger=0)
    code, text = b.stop()
    assert code == 0, text
    s = {d['robot']: d for d in robot_summaries(text)}
    for rid in GOOD:
        assert s[rid]['received'] == n, s[rid]
        # The messages that named it but were bad count to it.
        assert s[rid]['bad'] == 3 * n, s[rid]
    assert s[ROGUE]['received'] > 0
    total = fbtest.summary(text)
    assert total['robot'] > 0 and total['magic'] + total['truncated'] > 0, total
    assert total['frames'] == len(GOOD) * n, total
    # The robots' and the fleet's log lines add up to the fleet's counts.
    logged = fbtest.bad_input_logged(text)
    for reason in ('frames', 'nonfinite', 'length', 'robot', 'magic', 'truncated'):
        assert sum(t for (_, r), t in logged.items() if r == reason) == total[reason], (reason, logged)
    assert logged[('robot %d' % GOOD[0], 'frames')] == n, logged
    for rid in GOOD:
        want = alone(backend, rid, n)
        diff = [i for i in range(n) if want[i] != got[rid][i]]
        assert not diff, 'robot %d: motors differ from a fieldbrain alone at %s' % (rid, diff[:5])


def robot_summaries(text):
    out = []
    for line in text.splitlines():
        if 'summary: robot ' in line:
            d = {k: int(v) for k, v in __import__('re').findall(r' (\w+)=(-?\d+)', line)}
            d['robot'] = int(line.split('summary: robot ')[1].split(':')[0])
            out.append(d)
    return out


def test_fleet_motors_are_those_of_each_robot_alone_cpu():
    fleet_answers_equal_alone('cpu')


def test_fleet_motors_are_those_of_each_robot_alone_vulkan():
    fleet_answers_equal_alone('vulkan')


def test_fixed_rate_fleet_keeps_each_robots_link_apart():
    d = fbtest.tempfile.TemporaryDirectory()
    summary_path = os.path.join(d.name, 'summary.json')
    b = Brain('cpu', mode='fixed_rate', robots=(1, 2, 3), args=('--summary', summary_path))
    r1, r2, r3 = (rc.Robot(b.sensor, b.motor, robot=k) for k in (1, 2, 3))
    # Robot 1 and 2 send; robot 3 subscribes only: its link stays lost.
    deadline = time.monotonic() + 2.0
    seen = {1: [], 2: [], 3: []}
    while time.monotonic() < deadline:
        r1.send(sensors(1, 0))
        r2.send(sensors(2, 0))
        for rid, r in ((1, r1), (2, r2), (3, r3)):
            m = r.recv(5)
            while m is not None:
                assert m['robot'] == rid
                seen[rid].append(m)
                m = r.recv(0)
        time.sleep(0.01)
    for r in (r1, r2, r3):
        r.close()
    code, text = b.stop()
    assert code == 0
    late = {k: v[len(v) // 2:] for k, v in seen.items()}
    assert all(len(v) > 20 for v in late.values()), {k: len(v) for k, v in seen.items()}
    assert all(m['flags'] == 0 and any(m['values']) for m in late[1] + late[2])
    assert all(m['flags'] & rc.LINK_LOST and not any(m['values']) for m in late[3])
    # Each robot's seq counts its own messages, every tick one.
    for v in seen.values():
        assert [m['seq'] for m in v] == list(range(v[0]['seq'], v[0]['seq'] + len(v)))
    with open(summary_path) as f:
        js = json.load(f)
    byid = {r['robot_id']: r for r in js['robots']}
    assert set(byid) == {1, 2, 3}
    assert byid[3]['received'] == 0 and byid[1]['received'] > 20 and byid[2]['received'] > 20
    assert js['received'] == byid[1]['received'] + byid[2]['received']
    assert js['cycles'] == sum(r['cycles'] for r in js['robots'])
    assert byid[1]['cycles'] == byid[2]['cycles'] == byid[3]['cycles']


def test_checkpoints_and_resume_fleet_continue_each_robot():
    """A fleet stopped (exit checkpoints) and resumed with --resume-fleet
    answers exactly as one that ran on."""
    n, half = 30, 15
    d = fbtest.tempfile.TemporaryDirectory()
    ck = 'checkpoint:\n  path: "%s/brain.json"\n  on_exit: true\n' % d.name
    def run(args, first, last, extra=ck):
        b = Brain('cpu', robots=GOOD, extra=extra, args=args)
        robots = {rid: b.robot(rid) for rid in GOOD}
        out = {rid: [] for rid in GOOD}
        for i in range(first, last):
            seqs = {rid: robots[rid].send(sensors(rid, i)) for rid in GOOD}
            for rid in GOOD:
                out[rid].append(bits(answer(robots[rid], seqs[rid])['values']))
        for r in robots.values():
            r.close()
        code, text = b.stop()
        assert code == 0, text
        return out, text
    whole, _ = run((), 0, n, extra='')
    first, text = run((), 0, half)
    for rid in GOOD:
        assert os.path.exists('%s/brain-%d.json' % (d.name, rid)), os.listdir(d.name)
        assert 'checkpoint written to %s/brain-%d.json' % (d.name, rid) in text
    second, text = run(('--resume-fleet',), half, n)
    for rid in GOOD:
        assert 'resumed %s/brain-%d.json at brain cycle %d' % (d.name, rid, half) in text, text
        assert first[rid] + second[rid] == whole[rid], 'robot %d differs after resuming' % rid


def test_bad_fleets_are_refused_at_start():
    dup = Brain('cpu', extra='robots:\n  - id: 4\n  - id: 4\n')
    assert dup.p.wait(timeout=30) == 2
    dup.err.seek(0)
    assert 'robots[1].id: 4 is also robots[0]' in dup.err.read()
    res = Brain('cpu', robots=GOOD, args=('--resume', '/nonexistent.json'))
    assert res.p.wait(timeout=30) == 2
    res.err.seek(0)
    assert '--resume-fleet resumes each from its own checkpoint' in res.err.read()
    # A fleet far larger than any machine's memory: refused before a byte
    # of it is allocated, with what it needs and what there is.
    d = fbtest.tempfile.TemporaryDirectory()
    text = brain_yaml('cpu').replace('size: 8\n  channels: 16', 'size: 256\n  channels: 128')
    with open(d.name + '/big.yaml', 'w') as f:
        f.write(text + 'robots:\n' + ''.join('  - id: %d\n' % i for i in range(256)))
    out = fbtest.subprocess.run([FIELDBRAIN, 'run', '--config', d.name + '/big.yaml'],
                                capture_output=True, text=True, timeout=60)
    assert out.returncode == 1, out.stderr
    assert 'a fleet of 256 brains of 256 x 256 x 256 x 128 needs' in out.stderr, out.stderr
    assert 'bytes' in out.stderr and 'but this machine has' in out.stderr, out.stderr
    # --resume-fleet with a robot whose checkpoint is not there.
    miss = Brain('cpu', robots=GOOD, extra='checkpoint:\n  path: "%s/b.json"\n' % d.name,
                 args=('--resume-fleet',))
    assert miss.p.wait(timeout=30) == 2
    miss.err.seek(0)
    assert '--resume-fleet %s/b-1.json' % d.name in miss.err.read()


def test_two_processes_split_a_fleet():
    """config/fleet-a.yaml and config/fleet-b.yaml as shipped, on free
    ports and a small CPU field: robots 1-4 are served by one process, 5-8
    by the other, each robot at its group's endpoints only."""
    here = os.path.dirname(os.path.abspath(__file__))
    d = fbtest.tempfile.TemporaryDirectory()
    procs, eps = [], {}
    for name, ids in (('fleet-a', (1, 2, 3, 4)), ('fleet-b', (5, 6, 7, 8))):
        with open(os.path.join(here, '..', 'config', name + '.yaml')) as f:
            text = f.read()
        for port in sorted(set(__import__('re').findall(r'127\.0\.0\.1:(\d+)', text))):
            text = text.replace('127.0.0.1:%s"' % port, '127.0.0.1:%d"' % fbtest.free_port())
        text = text.replace('backend: auto', 'backend: cpu\n  threads: 1')
        text = text.replace('size: 32\n  channels: 64', 'size: 8\n  channels: 16')
        text = text.replace('"run/', '"%s/' % d.name)
        os.makedirs(os.path.join(d.name, name))
        p = fbtest.Program(FIELDBRAIN, text)
        ep = __import__('re').findall(r'(sensor|motor)_endpoint: "([^"]+)"', text)
        for rid in ids:
            eps[rid] = dict(ep)
        procs.append(p)
    robots = {rid: rc.Robot(e['sensor'], e['motor'], robot=rid) for rid, e in eps.items()}
    for rid, r in robots.items():
        assert r.recv(10000) is not None, 'robot %d: no motors from its group' % rid
    for i in range(5):
        for rid, r in robots.items():
            m = answer(r, r.send(sensors(rid, i)))
            assert m['robot'] == rid and any(m['values'])
    # A robot at the other group's endpoints is bad input there.
    stray = rc.Robot(eps[1]['sensor'], eps[1]['motor'], robot=5)
    for i in range(3):
        stray.send(sensors(5, i))
    time.sleep(0.3)
    for r in list(robots.values()) + [stray]:
        r.close()
    ends = [p.stop() for p in procs]
    assert [code for code, _ in ends] == [0, 0]
    texts = [text for _, text in ends]
    a = fbtest.summary(texts[0])
    assert a['robot'] == 3, a
    for text, ids in ((texts[0], (1, 2, 3, 4)), (texts[1], (5, 6, 7, 8))):
        got = {x['robot']: x for x in robot_summaries(text)}
        assert sorted(got) == list(ids)
        assert all(got[k]['received'] >= 5 for k in ids)
        for k in ids:
            assert os.path.exists('%s/%s/brain-%d.json' % (d.name, 'fleet-a' if k < 5 else 'fleet-b', k))


if __name__ == '__main__':
    globals()['test_' + sys.argv[3]]()
