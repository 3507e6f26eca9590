"""Animations through the API: animated GIF / WebP / APNG uploads, animated renders of them
and of stills (`recipe.animation`), formats, timing, transparency, seeds, easing and budgets.

Inputs are real photos (scikit-image) made into animations with Pillow; what comes back is
read with Pillow, frame by frame.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from api_fixtures import make_client, upload
from glitchzap.cache.codec import encode_json
from glitchzap.io import encode_image
from glitchzap.runtime import configure, current, restart

pytest_plugins = ["api_fixtures"]

DURATIONS = [40, 60, 80, 100, 120, 140]  # GIF-exact (10 ms steps)
ODD_DURATIONS = [33, 47, 81, 99, 120, 150]  # not: a GIF export rounds them


def panned(photo: np.ndarray, count: int = 6, step: int = 12) -> list[np.ndarray]:
    """`count` frames of `photo`, each panned `step` px further (every frame differs)."""
    return [np.ascontiguousarray(np.roll(photo, step * i, axis=1)) for i in range(count)]


def astronaut_frames(count: int = 6) -> list[np.ndarray]:
    return panned(skdata.astronaut()[::4, ::4], count)  # 128 x 128


def gif_bytes(frames: list[np.ndarray], **options: Any) -> bytes:
    """An animated GIF with one 255-colour palette per frame."""
    images = [Image.fromarray(frame).quantize(255) for frame in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, "GIF", save_all=True, append_images=images[1:], **options)
    return buffer.getvalue()


def transparent_gif(count: int = 6) -> bytes:
    """The astronaut seen through a round hole moving right; transparent around it."""
    yy, xx = np.mgrid[:128, :128]
    images = []
    for i, frame in enumerate(astronaut_frames(count)):
        image = Image.fromarray(frame).quantize(255)
        indices = np.array(image)
        indices[(yy - 64) ** 2 + (xx - 40 - 8 * i) ** 2 > 36**2] = 255
        holed = Image.fromarray(indices, "P")
        holed.putpalette(image.getpalette() or [])
        images.append(holed)
    buffer = io.BytesIO()
    images[0].save(
        buffer, "GIF", save_all=True, append_images=images[1:], transparency=255, disposal=2,
        duration=DURATIONS[:count], loop=0,
    )  # fmt: skip
    return buffer.getvalue()


def pillow_animation(frames: list[np.ndarray], fmt: str, **options: Any) -> bytes:
    images = [Image.fromarray(frame) for frame in frames]
    buffer = io.BytesIO()
    images[0].save(buffer, fmt, save_all=True, append_images=images[1:], **options)
    return buffer.getvalue()


def apng_bytes(frames: list[np.ndarray], **options: Any) -> bytes:
    return pillow_animation(frames, "PNG", **options)


def webp_bytes(frames: list[np.ndarray], **options: Any) -> bytes:
    return pillow_animation(frames, "WEBP", lossless=True, **options)


def shown_frames(data: bytes) -> tuple[list[np.ndarray], list[int], dict[str, Any]]:
    """(RGBA frames as a browser shows them, their durations in ms, the first frame's info)
    of an image file, read with Pillow."""
    frames, durations = [], []
    with Image.open(io.BytesIO(data)) as image:
        info = dict(image.info)
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            frames.append(np.asarray(image.convert("RGBA")))
            durations.append(int(image.info.get("duration", 0)))
    return frames, durations, info


def render(client: Any, image_id: str, **body: Any) -> Any:
    return client.post("/api/render", json={"image_id": image_id, **body})


def rendered(client: Any, image_id: str, **body: Any) -> Any:
    response = render(client, image_id, **body)
    assert response.status_code == 200, response.text
    return response


# --- uploads ----------------------------------------------------------------------------------


INPUTS = {
    "gif": lambda: gif_bytes(astronaut_frames(), duration=DURATIONS, loop=0),
    "apng": lambda: apng_bytes(astronaut_frames(), duration=ODD_DURATIONS, loop=0),
    "webp": lambda: webp_bytes(astronaut_frames(), duration=ODD_DURATIONS, loop=0),
}


@pytest.mark.parametrize("kind", INPUTS)
def test_an_animated_upload_reports_its_frames_and_timing(api_client: Any, kind: str) -> None:
    body = upload(api_client, INPUTS[kind]())
    durations = DURATIONS if kind == "gif" else ODD_DURATIONS
    assert (body["width"], body["height"]) == (128, 128)
    assert (body["frames"], body["animated"], body["duration_ms"]) == (6, True, sum(durations))
    assert api_client.get(f"/api/images/{body['image_id']}").json() == body


def test_a_still_upload_is_one_frame(api_client: Any, api_astronaut_png: bytes) -> None:
    body = upload(api_client, api_astronaut_png)
    assert (body["frames"], body["animated"], body["duration_ms"]) == (1, False, None)


def test_a_gif_without_durations_plays_at_100_ms_a_frame(api_client: Any) -> None:
    data = gif_bytes(astronaut_frames(4))  # no graphic control extensions: no delays at all
    _, pillow_durations, _ = shown_frames(data)
    assert set(pillow_durations) <= {0}
    body = upload(api_client, data)
    assert (body["frames"], body["duration_ms"]) == (4, 400)
    for fmt in ("gif", "webp", "apng"):
        out = rendered(api_client, body["image_id"], quality="full", format=fmt)
        assert shown_frames(out.content)[1] == [100] * 4, fmt


# --- full renders and previews ----------------------------------------------------------------


@pytest.mark.parametrize("kind", INPUTS)
def test_full_render_keeps_every_frame_and_its_timing(api_client: Any, kind: str) -> None:
    data = INPUTS[kind]()
    source, durations, _ = shown_frames(data)
    image_id = upload(api_client, data)["image_id"]
    for fmt, media_type in (("apng", "image/png"), ("webp", "image/webp"), ("gif", "image/gif")):
        out = rendered(api_client, image_id, quality="full", format=fmt)
        assert out.headers["content-type"] == media_type
        frames, out_durations, info = shown_frames(out.content)
        assert len(frames) == 6, (kind, fmt)
        if fmt == "gif":
            assert out_durations == [round(ms / 10) * 10 for ms in durations]
        else:
            assert out_durations == durations, (kind, fmt)
        assert info.get("loop") == 0, (kind, fmt)
        if fmt == "apng":  # lossless: every frame exactly as decoded
            for got, expected in zip(frames, source, strict=True):
                np.testing.assert_array_equal(got[..., :3], expected[..., :3])


def test_an_apng_loop_count_is_kept(api_client: Any) -> None:
    image_id = upload(api_client, apng_bytes(astronaut_frames(3), duration=50, loop=3))["image_id"]
    for fmt in ("gif", "webp", "apng"):
        out = rendered(api_client, image_id, quality="full", format=fmt)
        assert shown_frames(out.content)[2]["loop"] == 3, fmt


@pytest.mark.parametrize("kind", INPUTS)
def test_preview_is_an_animated_webp_of_every_frame(api_client: Any, kind: str) -> None:
    photo = skdata.chelsea()  # 451 x 300: the fast preview is 300 px wide
    frames = panned(photo, 6, step=40)
    data = {
        "gif": lambda: gif_bytes(frames, duration=DURATIONS, loop=0),
        "apng": lambda: apng_bytes(frames, duration=DURATIONS, loop=0),
        "webp": lambda: webp_bytes(frames, duration=DURATIONS, loop=0),
    }[kind]()
    image_id = upload(api_client, data)["image_id"]
    recipe = {"effects": {"slices": {"count": 8}}, "seed": 1}
    out = rendered(api_client, image_id, recipe=recipe, quality="fast")
    assert out.headers["content-type"] == "image/webp"
    shown, durations, _ = shown_frames(out.content)
    assert len(shown) == 6 and durations == DURATIONS
    assert shown[0].shape[:2] == (200, 300)
    again = rendered(api_client, image_id, recipe=recipe, quality="fast")
    assert again.headers["x-cache"] == "hit" and again.content == out.content


def test_transparency_is_kept_not_painted_black(api_client: Any) -> None:
    data = transparent_gif()
    source, _, _ = shown_frames(data)
    holes = [frame[..., 3] == 0 for frame in source]
    assert all(0.3 < hole.mean() < 0.9 for hole in holes)  # the input has real transparency
    image_id = upload(api_client, data)["image_id"]
    recipe = {"effects": {"noise": 0.2}, "seed": 5}
    for quality, fmt in (("full", "gif"), ("full", "apng"), ("full", "webp"), ("fast", None)):
        body: dict[str, Any] = {"recipe": recipe, "quality": quality}
        if fmt:
            body["format"] = fmt
        frames, _, _ = shown_frames(rendered(api_client, image_id, **body).content)
        assert len(frames) == 6
        for frame, hole in zip(frames, holes, strict=True):
            alpha = frame[..., 3]
            assert (alpha[hole] == 0).mean() > 0.99, (quality, fmt)  # still see-through
            assert (alpha[~hole] == 255).mean() > 0.99, (quality, fmt)
            assert frame[~hole][:, :3].mean() > 40  # the photo, with noise, not black


def test_an_opaque_gif_exported_as_gif_keeps_its_frame_differencing(api_client: Any) -> None:
    from glitchzap.animation import Animation
    from glitchzap.io import encode_animation

    frames = []
    for i in range(8):  # the astronaut with a small box moving across: little changes per frame
        frame = skdata.astronaut().copy()
        frame[200:260, 40 * i : 40 * i + 60] = 255
        frames.append(frame)
    data = gif_bytes(frames, duration=80, loop=0)
    image_id = upload(api_client, data)["image_id"]
    # Pillow marks the unchanged pixels of later frames transparent: the GIF decodes as RGBA.
    assert api_client.app.state.api.store.info(image_id).channels == 4
    out = rendered(api_client, image_id, quality="full", format="gif").content
    shown, _, _ = shown_frames(out)
    assert all((frame[..., 3] == 255).all() for frame in shown)  # nothing see-through
    opaque = [frame[..., :3] for frame in shown_frames(data)[0]]
    as_rgb = encode_animation(Animation(opaque, (80,) * 8), "gif")
    assert len(out) < 1.1 * len(as_rgb)  # as small as the RGB frames' GIF (not 10x larger)


# --- stills made into loops: seeds and easing ---------------------------------------------------


def still_loop(client: Any, **animation: Any) -> tuple[list[np.ndarray], list[int], bytes]:
    image_id = upload(client, encode_image(skdata.astronaut()[::4, ::4], "png"))["image_id"]
    recipe = {"effects": {"noise": 0.3}, "seed": 7, "animation": animation}
    out = rendered(client, image_id, recipe=recipe, quality="full", format="apng")
    frames, durations, _ = shown_frames(out.content)
    return frames, durations, out.content


def test_a_still_loops_with_a_new_seed_each_frame_and_the_same_bytes_each_time(
    api_client: Any, tmp_path: Path
) -> None:
    frames, durations, data = still_loop(api_client, frames=6, fps=10)
    assert len(frames) == 6 and durations == [100] * 6
    for i in range(6):
        for j in range(i + 1, 6):
            assert not np.array_equal(frames[i], frames[j]), (i, j)
    settings = configure(None, data_dir=tmp_path / "elsewhere").settings
    restart()
    with make_client(settings) as fresh:  # no cache in common: rendered again from scratch
        again = still_loop(fresh, frames=6, fps=10)[2]
    assert again == data


def test_a_linear_ease_ends_on_its_end_value(api_client: Any) -> None:
    image_id = upload(api_client, encode_image(skdata.astronaut()[::4, ::4], "png"))["image_id"]
    ease = {"slices.count": {"from": 0, "to": 12, "curve": "linear"}}
    recipe = {"seed": 3, "animation": {"frames": 5, "duration_ms": 80, "ease": ease}}
    out = rendered(api_client, image_id, recipe=recipe, quality="full", format="apng")
    frames, durations, _ = shown_frames(out.content)
    assert len(frames) == 5 and durations == [80] * 5
    # The last frame is frame 4: slices.count at 12, seed 3 + 4.
    still = {"effects": {"slices": {"count": 12}}, "seed": 7}
    end = rendered(api_client, image_id, recipe=still, quality="full", format="png")
    np.testing.assert_array_equal(frames[-1][..., :3], shown_frames(end.content)[0][0][..., :3])
    original = skdata.astronaut()[::4, ::4]
    np.testing.assert_array_equal(frames[0][..., :3], original)  # count 0: untouched
    assert not np.array_equal(frames[2][..., :3], original)


def test_an_animated_input_gets_the_recipe_on_every_frame(api_client: Any) -> None:
    data = apng_bytes(astronaut_frames(4), duration=50, loop=0)
    source, _, _ = shown_frames(data)
    image_id = upload(api_client, data)["image_id"]
    recipe = {"effects": {"slices": {"count": 10}}, "seed": 2}
    frames, _, _ = shown_frames(rendered(api_client, image_id, recipe=recipe, quality="full",
                                         format="apng").content)  # fmt: skip
    assert len(frames) == 4
    for index, (got, before) in enumerate(zip(frames, source, strict=True)):
        assert not np.array_equal(got, before), index  # every frame glitched, not only frame 0


# --- formats and budgets ----------------------------------------------------------------------


def test_jpeg_cannot_hold_an_animation(api_client: Any, api_astronaut_png: bytes) -> None:
    animated = upload(api_client, INPUTS["gif"]())["image_id"]
    still = upload(api_client, api_astronaut_png)["image_id"]
    loop = {"animation": {"frames": 4}}
    jpeg_output = {"output": {"format": "jpeg"}}
    for image_id, body in (
        (animated, {"format": "jpeg"}),
        (animated, {"format": "jpeg", "quality": "fast"}),
        (animated, {"recipe": jpeg_output, "quality": "full"}),
        (still, {"recipe": loop, "format": "jpeg", "quality": "full"}),
    ):
        response = render(api_client, image_id, **body)
        assert response.status_code == 422, body
        assert response.json()["error"] == "invalid_parameters"
        assert "JPEG cannot hold an animation" in response.json()["message"]
    assert render(api_client, still, format="jpeg").status_code == 200  # a still: fine


def test_gif_and_apng_of_a_still_are_stills(api_client: Any, api_astronaut_png: bytes) -> None:
    image_id = upload(api_client, api_astronaut_png)["image_id"]
    for fmt, media_type in (("gif", "image/gif"), ("apng", "image/png")):
        out = rendered(api_client, image_id, quality="full", format=fmt)
        assert out.headers["content-type"] == media_type
        assert len(shown_frames(out.content)[0]) == 1


def client_with(tmp_path: Path, **limits: int) -> Any:
    settings = configure(None, data_dir=tmp_path, limits=limits).settings
    restart()
    return make_client(settings)


@pytest.fixture
def small_animation_client(tmp_path: Path) -> Any:
    with client_with(tmp_path, max_animation_pixels=100_000) as client:
        yield client
    restart()


@pytest.fixture
def small_memory_client(tmp_path: Path) -> Any:
    with client_with(tmp_path, max_request_memory_bytes=16_000_000) as client:
        yield client
    restart()


def test_an_animation_over_max_animation_pixels_is_413(
    small_animation_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glitchzap.api.routes import render as render_route

    client = small_animation_client
    frames = astronaut_frames(8)  # 8 x 128 x 128 = 131,072 pixels
    for data in (gif_bytes(frames, duration=50), apng_bytes(frames), webp_bytes(frames)):
        response = client.post("/api/images", files={"file": ("a", data)})
        assert response.status_code == 413, response.text
        assert response.json()["error"] == "image_too_large"
        assert "limits.max_animation_pixels" in response.json()["message"]
    assert upload(client, gif_bytes(frames[:6], duration=50))["frames"] == 6
    # A still made into 8 frames is held to the same budget, before any frame is rendered.
    monkeypatch.setattr(render_route, "render_animation", None)  # never reached
    still = upload(client, encode_image(frames[0], "png"))["image_id"]
    for quality in ("fast", "full"):
        response = render(client, still, recipe={"animation": {"frames": 8}}, quality=quality)
        assert response.status_code == 413, response.text
        assert "limits.max_animation_pixels" in response.json()["message"]


def test_an_animated_render_over_the_memory_budget_is_413_before_any_work(
    small_memory_client: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from glitchzap.api.routes import render as render_route

    started: list[int] = []
    real = render_route.render_animation
    monkeypatch.setattr(
        render_route, "render_animation", lambda *a, **k: started.append(1) or real(*a, **k)
    )
    photo = encode_image(skdata.astronaut(), "png")  # 512 x 512: 12 frames need 25 MB
    image_id = upload(small_memory_client, photo)["image_id"]
    assert render(small_memory_client, image_id, quality="full").status_code == 200  # a still
    loop = {"effects": {"noise": 0.2}, "animation": {"frames": 12}}  # each frame its own
    response = render(small_memory_client, image_id, recipe=loop, quality="full")
    assert response.status_code == 413, response.text
    assert "12-frame animation" in response.json()["message"]
    assert "limits.max_request_memory_bytes" in response.json()["message"]
    assert started == []  # refused from the estimate, before rendering a frame
    preview = render(small_memory_client, image_id, recipe=loop, quality="fast")
    assert preview.status_code == 200 and started == [1]  # 12 frames of 300 px fit
    assert len(shown_frames(preview.content)[0]) == 12


def test_an_upload_is_admitted_by_the_memory_of_all_its_frames(tmp_path: Path) -> None:
    settings = configure(None, data_dir=tmp_path, server={"render_memory_bytes": 2_000_000})
    restart()
    photo = skdata.astronaut()[::2, ::2]  # 256 x 256: 0.4 MB to decode as a still
    try:
        with make_client(settings.settings) as client:
            assert upload(client, encode_image(photo, "png"))["frames"] == 1
            data = gif_bytes(panned(photo, 8), duration=50)  # 8 frames: 2.4 MB or more
            response = client.post("/api/images", files={"file": ("a.gif", data)})
            assert response.status_code == 413, response.text
            assert "server.render_memory_bytes" in response.json()["message"]
            assert upload(client, gif_bytes(panned(photo, 2), duration=50))["frames"] == 2
    finally:
        restart()


# --- the stored info entry ----------------------------------------------------------------------


def test_an_info_entry_from_before_animations_still_reads_and_a_new_upload_heals_it(
    api_client: Any,
) -> None:
    data = INPUTS["gif"]()
    image_id = upload(api_client, data)["image_id"]
    current().cache("images").set(f"info:{image_id}", encode_json([128, 128, 4]))
    legacy = api_client.get(f"/api/images/{image_id}").json()
    assert (legacy["width"], legacy["frames"]) == (128, 1)  # valid: read as it was written
    assert upload(api_client, data)["frames"] == 6
    assert api_client.get(f"/api/images/{image_id}").json()["frames"] == 6


@pytest.mark.parametrize(
    "entry", [[128, 128, 3, [100], 0], [128, 128, 3, [0, 100], 0], [128, 128, 3, [50, 50], -1],
              [128, 128, 3, [50, 50]], [128, 128, 3, "50,50", 0], [128, 128, 3, [50, True], 0]]
)  # fmt: skip
def test_a_damaged_timing_entry_is_an_unknown_id(api_client: Any, entry: list[Any]) -> None:
    data = INPUTS["gif"]()
    image_id = upload(api_client, data)["image_id"]
    current().cache("images").set(f"info:{image_id}", encode_json(entry))
    response = api_client.get(f"/api/images/{image_id}")
    assert (response.status_code, response.json()["error"]) == (404, "not_found")
    assert upload(api_client, data)["frames"] == 6  # uploading again heals it


# --- an over-budget upload is refused before decoding: peak memory ------------------------------

RSS_SCRIPT = """
import resource, sys
from pathlib import Path
from fastapi.testclient import TestClient
from glitchzap.api.main import create_app
from glitchzap.settings import load_settings

data = Path(sys.argv[1]).read_bytes()
limits = {"max_animation_pixels": int(sys.argv[3])}
settings = load_settings(None, data_dir=sys.argv[2], cache={"backend": "memory"}, limits=limits)
with TestClient(create_app(settings)) as client:
    status = client.post("/api/images", files={"file": ("a.gif", data)}).status_code
print(status, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024)
"""


def tiny_frames_gif(photo: np.ndarray, frames: int) -> bytes:
    """A GIF of `photo` followed by `frames - 1` one-pixel frames: small on disk, yet every
    frame decodes to the whole canvas (frames x photo's pixels)."""
    base = Image.fromarray(photo).quantize(255)
    changed = base.copy()
    changed.putpixel((0, 0), (int(base.getpixel((0, 0))) + 1) % 255)  # type: ignore[arg-type]
    buffer = io.BytesIO()
    base.save(buffer, "GIF", save_all=True, append_images=[changed], duration=20)
    head = buffer.getvalue()
    second = head.rindex(b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00")  # 1 x 1 at (0, 0)
    start = head.rindex(b"\x21\xf9\x04", 0, second)  # its graphic control extension
    return head[:start] + head[start:-1] * (frames - 1) + b"\x3b"


# Linux starts a new process's ru_maxrss at the peak of the memory it was forked from (this
# test process, hundreds of MB into a test run): measured in a grandchild, forked from a bare
# interpreter, the figure is the upload's own.
LAUNCHER = "import subprocess, sys; sys.exit(subprocess.call(sys.argv[1:]))"


def peak_rss(tmp_path: Path, data: bytes, max_animation_pixels: int) -> tuple[int, int]:
    """(upload status, peak RSS in bytes) of a fresh server process storing `data`."""
    path = tmp_path / f"upload-{len(data)}-{max_animation_pixels}.gif"
    path.write_bytes(data)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    script = [sys.executable, "-c", RSS_SCRIPT, str(path), str(tmp_path / "data"),
              str(max_animation_pixels)]  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-c", LAUNCHER, *script],
        capture_output=True, text=True, timeout=300, env=env, check=True,
    )  # fmt: skip
    status, peak = result.stdout.split()
    return int(status), int(peak)


def test_an_over_budget_upload_is_refused_before_decoding(tmp_path: Path) -> None:
    import cv2

    photo = cv2.resize(skdata.astronaut(), (640, 640), interpolation=cv2.INTER_AREA)
    flood = tiny_frames_gif(photo, 250)  # 250 x 640 x 640 = 102 MP; ~300 MB decoded
    assert len(flood) < 1_000_000
    baseline = encode_image(skdata.astronaut()[::4, ::4], "png")
    base_status, base_peak = peak_rss(tmp_path, baseline, 50_000_000)
    refused_status, refused_peak = peak_rss(tmp_path, flood, 50_000_000)
    assert (base_status, refused_status) == (200, 413)
    assert refused_peak - base_peak < 40_000_000  # bytes: nothing like 300 MB was decoded
    # The same file under a budget that admits it: decoding every frame shows in the peak.
    accepted_status, accepted_peak = peak_rss(tmp_path, flood, 200_000_000)
    assert accepted_status == 200
    assert accepted_peak - base_peak > 250_000_000
