"""GET /api/health: cheap liveness answer for load balancers (no API key needed)."""

from __future__ import annotations

from importlib import metadata

from fastapi import APIRouter

from glitchzap.api.deps import State
from glitchzap.api.schemas import HealthResponse

router = APIRouter(prefix="/api", tags=["health"])


@router.get("/health", response_model=HealthResponse)
def health(state: State) -> HealthResponse:
    return HealthResponse(
        status="ok",
        version=metadata.version("glitchzap"),
        cache_backend=state.settings.cache.backend,
        cpu_workers=state.pool.workers,
        pending_jobs=state.pool.pending,
    )
