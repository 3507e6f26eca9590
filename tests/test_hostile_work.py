"""Work that holds its deadline and memory that stays within its budget, under hostile renders.

Times and peak RSS are measured in subprocesses (a fresh interpreter per probe), with bounds
generous enough for a noisy 2-core machine: a 1 s deadline must end well before 3 s where the
work itself takes several times longer.
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from api_fixtures import make_client, upload
from glitchzap.api.deps import CpuPool
from glitchzap.deadline import Deadline
from glitchzap.effects import EFFECTS, parse_effects
from glitchzap.errors import ImageTooLarge, OperationTimeout, ServerBusy
from glitchzap.pipeline import apply_effects, effects_memory_bytes
from glitchzap.runtime import configure

pytest_plugins = ["api_fixtures"]

SRC = str(Path(__file__).resolve().parents[1] / "src")
LONG_SMEAR = {"motion": {"length": 1000, "angle": 33}}
# The strongest setting of each effect: what an attacker sends.
HOSTILE = {
    "noise": {"amount": 1.0, "monochrome": False},
    "blur": {"radius": 250},
    "shake": {"offset": 500, "copies": 16},
    "motion": {"length": 1000, "angle": 33},
    "channel_shift": {"red_x": 1000, "green_y": -1000, "blue_x": -999.5, "blue_y": 0.5},
    "chromatic": {"strength": 0.2, "center_x": 0, "center_y": 1},
    "wave": {"amplitude": 500, "wavelength": 2, "direction": "vertical", "phase": 90},
    "slices": {"count": 500, "max_offset": 4999, "band_height": 5000, "channel_offset": 999},
    "pixel_sort": {"amount": 1, "low": 0, "high": 1, "key": "hue", "angle": 45},
    "posterize": {"crush": 7, "dither": True},
    "quantize": {"colors": 256, "dither": "floyd-steinberg", "method": "k-means"},
    "scanlines": {"darkness": 1, "period": 2.5, "thickness": 1, "jitter": 99.5},
    "vhs": {"strength": 1, "tracking": 1, "bleed": 100, "blur": 20},
    "jpeg": {"amount": 1, "quality": 95, "blocks": True},
}

TIMED_RUN = textwrap.dedent(
    """
    import json, sys, time
    import numpy as np
    from glitchzap.deadline import Deadline
    from glitchzap.errors import OperationTimeout
    from glitchzap.pipeline import apply_effects

    side, seconds = int(sys.argv[1]), float(sys.argv[2])
    effects = json.loads(sys.argv[3])
    image = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    apply_effects(image[:32, :32].copy(), effects)  # warm the imports
    started = time.monotonic()
    try:
        apply_effects(image, effects, deadline=Deadline(seconds if seconds > 0 else None))
        outcome = "done"
    except OperationTimeout:
        outcome = "stopped"
    print(json.dumps({"outcome": outcome, "seconds": time.monotonic() - started}))
    """
)

PEAK_RUN = textwrap.dedent(
    """
    import gc, json, sys
    import numpy as np
    from glitchzap.pipeline import apply_effects

    def status(key):
        with open("/proc/self/status") as f:
            return int(next(l for l in f if l.startswith(key)).split()[1]) * 1024

    side, effects = int(sys.argv[1]), json.loads(sys.argv[2])
    image = np.random.default_rng(0).integers(0, 256, (side, side, 3), dtype=np.uint8)
    apply_effects(image[:64, :64].copy(), effects)  # warm the imports and OpenCV's pools
    gc.collect()
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")  # reset the high-water mark to the current RSS
    before = status("VmRSS:")
    apply_effects(image, effects)
    print(json.dumps({"growth": status("VmHWM:") - before}))
    """
)


def run_probe(code: str, *args: str) -> dict[str, Any]:
    env = {"PYTHONPATH": SRC, "PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "2"}
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


# --- deadlines ----------------------------------------------------------------------------------


def test_a_long_render_stops_within_a_second_of_its_deadline() -> None:
    whole = run_probe(TIMED_RUN, "2400", "0", json.dumps(LONG_SMEAR))
    assert whole["outcome"] == "done"
    stopped = run_probe(TIMED_RUN, "2400", "0.5", json.dumps(LONG_SMEAR))
    assert stopped["outcome"] == "stopped"
    assert stopped["seconds"] < 0.5 + 1.5, stopped  # ~1 s past the deadline at most
    assert stopped["seconds"] < whole["seconds"] / 1.5, (stopped, whole)  # the work was cut


@pytest.mark.parametrize("name", list(EFFECTS))
def test_every_effect_checks_its_deadline(name: str) -> None:
    image = np.zeros((64, 64, 3), np.uint8)
    expired = Deadline(0.0)
    time.sleep(0.01)
    with pytest.raises(OperationTimeout):
        apply_effects(image, {name: HOSTILE[name]}, deadline=expired)


def test_api_render_past_its_deadline_frees_its_worker(tmp_path: Path) -> None:
    """The 504 means the work is gone: the worker is free again within ~1 s, counted."""
    settings = configure(
        None,
        data_dir=tmp_path,
        cache={"backend": "memory"},
        server={"render_timeout_seconds": 1.0, "cpu_workers": 1},
    ).settings
    photo = np.random.default_rng(1).integers(0, 256, (2400, 2400, 3), dtype=np.uint8)
    data = io.BytesIO()
    Image.fromarray(photo).save(data, "JPEG", quality=80)
    with make_client(settings) as client:
        image_id = upload(client, data.getvalue())["image_id"]
        body = {"image_id": image_id, "recipe": {"effects": LONG_SMEAR}, "quality": "full"}
        response = client.post("/api/render", json=body)
        assert response.status_code == 504, response.text
        assert response.json()["error"] == "timeout"
        freed_after = None
        started = time.monotonic()
        while time.monotonic() - started < 10:
            pool = client.get("/api/performance").json()["cpu_pool"]
            if pool["pending"] == 0:
                freed_after = time.monotonic() - started
                break
            time.sleep(0.05)
        assert freed_after is not None and freed_after < 2.0, pool
        assert pool["cancelled"] == 1
        assert pool["memory_in_use_bytes"] == 0
        small = {"image_id": image_id, "recipe": {"effects": {"blur": 2}}, "quality": "fast"}
        assert client.post("/api/render", json=small).status_code == 200


# --- memory ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(EFFECTS))
def test_each_effects_memory_estimate_bounds_its_real_peak(name: str) -> None:
    side = 1500
    measured = run_probe(PEAK_RUN, str(side), json.dumps({name: HOSTILE[name]}))["growth"]
    estimate = effects_memory_bytes((side, side, 3), {name: HOSTILE[name]})
    image_float = side * side * 3 * 4
    effect, params = parse_effects({name: HOSTILE[name]})[0]
    on_uint8 = effect.uint8_exact is not None and effect.uint8_exact(params, 1.0)
    if not on_uint8:  # the uint8 fast path never makes a float32 copy at all
        assert measured > image_float // 2, measured  # the probe sees the work
    assert measured <= estimate, f"{name}: measured {measured / 1e6:.0f} MB > {estimate / 1e6:.0f}"
    assert estimate < 2.5 * max(measured, image_float), "the estimate is far too pessimistic"


def test_render_over_the_memory_budget_is_refused_before_any_work(tmp_path: Path) -> None:
    settings = configure(
        None,
        data_dir=tmp_path,
        cache={"backend": "memory"},
        limits={"max_request_memory_bytes": 40_000_000},
    ).settings
    photo = np.random.default_rng(2).integers(0, 256, (1500, 1500, 3), dtype=np.uint8)
    data = io.BytesIO()
    Image.fromarray(photo).save(data, "JPEG", quality=80)
    with make_client(settings) as client:
        image_id = upload(client, data.getvalue())["image_id"]
        full = {"image_id": image_id, "recipe": {"effects": HOSTILE}, "quality": "full"}
        refused = client.post("/api/render", json=full)
        assert refused.status_code == 413, refused.text
        assert refused.json()["error"] == "image_too_large"
        assert "limits.max_request_memory_bytes" in refused.json()["message"]
        preview = {**full, "quality": "balanced"}  # the same recipe on a preview fits
        assert client.post("/api/render", json=preview).status_code == 200
        ops = client.get("/api/performance").json()["operations"]
        assert "render" in ops and ops["render"]["count"] == 1  # the refused one never ran


def run_pool(pool: CpuPool, jobs: list[tuple[int, float]]) -> list[Any]:
    """Run (memory_bytes, seconds) jobs at once; each returns the pool's memory in use."""

    def job(seconds: float) -> int:
        seen = pool.memory_in_use
        time.sleep(seconds)
        return seen

    async def main() -> list[Any]:
        calls = [pool.run(5.0, job, seconds, memory_bytes=m) for m, seconds in jobs]
        return list(await asyncio.gather(*calls, return_exceptions=True))

    return asyncio.run(main())


def test_the_pool_admits_work_by_memory() -> None:
    pool = CpuPool(workers=4, max_pending=16, memory_bytes=100)
    seen = run_pool(pool, [(60, 0.2), (60, 0.2), (10, 0.2), (10, 0.2)])
    assert all(isinstance(s, int) and s <= 100 for s in seen), seen  # never over budget
    assert pool.memory_in_use == 0
    with pytest.raises(ImageTooLarge, match=r"server\.render_memory_bytes"):
        run_pool_raising(pool, 101)


def run_pool_raising(pool: CpuPool, memory: int) -> None:
    outcome = run_pool(pool, [(memory, 0.0)])[0]
    if isinstance(outcome, BaseException):
        raise outcome


def test_work_that_cannot_fit_in_time_is_refused_busy() -> None:
    pool = CpuPool(workers=2, max_pending=8, memory_bytes=100)
    release = threading.Event()

    def hog() -> None:
        release.wait(5)

    async def main() -> Any:
        first = asyncio.ensure_future(pool.run(5.0, hog, memory_bytes=90))
        await asyncio.sleep(0.05)
        try:
            return await pool.run(0.3, time.sleep, 0, memory_bytes=20)
        except ServerBusy as exc:
            return exc
        finally:
            release.set()
            await first

    outcome = asyncio.run(main())
    assert isinstance(outcome, ServerBusy)
    assert pool.memory_in_use == 0 and pool.pending == 0


def test_the_server_returns_freed_memory_on_glibc() -> None:
    import platform

    from glitchzap.api.server import return_freed_memory

    if platform.libc_ver()[0] != "glibc":
        pytest.skip("malloc tuning is for glibc")
    assert return_freed_memory() is True
