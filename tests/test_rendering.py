"""One render path: the same recipe gives the same pixels through every door.

The library (`render_recipe`), `glitchzap glitch --recipe`, `glitchzap batch` (local engine)
and `POST /api/render` at `quality: full` must write pixel-identical images for a matrix of
recipes (effects only, each target, background removal with and without a colour, with a
blurred backdrop, shadow and crop, and its alpha alone), and an animated input frame for frame.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from api_fixtures import make_client
from glitchzap.animation import Animation
from glitchzap.batch import run_batch
from glitchzap.io import encode_image, load_image
from glitchzap.recipes import parse_recipe
from glitchzap.rendering import render_recipe
from glitchzap.runtime import current

pytestmark = pytest.mark.slow  # the subject mask runs the real u2netp model

EFFECTS = {"noise": {"amount": 0.1}, "blur": 2.5, "shake": {"offset": 5, "copies": 2}}
RECIPES = {
    "effects-only": {"effects": EFFECTS, "seed": 11},
    "foreground": {"effects": EFFECTS, "target": "foreground", "seed": 11},
    "background": {"effects": EFFECTS, "target": "background", "seed": 11},
    "cutout": {"effects": {"blur": 2}, "background": {"remove": True}, "seed": 11},
    "cutout-on-green": {"background": {"remove": True, "color": [0, 255, 0, 255]}, "seed": 11},
    "cutout-finished": {
        "background": {
            "remove": True,
            "bg_blur": 4,
            "shadow": True,
            "crop": True,
            "crop_margin": "10%",
        },
        "seed": 11,
    },
    "cutout-alpha": {
        "background": {"remove": True, "shadow": True, "crop": True, "channels": "alpha"},
        "seed": 11,
    },
}


@pytest.fixture(scope="module")
def photo(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("parity") / "astronaut.png"
    image = np.ascontiguousarray(skdata.astronaut()[::2, ::2])  # 256 px: a quick model run
    path.write_bytes(encode_image(image, "png"))
    return path


def cli(*args: str, env_dir: Path) -> subprocess.CompletedProcess[str]:
    settings = current().settings
    env = {
        "GLITCHZAP_DATA_DIR": str(env_dir),
        "GLITCHZAP_MODELS__DIR": str(settings.models_dir),
        "PATH": "/usr/bin:/bin",
        # The code under test, not another checkout's installed copy (a worktree run).
        **({"PYTHONPATH": path} if (path := os.environ.get("PYTHONPATH")) else {}),
    }
    code = "from glitchzap.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env
    )


def read(path: Path, like: np.ndarray) -> np.ndarray:
    """A written result as stored: a single-channel (alpha) PNG stays H x W."""
    return np.asarray(Image.open(path)) if like.ndim == 2 else load_image(path)


@pytest.mark.parametrize("name", list(RECIPES))
def test_every_door_renders_the_same_pixels(name: str, photo: Path, tmp_path: Path) -> None:
    recipe = parse_recipe(RECIPES[name])
    image = load_image(photo)
    library = render_recipe(image, recipe, runtime=current())
    assert not np.array_equal(library[..., :3], image[..., :3])  # the recipe did something

    recipe_file = tmp_path / "recipe.json"
    recipe_file.write_text(json.dumps(RECIPES[name]))
    out = tmp_path / "cli.png"
    done = cli("glitch", str(photo), "-o", str(out), "--recipe", str(recipe_file),
               env_dir=tmp_path / "cli-data")  # fmt: skip
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(read(out, library), library)

    summary = run_batch(recipe, [photo], tmp_path / "batch", workers=1)
    assert summary.done == 1, summary
    np.testing.assert_array_equal(read(tmp_path / "batch" / "astronaut.png", library), library)

    settings = current().settings
    with make_client(settings) as client:
        files = {"file": ("a.png", photo.read_bytes(), "application/octet-stream")}
        image_id = client.post("/api/images", files=files).json()["image_id"]
        body: dict[str, Any] = {"image_id": image_id, "recipe": RECIPES[name], "quality": "full"}
        response = client.post("/api/render", json=body)
    assert response.status_code == 200, response.text
    api = np.asarray(Image.open(io.BytesIO(response.content)))
    np.testing.assert_array_equal(api, library)


ANIMATED_RECIPE = {
    "effects": {"slices": {"count": 6, "max_offset": 30, "band_height": 12}},
    "seed": 5,
    "animation": {"ease": {"slices.max_offset": {"from": 0, "to": 30}}},
    "output": {"format": "png"},
}


def test_every_door_renders_the_same_animation(tmp_path: Path) -> None:
    """An animated input through the library, `glitchzap glitch --recipe`, the batch runner
    and `POST /api/render`: the same frames (APNG, lossless), the same timing."""
    from glitchzap.io import encode_animation, load_animation
    from glitchzap.rendering import render_animation

    base = np.ascontiguousarray(skdata.chelsea()[::3, ::3])
    frames = [np.ascontiguousarray(np.roll(base, 6 * i, axis=1)) for i in range(4)]
    source = tmp_path / "pan.gif"
    source.write_bytes(encode_animation(Animation(frames, (60, 80, 100, 120)), "gif", quality=100))
    recipe = parse_recipe(ANIMATED_RECIPE)
    library = render_animation(load_animation(source), recipe, runtime=current())
    assert len(library) == 4 and library.durations == (60, 80, 100, 120)

    def same(path_or_bytes: Path | bytes) -> None:
        got = load_animation(path_or_bytes)
        assert got.durations == library.durations
        for ours, theirs in zip(got.frames, library.frames, strict=True):
            np.testing.assert_array_equal(ours[..., :3], theirs[..., :3])

    recipe_file = tmp_path / "recipe.json"
    recipe_file.write_text(json.dumps(ANIMATED_RECIPE))
    out = tmp_path / "cli.png"
    done = cli("glitch", str(source), "-o", str(out), "--recipe", str(recipe_file),
               env_dir=tmp_path / "cli-data")  # fmt: skip
    assert done.returncode == 0, done.stderr
    same(out)

    summary = run_batch(recipe, [source], tmp_path / "batch", workers=1)
    assert summary.done == 1, summary
    same(tmp_path / "batch" / "pan.png")

    with make_client(current().settings) as client:
        files = {"file": ("pan.gif", source.read_bytes(), "image/gif")}
        image_id = client.post("/api/images", files=files).json()["image_id"]
        body = {"image_id": image_id, "recipe": ANIMATED_RECIPE, "quality": "full",
                "format": "apng"}  # fmt: skip
        response = client.post("/api/render", json=body)
    assert response.status_code == 200, response.text
    same(response.content)
