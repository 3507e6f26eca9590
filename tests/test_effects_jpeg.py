"""JPEG corruption: damaged scan data, decoded safely, and never a process-wide Pillow switch."""

from __future__ import annotations

import io
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageFile
from skimage import data

from api_fixtures import upload
from glitchzap.effects import jpeg
from glitchzap.errors import UnreadableImage
from glitchzap.io import encode_image, load_image
from glitchzap.pipeline import apply_effects, resize_for_preview

pytest_plugins = ["api_fixtures"]


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return np.ascontiguousarray(data.astronaut())  # 512 x 512


@pytest.fixture(scope="module")
def cat() -> np.ndarray:
    return np.ascontiguousarray(data.chelsea())  # 451 x 300


def clean_reencode(image: np.ndarray, quality: int = 35) -> np.ndarray:
    """The effect's JPEG round trip without damage: what undamaged regions look like."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(jpeg, "_damage", lambda data, hits, count: data)
        params = {"amount": 1.0, "quality": quality, "blocks": False}
        return apply_effects(image, {"jpeg": params}, seed=0)


def truncated_jpeg() -> bytes:
    whole = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(data.coffee())).save(whole, "JPEG", quality=90)
    return whole.getvalue()[: len(whole.getvalue()) * 2 // 3]


def test_damages_the_image_beyond_its_reencode(photo: np.ndarray) -> None:
    out = apply_effects(photo, {"jpeg": 0.3}, seed=1).astype(float)
    clean = clean_reencode(photo).astype(float)
    assert np.abs(out - photo).mean() > 5
    # The damage: rows far from the clean re-encode, the rest of the image close to it.
    row_error = np.abs(out - clean).mean(axis=(1, 2))
    assert (row_error > 30).mean() > 0.05
    assert np.median(row_error) < 5


def test_amount_zero_is_identity(photo: np.ndarray) -> None:
    rgba = np.dstack([photo, np.full(photo.shape[:2], 200, np.uint8)])
    for image in (photo, rgba):
        out = apply_effects(image, {"jpeg": {"amount": 0, "quality": 5}}, seed=3)
        assert np.array_equal(out, image)


def test_same_seed_same_bytes_other_seed_differs(photo: np.ndarray) -> None:
    one = apply_effects(photo, {"jpeg": 0.4}, seed=7)
    assert np.array_equal(one, apply_effects(photo, {"jpeg": 0.4}, seed=7))
    assert not np.array_equal(one, apply_effects(photo, {"jpeg": 0.4}, seed=8))


def test_more_amount_damages_more(photo: np.ndarray) -> None:
    def damage(amount: float) -> float:
        outs = [apply_effects(photo, {"jpeg": amount}, seed=s) for s in range(4)]
        return float(np.mean([np.abs(o.astype(float) - photo).mean() for o in outs]))

    assert damage(0.05) < damage(0.3) < damage(1.0)


def test_lower_quality_is_blockier(cat: np.ndarray) -> None:
    rough = apply_effects(cat, {"jpeg": {"amount": 0.01, "quality": 5}}, seed=2).astype(float)
    fine = apply_effects(cat, {"jpeg": {"amount": 0.01, "quality": 90}}, seed=2).astype(float)
    assert np.median(np.abs(rough - cat)) > np.median(np.abs(fine - cat))


@pytest.mark.parametrize("seed", range(50))
def test_fuzz_never_raises_and_keeps_the_shape(seed: int, cat: np.ndarray) -> None:
    rng = np.random.default_rng(seed)
    amount = float(rng.uniform(0.01, 1.0)) if seed % 5 else 1.0
    params = {"amount": amount, "quality": int(rng.integers(1, 96)), "blocks": bool(seed % 2)}
    out = apply_effects(cat, {"jpeg": params}, seed=seed)
    assert out.shape == cat.shape and out.dtype == np.uint8
    preview = resize_for_preview(cat, "fast")
    scaled = apply_effects(preview, {"jpeg": params}, seed=seed, scale=300 / 451)
    assert scaled.shape == preview.shape and scaled.dtype == np.uint8


@pytest.mark.parametrize("shape", [(1, 1, 3), (7, 13, 3), (8, 8, 4), (17, 1, 3), (33, 250, 3)])
def test_tiny_and_odd_sizes(shape: tuple[int, int, int]) -> None:
    image = np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8)
    for scale in (1.0, 0.3):
        out = apply_effects(image, {"jpeg": 1.0}, seed=5, scale=scale)
        assert out.shape == image.shape and out.dtype == np.uint8


def test_damage_keeps_every_marker_and_stuffing_byte(photo: np.ndarray) -> None:
    rows_per_interval = jpeg._rows_per_interval(photo.shape[0])
    clean = jpeg._encode(np.ascontiguousarray(photo[..., ::-1]), 35, rows_per_interval)
    assert clean is not None
    intervals = jpeg._scan_intervals(clean)
    assert len(intervals) == 32  # 512 px: one restart interval per 16 px row of blocks
    draws = jpeg._draw(np.random.default_rng(0))
    whole = [0, photo.shape[0]]  # the image as one part
    [hits] = jpeg._hits_by_part(whole, rows_per_interval, draws, jpeg._MAX_HITS)
    damaged = jpeg._damage(clean, hits, jpeg._MAX_HITS)
    before, after = np.frombuffer(clean, np.uint8), np.frombuffer(damaged, np.uint8)
    changed = np.flatnonzero(before != after)
    assert 0 < len(changed) <= jpeg._MAX_HITS
    assert changed.min() >= intervals[0][0] and changed.max() < intervals[-1][1]
    assert not (after[changed] == 0xFF).any()
    markers = np.flatnonzero(before[:-1] == 0xFF)
    assert np.array_equal(markers, np.flatnonzero(after[:-1] == 0xFF))
    assert np.array_equal(before[markers + 1], after[markers + 1])


def test_a_decode_that_fails_falls_back_to_fewer_hits_then_clean(
    photo: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    tried: list[int] = []

    def cut(data: bytes, hits: Any, count: int) -> bytes:
        tried.append(count)
        return data[: len(data) // 2]  # a truncated file: Pillow refuses it

    monkeypatch.setattr(jpeg, "_damage", cut)
    out = apply_effects(photo, {"jpeg": {"amount": 1.0, "blocks": False}}, seed=1)
    # Each part of the image (its own JPEG) falls back on its own.
    parts = len(jpeg._part_bounds(photo.shape[0], jpeg._rows_per_interval(photo.shape[0]))) - 1
    assert parts > 1
    assert sorted(tried, reverse=True) == [n for n in (48, 24, 12, 6) for _ in range(parts)]
    assert np.array_equal(out, clean_reencode(photo))
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_parts_give_the_single_files_glitch(
    photo: np.ndarray, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The image is encoded as several JPEGs of whole restart intervals, damaged at the same
    bytes: the one-file glitch, bar the two rows at each part's edge (chroma upsampling)."""
    bounds = jpeg._part_bounds(photo.shape[0], jpeg._rows_per_interval(photo.shape[0]))
    assert len(bounds) > 2
    parts = apply_effects(photo, {"jpeg": 0.3}, seed=2)
    monkeypatch.setattr(jpeg, "_PARTS", 1)
    single = apply_effects(photo, {"jpeg": 0.3}, seed=2)
    assert not np.array_equal(single, photo)
    differing = set(np.flatnonzero((parts != single).any(axis=(1, 2))))
    assert differing <= {row for edge in bounds[1:-1] for row in (edge - 1, edge)}


def test_blocks_are_whole_dct_blocks_on_the_8px_grid(photo: np.ndarray) -> None:
    plain = apply_effects(photo, {"jpeg": {"amount": 0.5, "blocks": False}}, seed=4)
    blocky = apply_effects(photo, {"jpeg": {"amount": 0.5, "blocks": True}}, seed=4)
    changed = (plain != blocky).any(axis=2).reshape(64, 8, 64, 8).transpose(0, 2, 1, 3)
    touched = changed.any(axis=(2, 3))
    assert touched.sum() > 20
    # Inside a touched block almost every pixel changes (clipping at 0/255 spares a few).
    assert changed[touched].mean(axis=(1, 2)).mean() > 0.9


def test_preview_damages_about_as_much_as_the_export(photo: np.ndarray) -> None:
    """Corrupting the preview at its own size would damage about twice as much of it (bigger
    blocks, fewer bytes per row); upsampled first, it damages about as much as the export."""
    small = resize_for_preview(photo, "fast")
    ratios = []
    for seed in range(6):
        export = resize_for_preview(apply_effects(photo, {"jpeg": 0.2}, seed=seed), "fast")
        preview = apply_effects(small, {"jpeg": 0.2}, seed=seed, scale=300 / 512)
        ratios.append(
            np.abs(preview.astype(float) - small).mean()
            / np.abs(export.astype(float) - small).mean()
        )
    assert 0.7 < np.mean(ratios) < 1.6, ratios


def test_rgba_alpha_is_untouched(photo: np.ndarray) -> None:
    alpha = np.tile(np.linspace(0, 255, 512).astype(np.uint8), (512, 1))
    rgba = np.dstack([photo, alpha])
    rgba[:, :100, :3] = (255, 0, 255)  # hidden magenta under alpha ~0..50
    rgba[:, :60, 3] = 0
    out = apply_effects(rgba, {"jpeg": 1.0}, seed=6)
    assert np.array_equal(out[..., 3], rgba[..., 3])
    assert not np.array_equal(out[..., :3], rgba[..., :3])


def test_pillow_truncated_switch_stays_off_and_uploads_stay_refused(photo: np.ndarray) -> None:
    apply_effects(photo, {"jpeg": 1.0}, seed=1)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False
    with pytest.raises(UnreadableImage):
        load_image(truncated_jpeg())


def test_threads_never_turn_the_truncated_switch_on(cat: np.ndarray) -> None:
    """Two renders at once, and uploads decoded beside them: every upload is still refused."""
    stop = threading.Event()
    seen_on: list[bool] = []
    refused: list[bool] = []

    def watch() -> None:
        bad = truncated_jpeg()
        while not stop.is_set():
            seen_on.append(ImageFile.LOAD_TRUNCATED_IMAGES)
            try:
                load_image(bad)
                refused.append(False)
            except UnreadableImage:
                refused.append(True)

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        with ThreadPoolExecutor(2) as pool:
            jobs = [pool.submit(apply_effects, cat, {"jpeg": 1.0}, seed=s) for s in range(12)]
            outs = [job.result() for job in jobs]
    finally:
        stop.set()
        watcher.join()
    assert all(o.shape == cat.shape for o in outs)
    assert refused and all(refused) and not any(seen_on)
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


def test_hostile_maximum_finishes(photo: np.ndarray) -> None:
    for quality in (1, 95):
        params = {"amount": 1.0, "quality": quality, "blocks": True}
        out = apply_effects(photo, {"jpeg": params}, seed=9)
        assert out.shape == photo.shape


@pytest.mark.parametrize(
    ("field", "value"),
    [("amount", "NaN"), ("amount", "1.5"), ("quality", "Infinity"), ("quality", "0")],
)
def test_api_refuses_hostile_values(api_client: Any, field: str, value: str) -> None:
    image = np.ascontiguousarray(data.astronaut()[::4, ::4])
    image_id = upload(api_client, encode_image(image, "png"))["image_id"]
    params = {"amount": "0.5", "quality": "35", field: value}
    inner = ", ".join(f'"{k}": {v}' for k, v in params.items())
    body = f'{{"image_id": "{image_id}", "recipe": {{"effects": {{"jpeg": {{{inner}}}}}}}}}'
    response = api_client.post(
        "/api/render", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "invalid_parameters"


def test_api_renders_it(api_client: Any) -> None:
    image = np.ascontiguousarray(data.astronaut()[::2, ::2])
    image_id = upload(api_client, encode_image(image, "png"))["image_id"]
    body = {"image_id": image_id, "recipe": {"effects": {"jpeg": 0.5}, "seed": 3}}
    response = api_client.post("/api/render", json={**body, "quality": "full"})
    assert response.status_code == 200, response.text
    rendered = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))
    assert rendered.shape == image.shape and not np.array_equal(rendered, image)


@pytest.mark.parametrize(
    "effects",
    [
        {"jpeg": 0.3},
        {"jpeg": {"amount": 1, "quality": 95, "blocks": True}},  # overlapping block runs
        {"jpeg": {"amount": 0.5, "quality": 10, "blocks": False}},
        {"channel_shift": {"red_x": 7, "blue_y": -3}, "scanlines": 0.6, "jpeg": 0.4},
    ],
)
@pytest.mark.parametrize("seed", [1, 9])
def test_uint8_fast_path_gives_the_float_paths_bytes(
    effects: dict, seed: int, photo: np.ndarray, cat: np.ndarray
) -> None:
    """On uint8 the effect gives the bytes the float32 path rounds to: full size, with alpha,
    and a preview (upsampled, corrupted, shrunk back)."""
    from glitchzap.effects import EFFECTS

    assert EFFECTS["jpeg"].uint8_exact is not None
    alpha = np.tile(np.linspace(0, 255, cat.shape[1]).astype(np.uint8), (cat.shape[0], 1))
    for image in (photo, cat, np.dstack([cat, alpha])):
        fast = apply_effects(image, effects, seed=seed)
        slow = apply_effects(image, effects, seed=seed, uint8_fast_path=False)
        assert np.array_equal(fast, slow)
        assert not np.array_equal(fast, image)
    small = resize_for_preview(photo, "fast")
    scale = small.shape[1] / photo.shape[1]
    assert np.array_equal(
        apply_effects(small, effects, seed=seed, scale=scale),
        apply_effects(small, effects, seed=seed, scale=scale, uint8_fast_path=False),
    )
