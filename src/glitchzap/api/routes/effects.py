"""GET /api/effects: every registered effect with the JSON schema of its parameters."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from glitchzap.api.schemas import EffectResponse

router = APIRouter(prefix="/api", tags=["effects"])


@router.get("/effects", response_model=dict[str, EffectResponse], response_model_by_alias=True)
def list_effects() -> dict[str, Any]:
    """Effect name -> summary, primary parameter and parameter schema, in engine order."""
    from glitchzap.effects import effects_schema

    return effects_schema()
