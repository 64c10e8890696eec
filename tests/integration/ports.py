"""TCP ports for a test's bus (the broker binds ``port``..``port + 2``).

Picked below the kernel's ephemeral range, so no outgoing connection (another
test's client, a training job's pip, a browser) can take one between the
check and the broker's bind; the OS's ``bind(0)`` ports are ephemeral ones,
and a busy CI machine once gave ``port + 1`` away in that gap.
"""

from __future__ import annotations

import random
import socket
from pathlib import Path


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768  # Linux's default


def free_ports(n: int = 3, host: str = "127.0.0.1") -> int:
    """The first of ``n`` consecutive ports free on ``host`` now, below the ephemeral range."""
    high = min(_ephemeral_low(), 65536) - n
    for _ in range(500):
        base = random.randrange(20000, high)
        socks: list[socket.socket] = []
        try:
            for k in range(n):
                s = socket.socket()
                socks.append(s)
                s.bind((host, base + k))
            return base
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise RuntimeError(f"no {n} consecutive free ports on {host} in 20000..{high}")
