"""Free local ports for the servers of local clusters and operators, several of which start
at once when the test suite runs in parallel.

A port is chosen at random below the kernel's ephemeral range and checked free by binding it.
Asking the kernel for one (binding port 0) would hand out an ephemeral port, which stays free
only until it is bound: in the second or so before etcd, the API server or an operator binds
it, any outgoing connection on the machine may take it as its local port. Below the range,
only another chooser can, and a random pick out of some twenty thousand makes that rare.
"""

from __future__ import annotations

import socket
from pathlib import Path
from random import SystemRandom

LOWEST = 10000
# Not the module-level generator, which a test framework may seed the same in every worker.
_RANDOM = SystemRandom()
_RANGE = Path("/proc/sys/net/ipv4/ip_local_port_range")


def _ephemeral_low() -> int:
    try:
        return int(_RANGE.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_port(taken: set[int] | None = None) -> int:
    """A port on 127.0.0.1 that nothing listens on now, below the ephemeral range and not in
    `taken` (the ports already picked for the same start)."""
    high = _ephemeral_low() - 1
    for _ in range(200):
        port = _RANDOM.randint(LOWEST, high) if high > LOWEST else 0
        if taken and port in taken:
            continue
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return int(sock.getsockname()[1])
    raise OSError("no free local port below the ephemeral range")
