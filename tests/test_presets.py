"""Presets: every shipped recipe parses, renders a real photo, and the glitch levels grow."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

import cv2
import numpy as np
import pytest
from skimage import data

from glitchzap.errors import InvalidParameters
from glitchzap.pipeline import apply_effects
from glitchzap.presets import PRESETS, load_preset
from glitchzap.recipes import Recipe, parse_recipe

LEVELS = [f"glitch-{level}" for level in range(1, 11)]


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut())  # 512 x 512


@pytest.fixture(scope="module")
def large_photo() -> np.ndarray:
    """The size the glitch levels were tuned for (~1000 px): the astronaut enlarged."""
    return cv2.resize(data.astronaut(), (1024, 1024), interpolation=cv2.INTER_CUBIC)


def test_every_shipped_file_is_listed_and_every_listed_preset_shipped() -> None:
    shipped = {
        entry.name.removesuffix(".yaml")
        for entry in resources.files("glitchzap.presets").iterdir()
        if entry.name.endswith(".yaml")
    }
    assert shipped == set(PRESETS)
    assert len(PRESETS) == len(set(PRESETS))
    assert {*LEVELS, "vhs", "datamosh", "pixel-sort", "rgb-split", "8-bit"} == set(PRESETS)


def test_the_preset_files_are_package_data() -> None:
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    package_data = tomllib.loads(pyproject.read_text())["tool"]["setuptools"]["package-data"]
    assert "presets/*.yaml" in package_data["glitchzap"]


@pytest.mark.parametrize("name", PRESETS)
def test_each_preset_is_a_recipe_that_changes_a_photo(name: str, photo: np.ndarray) -> None:
    raw = load_preset(name)
    assert set(raw) <= {"effects", "seed"}, "a preset holds effects and, at most, a seed"
    recipe = parse_recipe(raw)
    assert isinstance(recipe, Recipe)
    # No effect in a preset is a silent no-op (parse_recipe drops identities).
    assert set(recipe.effects) == set(raw["effects"])
    out = apply_effects(photo, recipe.effects, seed=recipe.seed)
    assert out.shape == photo.shape
    assert np.abs(out.astype(float) - photo).mean() > 2.0


def test_glitch_levels_grow_stronger(large_photo: np.ndarray) -> None:
    """Mean |out - in| grows level by level (averaged over seeds: any one seed's bands can
    land so that one more band covers a wider-shifted one with a smaller shift)."""
    strengths = []
    for name in LEVELS:
        recipe = parse_recipe(load_preset(name))
        diffs = [
            np.abs(
                apply_effects(large_photo, recipe.effects, seed=s).astype(float) - large_photo
            ).mean()
            for s in range(4)
        ]
        strengths.append(float(np.mean(diffs)))
    assert all(np.diff(strengths) > 0), np.round(strengths, 1)
    assert strengths[-1] > 4 * strengths[0]


def test_glitch_levels_follow_glitch_this() -> None:
    """More and wider-shifted bands per level, as glitch-this's 2 x level slices."""
    slices = [load_preset(name)["effects"]["slices"] for name in LEVELS]
    assert [s["count"] for s in slices] == [2 * level for level in range(1, 11)]
    offsets = [s["max_offset"] for s in slices]
    assert offsets == sorted(offsets) and len(set(offsets)) == 10
    for name in LEVELS:
        assert {"channel_shift", "slices", "scanlines"} <= set(load_preset(name)["effects"])


def test_unknown_presets_name_the_known_ones() -> None:
    with pytest.raises(InvalidParameters, match="sparkle") as caught:
        load_preset("sparkle")
    assert all(name in str(caught.value) for name in PRESETS)
    for sneaky in ("../__init__", "glitch-11", "GLITCH-1", "", "vhs.yaml"):
        with pytest.raises(InvalidParameters, match="Unknown preset"):
            load_preset(sneaky)


def test_load_preset_returns_a_fresh_mapping() -> None:
    first = load_preset("vhs")
    first["effects"]["vhs"]["strength"] = 0
    first["effects"].clear()
    assert load_preset("vhs")["effects"]["vhs"]["strength"] == 0.8
