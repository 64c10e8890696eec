"""`physres dashboard` as a person starts it: its own process, its own broker, a page that
loads nothing from the internet, a token demanded beyond loopback, Ctrl-C honoured."""

from __future__ import annotations

import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import httpx
import pytest

from physres.cli import main
from physres.dashboard.app import STATIC


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_page_and_its_scripts_fetch_nothing_from_the_internet() -> None:
    page = (STATIC / "index.html").read_text()
    for ref in re.findall(r'(?:src|href)="([^"]+)"', page):
        assert not re.match(r"^(?:[a-z]+:)?//", ref), ref  # every script and style is ours
        assert (STATIC / ref.removeprefix("static/")).is_file(), ref
    for js in ("dashboard.js",):
        assert not re.search(
            r"(?:fetch|import|src)\s*\(?\s*['\"]https?://", (STATIC / js).read_text()
        )
    licence = (STATIC / "vendor" / "uplot" / "LICENSE").read_text()
    assert "MIT License" in licence  # the shipped library's licence travels with it


def test_beyond_loopback_it_refuses_to_start_without_a_token(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PHYSRES_DASHBOARD_TOKEN", raising=False)
    assert main(["dashboard", "--host", "0.0.0.0"]) == 2
    assert "needs a token; set PHYSRES_DASHBOARD_TOKEN" in capsys.readouterr().err
    assert main(["dashboard", "--host", "0.0.0.0", "--token", "short"]) == 2
    assert "use at least 16" in capsys.readouterr().err


def test_the_command_serves_the_page_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    port = _free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "physres.cli",
            "dashboard",
            "--bus",
            f"t{uuid.uuid4().hex[:8]}",
            "--port",
            str(port),
            "--runs-dir",
            str(tmp_path),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                page = httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
                break
            except httpx.HTTPError:
                assert proc.poll() is None and time.monotonic() < deadline, "it did not start"
                time.sleep(0.2)
        assert page.status_code == 200 and "E-STOP" in page.text
        js = httpx.get(f"http://127.0.0.1:{port}/static/vendor/uplot/uPlot.iife.min.js")
        assert js.status_code == 200 and "uPlot" in js.text
        # its own node is on the bus it started
        state = httpx.get(f"http://127.0.0.1:{port}/api/state").json()
        deadline = time.monotonic() + 10
        while not state["nodes"]["nodes"] and time.monotonic() < deadline:
            time.sleep(0.3)
            state = httpx.get(f"http://127.0.0.1:{port}/api/state").json()
        assert any(n["kind"] == "dashboard" for n in state["nodes"]["nodes"])
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out.decode()
    assert b"broker started in this process" in out
