"""``physres robot experts``: the scripted experts' success table over random layouts.

``robot_subparsers(sub)`` gets or creates the ``physres robot`` group so other
modules (``physres.sim.arm.dataset_cli``: ``collect``, ``view``) add their commands
next to ``experts``; ``register(sub)`` adds ``experts``.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor, as_completed

from rich.console import Console
from rich.table import Table

from physres.errors import ConfigError
from physres.progress import progress_bar

__all__ = ["cmd_experts", "register", "robot_subparsers", "task_names"]

console = Console()
_ROBOT_SUB = "_physres_robot_subparsers"


def robot_subparsers(sub: argparse._SubParsersAction) -> argparse._SubParsersAction:
    """The ``physres robot`` subcommand group, created on first use."""
    robot = sub.choices.get("robot")
    if robot is None:
        robot = sub.add_parser("robot", help="robot arm: experts, demonstrations")
        setattr(robot, _ROBOT_SUB, robot.add_subparsers(dest="robot_command", required=True))
    return getattr(robot, _ROBOT_SUB)


def register(sub: argparse._SubParsersAction) -> None:
    """Add ``physres robot experts`` to the top-level subparsers."""
    from physres.sim.arm.tasks import TASKS

    p = robot_subparsers(sub).add_parser(
        "experts",
        help="run the scripted experts over random layouts and print success rates",
        description=f"Runs every task's scripted expert on --seeds random layouts: by default "
        f"{len(TASKS)} tasks x 100 = {len(TASKS) * 100} episodes.",
    )
    p.add_argument("--tasks", default="all", help="'all' or comma-separated task names")
    p.add_argument(
        "--seeds",
        type=int,
        default=100,
        help=f"episodes (layouts) per task; {len(TASKS)} tasks with --tasks all",
    )
    p.add_argument("--start-seed", type=int, default=0, help="first layout seed")
    p.add_argument("--render-size", type=int, default=128, help="camera image side in pixels")
    p.add_argument("--jobs", type=int, default=1, help="worker processes (one task each)")
    p.add_argument(
        "--layout",
        default="own",
        help="'own' (each task's scene), 'shared' (scenes holding several tasks' objects) or a "
        "shared layout's name",
    )
    p.add_argument(
        "--follow",
        choices=("command", "state"),
        default="command",
        help="'command': the experts that collect demonstrations; 'state': the StateExpert "
        "that labels DAgger states, here driving itself",
    )
    p.add_argument(
        "--min-rate",
        type=float,
        default=0.95,
        help="exit 1 when any task's success rate is below this",
    )
    p.set_defaults(func=cmd_experts)


def task_names(spec: str) -> list[str]:
    """``--tasks``: 'all' or comma-separated names; ConfigError naming the unknown ones."""
    from physres.sim.arm.tasks import TASKS

    if spec == "all":
        return list(TASKS)
    names = [s.strip() for s in spec.split(",") if s.strip()]
    unknown = [n for n in names if n not in TASKS]
    if unknown or not names:
        raise ConfigError(
            f"--tasks {spec!r}: unknown {unknown}; use 'all' or some of {', '.join(TASKS)}"
        )
    return names


def cmd_experts(args: argparse.Namespace) -> int:
    from physres.sim.arm.env import check_layout
    from physres.sim.arm.experts import evaluate_expert

    tasks = task_names(args.tasks)
    layout = check_layout(args.layout)
    if args.seeds < 1:
        raise ConfigError(f"--seeds must be >= 1, got {args.seeds}")
    seeds = range(args.start_seed, args.start_seed + args.seeds)
    with progress_bar(console) as progress:
        bar = progress.add_task(
            f"{len(tasks)} experts × {args.seeds} layouts",
            total=len(tasks) * args.seeds,
            unit="episodes",
        )
        if args.jobs > 1:  # workers report whole tasks: the bar moves per finished task
            with ProcessPoolExecutor(args.jobs) as pool:
                futures = [
                    pool.submit(
                        evaluate_expert,
                        t,
                        seeds,
                        render_size=args.render_size,
                        layout=layout,
                        follow=args.follow,
                    )
                    for t in tasks
                ]
                for f in as_completed(futures):
                    progress.advance(bar, len(f.result().seeds))
                results = [f.result() for f in futures]
        else:
            results = [
                evaluate_expert(
                    t,
                    seeds,
                    render_size=args.render_size,
                    layout=layout,
                    follow=args.follow,
                    on_episode=lambda ok: progress.advance(bar),
                )
                for t in tasks
            ]
    where = "own scenes" if layout == "own" else f"{layout} layouts"
    who = "scripted experts" if args.follow == "command" else "state experts (DAgger labellers)"
    table = Table(title=f"{who}, {where}, seeds {seeds.start}..{seeds.stop - 1}")
    table.add_column("task", no_wrap=True)
    for col in ("success", "rate", "mean steps", "steps/s*"):
        table.add_column(col, justify="right", no_wrap=True)
    for r in results:
        table.add_row(
            r.task,
            f"{sum(r.successes)}/{len(r.seeds)}",
            f"{100 * r.rate:.1f} %",
            f"{sum(r.steps) / len(r.steps):.1f}",
            f"{r.steps_per_s:.0f}",
        )
    console.print(table)
    console.print("* env steps per wall-clock second, resets included")
    for r in results:
        if r.failed_seeds:
            console.print(f"{r.task} failed on seeds {', '.join(map(str, r.failed_seeds))}")
    worst = min(r.rate for r in results)
    console.print(f"lowest success rate {100 * worst:.1f} % (required {100 * args.min_rate:.0f} %)")
    return 0 if worst >= args.min_rate else 1
