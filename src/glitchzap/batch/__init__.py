"""Batch processing: one recipe over many images, on local processes or a Ray cluster.

`run_batch` plans the work (inputs expanded, outputs mirrored under `out_dir`), skips outputs
that already exist when resuming (writes are atomic, so an existing output is complete),
hands the rest to an engine and returns the summary. Every image goes through
`worker.process_one`, the same path as a single-image run, so outputs are identical. An
animated input stays animated (every frame rendered), and a recipe with an `animation` block
makes stills into loops; `formats` says which container each output gets.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

from glitchzap.batch.formats import output_formats
from glitchzap.batch.inputs import BatchItem, plan_batch, temp_files_for
from glitchzap.batch.local import default_workers, run_local, threads_per_worker
from glitchzap.batch.report import BatchRecord, BatchSummary, ReportWriter, read_report
from glitchzap.batch.worker import model_name, process_one, render_one
from glitchzap.errors import InvalidParameters
from glitchzap.recipes import Recipe, load_recipe, parse_recipe
from glitchzap.runtime import current

__all__ = [
    "BatchRecord",
    "BatchSummary",
    "plan_batch",
    "process_one",
    "read_report",
    "render_one",
    "run_batch",
]

Engine = Literal["local", "ray"]
Progress = Callable[[BatchRecord, BatchSummary], None]


def _as_recipe(recipe: Recipe | dict[str, Any] | str | Path) -> Recipe:
    if isinstance(recipe, str | Path):
        return load_recipe(recipe)
    return parse_recipe(recipe)


def _check_model(recipe: Recipe) -> None:
    """Fail before starting any worker when the recipe needs a model that is not installed
    (fetching it first when `models.auto_fetch` allows)."""
    settings = current().settings
    name = model_name(recipe, settings)
    if name is not None:
        from glitchzap.background.files import ensure_model_file

        ensure_model_file(name, settings.models_dir, auto_fetch=settings.models.auto_fetch)


def _split(items: list[BatchItem], resume: bool) -> tuple[list[BatchRecord], list[tuple[str, str]]]:
    """Records settled before any work (refused, already done) and the jobs left to run."""
    settled, jobs = [], []
    for item in items:
        if item.output is None:
            settled.append(BatchRecord(str(item.source), "", "failed", item.problem))
        elif resume and item.output.is_file():
            settled.append(BatchRecord(str(item.source), str(item.output), "skipped"))
        else:
            jobs.append((str(item.source), str(item.output)))
    return settled, jobs


def _remove_stale_temp_files(items: list[BatchItem]) -> None:
    """Half-written files a killed run left next to our outputs (never a finished output)."""
    for stale in temp_files_for(item.output for item in items if item.output is not None):
        stale.unlink(missing_ok=True)


def run_batch(
    recipe: Recipe | dict[str, Any] | str | Path,
    inputs: Sequence[str | Path],
    out_dir: str | Path,
    *,
    workers: int | None = None,
    engine: Engine = "local",
    resume: bool = False,
    progress: Progress | None = None,
    report: str | Path | None = None,
    ray_address: str | None = "auto",
) -> BatchSummary:
    """Apply `recipe` to every input image, writing mirrored outputs under `out_dir`.

    `workers`: processes (local) or actors (Ray), one core each; default one per core.
    `progress` is called in this process after each image with its record and the running
    summary.
    """
    if engine not in ("local", "ray"):
        raise InvalidParameters(f"Unknown batch engine {engine!r}: use local or ray")
    if workers is not None and workers < 1:
        raise InvalidParameters(f"workers must be at least 1, got {workers}")
    plan = _as_recipe(recipe)
    out = Path(out_dir)
    items = plan_batch(inputs, out, output_formats(plan, current().settings.limits))
    _check_model(plan)
    _remove_stale_temp_files(items)
    settled, jobs = _split(items, resume)
    summary = BatchSummary(
        engine=engine, planned=len(items), report=str(report) if report else None
    )
    writer = ReportWriter(Path(report) if report else None)
    started = time.perf_counter()

    def on_record(record: BatchRecord) -> None:
        summary.add(record)
        summary.seconds = time.perf_counter() - started
        writer.write(record)
        if progress is not None:
            progress(record, summary)

    try:
        for record in settled:
            on_record(record)
        if jobs:
            _run_engine(engine, jobs, plan, on_record, workers, ray_address, summary)
    finally:
        summary.seconds = time.perf_counter() - started
        writer.finish(summary)
    return summary


def _run_engine(
    engine: Engine,
    jobs: list[tuple[str, str]],
    recipe: Recipe,
    on_record: Callable[[BatchRecord], None],
    workers: int | None,
    ray_address: str | None,
    summary: BatchSummary,
) -> None:
    settings_data = current().settings.model_dump()
    for folder in sorted({Path(output).parent for _, output in jobs}):
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise InvalidParameters(f"Cannot create {folder}: {exc.strerror or exc}") from exc
    if engine == "ray":
        from glitchzap.batch.ray_engine import run_ray

        summary.workers = run_ray(
            jobs, recipe, settings_data, on_record, workers=workers, address=ray_address
        )
        return
    summary.workers = min(workers or default_workers(), len(jobs))
    threads = threads_per_worker(workers, summary.workers, default_workers())
    run_local(jobs, recipe, settings_data, on_record, workers=summary.workers, threads=threads)
