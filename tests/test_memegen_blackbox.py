"""memegen's public HTTP API, black-box: a real `glitchzap serve` on a loopback port, the
memegen template library (`memegen_library`), and a local origin for remote images.

Every expectation comes from memegen itself (github jacebrowning/memegen); each test names the
file and function it follows. Only what does not depend on the drawing is checked: statuses,
`Location` headers, JSON shapes, content types, and that images decode. The server runs with
an API key (sent by the client), `127.0.0.1` on its URL allow-list (for the local origin) and
`example.com` as an allowed watermark.
"""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import numpy as np
import pytest
from PIL import Image

from api_fixtures import REAL_FONTS_DIR, free_port
from glitchzap.io import encode_image

pytest_plugins = ["api_fixtures"]

LAUNCH = (
    "import sys; from glitchzap.cli import app, _register_all; _register_all(); app(sys.argv[1:])"
)
API_KEY = "blackbox-key"
TEMPLATE = "gen-coffee"  # always in the library: "Do You Want Coffee?", two upper-case boxes
EXAMPLE = "do_you_want_coffee~q/because_that's_how_you_get_coffee"
IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}


# --- the server and a local origin for remote images -----------------------------------------


class Origin(BaseHTTPRequestHandler):
    """Serves /photo.png, /photo.gif, /not-an-image.txt; anything else is 404."""

    files: ClassVar[dict[str, tuple[str, bytes]]] = {}

    def do_GET(self) -> None:
        found = self.files.get(self.path.split("?")[0])
        if found is None:
            self.send_error(404)
            return
        content_type, body = found
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def origin() -> Iterator[str]:
    rng = np.random.default_rng(7)
    picture = rng.integers(0, 255, (120, 160, 3), dtype=np.uint8)
    Origin.files = {
        "/photo.png": ("image/png", encode_image(picture, "png")),
        "/photo.gif": ("image/gif", encode_image(picture, "gif")),
        "/not-an-image.txt": ("text/plain", b"hello, not an image"),
    }
    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Origin)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def server(tmp_path_factory: Any, memegen_library: Path) -> Iterator[str]:
    data_dir = tmp_path_factory.mktemp("blackbox-data")
    port = free_port()
    env = {
        **os.environ,
        "GLITCHZAP_DATA_DIR": str(data_dir),
        "GLITCHZAP_TEMPLATES__DIR": str(memegen_library),
        "GLITCHZAP_FONTS__DIR": str(REAL_FONTS_DIR),
        "GLITCHZAP_SERVER__API_KEY": API_KEY,
        "GLITCHZAP_SERVER__URL_ALLOWLIST": '["127.0.0.1"]',
        "GLITCHZAP_SERVER__MEMEGEN_ALLOWED_WATERMARKS": '["example.com"]',
    }
    log = data_dir / "serve.log"
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-c", LAUNCH, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(process, url, log)
        yield url
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        server_log = log.read_text(errors="replace")
        assert "Traceback" not in server_log, server_log[-4000:]


def _wait_ready(process: subprocess.Popen[bytes], url: str, log: Path) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if httpx.get(f"{url}/api/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError(f"server did not start:\n{log.read_text(errors='replace')}")


@pytest.fixture(scope="module")
def client(server: str) -> Iterator[httpx.Client]:
    headers = {"X-API-Key": API_KEY}
    with httpx.Client(base_url=server, headers=headers, timeout=60) as http:
        yield http


def get(client: httpx.Client, path: str, **kwargs: Any) -> httpx.Response:
    return client.get(path, follow_redirects=False, **kwargs)


def assert_image(response: httpx.Response, status: int, ext: str) -> None:
    assert response.status_code == status, (response.status_code, response.text[:200])
    assert response.headers["content-type"] == IMAGE_TYPES[ext]
    Image.open(io.BytesIO(response.content)).load()


def location(response: httpx.Response) -> str:
    return response.headers["location"]


# --- GET /templates, /templates/{id} ---------------------------------------------------------


def test_templates_list_in_memegen_shape(client: httpx.Client, server: str) -> None:
    """memegen app/views/templates.py index + app/models/template.py Template.jsonify."""
    body = client.get("/templates").json()
    assert isinstance(body, list) and len(body) >= 10
    coffee = next(t for t in body if t["id"] == TEMPLATE)
    assert set(coffee) == {"id", "name", "lines", "overlays", "styles", "blank", "example",
                           "source", "keywords", "_self"}  # fmt: skip
    assert coffee["name"] == "Do You Want Coffee?" and coffee["lines"] == 2
    assert coffee["blank"] == f"{server}/images/{TEMPLATE}.png"
    assert coffee["example"] == {
        "text": ["do you want coffee?", "because that's how you get coffee"],
        "url": f"{server}/images/{TEMPLATE}/{EXAMPLE}.png",
    }
    assert coffee["_self"] == f"{server}/templates/{TEMPLATE}"
    assert [t["id"] for t in body] == sorted(t["id"] for t in body)  # memegen: sorted


def test_templates_filter_and_animated(client: httpx.Client) -> None:
    """memegen app/views/helpers.py get_valid_templates: `filter` matches id, name, keywords
    or example; `animated=true|false` keeps templates with or without the animated style."""
    ids = [t["id"] for t in client.get("/templates", params={"filter": "coffee"}).json()]
    assert TEMPLATE in ids and "gen-rocket" not in ids
    by_keyword = client.get("/templates", params={"filter": "MORNING"}).json()  # lower-cased
    assert TEMPLATE in [t["id"] for t in by_keyword]
    still = client.get("/templates", params={"animated": "false"}).json()
    moving = client.get("/templates", params={"animated": "true"}).json()
    assert all("animated" not in t["styles"] for t in still)
    assert all("animated" in t["styles"] for t in moving)
    assert len(still) + len(moving) == len(client.get("/templates").json())


def test_template_detail_and_404(client: httpx.Client) -> None:
    """memegen app/views/templates.py detail: the list's item, or 404."""
    listed = next(t for t in client.get("/templates").json() if t["id"] == TEMPLATE)
    assert client.get(f"/templates/{TEMPLATE}").json() == listed
    assert client.get("/templates/no-such-template").status_code == 404


# --- POST /images, /templates/{id}, /images/custom, /templates/custom ----------------------


@pytest.mark.parametrize("as_json", [True, False])
def test_post_images_returns_the_url(client: httpx.Client, server: str, as_json: bool) -> None:
    """memegen app/tests/test_views_images.py it_returns_an_image_url (helpers.generate_url):
    201 {"url"}; text lower-cased for upper-case boxes (it_lowercases_text...)."""
    data = {"template_id": TEMPLATE, "text_lines[]": ["foo", "Bar"]}
    response = client.post("/images", json=data) if as_json else client.post("/images", data=data)
    assert response.status_code == 201
    assert response.json() == {"url": f"{server}/images/{TEMPLATE}/foo/bar.png"}


@pytest.mark.parametrize(
    ("extra", "url"),
    [
        # it_preserves_text_case_for_top_layouts
        ({"layout": "top"}, f"/images/{TEMPLATE}/foo/Bar.png?layout=top"),
        # it_removes_redundant_styles: blank -> default, trailing ",default" dropped
        ({"style[]": [" ", "test", "default"], "font": "impact"},
         f"/images/{TEMPLATE}/foo/bar.png?style=default,test&font=impact"),
        # it_can_force_animated_extension / it_prefers_extension_over_animated_style
        ({"style": "animated"}, f"/images/{TEMPLATE}/foo/bar.gif"),
        ({"style": "animated", "extension": "webp"}, f"/images/{TEMPLATE}/foo/bar.webp"),
        ({"extension": "jpg"}, f"/images/{TEMPLATE}/foo/bar.jpg"),
    ],
)  # fmt: skip
def test_post_images_options(
    client: httpx.Client, server: str, extra: dict[str, Any], url: str
) -> None:
    """memegen app/tests/test_views_images.py describe_POST (models/template.py
    build_custom_url): layout, style, font and extension in the URL."""
    data = {"template_id": TEMPLATE, "text_lines[]": ["foo", "Bar"], **extra}
    response = client.post("/images", data=data)
    assert (response.status_code, response.json()) == (201, {"url": server + url})


def test_post_images_lines(client: httpx.Client, server: str) -> None:
    """memegen it_handles_missing_text_lines, it_drops_trailing_blank_lines,
    it_supports_slashes_to_indicate_blank_lines (urls.clean drops trailing `/_`)."""
    cases = [({}, ".png"), ({"text_lines": ["", "", "", ""]}, ".png"),
             ({"text_lines": ["/", "2", "/", ""]}, "/_/2.png"),
             ({"text": ["a b?", "c_d"]}, "/a_b~q/c__d.png")]  # fmt: skip
    for extra, tail in cases:
        response = client.post("/images", json={"template_id": TEMPLATE, **extra})
        assert response.json() == {"url": f"{server}/images/{TEMPLATE}{tail}"}, extra


def test_post_images_errors(client: httpx.Client, server: str) -> None:
    """memegen it_requires_template_id, it_handles_invalid_json (400), and
    it_handles_unknown_template_id (404 with the URL it would have)."""
    for response in (
        client.post("/images", json={"text_lines": ["foo"]}),
        client.post("/images", content=b"???", headers={"Content-Type": "application/json"}),
    ):
        assert response.status_code == 400
        assert response.json() == {"error": '"template_id" is required'}
    unknown = client.post("/images", data={"template_id": "unknown", "text_lines": ["one", "two"]})
    assert unknown.status_code == 404
    assert unknown.json() == {"url": f"{server}/images/unknown/one/two.png"}


def test_post_images_redirect(client: httpx.Client, server: str) -> None:
    """memegen it_redirects_if_requested: 302 to the URL with `status=201`, which answers 201
    (helpers.render_image's `status` override)."""
    data = {"template_id": TEMPLATE, "text_lines": ["abc"], "redirect": True}
    response = client.post("/images", json=data, follow_redirects=False)
    assert response.status_code == 302
    assert location(response) == f"{server}/images/{TEMPLATE}/abc.png?status=201"
    assert_image(get(client, location(response)), 201, "png")


def test_post_template_by_id(client: httpx.Client, server: str) -> None:
    """memegen app/views/templates.py build (helpers.generate_url with the path's id)."""
    response = client.post(f"/templates/{TEMPLATE}", json={"text": ["hi", "there"]})
    assert (response.status_code, response.json()) == (
        201,
        {"url": f"{server}/images/{TEMPLATE}/hi/there.png"},
    )
    missing = client.post("/templates/no-such-template", json={"text": ["x"]})
    assert missing.status_code == 404 and missing.json()["url"].endswith("/x.png")


@pytest.mark.parametrize("path", ["/images/custom", "/templates/custom"])
def test_post_custom(client: httpx.Client, server: str, path: str) -> None:
    """memegen it_supports_custom_backgrounds, it_returns_gif_when_background_is_gif,
    it_escapes_query_parameters (views/images.py create_custom, templates.py custom)."""
    data = {"background": "http://example.com", "text_lines[]": ["foo", "bar"]}
    response = client.post(path, data=data)
    assert response.status_code == 201
    assert response.json() == {
        "url": f"{server}/images/custom/foo/bar.png?background=http://example.com"
    }
    gif = client.post(path, json={"background": "https://x.test/a.gif", "text": ["a"]})
    assert gif.json()["url"] == f"{server}/images/custom/a.gif?background=https://x.test/a.gif"
    query = "https://x.test/1/stare.png?ex=a1&is=b2"
    escaped = client.post(path, data={"background": query, "text_lines[]": ["foo", "bar"]})
    assert escaped.json()["url"] == (
        f"{server}/images/custom/foo/bar.png?background=https://x.test/1/stare.png%3Fex%3Da1%26is%3Db2"
    )


def test_get_custom_list_has_no_results(client: httpx.Client) -> None:
    """memegen app/views/images.py index_custom: with no results, 404 {"message"} (glitchzap
    keeps no tracking service, so there never are any)."""
    response = client.get("/images/custom", params={"filter": "Cats"})
    assert response.status_code == 404
    assert response.json() == {"message": "No results matched: cats"}


# --- POST /images/automatic ------------------------------------------------------------------


def test_automatic(client: httpx.Client, server: str) -> None:
    """memegen app/views/images.py create_automatic: 400 without `text` (or with invalid
    JSON), 404 {"message"} without a match, 201 {url, generator, confidence}; glitchzap
    searches its own template library."""
    for response in (
        client.post("/images/automatic"),
        client.post("/images/automatic", content=b"???"),
    ):
        assert response.status_code == 400
        assert response.json() == {"error": '"text" is required'}
    nothing = client.post("/images/automatic", json={"text": "zzqxv"})
    assert nothing.status_code == 404
    assert nothing.json() == {"message": "No results matched: zzqxv"}
    found = client.post("/images/automatic", data={"text": "coffee in the morning"})
    assert found.status_code == 201
    body = found.json()
    assert set(body) == {"url", "generator", "confidence"}
    assert body["url"].startswith(f"{server}/images/") and 0 < body["confidence"] <= 1
    assert_image(get(client, body["url"]), 200, "png")
    moved = client.post("/images/automatic", json={"text": "coffee", "redirect": True})
    assert moved.status_code == 302 and location(moved).endswith("?status=201")


# --- GET /images (examples) ------------------------------------------------------------------


def test_examples(client: httpx.Client, server: str) -> None:
    """memegen app/views/images.py index (helpers.get_example_images): [{url, template}]."""
    body = client.get("/images").json()
    assert {"url": f"{server}/images/{TEMPLATE}/{EXAMPLE}.png",
            "template": f"{server}/templates/{TEMPLATE}"} in body  # fmt: skip
    filtered = client.get("/images", params={"filter": "coffee"}).json()
    assert 1 <= len(filtered) < len(body)
    assert all(set(item) == {"url", "template"} for item in filtered)


# --- GET /images/{template}/{text}.{ext} ----------------------------------------------------


@pytest.mark.parametrize("ext", list(IMAGE_TYPES))
def test_every_extension(client: httpx.Client, ext: str) -> None:
    """memegen app/tests/test_views_images.py it_returns_an_image: blank and text, per type."""
    assert_image(get(client, f"/images/{TEMPLATE}.{ext}"), 200, ext)
    assert_image(get(client, f"/images/{TEMPLATE}/test.{ext}"), 200, ext)


def test_image_errors_are_images(client: httpx.Client) -> None:
    """memegen helpers.render_image: unknown template 404, bad extension 422 (as png),
    width 1-9 or not a number 422, a text segment over 200 bytes 414, all with an image; the
    placeholder template `string` is 200 (it_handles_placeholder_templates)."""
    assert_image(get(client, "/images/no-such-template/test.png"), 404, "png")
    assert_image(get(client, f"/images/{TEMPLATE}/test.foobar"), 422, "png")
    assert_image(get(client, f"/images/{TEMPLATE}.foobar"), 422, "png")
    assert_image(get(client, f"/images/{TEMPLATE}/test.jpg?width=9"), 422, "jpg")
    assert_image(get(client, f"/images/{TEMPLATE}/test.jpg?height=5"), 422, "jpg")
    assert_image(get(client, f"/images/{TEMPLATE}/test.jpg?width=abc"), 422, "jpg")
    assert_image(get(client, f"/images/{TEMPLATE}/{'test_' * 50}.jpg"), 414, "jpg")
    assert_image(get(client, f"/images/{TEMPLATE}/{'a' * 200}.jpg"), 200, "jpg")
    assert_image(get(client, f"/images/{TEMPLATE}/test.png?width=10&height=0"), 200, "png")
    assert_image(get(client, "/images/string/test.png"), 200, "png")


def test_sizes(client: httpx.Client) -> None:
    """memegen app/utils/images.py resize_image and fit_image, app/settings.py DEFAULT_SIZE and
    MAXIMUM_PIXELS: no size gives a still's shorter side 600 px and an animation's longer side
    600 px; one of width/height scales the other; both give exactly that size (padded); a
    requested size over 1920 x 1080 pixels is shrunk by 3/4 steps (fry.png at 800 x 600 is
    memegen's own app/tests/images/fry/a/b.*.png)."""

    def size(path: str) -> tuple[int, int]:
        response = get(client, path)
        assert response.status_code == 200, path
        return Image.open(io.BytesIO(response.content)).size

    still = size(f"/images/{TEMPLATE}/test.png")
    assert min(still) == 600
    animation = size(f"/images/{TEMPLATE}/test.gif")
    assert max(animation) == 600
    assert size(f"/images/{TEMPLATE}/test.png?width=300")[0] == 300
    assert size(f"/images/{TEMPLATE}/test.png?height=250")[1] == 250
    assert size(f"/images/{TEMPLATE}/test.png?width=400&height=600") == (400, 600)
    huge = size(f"/images/{TEMPLATE}/test.png?width=4000&height=4000")
    assert huge == (int(4000 * 0.75**4), int(4000 * 0.75**4))
    if "fry" in {t["id"] for t in client.get("/templates").json()}:
        assert size("/images/fry/a/b.png") == (800, 600)


def test_colors(client: httpx.Client) -> None:
    """memegen it_accepts_valid_colors / it_rejects_invalid_colors: `color=text,outline` of
    names or hex (with or without `#`); one invalid value is 422 with an image."""
    for query in ("color=red,blue", "color=%23ff0000", "color=00ff00,black"):
        assert_image(get(client, f"/images/{TEMPLATE}/test.png?{query}"), 200, "png")
    assert_image(get(client, f"/images/{TEMPLATE}/test.png?color=red,blue2"), 422, "png")


def test_fonts_option(client: httpx.Client) -> None:
    """memegen describe_font: an unknown font is 422 (drawn in the default), the placeholder
    `string` is ignored; ids and aliases from GET /fonts are accepted."""
    assert_image(get(client, f"/images/{TEMPLATE}/test.png?font=foobar"), 422, "png")
    for font in ("string", "impact", "thick", "comic", "titilliumweb-thin"):
        assert_image(get(client, f"/images/{TEMPLATE}/test.png?font={font}"), 200, "png")


def test_styles(client: httpx.Client) -> None:
    """memegen describe_styles: `style=animated` on png/jpg is 301 to .gif without it (blank
    and text, other options kept); an unknown style name is 422; `string` is ignored; and
    (models/template.py check) `animated` on a template without that style is 422."""
    for slug in (TEMPLATE, f"{TEMPLATE}/one/two"):
        response = get(client, f"/images/{slug}.png?style=animated&width=300")
        assert response.status_code == 301
        assert location(response) == f"/images/{slug}.gif?width=300"
    assert_image(get(client, f"/images/{TEMPLATE}/one/two.png?style=foobar"), 422, "png")
    assert_image(get(client, f"/images/{TEMPLATE}/one/two.png?style=string"), 200, "png")
    assert_image(get(client, f"/images/{TEMPLATE}/one/two.png?style=default"), 200, "png")
    assert_image(get(client, f"/images/{TEMPLATE}/one/two.gif?style=animated"), 422, "gif")


def test_overlay_urls(client: httpx.Client, origin: str) -> None:
    """memegen describe_overlay (models/template.py check): `style=<image URL>[,<URL>]` is
    200; a URL that is not an image, or is missing, is 415 (with an image)."""
    base = f"/images/{TEMPLATE}/test.png"
    assert_image(get(client, base, params={"style": f"{origin}/photo.png"}), 200, "png")
    assert_image(get(client, base, params={"style": f"{origin}/not-an-image.txt"}), 415, "png")
    assert_image(get(client, base, params={"style": f"{origin}/missing.png"}), 415, "png")
    two = f"{origin}/photo.png,{origin}/photo.gif"
    assert_image(get(client, base, params={"style": two}), 200, "png")
    # memegen's OpenAPI text for `style`: "may be repeated to set each slot independently"
    slots = [("style", f"{origin}/photo.png"), ("style", f"{origin}/photo.gif")]
    assert_image(get(client, base, params=slots), 200, "png")
    broken = [("style", f"{origin}/photo.png"), ("style", f"{origin}/missing.png")]
    assert_image(get(client, base, params=broken), 415, "png")


def test_custom_backgrounds(client: httpx.Client, origin: str) -> None:
    """memegen describe_custom: a background URL is 200; none is 422; a URL that cannot be
    fetched (`foobar`, missing, not an image) is 415; `string` is ignored; a GIF background
    animates (it_supports_custom_templates_with_animation)."""
    path = "/images/custom/test.png"
    assert_image(get(client, path, params={"background": f"{origin}/photo.png"}), 200, "png")
    assert_image(get(client, path), 422, "png")
    for bad in ("foobar", f"{origin}/missing.png", f"{origin}/not-an-image.txt"):
        assert_image(get(client, path, params={"background": bad}), 415, "png")
    assert_image(get(client, "/images/custom/string.png?background=string"), 200, "png")
    animated = {"background": f"{origin}/photo.gif", "start": "0.1", "stop": "0.5,0.9"}
    gif = get(client, "/images/custom/test/test.gif", params=animated)
    assert_image(gif, 200, "gif")


def test_text_normalisation_redirect(client: httpx.Client) -> None:
    """memegen app/views/images.py detail_text + utils/text.py normalize: a text path whose
    canonical spelling differs is 301 to it, query kept."""
    response = get(client, f"/images/{TEMPLATE}/hello-world.png?width=300")
    assert response.status_code == 301
    assert location(response) == f"/images/{TEMPLATE}/hello_world.png?width=300"
    spaced = get(client, f"/images/{TEMPLATE}/hello%20world/what%3F.jpg")
    assert (spaced.status_code, location(spaced)) == (
        301,
        f"/images/{TEMPLATE}/hello_world/what~q.jpg",
    )
    assert_image(get(client, f"/images/{TEMPLATE}/hello_world.png"), 200, "png")


def test_watermarks(client: httpx.Client) -> None:
    """memegen describe_watermark (utils/meta.py get_watermark): an allowed watermark is drawn
    (200), an unknown one is 302 to the URL without it; glitchzap: none by default,
    `watermark=none` is 200."""
    plain = get(client, f"/images/{TEMPLATE}/test.png")
    marked = get(client, f"/images/{TEMPLATE}/test.png?watermark=example.com")
    assert_image(marked, 200, "png")
    assert marked.headers["etag"] != plain.headers["etag"]
    for ext in ("png", "jpg"):
        response = get(client, f"/images/{TEMPLATE}/test.{ext}?watermark=foobar&width=300")
        assert response.status_code == 302
        assert location(response) == f"/images/{TEMPLATE}/test.{ext}?width=300"
    assert_image(get(client, f"/images/{TEMPLATE}/test.png?watermark=none"), 200, "png")


def test_other_options_and_status(client: httpx.Client) -> None:
    """memegen render_image / Template.clone: layout, center, scale, frames, start, stop are
    accepted; `status` overrides a successful answer's status."""
    base = f"/images/{TEMPLATE}/test/two.png"
    for query in ("layout=top", "layout=default", "center=0.5,0.5", "scale=0.5", "frames=5",
                  "start=0.1,0.2&stop=0.8,1.0", "width=300&height=300"):  # fmt: skip
        assert_image(get(client, f"{base}?{query}"), 200, "png")
    assert_image(get(client, f"{base}?status=201"), 201, "png")
    assert_image(get(client, f"/images/{TEMPLATE}/test/two.gif?frames=5"), 200, "gif")


def test_etag_and_cache_control(client: httpx.Client) -> None:
    """glitchzap's CDN headers on memegen URLs: a strong ETag that names every option, a
    public max-age, and 304 for If-None-Match."""
    path = f"/images/{TEMPLATE}/cache/me.png"
    first = get(client, path)
    assert first.headers["cache-control"] == "public, max-age=86400"
    again = get(client, path, headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    options = ("color=red", "font=impact", "layout=top", "width=300", "scale=2")
    others = {get(client, f"{path}?{q}").headers["etag"] for q in options}
    assert first.headers["etag"] not in others and len(others) == 5


def test_preview(client: httpx.Client, origin: str) -> None:
    """memegen app/views/clients.py preview: always a 200 JPEG (problems are stamped on it)."""
    for params in (
        {"template": TEMPLATE, "text[]": ["a", "b"], "style": "default", "layout": "top"},
        {"template": TEMPLATE},
        {"template": "no-such-template", "text[]": ["x"]},
        {"template": f"{origin}/photo.png", "text[]": ["x"]},
        {"template": f"{origin}/missing.png"},
        {"template": TEMPLATE, "style": "foobar"},
    ):
        assert_image(get(client, "/images/preview.jpg", params=params), 200, "jpg")


# --- shortcuts (app/views/shortcuts.py) -----------------------------------------------------


def test_shortcut_redirects(client: httpx.Client) -> None:
    """memegen app/views/shortcuts.py: example_path (`/images/<id>` -> example),
    custom_path (no extension -> .png; `&` query, `//`, trailing slash and quote fixed;
    `.ext` -> blank), legacy_example_image, legacy_example_path, legacy_custom_*."""
    cases = {
        f"/images/{TEMPLATE}": f"/images/{TEMPLATE}/{EXAMPLE}.png",
        f"/images/{TEMPLATE}/hello": f"/images/{TEMPLATE}/hello.png",
        f"/images/{TEMPLATE}/hello/": f"/images/{TEMPLATE}/hello.png",
        f"/images/{TEMPLATE}/hello//world": f"/images/{TEMPLATE}/hello.png",
        f'/images/{TEMPLATE}/hello"': f"/images/{TEMPLATE}/hello.png",
        f"/images/{TEMPLATE}/hello&width=300": f"/images/{TEMPLATE}/hello.png?width=300",
        f"/images/{TEMPLATE}/.jpg": f"/images/{TEMPLATE}.jpg",
        f"/{TEMPLATE}.jpg": f"/images/{TEMPLATE}/{EXAMPLE}.jpg",
        f"/{TEMPLATE}": f"/images/{TEMPLATE}",
        f"/{TEMPLATE}/hello/world.png": f"/images/{TEMPLATE}/hello/world.png",
        f"/{TEMPLATE}/hello/world": f"/images/{TEMPLATE}/hello/world",
    }
    for path, target in cases.items():
        response = get(client, path)
        assert (response.status_code, location(response)) == (302, target), path
    assert get(client, "/images/no-such-template").status_code == 404
    assert get(client, "/no-such-template.png").status_code == 404
    assert get(client, "/no-such-template/hello").status_code == 404


def test_shortcuts_never_shadow_glitchzap(client: httpx.Client) -> None:
    """Only real template ids redirect: the studio, /api, /docs and /metrics still answer,
    and a POST-only route still says 405."""
    assert client.get("/").status_code == 200
    assert client.get("/api/health").status_code == 200
    assert client.get("/docs").status_code == 200
    assert client.get("/metrics").status_code == 200
    assert client.get("/api/render").status_code == 405
    missing = client.get("/api/nope")
    assert missing.status_code == 404 and missing.json()["error"] == "not_found"


# --- fonts and auth --------------------------------------------------------------------------


def test_fonts(client: httpx.Client, server: str) -> None:
    """memegen app/views/fonts.py index/detail + models/font.py Font.jsonify."""
    fonts = client.get("/fonts").json()
    ids = {f["id"]: f for f in fonts}
    assert {"titilliumweb", "notosans", "kalam", "impact", "titilliumweb-thin"} <= set(ids)
    assert ids["titilliumweb"]["alias"] == "thick" and ids["impact"]["alias"] is None
    impact = client.get("/fonts/impact").json()
    assert impact == ids["impact"]
    assert set(impact) == {"id", "alias", "filename", "_self"}
    assert impact["_self"] == f"{server}/fonts/impact"
    assert client.get("/fonts/foobar").status_code == 404


def test_auth(server: str) -> None:
    """memegen app/views/clients.py validate: 200 with the key's info, else 401
    {"error": "API key missing or invalid."}."""
    with httpx.Client(base_url=server, timeout=30) as anonymous:
        for headers in ({}, {"X-API-Key": "wrong"}):
            response = anonymous.post("/auth", headers=headers)
            assert response.status_code == 401
            assert response.json() == {"error": "API key missing or invalid."}
        valid = anonymous.post("/auth", headers={"X-API-Key": API_KEY})
        assert valid.status_code == 200 and valid.json()["image_access"] is True


# --- every template through every route ------------------------------------------------------


def test_every_template_renders_through_every_route(client: httpx.Client) -> None:
    """Each template of the library: blank .png, its example .png and .jpg, POST /images and
    POST /templates/{id} with the example text (then GET their URLs, which are the example's
    own, so the drawing is shared): 200 and a decodable image each time. Example URLs are
    canonical (no normalisation redirect)."""
    templates = client.get("/templates").json()

    def check(template: dict[str, Any]) -> list[str]:
        example = template["example"]["url"]
        body = {"template_id": template["id"], "text": template["example"]["text"]}
        posted = client.post("/images", json=body).json().get("url", "")
        by_id = client.post(f"/templates/{template['id']}", json=body).json().get("url", "")
        urls = [template["blank"], example, example.rsplit(".", 1)[0] + ".jpg", posted, by_id]
        problems = []
        for url in urls:
            response = client.get(url, follow_redirects=False)
            try:
                assert response.status_code == 200, response.status_code
                Image.open(io.BytesIO(response.content)).load()
            except (AssertionError, OSError) as exc:
                problems.append(f"{url}: {exc}")
        return problems

    with ThreadPoolExecutor(8) as pool:
        problems = [p for found in pool.map(check, templates) for p in found]
    assert not problems, json.dumps(problems[:10], indent=1)
