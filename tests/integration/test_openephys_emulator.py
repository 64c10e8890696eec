"""The emulated Open Ephys GUI speaks the ZMQ Interface's framing and the GUI's HTTP API.

Checked from outside physres's own decoder: the data socket is read the way
the plugin's example client (Resources/python_client/plot_process_zmq.py)
reads it, and the HTTP server is driven by open-ephys-python-tools'
``OpenEphysHTTPServer``, unchanged but for its address.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import numpy as np
import pytest
import zmq

from physres.drivers.mea import oe_protocol as oe
from physres.errors import FrameError
from physres.sim.openephys.gui import Faults, OpenEphysEmulator
from physres.sim.openephys.sources import SyntheticSource

open_ephys_control = pytest.importorskip("open_ephys.control")

N = 4


@pytest.fixture
def gui() -> Iterator[OpenEphysEmulator]:
    with OpenEphysEmulator(SyntheticSource(N, seed=1), n_channels=N, block=250) as g:
        yield g


def official_client(g: OpenEphysEmulator) -> object:
    client = open_ephys_control.OpenEphysHTTPServer("127.0.0.1")
    client.address = f"http://127.0.0.1:{g.http_port}"  # the GUI's is fixed at 37497
    return client


def subscribe(g: OpenEphysEmulator) -> tuple[zmq.Context, zmq.Socket]:
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.setsockopt(zmq.LINGER, 0)
    sub.connect(f"tcp://127.0.0.1:{g.data_port}")
    time.sleep(0.2)  # a SUB joins late; the test starts acquisition after it joined
    return ctx, sub


def test_the_official_http_client_controls_acquisition(gui: OpenEphysEmulator) -> None:
    client = official_client(gui)
    assert client.status() == "IDLE"
    assert client.acquire() == "ACQUIRE" and gui.mode == "ACQUIRE"
    assert client.record() == "RECORD" and gui.mode == "RECORD"
    assert client.idle() == "IDLE" and gui.mode == "IDLE"
    client.set_parent_dir("/data/mea")
    assert client.get_recording_info("parent_directory") == "/data/mea"
    assert "ZMQ Interface" in [p["name"] for p in client.get_processors()]


def test_bad_requests_are_refused_not_obeyed(gui: OpenEphysEmulator) -> None:
    import httpx

    with httpx.Client(base_url=f"http://127.0.0.1:{gui.http_port}") as http:
        r = http.put("/api/status", content=b'{"mode": "EXPLODE"}')
        assert r.status_code == 400 and "EXPLODE" in r.json()["error"]
        assert http.put("/api/status", content=b"{not json").status_code == 400
        assert http.get("/api/status").json() == {"mode": "IDLE"}


def test_data_reads_as_the_plugins_example_client_reads_it(gui: OpenEphysEmulator) -> None:
    ctx, sub = subscribe(gui)
    try:
        official_client(gui).acquire()
        blocks: dict[int, dict[int, np.ndarray]] = {}
        last_num = -1
        deadline = time.monotonic() + 10
        while len(blocks) < 6 and time.monotonic() < deadline:
            if not sub.poll(200):
                continue
            message = sub.recv_multipart()
            assert message[0] == b"DATA\x00"  # the C string with its NUL, as sent
            header = json.loads(message[1].decode("utf-8"))
            assert header["type"] == "data"
            assert last_num == -1 or header["message_num"] == last_num + 1
            last_num = header["message_num"]
            c = header["content"]
            assert set(c) >= {"stream", "channel_num", "num_samples", "sample_num", "sample_rate"}
            assert c["sample_rate"] == 25_000.0 and header["data_size"] == 4 * c["num_samples"]
            n_arr = np.frombuffer(message[2], dtype=np.float32)
            blocks.setdefault(c["sample_num"], {})[c["channel_num"]] = np.reshape(
                n_arr, c["num_samples"]
            )
    finally:
        ctx.destroy(linger=0)
    full = [s for s, chans in blocks.items() if len(chans) == N]
    assert len(full) >= 4, "one message per channel per block"
    assert all(b % 250 == 0 for b in full), "sample_num counts samples from acquisition start"
    assert np.std(np.concatenate([blocks[full[0]][ch] for ch in range(N)])) > 1.0  # µV of noise


def test_heartbeats_are_answered_and_clients_listed(gui: OpenEphysEmulator) -> None:
    ctx = zmq.Context()
    req = ctx.socket(zmq.REQ)
    req.setsockopt(zmq.LINGER, 0)
    req.connect(f"tcp://127.0.0.1:{gui.data_port + 1}")
    me = str(uuid.uuid4())
    try:
        req.send(oe.heartbeat("pytest", me))
        assert req.poll(5000) and req.recv() == oe.HEARTBEAT_REPLY
        req.send(b"{broken")
        assert req.poll(5000) and req.recv() == oe.BAD_JSON_REPLY
    finally:
        ctx.destroy(linger=0)
    assert gui.clients[me].application == "pytest" and gui.clients[me].alive


def test_faults_damage_the_stream_as_configured() -> None:
    faults = Faults(drop_every=7, garble_every=5)
    with OpenEphysEmulator(SyntheticSource(N), n_channels=N, faults=faults) as g:
        ctx, sub = subscribe(g)
        try:
            g.set_mode("ACQUIRE")
            kinds: dict[str, int] = {}
            nums = []
            deadline = time.monotonic() + 10
            while len(nums) + sum(kinds.values()) < 120 and time.monotonic() < deadline:
                if not sub.poll(200):
                    continue
                try:
                    nums.append(oe.decode(sub.recv_multipart()).message_num)
                except FrameError as e:
                    kinds[e.kind] = kinds.get(e.kind, 0) + 1
        finally:
            ctx.destroy(linger=0)
    assert set(kinds) == {"size", "header", "parts", "envelope"}, kinds
    assert all(n % 7 for n in nums), "dropped numbers never arrive"
    assert np.diff(nums).max() > 1, "the gaps show in message_num"


def test_acquisition_can_stop_by_itself() -> None:
    with OpenEphysEmulator(SyntheticSource(N), n_channels=N, faults=Faults(stop_after_s=0.2)) as g:
        g.set_mode("ACQUIRE")
        deadline = time.monotonic() + 10
        while g.mode != "IDLE" and time.monotonic() < deadline:
            time.sleep(0.02)
        assert g.mode == "IDLE" and g.stop_reason == "fault"
        assert official_client(g).status() == "IDLE"


def test_the_simulated_culture_feeds_the_emulated_gui_and_rewinds() -> None:
    from physres.sim.openephys.sources import CultureSource

    source = CultureSource({"n_neurons": 100, "seed": 2})
    first = source(500)
    assert first.shape == (500, 64) and first.dtype == np.float32
    assert np.isfinite(first).all() and 1.0 < first.std() < 1000.0  # µV of noise and spikes
    source.rewind()
    np.testing.assert_array_equal(source(500), first)  # each acquisition plays it again
    with pytest.raises(ValueError, match="whole steps of 250"):
        source(100)
