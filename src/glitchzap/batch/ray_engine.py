"""The Ray engine: the same per-image work in Ray actors, each holding one warm model.

Each actor is set up like a local worker (settings from the driver, the model loaded once) and
writes its outputs itself, so on a cluster the output folder must be on storage every node
shares (and glitchzap + the model file installed on every node). The driver keeps two images
queued per actor and reports each record as it comes back. `ray` is imported only here, and
only when this engine runs (`pip install 'glitchzap[ray]'`).
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable
from typing import Any

from glitchzap.batch.report import BatchRecord
from glitchzap.errors import ConfigError, InvalidParameters
from glitchzap.recipes import Recipe

IN_FLIGHT_PER_ACTOR = 2

Job = tuple[str, str]  # (source, output)


class BatchActor:
    """One Ray worker: a warm model session and the recipe; `process` renders one image."""

    def __init__(self, settings_data: dict[str, Any], recipe_data: dict[str, Any]) -> None:
        from glitchzap.batch.worker import set_up_worker

        self.recipe = Recipe.model_validate(recipe_data)
        set_up_worker(settings_data, self.recipe, threads=1)

    def process(self, source: str, output: str) -> BatchRecord:
        from glitchzap.batch.worker import run_item

        return run_item(source, output, self.recipe)


def _import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError(
            "The Ray engine needs Ray: pip install 'glitchzap[ray]' (or run without --ray)"
        ) from exc
    return ray


def connect(ray: Any, address: str | None, workers: int | None) -> bool:
    """Join a Ray cluster (or start a local one); True when this call started Ray."""
    if ray.is_initialized():
        return False
    options = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
    if address in (None, "auto"):
        try:
            ray.init(address="auto", **options)  # a running cluster (RAY_ADDRESS, `ray start`)
            return True
        except ConnectionError:
            ray.init(num_cpus=workers, **options)  # none: a local Ray for this batch
            return True
    try:
        ray.init(address=address, **options)
    except (ConnectionError, ValueError, RuntimeError) as exc:
        raise InvalidParameters(f"Cannot connect to the Ray cluster at {address}: {exc}") from exc
    return True


def run_ray(
    jobs: Iterable[Job],
    recipe: Recipe,
    settings_data: dict[str, Any],
    on_record: Callable[[BatchRecord], None],
    *,
    workers: int | None = None,
    address: str | None = "auto",
) -> int:
    """Process `jobs` on Ray actors, calling `on_record` here for each; the actor count."""
    ray = _import_ray()
    started = connect(ray, address, workers)
    actor_class = ray.remote(num_cpus=1)(BatchActor)
    count = workers or max(1, int(ray.available_resources().get("CPU", 1)))
    recipe_data = recipe.model_dump(mode="json")
    actors = [actor_class.remote(settings_data, recipe_data) for _ in range(count)]
    try:
        _drain(
            ray,
            actors,
            deque(jobs),
            on_record,
            lambda: actor_class.remote(settings_data, recipe_data),
        )
    finally:
        for actor in actors:
            ray.kill(actor)
        if started:
            ray.shutdown()
    return count


def _drain(
    ray: Any,
    actors: list[Any],
    pending: deque[Job],
    on_record: Callable[[BatchRecord], None],
    new_actor: Callable[[], Any],
) -> None:
    """Keep IN_FLIGHT_PER_ACTOR jobs queued on each actor until `pending` is empty."""
    in_flight: dict[Any, tuple[int, Any, Job]] = {}

    def submit(index: int) -> None:
        if pending:
            job = pending.popleft()
            actor = actors[index]
            in_flight[actor.process.remote(*job)] = (index, actor, job)

    for index in range(len(actors)):
        for _ in range(IN_FLIGHT_PER_ACTOR):
            submit(index)
    while in_flight:
        [ref], _ = ray.wait(list(in_flight), num_returns=1)
        index, actor, job = in_flight.pop(ref)
        try:
            record = ray.get(ref)
        except ray.exceptions.RayActorError as exc:
            # The actor died (killed, out of memory): this image fails, a new actor takes over.
            record = BatchRecord(
                job[0], job[1], "failed", f"the Ray worker died ({exc.__class__.__name__})"
            )
            if actors[index] is actor:
                actors[index] = new_actor()
        except ray.exceptions.RayTaskError as exc:
            record = BatchRecord(job[0], job[1], "failed", f"{type(exc).__name__}: {exc}")
        on_record(record)
        submit(index)
