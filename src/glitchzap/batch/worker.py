"""The per-image work every engine runs, and the set-up of a worker process.

`process_one` is the single-image path (load every frame, cut out, render, write atomically);
the local pool and the Ray actors both call `run_item`, which turns any failure into a record
so one bad file never stops a batch.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from pathlib import Path
from typing import Any

from glitchzap.animation import Animation
from glitchzap.batch.report import BatchRecord
from glitchzap.errors import GlitchzapError
from glitchzap.recipes import Recipe
from glitchzap.runtime import Runtime, configure, current
from glitchzap.settings import Settings

log = logging.getLogger(__name__)


def render_one(animation: Animation, recipe: Recipe, runtime: Runtime) -> Animation:
    """The recipe applied to one decoded image or animation at full quality (every frame;
    a still made into a loop when the recipe has an `animation` block): what a batch writes."""
    from glitchzap.rendering import render_animation

    return render_animation(animation, recipe, runtime=runtime)


def process_one(source: Path, recipe: Recipe, output: Path) -> Path:
    """Render `source` with `recipe` into `output` (written atomically); errors propagate.
    A still is written in the recipe's format, an animation in the one `output`'s suffix
    names (chosen by `batch.formats` when the batch was planned)."""
    from glitchzap.io import format_for_path, load_animation, save_animation

    runtime = current()
    animation = load_animation(source, limits=runtime.settings.limits)
    out = render_one(animation, recipe, runtime)
    fmt = format_for_path(output) if out.animated else recipe.output.format
    output.parent.mkdir(parents=True, exist_ok=True)
    return save_animation(out, output, fmt=fmt, quality=recipe.output.quality)


def run_item(source: str, output: str, recipe: Recipe) -> BatchRecord:
    """`process_one` as a record: done, or failed with the reason (the worker carries on)."""
    started = time.perf_counter()
    try:
        process_one(Path(source), recipe, Path(output))
    except GlitchzapError as exc:
        return _failed(source, output, str(exc), started)
    except MemoryError:
        return _failed(source, output, "MemoryError: not enough memory for this image", started)
    except Exception as exc:  # a bug or a library failure on one file must not end the batch
        log.exception("unexpected failure on %s", source)
        return _failed(source, output, f"{type(exc).__name__}: {exc}", started)
    return BatchRecord(source, output, "done", None, time.perf_counter() - started)


def _failed(source: str, output: str, reason: str, started: float) -> BatchRecord:
    return BatchRecord(source, output, "failed", reason, time.perf_counter() - started)


def model_name(recipe: Recipe, settings: Settings) -> str | None:
    """The background model the recipe needs, or None when it needs none."""
    if not (recipe.background.remove or recipe.needs_mask):
        return None
    return recipe.background.model or settings.models.default


def set_up_worker(settings_data: dict[str, Any], recipe: Recipe, threads: int) -> None:
    """Make a fresh worker process match the parent: settings, thread counts, warm model."""
    import cv2

    # Workers share the cores: each model session and OpenCV get their share, no more.
    models = {**settings_data.get("models", {}), "threads": threads}
    runtime = configure(None, **{**settings_data, "models": models})
    cv2.setNumThreads(threads)
    name = model_name(recipe, runtime.settings)
    if name is not None:
        try:
            runtime.models.session(name)  # loaded once per worker, not per image
        except GlitchzapError as exc:  # every image will report it; the pool must not break
            log.warning("model %s not loaded in worker: %s", name, exc)


def exit_with_parent(parent_pid: int, interval_seconds: float = 1.0) -> None:
    """Exit this worker when its parent dies (a killed batch leaves no orphans behind)."""

    def watch() -> None:
        while True:
            time.sleep(interval_seconds)
            if os.getppid() != parent_pid:
                os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
