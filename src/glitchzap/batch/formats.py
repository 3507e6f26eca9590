"""Which format each batch output is written in: a still keeps the recipe's, an animation
needs a container that can hold one.

An animated input stays animated and a recipe with an `animation` block makes stills into
loops. Those outputs take the recipe's format when it can animate (png is APNG, webp, gif,
apng) and GIF when it is JPEG: one recipe over a folder of photos and GIFs then writes
photo.jpg and meme.gif rather than failing every GIF. Only in that JPEG case is an input
looked at (its signature, then its container header) before the batch starts.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from glitchzap.errors import GlitchzapError
from glitchzap.recipes import Recipe
from glitchzap.settings import LimitsSettings

CAN_ANIMATE = ("gif", "webp", "png", "apng")
# The start of every file that may hold an animation: GIF, PNG (APNG), RIFF....WEBP.
SIGNATURES = ((0, b"GIF8"), (0, b"\x89PNG\r\n\x1a\n"), (8, b"WEBP"))


def animation_format(recipe: Recipe) -> str:
    """The format of a batch's animated outputs: the recipe's when it can animate, else GIF."""
    fmt = recipe.output.format
    return fmt if fmt in CAN_ANIMATE else "gif"


def makes_animations(recipe: Recipe) -> bool:
    """Whether the recipe makes every input, stills too, into an animation."""
    return recipe.animation is not None and recipe.animation.frames > 1


def output_formats(recipe: Recipe, limits: LimitsSettings) -> str | Callable[[Path], str]:
    """The format of every output, or a function giving each input's output format."""
    still, moving = recipe.output.format, animation_format(recipe)
    if makes_animations(recipe):
        return moving
    if moving == still:
        return still  # stills and animations share the container: no input need be read
    return lambda source: moving if is_animated_file(source, limits) else still


def is_animated_file(path: Path, limits: LimitsSettings) -> bool:
    """Whether the file at `path` holds more than one frame, from its container (nothing
    decoded). An unreadable or refused file counts as a still: its worker reports why."""
    from glitchzap.io import probe_image

    try:
        with path.open("rb") as file:
            head = file.read(16)
            if not any(head[at : at + len(sign)] == sign for at, sign in SIGNATURES):
                return False
            data = head + file.read(limits.max_bytes)
        return probe_image(data, limits).animated
    except (OSError, GlitchzapError):
        return False
