"""Presets: named recipes shipped with the package, one YAML file each beside this module.

A preset is a whole recipe (`effects:` and, optionally, `seed:`), so it reads like any recipe
file; `load_preset` hands back a fresh mapping that `glitchzap.recipes.parse_recipe` accepts.
`glitch-1` ... `glitch-10` follow glitch-this's intensity levels (more and wider displaced
bands, a larger channel offset, darker scan lines); the others are named looks.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import Any

import yaml

from glitchzap.errors import InvalidParameters

# Every preset, in the order the CLI, the API and the studio list them.
PRESETS: tuple[str, ...] = (
    *(f"glitch-{level}" for level in range(1, 11)),
    "vhs",
    "datamosh",
    "pixel-sort",
    "rgb-split",
    "8-bit",
)


@functools.cache
def _preset_text(name: str) -> str:
    return resources.files(__name__).joinpath(f"{name}.yaml").read_text(encoding="utf-8")


def load_preset(name: str) -> dict[str, Any]:
    """The recipe mapping of preset `name` (a new dict on every call, safe to change)."""
    if name not in PRESETS:  # checked first: a name never becomes a path unless it is ours
        raise InvalidParameters(f"Unknown preset: {name} (known: {', '.join(PRESETS)})")
    recipe = yaml.safe_load(_preset_text(name))
    if not isinstance(recipe, dict):
        raise InvalidParameters(f"Preset {name} is not a recipe mapping")
    return recipe
