"""The library door: each core use case bound to the process's runtime.

`import glitchzap; glitchzap.remove_background(image)` works without building anything: these
wrappers pass `runtime` (default: the process's, built from config.yaml and `GLITCHZAP_*` on
first use, or by `glitchzap.configure(...)`) to the core functions, which take it explicitly.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from glitchzap.runtime import Runtime, current

if TYPE_CHECKING:
    from glitchzap.animation import Animation
    from glitchzap.meme.compose import EraseResult
    from glitchzap.recipes import Recipe
    from glitchzap.templates import TemplateLibrary


def render_recipe(
    image: np.ndarray,
    recipe: Recipe | dict[str, Any],
    *,
    quality: str = "full",
    runtime: Runtime | None = None,
) -> np.ndarray:
    """`image` rendered as `recipe` asks (effects, target, background) at `quality`."""
    from glitchzap.recipes import parse_recipe
    from glitchzap.rendering import render_recipe as render

    return render(image, parse_recipe(recipe), runtime=runtime or current(), quality=quality)


def render_animation(
    image_or_animation: np.ndarray | Animation,
    recipe: Recipe | dict[str, Any],
    *,
    quality: str = "full",
    runtime: Runtime | None = None,
) -> Animation:
    """Every frame rendered as `recipe` asks, timing and loop kept; a still becomes a loop
    when the recipe has an `animation` block ({"frames": 30, "fps": 15, "ease": ...}), else
    a one-frame animation."""
    from glitchzap.animation import Animation
    from glitchzap.recipes import parse_recipe
    from glitchzap.rendering import render_animation as render

    source = image_or_animation
    if isinstance(source, np.ndarray):
        source = Animation.still(source)
    plan = parse_recipe(recipe)
    return render(source, plan, runtime=runtime or current(), quality=quality)


def remove_background(
    image: np.ndarray, *, runtime: Runtime | None = None, **options: Any
) -> np.ndarray:
    """The subject cut out (RGBA), or composited on `background=`; see background module."""
    from glitchzap.background import remove_background as remove

    return remove(image, runtime=runtime or current(), **options)


def foreground_mask(
    image: np.ndarray, *, runtime: Runtime | None = None, **options: Any
) -> np.ndarray:
    """The subject's soft mask, float32 H×W in 0..1."""
    from glitchzap.background import foreground_mask as mask

    return mask(image, runtime=runtime or current(), **options)


def make_meme(
    image: np.ndarray,
    captions: Sequence[str],
    *,
    runtime: Runtime | None = None,
    **options: Any,
) -> np.ndarray:
    """A meme: existing text erased (per `erase`), `captions` drawn one per box."""
    from glitchzap.meme.compose import make_meme as compose

    return compose(image, captions, runtime=runtime or current(), **options)


def erase_text(image: np.ndarray, *, runtime: Runtime | None = None, **options: Any) -> EraseResult:
    """`image` with its text inpainted (`mode` auto, always or never)."""
    from glitchzap.meme.compose import erase_text as erase

    return erase(image, runtime=runtime or current(), **options)


def template_library(runtime: Runtime | None = None) -> TemplateLibrary:
    """The template library of `runtime` (default: the process's)."""
    return (runtime or current()).templates
