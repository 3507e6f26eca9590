"""The template routes, against a real library (the starter set made from scikit-image photos)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from glitchzap.io import encode_image, load_image

pytest_plugins = ["api_fixtures"]


def jpeg(image: np.ndarray, quality: int = 70) -> bytes:
    return encode_image(np.ascontiguousarray(image), "jpeg", quality=quality)


def with_banner(image: np.ndarray) -> np.ndarray:
    """The picture under a white caption banner with black text, re-encoded as JPEG."""
    canvas = Image.new("RGB", (image.shape[1], image.shape[0] + 90), "white")
    canvas.paste(Image.fromarray(image), (0, 90))
    from PIL import ImageDraw

    ImageDraw.Draw(canvas).text((20, 25), "WHEN THE CODE FINALLY WORKS", fill="black", font_size=36)
    return load_image(jpeg(np.asarray(canvas)))


def test_list_and_show(api_client: Any) -> None:
    listed = api_client.get("/api/templates")
    assert listed.status_code == 200
    templates = {t["id"]: t for t in listed.json()["templates"]}
    # The starter set added to the empty library: one template per scikit-image photo, sorted
    # by id, each as big as its photo.
    photos = {
        "starter-astronaut": skdata.astronaut(),
        "starter-camera": skdata.camera(),
        "starter-chelsea": skdata.chelsea(),
        "starter-coffee": skdata.coffee(),
        "starter-hubble-deep-field": skdata.hubble_deep_field(),
        "starter-rocket": skdata.rocket(),
    }
    assert list(templates) == sorted(photos)
    for template_id, photo in photos.items():
        template = templates[template_id]
        assert "image" not in template  # server paths never leave the server
        assert (template["height"], template["width"]) == photo.shape[:2], template_id
        assert template["origin"] == "starter" and template["image_url"] == (
            f"/images/{template_id}.png?width={photo.shape[1]}"
        )
        assert len(template["text_boxes"]) == 2  # memegen's top and bottom boxes
        shown = api_client.get(f"/api/templates/{template_id}")
        assert shown.status_code == 200 and shown.json() == template
    astronaut = templates["starter-astronaut"]
    assert astronaut["name"] == "Astronaut Eileen Collins"
    assert astronaut["keywords"] == ["astronaut", "nasa", "space", "smile"]
    assert astronaut["example"] == ["when the code compiles", "on the first try"]
    assert astronaut["source"] == "scikit-image sample data"
    assert templates["starter-chelsea"]["name"] == "Chelsea the Cat"
    # Its image_url serves the clean picture itself (a lossless PNG of the photo).
    clean = api_client.get(astronaut["image_url"])
    assert clean.status_code == 200, clean.text
    np.testing.assert_array_equal(
        np.asarray(Image.open(io.BytesIO(clean.content)).convert("RGB")), skdata.astronaut()
    )


def test_popular_first_ranks_the_templates_opened_most(api_client: Any) -> None:
    """GET /api/templates/{id} counts as a use (the studio opens templates so);
    ?order=popular lists the most used first, the rest by id; the default stays by id."""
    by_id = [t["id"] for t in api_client.get("/api/templates").json()["templates"]]
    for template_id in ("starter-rocket", "starter-rocket", "starter-coffee"):
        assert api_client.get(f"/api/templates/{template_id}").status_code == 200
    api_client.get("/api/templates/no-such-template")  # unknown: counts nothing, no error
    listed = api_client.get("/api/templates", params={"order": "popular"}).json()["templates"]
    rest = [i for i in by_id if i not in ("starter-rocket", "starter-coffee")]
    assert [t["id"] for t in listed] == ["starter-rocket", "starter-coffee", *rest]
    assert [t["id"] for t in api_client.get("/api/templates").json()["templates"]] == by_id
    assert api_client.get("/api/templates", params={"order": "size"}).status_code == 422


@pytest.mark.parametrize(
    ("template_id", "status"), [("no-such-template", 404), ("..%2F..%2Fetc", 404)]
)
def test_unknown_or_hostile_ids_are_4xx(api_client: Any, template_id: str, status: int) -> None:
    response = api_client.get(f"/api/templates/{template_id}")
    assert response.status_code == status, response.text
    assert set(response.json()) == {"error", "message"}
    assert response.json()["error"] == "not_found"


def test_search_ranks_by_keywords(api_client: Any) -> None:
    response = api_client.get("/api/templates/search", params={"q": "cat"})
    assert response.status_code == 200
    ids = [hit["id"] for hit in response.json()["results"]]
    assert ids and ids[0] == "starter-chelsea"
    assert all(0 < hit["score"] < 1 for hit in response.json()["results"])
    assert api_client.get("/api/templates/search").status_code == 422
    assert api_client.get("/api/templates/search", params={"q": "zzqqxx"}).json()["results"] == []


def test_match_finds_a_template_under_a_caption_banner(api_client: Any) -> None:
    query = with_banner(skdata.astronaut()[40:470, 30:490])  # cropped, captioned, re-encoded
    response = api_client.post(
        "/api/templates/match", json={"image_id": _upload(api_client, query)}
    )
    assert response.status_code == 200, response.text
    best = response.json()["matches"][0]
    assert best["id"] == "starter-astronaut" and best["matched"] is True
    assert best["score"] >= response.json()["threshold"]
    suggestion = response.json()["suggestion"]
    assert suggestion["verdict"] in ("probable", "sure") and suggestion["id"] == best["id"]
    assert "Astronaut Eileen Collins" in suggestion["message"]


def test_match_of_no_template_is_below_the_threshold(api_client: Any) -> None:
    other = skdata.immunohistochemistry()
    response = api_client.post(
        "/api/templates/match", json={"image_id": _upload(api_client, other), "top_k": 2}
    )
    assert response.status_code == 200
    assert not any(match["matched"] for match in response.json()["matches"])
    # The studio's suggestion names no template below the threshold (no "looks like X").
    suggestion = response.json()["suggestion"]
    assert suggestion["verdict"] == "none" and suggestion["id"] is None
    assert suggestion["message"] == "No known template"


def test_match_validates_its_parameters(api_client: Any) -> None:
    image_id = _upload(api_client, skdata.coffee())
    bad = api_client.post("/api/templates/match", json={"image_id": image_id, "top_k": 0})
    assert bad.status_code == 422 and bad.json()["error"] == "invalid_parameters"


@pytest.mark.slow
def test_meme_with_auto_template_renders_on_the_clean_template(api_client: Any) -> None:
    query = with_banner(skdata.coffee())
    response = api_client.post(
        "/api/meme",
        json={
            "image_id": _upload(api_client, query),
            "captions": ["top", "bottom"],
            "template": "auto",
            "format": "png",
        },
    )
    assert response.status_code == 200, response.text
    out = np.asarray(Image.open(io.BytesIO(response.content)))
    coffee = skdata.coffee()
    assert out.shape == coffee.shape  # the clean template, not the bannered query
    # Between its two caption boxes (top and bottom fifths) it is the template's pixels
    # exactly; the captions are drawn in those boxes.
    np.testing.assert_array_equal(out[90:310], coffee[90:310])
    assert (out[:80] != coffee[:80]).any(axis=2).sum() > 200
    assert (out[320:] != coffee[320:]).any(axis=2).sum() > 200


def _upload(api_client: Any, image: np.ndarray) -> str:
    response = api_client.post(
        "/api/images", files={"file": ("q.jpg", jpeg(image, 90), "image/jpeg")}
    )
    assert response.status_code == 200, response.text
    image_id: str = response.json()["image_id"]
    return image_id
