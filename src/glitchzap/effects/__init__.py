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

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydantic import BaseModel, ValidationError

from glitchzap.deadline import Deadline
from glitchzap.effects import (
    blur,
    channel_shift,
    chromatic,
    jpeg,
    motion,
    noise,
    pixel_sort,
    posterize,
    quantize,
    scanlines,
    shake,
    slices,
    vhs,
    wave,
)
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
    # When it answers True for (params, scale), `fn` also takes a uint8 buffer and gives
    # exactly what the float32 path rounds to (pure pixel moves, one rounded multiply): a
    # chain of such effects then skips the float32 round trip (see pipeline.apply_effects).
    uint8_exact: Callable[[Any, float], bool] | None = None


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
    "channel_shift": Effect(
        "channel_shift",
        channel_shift.shift_channels,
        channel_shift.ChannelShiftParams,
        "red_x",
        True,
        "RGB split: each colour channel displaced",
        1.7,
        category="glitch",
        uint8_exact=channel_shift.exact_on_uint8,
    ),
    "chromatic": Effect(
        "chromatic",
        chromatic.chromatic_aberration,
        chromatic.ChromaticParams,
        "strength",
        True,
        "Chromatic aberration: red magnified, blue shrunk",
        1.4,  # in place, a few bands of scratch: measured 1.05-1.14 (1.37 on a short RGBA)
        category="glitch",
    ),
    "wave": Effect(
        "wave",
        wave.wave,
        wave.WaveParams,
        "amplitude",
        True,
        "Sine wave displacement of rows or columns",
        1.4,
        category="glitch",
    ),
    # --- glitch art: slices
    "slices": Effect(
        "slices",
        slices.displace_slices,
        slices.SlicesParams,
        "count",
        True,
        "Slice displacement: random bands shifted sideways (glitch-this)",
        1.6,
        category="glitch",
        uint8_exact=slices.exact_on_uint8,
    ),
    # --- glitch art: pixel sorting
    "pixel_sort": Effect(
        "pixel_sort",
        pixel_sort.pixel_sort,
        pixel_sort.PixelSortParams,
        "amount",
        True,
        "Pixel sorting: runs within a key interval sorted along rows, columns or an angle",
        2.3,
        category="glitch",
        uint8_exact=pixel_sort.exact_on_uint8,
    ),
    # --- glitch art: colour reduction (posterize, quantize)
    "posterize": Effect(
        "posterize",
        posterize.posterize,
        posterize.PosterizeParams,
        "crush",
        False,
        "Bit crush: fewer levels per channel, optional ordered dither",
        1.3,
        category="glitch",
    ),
    "quantize": Effect(
        "quantize",
        quantize.quantize,
        quantize.QuantizeParams,
        "colors",
        False,
        "Palette reduction: a few colours, Floyd-Steinberg or ordered dither",
        1.8,
        category="glitch",
        uint8_exact=quantize.exact_on_uint8,
    ),
    # --- glitch art: overlays (scanlines, vhs)
    "scanlines": Effect(
        "scanlines",
        scanlines.draw_scanlines,
        scanlines.ScanlinesParams,
        "darkness",
        True,
        "Scan lines: darkened rows every period px, optional interlace jitter",
        1.6,
        category="glitch",
        uint8_exact=scanlines.exact_on_uint8,
    ),
    "vhs": Effect(
        "vhs",
        vhs.vhs,
        vhs.VhsParams,
        "strength",
        True,
        "VHS: tracking-noise bands, colour bleed, softening",
        2.3,
        category="glitch",
    ),
    # --- glitch art: file corruption (jpeg)
    "jpeg": Effect(
        "jpeg",
        jpeg.corrupt_jpeg,
        jpeg.JpegParams,
        "amount",
        False,
        "JPEG corruption: damaged scan data, blocky colour smears",
        2.2,
        category="glitch",
        uint8_exact=jpeg.exact_on_uint8,
    ),
}


def parse_effects(
    effects: Mapping[str, Any] | None, keep: Collection[str] = ()
) -> list[tuple[Effect, BaseModel]]:
    """Validated (effect, params) pairs in the fixed engine order, identities dropped (but
    the effects named in `keep`)."""
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
        if name in keep or not params.is_identity():  # type: ignore[attr-defined]
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
