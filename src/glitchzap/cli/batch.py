"""`glitchzap batch`: one recipe over files, folders and lists of paths, with a progress bar."""

from __future__ import annotations

import signal
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.progress import Progress, Task

    from glitchzap.batch import BatchRecord, BatchSummary

REPORT_NAME = "batch-report.jsonl"
FAILURES_SHOWN = 20  # the rest are in the report


def _progress_bar() -> Progress:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        ProgressColumn,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def render(self, task: Task) -> Text:
            speed = task.finished_speed or task.speed
            return Text(f"{speed:.2f} img/s" if speed else "- img/s", style="progress.data.speed")

    return Progress(
        TextColumn("[progress.description]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        RateColumn(),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[failed]} failed"),
        console=Console(stderr=True),
    )


def _print_summary(summary: BatchSummary) -> None:
    typer.echo(
        f"done {summary.done}, skipped {summary.skipped}, failed {summary.failed} "
        f"of {summary.total} in {summary.seconds:.1f}s "
        f"({summary.images_per_second:.2f} images/s, {summary.engine}, "
        f"{summary.workers} workers)"
    )
    for record in summary.failures[:FAILURES_SHOWN]:
        typer.echo(f"failed: {record.input}: {record.reason}", err=True)
    if len(summary.failures) > FAILURES_SHOWN:
        typer.echo(f"... and {len(summary.failures) - FAILURES_SHOWN} more failures", err=True)
    if summary.report:
        typer.echo(f"report: {summary.report}")


def _stop_gracefully(signum: int, frame: object) -> None:
    """SIGTERM (docker stop, systemd) ends a batch like Ctrl-C: images in progress finish."""
    raise KeyboardInterrupt


def batch(
    recipe: Annotated[Path, typer.Argument(help="Recipe file (JSON/YAML)")],
    inputs: Annotated[
        list[Path], typer.Argument(help="Image files, folders (recursive) or .txt lists of paths")
    ],
    out_dir: Annotated[Path, typer.Option("--output", "-o", help="Output folder (mirrors inputs)")],
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers", "-w", min=1, help="Worker processes, one core each (default: every core)"
        ),
    ] = None,
    resume: Annotated[bool, typer.Option(help="Skip outputs that already exist")] = False,
    ray: Annotated[
        str | None,
        typer.Option("--ray", help="Run on Ray: 'auto' (running cluster, else local) or ADDRESS"),
    ] = None,
    report: Annotated[
        Path | None, typer.Option(help=f"JSONL report (default OUT_DIR/{REPORT_NAME})")
    ] = None,
) -> None:
    """Apply one recipe to many images; one bad file never stops the batch (exit 2 if any fail)."""
    from glitchzap.batch import run_batch
    from glitchzap.recipes import load_recipe

    bar = _progress_bar()
    task = None

    def on_progress(record: BatchRecord, summary: BatchSummary) -> None:
        nonlocal task
        if task is None:  # shown from the first result: errors in the plan print alone
            bar.start()
            task = bar.add_task("batch", total=None, failed=0)
        # Skipped outputs leave the bar's total, so rate and ETA count real work only.
        bar.update(
            task,
            total=summary.planned - summary.skipped,
            completed=summary.done + summary.failed,
            failed=summary.failed,
        )

    previous = signal.signal(signal.SIGTERM, _stop_gracefully)
    try:
        summary = run_batch(
            load_recipe(recipe),
            inputs,
            out_dir,
            workers=workers,
            engine="ray" if ray else "local",
            resume=resume,
            progress=on_progress,
            report=report or out_dir / REPORT_NAME,
            ray_address=ray,
        )
    except KeyboardInterrupt:
        bar.stop()
        typer.echo(
            "interrupted: finished images are kept (see the report); "
            "run again with --resume to do the rest",
            err=True,
        )
        raise typer.Exit(130) from None
    finally:
        signal.signal(signal.SIGTERM, previous)
        bar.stop()
    _print_summary(summary)
    if summary.failed:
        raise typer.Exit(2)


def register(app: typer.Typer) -> None:
    app.command("batch")(batch)
