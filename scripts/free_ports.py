#!/usr/bin/python3
"""free_ports.py: N free TCP ports on 127.0.0.1, on one line (default 1).

usage: free_ports.py [N]

All N are held open together until printed, so they are N different
ports; closed again, they stay free for a while (the kernel hands out
ephemeral ports in turn), long enough to bind them in a script.
"""
import socket
import sys


def main(argv):
    if len(argv) > 1 and argv[1] in ("-h", "--help"):
        print(__doc__.strip())
        return 0
    try:
        n = int(argv[1]) if len(argv) > 1 else 1
    except ValueError:
        n = 0
    if n < 1:
        print(f"free_ports.py: N must be a whole number above 0, not {argv[1]!r}", file=sys.stderr)
        return 2
    socks = [socket.socket() for _ in range(n)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        print(*[s.getsockname()[1] for s in socks])
    finally:
        for s in socks:
            s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
