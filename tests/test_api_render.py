"""POST /api/render: previews, exports, caching, errors, and Redis dying mid-session."""

from __future__ import annotations

import io
import threading
from typing import Any

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from api_fixtures import REAL_FONTS_DIR, NetworkGuard, RedisServer, make_client, upload
from glitchzap.io import encode_image, load_image
from glitchzap.pipeline import apply_effects
from glitchzap.runtime import current, restart
from glitchzap.settings import load_settings

pytest_plugins = ["api_fixtures"]

BLUR = {"effects": {"blur": {"radius": 6}}}


def render(api_client: Any, image_id: str, **body: Any) -> Any:
    return api_client.post("/api/render", json={"image_id": image_id, **body})


def decoded(response: Any) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"))


@pytest.mark.parametrize(("quality", "side"), [("fast", 300), ("balanced", 500), ("high", 512)])
def test_preview_sizes_and_jpeg(
    api_client: Any, api_astronaut_png: bytes, quality: str, side: int
) -> None:
    image_id = upload(api_client, api_astronaut_png)["image_id"]
    response = render(api_client, image_id, recipe=BLUR, quality=quality)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(response.content)).size == (side, side)


def test_previews_keep_alpha_as_webp(api_client: Any) -> None:
    rgba = np.dstack(
        [skdata.astronaut(), np.tile(np.linspace(0, 255, 512, dtype=np.uint8), (512, 1))]
    )
    image_id = upload(api_client, encode_image(rgba, "png"))["image_id"]
    response = render(api_client, image_id, recipe=BLUR, quality="fast")
    assert response.headers["content-type"] == "image/webp"
    preview = Image.open(io.BytesIO(response.content))
    assert preview.mode == "RGBA"
    alpha = np.asarray(preview)[..., 3].astype(int)
    assert alpha[:, 0].mean() < 10 and alpha[:, -1].mean() > 245  # the gradient survived
    explicit = render(api_client, image_id, recipe=BLUR, quality="fast", format="webp")
    assert explicit.content == response.content


def test_full_export_matches_the_library(api_client: Any, api_astronaut_png: bytes) -> None:
    """The API adds nothing to the pixels: full quality PNG == apply_effects on the original."""
    image_id = upload(api_client, api_astronaut_png)["image_id"]
    recipe = {"effects": {"noise": {"amount": 0.2}, "shake": {"offset": 5}}, "seed": 7}
    response = render(api_client, image_id, recipe=recipe, quality="full")
    assert response.headers["content-type"] == "image/png"
    expected = apply_effects(skdata.astronaut(), recipe["effects"], seed=7)
    np.testing.assert_array_equal(decoded(response), expected)


def test_effects_change_the_image_and_seed_is_reproducible(
    api_client: Any, api_astronaut_png: bytes
) -> None:
    image_id = upload(api_client, api_astronaut_png)["image_id"]
    plain = decoded(render(api_client, image_id, quality="fast", format="png"))
    noisy = {"effects": {"noise": 0.3}, "seed": 1}
    first = decoded(render(api_client, image_id, recipe=noisy, quality="fast", format="png"))
    current().cache("renders").clear()
    again = decoded(render(api_client, image_id, recipe=noisy, quality="fast", format="png"))
    other = decoded(
        render(api_client, image_id, recipe={**noisy, "seed": 2}, quality="fast", format="png")
    )
    assert np.abs(first.astype(int) - plain).mean() > 5
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)


def test_repeat_is_a_cache_hit_and_equivalent_recipes_share_it(
    api_client: Any, api_astronaut_png: bytes
) -> None:
    image_id = upload(api_client, api_astronaut_png)["image_id"]
    first = render(api_client, image_id, recipe={"effects": {"blur": 4}})
    assert first.headers["x-cache"] == "miss"
    # The same blur spelled out, with a no-op effect added: same canonical recipe.
    same = render(api_client, image_id, recipe={"effects": {"noise": 0, "blur": {"radius": 4.0}}})
    assert same.headers["x-cache"] == "hit"
    assert same.content == first.content
    other_format = render(api_client, image_id, recipe={"effects": {"blur": 4}}, format="webp")
    assert other_format.headers["x-cache"] == "miss"
    assert other_format.headers["content-type"] == "image/webp"


def spy_threads(monkeypatch: pytest.MonkeyPatch, cls: Any, *names: str) -> list[str]:
    """The names of the threads that call `cls`'s methods `names`, in order."""
    threads: list[str] = []
    for name in names:
        original = getattr(cls, name)

        def spy(self: Any, *args: Any, _original: Any = original) -> Any:
            threads.append(threading.current_thread().name)
            return _original(self, *args)

        monkeypatch.setattr(cls, name, spy)
    return threads


def test_a_result_kept_on_disk_only_is_a_hit_read_off_the_event_loop(
    api_client: Any, api_astronaut_png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event loop reads only the in-process tier: the disk tier is read on the pool
    thread that would have rendered, and written by the cache's writer thread after the
    answer, so a slow disk never stalls other requests."""
    from glitchzap.cache.disk import DiskCache

    reads = spy_threads(monkeypatch, DiskCache, "_get")
    writes = spy_threads(monkeypatch, DiskCache, "set_many")
    image_id = upload(api_client, api_astronaut_png)["image_id"]
    writes.clear()  # the upload itself is written before its answer: others may ask for it
    recipe = {"effects": {"blur": 3}, "seed": 7}
    first = render(api_client, image_id, recipe=recipe)
    assert first.headers["x-cache"] == "miss"
    current().flush_caches()
    assert writes and set(writes) == {"glitchzap-cache-writer"}, writes
    current().cache("renders").memory.clear()  # type: ignore[attr-defined]
    reads.clear()
    again = render(api_client, image_id, recipe=recipe)
    assert again.headers["x-cache"] == "hit" and again.content == first.content
    assert reads and all(name.startswith("glitchzap-cpu") for name in reads), reads


def test_light_previews_are_made_on_the_event_loop_when_inline(
    tmp_path: Any, api_astronaut_png: bytes, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`server.inline_previews` (on by default with a worker process per core): a still
    preview made from its preview-sized pixels in memory is rendered by the event loop
    itself; the first preview of an upload (decoding the original) and a full-quality render
    still go to the pool. The answers are the same bytes either way."""
    from glitchzap.api.routes import render as render_route

    threads: list[str] = []
    original = render_route.render_bytes

    def spy(*args: Any, **kwargs: Any) -> bytes:
        threads.append(threading.current_thread().name)
        return original(*args, **kwargs)

    monkeypatch.setattr(render_route, "render_bytes", spy)
    answers = {}
    for inline in (True, False):
        settings = load_settings(
            None,
            data_dir=tmp_path / str(inline),
            fonts={"dir": REAL_FONTS_DIR},
            models={"auto_fetch": False},
            server={"inline_previews": inline},
        )
        threads.clear()
        with make_client(settings) as client:
            image_id = upload(client, api_astronaut_png)["image_id"]
            for seed, quality in ((1, "balanced"), (2, "balanced"), (3, "full")):
                body = {"recipe": {"effects": {"noise": 0.2}, "seed": seed}, "quality": quality}
                answer = render(client, image_id, **body)
                assert answer.status_code == 200
                answers[(inline, seed)] = answer.content
            inlined = client.app.state.api.pool.inlined
        pooled = [name.startswith("glitchzap-cpu") for name in threads]
        assert pooled == ([True, False, True] if inline else [True, True, True]), threads
        assert inlined == (1 if inline else 0)
    assert all(answers[(True, seed)] == answers[(False, seed)] for seed in (1, 2, 3))


def test_light_jobs_run_inline_by_default_with_a_worker_process_per_core() -> None:
    from glitchzap.api.deps import inline_light_jobs
    from glitchzap.background.base import usable_cores

    cores = usable_cores()
    assert inline_light_jobs(load_settings(None, server={"workers": cores}))
    assert not inline_light_jobs(
        load_settings(None, server={"workers": cores, "inline_previews": False})
    )
    assert not inline_light_jobs(
        load_settings(None, server={"workers": cores}, cache={"backend": "redis"})
    )  # a shared tier over the network is not read on the loop
    if cores > 1:
        assert not inline_light_jobs(load_settings(None, server={"workers": 1}))
        assert inline_light_jobs(
            load_settings(None, server={"workers": 1, "inline_previews": True})
        )


def test_render_by_url_refuses_private_addresses(api_client: Any, net_guard: NetworkGuard) -> None:
    response = api_client.post(
        "/api/render", json={"url": "http://10.0.0.7/cat.png", "recipe": BLUR}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "url_refused"
    assert net_guard.connects == []


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"image_id": "0" * 40}, 404, "not_found"),
        ({}, 422, "invalid_parameters"),
        ({"image_id": "0" * 40, "url": "http://example.com/"}, 422, "invalid_parameters"),
        ({"image_id": "xyz"}, 422, "invalid_parameters"),
        ({"image_id": "0" * 40, "quality": "ultra"}, 422, "invalid_parameters"),
        ({"image_id": "0" * 40, "format": "bmp"}, 422, "invalid_parameters"),
        ({"image_id": "0" * 40, "recipe": {"effects": {"zap": 1}}}, 422, "unknown_effect"),
        ({"image_id": "0" * 40, "recipe": {"effects": {"blur": -1}}}, 422, "invalid_parameters"),
        ({"image_id": "0" * 40, "recipe": {"effects": {"blur": "x"}}}, 422, "invalid_parameters"),
        ({"image_id": "0" * 40, "recipe": {"extra": 1}}, 422, "invalid_parameters"),
    ],
)
def test_errors(api_client: Any, body: dict[str, Any], status: int, code: str) -> None:
    response = api_client.post("/api/render", json=body)
    assert response.status_code == status, response.text
    assert response.json()["error"] == code
    assert response.json()["message"]


@pytest.fixture
def model_client(tmp_path: Any) -> Any:
    """An API whose settings point at the real models dir (`make install` fetched them)."""

    models_dir = current().settings.models_dir
    if not (models_dir / "u2netp.onnx").is_file():
        pytest.skip(f"u2netp.onnx not in {models_dir}: run make install")
    settings = load_settings(None, data_dir=tmp_path, models={"dir": models_dir})
    with make_client(settings) as api:
        yield api


@pytest.mark.slow
def test_foreground_target_blurs_only_the_subject(
    model_client: Any, api_astronaut_png: bytes
) -> None:
    from glitchzap.background import foreground_mask

    image_id = upload(model_client, api_astronaut_png)["image_id"]
    plain = decoded(render(model_client, image_id, quality="full", format="png"))
    recipe = {"effects": {"blur": 8}, "target": "foreground"}
    fg = decoded(render(model_client, image_id, recipe=recipe, quality="full", format="png"))
    mask = foreground_mask(skdata.astronaut(), runtime=current())
    changed = np.abs(fg.astype(int) - plain).sum(axis=2) > 0
    assert changed[mask > 0.9].mean() > 0.5  # the subject is blurred
    assert changed[mask < 0.01].mean() < 0.01  # the background is not touched
    bg = decoded(
        render(
            model_client,
            image_id,
            recipe={**recipe, "target": "background"},
            quality="full",
            format="png",
        )
    )
    changed_bg = np.abs(bg.astype(int) - plain).sum(axis=2) > 0
    assert changed_bg[mask < 0.01].mean() > 0.5
    assert changed_bg[mask > 0.99].mean() < 0.01


@pytest.mark.slow
def test_background_remove_preview_keeps_alpha(model_client: Any, api_astronaut_png: bytes) -> None:
    image_id = upload(model_client, api_astronaut_png)["image_id"]
    recipe = {"effects": {"noise": 0.1}, "background": {"remove": True}}
    response = render(model_client, image_id, recipe=recipe, quality="fast")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/webp"
    alpha = np.asarray(Image.open(io.BytesIO(response.content)).convert("RGBA"))[..., 3]
    assert (alpha < 10).mean() > 0.1 and (alpha > 245).mean() > 0.1
    colored = render(
        model_client,
        image_id,
        quality="fast",
        format="png",
        recipe={"background": {"remove": True, "color": [0, 255, 0, 255]}},
    )
    pixels = np.asarray(Image.open(io.BytesIO(colored.content)).convert("RGB")).astype(int)
    green = (pixels[..., 1] > 200) & (pixels[..., 0] < 60) & (pixels[..., 2] < 60)
    assert green.mean() > 0.1


def test_missing_model_is_a_clear_503(api_client: Any, api_astronaut_png: bytes) -> None:
    """The API settings point at an empty models dir: the error names the fix."""

    restart()  # forget a session another test loaded from the real models dir
    image_id = upload(api_client, api_astronaut_png)["image_id"]
    response = render(api_client, image_id, recipe={"effects": {"blur": 3}, "target": "foreground"})
    assert response.status_code == 503
    assert response.json()["error"] == "model_not_available"


def test_image_store_survives_a_restart(api_settings: Any, api_astronaut_png: bytes) -> None:
    """Originals live in the disk cache, so a new app (new process) still knows the id."""

    with make_client(api_settings) as first:
        image_id = upload(first, api_astronaut_png)["image_id"]
    restart()
    with make_client(api_settings) as second:
        assert render(second, image_id, recipe=BLUR).status_code == 200


def test_redis_killed_mid_session_requests_still_succeed(
    tmp_path: Any, redis_server: RedisServer, api_astronaut_png: bytes
) -> None:
    import redis

    from glitchzap.settings import load_settings

    settings = load_settings(
        None, data_dir=tmp_path, cache={"backend": "redis", "redis_url": redis_server.url}
    )
    with make_client(settings) as api:
        image_id = upload(api, api_astronaut_png)["image_id"]
        assert render(api, image_id, recipe=BLUR).headers["x-cache"] == "miss"
        assert render(api, image_id, recipe=BLUR).headers["x-cache"] == "hit"
        runtime = api.app.state.api.runtime
        runtime.flush_caches()  # results reach Redis after the answer
        assert redis.Redis.from_url(redis_server.url).dbsize() >= 3  # original, info, render
        redis_server.stop()
        response = render(api, image_id, recipe={"effects": {"blur": 2}})
        assert response.status_code == 200
        assert response.headers["x-cache"] == "miss"
        assert render(api, image_id, recipe={"effects": {"blur": 3}}).status_code == 200
        other = load_image(api_astronaut_png)[::2, ::2]
        assert upload(api, encode_image(other, "png"))["width"] == other.shape[1]
        runtime.flush_caches()
        caches = {c["name"]: c for c in api.get("/api/performance").json()["caches"]}
        assert caches["renders"]["lower_available"] == 0
