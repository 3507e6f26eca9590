"""GET /api/effects (every effect with the schema of its parameters) and GET /api/presets."""

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


@router.get("/presets")
def list_presets() -> dict[str, Any]:
    """Preset name -> its recipe; a recipe with `"preset": NAME` starts from it."""
    from glitchzap.presets import PRESETS, load_preset

    return {name: load_preset(name) for name in PRESETS}
