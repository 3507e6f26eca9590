"""GET /api/health: cheap liveness answer for load balancers (no API key needed); GET
/api/limits: what the server accepts, so a client can say it before an upload fails."""

from __future__ import annotations

from importlib import metadata

from fastapi import APIRouter

from glitchzap.api.deps import State
from glitchzap.api.schemas import HealthResponse, LimitsResponse

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


@router.get("/limits", response_model=LimitsResponse)
def limits(state: State) -> LimitsResponse:
    conf = state.settings.limits
    return LimitsResponse(
        max_bytes=conf.max_bytes,
        max_pixels=conf.max_pixels,
        max_frames=conf.max_frames,
        max_text_length=conf.max_text_length,
    )
