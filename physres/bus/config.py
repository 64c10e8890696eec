"""Where the bus lives and how its sockets behave.

One machine: ``ipc://`` sockets in a per-user runtime folder (no ports to
collide, no network exposure). Several machines: ``tcp://`` on ``host``, which
binds to 127.0.0.1 unless the config names another interface on purpose.
"""

from __future__ import annotations

import getpass
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["BusConfig", "Endpoints"]


@dataclass(frozen=True)
class Endpoints:
    """The broker's three addresses.

    ``pub``: publishers connect here (broker XSUB); ``sub``: subscribers connect
    here (broker XPUB); ``cmd``: command and heartbeat DEALERs connect here
    (broker ROUTER).
    """

    pub: str
    sub: str
    cmd: str


def _runtime_dir() -> Path:
    base = os.environ.get("XDG_RUNTIME_DIR") or tempfile.gettempdir()
    try:
        user = getpass.getuser()
    except Exception:  # no passwd entry in some containers
        user = str(os.getuid())
    return Path(base) / f"physres-{user}"


class BusConfig(BaseModel):
    """Bus settings; every field has a safe single-machine default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: names the bus, so two experiments on one machine do not cross-talk
    name: str = Field("default", pattern=r"^[A-Za-z0-9_.-]+$")
    transport: Literal["ipc", "tcp"] = "ipc"
    #: interface TCP binds/connects to; loopback unless you mean to expose it
    host: str = "127.0.0.1"
    #: first of three consecutive TCP ports (pub, sub, cmd)
    port: int = Field(7750, ge=1024, le=65533)
    #: folder for ipc sockets (default: $XDG_RUNTIME_DIR or /tmp, per user)
    ipc_dir: str | None = None
    #: messages queued per socket before PUB drops (counted as seq gaps downstream)
    sndhwm: int = Field(1000, ge=0)
    rcvhwm: int = Field(1000, ge=0)
    #: arrays at least this big are sent zero-copy
    zero_copy_bytes: int = Field(65536, ge=0)
    heartbeat_s: float = Field(0.5, gt=0, le=60, allow_inf_nan=False)
    #: a node silent for this many heartbeats is reported gone
    heartbeat_misses: int = Field(3, ge=1, le=100)
    #: nodes also bind their own stream and command sockets, so heavy streams and
    #: latency-critical commands can skip the broker hop (the broker still relays)
    direct: bool = True
    #: keep large received buffers mapped between frames (glibc malloc thresholds;
    #: see physres.bus.memory): far fewer page faults on camera-rate streams
    tune_malloc: bool = True
    #: default command timeout
    command_timeout_s: float = Field(5.0, gt=0, allow_inf_nan=False)

    @property
    def endpoints(self) -> Endpoints:
        if self.transport == "tcp":
            h = self.host
            return Endpoints(
                f"tcp://{h}:{self.port}", f"tcp://{h}:{self.port + 1}", f"tcp://{h}:{self.port + 2}"
            )
        d = Path(self.ipc_dir) if self.ipc_dir else _runtime_dir()
        return Endpoints(
            f"ipc://{d}/{self.name}-pub", f"ipc://{d}/{self.name}-sub", f"ipc://{d}/{self.name}-cmd"
        )

    def node_endpoint(self, node: str, what: str) -> str:
        """Where a node binds its own direct socket (``what``: "pub" or "cmd").

        TCP uses an ephemeral port on ``host`` (the bound address is read back
        from the socket and advertised in heartbeats).
        """
        if self.transport == "tcp":
            return f"tcp://{self.host}:*"
        d = Path(self.ipc_dir) if self.ipc_dir else _runtime_dir()
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in node)
        return f"ipc://{d}/{self.name}-{safe}-{what}"

    def ensure_ipc_dir(self) -> None:
        """Create the private socket folder (0700) before binding."""
        if self.transport == "ipc":
            d = Path(self.ipc_dir) if self.ipc_dir else _runtime_dir()
            d.mkdir(parents=True, exist_ok=True, mode=0o700)
