"""Decode cost per message, against a bare ``msgpack.unpackb`` of the same header.

    python bench/codec.py

Three kinds of header reach ``physres.bus.codec.decode``: a stream's steady
state (a remembered layout: no msgpack at all), a message with meta (commands,
``in_seq``-stamped streams: only the meta is unpacked) and a header in another
layout (recordings made before the fixed layout, other writers: unpacked and
checked field by field). The baseline unpacks the header and validates nothing.
The last line is the steady-state ratio physres / bare msgpack.
"""

from __future__ import annotations

import timeit

import msgpack
import numpy as np

from physres.bus.codec import decode, encode


def per_call_us(fn, number: int = 100_000, repeat: int = 5) -> float:
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def main() -> None:
    x = np.zeros(8)
    steady = encode("esn", "state", 5, {"state": x}, t_dev=1, t_host=2)
    with_meta = encode("esn", "state", 5, {"state": x}, t_dev=1, t_host=2, meta={"in_seq": 4})
    old = msgpack.packb(
        {
            "v": 1,
            "src": "esn",
            "st": "state",
            "seq": 5,
            "td": 1,
            "th": 2,
            "b": [["state", "<f8", [8], ""]],
        }
    )
    other = [b"esn/state", old, x.tobytes()]
    for frames in (steady, with_meta, other):
        decode(frames)  # layouts remembered where they can be
    rows = {
        "steady state (remembered layout)": (steady, per_call_us(lambda: decode(steady))),
        "with meta": (with_meta, per_call_us(lambda: decode(with_meta))),
        "other layout (checked field by field)": (other, per_call_us(lambda: decode(other))),
    }
    ratios = []
    for label, (frames, us) in rows.items():
        h = bytes(frames[1])
        bare = per_call_us(lambda h=h: msgpack.unpackb(h, raw=False))
        ratios.append(us / bare)
        print(
            f"{label:40s} physres {us:5.2f} us  bare msgpack {bare:5.2f} us  ratio {us / bare:.2f}"
        )
    print(f"steady-state decode ratio physres/bare msgpack = {ratios[0]:.2f}")


if __name__ == "__main__":
    main()
