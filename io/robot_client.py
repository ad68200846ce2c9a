#!/usr/bin/python3
"""robot_client.py: a complete fieldbrain robot (io/PROTOCOL.md): sends sensor
vectors, prints the motors that answer them. Tests import Robot."""
import argparse, math, struct, time, zmq

HEADER = struct.Struct('<4sHBBIIQQQQ')  # 48 bytes, little-endian
SENSORS, MOTORS, STOP, LINK_LOST = 1, 2, 0x01, 0x02

def encode(kind, robot, seq, values, version=1, flags=0, t=None):
    t = time.monotonic_ns() if t is None else t
    return HEADER.pack(b'FBRN', version, kind, flags, robot, len(values), seq, t, 0, 0) + \
        struct.pack('<%df' % len(values), *values)

def decode(frame):
    magic, ver, kind, flags, robot, n, seq, t, aseq, at = HEADER.unpack_from(frame)
    assert magic == b'FBRN' and ver == 1 and len(frame) == HEADER.size + 4 * n, 'bad message'
    values = struct.unpack_from('<%df' % n, frame, HEADER.size)
    return dict(kind=kind, flags=flags, robot=robot, seq=seq, time_ns=t,
                answer_seq=aseq, answer_time_ns=at, values=values)

class Robot:
    def __init__(self, sensor_ep, motor_ep, robot=1, curve=None):
        self.ctx, self.robot, self.seq = zmq.Context(), robot, 0
        self.push, self.sub = self.ctx.socket(zmq.PUSH), self.ctx.socket(zmq.SUB)
        for s in (self.push, self.sub):
            s.linger = 0
            if curve:  # (brain public key, our public key, our secret key), Z85
                s.curve_serverkey, s.curve_publickey, s.curve_secretkey = curve
        self.push.sndhwm, self.push.sndtimeo = 10, 1000  # send: zmq.Again after 1 s unsent
        self.sub.setsockopt(zmq.SUBSCRIBE, struct.pack('<I', robot))
        self.push.connect(sensor_ep); self.sub.connect(motor_ep)

    def recv(self, timeout_ms=2000):
        """The next motor message for us, or None after timeout_ms."""
        return decode(self.sub.recv_multipart()[1]) if self.sub.poll(timeout_ms) else None

    def send(self, values):
        self.seq += 1
        self.push.send(encode(SENSORS, self.robot, self.seq, values))
        return self.seq

    def close(self): self.ctx.destroy(linger=0)

if __name__ == '__main__':
    a = argparse.ArgumentParser(description=__doc__)
    for k, v in dict(sensor='tcp://127.0.0.1:5555', motor='tcp://127.0.0.1:5556').items():
        a.add_argument('--' + k, default=v)
    for k, v in dict(robot=1, sensors=16, count=10).items():
        a.add_argument('--' + k, type=int, default=v)
    o = a.parse_args()
    r = Robot(o.sensor, o.motor, o.robot)
    assert r.recv(5000) is not None, 'no motor message: is the brain running?'
    for i in range(o.count):  # one message, then wait for its answer
        seq = r.send([math.sin(0.1 * i + k) for k in range(o.sensors)])
        m = r.recv()
        while m is not None and m['answer_seq'] < seq:
            m = r.recv()
        assert m is not None and m['answer_seq'] == seq, 'no answer to %d' % seq
        print(seq, ' '.join('%.4f' % v for v in m['values']), 'flags=%d' % m['flags'])
    r.close()
