"""The web studio in a real headless Chromium against a real uvicorn server on loopback.

Screenshots of each scenario go to tests/artifacts/ (git-ignored). A scenario whose API route
is not served fails with the route named.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import re
from pathlib import Path
from typing import Any

import cv2
import httpx
import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from glitchzap.io import encode_image, load_image
from glitchzap.runtime import current
from meme_cases import GENERATED, MemeSample
from web_fixtures import LiveServer, StudioPage, build_studio_app, open_studio, start_server

pytest_plugins = ["web_fixtures"]

WEB_DIR = Path(__file__).resolve().parents[1] / "src" / "glitchzap" / "web"
TIMEOUT_MS = 30_000
MODEL_TIMEOUT_MS = 120_000  # first background removal or OCR loads a model on 2 busy cores


# --- helpers ----------------------------------------------------------------------------------


def write_image(tmp_path: Path, image: np.ndarray, name: str) -> Path:
    path = tmp_path / name
    path.write_bytes(encode_image(image, "png"))
    return path


def upload(studio: StudioPage, path: Path) -> None:
    studio.page.set_input_files("#file-input", str(path))


def wait_for_preview(studio: StudioPage, count: int, timeout: int = TIMEOUT_MS) -> None:
    """Wait until `count` previews have been painted since the page loaded."""
    studio.page.wait_for_function(
        f"() => (window.__painted || 0) >= {count}", timeout=timeout, polling=50
    )


def count_previews(studio: StudioPage) -> None:
    studio.page.evaluate(
        "document.addEventListener('preview-painted', () => {"
        " window.__painted = (window.__painted || 0) + 1; })"
    )


def image_pixels(studio: StudioPage, selector: str) -> np.ndarray:
    """The pixels an <img> shows, at its natural size, read back through a canvas."""
    data_url = studio.page.eval_on_selector(
        selector,
        """img => { const c = document.createElement('canvas');
            c.width = img.naturalWidth; c.height = img.naturalHeight;
            c.getContext('2d').drawImage(img, 0, 0); return c.toDataURL('image/png'); }""",
    )
    return load_image(base64.b64decode(data_url.split(",", 1)[1]))[..., :3]


def sharpness(image: np.ndarray) -> float:
    """Variance of the Laplacian: high for crisp detail, low once blurred."""
    gray = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
    return float(cv2.Laplacian(gray, cv2.CV_64F).var())


def served_paths(server: LiveServer) -> set[str]:
    return set(httpx.get(f"{server.url}/openapi.json", timeout=10).json()["paths"])


def require_routes(server: LiveServer, *routes: str) -> None:
    """Fail (never skip) when the API does not serve one of `routes`."""
    missing = [r for r in routes if r not in served_paths(server)]
    assert not missing, f"the API does not serve {', '.join(missing)}"


def assert_no_page_errors(studio: StudioPage) -> None:
    assert studio.errors == [], studio.errors


# --- static serving (no browser) ----------------------------------------------------------------


@pytest.fixture
def http(studio_settings: Any) -> Any:
    from fastapi.testclient import TestClient

    with TestClient(build_studio_app()) as client:
        yield client


def test_index_is_served_with_versioned_modules_and_a_strict_csp(http: Any) -> None:
    page = http.get("/")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-cache"
    csp = page.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "script-src 'self' 'sha256-" in csp
    versioned = re.findall(r'"(/static/[\w.-]+\?v=[0-9a-f]{16})"', page.text)
    names = {v.split("?")[0].removeprefix("/static/") for v in versioned}
    assert {"app.js", "api.js", "glitch.js", "meme.js", "perf.js", "ui.js", "studio.css"} <= names
    import_map = re.search(r'<script type="importmap">(.*?)</script>', page.text, re.S)
    assert import_map is not None
    imports = json.loads(import_map.group(1))["imports"]
    assert imports["/static/api.js"].startswith("/static/api.js?v=")
    digest = base64.b64encode(hashlib.sha256(import_map.group(1).encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp  # the browser runs the import map, nothing else inline
    for url in versioned:
        response = http.get(url)
        assert response.status_code == 200, url
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"


def test_static_files_have_types_etags_and_no_way_out(http: Any) -> None:
    js = http.get("/static/app.js")
    assert js.headers["content-type"] == "text/javascript; charset=utf-8"
    assert js.headers["cache-control"] == "no-cache"
    assert http.get("/static/studio.css").headers["content-type"].startswith("text/css")
    again = http.get("/static/app.js", headers={"If-None-Match": js.headers["etag"]})
    assert again.status_code == 304 and again.content == b""
    for bad in ("/static/__init__.py", "/static/..%2f__init__.py", "/static/nope.js"):
        response = http.get(bad)
        assert response.status_code == 404, bad
        assert response.json()["error"] == "not_found"


def test_nothing_is_loaded_from_outside_the_server() -> None:
    for path in WEB_DIR.iterdir():
        if path.suffix not in {".html", ".js", ".css"}:
            continue
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"""(src|href)\s*=\s*["']?(https?:)?//""", text), path.name
        assert not re.search(r"""(import|from)\s*\(?\s*["'](https?:)?//""", text), path.name
        assert not re.search(r"url\(\s*[\"']?(https?:)?//", text), path.name


# --- glitch tab --------------------------------------------------------------------------------


def test_moving_a_slider_changes_the_preview(studio: StudioPage, tmp_path: Path) -> None:
    page = studio.page
    count_previews(studio)
    upload(studio, write_image(tmp_path, skdata.astronaut(), "astronaut.png"))
    wait_for_preview(studio, 1)
    first = image_pixels(studio, "#preview")
    assert max(first.shape[:2]) == 500  # balanced preview of a 512 px photo
    assert page.inner_text("#image-info") == "astronaut.png: 512 × 512 px"

    slider = page.locator("input[type=range][data-effect=blur][data-param=radius]")
    slider.focus()
    for _ in range(3):  # the keyboard moves a slider as well as a mouse does
        page.keyboard.press("PageUp")
    wait_for_preview(studio, 2)
    page.wait_for_function(
        "() => document.querySelector('#fx-blur-radius').value !== '0'"
        " && !document.querySelector('#progress').checkVisibility()",
    )
    radius = float(page.input_value("input[type=number][aria-label^='blur']"))
    assert radius > 0
    blurred = image_pixels(studio, "#preview")
    assert blurred.shape == first.shape
    assert sharpness(blurred) < 0.5 * sharpness(first)
    studio.screenshot("glitch-slider")

    page.click("#copy-recipe")
    page.wait_for_function("() => document.querySelector('#status').textContent.includes('copied')")
    recipe = json.loads(page.evaluate("() => navigator.clipboard.readText()"))
    assert recipe == {
        "effects": {"blur": {"radius": radius}},
        "target": "all",
        "seed": 0,
        "output": {"format": "png"},
    }
    from glitchzap.recipes import parse_recipe

    assert parse_recipe(recipe).effects  # the studio's recipe is one the CLI and API accept

    page.check("#compare")
    page.wait_for_function("() => document.querySelector('#before').naturalWidth > 0")
    before = image_pixels(studio, "#before")
    assert np.abs(before.astype(int) - first.astype(int)).mean() < 2  # the untouched preview
    studio.screenshot("glitch-compare")

    with page.expect_download() as download:
        page.click("#download")
    saved = Path(download.value.path())
    assert download.value.suggested_filename == "astronaut-glitch.png"
    assert load_image(saved).shape[:2] == (512, 512)  # full quality, not the preview
    assert_no_page_errors(studio)


def test_before_after_is_a_handle_dragged_on_the_picture(
    studio: StudioPage, tmp_path: Path
) -> None:
    """The comparison is split by a labelled handle on the picture: dragging on the picture
    moves it (the original left of it, the effects right of it), so do the arrow keys."""
    page = studio.page
    painted_recipes(studio)
    upload(studio, write_image(tmp_path, skdata.astronaut(), "astronaut.png"))
    last_recipe(studio, 1)
    page.fill("input[type=number][aria-label^='posterize']", "6")  # a look plain to see
    settled(studio, 2)
    page.check("#compare")
    page.wait_for_function("() => document.querySelector('#before').naturalWidth > 0")
    handle = page.locator("#split-handle")
    assert handle.is_visible() and handle.get_attribute("aria-valuenow") == "50"
    assert page.locator(".split-tag.before").inner_text() == "Before"
    assert page.locator(".split-tag.after").inner_text() == "After"
    box = page.locator("#preview-box").bounding_box()
    assert box
    y = box["y"] + box["height"] * 0.7
    page.mouse.move(box["x"] + box["width"] * 0.5, y)
    page.mouse.down()
    for step in range(1, 6):  # dragged on the picture, not on a separate slider
        page.mouse.move(box["x"] + box["width"] * (0.5 + 0.05 * step), y)
    page.mouse.up()
    assert int(handle.get_attribute("aria-valuenow") or 0) == 75
    shot = load_image(page.locator("#preview-box").screenshot(animations="disabled"))
    before, after = image_pixels(studio, "#before"), image_pixels(studio, "#preview")
    scale = shot.shape[1] / before.shape[1]
    row = int(0.85 * before.shape[0])
    for x, expected in ((0.2, before), (0.92, after)):  # below the tags, away from the handle
        seen = shot[int(row * scale), int(x * shot.shape[1])].astype(int)
        pixel = expected[row, int(x * expected.shape[1])].astype(int)
        other = (after if expected is before else before)[row, int(x * expected.shape[1])]
        assert np.abs(seen - pixel).sum() < np.abs(seen - other.astype(int)).sum() + 1, x
    handle.focus()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("Shift+ArrowLeft")
    assert handle.get_attribute("aria-valuenow") == "63"
    page.evaluate("window.scrollTo(0, 0)")
    studio.screenshot("studio-before-after")
    assert_no_page_errors(studio)


def test_small_pictures_fit_the_stage_and_1_1_shows_their_pixels(
    studio: StudioPage, tmp_path: Path
) -> None:
    page = studio.page
    painted_recipes(studio)
    small = cv2.resize(skdata.chelsea(), (150, 100), interpolation=cv2.INTER_AREA)
    upload(studio, write_image(tmp_path, small, "small.png"))
    last_recipe(studio, 1)
    stage = page.locator("#stage").bounding_box()
    shown = page.locator("#preview").bounding_box()
    assert stage and shown
    assert shown["width"] >= 0.9 * stage["width"] - 4, (shown, stage)  # grown to the stage
    page.click("label:has(input[name=zoom][value=actual])")
    shown = page.locator("#preview").bounding_box()
    assert shown and shown["width"] == pytest.approx(150, abs=1)  # its own pixels
    studio.screenshot("studio-zoom-actual")
    assert_no_page_errors(studio)


def test_the_newest_slider_value_wins(studio: StudioPage, tmp_path: Path) -> None:
    page = studio.page
    count_previews(studio)
    upload(studio, write_image(tmp_path, skdata.coffee(), "coffee.png"))
    wait_for_preview(studio, 1)
    painted_recipes(studio)
    page.evaluate(  # a drag: an input event every 25 ms, previews still in flight
        """() => new Promise((done) => { const s = document.querySelector('#fx-motion-length');
        let p = 100; const step = () => { s.value = String(p);
            s.dispatchEvent(new Event('input', { bubbles: true }));
            p += 50; if (p <= 800) setTimeout(step, 25); else done(); }; step(); })"""
    )
    final = float(page.input_value("input[type=number][aria-label^='motion Length']"))
    page.wait_for_function(
        f"() => window.__recipes.some(r => r.effects.motion?.length === {final})",
        timeout=TIMEOUT_MS,
    )
    page.wait_for_timeout(500)  # an older answer arriving late must not repaint
    lengths = [r["effects"]["motion"]["length"] for r in page.evaluate("() => window.__recipes")]
    assert lengths[-1] == final
    assert lengths == sorted(lengths)  # an older answer never replaced a newer one
    assert_no_page_errors(studio)


def test_an_api_error_is_shown_as_its_message(studio: StudioPage, tmp_path: Path) -> None:
    bogus = tmp_path / "notes.png"
    bogus.write_bytes(b"this is not a picture at all")
    upload(studio, bogus)
    alert = studio.page.locator("#error")
    alert.wait_for(state="visible", timeout=TIMEOUT_MS)
    message = studio.page.inner_text("#error-text")
    assert "image" in message.lower() and "http" not in message.lower(), message
    studio.screenshot("error-unreadable")
    studio.page.click("#error-close")
    assert alert.is_hidden()


def test_drop_and_paste_upload_the_image(studio: StudioPage, tmp_path: Path) -> None:
    page = studio.page
    png = base64.b64encode(encode_image(skdata.chelsea(), "png")).decode()
    make_transfer = f"""() => {{
        const bytes = Uint8Array.from(atob('{png}'), c => c.charCodeAt(0));
        const transfer = new DataTransfer();
        transfer.items.add(new File([bytes], 'chelsea.png', {{ type: 'image/png' }}));
        return transfer; }}"""
    transfer = page.evaluate_handle(make_transfer)
    page.dispatch_event("#dropzone", "drop", {"dataTransfer": transfer})
    page.wait_for_function("() => document.querySelector('#image-info').textContent !== ''")
    assert page.inner_text("#image-info") == "chelsea.png: 451 × 300 px"

    page.evaluate("() => { document.querySelector('#image-info').textContent = ''; }")
    page.evaluate(
        """(transfer) => document.dispatchEvent(
            new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true }))""",
        transfer,
    )
    page.wait_for_function("() => document.querySelector('#image-info').textContent !== ''")
    assert page.inner_text("#image-info") == "chelsea.png: 451 × 300 px"
    assert_no_page_errors(studio)


def test_the_upload_box_states_the_limits_and_refuses_a_file_over_them(
    browser: Any, studio_settings: Any, tmp_path: Path
) -> None:
    """The limits are said in words before anything is sent; a file over them gets a plain
    sentence naming both sizes, and is never uploaded."""
    from glitchzap.runtime import configure, restart

    limits = {**studio_settings.limits.model_dump(), "max_bytes": 200_000}
    configure(None, **{**studio_settings.model_dump(), "limits": limits})
    restart()
    server = start_server(build_studio_app())
    context, studio = open_studio(browser, server.url)
    try:
        page = studio.page
        page.wait_for_function("() => document.querySelector('#dropzone-limits').textContent")
        said = page.inner_text("#dropzone-help")
        assert "files up to 0.2 MB and 50 megapixels, animations up to 1,000 frames" in said
        sent = record_requests(studio, "**/api/images")
        upload(studio, write_image(tmp_path, skdata.astronaut(), "big photo.png"))
        page.wait_for_selector("#error:not([hidden])")
        message = page.inner_text("#error-text")
        assert re.fullmatch(
            r"big photo\.png is 0\.\d MB: the studio takes files up to 0\.2 MB\. .*", message
        ), message
        studio.screenshot("studio-file-too-large")
        assert sent == []  # refused before any byte was sent
        assert_no_page_errors(studio)
    finally:
        context.close()
        server.stop()


def test_a_refused_url_says_why(studio: StudioPage) -> None:
    page = studio.page
    page.fill("#url-input", "http://127.0.0.1:9/secret.png")
    page.keyboard.press("Enter")
    page.locator("#error").wait_for(state="visible", timeout=TIMEOUT_MS)
    message = page.inner_text("#error-text")
    assert "127.0.0.1" in message or "loopback" in message.lower() or "refus" in message.lower()
    assert page.inner_text("#image-info") == ""


@pytest.mark.slow
def test_background_target_shows_progress_and_keeps_the_subject(
    studio: StudioPage, tmp_path: Path
) -> None:
    from glitchzap.background import foreground_mask

    page = studio.page
    count_previews(studio)
    upload(studio, write_image(tmp_path, skdata.astronaut(), "astronaut.png"))
    wait_for_preview(studio, 1)
    original = image_pixels(studio, "#preview")
    page.fill("input[type=number][aria-label^='blur']", "12")
    wait_for_preview(studio, 2)
    page.click("label:has(input[name=target][value=background])")  # first use: loads the model
    page.locator("#progress").wait_for(state="visible", timeout=5_000)
    studio.screenshot("glitch-background-progress")
    page.wait_for_function(
        "() => (window.__painted || 0) >= 3 || !document.querySelector('#error').hidden",
        timeout=MODEL_TIMEOUT_MS,
    )
    refusal = page.inner_text("#error-text") if page.is_visible("#error") else ""
    assert not refusal, refusal  # POST /api/render serves target background: a refusal fails
    result = image_pixels(studio, "#preview")

    mask = foreground_mask(original, runtime=current())  # float 0-1, 1 = subject
    subject = cv2.erode((mask > 0.98).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    background = cv2.erode((mask < 0.02).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    diff = np.abs(result.astype(int) - original.astype(int)).mean(axis=2)
    assert subject.sum() > 1000 and background.sum() > 1000
    assert diff[subject].mean() < 3, "the subject changed"
    assert diff[background].mean() > 3 * max(diff[subject].mean(), 1), "the background did not"
    studio.screenshot("glitch-background")
    assert_no_page_errors(studio)


@pytest.mark.slow
def test_the_subject_finder_mode_is_the_same_for_preview_and_download(
    studio: StudioPage, tmp_path: Path
) -> None:
    """Choosing "Best" under "Finding the subject" sends that mode with the preview and with
    the download, and the downloaded file keeps the subject the best mode found."""
    from glitchzap.background import foreground_mask

    if not (current().settings.models_dir / "isnet-imgly.onnx").is_file():
        pytest.skip("isnet-imgly missing: run `glitchzap models fetch isnet-imgly` (needs npm)")
    page = studio.page
    count_previews(studio)
    photo = skdata.astronaut()
    upload(studio, write_image(tmp_path, photo, "astronaut.png"))
    wait_for_preview(studio, 1)
    page.fill("input[type=number][aria-label^='blur']", "12")
    wait_for_preview(studio, 2)
    seen = record_renders(studio)
    page.evaluate(
        "document.addEventListener('preview-painted', (e) => { if "
        "(e.detail.recipe.background?.quality === 'best') window.__best = true; })"
    )
    page.click("label:has(input[name=target][value=background])")
    assert page.is_visible("#mask-quality-field")
    page.select_option("#mask-quality", "best")
    page.wait_for_function(
        "() => window.__best || !document.querySelector('#error').hidden",
        timeout=MODEL_TIMEOUT_MS,
    )
    assert page.is_hidden("#error"), page.inner_text("#error-text")
    previews = [body for body, _ in seen if body.get("quality") != "full"]
    assert previews[-1]["recipe"]["background"] == {"quality": "best"}
    with page.expect_download(timeout=MODEL_TIMEOUT_MS) as download:
        page.click("#download")
    exported = [body for body, _ in seen if body.get("quality") == "full"]
    assert exported and exported[-1]["recipe"]["background"] == {"quality": "best"}
    result = load_image(Path(download.value.path()))[..., :3]
    mask = foreground_mask(photo, runtime=current(), quality="best")
    subject = cv2.erode((mask > 0.98).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0
    diff = np.abs(result.astype(int) - photo.astype(int)).mean(axis=2)
    assert subject.sum() > 1000 and diff[subject].mean() < 3  # the best mode's subject kept
    assert_no_page_errors(studio)


def test_the_cut_out_downloads_the_subject_alone_from_the_chosen_mode(
    studio: StudioPage, tmp_path: Path
) -> None:
    """remove.bg's first button: the subject alone on transparency (RGBA, the library's own
    cut-out for the mode picked under "Finding the subject"), or on a colour, cropped."""
    from glitchzap.background import remove_background

    page = studio.page
    count_previews(studio)
    photo = skdata.astronaut()
    upload(studio, write_image(tmp_path, photo, "my astronaut.png"))
    wait_for_preview(studio, 1)
    assert page.is_visible("#mask-quality-field")  # the mode also serves the cut-out
    assert "Fast" in page.inner_text("#cutout-mode")
    sent = record_requests(studio, "**/api/remove-background")
    with page.expect_download(timeout=MODEL_TIMEOUT_MS) as transparent:
        page.click("#cutout-download")
    assert transparent.value.suggested_filename == "my-astronaut-cutout.png"
    with Image.open(transparent.value.path()) as picture:
        assert picture.mode == "RGBA" and picture.size == (512, 512)
        cut = np.asarray(picture)
    alpha = cut[..., 3].astype(int)
    assert (alpha == 0).mean() > 0.2 and (alpha == 255).mean() > 0.2  # subject and no backdrop
    library = remove_background(photo, runtime=current(), quality="fast")
    assert np.abs(alpha - library[..., 3].astype(int)).mean() < 1.0  # what the library cuts
    assert sent[-1][0]["quality"] == "fast" and sent[-1][0]["image_id"]

    page.click("label:has(input[name=cutout-backdrop][value=color])")
    page.fill("#cutout-color", "#00ff00")
    page.check("#cutout-crop")
    studio.screenshot("studio-cutout")
    with page.expect_download(timeout=MODEL_TIMEOUT_MS) as coloured:
        page.click("#cutout-download")
    body = sent[-1][0]
    assert body["background"] == [0, 255, 0] and body["crop"] is True
    with Image.open(coloured.value.path()) as picture:
        flat = np.asarray(picture.convert("RGB")).astype(int)
    assert flat.shape[0] < 512 or flat.shape[1] < 512  # cropped to the subject
    green = (flat[..., 1] > 200) & (flat[..., 0] < 60) & (flat[..., 2] < 60)
    assert 0.02 < green.mean() < 0.9  # the colour shows where the backdrop was
    assert_no_page_errors(studio)


def painted_recipes(studio: StudioPage) -> None:
    """Keep every painted preview's recipe in window.__recipes."""
    studio.page.evaluate(
        "window.__recipes = []; document.addEventListener('preview-painted', "
        "(e) => window.__recipes.push(e.detail.recipe))"
    )


def last_recipe(studio: StudioPage, count: int) -> dict[str, Any]:
    """The recipe of the `count`-th painted preview (waiting for it)."""
    studio.page.wait_for_function(
        f"() => window.__recipes.length >= {count}", timeout=TIMEOUT_MS, polling=50
    )
    recipes: list[dict[str, Any]] = studio.page.evaluate("window.__recipes")
    return recipes[count - 1]


def settled(studio: StudioPage, count: int) -> dict[str, Any]:
    """The recipe painted last once `count` previews are in and no other is on its way."""
    last_recipe(studio, count)
    seen = -1
    recipes: list[dict[str, Any]] = []
    while len(recipes) != seen:  # until half a second passes without another preview
        seen = len(recipes)
        studio.page.wait_for_timeout(500)
        recipes = studio.page.evaluate("window.__recipes")
    return recipes[-1]


def test_a_long_export_shows_progress_and_an_estimate(studio: StudioPage, tmp_path: Path) -> None:
    """A full-quality export of a 12 MP photo says at once what it does and about how long it
    takes (from the last preview's speed), with a bar that fills, until the file is saved."""
    page = studio.page
    painted_recipes(studio)
    big = cv2.resize(skdata.astronaut(), (4000, 3000), interpolation=cv2.INTER_CUBIC)
    upload(studio, write_image(tmp_path, big, "big.png"))
    last_recipe(studio, 1)
    page.fill("input[type=number][aria-label^='blur']", "20")
    settled(studio, 2)
    page.evaluate(
        "document.addEventListener('export-progress', (e) => { window.__export = e.detail; })"
    )
    with page.expect_download(timeout=MODEL_TIMEOUT_MS) as download:
        page.click("#download")
        page.wait_for_function("() => window.__export", timeout=TIMEOUT_MS)
        text = page.inner_text("#progress-text")
        assert re.search(r"full quality \(4000 × 3000 px\)… about [\d.]+ s", text), text
        assert page.is_visible("#progress .bar.determinate")
        studio.screenshot("studio-export-progress")
    assert page.evaluate("window.__export.estimate") > 0
    assert Image.open(download.value.path()).size == (4000, 3000)
    page.wait_for_selector("#progress", state="hidden")
    assert re.fullmatch(r"Downloaded \([\d.]+ s\)\.", page.inner_text("#status"))
    assert_no_page_errors(studio)


def test_a_refused_download_says_why_beside_the_button(studio: StudioPage, tmp_path: Path) -> None:
    """A download the server refuses (here a 413 routed in its place, the shape the API gives)
    says why in plain words beside the Download button, not in a banner far above it; the
    next download clears it."""
    page = studio.page
    count_previews(studio)
    upload(studio, write_image(tmp_path, skdata.astronaut(), "astronaut.png"))
    wait_for_preview(studio, 1)
    message = "This export needs about 5,000 MB; the server runs at most 1,024 MB at once"

    def refuse(route: Any) -> None:
        if json.loads(route.request.post_data or "{}").get("quality") == "full":
            body = json.dumps({"error": "image_too_large", "message": message})
            route.fulfill(status=413, content_type="application/json", body=body)
        else:
            route.continue_()

    page.route("**/api/render", refuse)
    page.click("#download")
    beside = page.locator("#download-error")
    beside.wait_for(state="visible", timeout=TIMEOUT_MS)
    assert beside.inner_text() == message and page.is_hidden("#error")
    button, note = page.locator("#download").bounding_box(), beside.bounding_box()
    assert button and note and 0 <= note["y"] - (button["y"] + button["height"]) < 60
    studio.screenshot("studio-download-refused")
    page.unroute("**/api/render")
    with page.expect_download():
        page.click("#download")
    assert beside.is_hidden()
    assert_no_page_errors(studio)


def test_an_effect_switched_on_starts_where_it_shows(studio: StudioPage, tmp_path: Path) -> None:
    """Each effect has a switch: on, its main setting starts 30 % along its slider (a size in
    px: of the picture's track), so the preview changes at once; off, its settings go back to
    their defaults. Moving a slider switches its effect on."""
    page = studio.page
    painted_recipes(studio)
    upload(studio, write_image(tmp_path, skdata.astronaut(), "astronaut.png"))
    last_recipe(studio, 1)
    page.check("input.effect-on[data-effect=blur]")
    start = settled(studio, 2)["effects"]
    assert start == {"blur": {"radius": 15.4}}  # 30 % of 10 % of 512 px
    page.check("input.effect-on[data-effect=channel_shift]")
    shifted = settled(studio, 3)["effects"]["channel_shift"]
    assert shifted == {"red_x": 15.4}  # a signed setting: 30 % of the way up from 0
    page.uncheck("input.effect-on[data-effect=blur]")
    assert "blur" not in settled(studio, 4)["effects"]
    sort = page.locator("#fx-pixel_sort-amount")
    sort.focus()
    page.keyboard.press("Shift+ArrowRight")
    assert page.is_checked("input.effect-on[data-effect=pixel_sort]")
    studio.screenshot("studio-effect-switches")
    assert_no_page_errors(studio)


def test_typed_values_out_of_range_are_clamped_with_a_note(
    studio: StudioPage, tmp_path: Path
) -> None:
    """A number typed outside a setting's range is used clamped (never sent to the server as
    is, so no raw validation banner), with a note beside the field saying so."""
    page = studio.page
    painted_recipes(studio)
    upload(studio, write_image(tmp_path, skdata.astronaut(), "astronaut.png"))
    last_recipe(studio, 1)
    box = page.locator("input[type=number][aria-label^='blur']")
    box.fill("9999")
    note = page.locator("#fx-blur-radius-note")
    note.wait_for(state="visible")
    assert note.inner_text() == "From 0 to 250 px: using 250"
    assert settled(studio, 2)["effects"]["blur"] == {"radius": 250}
    box.press("Tab")
    assert box.input_value() == "250"
    assert page.is_hidden("#error")  # no "Input should be less than or equal to" banner
    studio.screenshot("studio-clamped-value")
    box.fill("-5")
    assert note.inner_text() == "From 0 to 250 px: using 0"
    page.locator("#fx-blur-radius").focus()
    page.keyboard.press("ArrowRight")
    assert note.is_hidden()  # the next change clears the note
    assert_no_page_errors(studio)


def test_arrow_keys_move_a_visible_step(studio: StudioPage, tmp_path: Path) -> None:
    """An arrow key moves 1 % of the track and always changes the value; Shift moves 10 %."""
    page = studio.page
    painted_recipes(studio)
    upload(studio, write_image(tmp_path, skdata.astronaut(), "astronaut.png"))
    last_recipe(studio, 1)
    blur = page.locator("#fx-blur-radius")
    blur_box = page.locator("input[type=number][aria-label^='blur']")
    blur.focus()
    page.keyboard.press("ArrowRight")  # 1 % of the track: 10 % of 512 px is 51.2 px, so 0.5
    first, position = float(blur_box.input_value()), int(blur.input_value())
    assert first == 0.5 and position == 10
    page.keyboard.press("Shift+ArrowRight")
    assert int(blur.input_value()) - position >= 90 and float(blur_box.input_value()) > first
    unit = page.locator("label[for=fx-blur-radius] .unit").inner_text()
    assert re.fullmatch(r"px \(\d+\.\d % of the picture\)", unit), unit
    page.keyboard.press("End")  # the track is the picture's: its end is 10 % of 512 px
    page.wait_for_function("() => document.querySelector('#fx-blur-radius').value === '1000'")
    assert float(blur_box.input_value()) == 51.2
    blur_box.fill("200")  # the box still takes the whole range
    assert blur.input_value() == "1000" and page.locator("#fx-blur-radius-note").is_hidden()
    posterize = page.locator("#fx-posterize-crush")  # 0..7: 1 % of the track is < 1 step
    posterize.focus()
    values = []
    for _ in range(3):
        page.keyboard.press("ArrowRight")
        values.append(
            int(page.locator("input[type=number][aria-label^='posterize']").input_value())
        )
    assert values == [1, 2, 3]
    page.keyboard.press("ArrowLeft")
    assert page.locator("input[type=number][aria-label^='posterize']").input_value() == "2"
    assert settled(studio, 2)["effects"]["posterize"] == {"crush": 2}
    assert_no_page_errors(studio)


def test_every_look_glitch_it_draws_renders(studio: StudioPage, tmp_path: Path) -> None:
    """The looks of 200 seeds, each rendered by the server as the studio would ask: none is
    refused (scan lines were once drawn thicker than their period: one look in ten got 422
    and the preview never came)."""
    photo = write_image(tmp_path, skdata.astronaut(), "astronaut.png").read_bytes()
    files = {"file": ("astronaut.png", photo, "image/png")}
    image_id = httpx.post(f"{studio.url}/api/images", files=files, timeout=30).json()["image_id"]
    refused = studio.page.evaluate(
        """async (image_id) => {
            const module = await import('/static/glitch.js');
            const schemas = await (await fetch('/api/effects')).json();
            const refused = [];
            for (let seed = 1; seed <= 200; seed++) {
                const effects = module.lookFromSeed(schemas, seed, 512);
                const body = { image_id, recipe: { effects, seed }, quality: "fast" };
                const answer = await fetch('/api/render', {
                    method: 'POST', headers: { 'Content-Type': 'application/json' },
                    body: JSON.stringify(body),
                });
                if (answer.status !== 200) refused.push([seed, await answer.text()]);
            }
            return refused;
        }""",
        image_id,
    )
    assert refused == []


def test_glitch_it_is_seeded_reproducible_and_undoable(studio: StudioPage, tmp_path: Path) -> None:
    """ "Glitch it" draws a new seed and the look that seed gives: the same look comes from
    the seed alone, undo brings the previous look back exactly and redo the next."""
    page = studio.page
    painted_recipes(studio)
    upload(studio, write_image(tmp_path, skdata.astronaut(), "astronaut.png"))
    last_recipe(studio, 1)
    assert page.is_disabled("#undo") and page.is_disabled("#redo")
    page.click("#glitch-it")
    first = settled(studio, 2)
    glitches = [name for name in first["effects"] if name != "noise"]
    assert 2 <= len(glitches) <= 3, first
    again = page.evaluate(
        """async ([seed, side]) => {
            const module = await import('/static/glitch.js');
            const schemas = await (await fetch('/api/effects')).json();
            return module.lookFromSeed(schemas, seed, side);
        }""",
        [first["seed"], 512],
    )
    assert again == first["effects"]  # the seed alone gives the look
    studio.screenshot("studio-glitch-it")
    count = len(page.evaluate("window.__recipes"))
    page.click("#glitch-it")
    second = settled(studio, count + 1)
    assert second["seed"] != first["seed"] and second["effects"] != first["effects"]
    count = len(page.evaluate("window.__recipes"))
    page.click("#undo")
    back = settled(studio, count + 1)
    assert (back["seed"], back["effects"]) == (first["seed"], first["effects"])
    count = len(page.evaluate("window.__recipes"))
    page.keyboard.press("Control+Shift+Z")
    forward = settled(studio, count + 1)
    assert (forward["seed"], forward["effects"]) == (second["seed"], second["effects"])
    count = len(page.evaluate("window.__recipes"))
    page.keyboard.press("Control+Z")
    page.keyboard.press("Control+Z")
    start = settled(studio, count + 1)
    assert start["effects"] == {} and page.is_disabled("#undo")
    assert_no_page_errors(studio)


# --- meme tab ----------------------------------------------------------------------------------


def open_meme_tab(studio: StudioPage) -> None:
    studio.page.click("#tab-meme")
    studio.page.locator("#panel-meme").wait_for(state="visible")


def pick_template(studio: StudioPage, query: str, name: str) -> None:
    """Search the gallery for `query`, wait for that search's answer (an earlier one may still
    be replacing the list), and open the template called `name`."""
    page = studio.page
    page.fill("#template-search", query)
    page.wait_for_function(
        "(q) => document.querySelector('#template-found').textContent.includes(`“${q}”`)", arg=query
    )
    page.click(f"#template-results button[title='{name}']")
    page.wait_for_function("() => document.querySelector('#meme-image').naturalWidth > 0")


def test_template_search_shows_thumbnails(studio: StudioPage) -> None:
    page = studio.page
    open_meme_tab(studio)
    page.fill("#template-search", "cat")
    page.wait_for_function(
        """() => { const imgs = [...document.querySelectorAll('#template-results img')];
            return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); }""",
        timeout=TIMEOUT_MS,
    )
    names = page.eval_on_selector_all("#template-results button", "bs => bs.map(b => b.title)")
    assert len(names) >= 2, names  # the sample has several cat templates
    assert any("cat" in n.lower() for n in names), names
    assert page.inner_text("#template-found") == f"{len(names)} templates match “cat”."
    studio.screenshot("meme-template-search")
    page.click("#template-results button >> nth=0")
    page.wait_for_function("() => document.querySelector('#meme-image').naturalWidth > 0")
    assert page.locator(".caption-box").count() >= 1
    assert page.is_hidden("#existing-text")  # a clean template has no text to erase
    # The template's captions use memegen's "thick" (the default font): the menu shows it.
    font = page.locator("#caption-font")
    assert font.evaluate("s => s.selectedIndex") >= 0 and font.input_value() == ""
    assert "Titillium Web Black" in font.evaluate("s => s.options[s.selectedIndex].text")
    first_box = "window.glitchzapMeme.captions[0].box"
    start = page.evaluate(f"() => ({{ ...{first_box} }})")
    page.focus(".caption-box >> nth=0")
    for _ in range(5):
        page.keyboard.press("ArrowDown")  # 1 % of the picture per press, kept inside it
    page.keyboard.press("Shift+ArrowLeft")
    moved = page.evaluate(f"() => ({{ ...{first_box} }})")
    expected_y = min(start["anchor_y"] + 0.05, 1 - start["scale_y"])
    assert moved["anchor_y"] == pytest.approx(expected_y, abs=1e-6)
    assert moved["scale_x"] == pytest.approx(start["scale_x"] - 0.01, abs=1e-6)
    studio.screenshot("meme-template-chosen")
    assert_no_page_errors(studio)


def test_the_whole_gallery_and_a_search_that_finds_nothing(
    studio: StudioPage, meme_sample: MemeSample
) -> None:
    """Every template of the library is in the gallery (thumbnails loaded lazily), the count
    is said, and a search without a result offers the person's own picture instead."""
    page = studio.page
    open_meme_tab(studio)
    page.wait_for_function("() => document.querySelectorAll('#template-results li').length > 0")
    shown = page.locator("#template-results button").count()
    library = len(current().templates.list_templates())
    assert shown == library >= len(meme_sample.folders), (shown, library)  # no first-N cap
    assert page.inner_text("#template-found") == f"All {library} templates."
    assert page.is_hidden("#existing-text")  # no picture yet: no text of its own to erase
    lazy = page.eval_on_selector_all("#template-results img", "i => i.map(x => x.loading)")
    assert set(lazy) == {"lazy"}
    page.fill("#template-search", "zzqxw")
    page.wait_for_selector("#use-own-picture")
    assert page.inner_text("#template-found").startswith("No template matches “zzqx")
    studio.screenshot("meme-search-nothing")
    with page.expect_file_chooser() as chooser:
        page.click("#use-own-picture")
    assert chooser.value.element.get_attribute("id") == "file-input"
    assert_no_page_errors(studio)


def test_the_gallery_puts_the_templates_used_most_first(
    studio: StudioPage, live_server: LiveServer, meme_sample: MemeSample
) -> None:
    """Opening a template counts as a use; the whole gallery lists the most used first."""
    page = studio.page
    open_meme_tab(studio)
    chosen = meme_sample.ids("generated")[-1]
    for _ in range(3):
        pick_template(studio, chosen, GENERATED[chosen].name)
        page.fill("#template-search", "")
    page.reload()
    page.wait_for_selector("body[data-effects-ready='true']")
    open_meme_tab(studio)
    page.wait_for_function("() => document.querySelectorAll('#template-results li').length > 0")
    shown = page.eval_on_selector_all("#template-results button", "bs => bs.map(b => b.title)")
    popular = httpx.get(f"{live_server.url}/api/templates", params={"order": "popular"}).json()
    assert shown == [t["name"] for t in popular["templates"]]
    by_id = httpx.get(f"{live_server.url}/api/templates").json()["templates"]
    assert shown != [t["name"] for t in by_id]  # not the alphabetical list
    assert GENERATED[chosen].name in shown[:4]  # opened three times: among the first
    assert_no_page_errors(studio)


def test_a_new_caption_goes_where_nothing_else_is(
    studio: StudioPage, meme_sample: MemeSample
) -> None:
    """A caption added goes in the band that overlaps the other captions least: with
    memegen's top and bottom captions, the middle; then a gap beside it."""
    page = studio.page
    open_meme_tab(studio)
    generated = meme_sample.ids("generated")[0]  # memegen's two bands, top and bottom
    pick_template(studio, generated, GENERATED[generated].name)
    boxes = "window.glitchzapMeme.captions.map(c => ({ ...c.box }))"
    before = page.evaluate(f"() => {boxes}")
    page.click("#add-caption")
    after = page.evaluate(f"() => {boxes}")
    assert len(after) == len(before) + 1
    new = after[-1]

    def overlap(a: dict[str, float], b: dict[str, float]) -> float:
        dx = min(a["anchor_x"] + a["scale_x"], b["anchor_x"] + b["scale_x"])
        dy = min(a["anchor_y"] + a["scale_y"], b["anchor_y"] + b["scale_y"])
        dx -= max(a["anchor_x"], b["anchor_x"])
        dy -= max(a["anchor_y"], b["anchor_y"])
        return max(0.0, dx) * max(0.0, dy)

    assert sum(overlap(new, old) for old in before) == pytest.approx(0.0, abs=1e-9), after
    page.click("#add-caption")
    newest = page.evaluate(f"() => {boxes}")[-1]
    assert overlap(newest, new) < 0.5 * new["scale_x"] * new["scale_y"]  # not on the last one
    assert_no_page_errors(studio)


def test_the_meme_editor_shows_what_downloads(studio: StudioPage, meme_sample: MemeSample) -> None:
    """Once editing pauses, the editor shows the server's own render of the captions (fonts,
    size, wrapping, mocking case, outline), so the picture on screen is the file that
    downloads; while typing, the page's text shows at once."""
    page = studio.page
    open_meme_tab(studio)
    generated = meme_sample.ids("generated")[0]
    pick_template(studio, generated, GENERATED[generated].name)
    page.evaluate(
        "window.__rendered = 0; document.addEventListener('meme-rendered', (e) => "
        "{ window.__rendered += 1; window.__body = e.detail.body; })"
    )
    page.click(".caption-box >> nth=0 >> .caption-text")
    page.keyboard.type("when the meme editor")
    assert "rendered" not in (page.get_attribute("#meme-canvas", "class") or "")  # typing
    page.click(".caption-box >> nth=1 >> .caption-text")
    page.keyboard.type("shows the real thing")
    page.select_option("#caption-style", "mock")
    page.wait_for_function(
        "() => window.__rendered > 0 && "
        "document.querySelector('#meme-canvas').classList.contains('rendered')",
        timeout=MODEL_TIMEOUT_MS,
    )
    body = page.evaluate("window.__body")
    assert body["captions"] == ["when the meme editor", "shows the real thing"]
    assert body["boxes"][1]["style"] == "mock"
    colour = page.eval_on_selector(".caption-text", "e => getComputedStyle(e).color")
    assert colour == "rgba(0, 0, 0, 0)"  # the page's text gives way to the server's drawing
    shown = image_pixels(studio, "#meme-rendered")
    studio.screenshot("meme-editor-is-the-download")
    with page.expect_download(timeout=MODEL_TIMEOUT_MS) as download:
        page.click("#meme-download")
    saved = load_image(Path(download.value.path()))[..., :3]
    assert saved.shape == shown.shape and np.array_equal(saved, shown)  # the very same picture
    page.click(".caption-box >> nth=0 >> .caption-text")
    page.keyboard.type("!")
    assert "rendered" not in (page.get_attribute("#meme-canvas", "class") or "")
    assert_no_page_errors(studio)


def captioned_meme(tmp_path: Path, meme_sample: MemeSample) -> Path:
    """A template of the sample with a caption drawn by glitchzap itself, saved as PNG."""
    from glitchzap.meme.compose import make_meme

    clean = meme_sample.picture("gen-rocket", 800)
    meme = make_meme(clean, ["THIS IS FINE TODAY"], erase="never", runtime=current())
    return write_image(tmp_path, meme, "captioned.png")


def require_meme_boxes(server: LiveServer, path: Path) -> None:
    """Fail unless POST /api/meme draws captions in boxes the page sends (dragged positions)."""
    stored = httpx.post(
        f"{server.url}/api/images", files={"file": ("m.png", path.read_bytes())}, timeout=30
    ).json()
    box = {"anchor_x": 0, "anchor_y": 0.4, "scale_x": 1, "scale_y": 0.2}
    answer = httpx.post(
        f"{server.url}/api/meme",
        timeout=120,
        json={"image_id": stored["image_id"], "captions": ["x"], "boxes": [box], "erase": "never"},
    )
    assert answer.status_code == 200, answer.text


def ocr_text(image: np.ndarray) -> str:
    from glitchzap.meme.ocr import find_text

    regions = find_text(image, current().settings.ocr).regions
    return " ".join(r.text for r in regions).upper()


@pytest.mark.slow
def test_meme_caption_typed_dragged_and_downloaded(
    studio: StudioPage, live_server: LiveServer, tmp_path: Path, meme_sample: MemeSample
) -> None:
    require_routes(live_server, "/api/ocr", "/api/meme")
    page = studio.page
    path = captioned_meme(tmp_path, meme_sample)
    require_meme_boxes(live_server, path)
    open_meme_tab(studio)
    upload(studio, path)
    page.wait_for_function(
        "() => Number(document.body.dataset.ocrDone) > 0", timeout=MODEL_TIMEOUT_MS
    )
    assert page.locator("#meme-regions polygon").count() >= 1
    assert "FINE" in page.inner_text("#ocr-info").upper()
    assert page.is_visible("#existing-text")  # an upload's own text: erase or keep it
    assert page.inner_text("#caption-color-value") == "#ffffff"  # the white swatch, said
    # The text found is offered as the starting caption, in a box where it stands.
    captions = page.evaluate(
        "window.glitchzapMeme.captions.map(c => ({ text: c.text, ...c.toTextBox() }))"
    )
    regions = page.evaluate("window.glitchzapMeme.regions")
    size = page.evaluate("[window.glitchzapMeme.source.width, window.glitchzapMeme.source.height]")
    assert len(captions) == 1 and "THIS IS FINE" in captions[0]["text"].upper(), captions
    ys = [y / size[1] for region in regions for _, y in region["box"]]
    box = captions[0]
    assert box["anchor_y"] <= min(ys) and max(ys) <= box["anchor_y"] + box["scale_y"]
    assert box["scale_y"] < 0.3  # around the caption, not the whole picture
    studio.screenshot("meme-regions")

    page.click(".caption-box >> nth=0 >> .caption-text")
    page.keyboard.press("Control+A")  # replace the caption found
    page.keyboard.type("GLITCH ZAP")
    handle = page.locator(".caption-box >> nth=0 >> .handle.move").bounding_box()
    canvas = page.locator("#meme-canvas").bounding_box()
    assert handle and canvas
    start_x, start_y = handle["x"] + handle["width"] / 2, handle["y"] + handle["height"] / 2
    page.mouse.move(start_x, start_y)
    page.mouse.down()
    target_y = canvas["y"] + canvas["height"] * 0.45
    for step in range(1, 11):  # a real drag: several moves, not a jump
        page.mouse.move(start_x, start_y + (target_y - start_y) * step / 10)
    page.mouse.up()
    box = page.evaluate("window.glitchzapMeme.captions[0].toTextBox()")
    assert 0.35 < box["anchor_y"] < 0.55
    studio.screenshot("meme-dragged")

    with page.expect_download(timeout=MODEL_TIMEOUT_MS) as download:
        page.click("#meme-download")
    meme = load_image(Path(download.value.path()))
    assert download.value.suggested_filename.endswith(".png")
    h = meme.shape[0]
    top, bottom = int(box["anchor_y"] * h), int((box["anchor_y"] + box["scale_y"]) * h)
    assert "GLITCHZAP" in ocr_text(meme[top:bottom]).replace(" ", "")  # where it was dragged
    assert "GLITCH" not in ocr_text(meme[: int(0.2 * h)])  # it moved away from the top band
    assert_no_page_errors(studio)


# --- performance panel and layout --------------------------------------------------------------


def test_performance_panel_shows_live_figures(studio: StudioPage, tmp_path: Path) -> None:
    page = studio.page
    count_previews(studio)
    upload(studio, write_image(tmp_path, skdata.coffee(), "coffee.png"))
    wait_for_preview(studio, 1)
    page.click("#tab-perf")
    page.wait_for_function(
        "() => Number(document.body.dataset.perfSamples) >= 2", timeout=TIMEOUT_MS
    )
    rss = page.inner_text("#perf-rss")
    assert re.fullmatch(r"[1-9][\d.]* (KB|MB|GB)", rss), rss
    rows = page.eval_on_selector_all(
        "#perf-ops tbody tr",
        "rows => rows.map(r => [...r.children].map(c => c.textContent))",
    )
    render = [r for r in rows if r[0] == "render"]
    assert render, rows
    assert int(render[0][1]) >= 1 and float(render[0][3]) > 0  # count and p50 ms
    assert page.locator("#chart-rss polyline").count() == 1
    assert page.locator("#chart-ops rect").count() >= 2
    assert page.locator("#chart-caches rect").count() >= 1
    studio.screenshot("performance")
    assert_no_page_errors(studio)


def test_phone_sized_window_has_no_sideways_scroll(browser: Any, live_server: LiveServer) -> None:
    context, phone = open_studio(browser, live_server.url)
    try:
        phone.page.set_viewport_size({"width": 390, "height": 844})
        width = phone.page.evaluate("document.documentElement.scrollWidth")
        assert width <= 390
        stage = phone.page.locator("#stage").bounding_box()
        controls = phone.page.locator("#glitch-controls").bounding_box()
        assert stage and controls and stage["y"] < controls["y"]  # picture first on a phone
        phone.screenshot("phone")
        phone.page.keyboard.press("Tab")  # the skip link is the first stop
        assert phone.page.evaluate("document.activeElement.className") == "skip-link"
    finally:
        context.close()


@pytest.mark.parametrize(
    ("name", "width", "height", "scale"),
    [("phone", 390, 844, 1), ("laptop-zoom-200", 640, 400, 2), ("laptop", 1280, 800, 1)],
)
def test_the_preview_stays_in_view_while_controls_move(
    browser: Any,
    live_server: LiveServer,
    tmp_path: Path,
    name: str,
    width: int,
    height: int,
    scale: int,
) -> None:
    """On a phone, at 200 % zoom (a 1280 px laptop is 640 CSS px wide) and on a laptop, a
    slider far down the controls moves with the whole picture still in view above it or
    beside it, and the slider itself is not hidden under the picture."""
    context, studio = open_studio(browser, live_server.url, device_scale_factor=scale)
    try:
        page = studio.page
        page.set_viewport_size({"width": width, "height": height})
        painted_recipes(studio)
        upload(studio, write_image(tmp_path, skdata.astronaut(), "astronaut.png"))
        last_recipe(studio, 1)
        slider = page.locator("#fx-vhs-strength")
        # Scroll as a person would: until the slider shows just below the picture (phone) or
        # in the middle of the window (laptop, the picture beside it).
        page.evaluate(
            """(el) => { const wrap = document.querySelector('#panel-glitch .stage-wrap');
                const below = Math.min(window.innerHeight / 2, wrap.offsetHeight + 30);
                window.scrollBy(0, el.getBoundingClientRect().top - below); }""",
            slider.element_handle(),
        )
        slider.focus()
        page.keyboard.press("Shift+ArrowRight")
        assert settled(studio, 2)["effects"]["vhs"]["strength"] > 0
        picture = page.locator("#preview").bounding_box()
        knob = slider.bounding_box()
        wrap = page.locator("#panel-glitch .stage-wrap").bounding_box()
        assert picture and knob and wrap
        assert picture["y"] >= -1 and picture["y"] + picture["height"] <= height + 1, picture
        assert picture["height"] >= 100  # still a picture, not a thumbnail
        assert knob["y"] >= 0 and knob["y"] + knob["height"] <= height, knob
        beside = knob["x"] + knob["width"] <= wrap["x"]  # the wide layout: side by side
        assert beside or knob["y"] >= wrap["y"] + wrap["height"] - 1, (knob, wrap)
        studio.screenshot(f"studio-sticky-{name}")
        assert_no_page_errors(studio)
    finally:
        context.close()


@pytest.mark.parametrize(("effect", "param"), [("pixel_sort", "amount"), ("slices", "count")])
def test_glitch_art_sliders_change_the_preview(
    studio: StudioPage, tmp_path: Path, effect: str, param: str
) -> None:
    """The glitch-art effects get their controls from the registry, and moving one re-renders."""
    page = studio.page
    count_previews(studio)
    upload(studio, write_image(tmp_path, skdata.astronaut(), "astronaut.png"))
    wait_for_preview(studio, 1)
    first = image_pixels(studio, "#preview")
    group = page.locator("details[data-category=glitch]")
    assert group.is_visible()
    slider = page.locator(f"input[type=range][data-effect={effect}][data-param={param}]")
    slider.focus()
    for _ in range(4):
        page.keyboard.press("PageUp")
    wait_for_preview(studio, 2)
    page.wait_for_function(
        f"() => document.querySelector('#fx-{effect}-{param}').value !== '0'"
        " && !document.querySelector('#progress').checkVisibility()",
    )
    moved = image_pixels(studio, "#preview")
    assert moved.shape == first.shape
    assert np.abs(moved.astype(int) - first.astype(int)).mean() > 1.0
    studio.screenshot(f"glitch-{effect}")
    assert_no_page_errors(studio)


def test_a_preset_sets_the_controls_and_the_preview(studio: StudioPage, tmp_path: Path) -> None:
    from glitchzap.presets import load_preset

    page = studio.page
    count_previews(studio)
    upload(studio, write_image(tmp_path, skdata.chelsea(), "chelsea.png"))
    wait_for_preview(studio, 1)
    first = image_pixels(studio, "#preview")
    page.select_option("#preset", "vhs")
    wait_for_preview(studio, 2)
    page.wait_for_function("() => !document.querySelector('#progress').checkVisibility()")
    effects = load_preset("vhs")["effects"]
    name, params = next(iter(effects.items()))
    param, value = next((k, v) for k, v in params.items() if not isinstance(v, bool | str))
    shown = page.eval_on_selector(
        f"#fx-{name}-{param}", "slider => slider.nextElementSibling.value"
    )
    assert float(shown) == pytest.approx(float(value), abs=0.05)
    glitched = image_pixels(studio, "#preview")
    assert np.abs(glitched.astype(int) - first.astype(int)).mean() > 1.0
    studio.screenshot("glitch-preset-vhs")
    assert_no_page_errors(studio)


# --- animation -------------------------------------------------------------------------------


def record_renders(studio: StudioPage) -> list[tuple[dict[str, Any], bytes]]:
    """(request body, answer bytes) of every /api/render the page makes from now on."""
    return record_requests(studio, "**/api/render")


def record_requests(studio: StudioPage, pattern: str) -> list[tuple[dict[str, Any], bytes]]:
    """(request body, answer bytes) of every request to `pattern` the page makes from now on,
    read as it passes (Chromium does not keep the body of a blob the page consumed)."""
    from playwright.sync_api import Error as PlaywrightError

    seen: list[tuple[dict[str, Any], bytes]] = []

    def record(route: Any) -> None:
        try:
            answer = route.fetch()
            body = answer.body()
            route.fulfill(response=answer)
        except PlaywrightError:  # the page aborted it: a newer preview took over
            return
        seen.append((json.loads(route.request.post_data or "{}"), body))

    studio.page.route(pattern, record)
    return seen


def animated_answer(studio: StudioPage, seen: list[tuple[dict[str, Any], bytes]]) -> Any:
    """The last recorded render whose recipe animates, once one has been painted."""
    studio.page.wait_for_function(
        "() => (window.__animated || 0) > 0", timeout=TIMEOUT_MS, polling=50
    )
    return next(item for item in reversed(seen) if "animation" in item[0]["recipe"])


def count_animated_previews(studio: StudioPage) -> None:
    studio.page.evaluate(
        "document.addEventListener('preview-painted', (e) => { if (e.detail.recipe.animation)"
        " window.__animated = (window.__animated || 0) + 1; })"
    )


def frames_of(data: bytes) -> tuple[str, int, list[int], tuple[int, int]]:
    """(format, frames, durations in ms, size) of an image file, read with Pillow."""
    from PIL import Image

    with Image.open(io.BytesIO(data)) as image:
        durations = []
        for index in range(getattr(image, "n_frames", 1)):
            image.seek(index)
            image.load()  # WebP reads a frame's duration as it decodes it
            durations.append(int(image.info.get("duration", 0)))
        return str(image.format), len(durations), durations, image.size


def test_animate_plays_a_glitch_loop_and_downloads_a_gif(
    studio: StudioPage, tmp_path: Path
) -> None:
    page = studio.page
    count_previews(studio)
    upload(studio, write_image(tmp_path, skdata.astronaut(), "astronaut.png"))
    wait_for_preview(studio, 1)
    slider = page.locator("input[type=range][data-effect=slices][data-param=count]")
    slider.focus()
    for _ in range(4):  # slices: each frame's seed cuts them elsewhere
        page.keyboard.press("PageUp")
    wait_for_preview(studio, 2)
    assert page.input_value("#download-format") == "png"
    seen = record_renders(studio)
    count_animated_previews(studio)
    page.check("#animate")
    request, answer = animated_answer(studio, seen)
    assert request["quality"] == "fast"
    assert request["recipe"]["animation"] == {"frames": 12, "fps": 12}
    assert request["recipe"]["effects"]["slices"]["count"] > 0
    fmt, frames, durations, size = frames_of(answer)
    assert (fmt, frames, size) == ("WEBP", 12, (300, 300))
    assert durations == [83] * 12  # 12 fps
    page.wait_for_function(
        "() => document.querySelector('#preview-meta').textContent.includes('12 frames')"
    )
    assert page.input_value("#download-format") == "gif"  # animations download as GIF
    assert page.is_disabled("#download-format option[value=jpeg]")
    studio.screenshot("glitch-animate")

    with page.expect_download(timeout=TIMEOUT_MS) as download:
        page.click("#download")
    assert download.value.suggested_filename == "astronaut-glitch.gif"
    fmt, frames, durations, size = frames_of(Path(download.value.path()).read_bytes())
    assert (fmt, frames, size) == ("GIF", 12, (512, 512))  # full quality, every frame
    assert durations == [80] * 12  # 83 ms in GIF's 10 ms steps

    page.check("#anim-ease")
    page.wait_for_function("() => window.__animated >= 2", timeout=TIMEOUT_MS, polling=50)
    request, answer = animated_answer(studio, seen)
    count = request["recipe"]["effects"]["slices"]["count"]
    assert request["recipe"]["animation"]["ease"] == {
        "slices.count": {"from": 0, "to": count, "curve": "there-and-back"}
    }
    assert frames_of(answer)[1] == 12
    page.fill("#anim-frames", "6")
    page.wait_for_function("() => window.__animated >= 3", timeout=TIMEOUT_MS, polling=50)
    request, answer = animated_answer(studio, seen)
    assert request["recipe"]["animation"]["frames"] == 6
    assert frames_of(answer)[1] == 6

    page.uncheck("#animate")
    assert page.input_value("#download-format") == "png"
    assert page.is_enabled("#download-format option[value=jpeg]")
    assert_no_page_errors(studio)


def test_an_animated_upload_previews_animated(studio: StudioPage, tmp_path: Path) -> None:
    from PIL import Image

    page = studio.page
    frames = [Image.fromarray(np.roll(skdata.chelsea(), 40 * i, axis=1)) for i in range(6)]
    path = tmp_path / "chelsea.gif"
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=70, loop=0)
    seen = record_renders(studio)
    count_animated_previews(studio)
    upload(studio, path)
    request, answer = animated_answer(studio, seen)
    assert request["quality"] == "fast"
    assert page.inner_text("#image-info") == "chelsea.gif: 451 × 300 px · 6 frames, 0.4 s"
    fmt, count, durations, size = frames_of(answer)
    assert (fmt, count, size) == ("WEBP", 6, (300, 200))
    assert durations == [70] * 6
    assert page.is_checked("#animate") and page.is_disabled("#animate")
    assert page.is_disabled("#anim-frames")  # the upload keeps its own frames and timing
    assert page.input_value("#download-format") == "gif"
    assert_no_page_errors(studio)


@pytest.mark.slow
def test_an_animated_upload_in_the_meme_tab_shows_its_text_erased_animated(
    studio: StudioPage, live_server: LiveServer, tmp_path: Path
) -> None:
    from glitchzap.io import encode_animation
    from meme_animations import captioned_on, panning
    from meme_animations import photo as skimage_photo

    require_routes(live_server, "/api/ocr", "/api/erase-text")
    page = studio.page
    clean = panning(skimage_photo("chelsea", 320), 10)
    burnt = captioned_on(clean, range(5), "burnt caption", current())
    path = tmp_path / "burnt.gif"
    path.write_bytes(encode_animation(burnt, "gif", quality=100))
    erased: list[tuple[dict[str, Any], int, bytes]] = []

    def record(route: Any) -> None:
        answer = route.fetch()
        body = answer.body()
        route.fulfill(response=answer)
        erased.append((json.loads(route.request.post_data or "{}"), answer.status, body))

    page.route("**/api/erase-text", record)
    open_meme_tab(studio)
    upload(studio, path)
    page.wait_for_function(
        "() => Number(document.body.dataset.ocrDone) > 0", timeout=MODEL_TIMEOUT_MS
    )
    assert "BURNT" in page.inner_text("#ocr-info").upper()
    (request, status, answer), *_ = erased
    assert (request["format"], status) == ("webp", 200)  # an animation cannot be a JPEG
    fmt, count, durations, _size = frames_of(answer)
    assert (fmt, count, durations) == ("WEBP", 10, list(clean.durations))
    assert page.is_hidden("#error")
    assert_no_page_errors(studio)


def test_meme_suggestion_is_honest(
    studio: StudioPage, live_server: LiveServer, tmp_path: Path, meme_sample: MemeSample
) -> None:
    """A picture of no known template is told so, with no button to use a wrong template; a
    captioned template is named, with the button."""
    require_routes(live_server, "/api/templates/match")
    page = studio.page
    open_meme_tab(studio)
    upload(studio, write_image(tmp_path, skdata.immunohistochemistry(), "other.png"))
    page.wait_for_function(
        "() => document.querySelector('#suggestion').dataset.verdict", timeout=MODEL_TIMEOUT_MS
    )
    assert page.inner_text("#suggestion").strip() == "No known template"
    assert page.locator("#suggestion button").count() == 0
    assert "looks like" not in page.inner_text("#suggestion")

    page.evaluate("delete document.querySelector('#suggestion').dataset.verdict")
    upload(studio, captioned_meme(tmp_path, meme_sample))
    page.wait_for_function(
        "() => ['probable', 'sure']"
        ".includes(document.querySelector('#suggestion').dataset.verdict)",
        timeout=MODEL_TIMEOUT_MS,
    )
    assert page.locator("#suggestion button").count() == 1
    studio.screenshot("meme-suggestion")
    assert_no_page_errors(studio)
