"""What a person can do from the page: e-stop, prompt the robot, start and stop a run.

Each action is a bus command on a socket made for that call (ZeroMQ sockets
are thread-bound, and a call must never wait behind the feed's socket). The
e-stop goes to every live node that offers ``estop``, all at once, on a
thread pool of its own, so a queue of prompts or a slow run start cannot
delay it. A prompt goes to the node offering ``prompt`` (a controller):
it answers whether it accepted the text, and the answer is shown as it came.

Every answer is a dict the page shows as it is: ``ok`` and either the result
or an ``error`` that names what was wrong.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import zmq

from physres.bus.commands import CommandClient
from physres.bus.config import BusConfig
from physres.dashboard.board import Board
from physres.errors import CommandTimeout, ConfigError, PhysresError, RemoteError

__all__ = ["Controls", "RunControl", "check_prompt_text"]

#: longest prompt accepted (a sentence, not a document)
MAX_PROMPT_CHARS = 500


def check_prompt_text(text: Any) -> str:
    """The prompt as sent, or ConfigError naming what is wrong with it."""
    if not isinstance(text, str):
        raise ConfigError(f"prompt: expected text, got {type(text).__name__}")
    text = " ".join(text.split())
    if not text:
        raise ConfigError("prompt: empty; type what the robot should do")
    if len(text) > MAX_PROMPT_CHARS:
        raise ConfigError(f"prompt: {len(text)} characters, over the limit of {MAX_PROMPT_CHARS}")
    if not text.isprintable():
        raise ConfigError("prompt: holds control characters")
    return text


def _plain(value: Any) -> Any:
    """A command's result as JSON-able data (arrays become lists)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    return value


class Controls:
    """Bus commands on behalf of the page (safe to call from any thread)."""

    def __init__(self, board: Board, cfg: BusConfig, ctx: zmq.Context | None = None) -> None:
        self.board = board
        self.cfg = cfg
        self.ctx = ctx or zmq.Context.instance()
        #: the e-stop's own threads: never shared with anything that could fill them
        self.estop_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="estop")
        #: where the web side hands an e-stop request (it then waits on ``estop_pool``)
        self.estop_entry = ThreadPoolExecutor(max_workers=4, thread_name_prefix="estop-entry")
        self._local = threading.local()
        self._clients: list[CommandClient] = []

    def _client(self) -> CommandClient:
        """This thread's own command client, kept: its direct routes to nodes are looked up
        once, so an e-stop does not first ask the broker where the arm is."""
        client = getattr(self._local, "client", None)
        if client is None:
            client = self._local.client = CommandClient(self.ctx, self.cfg)
            self._clients.append(client)
        return client

    def _call(self, node: str, command: str, timeout_s: float, **kw: Any) -> dict[str, Any]:
        try:
            result = self._client().call(node, command, timeout_s=timeout_s, **kw)
        except RemoteError as e:
            return {"node": node, "ok": False, "error": f"{e.remote_type}: {e.remote_message}"}
        except CommandTimeout as e:
            return {"node": node, "ok": False, "error": str(e)}
        return {"node": node, "ok": True, "result": _plain(result)}

    def _targets(self, command: str) -> list[str]:
        found = self.board.nodes_offering(command)
        if found:
            return found
        client = CommandClient(self.ctx, self.cfg)  # the list may be a second old: ask now
        try:
            rows = client.call("_broker", "ls", timeout_s=1.0)
        except CommandTimeout:
            return []
        finally:
            client.close()
        return [
            r["name"]
            for r in rows or []
            if isinstance(r, dict)
            and r.get("alive")
            and isinstance(r.get("name"), str)
            and command in (r.get("commands") or [])
        ]

    def estop(self, timeout_s: float = 1.0) -> dict[str, Any]:
        """Stop every node that offers ``estop``, in parallel; ``ok`` only if all confirmed."""
        t0 = time.monotonic()
        nodes = self._targets("estop")
        if not nodes:
            return {
                "ok": False,
                "error": f"no live node on bus {self.cfg.name!r} offers an estop command",
                "nodes": [],
            }
        futures = [self.estop_pool.submit(self._call, n, "estop", timeout_s) for n in nodes]
        answers = [f.result() for f in futures]
        return {
            "ok": all(a["ok"] for a in answers),
            "nodes": answers,
            "ms": round((time.monotonic() - t0) * 1000, 1),
        }

    def prompt(self, text: Any, node: Any = None, timeout_s: float = 5.0) -> dict[str, Any]:
        """Send ``text`` to the node offering ``prompt``; its answer (accepted or refused) back."""
        try:
            text = check_prompt_text(text)
        except ConfigError as e:
            return {"ok": False, "error": str(e)}
        offering = self._targets("prompt")
        if node is not None:
            if not isinstance(node, str) or node not in offering:
                return {
                    "ok": False,
                    "error": f"node {str(node)[:80]!r} offers no prompt command; "
                    f"nodes that do: {offering or 'none'}",
                }
            offering = [node]
        if not offering:
            return {
                "ok": False,
                "error": f"no live node on bus {self.cfg.name!r} offers a prompt command "
                "(start a controller)",
            }
        if len(offering) > 1:
            return {"ok": False, "error": f"several nodes offer prompt {offering}; choose one"}
        answer = self._call(offering[0], "prompt", timeout_s, text=text)
        result = answer.get("result")
        accepted = isinstance(result, dict) and result.get("accepted") is not False
        shown = {"text": text, "node": offering[0], "accepted": answer["ok"] and accepted}
        if isinstance(result, dict):
            shown.update({k: v for k, v in result.items() if k != "text"})
        if not answer["ok"]:
            shown["error"] = answer["error"]
        self.board.note_prompt(shown)
        return {**answer, "accepted": shown["accepted"]}

    def close(self) -> None:
        self.estop_entry.shutdown(wait=True, cancel_futures=True)
        self.estop_pool.shutdown(wait=True, cancel_futures=True)
        for client in self._clients:
            client.close()


class RunControl:
    """Start ``physres run CONFIG`` on the dashboard's bus, and stop it like Ctrl-C."""

    def __init__(self, cfg: BusConfig, runs_dir: Path) -> None:
        self.cfg = cfg
        self.runs_dir = Path(runs_dir)
        self.proc: subprocess.Popen[bytes] | None = None
        self.info: dict[str, Any] = {"state": "idle"}
        self._lock = threading.Lock()

    def start(self, config: Any) -> dict[str, Any]:
        from physres.config import load_config

        if not isinstance(config, str) or not config:
            return {"ok": False, "error": "run: name a config file (YAML)"}
        with self._lock:
            if self.proc is not None and self.proc.poll() is None:
                return {
                    "ok": False,
                    "error": f"a run is going (pid {self.proc.pid}); stop it first",
                }
            try:
                cfg = load_config(config)
            except (PhysresError, OSError) as e:
                return {"ok": False, "error": " ".join(str(e).split())}
            out = self.runs_dir / f"{cfg.name}-{time.strftime('%Y%m%d-%H%M%S')}"
            self.runs_dir.mkdir(parents=True, exist_ok=True)
            log_path = out.with_suffix(".log")
            cmd = [
                sys.executable,
                "-m",
                "physres.cli",
                "run",
                str(config),
                "--out",
                str(out),
                "--quiet",
            ]
            cmd += ["--bus", self.cfg.name]
            if self.cfg.transport == "tcp":
                cmd += ["--tcp", f"{self.cfg.host}:{self.cfg.port}"]
            env = dict(os.environ)
            if self.cfg.ipc_dir:
                env["PHYSRES_BUS_IPC_DIR"] = self.cfg.ipc_dir
            with open(log_path, "wb") as log:
                self.proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
            self.info = {
                "state": "running",
                "pid": self.proc.pid,
                "config": str(config),
                "out": str(out),
                "log": str(log_path),
            }
            return {"ok": True, **self.info}

    def status(self) -> dict[str, Any]:
        with self._lock:
            if self.proc is not None and self.info.get("state") == "running":
                rc = self.proc.poll()
                if rc is not None:
                    self.info = {**self.info, "state": "finished", "returncode": rc}
            return dict(self.info)

    def stop(self, timeout_s: float = 30.0) -> dict[str, Any]:
        """SIGINT (the run writes run.json and keeps its recording), then wait for it."""
        with self._lock:
            proc = self.proc
        if proc is None or proc.poll() is not None:
            return {"ok": False, "error": "no run is going", **self.status()}
        os.kill(proc.pid, signal.SIGINT)
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        return {"ok": True, **self.status()}
