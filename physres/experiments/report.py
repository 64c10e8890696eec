"""``physres bench report``: the task suite and the characterisation on several substrates.

One table (``report.md`` and ``report.json``) and one page of plots
(``report.png``): per task and substrate the score with its 95 % interval,
the raw-input control, the strongest-baseline control and the margin over it
(with its interval), the no-substrate control where a task reports one;
per substrate the information processing capacity by degree and the cost
(CPU seconds per second of device time; spikes and synaptic events per
second where the device reports them). Every task row is
:func:`physres.tasks.bench.run_task`'s, so this is ``bench tasks`` on more
than one substrate, plus ``physres characterise``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from physres.errors import ConfigError

__all__ = ["QUICK", "add_report_command", "bench_report", "resolve_tasks", "write_report"]

#: ``--quick``: task sizes that keep a whole report to seconds per substrate (the
#: scores are noisier; the intervals say by how much)
QUICK: dict[str, dict[str, Any]] = {
    "xor": {"n_train": 300, "n_test": 200},
    "narma10": {"n_train": 1000, "n_test": 500},
    "memory_capacity": {"n_train": 600, "n_test": 400, "max_delay": 40},
    "henon": {"n_train": 600, "n_test": 400},
    "mackey_glass": {"n_train": 1000, "n_test": 500, "free_run_trials": 2},
}
#: ``--quick`` characterisation: fewer samples, shorter delays, short rank streams
QUICK_CHARACTERISE: dict[str, Any] = {
    "samples": 1200,
    "rank_length": 10,
    "washout": 50,
    "max_delay": {1: 20, 2: 6, 3: 3},
}


def resolve_tasks(requested: Sequence[str] | None) -> list[str]:
    """Task names from ``--tasks``: exact names, or a prefix naming one task (``memory``)."""
    from physres.tasks.registry import names

    known = names()
    if not requested:
        return known
    out = []
    for r in requested:
        hits = [r] if r in known else [n for n in known if n.startswith(r)]
        if len(hits) != 1:
            raise ConfigError(
                f"--tasks {r!r}: {'matches ' + ', '.join(hits) if hits else 'no such task'}; "
                f"tasks are {known}"
            )
        out.append(hits[0])
    return out


def bench_report(
    substrates: Sequence[str],
    tasks: Sequence[str] | None = None,
    *,
    quick: bool = False,
    seed: int = 0,
    characterise: bool = True,
    say: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Run the suite (and the characterisation) on every substrate; the report as data."""
    from physres import registry
    from physres.tasks.bench import SUBSTRATE_DEFAULTS, run_task

    say = say or (lambda _: None)
    for kind in substrates:
        if kind not in registry.kinds():
            raise ConfigError(f"--substrates: no device kind {kind!r}; known: {registry.kinds()}")
    names = resolve_tasks(tasks)
    report: dict[str, Any] = {"seed": seed, "quick": quick, "tasks": names, "substrates": {}}
    for kind in substrates:
        rows: list[dict[str, Any]] = []
        for name in names:
            t0 = time.perf_counter()
            params = QUICK.get(name, {}) if quick else {}
            for row in run_task(kind, name, seed=seed, task_params=params):
                rows.append(row)
            say(
                f"{kind} {name}: {rows[-1]['metric']} {rows[-1]['value']:.4g} "
                f"({time.perf_counter() - t0:.1f} s)"
            )
        entry: dict[str, Any] = {"rows": rows}
        if characterise:
            entry["characterise"] = _characterise(
                kind, SUBSTRATE_DEFAULTS.get(kind, {}), quick, seed
            )
            say(f"{kind} characterised: IPC {entry['characterise']['ipc_total']:.2f}")
        report["substrates"][kind] = entry
    return report


def _characterise(kind: str, params: Mapping[str, Any], quick: bool, seed: int) -> dict[str, Any]:
    from physres.characterise.report import DEFAULT_DELAYS, characterise, collect_kind

    kw: dict[str, Any] = dict(QUICK_CHARACTERISE) if quick else {"max_delay": DEFAULT_DELAYS}
    washout = kw.get("washout", 100)
    t0 = time.process_time()
    drive = collect_kind(kind, params, seed=seed, **kw)
    metrics, _, _ = characterise(drive, max_delay=kw["max_delay"], washout=washout)
    ipc = metrics["ipc"]
    return {
        "ipc_total": ipc["total"],
        "ipc_by_degree": {str(d): c for d, c in ipc["by_degree"].items()},
        "features": metrics["features"],
        "kernel_rank": metrics["kernel_rank"],
        "generalisation_rank": metrics["generalisation_rank"],
        "cpu_s": time.process_time() - t0,
    }


def _num(v: Any, fmt: str = ".4g") -> str:
    return "—" if v is None else format(v, fmt)


def _ci(ci: Any, fmt: str = ".3g") -> str:
    return "" if not ci else f" [{format(ci[0], fmt)}, {format(ci[1], fmt)}]"


def markdown(report: Mapping[str, Any]) -> str:
    """The report's table as Markdown: one row per (task, substrate), then capacity and cost."""
    lines = [
        f"# physres bench report (seed {report['seed']}{', quick' if report['quick'] else ''})",
        "",
        "Score: on the test split, 95 % interval from the paired bootstrap that also gives "
        "the margin (test sequences for sequence labels, 50 contiguous blocks of scored test "
        "steps for per-step tasks). Raw-input ctl: the same readout on the inputs. Baseline "
        "ctl: the strongest cheap model of the raw inputs (delay-embedded ridge, or pooled "
        "mean/std/first/last ridge for sequence labels; alpha and delays by CV on train). "
        "Margin > 0: the substrate beats the baseline. No-substrate ctl: — where no task "
        "reports one. Cost: CPU s of the drive per s of device time.",
        "",
        "| task | metric | substrate | score [95% CI] | raw-input ctl | baseline ctl "
        "| margin [95% CI] | no-substrate ctl | CPU s / device s | spikes / s "
        "| synaptic events / s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in report["tasks"]:
        for kind, entry in report["substrates"].items():
            for r in entry["rows"]:
                if r["task"] != name and not r["task"].startswith(f"{name} ("):
                    continue
                m = r["extra"]
                metric = r["metric"]
                lines.append(
                    f"| {r['task']} | {metric} | {kind} "
                    f"| {_num(r['value'])}{_ci(r.get('score_ci95'))} "
                    f"| {_num(r.get('control_raw_input'))} "
                    f"| {_num(r.get('control_baseline'))} "
                    f"| {_num(r.get('margin'), '+.3g')}{_ci(r.get('margin_ci95'), '+.3g')} "
                    f"| {_num(m.get(f'control_no_substrate_{metric}'))} "
                    f"| {_num(r.get('cpu_per_device_s'), '.3g')} "
                    f"| {_num(r.get('events_per_device_s'), '.3g')} "
                    f"| {_num(r.get('synaptic_events_per_device_s'), '.3g')} |"
                )
    chars = {k: e["characterise"] for k, e in report["substrates"].items() if "characterise" in e}
    if chars:
        degrees = sorted({d for c in chars.values() for d in c["ipc_by_degree"]}, key=int)
        lines += [
            "",
            "| substrate | features N | IPC total | "
            + " | ".join(f"capacity deg {d}" for d in degrees)
            + " | kernel rank | generalisation rank |",
            "|---|---|---|" + "---|" * len(degrees) + "---|---|",
        ]
        for kind, c in chars.items():
            lines.append(
                f"| {kind} | {c['features']} | {c['ipc_total']:.2f} | "
                + " | ".join(f"{c['ipc_by_degree'].get(d, 0.0):.2f}" for d in degrees)
                + f" | {c['kernel_rank']} | {_num(c['generalisation_rank'])} |"
            )
    return "\n".join(lines) + "\n"


def figure(report: Mapping[str, Any]) -> Any:
    """One page: a panel per task (score ± CI, both controls per substrate), capacity, cost."""
    from matplotlib.figure import Figure

    kinds = list(report["substrates"])
    tasks = report["tasks"]
    n = len(tasks) + 2
    cols = min(3, n)
    rows = -(-n // cols)
    fig = Figure(figsize=(4.2 * cols, 3.2 * rows), layout="constrained")
    fig.suptitle(
        f"physres bench report: {', '.join(kinds)} (seed {report['seed']}"
        f"{', quick' if report['quick'] else ''})",
        fontsize=10,
    )
    axes = [fig.add_subplot(rows, cols, i + 1) for i in range(n)]
    for ax, name in zip(axes, tasks):
        for i, kind in enumerate(kinds):
            row = next((r for r in report["substrates"][kind]["rows"] if r["task"] == name), None)
            if row is None:
                continue
            v, ci = row["value"], row.get("score_ci95")
            err = [[v - ci[0]], [ci[1] - v]] if ci else None
            ax.bar(i, v, color=f"C{i}", yerr=err, capsize=3)
            for key, mark, label in (
                ("control_raw_input", "x", "raw-input control"),
                ("control_baseline", "D", "strongest baseline"),
            ):
                if row.get(key) is not None:
                    ax.plot(i, row[key], mark, color="k", label=label if i == 0 else None)
            metric = row["metric"]
        ax.set_xticks(range(len(kinds)), kinds, fontsize=8)
        ax.set_title(f"{name}: {metric}", fontsize=9)
    axes[0].legend(fontsize=7, loc="best")
    cap, cost = axes[len(tasks)], axes[len(tasks) + 1]
    bottom = [0.0] * len(kinds)
    degrees = sorted(
        {
            d
            for e in report["substrates"].values()
            for d in e.get("characterise", {}).get("ipc_by_degree", {})
        },
        key=int,
    )
    for j, d in enumerate(degrees):
        vals = [
            report["substrates"][k].get("characterise", {}).get("ipc_by_degree", {}).get(d, 0.0)
            for k in kinds
        ]
        cap.bar(range(len(kinds)), vals, bottom=bottom, color=f"C{j}", label=f"degree {d}")
        bottom = [b + v for b, v in zip(bottom, vals)]
    cap.set_xticks(range(len(kinds)), kinds, fontsize=8)
    cap.set_title("information processing capacity by degree", fontsize=9)
    if degrees:
        cap.legend(fontsize=7)
    for i, kind in enumerate(kinds):
        costs = [
            r["cpu_per_device_s"]
            for r in report["substrates"][kind]["rows"]
            if r.get("cpu_per_device_s")
        ]
        if costs:
            cost.bar(i, sum(costs) / len(costs), color=f"C{i}")
    cost.set_xticks(range(len(kinds)), kinds, fontsize=8)
    cost.set_yscale("log")
    cost.set_title("cost: CPU s per device s (mean over tasks)", fontsize=9)
    return fig


def write_report(out: Path, report: Mapping[str, Any]) -> dict[str, Path]:
    """``report.json``, ``report.md`` and ``report.png`` into ``out``."""
    from physres.experiments.artifacts import jsonable

    out.mkdir(parents=True, exist_ok=True)
    paths = {"json": out / "report.json", "md": out / "report.md", "png": out / "report.png"}
    paths["json"].write_text(json.dumps(jsonable(report), indent=1) + "\n")
    paths["md"].write_text(markdown(report))
    figure(report).savefig(paths["png"], dpi=100)
    return paths


def _cmd(args: argparse.Namespace) -> int:
    from physres.experiments.artifacts import prepare_run_folder

    out = Path(args.out)
    prepare_run_folder(out, overwrite=args.overwrite)
    report = bench_report(
        [s.strip() for s in args.substrates.split(",") if s.strip()],
        [t.strip() for t in args.tasks.split(",") if t.strip()] if args.tasks else None,
        quick=args.quick,
        seed=args.seed,
        characterise=not args.no_characterise,
        say=print,
    )
    paths = write_report(out, report)
    print(paths["md"].read_text())
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    return 0


def add_report_command(bench_sub: argparse._SubParsersAction) -> None:
    """Add ``report`` under the ``physres bench`` sub-parser group."""
    p = bench_sub.add_parser(
        "report",
        help="task suite + characterisation on several substrates: one table, one page of plots",
    )
    p.add_argument("--substrates", required=True, help="device kinds, comma-separated")
    p.add_argument("--tasks", help="task names (or unique prefixes), comma-separated; default all")
    p.add_argument("--out", required=True, help="folder for report.md, report.json, report.png")
    p.add_argument("--overwrite", action="store_true", help="reuse a non-empty --out folder")
    p.add_argument("--quick", action="store_true", help="small task sizes (see QUICK)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--no-characterise", action="store_true", help="skip the capacity characterisation"
    )
    p.set_defaults(func=_cmd)
