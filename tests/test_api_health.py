"""GET /api/health and GET /api/limits."""

from __future__ import annotations

import os
from typing import Any

from api_fixtures import make_client

pytest_plugins = ["api_fixtures"]


def test_health(api_client: Any) -> None:
    body = api_client.get("/api/health").json()
    assert body["status"] == "ok"
    assert body["cache_backend"] == "disk"
    assert body["cpu_workers"] == os.cpu_count()
    assert body["pending_jobs"] == 0


def test_limits_say_what_the_settings_accept(api_settings: Any) -> None:
    small = api_settings.model_copy(
        update={"limits": api_settings.limits.model_copy(update={"max_bytes": 123_456})}
    )
    with make_client(small) as client:
        body = client.get("/api/limits").json()
        too_big = client.post("/api/images", files={"file": ("x.png", b"0" * 2_000_000)})
    assert body == {
        "max_bytes": 123_456,
        "max_pixels": small.limits.max_pixels,
        "max_frames": small.limits.max_frames,
        "max_text_length": small.limits.max_text_length,
    }
    assert too_big.status_code == 413
    assert too_big.json()["message"].startswith("The file is too large: this server takes up to")
