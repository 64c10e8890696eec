"""Where the bus lives and how its sockets behave.

One machine: ``ipc://`` sockets in a per-user runtime folder (no ports to
collide, no network exposure). Several machines: ``tcp://`` on ``host``, which
binds to 127.0.0.1 unless the config names another interface on purpose.
"""

from __future__ import annotations

import getpass
import hashlib
import ipaddress
import os
import secrets
import socket
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from physres.errors import BusError

__all__ = ["BusConfig", "Endpoints", "bus_for_run", "bus_from_env", "interface_towards"]


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


_DEFAULT_ROUTE_PROBE = "192.0.2.1"  # TEST-NET-1: never answers, only picks a route


def interface_towards(host: str) -> str:
    """This machine's IPv4 address on the route to ``host`` (``host`` itself if loopback).

    Asks the kernel for the route with an unconnected-UDP ``connect``: no packet
    is sent. A node bound there can be reached by the broker's machine. For a
    wildcard ``host`` (a broker bound on every interface of this machine) it is
    the interface of the default route, or loopback when there is none.
    """
    try:
        addr = socket.getaddrinfo(host, None, socket.AF_INET, socket.SOCK_DGRAM)[0][4][0]
    except socket.gaierror as e:
        raise BusError(f"bus host {host!r} does not resolve ({e}); check bus.host") from None
    ip = ipaddress.ip_address(addr)
    if ip.is_loopback:
        return addr
    if ip.is_unspecified:
        try:
            return interface_towards(_DEFAULT_ROUTE_PROBE)
        except BusError:
            return "127.0.0.1"
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect((addr, 9))
            return s.getsockname()[0]
    except OSError as e:
        raise BusError(
            f"no route from this machine to bus host {host!r} ({e}); set bus.bind_host "
            "to the interface other machines reach this one on"
        ) from None


#: bytes of an ipc socket path (sockaddr_un.sun_path, less its terminating NUL)
IPC_PATH_MAX = 107


def _is_loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


class BusConfig(BaseModel):
    """Bus settings; every field has a safe single-machine default."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    #: names the bus, so two experiments on one machine do not cross-talk
    name: str = Field("default", pattern=r"^[A-Za-z0-9_.-]+$")
    transport: Literal["ipc", "tcp"] = "ipc"
    #: where the broker listens (TCP); loopback unless you mean to expose it
    host: str = "127.0.0.1"
    #: interface this machine's nodes bind their own TCP sockets to (``0.0.0.0``: all);
    #: default: the interface that reaches ``host``, so loopback when the broker is local
    bind_host: str | None = None
    #: first of three consecutive TCP ports (pub, sub, cmd)
    port: int = Field(7750, ge=1024, le=65533)
    #: folder for ipc sockets (default: $XDG_RUNTIME_DIR or /tmp, per user)
    ipc_dir: str | None = None
    #: messages queued per socket before PUB drops (counted as seq gaps downstream)
    sndhwm: int = Field(1000, ge=0)
    rcvhwm: int = Field(1000, ge=0)
    #: arrays at least this big (and at least 16 KiB: smaller ones are cheaper to copy)
    #: are sent zero-copy
    zero_copy_bytes: int = Field(65536, ge=0)
    heartbeat_s: float = Field(0.5, gt=0, le=60, allow_inf_nan=False)
    #: a node silent for this many heartbeats is reported gone
    heartbeat_misses: int = Field(3, ge=1, le=100)
    #: the broker's node table holds at most this many names (a flood of heartbeats
    #: with fresh names must not grow it without bound)
    max_nodes: int = Field(1024, ge=1, le=1_000_000)
    #: nodes also bind their own stream and command sockets, so heavy streams and
    #: latency-critical commands can skip the broker hop (the broker still relays);
    #: on an encrypted bus they are CURVE servers with the node's key, accepting the
    #: keys the broker accepts (it hands the list to its nodes every heartbeat)
    direct: bool = True
    #: keep large received buffers mapped between frames (glibc malloc thresholds;
    #: see physres.bus.memory): far fewer page faults on camera-rate streams
    tune_malloc: bool = True
    #: default command timeout
    command_timeout_s: float = Field(5.0, gt=0, allow_inf_nan=False)
    #: this participant's CURVE key pair (a ``NAME.key_secret`` from ``physres keys new``);
    #: set, every bus socket is encrypted and authenticated (ZeroMQ CURVE)
    curve_secret: str | None = None
    #: the broker's public key (its ``.key`` file): clients refuse any other broker
    curve_broker: str | None = None
    #: folder of public keys (``*.key``) the broker accepts, read again at every new
    #: connection: deleting a file revokes that key from the next connection on
    curve_allowed: str | None = None
    #: plain TCP to an address that is not loopback is refused: anyone on the network
    #: could read and inject bus traffic. True allows it, with a loud warning
    allow_plain_tcp: bool = False

    @model_validator(mode="after")
    def _check_curve(self) -> BusConfig:
        if self.curve_secret is None and (self.curve_broker or self.curve_allowed):
            raise ValueError("curve_broker/curve_allowed need curve_secret (this side's key pair)")
        return self

    @property
    def curve(self) -> bool:
        """Whether this bus is encrypted and authenticated."""
        return self.curve_secret is not None

    @property
    def exposed(self) -> bool:
        """TCP on an address beyond loopback (this side's broker host or bind host)."""
        if self.transport != "tcp":
            return False
        return any(h is not None and not _is_loopback(h) for h in (self.host, self.bind_host))

    @model_validator(mode="after")
    def _ipc_paths_fit(self) -> BusConfig:
        """An ipc socket path holds at most IPC_PATH_MAX bytes (the kernel's sun_path)."""
        if self.transport == "ipc":
            longest = self.endpoints.pub.removeprefix("ipc://")
            if len(longest.encode()) > IPC_PATH_MAX:
                raise ValueError(
                    f"bus name of {len(self.name)} characters makes ipc socket paths like "
                    f"{longest[:40]}... longer than {IPC_PATH_MAX} bytes; use a shorter "
                    "name (or ipc_dir)"
                )
        return self

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
            return f"tcp://{self.bind_host or self._default_bind()}:*"
        d = Path(self.ipc_dir) if self.ipc_dir else _runtime_dir()
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in node)
        path = f"{d}/{self.name}-{safe}-{what}"
        if len(path.encode()) > IPC_PATH_MAX or safe != node:  # too long, or names collide
            digest = hashlib.sha256(node.encode()).hexdigest()[:12]
            room = IPC_PATH_MAX - len(f"{d}/{self.name}--{digest}-{what}".encode())
            safe = f"{safe[: max(0, room)]}-{digest}" if room > 0 else digest
            path = f"{d}/{self.name}-{safe}-{what}"
        return f"ipc://{path}"

    def _default_bind(self) -> str:
        """Where nodes bind when ``bind_host`` is unset: every interface when the broker
        does (``host: 0.0.0.0``), else the one interface that routes to the broker."""
        if self.host == "0.0.0.0":
            return "0.0.0.0"
        return interface_towards(self.host)

    def advertised(self, bound: str) -> str:
        """The address peers should use for a socket bound at ``bound`` (its last_endpoint).

        A wildcard bind (``0.0.0.0``) is advertised as the interface that reaches
        the broker, the one other machines on the bus can route to.
        """
        prefix = "tcp://0.0.0.0:"
        if bound.startswith(prefix):
            return f"tcp://{interface_towards(self.host)}:{bound.removeprefix(prefix)}"
        return bound

    def ensure_ipc_dir(self) -> None:
        """Create the private socket folder (0700) before binding."""
        if self.transport == "ipc":
            d = Path(self.ipc_dir) if self.ipc_dir else _runtime_dir()
            d.mkdir(parents=True, exist_ok=True, mode=0o700)


def bus_for_run(cfg: BusConfig) -> BusConfig:
    """The bus one run uses: a private one unless the config or the user named a bus.

    Two runs on one machine that both took the bus ``default`` shared a broker,
    which lived in the first run's process and vanished with it, taking the
    second run down with a timeout that never mentioned the broker. Joining a
    bus is therefore a choice: name it (``bus: {name: ...}`` in the config or
    ``--bus NAME``), or use TCP (an address is a choice too). Otherwise the run
    gets ``run-<pid>-<random>``, a bus nobody else can reach by accident.
    """
    if "name" in cfg.model_fields_set or cfg.transport == "tcp":
        return cfg
    return cfg.model_copy(update={"name": f"run-{os.getpid()}-{secrets.token_hex(3)}"})


def bus_from_env(cfg: BusConfig, environ: dict[str, str] | None = None) -> BusConfig:
    """``cfg`` with what this machine's environment says, so one config serves every host.

    ``PHYSRES_BUS=HOST:PORT``: the broker's TCP address (transport ``tcp``);
    ``PHYSRES_BUS_KEY=PATH``: this machine's secret key (``curve_secret``);
    ``PHYSRES_BUS_BROKER_KEY=PATH``: the broker's public key (``curve_broker``);
    ``PHYSRES_BUS_ALLOWED=DIR``: the keys a broker here accepts (``curve_allowed``);
    ``PHYSRES_BUS_IPC_DIR=DIR``: where the ipc sockets are (``ipc_dir``: a process
    started by another, such as a run started from the dashboard, joins its bus).
    """
    env = os.environ if environ is None else environ
    update: dict[str, object] = {}
    if addr := env.get("PHYSRES_BUS"):
        host, _, port = addr.rpartition(":")
        if not host or not port.isdigit():
            raise BusError(f"PHYSRES_BUS={addr!r}: expected HOST:PORT with a numeric port")
        update.update(transport="tcp", host=host, port=int(port))
    for var, key in (
        ("PHYSRES_BUS_KEY", "curve_secret"),
        ("PHYSRES_BUS_BROKER_KEY", "curve_broker"),
        ("PHYSRES_BUS_ALLOWED", "curve_allowed"),
        ("PHYSRES_BUS_IPC_DIR", "ipc_dir"),
    ):
        if value := env.get(var):
            update[key] = value
    if not update:
        return cfg
    data = {**cfg.model_dump(exclude_unset=True), **update}
    try:
        return BusConfig(**data)
    except ValueError as e:
        first = e.errors()[0]["msg"] if hasattr(e, "errors") else str(e)
        raise BusError(f"bus config with PHYSRES_BUS* variables: {first}") from None
