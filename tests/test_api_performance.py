"""GET /api/performance and GET /metrics after real requests."""

from __future__ import annotations

import json
from typing import Any

from api_fixtures import upload

pytest_plugins = ["api_fixtures"]


def test_performance_reports_operations_caches_and_memory(
    api_client: Any, api_settings: Any, api_astronaut_png: bytes
) -> None:
    image_id = upload(api_client, api_astronaut_png)["image_id"]
    for _ in range(2):
        api_client.post(
            "/api/render", json={"image_id": image_id, "recipe": {"effects": {"blur": 2}}}
        )
    api_client.post("/api/render", json={"image_id": image_id, "recipe": {"effects": {"zap": 2}}})
    body = api_client.get("/api/performance").json()
    http = body["operations"]["http POST /api/render"]
    assert http["count"] == 3
    assert http["successes"] == 2
    assert http["failures"] == {"http_422": 1}
    assert 0 < http["p50_ms"] <= http["p95_ms"] <= http["max_ms"]
    assert body["operations"]["render"]["successes"] == 1  # the second one was cached
    assert body["operations"]["upload"]["count"] == 1
    renders = next(c for c in body["caches"] if c["name"] == "renders")
    assert renders["hits"] == 1 and renders["misses"] == 1
    assert renders["hit_rate"] == 0.5
    assert body["process"]["rss_bytes"] > 0
    assert body["system"]["memory_total_bytes"] > 0
    assert "model" in body
    log = api_settings.data_dir / "performance_logs.jsonl"
    operations = {json.loads(line)["operation"] for line in log.read_text().splitlines()}
    assert {"upload", "render", "http POST /api/render"} <= operations


def test_metrics_in_prometheus_format(api_client: Any, api_astronaut_png: bytes) -> None:
    upload(api_client, api_astronaut_png)
    response = api_client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'glitchzap_operations_total{operation="upload",outcome="success"} 1.0' in text
    assert 'glitchzap_cache_misses_total{cache="images"}' in text
    assert "glitchzap_process_rss_bytes " in text
