"""``physres robot collect`` and ``physres robot view``: demonstration datasets from the shell.

``register(subparsers)`` takes the top-level ``physres`` subparsers and adds
both commands to the ``physres robot`` group (created on first use by
:func:`physres.sim.arm.cli.robot_subparsers`, next to ``experts``). It lives
with the arm because collecting runs the simulator's experts; the core
(``physres.datasets``) only stores and reads episodes. ``physres.cli`` finds it
through the ``physres.cli`` entry-point group.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from physres.errors import ConfigError
from physres.progress import RateColumn

__all__ = ["cmd_collect", "cmd_view", "register"]

console = Console()


def _layouts(spec: str, tasks: list[str]) -> list[str]:
    """``own``, ``shared``, ``both`` or a shared layout's name; every task must fit them."""
    from physres.sim.arm.env import check_layout
    from physres.sim.arm.shared import SHARED_LAYOUTS

    layouts = ["own", "shared"] if spec == "both" else [check_layout(spec)]
    for lay in layouts:
        if lay in SHARED_LAYOUTS:
            bad = [t for t in tasks if t not in SHARED_LAYOUTS[lay].allowed]
            if bad:
                raise ConfigError(
                    f"--layout {lay}: it does not allow {bad} "
                    f"(allowed: {', '.join(SHARED_LAYOUTS[lay].allowed)})"
                )
    return layouts


def cmd_collect(args: argparse.Namespace) -> int:
    from physres.sim.arm.cli import task_names
    from physres.sim.arm.collect import NoiseConfig, collect

    tasks = task_names(args.tasks)
    if args.episodes < 1:
        raise ConfigError(f"--episodes must be >= 1, got {args.episodes}")
    noise = NoiseConfig().scaled(args.noise)
    layouts = _layouts(args.layout, tasks)
    driver = None
    if args.policy is not None:
        from physres.controller import Controller
        from physres.sim.arm.policy import PolicyDriver
        from physres.sim.arm.spec import ACTION_SPEC

        ctrl = Controller(args.policy, threads=1)
        ctrl.check_arm(ACTION_SPEC.to_dict(), args.render_size)  # refused before any episode
        driver = PolicyDriver(ctrl, str(args.policy))
    total = len(tasks) * args.episodes * len(layouts)
    stats = {"ok": 0, "n": 0}
    with Progress(
        TextColumn("[bold]{task.fields[task_name]:<30}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("success {task.fields[rate]}"),
        RateColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=console,
        disable=args.quiet,
    ) as progress:
        bar = progress.add_task("collect", total=total, task_name="", rate="-", unit="episodes")

        def on_episode(task: str, line: dict) -> None:
            stats["n"] += 1
            stats["ok"] += int(line["success"])
            progress.update(
                bar,
                advance=1,
                task_name=f"{task} #{line['task_episode']}",
                rate=f"{stats['ok']}/{stats['n']}",
            )

        result = collect(
            tasks,
            args.episodes,
            args.out,
            seed=args.seed,
            noise=noise,
            render_size=args.render_size,
            wrist_camera=args.wrist_camera,
            resume=not args.no_resume,
            layouts=layouts,
            on_episode=on_episode,
            driver=driver,
        )
        skipped = sum(result.skipped.values())
        progress.update(bar, advance=skipped)
    table = Table(title=f"demonstrations in {result.root}  ({result.seconds:.1f} s)")
    table.add_column("task", no_wrap=True, min_width=max(len(t) for t in result.written))
    for col in ("episodes", "success", "mean length", "perturbed", "skipped"):
        table.add_column(col, justify="right")
    for r in result.rows():
        table.add_row(
            r["task"],
            str(r["episodes"]),
            f"{r['successes']}/{r['episodes']}",
            f"{r['mean_length']:.1f}",
            f"{100 * r['perturbed_frac']:.1f} %",
            str(r["skipped"]),
        )
    console.print(table)
    steps = sum(result.steps.values())
    if result.seconds > 0 and steps:
        console.print(
            f"{steps} steps at {steps / result.seconds:.1f} steps/s (with rendering and writing)"
        )
    return 0


def cmd_view(args: argparse.Namespace) -> int:
    from physres.datasets.reader import DemoDataset
    from physres.datasets.viewer import write_video

    ds = DemoDataset(args.dataset, verify="full" if args.verify else "checksum")
    if args.out is None:
        table = Table(
            title=f"{ds.root}: {len(ds)} episodes, {ds.n_steps} steps "
            f"(format v{ds.header['version']})"
        )
        table.add_column("task", no_wrap=True, min_width=max(map(len, ds.tasks), default=4))
        for col in ("episodes", "successes", "steps", "perturbed"):
            table.add_column(col, justify="right")
        for r in ds.summary():
            table.add_row(
                r["task"],
                str(r["episodes"]),
                str(r["successes"]),
                str(r["steps"]),
                str(r["perturbed_steps"]),
            )
        console.print(table)
    else:
        positions = {e.index: i for i, e in enumerate(ds.episodes)}
        if args.episode not in positions:
            raise ConfigError(
                f"episode {args.episode} is not among the complete episodes of "
                f"{ds.root} (0..{max(positions, default=-1)}, see the broken list)"
            )
        ep = ds.episode(positions[args.episode])
        path = write_video(ep, args.out, fps=args.fps, scale=args.scale)
        console.print(
            f"wrote {path}: episode {args.episode} ({ep.info.task}, {len(ep)} steps, "
            f'{"success" if ep.info.success else "fail"}) "{ep.prompt}"'
        )
    for b in ds.broken:
        console.print(f"[yellow]broken:[/] {b.path}: {b.reason}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``physres robot collect`` and ``physres robot view`` to the top-level subparsers."""
    from physres.sim.arm.cli import robot_subparsers

    sub = robot_subparsers(sub)
    p = sub.add_parser("collect", help="run the scripted experts with noise; write a dataset")
    p.add_argument("--tasks", default="all", help="'all' or comma-separated task names")
    p.add_argument("--episodes", type=int, required=True, help="episodes per task")
    p.add_argument("--out", type=Path, required=True, help="dataset folder (appended to)")
    p.add_argument("--seed", type=int, default=0, help="collection seed (episode seeds derive)")
    p.add_argument(
        "--noise",
        type=float,
        default=1.0,
        help="scale of the injected pushes (0: clean demonstrations)",
    )
    p.add_argument("--render-size", type=int, default=128, help="camera image side in pixels")
    p.add_argument("--wrist-camera", action="store_true", help="also record the wrist camera")
    p.add_argument(
        "--layout",
        default="own",
        help="'own' (each task's scene), 'shared' (scenes holding several tasks' objects: only "
        "the prompt decides), 'both' (--episodes of each), or a shared layout's name "
        "(cube_bowl, bottle_bowl)",
    )
    p.add_argument(
        "--shared", dest="layout", action="store_const", const="both", help="--layout both"
    )
    p.add_argument(
        "--no-resume",
        action="store_true",
        help="redo episodes the folder already holds (appends duplicates)",
    )
    p.add_argument(
        "--policy",
        type=Path,
        default=None,
        help="a controller checkpoint moves the arm and the state-following expert labels "
        "every state it reaches (DAgger data for the policy's own mistakes)",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=cmd_collect)

    v = sub.add_parser("view", help="summarise a dataset, or write an episode to MP4/GIF")
    v.add_argument("dataset", type=Path)
    v.add_argument("--episode", type=int, default=0, help="episode number (file ep_NNNNNN)")
    v.add_argument("--out", type=Path, help="video path (.mp4 or .gif); omit for a summary")
    v.add_argument("--fps", type=float, default=10.0, help="video frame rate")
    v.add_argument("--scale", type=int, default=3, help="pixel upscaling of the frames")
    v.add_argument("--verify", action="store_true", help="decompress every episode to check it")
    v.set_defaults(func=cmd_view)
