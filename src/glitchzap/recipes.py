"""Recipes: one schema for a whole render, shared by the CLI, API, web studio and batch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from glitchzap.effects import parse_effects
from glitchzap.errors import InvalidParameters, describe_validation_error

Target = Literal["all", "foreground", "background"]
Channel = Annotated[int, Field(ge=0, le=255)]


class OutputOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["png", "jpeg", "webp"] = "png"
    quality: int = Field(90, ge=1, le=100, description="JPEG/WebP quality")


class BackgroundOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    remove: bool = Field(False, description="Cut the subject out (transparent background)")
    model: str | None = Field(None, description="Background model; default from config")
    color: tuple[Channel, Channel, Channel, Channel] | None = Field(
        None, description="R, G, B, A (0-255) to fill the removed background"
    )
    only_mask: bool = Field(False, description="The grey subject mask instead of the image")
    post_process: bool = Field(False, description="Smooth the mask (rembg's post-processing)")
    alpha_matting: bool = Field(False, description="Refine the cut-out's edges by matting")
    alpha_matting_foreground_threshold: int = Field(240, ge=0, le=255)
    alpha_matting_background_threshold: int = Field(10, ge=0, le=255)
    alpha_matting_erode_size: int = Field(10, ge=0, le=100)


def opaque(color: tuple[int, ...] | None) -> tuple[int, ...] | None:
    """An R, G, B colour as R, G, B, 255 (what `BackgroundOptions.color` holds)."""
    return (*color, 255) if color is not None and len(color) == 3 else color


class Recipe(BaseModel):
    """Everything needed to reproduce a render: effects, where they apply, seed and output."""

    model_config = ConfigDict(extra="forbid")
    effects: dict[str, Any] = Field(default_factory=dict, description="effect name -> params")
    target: Target = "all"
    seed: int | None = Field(0, ge=0, le=2**63 - 1, description="None = a new random seed")
    background: BackgroundOptions = Field(default_factory=BackgroundOptions)
    output: OutputOptions = Field(default_factory=OutputOptions)

    @model_validator(mode="before")
    @classmethod
    def _apply_preset(cls, data: Any) -> Any:
        """`preset: NAME` starts from that named recipe; the recipe's own keys override it
        (its effects one by one). The preset's name is not kept: the result is plain."""
        if not isinstance(data, dict) or "preset" not in data:
            return data
        from glitchzap.presets import load_preset

        data = dict(data)
        name = data.pop("preset")
        if name is None:
            return data
        if not isinstance(name, str):
            raise ValueError("preset must be a preset name (see GET /api/presets)")
        base = load_preset(name)
        effects = {**dict(base.get("effects") or {}), **dict(data.get("effects") or {})}
        return {**base, **data, "effects": effects}

    @field_validator("effects")
    @classmethod
    def _valid_effects(cls, value: dict[str, Any]) -> dict[str, Any]:
        # Normalise to full parameter dicts in engine order; identities dropped.
        return {effect.name: params.model_dump() for effect, params in parse_effects(value)}

    @property
    def needs_mask(self) -> bool:
        return self.target != "all" and bool(self.effects)


def parse_recipe(data: Any) -> Recipe:
    """A validated Recipe from a mapping; errors name the offending key."""
    if isinstance(data, Recipe):
        return data
    if not isinstance(data, dict):
        raise InvalidParameters("A recipe must be a JSON/YAML object")
    try:
        return Recipe.model_validate(data)
    except ValidationError as exc:
        problems = describe_validation_error(exc, root="recipe")
        raise InvalidParameters(f"Invalid recipe: {problems}") from exc
    except InvalidParameters as exc:  # raised by the effects validator
        raise InvalidParameters(f"Invalid recipe: {exc}") from exc


def load_recipe(path: str | Path) -> Recipe:
    """A recipe from a .json, .yaml or .yml file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise InvalidParameters(f"Cannot read recipe {path}: {exc.strerror or exc}") from exc
    try:
        data = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise InvalidParameters(f"Recipe {path} is not valid JSON/YAML: {exc}") from exc
    except RecursionError as exc:
        raise InvalidParameters(f"Recipe {path} is nested too deeply") from exc
    return parse_recipe(data)
