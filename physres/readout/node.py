"""``ReadoutNode``: train a readout live on the bus and publish its predictions.

It subscribes to a device's state stream and a target stream and pairs their
chunks by ``in_seq`` (the input that produced a stepped device's states; a
target publisher tags its targets with the same input seq) or, failing that,
by device time. In ``offline`` mode it accumulates sufficient statistics until
``n_train`` rows have arrived, solves once and from then on predicts; in
``online`` mode it updates a recursive-least-squares readout with every pair.
Predictions go out on ``<name>/prediction`` with the state message's seq
(``meta.in_seq``) and device time, so consumers can line them up.

Once trained, every pair that arrives is also scored before anything learns
from it (held out in ``offline`` mode, test-then-train in ``online`` mode) and
goes out on ``<name>/scored``: arrays ``prediction`` and ``target`` with the
running NRMSE over all scored rows in ``meta.score`` (the dashboard's
prediction-vs-target panel).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np
import zmq

from physres.bus.codec import Message
from physres.bus.config import BusConfig
from physres.bus.node import Node
from physres.bus.service import Service
from physres.readout.io import save_readout
from physres.readout.ridge import RidgeReadout
from physres.readout.rls import RLSReadout

__all__ = ["ReadoutNode"]

_MAX_PENDING = 10_000


class ReadoutNode(Service):
    """Serve a readout on the bus until ``stop()``; run it in a thread or the foreground."""

    def __init__(
        self,
        name: str,
        state_topic: str,
        target_topic: str,
        cfg: BusConfig | None = None,
        ctx: zmq.Context | None = None,
        *,
        mode: Literal["offline", "online"] = "offline",
        n_train: int = 1000,
        alpha: float = 1e-6,
        washout: int = 0,
        forgetting: float = 1.0,
    ) -> None:
        super().__init__()
        if mode not in ("offline", "online"):
            raise ValueError(f"mode must be 'offline' or 'online', got {mode!r}")
        self.name = name
        self.state_topic = state_topic
        self.target_topic = target_topic
        self.cfg = cfg or BusConfig()
        self.ctx = ctx or zmq.Context.instance()
        self.mode = mode
        self.n_train = n_train
        self.readout: RidgeReadout | RLSReadout = (
            RidgeReadout(alpha=alpha, washout=washout)
            if mode == "offline"
            else RLSReadout(forgetting=forgetting)
        )
        self.trained = False
        self.rows_seen = 0
        self.published = 0
        self._states: dict[Any, Message] = {}
        self._targets: dict[Any, np.ndarray] = {}
        #: scored rows so far: count, sum of squared errors, sum and sum of squares of targets
        self._score_sums = np.zeros(4)

    @property
    def service_name(self) -> str:
        return f"readout-{self.name}"

    def run(self) -> None:
        node = Node(
            self.name,
            self.cfg,
            self.ctx,
            subscribe=[self.state_topic, self.target_topic],
            kind=f"readout.{self.mode}",
        )
        node.declare_stream(
            "prediction", dtype="<f8", shape=[None], units="", rate_hz=None, carries="continuous"
        )
        node.declare_stream(
            "scored",
            dtype="<f8",
            shape=[None],
            units="",
            rate_hz=None,
            carries="continuous",
            arrays=["prediction", "target"],
            score="nrmse",
        )
        node.command("fit", self.fit_now)
        node.command("save", self.save)
        node.command("stats", self.stats)
        self._serving()
        try:
            while not self._stop.is_set():
                for msg in node.spin_once(0.01):
                    self._handle(node, msg)
        finally:
            node.close()

    # ------------------------------------------------------------- commands
    def fit_now(self) -> dict[str, Any]:
        """Solve from what has been accumulated so far (offline mode)."""
        if isinstance(self.readout, RidgeReadout):
            self.readout.solve()
        self.trained = True
        return self.stats()

    def save(self, path: str) -> str:
        """Write the readout in physres's versioned, pickle-free format."""
        save_readout(self.readout, Path(path))
        return str(path)

    def stats(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "trained": self.trained,
            "rows_seen": self.rows_seen,
            "n_train": self.n_train,
            "published": self.published,
            "pending_states": len(self._states),
            "pending_targets": len(self._targets),
        }

    # ------------------------------------------------------------------ data
    @staticmethod
    def _key(msg: Message) -> Any:
        return ("seq", msg.meta["in_seq"]) if "in_seq" in msg.meta else ("t", msg.t_dev)

    def _handle(self, node: Node, msg: Message) -> None:
        if msg.topic == self.target_topic:
            y = np.asarray(msg.data, dtype=np.float64)
            self._targets[self._key(msg)] = y.reshape(len(y), -1) if y.ndim != 2 else y
        else:
            if not msg.arrays:
                return
            self._states[self._key(msg)] = msg
            if self.trained:
                self._predict(node, msg)
        for p, y in self._pair():
            self._score(node, p, y)
        for pending in (self._states, self._targets):
            while len(pending) > _MAX_PENDING:  # unpaired leftovers never grow without bound
                pending.pop(next(iter(pending)))

    def _pair(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """Pair states with targets and learn from them; return (prediction, target) to score."""
        to_score = []
        for key in [k for k in self._targets if k in self._states]:
            y = self._targets.pop(key)
            x = np.asarray(self._states.pop(key).data, dtype=np.float64)
            x = x.reshape(len(x), -1)
            if len(x) != len(y):
                continue  # a torn pair: counted as unpaired, never trained on
            if self.trained:  # predicted before the readout learns from it (if it does)
                to_score.append((np.asarray(self.readout.predict(x)).reshape(y.shape), y))
            if self.mode == "online":
                self.readout.partial_fit(x, y)
                self.trained = True
            elif not self.trained:
                self.readout.accumulate(x, y)
                if self.readout.stats_.n >= self.n_train:
                    self.readout.solve()
                    self.trained = True
            self.rows_seen += len(x)
        return to_score

    def _score(self, node: Node, p: np.ndarray, y: np.ndarray) -> None:
        self._score_sums += [y.size, np.sum((y - p) ** 2), np.sum(y), np.sum(y * y)]
        n, sse, s, ss = self._score_sums
        var = ss / n - (s / n) ** 2  # of every target element scored (per output: averaged)
        score = float(np.sqrt(sse / n / var)) if var > 0 else None
        node.pub.publish(
            "scored",
            {"prediction": p, "target": y},
            meta={"score": score, "metric": "nrmse", "rows": int(n)},
        )

    def _predict(self, node: Node, msg: Message) -> None:
        x = np.asarray(msg.data, dtype=np.float64)
        y = np.asarray(self.readout.predict(x.reshape(len(x), -1)))
        node.pub.publish(
            "prediction",
            {"prediction": y.reshape(len(x), -1)},
            t_dev=msg.t_dev,
            meta={"in_seq": msg.seq, "state_topic": msg.topic},
        )
        self.published += 1
