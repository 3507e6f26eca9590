"""GET /api/health."""

from __future__ import annotations

import os
from typing import Any

pytest_plugins = ["api_fixtures"]


def test_health(api_client: Any) -> None:
    body = api_client.get("/api/health").json()
    assert body["status"] == "ok"
    assert body["cache_backend"] == "disk"
    assert body["cpu_workers"] == os.cpu_count()
    assert body["pending_jobs"] == 0
