"""Recipes: one schema for a whole render, shared by the CLI, API, web studio and batch."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from glitchzap.animation import CURVES, DEFAULT_FPS
from glitchzap.background.modes import Quality
from glitchzap.effects import EFFECTS, parse_effects
from glitchzap.errors import InvalidParameters, describe_validation_error

Target = Literal["all", "foreground", "background"]
Channel = Annotated[int, Field(ge=0, le=255)]


class OutputOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    format: Literal["png", "jpeg", "webp", "gif", "apng"] = Field(
        "png", description="png (APNG when animated), jpeg (stills), webp, gif, apng"
    )
    quality: int = Field(90, ge=1, le=100, description="JPEG/WebP quality")


# The cut-out's model choice, shared by the recipe and the API's remove-background body.
CutoutModel = Annotated[
    str | None,
    Field(description="One background model alone (overrides quality); default: the mode's"),
]
CutoutQuality = Annotated[
    Quality | None,
    Field(
        description="Cut-out quality mode: fast (u2netp), balanced (isnet-imgly), best (both, "
        "mirrored too); default models.quality"
    ),
]
Decontaminate = Annotated[
    bool | None,
    Field(
        description="Estimate the subject's own colours on soft edges (no halo of the old "
        "background); default: as the quality mode says (on for best)"
    ),
]


class BackgroundOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")
    remove: bool = Field(False, description="Cut the subject out (transparent background)")
    model: CutoutModel = None
    quality: CutoutQuality = None
    color: tuple[Channel, Channel, Channel, Channel] | None = Field(
        None, description="R, G, B, A (0-255) to fill the removed background"
    )
    only_mask: bool = Field(False, description="The grey subject mask instead of the image")
    post_process: bool = Field(False, description="Smooth the mask (rembg's post-processing)")
    alpha_matting: bool = Field(False, description="Refine the cut-out's edges by matting")
    alpha_matting_foreground_threshold: int = Field(240, ge=0, le=255)
    alpha_matting_background_threshold: int = Field(10, ge=0, le=255)
    alpha_matting_erode_size: int = Field(10, ge=0, le=100)
    # remove.bg-style finishing (order: mask -> backdrop + shadow -> crop -> channels).
    bg_blur: float = Field(
        0, ge=0, le=500, description="Backdrop: the photo's own background blurred by this "
        "many px (Gaussian sigma), the subject sharp; 0 = off. Not with `color`"
    )  # fmt: skip
    shadow: bool = Field(False, description="A soft drop shadow of the subject on the backdrop")
    shadow_blur: float = Field(10, ge=0, le=500, description="Shadow softness, px (sigma)")
    shadow_offset: tuple[int, int] = Field(
        (12, 12), description="Shadow offset dx, dy px (+x right, +y down)"
    )
    shadow_opacity: float = Field(0.5, ge=0, le=1, description="Shadow darkness 0..1")
    crop: bool = Field(False, description="Crop to the subject's box (plus crop_margin)")
    crop_margin: int | str = Field(
        0, description='Margin around the crop: px (12, "12px") or % of the subject box ("10%")'
    )
    channels: Literal["rgba", "alpha"] = Field(
        "rgba", description="rgba: the image; alpha: the result's alpha alone (grey PNG)"
    )
    decontaminate: Decontaminate = None

    @model_validator(mode="after")
    def _finishing_fits(self) -> BackgroundOptions:
        from glitchzap.background.compose import check_shadow, parse_margin

        try:
            parse_margin(self.crop_margin)
            check_shadow(self.shadow_offset, self.shadow_blur, self.shadow_opacity)
        except InvalidParameters as exc:
            raise ValueError(str(exc)) from None
        if self.color is not None and self.bg_blur:
            raise ValueError("give one backdrop: color or bg_blur")
        if self.channels == "alpha" and (self.color is not None or self.bg_blur):
            raise ValueError("channels=alpha answers the cut-out's alpha: give no backdrop")
        return self

    @property
    def finishing(self) -> dict[str, Any]:
        """The finishing keyword arguments of `remove_background` these options ask for."""
        from glitchzap.background.compose import Shadow

        shadow = (
            Shadow(self.shadow_offset, self.shadow_blur, self.shadow_opacity)
            if self.shadow
            else False
        )
        return {
            "bg_blur": self.bg_blur,
            "shadow": shadow,
            "crop": self.crop,
            "crop_margin": self.crop_margin,
            "channels": self.channels,
            "decontaminate": self.decontaminate,
        }


def opaque(color: tuple[int, ...] | None) -> tuple[int, ...] | None:
    """An R, G, B colour as R, G, B, 255 (what `BackgroundOptions.color` holds)."""
    return (*color, 255) if color is not None and len(color) == 3 else color


class Ease(BaseModel):
    """A parameter moved from `from` to `to` over the frames along `curve`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    start: float = Field(alias="from", allow_inf_nan=False)
    end: float = Field(alias="to", allow_inf_nan=False)
    curve: Literal["linear", "ease-in", "ease-out", "ease-in-out", "there-and-back"] = Field(
        "linear", description=f"One of {', '.join(CURVES)}"
    )


class AnimationOptions(BaseModel):
    """How a still becomes a loop (an animated input keeps its own frames and timing; its
    frames get `ease` and `seed` the same way)."""

    model_config = ConfigDict(extra="forbid")
    frames: int = Field(12, ge=1, le=1000, description="Frames made from a still")
    fps: float | None = Field(None, gt=0, le=100, description="Frames per second (a still)")
    duration_ms: int | None = Field(
        None, ge=10, le=60_000, description="Each frame's duration, ms (a still; beats fps)"
    )
    loop: int = Field(0, ge=0, le=65_535, description="Repeats: 0 = forever")
    seed: Literal["per-frame", "fixed"] = Field(
        "per-frame", description="per-frame: frame i glitches with seed + i; fixed: one seed"
    )
    ease: dict[str, Ease] = Field(
        default_factory=dict, description='"effect.param" -> {from, to, curve}'
    )

    @property
    def frame_ms(self) -> int:
        if self.duration_ms is not None:
            return self.duration_ms
        return max(10, round(1000 / (self.fps or DEFAULT_FPS)))

    @field_validator("ease")
    @classmethod
    def _known_parameters(cls, ease: dict[str, Ease]) -> dict[str, Ease]:
        for key, spec in ease.items():
            effect_name, _, param = key.partition(".")
            effect = EFFECTS.get(effect_name)
            if effect is None:
                raise ValueError(f"ease {key!r}: unknown effect {effect_name!r}")
            field = effect.params.model_fields.get(param)
            if field is None or field.annotation not in (int, float):
                numeric = [n for n, f in effect.params.model_fields.items()
                           if f.annotation in (int, float)]  # fmt: skip
                raise ValueError(
                    f"ease {key!r}: {effect_name} has no number {param!r} "
                    f"(numbers: {', '.join(numeric)})"
                )
            for value in (spec.start, spec.end):
                try:
                    effect.params.model_validate({param: value})
                except ValidationError as exc:
                    raise ValueError(
                        f"ease {key!r}: {describe_validation_error(exc, root=key)}"
                    ) from None
        return ease


class Recipe(BaseModel):
    """Everything needed to reproduce a render: effects, where they apply, seed and output."""

    model_config = ConfigDict(extra="forbid")
    # Before `effects`: eased effects are kept even when their base values do nothing.
    animation: AnimationOptions | None = Field(
        None, description="Turn a still into a loop / per-frame settings for an animation"
    )
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
    def _valid_effects(cls, value: dict[str, Any], info: ValidationInfo) -> dict[str, Any]:
        # Normalise to full parameter dicts in engine order; identities dropped, except an
        # effect whose parameters are eased (it may do nothing at the first frame only).
        animation = info.data.get("animation")
        eased = {key.split(".")[0] for key in animation.ease} if animation else set()
        chosen = parse_effects(value, keep=eased)
        return {effect.name: params.model_dump() for effect, params in chosen}

    @model_validator(mode="after")
    def _crop_keeps_targets_whole(self) -> Recipe:
        if self.background.remove and self.background.crop and self.needs_mask:
            raise ValueError(
                "background.crop changes the image's size: use it with target 'all' "
                "(effects on a foreground/background target need the uncropped mask)"
            )
        return self

    @property
    def needs_mask(self) -> bool:
        return self.target != "all" and (bool(self.effects) or self.animated)

    @property
    def animated(self) -> bool:
        return self.animation is not None


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
