"""The prompt-to-action controller: camera frames + a text prompt in, arm actions out.

* :mod:`~physres.controller.encoder` — the offline sentence encoder, cached embeddings;
* :mod:`~physres.controller.model` — FiLM conv stem, TokenLearner, causal transformer;
* :mod:`~physres.controller.actions` — RT-1 action tokens, ACT chunks + temporal ensembling;
* :mod:`~physres.controller.train` — resumable training on demonstration datasets;
* :mod:`~physres.controller.checkpoint` — the checkpoint file and its checks;
* :mod:`~physres.controller.runtime` — :class:`Controller`, one cached control step at a time;
* :mod:`~physres.controller.node` — :class:`ControllerNode` on the bus.

Rollouts in the simulator (``physres robot eval``/``run``) live with the arm
(``physres.sim.arm.policy``): the core imports no simulator. Needs the
``controller`` extra (and torch).
"""

from pathlib import Path

from physres.controller.checkpoint import Checkpoint, CheckpointError
from physres.controller.encoder import ENCODER_NAME, PromptEncoder, check_prompt
from physres.controller.model import ControllerConfig, PromptToAction
from physres.controller.runtime import Controller, PromptMatch, PromptRefused

#: the checkpoint shipped with the package (``physres robot run`` uses it by default)
SHIPPED_CHECKPOINT = Path(__file__).parent / "checkpoints" / "tabletop.pt"

__all__ = [
    "ENCODER_NAME",
    "SHIPPED_CHECKPOINT",
    "Checkpoint",
    "CheckpointError",
    "Controller",
    "ControllerConfig",
    "PromptEncoder",
    "PromptMatch",
    "PromptRefused",
    "PromptToAction",
    "check_prompt",
]
