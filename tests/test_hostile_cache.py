"""Caches under attack: damaged disk entries, foreign values under our keys, and parameters
that must never share a key. Nothing cached may ever be served corrupt or for other inputs.

test_cache.py covers the disk cache itself; these go through the API, restart it over the
damaged files and compare every answer with the answer before the damage.
"""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from api_fixtures import make_client, upload
from glitchzap.cache.codec import encode_json
from glitchzap.io import encode_image
from glitchzap.runtime import current, restart
from glitchzap.settings import Settings

pytest_plugins = ["api_fixtures"]

NOISE = {"effects": {"noise": 0.3, "blur": 1.5}, "seed": 7}


def photo_png() -> bytes:
    return encode_image(np.ascontiguousarray(skdata.astronaut()[::4, ::4]), "png")


def render(client: Any, image_id: str, **body: Any) -> Any:
    return client.post("/api/render", json={"image_id": image_id, "recipe": NOISE, **body})


def answers(client: Any, image_id: str) -> dict[str, bytes]:
    """Every cached kind of answer for one image, as bytes."""
    out = {}
    for quality in ("fast", "full"):
        response = render(client, image_id, quality=quality)
        assert response.status_code == 200, response.text
        out[f"render-{quality}"] = response.content
    meme = client.post(
        "/api/meme", json={"image_id": image_id, "captions": ["cache"], "erase": "never"}
    )
    assert meme.status_code == 200, meme.text
    out["meme"] = meme.content
    return out


def damage_rows(path: Path, damage: Callable[[bytes], bytes]) -> int:
    """Rewrite every value in a disk cache file, leaving its stored digest as it was."""
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT key, value FROM entries").fetchall()
        for key, value in rows:
            db.execute("UPDATE entries SET value = ? WHERE key = ?", (damage(value), key))
    return len(rows)


DAMAGES: dict[str, Callable[[bytes], bytes]] = {
    "truncated": lambda v: v[: len(v) // 2],
    "empty": lambda v: b"",
    "random": lambda v: np.random.default_rng(len(v)).bytes(max(len(v), 1)),
    "one-bit": lambda v: bytes([v[0] ^ 1]) + v[1:] if v else b"\x01",
}


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_disk_entries_are_misses_and_answers_are_unchanged(
    api_settings: Settings, damage: str
) -> None:
    with make_client(api_settings) as client:
        image_id = upload(client, photo_png())["image_id"]
        before = answers(client, image_id)
    cache_dir = api_settings.cache_dir
    damaged = sum(
        damage_rows(cache_dir / f"{name}.sqlite3", DAMAGES[damage])
        for name in ("images", "renders")
    )
    assert damaged >= 5  # original + info + 3 renders at least
    restart()  # a restart: the memory tier is gone, only the damaged files remain
    with make_client(api_settings) as client:
        response = client.get(f"/api/images/{image_id}")
        assert (response.status_code, response.json()["error"]) == (404, "not_found")
        assert render(client, image_id).status_code == 404
        assert upload(client, photo_png())["image_id"] == image_id
        assert answers(client, image_id) == before


def test_garbage_database_files_start_afresh(api_settings: Settings) -> None:
    with make_client(api_settings) as client:
        image_id = upload(client, photo_png())["image_id"]
        before = answers(client, image_id)
    for path in api_settings.cache_dir.glob("*.sqlite3*"):  # the database, its WAL and SHM
        path.write_bytes(b"\x00garbage" * 1000)
    restart()
    with make_client(api_settings) as client:
        assert client.get(f"/api/images/{image_id}").status_code == 404
        assert upload(client, photo_png())["image_id"] == image_id
        assert answers(client, image_id) == before


@pytest.mark.parametrize(
    "info", [["x", 1, 3], [None, 1, 3], [1.5, 2, 3], [-5, -5, 3], [1, 1, 99], [True, 1, 3],
             {"w": 1}, "128x128"]
)  # fmt: skip
def test_foreign_info_entries_are_unknown_ids_not_500(api_client: Any, info: Any) -> None:
    image_id = upload(api_client, photo_png())["image_id"]
    current().cache("images").set(f"info:{image_id}", encode_json(info))
    response = api_client.get(f"/api/images/{image_id}")
    assert (response.status_code, response.json()["error"]) == (404, "not_found")
    assert upload(api_client, photo_png())["width"] == 128  # uploading again heals it


def test_other_bytes_under_an_image_id_are_never_decoded(api_client: Any) -> None:
    image_id = upload(api_client, photo_png())["image_id"]
    impostor = encode_image(np.ascontiguousarray(skdata.coffee()[:128, :128]), "png")
    current().cache("images").set(f"original:{image_id}", impostor)
    api_client.app.state.api.store.arrays = type(api_client.app.state.api.store.arrays)(2**20)
    response = render(api_client, image_id, quality="full")
    assert (response.status_code, response.json()["error"]) == (404, "not_found")


# --- the same bytes with other parameters never share a key -----------------------------------


def test_every_parameter_change_is_its_own_cache_entry(api_client: Any) -> None:
    image_id = upload(api_client, photo_png())["image_id"]
    variants: list[dict[str, Any]] = [
        {"recipe": NOISE},
        {"recipe": {**NOISE, "seed": 8}},
        {"recipe": {**NOISE, "effects": {"noise": 0.31, "blur": 1.5}}},
        {"recipe": {**NOISE, "effects": {"noise": 0.3, "blur": 1.6}}},
        {"recipe": {**NOISE, "effects": {"noise": 0.3}}},
        {"recipe": NOISE, "quality": "fast"},
        {"recipe": NOISE, "quality": "high"},
        {"recipe": NOISE, "quality": "full"},
        {"recipe": NOISE, "format": "png"},
        {"recipe": NOISE, "format": "webp"},
        {"recipe": {**NOISE, "output": {"format": "jpeg", "quality": 50}}, "quality": "full"},
        {"recipe": {**NOISE, "output": {"format": "jpeg", "quality": 51}}, "quality": "full"},
    ]
    first = []
    for body in variants:
        response = api_client.post("/api/render", json={"image_id": image_id, **body})
        assert (response.status_code, response.headers["x-cache"]) == (200, "miss"), body
        first.append(response.content)
    # Every first request above was a miss, so no two variants share a key (a shared key
    # would have made the later one a hit). Some answers are equal bytes all the same (a
    # 128 px image has the same `high` and `balanced` preview), which is fine.
    for body, expected in zip(variants, first, strict=True):
        response = api_client.post("/api/render", json={"image_id": image_id, **body})
        assert response.headers["x-cache"] == "hit"
        assert response.content == expected  # each served back for itself only


def test_meme_options_never_share_a_key(api_client: Any) -> None:
    image_id = upload(api_client, photo_png())["image_id"]
    variants: list[dict[str, Any]] = [
        {"captions": ["a"]},
        {"captions": ["b"]},
        {"captions": ["a", ""]},
        {"captions": ["", "a"]},
        {"captions": ["a"], "layout": "bottom"},
        {"captions": ["a"], "format": "jpeg"},
        {"captions": ["a"], "boxes": [{"anchor_y": 0.5}]},
    ]
    first = []
    for body in variants:
        response = api_client.post(
            "/api/meme", json={"image_id": image_id, "erase": "never", **body}
        )
        assert (response.status_code, response.headers["x-cache"]) == (200, "miss"), body
        first.append(response.content)
    assert len(set(first)) >= len(variants) - 1  # ["a", ""] draws what ["a"] draws
    other = upload(api_client, encode_image(np.ascontiguousarray(skdata.coffee()[:96]), "png"))
    response = api_client.post(
        "/api/meme", json={"image_id": other["image_id"], "erase": "never", **variants[0]}
    )
    assert response.headers["x-cache"] == "miss"
    assert Image.open(io.BytesIO(response.content)).size == (600, 96)
