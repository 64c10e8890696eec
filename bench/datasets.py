"""Demonstration loader throughput: chunked shuffling with an episode cache vs naive loading.

The dataset stores one compressed ``.npz`` per episode. A naive map-style
loader opens the episode file for every sample it draws (uniform shuffle over
all steps); ``DemoDataset.batches`` shuffles episodes ``episodes_per_chunk`` at
a time and the steps within the chunk, so each file is decompressed once per
epoch. Both produce the same samples (every step once per epoch, batch 64).

    python bench/datasets.py DIR [--epochs 1]

DIR is a dataset from ``physres robot collect`` (e.g. ``--tasks all --episodes 20``).
Prints samples/s of both and the speed-up LAST.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from physres.datasets import DemoDataset


def naive_epoch(ds: DemoDataset, batch: int, seed: int) -> int:
    index = ds.sample_index()
    order = np.random.default_rng(seed).permutation(len(index))
    n = 0
    for start in range(0, len(order), batch):
        images, actions = [], []
        for k in order[start : start + batch]:
            e, t = index[k]
            with np.load(ds.episodes[e].path, allow_pickle=False) as z:
                images.append(z["obs.image"][t])
                actions.append(z["expert_action"][t])
        np.stack(images), np.stack(actions)
        n += len(images)
    return n


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("dataset")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--naive-limit", type=int, default=2000,
                    help="samples the (slow) naive loader draws before its rate is taken")
    args = ap.parse_args()
    ds = DemoDataset(args.dataset, cache_episodes=32)
    print(f"{len(ds)} episodes, {ds.n_steps} steps, broken {len(ds.broken)}")

    t = time.perf_counter()
    n = sum(len(b["t"]) for b in ds.batches(args.batch, seed=0, episodes_per_chunk=16))
    fast = n / (time.perf_counter() - t)

    sub = DemoDataset(args.dataset)  # a fresh cache, and only as many samples as the limit
    keep = []
    total = 0
    for i, e in enumerate(sub.episodes):
        if total >= args.naive_limit:
            break
        keep.append(i)
        total += e.length
    sub.episodes = [sub.episodes[i] for i in keep]
    t = time.perf_counter()
    n_naive = naive_epoch(sub, args.batch, 0)
    naive = n_naive / (time.perf_counter() - t)
    print(f"naive (one np.load per sample):        {naive:8.0f} samples/s ({n_naive} samples)")
    print(f"DemoDataset.batches (chunked shuffle): {fast:8.0f} samples/s ({n} samples)")
    print(f"loader speed-up over naive per-sample loading: {fast / naive:.1f}x")


if __name__ == "__main__":
    main()
