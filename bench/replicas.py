"""Two replicas sharing one redis-server: what serving an image uploaded to the other costs.

Two real `glitchzap serve` processes and a real redis-server on loopback (as
tests/test_api_replicas.py starts them). Each round uploads a new 512 x 512 photo to A and
renders it with a recipe not rendered before: on A (its pixels in A's memory), then on B (the
original read from Redis and decoded first), then A's render again on B (served from the
shared "renders" cache). Throughput of 1 vs 2 replicas is not measured: on a 2-core machine
two replicas share the same two cores, so the figure would say nothing about more machines.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from skimage import data as skdata

from _report import header, row
from api_fixtures import RedisServer, free_port
from glitchzap.io import encode_image
from glitchzap.templates import TemplateLibrary
from test_api_replicas import Replica, start_replica, stop, wait_ready

ROUNDS = 15


def render(replica: Replica, image_id: str, amount: float) -> float:
    """Wall time (ms) of one full-quality PNG render."""
    recipe = {"effects": {"noise": {"amount": amount}}, "seed": 1}
    body = {"image_id": image_id, "recipe": recipe, "quality": "full", "format": "png"}
    start = time.perf_counter()
    response = replica.post("/api/render", json=body)
    assert response.status_code == 200, response.text
    return (time.perf_counter() - start) * 1000


def measure(a: Replica, b: Replica) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"own": [], "other": [], "shared": []}
    photo = skdata.astronaut()
    for index in range(ROUNDS):
        image = photo.copy()
        image[0, 0, 0] = index  # a new image (and image_id) each round
        files = {"file": ("photo.png", encode_image(image, "png"), "image/png")}
        image_id = a.post("/api/images", files=files).json()["image_id"]
        render(a, image_id, 0.01)  # A decodes it once, as a studio session would
        times["own"].append(render(a, image_id, 0.2 + index / 100))
        times["other"].append(render(b, image_id, 0.5 + index / 100))
        times["shared"].append(render(b, image_id, 0.2 + index / 100))
    return times


def main() -> None:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed: scripts/system-deps.sh installs it")
    with tempfile.TemporaryDirectory(prefix="glitchzap-replicas-") as tmp:
        root = Path(tmp)
        redis = RedisServer(binary, free_port())
        redis.start()
        TemplateLibrary(root / "templates")
        env = {
            "GLITCHZAP_CACHE__BACKEND": "redis",
            "GLITCHZAP_CACHE__REDIS_URL": redis.url,
            "GLITCHZAP_TEMPLATES__DIR": str(root / "templates"),
            "GLITCHZAP_TEMPLATES__STARTER_ON_EMPTY": "false",
        }
        started: list[Any] = []
        try:
            started = [start_replica(root / name, env) for name in ("a", "b")]
            for replica in started:
                wait_ready(replica)
            times = measure(started[0], started[1])
        finally:
            for replica in started:
                stop(replica)
            redis.stop()
    own = statistics.median(times["own"])
    header(f"two replicas + Redis, 512 x 512 noise render, median of {ROUNDS}")
    row("render on the other replica (original from Redis)", statistics.median(times["other"]),
        own, "on the uploading replica")  # fmt: skip
    row("the same render again on the other replica (Redis)", statistics.median(times["shared"]),
        own, "rendering it")  # fmt: skip


if __name__ == "__main__":
    main()
