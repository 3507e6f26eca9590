"""memegen-compatible URL API: memegen's slug rules (pure) and the routes over memegen
template folders (the generated sample, plus memegen's real templates with ../shared)."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest
from PIL import Image

from api_fixtures import REAL_FONTS_DIR, make_client
from glitchzap.api.memegen import decode_slug, encode_lines, normalize_slug
from glitchzap.runtime import current
from glitchzap.settings import load_settings
from meme_cases import MemeSample

pytest_plugins = ["api_fixtures"]

# memegen's own slug table (app/tests/test_utils_text.py): its URLs and redirects use these.
LINES_SLUG = [
    (["hello world"], "hello_world"),
    (["?%#/&\\<>"], "~q~p~h~s~a~b~l~g"),
    (["a/b", "c"], "a~sb/c"),
    (["variable_name"], "variable__name"),
    (["variable-name"], "variable--name"),
    (["foo\nbar"], "foo~nbar"),
    (["def data() -> Dict"], "def_data()_--~g_Dict"),
    (["finish <- start"], "finish_~l--_start"),
    (['That\'s not how "this" works'], "That's_not_how_''this''_works"),
    (["git commit --no-verify"], "git_commit_----no--verify"),
    (["_username likes _charname"], "__username_likes___charname"),
    (["underscore_ dash-"], "underscore__-dash--"),
    (["kill -9"], "kill_--9"),
]


@pytest.mark.parametrize(("lines", "slug"), LINES_SLUG)
def test_memegen_slugs_encode_and_decode(lines: list[str], slug: str) -> None:
    assert encode_lines(lines) == slug
    assert decode_slug(slug) == lines
    assert normalize_slug(slug) == (slug, False)


def test_normalize_finds_the_canonical_spelling() -> None:
    assert normalize_slug("hello-world") == ("hello_world", True)
    assert normalize_slug("hello world") == ("hello_world", True)
    assert normalize_slug("what%3F") == ("what~q", True)
    assert encode_lines([]) == "_" and encode_lines(["", "b"]) == "_/b"
    # memegen turns curly quotes straight after escaping `"`, so they stay unescaped
    assert encode_lines(["it\u2019ll be \u201cfun\u201d"]) == 'it\'ll_be_"fun"'


TEMPLATE = "gen-coffee"  # a generated memegen folder: "Do You Want Coffee?", 2 text boxes


@pytest.fixture
def meme_client(tmp_path: Any, memegen_library: Any) -> Any:
    settings = load_settings(
        None, data_dir=tmp_path, templates={"dir": memegen_library}, fonts={"dir": REAL_FONTS_DIR}
    )
    with make_client(settings) as api:
        yield api


def pixels(response: Any) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))


def test_routes_read_the_template_library(meme_client: Any, meme_sample: MemeSample) -> None:
    """memegen's folders, imported into the library, are what the memegen routes serve."""
    coffee = meme_client.get(f"/templates/{TEMPLATE}").json()
    assert coffee["name"] == "Do You Want Coffee?"
    assert coffee["lines"] == 2
    assert meme_client.get(f"/templates/..%2F{TEMPLATE}").status_code == 404
    assert meme_client.get("/templates/README.md").status_code == 404
    assert len(meme_client.get("/templates").json()) == len(meme_sample.configs())


def test_templates_in_memegen_shape(meme_client: Any) -> None:
    body = meme_client.get("/templates").json()
    coffee = next(t for t in body if t["id"] == TEMPLATE)
    assert coffee["name"] == "Do You Want Coffee?"
    assert coffee["lines"] == 2
    assert coffee["example"]["url"].endswith(
        f"/images/{TEMPLATE}/do_you_want_coffee~q/because_that's_how_you_get_coffee.png"
    )
    assert coffee["blank"].endswith(f"/images/{TEMPLATE}.png")
    assert meme_client.get(f"/templates/{TEMPLATE}").json() == coffee
    missing = meme_client.get("/templates/no-such-template")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


def test_meme_image_draws_the_captions(meme_client: Any, meme_sample: MemeSample) -> None:
    blank = meme_client.get(f"/images/{TEMPLATE}.png")
    meme = meme_client.get(
        f"/images/{TEMPLATE}/do_you_want_coffee~q/because_that's_how_you_get_coffee.png"
    )
    assert blank.status_code == meme.status_code == 200
    assert meme.headers["content-type"] == "image/png"
    # memegen resize_image: with no width or height a still's shorter side becomes 600 px
    # (LANCZOS), so the blank meme is the template picture at that size.
    picture = Image.fromarray(meme_sample.picture(TEMPLATE))
    size = (round(600 * picture.width / picture.height), 600)
    template = np.asarray(picture.resize(size, Image.Resampling.LANCZOS))
    np.testing.assert_allclose(pixels(blank), template, atol=1)
    drawn = pixels(meme)
    assert drawn.shape == template.shape
    changed = np.any(np.abs(drawn.astype(int) - template) > 1, axis=2)
    height = template.shape[0]
    assert changed[: height // 5].mean() > 0.02  # top caption
    assert changed[-height // 5 :].mean() > 0.02  # bottom caption
    assert changed[height // 3 : 2 * height // 3].mean() < 0.01  # the middle is untouched


def test_escapes_reach_the_renderer(meme_client: Any) -> None:
    """The decoded caption is what gets drawn: `what~q` ("what?") differs from `what`."""
    escaped = meme_client.get(f"/images/{TEMPLATE}/what~q.png")
    different = meme_client.get(f"/images/{TEMPLATE}/what.png")
    assert escaped.status_code == 200
    assert escaped.content != different.content


def test_width_and_height(meme_client: Any, meme_sample: MemeSample) -> None:
    h, w = meme_sample.picture(TEMPLATE).shape[:2]
    wide = meme_client.get(f"/images/{TEMPLATE}/hi.jpg?width=300")
    assert wide.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(wide.content)).size == (300, round(h * 300 / w))
    boxed = meme_client.get(f"/images/{TEMPLATE}/hi.webp?width=200&height=100")
    assert Image.open(io.BytesIO(boxed.content)).size == (200, 100)  # memegen pads to fit


def test_width_and_height_statuses(meme_client: Any) -> None:
    """memegen app/views/helpers.py render_image: 0 means "the template's size", 1-9 and
    non-integers are 422 (an image); a huge size is shrunk by the renderer, not refused.
    (Was: 0 and 20000 were 422.)"""
    for query, status in [("width=0", 200), ("width=20000", 200), ("width=9", 422),
                          ("height=abc", 422), ("width=-5", 422)]:  # fmt: skip
        response = meme_client.get(f"/images/{TEMPLATE}/hi.png?{query}")
        assert response.status_code == status, query
        assert response.headers["content-type"] == "image/png"


def test_cached_by_full_key(meme_client: Any) -> None:
    meme_client.get(f"/images/{TEMPLATE}/one/two.png")
    meme_client.get(f"/images/{TEMPLATE}/one/two.png")
    meme_client.get(f"/images/{TEMPLATE}/one/two.png?width=100")
    stats = current().cache("memes").stats()
    assert (stats["hits"], stats["misses"]) == (1, 2)


def test_meme_errors(meme_client: Any) -> None:
    missing = meme_client.get("/images/no-such-template/hi.png")
    assert missing.status_code == 404
    # memegen render_image: an unknown extension is 422 with a png (was 415 JSON), and lines
    # past the template's boxes are not drawn (was 422).
    wrong = meme_client.get(f"/images/{TEMPLATE}/hi.bmp")
    assert (wrong.status_code, wrong.headers["content-type"]) == (422, "image/png")
    assert missing.headers["content-type"] == "image/png"
    too_many = meme_client.get(f"/images/{TEMPLATE}/a/b/c/d/e.png")
    assert too_many.status_code == 200


def test_json_urls_use_the_public_base_url(tmp_path: Any, memegen_library: Any) -> None:
    """With `server.public_base_url` set, every URL in memegen's JSON is absolute under it."""
    settings = load_settings(
        None,
        data_dir=tmp_path,
        templates={"dir": memegen_library},
        server={"public_base_url": "https://cdn.example.com"},
    )
    with make_client(settings) as api:
        coffee = api.get(f"/templates/{TEMPLATE}").json()
        assert coffee["blank"] == f"https://cdn.example.com/images/{TEMPLATE}.png"
        assert coffee["_self"] == f"https://cdn.example.com/templates/{TEMPLATE}"
        posted = api.post("/images", json={"template_id": TEMPLATE, "text": ["a"]}).json()
        assert posted == {"url": f"https://cdn.example.com/images/{TEMPLATE}/a.png"}
        assert api.get("/fonts").json()[0]["_self"].startswith("https://cdn.example.com/fonts/")
        # memegen app/views/clients.py validate: without a server key no key is valid
        assert api.post("/auth", headers={"X-API-Key": "anything"}).status_code == 401


def test_memegen_urls_and_api_meme_draw_the_same_meme(
    meme_client: Any, meme_sample: MemeSample
) -> None:
    """One caption renderer under both doors: POST /api/meme on a template and the memegen URL
    at the template's own width give the same pixels."""
    from api_fixtures import upload
    from glitchzap.io import encode_image

    picture = meme_sample.picture(TEMPLATE)
    image_id = upload(meme_client, encode_image(picture, "png"))["image_id"]
    captions = ["do you want coffee?", "because that's how you get coffee"]
    body = {"image_id": image_id, "captions": captions, "template": TEMPLATE, "format": "png"}
    via_api = meme_client.post("/api/meme", json=body)
    assert via_api.status_code == 200, via_api.text
    url = f"/images/{TEMPLATE}/{encode_lines(captions)}.png?width={picture.shape[1]}"
    via_url = meme_client.get(url)
    assert via_url.status_code == 200
    np.testing.assert_array_equal(pixels(via_api), pixels(via_url))
