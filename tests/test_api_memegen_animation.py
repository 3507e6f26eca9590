"""Animated templates through the memegen URL API: `.gif` and `.webp` draw the captions on
every frame, `/templates` lists them in memegen's shape. The templates are made in tmp_path
from scikit-image photos, in memegen's folder layout, and imported like memegen's own."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest
import yaml

from api_fixtures import REAL_FONTS_DIR, make_client, upload
from glitchzap.animation import Animation
from glitchzap.io import encode_image, load_animation, save_image
from glitchzap.settings import load_settings
from glitchzap.templates import TemplateLibrary
from meme_animations import gif_file, panning, photo, region_changes

pytest_plugins = ["api_fixtures"]

FRAMES = 8


def memegen_folder(root: Path, template_id: str, name: str) -> Path:
    folder = root / template_id
    folder.mkdir(parents=True)
    config = {"name": name, "source": None, "keywords": ["test"],
              "example": ["top line", "bottom line"]}  # fmt: skip
    (folder / "config.yml").write_text(yaml.safe_dump(config))
    return folder


@pytest.fixture(scope="module")
def animation() -> Animation:
    return panning(photo("astronaut", 240), FRAMES, step=8)


@pytest.fixture(scope="module")
def library(tmp_path_factory: Any, animation: Animation) -> Path:
    """memegen folders: `pan` (GIF only), `both` (a still JPEG and the GIF beside it, as most
    of memegen's animated templates) and `still` (a PNG), imported into a library."""
    source = tmp_path_factory.mktemp("memegen-folders")
    gif_file(animation, memegen_folder(source, "pan", "Panning Astronaut") / "default.gif")
    both = memegen_folder(source, "both", "Still And Moving")
    save_image(photo("astronaut", 300), both / "default.jpg")
    gif_file(animation, both / "default.gif")
    save_image(photo("rocket", 280), memegen_folder(source, "still", "Rocket") / "default.png")
    folder = tmp_path_factory.mktemp("library")
    report = TemplateLibrary(folder).import_memegen(source)
    assert sorted(report.added) == ["both", "pan", "still"] and not report.errors
    return folder


@pytest.fixture
def client(tmp_path: Path, library: Path) -> Any:
    settings = load_settings(
        None, data_dir=tmp_path, templates={"dir": library}, fonts={"dir": REAL_FONTS_DIR}
    )
    with make_client(settings) as api:
        yield api


def decoded(response: Any) -> Animation:
    assert response.status_code == 200, response.text
    return load_animation(response.content)


def template_frames(library: Path, template_id: str) -> Animation:
    return load_animation(library / template_id / "default.gif")


@pytest.mark.parametrize(("ext", "media"), [("gif", "image/gif"), ("webp", "image/webp")])
def test_captions_on_every_frame_of_an_animated_template(
    client: Any, library: Path, animation: Animation, ext: str, media: str
) -> None:
    response = client.get(f"/images/pan/top_line/bottom_line.{ext}")
    assert response.headers["content-type"] == media
    meme, clean = decoded(response), template_frames(library, "pan")
    # memegen render_animation: up to 20 frames are all kept; the longer side becomes 600 px
    assert len(meme) == FRAMES and meme.durations == animation.durations
    assert max(meme.shape[:2]) == 600
    height, width = meme.shape[:2]
    clean = Animation(
        [
            cv2.resize(f[..., :3], (width, height), interpolation=cv2.INTER_LANCZOS4)
            for f in clean.frames
        ],
        clean.durations,
    )
    top = region_changes(meme.frames, clean.frames, slice(0, height // 5))
    bottom = region_changes(meme.frames, clean.frames, slice(-height // 5, None))
    middle = region_changes(meme.frames, clean.frames, slice(height * 2 // 5, height * 3 // 5))
    assert min(top) > 10 and min(bottom) > 10  # a caption on each frame
    assert max(middle) < 4  # the picture itself, through one more lossy encode


def test_png_and_jpg_are_stills_as_in_memegen(client: Any) -> None:
    png = decoded(client.get("/images/pan/top_line/bottom_line.png"))
    jpg = decoded(client.get("/images/pan/top_line.jpg"))
    assert len(png) == len(jpg) == 1


def test_a_still_picture_beside_the_gif(client: Any, animation: Animation) -> None:
    """memegen's two-picture templates: the GIF for .gif and .webp, the still for the rest."""
    moving = decoded(client.get("/images/both/top/bottom.gif"))
    still = decoded(client.get("/images/both/top/bottom.png"))
    # memegen resize_image: an animation's longer side, a still's shorter side becomes 600
    assert len(moving) == FRAMES and max(moving.shape[:2]) == 600
    assert len(still) == 1 and min(still.shape[:2]) == 600
    assert still.shape[1] / still.shape[0] == pytest.approx(
        300 / photo("astronaut", 300).shape[0], rel=0.01
    )


def test_a_still_template_as_gif(client: Any) -> None:
    """memegen render_animation: a still picture with two captions becomes a 5-frame reveal
    (1.2 s a frame, the top caption from 20 %, the bottom from 60 %); one caption, one frame."""
    gif = client.get("/images/still/top/bottom.gif")
    assert gif.headers["content-type"] == "image/gif"
    reveal = decoded(gif)
    assert len(reveal) == 5 and set(reveal.durations) == {1200}
    one = decoded(client.get("/images/still/top.gif"))
    assert len(one) == 1
    png = decoded(client.get("/images/still/top.png"))
    # an animation's longer side is 600, a still's shorter side: compare at the GIF's size
    frame = one.frames[0][..., :3]
    still = cv2.resize(png.frames[0][..., :3], frame.shape[1::-1], interpolation=cv2.INTER_AREA)
    assert np.abs(frame.astype(int) - still).mean() < 6  # the same meme, through GIF's palette


def test_width_resizes_every_frame(client: Any) -> None:
    meme = decoded(client.get("/images/pan/top/bottom.gif?width=120"))
    assert len(meme) == FRAMES and meme.shape[1] == 120


def test_animated_templates_in_memegen_shape(client: Any) -> None:
    listed = {t["id"]: t for t in client.get("/templates").json()}
    assert set(listed) == {"both", "pan", "still"}
    for template_id in ("pan", "both"):
        item = listed[template_id]
        assert item["styles"] == ["animated", "default"]
        assert item["blank"].endswith(f"/images/{template_id}.png")  # memegen's blank is a still
        assert item["example"]["url"].endswith(f"/images/{template_id}/top_line/bottom_line.gif")
        assert client.get(f"/templates/{template_id}").json() == item
    assert listed["still"]["styles"] == []
    assert listed["still"]["example"]["url"].endswith(".png")


def test_a_still_upload_on_an_animated_template(client: Any) -> None:
    """POST /api/meme with an animated template id: gif, webp and apng animate, png does not."""
    image_id = upload(client, encode_image(photo("chelsea"), "png"))["image_id"]
    body = {"image_id": image_id, "captions": ["top", "bottom"], "template": "pan"}
    for fmt, frames in (("gif", FRAMES), ("apng", FRAMES), ("png", 1)):
        response = client.post("/api/meme", json={**body, "format": fmt})
        assert len(decoded(response)) == frames, fmt
