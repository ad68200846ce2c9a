"""fbtest.py: what the Python integration tests share: free ports on
127.0.0.1 and the fieldbrain program run on a config of the test's own, its
stderr kept in a file. Tests import it from their own folder:

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import fbtest
"""
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
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
