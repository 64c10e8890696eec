"""Feature transforms: frames, events and delays become readout rows.

Each transform is checked against a direct computation, and each streaming
one against itself: feeding a recording in chunks must give exactly the rows
of one call on the whole recording.
"""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from physres.errors import DataError, ResourceError
from physres.readout import (
    DelayEmbedding,
    EventBinner,
    ExpTrace,
    FrameFeatures,
    FramePreprocessor,
    bin_events,
    delay_embed,
    hstack_features,
)

EVENT_DTYPE = np.dtype([("t_ns", "<i8"), ("channel", "<i2")])


def frames(T: int = 12, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (T, 48, 64, 3), dtype=np.uint8)


def test_frames_are_cropped_grayed_and_area_downsampled() -> None:
    video = frames()
    feats = FrameFeatures(roi=(8, 40, 0, 64), size=(8, 16)).fit().transform(video)
    assert feats.shape == (12, 8 * 16) and feats.dtype == np.float64
    gray = cv2.cvtColor(video[3, 8:40], cv2.COLOR_BGR2GRAY)
    expected = cv2.resize(gray, (16, 8), interpolation=cv2.INTER_AREA).reshape(-1) / 255
    np.testing.assert_allclose(feats[3], expected, rtol=1e-6)


@pytest.mark.parametrize("kinds", [["diff"], ["grey", "diff"], ["grey", "diff", "sobel"]])
def test_frame_difference_streams_across_chunks(kinds: list[str]) -> None:
    video = frames(20)
    whole = FrameFeatures(size=(6, 8), kinds=kinds).fit().transform(video)
    chunked = FrameFeatures(size=(6, 8), kinds=kinds).fit()
    parts = [chunked.transform(video[i : i + 7]) for i in range(0, 20, 7)]
    np.testing.assert_allclose(np.concatenate(parts), whole)
    plain = FrameFeatures(size=(6, 8)).fit().transform(video)
    diff = np.abs(np.diff(plain, axis=0, prepend=plain[:1]))
    np.testing.assert_allclose(whole[:, kinds.index("diff") * 48 :][:, :48], diff, atol=1e-6)


def test_one_frame_feature_implementation_serves_camera_sim_and_pipeline() -> None:
    """The camera driver's FramePreprocessor is the pipeline stage's, not a copy of it."""
    from physres.drivers.bucket import camera
    from physres.readout import features

    assert camera.FramePreprocessor is features.FramePreprocessor
    assert camera.feature_count is features.feature_count
    video = frames(5)
    episodes = [video[:3], video[3:]]
    stage = FrameFeatures(size=(4, 4), kinds=["grey", "diff"]).fit()
    pre = FramePreprocessor((4, 4), ["grey", "diff"])
    for got, ep in zip(stage.transform(episodes), episodes):
        pre.reset()  # each episode starts without a previous frame
        np.testing.assert_array_equal(got, pre.transform(ep).astype(np.float64))


def test_frame_errors_name_the_problem() -> None:
    with pytest.raises(DataError, match=r"expected frames shaped \(T, H, W\)"):
        FrameFeatures().fit().transform(np.zeros((4, 4)))
    with pytest.raises(DataError, match="roi .* is empty"):
        FrameFeatures(roi=(10, 10, 0, 5)).fit().transform(frames(2))
    with pytest.raises(DataError, match="each must be one of grey, diff, sobel, flow"):
        FrameFeatures(kinds=["square"]).fit()


def random_events(n: int = 500, channels: int = 8, span_ns: int = 10_000_000, seed: int = 0):
    rng = np.random.default_rng(seed)
    ev = np.empty(n, EVENT_DTYPE)
    ev["t_ns"] = np.sort(rng.integers(0, span_ns, n))
    ev["channel"] = rng.integers(0, channels, n)
    return ev


def test_events_are_binned_per_channel() -> None:
    ev = random_events()
    counts = bin_events(ev, t0_ns=0, bin_ns=1_000_000, n_bins=10, n_channels=8)
    expected = np.zeros((10, 8))
    for t, c in zip(ev["t_ns"], ev["channel"]):
        expected[t // 1_000_000, c] += 1
    np.testing.assert_array_equal(counts, expected)
    assert counts.sum() == len(ev)


def test_streaming_binner_matches_one_shot_and_counts_late_events() -> None:
    ev = random_events()
    binner = EventBinner(bin_ns=1_000_000, n_channels=8)
    rows, prev = [], 0
    for until in (2_500_000, 2_600_000, 7_000_000, 10_000_000):  # events as they arrive
        chunk = ev[(ev["t_ns"] >= prev) & (ev["t_ns"] < until)]
        rows.append(binner.transform(chunk, until_ns=until))
        prev = until
    np.testing.assert_array_equal(
        np.concatenate(rows), bin_events(ev, t0_ns=0, bin_ns=1_000_000, n_bins=10, n_channels=8)
    )
    late = np.zeros(3, EVENT_DTYPE)
    late["t_ns"] = [100, 200, 9_999_999_999]
    binner.transform(late, until_ns=10_000_000)
    assert binner.n_late == 2


def test_event_channel_out_of_range_is_an_error() -> None:
    ev = random_events(channels=9)
    with pytest.raises(DataError, match=r"has channel 8, expected 0..7"):
        bin_events(ev, t0_ns=0, bin_ns=1000, n_bins=5, n_channels=8)
    with pytest.raises(DataError, match="'t_ns' and 'channel' fields"):
        bin_events(np.zeros(3), t0_ns=0, bin_ns=1000, n_bins=5, n_channels=8)


def test_exponential_trace_is_a_leaky_counter_and_streams() -> None:
    x = np.random.default_rng(0).poisson(0.3, (100, 4)).astype(float)
    tau = 5.0
    d = np.exp(-1 / tau)
    expected = np.zeros_like(x)
    acc = np.zeros(4)
    for t in range(100):
        acc = d * acc + x[t]
        expected[t] = acc
    np.testing.assert_allclose(ExpTrace(tau).transform(x), expected)
    tr = ExpTrace(tau)
    streamed = np.concatenate([tr.transform(x[:37]), tr.transform(x[37:])])
    np.testing.assert_allclose(streamed, expected)


def test_delay_embedding_shifts_rows_and_streams() -> None:
    X = np.arange(20.0).reshape(10, 2)
    out = delay_embed(X, [0, 1, 3])
    assert out.shape == (10, 6)
    np.testing.assert_array_equal(out[5], np.r_[X[5], X[4], X[2]])
    np.testing.assert_array_equal(out[1, 4:], [0, 0])  # before the start: zeros
    emb = DelayEmbedding(3)
    np.testing.assert_array_equal(
        np.concatenate([emb.transform(X[:4]), emb.transform(X[4:])]), delay_embed(X, 3)
    )


def test_hstack_refuses_blocks_of_different_length() -> None:
    assert hstack_features(np.ones((4, 2)), np.zeros(4)).shape == (4, 3)
    with pytest.raises(DataError, match=r"different row counts \(state: 4, frames: 3\)"):
        hstack_features(np.ones((4, 2)), np.ones((3, 2)), names=["state", "frames"])


@pytest.mark.parametrize("delays", [10**9, [0, 10**12]])
def test_absurd_delays_are_refused_at_once_without_allocating(delays) -> None:
    with pytest.raises(DataError, match=r"DelayEmbedding: .*at most 1,000,000"):
        DelayEmbedding(delays)


def test_a_delay_embedding_too_big_for_memory_is_refused_with_its_size(monkeypatch) -> None:
    import physres.readout.stats as stats

    monkeypatch.setattr(stats, "available_memory_bytes", lambda: 2**20)
    with pytest.raises(ResourceError, match=r"DelayEmbedding: .* 50 features x 100 delays"):
        DelayEmbedding(100).transform(np.zeros((300, 50)))
