"""fbtest.py: what the Python integration tests share: free ports on
127.0.0.1 and the fieldbrain program run on a config of the test's own, its
stderr kept in a file. Tests import it from their own folder:

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import fbtest
"""
import itertools
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile


# The lowest port free_port hands out: above the well-known ones and those the
# configs name by default (5555-5558). As tests/proc.c does for the C tests.
PORT_FIRST = 20000
_picks = itertools.count()  # this process's picks so far


def _ephemeral_range():
    """The kernel's range for the local ports of outgoing connections."""
    try:
        with open('/proc/sys/net/ipv4/ip_local_port_range') as f:
            lo, hi = (int(v) for v in f.read().split())
            return lo, hi
    except (OSError, ValueError):
        return 32768, 60999


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago, outside the
    kernel's range for outgoing connections: a port the kernel picks (port 0)
    lies inside it, and a connection opened before the program binds it (the
    tests run side by side) may take it as its local port. Each process walks
    the ports from its own start in steps of a prime (tests/proc.c)."""
    lo, hi = _ephemeral_range()
    first, last = (PORT_FIRST, lo - 1) if lo - 1 - PORT_FIRST >= 1000 else \
        (hi + 1, 65535) if 65535 - (hi + 1) >= 1000 else (0, 0)
    for _ in range(200 if first else 0):
        port = first + (os.getpid() * 2654435761 + next(_picks) * 7919) % (last - first + 1)
        with socket.socket() as s:
            try:
                s.bind(('127.0.0.1', port))
                return port
            except OSError:
                continue
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def endpoint():
    """tcp://127.0.0.1:PORT on a free port."""
    return 'tcp://127.0.0.1:%d' % free_port()


class Program:
    """`fieldbrain run --config` on the YAML text `config`, written into a
    temporary directory (self.dir) that lives as long as this object."""

    def __init__(self, fieldbrain, config, args=()):
        self.dir = tempfile.TemporaryDirectory()
        self.config = os.path.join(self.dir.name, 'brain.yaml')
        with open(self.config, 'w') as f:
            f.write(config)
        self.err = open(os.path.join(self.dir.name, 'stderr'), 'w+')
        self.p = subprocess.Popen([fieldbrain, 'run', '--config', self.config, *args],
                                  stderr=self.err)

    def stop(self, sig=signal.SIGTERM):
        """Sends sig; returns (exit status, stderr text), the text also
        echoed to this test's stderr."""
        self.p.send_signal(sig)
        code = self.p.wait(timeout=30)
        self.err.seek(0)
        text = self.err.read()
        self.err.close()
        sys.stderr.write(text)
        return code, text


def summary(text):
    """The numbers of the last `fieldbrain: summary:` line of stderr text
    (the fleet's, not a robot's `summary: robot ID:` line)."""
    line = [l for l in text.splitlines() if 'summary:' in l and 'summary: robot ' not in l]
    assert line, 'no summary line'
    return {k: int(v) for k, v in re.findall(r' (\w+)=(-?\d+)', line[-1])}


def bad_input_logged(text):
    """The bad-input log lines of stderr text (io/PROTOCOL.md, "Bad input"),
    checked line by line: each line's total is the last one's plus its
    count. Returns {(who, reason): last total}, who '' with one robot, else
    'robot ID' or 'fleet'."""
    last = {}
    pattern = (r'fieldbrain: warning: dropped (\d+) bad sensor message\(s\)(?: \((robot \d+|fleet)\))?: '
               r'(\w+) \((\d+) so far\)')
    for n, who, reason, total in re.findall(pattern, text):
        key = (who, reason)
        assert int(total) == last.get(key, 0) + int(n), (key, n, total, last.get(key))
        last[key] = int(total)
    return last
