"""Integration fixtures: the motor-board firmware behind a pseudo-terminal.

Every firmware test runs twice: on the real ATmega328P ELF in simavr and on
the host build of the same C logic. Where the AVR toolchain or simavr is
missing the simavr variant is skipped *with the reason in the report* (``-ra``)
and the host variant still runs, so the fallback is never silent.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from physres.drivers.bucket.firmware import BucketFirmware, simavr_missing


@pytest.fixture(params=["simavr", "host"])
def firmware(request: pytest.FixtureRequest) -> Iterator[BucketFirmware]:
    if request.param == "simavr" and (why := simavr_missing()):
        pytest.skip(f"simavr variant skipped ({why}); the host build of the firmware runs instead")
    with BucketFirmware(request.param) as fw:
        yield fw


# ------------------------------------------------------------------ CL1 (cl-sdk)
def cl_sdk_missing() -> str | None:
    """Why the CL1 tests cannot run here, or None (they need cl-sdk, the `cl1` extra)."""
    import importlib.util

    if importlib.util.find_spec("cl") is None:
        return "cl-sdk is not installed (pip install 'physres[cl1]'; licence CC BY-NC 4.0)"
    return None


def bursting_culture(seconds: float, seed: int) -> tuple:
    """Raw µV (frames × 64 at 25 kHz) and (t_ns, channel) spikes of a culture with bursts.

    Test data for the replay writer and the CL1 driver: background firing at
    ~1 Hz per channel, a network burst every second (half the channels at
    ~60 Hz for 200 ms), each spike drawn into the raw signal as a 1 ms
    negative-going waveform over 5 µV noise.
    """
    import numpy as np

    from physres.mea.params import SPIKE_DTYPE

    rng = np.random.default_rng(seed)
    fps, n = 25_000, round(seconds * 25_000)
    raw = rng.normal(0.0, 5.0, (n, 64)).astype(np.float32)
    frames = [rng.integers(100, n - 100, rng.poisson(seconds * 64))]
    channels = [rng.integers(0, 64, frames[0].size)]
    for t0 in np.arange(0.5, seconds - 0.3, 1.0):
        burst = rng.choice(64, 32, replace=False)
        for ch in burst:
            k = rng.poisson(12)
            frames.append(round(t0 * fps) + rng.integers(0, fps // 5, k))
            channels.append(np.full(k, ch))
    f, c = np.concatenate(frames), np.concatenate(channels)
    shape = -60.0 * np.exp(-0.5 * ((np.arange(25) - 5) / 2.0) ** 2)  # 1 ms trough
    for fi, ci in zip(f, c):
        raw[fi : fi + 25, ci] += shape[: n - fi]
    spikes = np.zeros(f.size, SPIKE_DTYPE)
    order = np.argsort(f, kind="stable")
    spikes["t_ns"] = np.rint((f[order] + 5) * 1e9 / fps).astype(np.int64)  # at the trough
    spikes["channel"] = c[order]
    return raw, spikes


@pytest.fixture(scope="session")
def cl_sdk() -> None:
    """Skips (saying why) where cl-sdk is missing: the CL1 tests need the vendor's simulator."""
    if why := cl_sdk_missing():
        pytest.skip(why)


@pytest.fixture(scope="session")
def culture():
    """:func:`bursting_culture`, for tests that build replay files of their own."""
    return bursting_culture


@pytest.fixture(scope="session")
def cl1_replay(cl_sdk: None, tmp_path_factory: pytest.TempPathFactory):
    """A cl-sdk replay file of a bursting culture (3 s), written by physres."""
    from physres.drivers.mea.cl1_replay import write_replay

    raw, spikes = bursting_culture(3.0, seed=7)
    return write_replay(
        tmp_path_factory.mktemp("cl1") / "culture.h5", raw, spikes, attributes={"test": "bursts"}
    )
