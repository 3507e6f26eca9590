"""Presets through every door: `glitchzap presets`, `--preset`, `preset:` in a recipe, the API."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from api_fixtures import upload
from glitchzap.io import encode_image, load_image, save_image
from glitchzap.presets import PRESETS, load_preset
from glitchzap.recipes import parse_recipe
from glitchzap.rendering import render_recipe
from glitchzap.runtime import current
from test_cli import run_cli

pytest_plugins = ["api_fixtures"]


@pytest.fixture
def photo(tmp_path: Path) -> Path:
    from skimage import data

    return save_image(np.ascontiguousarray(data.chelsea()), tmp_path / "chelsea.png")


def test_cli_lists_every_preset() -> None:
    listed = run_cli("presets")
    assert listed.returncode == 0, listed.stderr
    names = [line.split()[0] for line in listed.stdout.splitlines() if line.strip()]
    assert names == list(PRESETS)
    as_json = json.loads(run_cli("presets", "--json").stdout)
    assert as_json == {name: load_preset(name) for name in PRESETS}


def test_cli_preset_renders_what_the_library_renders(photo: Path, tmp_path: Path) -> None:
    out = tmp_path / "vhs.png"
    done = run_cli("glitch", str(photo), "-o", str(out), "--preset", "vhs", "--seed", "3")
    assert done.returncode == 0, done.stderr
    expected = render_recipe(
        load_image(photo), parse_recipe({"preset": "vhs", "seed": 3}), runtime=current()
    )
    np.testing.assert_array_equal(load_image(out), expected)
    assert not np.array_equal(expected, load_image(photo))


def test_flags_and_recipe_files_override_the_preset(photo: Path, tmp_path: Path) -> None:
    recipe = parse_recipe({"preset": "glitch-5", "effects": {"blur": 2}})
    base = load_preset("glitch-5")
    assert set(recipe.effects) == set(parse_recipe(base).effects) | {"blur"}
    first = next(iter(base["effects"]))
    overridden = parse_recipe({"preset": "glitch-5", "effects": {first: None}})
    assert first not in overridden.effects  # a recipe can switch a preset's effect off


def test_unknown_presets_are_a_clear_error(photo: Path, tmp_path: Path) -> None:
    done = run_cli("glitch", str(photo), "-o", str(tmp_path / "x.png"), "--preset", "sparkle")
    assert done.returncode == 2
    assert len(done.stderr.strip().splitlines()) == 1 and "sparkle" in done.stderr


def test_api_presets_and_preset_recipes(api_client: Any) -> None:
    listed = api_client.get("/api/presets").json()
    assert listed == {name: load_preset(name) for name in PRESETS}
    from skimage import data

    image = np.ascontiguousarray(data.chelsea())
    image_id = upload(api_client, encode_image(image, "png"))["image_id"]
    body = {"image_id": image_id, "recipe": {"preset": "pixel-sort", "seed": 4}, "quality": "full"}
    response = api_client.post("/api/render", json=body)
    assert response.status_code == 200, response.text
    api = np.asarray(Image.open(io.BytesIO(response.content)))
    expected = render_recipe(image, parse_recipe(body["recipe"]), runtime=current())
    np.testing.assert_array_equal(api, expected)
    unknown = api_client.post(
        "/api/render", json={"image_id": image_id, "recipe": {"preset": "sparkle"}}
    )
    assert unknown.status_code == 422 and "sparkle" in unknown.json()["message"]
