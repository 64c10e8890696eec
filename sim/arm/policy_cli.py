"""``physres robot train / eval / run``: the prompt-to-action controller from the shell.

Training is core (``physres.controller.train``); evaluation and ``run`` roll
out in the tabletop simulator (``physres.sim.arm.policy``), so the commands
live with the arm and join the ``physres robot`` group.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console

from physres.errors import ConfigError
from physres.progress import progress_bar
from physres.sim.arm.cli import robot_subparsers

if TYPE_CHECKING:  # imported late at run time: torch is slow to import
    from physres.controller.model import ControllerConfig

__all__ = ["cmd_eval", "cmd_run", "cmd_train", "register"]

console = Console()


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``train``, ``eval`` and ``run`` to ``physres robot``."""
    robot = robot_subparsers(sub)
    t = robot.add_parser("train", help="train the prompt-to-action controller on demonstrations")
    t.add_argument("--data", type=Path, nargs="+", required=True, help="dataset folder(s)")
    t.add_argument("--out", type=Path, required=True, help="checkpoint file to write")
    t.add_argument("--epochs", type=int, default=30, help="passes over the training windows")
    t.add_argument("--batch-size", type=int, default=16, help="windows per batch")
    t.add_argument("--lr", type=float, default=1e-3, help="AdamW peak learning rate (cosine decay)")
    t.add_argument("--seed", type=int, default=0, help="initialisation, split and order seed")
    t.add_argument(
        "--init",
        type=Path,
        default=None,
        help="start from this finished checkpoint (same network flags): a DAgger round",
    )
    t.add_argument(
        "--episodes-per-task",
        type=int,
        default=None,
        help="only the first N episodes of each task (small-budget comparisons)",
    )
    t.add_argument(
        "--head",
        choices=("chunk", "tokens"),
        default="chunk",
        help="ACT action chunks or RT-1 256-bin action tokens",
    )
    t.add_argument("--image-size", type=int, default=64, help="frame side the stem sees")
    t.add_argument("--history", type=int, default=4, help="frames the transformer sees")
    t.add_argument("--d-model", type=int, default=128, help="transformer width")
    t.add_argument("--layers", type=int, default=3, help="transformer layers")
    t.add_argument("--stem", default="16,32,64", help="conv stem channels, one stride-2 block each")
    t.add_argument("--chunk", type=int, default=5, help="actions per chunk (--head chunk)")
    t.add_argument(
        "--shift",
        type=int,
        default=2,
        help="pixels of random image shift (augmentation; it blurs where objects are)",
    )
    t.add_argument(
        "--no-keypoints",
        action="store_true",
        help="image tokens without their attention maps' expected (x, y)",
    )
    t.add_argument(
        "--grid",
        type=int,
        default=0,
        help="also pool the stem's feature map into GRID x GRID tokens (the whole scene, "
        "coarsely: the attention maps may all settle on one object)",
    )
    t.add_argument(
        "--scene-keypoints",
        type=int,
        default=0,
        metavar="M",
        help="one more token: M independent spatial-softmax keypoints' (x, y), so objects "
        "the attention maps left out (the bowl, while the cube is carried) have a position",
    )
    t.add_argument(
        "--future",
        default="",
        metavar="H,H,...",
        help="training-only target: where the hand is H steps later, for each H (a large H: "
        "where the episode ends), so the network must find the place it goes",
    )
    t.add_argument(
        "--future-weight",
        type=float,
        default=1.0,
        help="weight of the --future loss beside the action loss",
    )
    t.add_argument(
        "--prompt-blind",
        action="store_true",
        help="the control: prompt embedding zeroed, everything else the same",
    )
    t.add_argument(
        "--bf16",
        action="store_true",
        help="bf16 autocast (faster only on CPUs with bf16 instructions)",
    )
    t.add_argument("--threads", type=int, default=None, help="torch threads")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.set_defaults(func=cmd_train)

    e = robot.add_parser("eval", help="success of a controller on unseen layouts, with controls")
    e.add_argument("--ckpt", type=Path, default=None, help="checkpoint (default: the shipped one)")
    e.add_argument("--episodes", type=int, default=50, help="layouts per task")
    e.add_argument("--tasks", default="all", help="'all' or comma-separated task names")
    e.add_argument("--blind", type=Path, default=None, help="prompt-blind checkpoint (control)")
    e.add_argument("--no-expert", action="store_true", help="skip the scripted-expert column")
    e.add_argument("--no-wordings", action="store_true", help="skip the unseen-wordings column")
    e.add_argument("--no-shared", action="store_true", help="skip the shared-scenes column")
    e.add_argument(
        "--prompts",
        type=Path,
        default=None,
        help="TSV of 'task<TAB>prompt' lines to score instead of the templates",
    )
    e.add_argument("--out", type=Path, default=Path("eval"), help="folder for table and videos")
    e.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="cap each rollout (default: the task's own step limit)",
    )
    e.add_argument("--threads", type=int, default=None, help="torch threads")
    e.add_argument("--quiet", action="store_true", help="no progress bar")
    e.set_defaults(func=cmd_eval)

    r = robot.add_parser("run", help="roll out one prompt in the simulator: video and success")
    r.add_argument("--prompt", required=True, help="the instruction (the controller sees only it)")
    r.add_argument("--out", type=Path, required=True, help="folder for rollout.mp4 + result.json")
    r.add_argument(
        "--task",
        default=None,
        help="task whose layout to build (default: parsed from the prompt's wording)",
    )
    r.add_argument("--seed", type=int, default=0, help="layout seed")
    r.add_argument("--ckpt", type=Path, default=None, help="checkpoint (default: the shipped one)")
    r.add_argument(
        "--max-steps",
        type=int,
        default=None,
        help="cap the rollout (default: the task's own step limit)",
    )
    r.set_defaults(func=cmd_run)


#: ControllerConfig fields whose flag is not the field's name in kebab case
_FLAG_OF = {"stem_channels": "--stem", "keypoints": "--no-keypoints"}


def _network(**fields: Any) -> ControllerConfig:
    """The network flags as a ControllerConfig; a value it refuses names its flag, one line."""
    from pydantic import ValidationError

    from physres._messages import issues
    from physres.controller.model import ControllerConfig

    try:
        return ControllerConfig(**fields)
    except ValidationError as e:
        loc, msg = issues(e)[0]
        field = loc[0] if loc else "network"
        flag = _FLAG_OF.get(field, "--" + field.replace("_", "-"))
        raise ConfigError(f"robot train {flag}: {msg}") from e


def cmd_train(args: argparse.Namespace) -> int:
    from physres.controller.train import TrainSettings, train

    try:
        stem = tuple(int(c) for c in args.stem.split(","))
    except ValueError as e:
        raise ConfigError(f"--stem {args.stem!r}: expected comma-separated integers") from e
    try:
        future = tuple(int(h) for h in args.future.split(",")) if args.future else ()
    except ValueError as e:
        raise ConfigError(f"--future {args.future!r}: expected comma-separated steps") from e
    cfg = _network(
        head=args.head,
        image_size=args.image_size,
        history=args.history,
        d_model=args.d_model,
        layers=args.layers,
        stem_channels=stem,
        chunk=args.chunk,
        prompt_blind=args.prompt_blind,
        keypoints=not args.no_keypoints,
        grid=args.grid,
        scene_keypoints=args.scene_keypoints,
        future=future,
        future_weight=args.future_weight,
    )
    s = TrainSettings(
        data=[str(d) for d in args.data],
        out=str(args.out),
        config=cfg,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr=args.lr,
        seed=args.seed,
        threads=args.threads,
        bf16=args.bf16,
        episodes_per_task=args.episodes_per_task,
        shift=args.shift,
        init=None if args.init is None else str(args.init),
    )
    partial = args.out.with_name(args.out.name + ".partial")
    if args.out.exists() and not partial.exists():
        raise ConfigError(f"{args.out} is a finished checkpoint; choose another --out or delete it")
    with progress_bar(console, disable=args.quiet) as progress:
        bar = progress.add_task("train", total=None, unit="steps")

        def on_step(state, loss: float, total: int) -> None:
            val = f" val {state.val_loss[-1]:.4f}" if state.val_loss else ""
            progress.update(
                bar,
                total=total,
                completed=state.step,
                description=f"epoch {state.epoch + 1}/{args.epochs} loss {loss:.4f}{val}",
            )

        if partial.exists():
            console.print(f"resuming from {partial}")
        out, state = train(s, on_step=on_step)
    console.print(
        f"wrote {out}: {state.step} steps, {state.seconds:.0f} s, "
        f"validation loss per epoch {state.val_loss}"
    )
    return 0


def _controller(path: Path | None, threads: int | None = None):
    from physres.controller import SHIPPED_CHECKPOINT, Controller

    return Controller(path or SHIPPED_CHECKPOINT, threads=threads)


def cmd_eval(args: argparse.Namespace) -> int:
    from physres.sim.arm.cli import task_names
    from physres.sim.arm.policy import HELDOUT_WORDINGS, evaluate, read_prompts, write_table

    if args.episodes < 1:
        raise ConfigError(f"--episodes must be >= 1, got {args.episodes}")
    tasks = task_names(args.tasks)
    ctrl = _controller(args.ckpt, args.threads)
    blind = _controller(args.blind, args.threads) if args.blind else None
    prompts = read_prompts(args.prompts) if args.prompts else None
    wordings = (
        [] if args.no_wordings else [r for r in read_prompts(HELDOUT_WORDINGS) if r[0] in tasks]
    )
    columns = 1 + bool(wordings) + (not args.no_shared) + bool(blind) + (not args.no_expert)
    per_task = columns * args.episodes
    total = len(prompts) * args.episodes if prompts else len(tasks) * per_task
    with progress_bar(console, disable=args.quiet) as progress:
        bar = progress.add_task("eval", total=total, unit="episodes")
        result = evaluate(
            ctrl,
            tasks=tasks,
            episodes=args.episodes,
            wordings=wordings,
            blind=blind,
            expert=not args.no_expert,
            shared=not args.no_shared,
            prompts_only=prompts,
            video_dir=args.out,
            max_steps=args.max_steps,
            on_episode=lambda t, c, ok: progress.update(bar, advance=1, description=f"{t} {c}"),
        )
    result["checkpoint"] = str(args.ckpt or "shipped")
    md, js = write_table(result, args.out, title=f"controller evaluation ({result['checkpoint']})")
    console.print(md.read_text())
    console.print(f"wrote {md}, {js}")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from physres.sim.arm.policy import make_env, rollout
    from physres.sim.arm.tasks import PromptError, parse_prompt

    ctrl = _controller(args.ckpt)
    task = args.task
    if task is None:
        try:
            task = parse_prompt(args.prompt)[0].name
        except PromptError as e:
            raise ConfigError(
                f"the prompt's wording names no task, so no layout can be built for it: add "
                f"--task NAME ({e})"
            ) from e
    env = make_env(ctrl)
    try:
        r = rollout(
            ctrl,
            env,
            task=task,
            seed=args.seed,
            prompt=args.prompt,
            record=True,
            max_steps=args.max_steps,
        )
    finally:
        env.close()
    args.out.mkdir(parents=True, exist_ok=True)
    result = {
        "task": task,
        "seed": args.seed,
        "prompt": r.prompt,
        "success": r.success,
        "steps": r.steps,
        "terminated_by": r.terminated_by,
        "similarity": r.similarity,
        "refused": r.refused,
    }
    if r.refused:
        (args.out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
        raise ConfigError(r.refused)
    r.video(args.out / "rollout.mp4")
    result["video"] = "rollout.mp4"
    (args.out / "result.json").write_text(json.dumps(result, indent=2) + "\n")
    console.print(
        f"{task} seed {args.seed}: {'SUCCESS' if r.success else 'failure'} after "
        f"{r.steps} steps ({r.terminated_by}); similarity {r.similarity:.2f}; "
        f"wrote {args.out / 'rollout.mp4'}"
    )
    return 0 if r.success else 1
