"""The effects registry: one module per effect, one entry each here.

Effects run in the order of `EFFECTS` whatever order a caller lists them in: the photo
effects first (noise, blur, shake, motion: the seed's fixed order), then the glitch-art ones in
the order a broken signal would apply them: displacement (channel shift, chromatic
aberration, wave), slices, pixel sorting, colour reduction (posterize, quantize), overlays
(scan lines, VHS) and, last, corruption of the encoded file (JPEG). Each works in place or
returns on one float32 H x W x C buffer (0..255, premultiplied when it is `spatial` and the
image has alpha): `fn(buf, params, rng, scale, deadline) -> buf`, where `scale` is preview
size / full size, so that
parameters are always given in full-resolution pixels.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from glitchzap.deadline import Deadline
from glitchzap.effects import blur, motion, noise, shake
from glitchzap.errors import InvalidParameters, UnknownEffect, describe_validation_error

# fn(buf, params, rng, scale, deadline) -> buf; `deadline.check()` between long steps.
EffectFn = Callable[[np.ndarray, Any, np.random.Generator, float, Deadline], np.ndarray]


@dataclass(frozen=True)
class Effect:
    name: str
    fn: EffectFn
    params: type[BaseModel]
    primary: str  # the parameter a bare number sets: {"blur": 4} == {"blur": {"radius": 4}}
    spatial: bool  # moves pixels around (premultiplied alpha matters)
    summary: str
    # Peak memory while it runs, in float32 copies of the image (its buffer included):
    # measured by tests/test_hostile_work.py, used to admit renders by memory.
    memory_copies: float = 2.2
    category: str = "photo"  # "photo" or "glitch": how the studio and `effects` group them


EFFECTS: dict[str, Effect] = {
    "noise": Effect(
        "noise", noise.add_noise, noise.NoiseParams, "amount", False, "Gaussian grain", 1.7
    ),
    "blur": Effect("blur", blur.gaussian_blur, blur.BlurParams, "radius", True, "Gaussian blur"),
    "shake": Effect("shake", shake.shake, shake.ShakeParams, "offset", True, "Camera shake"),
    "motion": Effect(
        "motion", motion.motion_blur, motion.MotionParams, "length", True, "Motion blur", 4.3
    ),
    # --- glitch art: displacement (channel_shift, chromatic, wave)
    # --- glitch art: slices
    # --- glitch art: pixel sorting
    # --- glitch art: colour reduction (posterize, quantize)
    # --- glitch art: overlays (scanlines, vhs)
    # --- glitch art: file corruption (jpeg)
}


def parse_effects(effects: Mapping[str, Any] | None) -> list[tuple[Effect, BaseModel]]:
    """Validated (effect, params) pairs in the fixed engine order, identities dropped."""
    if effects is None:
        return []
    if not isinstance(effects, Mapping):
        raise InvalidParameters("effects must be a mapping of effect name to parameters")
    unknown = [name for name in effects if name not in EFFECTS]
    if unknown:
        raise UnknownEffect(f"Unknown effect: {unknown[0]} (known: {', '.join(EFFECTS)})")
    chosen = []
    for name, effect in EFFECTS.items():
        if name not in effects or effects[name] is None:
            continue
        raw = effects[name]
        if isinstance(raw, BaseModel):
            raw = raw.model_dump()
        elif not isinstance(raw, Mapping):
            raw = {effect.primary: raw}
        try:
            params = effect.params.model_validate(raw)
        except ValidationError as exc:
            raise InvalidParameters(
                describe_validation_error(exc, root=name, prefix=f"{name}.")
            ) from exc
        if not params.is_identity():  # type: ignore[attr-defined]
            chosen.append((effect, params))
    return chosen


def effects_schema() -> dict[str, Any]:
    """Every effect's JSON schema, in engine order (for `glitchzap effects` and the API)."""
    return {
        name: {
            "summary": effect.summary,
            "primary": effect.primary,
            "category": effect.category,
            "schema": effect.params.model_json_schema(),
        }
        for name, effect in EFFECTS.items()
    }
