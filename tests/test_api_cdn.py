"""CDN-ready outputs: content-addressed URLs, strong ETags, Cache-Control and 304s, on real
renders of scikit-image photos and on memegen templates (generated sample)."""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from api_fixtures import make_client, small_image_id, upload
from glitchzap.api.cdn import content_key, matches, sniff_format
from glitchzap.io import encode_image
from glitchzap.runtime import current
from glitchzap.settings import Settings, load_settings

pytest_plugins = ["api_fixtures"]

IMMUTABLE = "public, max-age=31536000, immutable"
NOISE = {"effects": {"noise": 0.3, "blur": 2}, "seed": 3}
URL = re.compile(r"^/api/renders/([0-9a-f]{40})\.(jpg|png|webp|gif)$")


def render(client: Any, image_id: str, headers: dict[str, str] | None = None, **body: Any) -> Any:
    response = client.post("/api/render", json={"image_id": image_id, **body}, headers=headers)
    return response


def key_of(response: Any) -> str:
    """The ETag's key, checked to be strong and to name the same key as the content URL."""
    tag = response.headers["etag"]
    assert re.fullmatch(r'"[0-9a-f]{40}"', tag), tag  # strong: no W/ prefix
    found = URL.match(response.headers["content-location"])
    assert found is not None, response.headers["content-location"]
    assert found.group(1) == tag.strip('"')
    return found.group(1)


def test_a_render_is_served_again_by_its_content_url(api_client: Any) -> None:
    image_id = small_image_id(api_client)
    first = render(api_client, image_id, recipe=NOISE, quality="fast", format="png")
    assert first.status_code == 200, first.text
    key = key_of(first)
    url = first.headers["content-location"]
    assert url == f"/api/renders/{key}.png"

    again = api_client.get(url)
    assert again.status_code == 200, again.text
    assert again.content == first.content
    assert again.headers["content-type"] == "image/png"
    assert again.headers["cache-control"] == IMMUTABLE
    assert again.headers["etag"] == first.headers["etag"]
    # The same render asked again has the same address.
    assert key_of(render(api_client, image_id, recipe=NOISE, quality="fast", format="png")) == key


def test_if_none_match_is_304_without_a_body(api_client: Any) -> None:
    image_id = small_image_id(api_client)
    first = render(api_client, image_id, recipe=NOISE, quality="fast")
    tag = first.headers["etag"]
    url = first.headers["content-location"]
    assert url.endswith(".jpg") and first.headers["content-type"] == "image/jpeg"

    cached = api_client.get(url, headers={"If-None-Match": tag})
    assert cached.status_code == 304
    assert cached.content == b""
    assert cached.headers["etag"] == tag
    assert cached.headers["cache-control"] == IMMUTABLE
    listed = api_client.get(url, headers={"If-None-Match": f'"{"0" * 40}", W/{tag}'})
    assert listed.status_code == 304
    other = api_client.get(url, headers={"If-None-Match": f'"{"0" * 40}"'})
    assert other.status_code == 200 and other.content == first.content

    # The render route itself: 304 with nothing rendered (the renders cache is not read).
    renders = current().cache("renders")
    reads = renders.hits + renders.misses
    skipped = render(api_client, image_id, {"If-None-Match": tag}, recipe=NOISE, quality="fast")
    assert skipped.status_code == 304 and skipped.content == b""
    assert skipped.headers["etag"] == tag
    assert renders.hits + renders.misses == reads
    stale = render(api_client, image_id, {"If-None-Match": '"stale"'}, recipe=NOISE, quality="fast")
    assert stale.status_code == 200 and stale.content == first.content


def test_recipe_quality_format_and_image_each_change_the_key(api_client: Any) -> None:
    image_id = small_image_id(api_client)
    base = {"recipe": NOISE, "quality": "fast", "format": "png"}
    keys = {
        "base": key_of(render(api_client, image_id, **base)),
        "recipe": key_of(render(api_client, image_id, **{**base, "recipe": {**NOISE, "seed": 4}})),
        "quality": key_of(render(api_client, image_id, **{**base, "quality": "balanced"})),
        "format": key_of(render(api_client, image_id, **{**base, "format": "webp"})),
    }
    chelsea = upload(api_client, encode_image(current_photo("chelsea"), "png"))["image_id"]
    keys["image"] = key_of(render(api_client, chelsea, **base))
    assert len(set(keys.values())) == len(keys), keys
    # The same recipe spelled another way (key order, 2 vs 2.0) is the same key.
    respelled = {"seed": 3, "effects": {"blur": 2.0, "noise": 0.3}}
    same = render(api_client, image_id, **{**base, "recipe": respelled})
    assert key_of(same) == keys["base"]


def current_photo(name: str) -> Any:
    from skimage import data as skdata

    return getattr(skdata, name)()[::4, ::4]


def test_an_unseeded_render_still_gets_an_address_of_its_own(api_client: Any) -> None:
    image_id = small_image_id(api_client)
    random = {"effects": {"noise": 0.3}, "seed": None}
    one = render(api_client, image_id, recipe=random, quality="fast", format="png")
    two = render(api_client, image_id, recipe=random, quality="fast", format="png")
    assert one.content != two.content  # random each time...
    assert key_of(one) != key_of(two)  # ...and each result named by its own bytes
    for response in (one, two):
        assert api_client.get(response.headers["content-location"]).content == response.content


@pytest.mark.parametrize(
    "name",
    [
        "..%2Fx.png",
        "../x.png",
        "..%2F..%2Fsettings.png",
        f"{'a' * 39}.png",
        f"{'a' * 41}.png",
        f"{'g' * 40}.png",
        f"{'A' * 40}.png",
        f"{'a' * 40}.bmp",
        f"{'a' * 40}",
        f"{'a' * 40}.png%00",
        "%00.png",
    ],
)
def test_a_malformed_key_is_a_json_4xx(api_client: Any, name: str) -> None:
    response = api_client.get(f"/api/renders/{name}")
    assert 400 <= response.status_code < 500, (name, response.status_code, response.text)
    assert response.json()["error"] in {"invalid_parameters", "not_found"}


def test_an_evicted_key_is_404_saying_to_render_again(api_client: Any) -> None:
    image_id = small_image_id(api_client)
    first = render(api_client, image_id, recipe=NOISE, quality="fast", format="webp")
    url = first.headers["content-location"]
    assert api_client.get(url).status_code == 200
    current().cache("renders").clear()
    gone = api_client.get(url)
    assert gone.status_code == 404
    assert gone.json()["error"] == "not_found"
    assert "again" in gone.json()["message"]
    # A client holding the ETag is still right: the bytes of a key never change.
    held = api_client.get(url, headers={"If-None-Match": first.headers["etag"]})
    assert held.status_code == 304
    # The same key under another format's extension is not that image.
    again = render(api_client, image_id, recipe=NOISE, quality="fast", format="webp")
    assert again.headers["content-location"] == url
    assert api_client.get(url.replace(".webp", ".png")).status_code == 404
    assert api_client.get(url).content == again.content


def test_erase_text_answers_are_addressed_too(api_client: Any) -> None:
    image_id = small_image_id(api_client)
    body = {"image_id": image_id, "mode": "never", "format": "png"}
    first = api_client.post("/api/erase-text", json=body)
    assert first.status_code == 200, first.text
    key = key_of(first)
    assert api_client.get(first.headers["content-location"]).content == first.content
    skipped = api_client.post(
        "/api/erase-text", json=body, headers={"If-None-Match": first.headers["etag"]}
    )
    assert skipped.status_code == 304 and skipped.content == b""
    jpeg = api_client.post("/api/erase-text", json={**body, "format": "jpeg"})
    assert key_of(jpeg) != key


def test_public_base_url_makes_the_urls_absolute(tmp_path: Path) -> None:
    settings = load_settings(
        None,
        data_dir=tmp_path,
        models={"auto_fetch": False},
        server={"public_base_url": "https://cdn.example.com/gz/"},
    )
    with make_client(settings) as client:
        image_id = small_image_id(client)
        response = render(client, image_id, recipe=NOISE, quality="fast")
        url = response.headers["content-location"]
        key = response.headers["etag"].strip('"')
        assert url == f"https://cdn.example.com/gz/api/renders/{key}.jpg"
        # The CDN forwards the path to the API, which serves it.
        served = client.get(url.removeprefix("https://cdn.example.com/gz"))
        assert served.content == response.content


def test_max_ages_are_settings(tmp_path: Path, memegen_library: Path) -> None:
    settings = load_settings(
        None,
        data_dir=tmp_path,
        templates={"dir": memegen_library},
        server={"immutable_max_age_seconds": 600, "memegen_max_age_seconds": 60},
    )
    with make_client(settings) as client:
        image_id = small_image_id(client)
        url = render(client, image_id, recipe=NOISE, quality="fast").headers["content-location"]
        assert client.get(url).headers["cache-control"] == "public, max-age=600, immutable"
        meme = client.get(f"/images/{TEMPLATE}/hi.png")
        assert meme.headers["cache-control"] == "public, max-age=60"


def test_public_base_url_must_be_http(tmp_path: Path) -> None:
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Settings(data_dir=tmp_path, server={"public_base_url": "cdn.example.com"})


# --- memegen URLs ------------------------------------------------------------------------------

TEMPLATE = "gen-coffee"  # a generated memegen folder: "Do You Want Coffee?", 2 text boxes


@pytest.fixture
def meme_client(tmp_path: Path, memegen_library: Path) -> Any:
    settings = load_settings(None, data_dir=tmp_path, templates={"dir": memegen_library})
    with make_client(settings) as api:
        yield api


def test_memegen_urls_get_an_etag_a_max_age_and_304(meme_client: Any) -> None:
    path = f"/images/{TEMPLATE}/do_you_want_coffee~q/yes.png"
    first = meme_client.get(path)
    assert first.status_code == 200
    assert first.headers["cache-control"] == "public, max-age=86400"
    key = key_of(first)
    assert Image.open(io.BytesIO(first.content)).format == "PNG"

    memes = current().cache("memes")
    reads = memes.hits + memes.misses
    cached = meme_client.get(path, headers={"If-None-Match": first.headers["etag"]})
    assert cached.status_code == 304 and cached.content == b""
    assert cached.headers["etag"] == first.headers["etag"]
    assert cached.headers["cache-control"] == "public, max-age=86400"
    assert memes.hits + memes.misses == reads  # nothing drawn, nothing read

    # Its content address serves the same bytes, immutably.
    addressed = meme_client.get(first.headers["content-location"])
    assert addressed.content == first.content
    assert addressed.headers["cache-control"] == IMMUTABLE

    # The captions, size, format and template all name another image.
    others = [
        f"/images/{TEMPLATE}/do_you_want_coffee~q/no.png",
        f"/images/{TEMPLATE}/do_you_want_coffee~q/yes.png?width=100",
        f"/images/{TEMPLATE}/do_you_want_coffee~q/yes.jpg",
    ]
    keys = {key_of(meme_client.get(url)) for url in others}
    assert len(keys | {key}) == len(others) + 1
    # The same meme spelled with another escape for the space is the same image.
    assert key_of(meme_client.get(f"/images/{TEMPLATE}/do-you-want-coffee~q/yes.png")) == key


def test_memegen_template_change_changes_the_etag(
    tmp_path: Path, memegen_library_copy: Path
) -> None:
    settings = load_settings(None, data_dir=tmp_path, templates={"dir": memegen_library_copy})
    with make_client(settings) as client:
        path = f"/images/{TEMPLATE}/hi.png"
        before = client.get(path).headers["etag"]
        picture = client.app.state.api.runtime.templates.get(TEMPLATE).image_path
        Image.open(picture).transpose(Image.Transpose.FLIP_LEFT_RIGHT).save(picture)
        after = client.get(path, headers={"If-None-Match": before})
        assert after.status_code == 200
        assert after.headers["etag"] != before


def test_memegen_text_box_change_changes_the_etag(
    tmp_path: Path, memegen_library_copy: Path
) -> None:
    """Moving a template's caption box, even with its picture file untouched (same size and
    time), names another image."""
    import os

    settings = load_settings(None, data_dir=tmp_path, templates={"dir": memegen_library_copy})
    with make_client(settings) as client:
        library = client.app.state.api.runtime.templates
        photo = current_photo("coffee")
        top = [{"anchor_x": 0.0, "anchor_y": 0.0, "scale_x": 1.0, "scale_y": 0.25}]
        template = library.add(photo, name="Cdn Boxes", text_boxes=top)
        path = f"/images/{template.id}/hello.png"
        before = client.get(path)
        stat = template.image_path.stat()
        bottom = [{**top[0], "anchor_y": 0.75}]
        moved = library.add(photo, name="Cdn Boxes", text_boxes=bottom)
        os.utime(moved.image_path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        assert moved.image_path.stat().st_size == stat.st_size
        after = client.get(path, headers={"If-None-Match": before.headers["etag"]})
        assert after.status_code == 200
        assert after.headers["etag"] != before.headers["etag"]
        assert after.content != before.content


# --- the header helpers ------------------------------------------------------------------------


def test_if_none_match_parsing() -> None:
    key = "ab" * 20
    assert matches(f'"{key}"', key)
    assert matches(f'W/"{key}"', key)  # If-None-Match compares weakly (RFC 9110)
    assert matches(f'"x", "{key}"', key)
    assert matches("*", key)
    assert not matches(None, key)
    assert not matches(key, key)  # unquoted is not an entity tag
    assert not matches(f'"{key}0"', key)


def test_content_key_and_sniffing() -> None:
    assert content_key("render:" + "0f" * 20) == "0f" * 20
    with pytest.raises(ValueError):
        content_key("render:../../etc")
    photo = current_photo("astronaut")
    for fmt in ("png", "jpeg", "webp", "gif"):
        assert sniff_format(encode_image(photo, fmt)) == fmt
    assert sniff_format(b"not an image") is None
