"""The Open Ephys GUI's ZMQ Interface plugin on the wire, both directions, as the plugin sends it.

Read from the plugin's source (open-ephys-plugins/zmq-interface,
``Source/ZmqInterface.cpp``, v1.0) and its documentation page (gui-docs,
``User-Manual/Plugins/ZMQ-Interface``); ``drivers/mea/OPENEPHYS.md`` has the
summary. In short:

* **Data socket** (PUB, bound by the GUI on ``tcp://*:<data_port>``, 5556 by
  default): three-part messages ``[envelope, header, payload]``. The envelope
  is the C string ``DATA`` or ``EVENT`` *with its NUL byte* (``b"DATA\\0"``;
  spikes travel under ``EVENT`` too). The header is JSON: ``message_num``
  (1, 2, ... since acquisition started: a gap means lost messages), ``type``
  (``data`` / ``event`` / ``spike``), ``content`` (``spike`` for spikes),
  ``data_size`` (payload bytes) and ``timestamp`` (ms, the GUI host's clock).
  Continuous ``content``: ``stream``, ``channel_num`` (index in the stream),
  ``channel_name``, ``num_samples``, ``sample_num`` (first sample's index),
  ``sample_rate``; the payload is ``num_samples`` float32 (µV), **one message
  per channel per processing block**. Events without data have two parts.
* **Listening socket** (REP on ``data_port + 1``): clients send a JSON
  heartbeat ``{"application", "uuid", "type": "heartbeat"}`` about every 2 s;
  the GUI answers ``heartbeat received`` (``JSON message could not be read``
  to garbage) and marks a client dead after 5 s without one.

Encoding is here too (the emulator in ``physres.sim.openephys`` speaks it), so
both sides read one description; the tests also decode the emulator's bytes
the way the plugin's own example client does, independently of this module.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import numpy as np

from physres.errors import FrameError

__all__ = [
    "BAD_JSON_REPLY",
    "DATA",
    "EVENT",
    "EVENT_REPLY",
    "HEARTBEAT_REPLY",
    "Message",
    "decode",
    "encode_data",
    "encode_event",
    "encode_spike",
    "heartbeat",
    "parse_heartbeat",
]

DATA = b"DATA\x00"
EVENT = b"EVENT\x00"
HEARTBEAT_REPLY = b"heartbeat received"
EVENT_REPLY = b"message correctly parsed"
BAD_JSON_REPLY = b"JSON message could not be read"
#: a header longer than this is refused before JSON parses it (the plugin's are ~250 bytes)
MAX_HEADER = 64 * 1024
#: continuous keys a data header must carry, with their JSON types
_DATA_KEYS: dict[str, type | tuple[type, ...]] = {
    "stream": str,
    "channel_num": int,
    "num_samples": int,
    "sample_num": int,
    "sample_rate": (int, float),
}


@dataclass(frozen=True)
class Message:
    """One decoded message: ``type`` data/event/spike, its number, header, payload."""

    type: str
    message_num: int
    header: dict[str, Any]
    payload: bytes

    @property
    def content(self) -> dict[str, Any]:
        return self.header.get("spike" if self.type == "spike" else "content") or {}

    def samples(self) -> np.ndarray:
        """A data message's float32 samples (µV)."""
        return np.frombuffer(self.payload, np.float32)


def _json(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def encode_data(
    message_num: int,
    *,
    stream: str,
    channel_num: int,
    channel_name: str,
    samples: np.ndarray,
    sample_num: int,
    sample_rate: float,
    timestamp_ms: int,
) -> list[bytes]:
    """One channel's block of continuous data, as ``ZmqInterface::sendData`` frames it."""
    payload = np.ascontiguousarray(samples, np.float32).tobytes()
    header = {
        "message_num": int(message_num),
        "type": "data",
        "content": {
            "stream": stream,
            "channel_num": int(channel_num),
            "channel_name": channel_name,
            "num_samples": len(payload) // 4,
            "sample_num": int(sample_num),
            "sample_rate": float(sample_rate),
        },
        "data_size": len(payload),
        "timestamp": int(timestamp_ms),
    }
    return [DATA, _json(header), payload]


def encode_event(
    message_num: int,
    *,
    stream: str,
    source_node: int,
    event_type: int,
    sample_num: int,
    data: bytes,
    timestamp_ms: int,
) -> list[bytes]:
    """A TTL event (``sendEvent``): data = line (1 byte), state (1 byte), word (8 bytes)."""
    header = {
        "message_num": int(message_num),
        "type": "event",
        "content": {
            "stream": stream,
            "source_node": int(source_node),
            "type": int(event_type),
            "sample_num": int(sample_num),
        },
        "data_size": len(data),
        "timestamp": int(timestamp_ms),
    }
    return [EVENT, _json(header), data] if data else [EVENT, _json(header)]


def encode_spike(
    message_num: int,
    *,
    stream: str,
    source_node: int,
    electrode: str,
    sample_num: int,
    waveform: np.ndarray,
    threshold: list[float],
    timestamp_ms: int,
) -> list[bytes]:
    """A spike from the GUI's own detector (``sendSpikeEvent``): waveform (channels, samples)."""
    w = np.atleast_2d(np.asarray(waveform, np.float32))
    header = {
        "message_num": int(message_num),
        "type": "spike",
        "spike": {
            "stream": stream,
            "source_node": int(source_node),
            "electrode": electrode,
            "sample_num": int(sample_num),
            "num_channels": w.shape[0],
            "num_samples": w.shape[1],
            "sorted_id": 0,
            "threshold": [float(t) for t in threshold],
        },
        "timestamp": int(timestamp_ms),
    }
    return [EVENT, _json(header), w.tobytes()]


def decode(parts: list[bytes]) -> Message:
    """One message off the data socket, checked field by field.

    Raises :class:`FrameError` whose ``kind`` names the check that failed
    (``parts``, ``envelope``, ``header``, ``type``, ``field``, ``size``), so
    the driver counts garbage by kind and skips it.
    """
    if len(parts) not in (2, 3):
        raise FrameError(
            f"Open Ephys message has {len(parts)} parts, expected 2 or 3", kind="parts"
        )
    env = bytes(parts[0])
    if env.rstrip(b"\x00") not in (b"DATA", b"EVENT"):
        raise FrameError(f"unknown envelope {env[:16]!r}, expected DATA or EVENT", kind="envelope")
    raw = bytes(parts[1])
    if len(raw) > MAX_HEADER:
        raise FrameError(f"header of {len(raw)} bytes, over {MAX_HEADER}", kind="header")
    try:
        header = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise FrameError(f"header is not JSON: {e}", kind="header") from None
    if not isinstance(header, dict):
        raise FrameError(f"header is {type(header).__name__}, not a JSON object", kind="header")
    kind = header.get("type")
    num = header.get("message_num")
    if kind not in ("data", "event", "spike"):
        raise FrameError(f"header type {str(kind)[:32]!r} is not data/event/spike", kind="type")
    if type(num) is not int or num < 0:
        raise FrameError(f"message_num {str(num)[:32]!r} is not a count", kind="field")
    payload = bytes(parts[2]) if len(parts) == 3 else b""
    msg = Message(kind, num, header, payload)
    content = msg.content
    if not isinstance(content, dict):
        raise FrameError(f"{kind} message #{num}: content is not an object", kind="field")
    if kind == "data":
        if env != DATA and env.rstrip(b"\x00") != b"DATA":
            raise FrameError(f"data message #{num} under envelope {env!r}", kind="envelope")
        for key, typ in _DATA_KEYS.items():
            value = content.get(key)
            if not isinstance(value, typ) or isinstance(value, bool):
                raise FrameError(
                    f"data message #{num}: {key} = {str(value)[:32]!r} is missing or not "
                    f"{getattr(typ, '__name__', 'a number')}",
                    kind="field",
                )
        n = content["num_samples"]
        if n < 0 or content["channel_num"] < 0 or content["sample_num"] < 0:
            raise FrameError(f"data message #{num}: negative count in {content}", kind="field")
        if len(payload) != 4 * n:
            raise FrameError(
                f"data message #{num}: payload of {len(payload)} bytes for {n} float32 samples",
                kind="size",
            )
    return msg


def heartbeat(application: str, uuid: str) -> bytes:
    """What a client sends to the listening socket about every 2 s."""
    return _json({"application": application, "uuid": uuid, "type": "heartbeat"})


def parse_heartbeat(raw: bytes) -> dict[str, Any] | None:
    """The GUI's side: the client's JSON (heartbeat or event), or None for garbage."""
    try:
        obj = json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    return obj if isinstance(obj, dict) else None
