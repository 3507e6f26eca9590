"""GET /api/performance (JSON) and GET /metrics (Prometheus text)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from glitchzap.api.deps import State

router = APIRouter(tags=["performance"])


@router.get("/api/performance")
def performance(state: State) -> dict[str, Any]:
    """Per-operation counts and latencies, cache hit rates, memory, CPU and the model."""
    return {
        **state.monitor.snapshot(),
        "caches": state.runtime.cache_stats(),
        "model": state.runtime.models.status(),
        "cpu_pool": {
            "workers": state.pool.workers,
            "pending": state.pool.pending,
            "max_pending": state.pool.max_pending,
            "cancelled": state.pool.cancelled,
            "memory_in_use_bytes": state.pool.memory_in_use,
            "memory_bytes": state.pool.memory_bytes,
        },
    }


@router.get("/metrics", response_class=Response)
def metrics(state: State) -> Response:
    from prometheus_client import CONTENT_TYPE_LATEST

    return Response(state.monitor.metrics_text(), media_type=CONTENT_TYPE_LATEST)
