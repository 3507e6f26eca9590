from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from glitchzap.errors import InvalidParameters
from glitchzap.recipes import load_recipe, parse_recipe
from glitchzap.rendering import render_effects as render
from glitchzap.runtime import current


def test_recipe_normalises_effects_into_engine_order() -> None:
    recipe = parse_recipe({"effects": {"motion": 5, "noise": {"amount": 0.1}, "blur": 0}})
    assert list(recipe.effects) == ["noise", "motion"]
    assert recipe.effects["motion"] == {"length": 5.0, "angle": 0.0}


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"effects": {"blur": -2}}, "blur.radius"),
        ({"target": "middle"}, "target"),
        ({"output": {"format": "bmp"}}, "output.format"),
        ({"colour": 1}, "colour"),
        ({"effects": {"glow": 1}}, "glow"),
    ],
)
def test_bad_recipes_name_the_key(data: dict, key: str) -> None:
    with pytest.raises(InvalidParameters, match=key.replace(".", r"\.")):
        parse_recipe(data)


def test_load_json_and_yaml(tmp_path: Path) -> None:
    (tmp_path / "r.json").write_text(json.dumps({"effects": {"blur": 2}, "seed": 4}))
    (tmp_path / "r.yaml").write_text("effects:\n  blur: 2\nseed: 4\n")
    assert load_recipe(tmp_path / "r.json") == load_recipe(tmp_path / "r.yaml")
    (tmp_path / "bad.yaml").write_text("effects: [unclosed\n")
    with pytest.raises(InvalidParameters, match="not valid"):
        load_recipe(tmp_path / "bad.yaml")
    with pytest.raises(InvalidParameters, match="Cannot read"):
        load_recipe(tmp_path / "missing.json")


def test_render_is_cached_by_content_and_order_independent(small_rgb: np.ndarray) -> None:
    cache = current().cache("renders")
    first = render(
        small_rgb,
        parse_recipe({"effects": {"blur": 2, "noise": 0.2}}),
        quality="fast",
        runtime=current(),
    )
    assert cache.misses == 1 and cache.hits == 0
    again = render(
        small_rgb,
        parse_recipe({"effects": {"noise": 0.2, "blur": 2.0}}),
        quality="fast",
        runtime=current(),
    )
    assert cache.hits == 1
    assert np.array_equal(first, again)
    render(
        small_rgb,
        parse_recipe({"effects": {"noise": 0.2, "blur": 2.5}}),
        quality="fast",
        runtime=current(),
    )
    assert cache.misses == 2
    other_pixels = small_rgb.copy()
    other_pixels[0, 0, 0] ^= 1
    render(
        other_pixels,
        parse_recipe({"effects": {"noise": 0.2, "blur": 2}}),
        quality="fast",
        runtime=current(),
    )
    assert cache.misses == 3


def test_render_without_seed_is_not_cached(small_rgb: np.ndarray) -> None:
    recipe = parse_recipe({"effects": {"noise": 0.3}, "seed": None})
    one = render(small_rgb, recipe, runtime=current())
    two = render(small_rgb, recipe, runtime=current())
    assert not np.array_equal(one, two)
    assert current().cache("renders").hits == 0


def test_deeply_nested_recipe_files_are_refused(tmp_path: Path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text("[" * 100_000 + "]" * 100_000)
    with pytest.raises(InvalidParameters, match="nested too deeply"):
        load_recipe(deep)


@pytest.mark.parametrize("color", [[256, 0, 0, 0], [0, -1, 0, 255], [0, 0, 0]])
def test_background_color_channels_are_bounded(color: list[int]) -> None:
    with pytest.raises(InvalidParameters, match=r"background\.color"):
        parse_recipe({"background": {"remove": True, "color": color}})
