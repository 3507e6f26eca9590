"""POST /api/images (multipart and URL) and GET /api/images/{id}."""

from __future__ import annotations

from typing import Any

import numpy as np
from skimage import data as skdata

from api_fixtures import NetworkGuard, make_client, upload
from glitchzap.cache.keys import bytes_digest
from glitchzap.io import encode_image

pytest_plugins = ["api_fixtures"]


def test_upload_answers_digest_and_size(api_client: Any, api_chelsea_jpeg: bytes) -> None:
    body = upload(api_client, api_chelsea_jpeg, "cat.jpg")
    h, w = skdata.chelsea().shape[:2]
    assert body == {
        "image_id": bytes_digest(api_chelsea_jpeg),
        "width": w,
        "height": h,
        "frames": 1,
        "animated": False,
        "duration_ms": None,
    }
    assert api_client.get(f"/api/images/{body['image_id']}").json() == body


def test_same_bytes_same_id_different_bytes_other_id(
    api_client: Any, api_astronaut_png: bytes
) -> None:
    first = upload(api_client, api_astronaut_png)
    again = upload(api_client, api_astronaut_png)
    other = upload(api_client, encode_image(skdata.astronaut()[::2, ::2], "png"))
    assert first["image_id"] == again["image_id"] != other["image_id"]
    assert (other["width"], other["height"]) == (256, 256)


def test_not_an_image(api_client: Any) -> None:
    response = api_client.post(
        "/api/images", files={"file": ("x.png", b"GIF89a not really", "image/png")}
    )
    assert response.status_code == 400
    assert response.json()["error"] == "unreadable_image"


def test_empty_file(api_client: Any) -> None:
    response = api_client.post("/api/images", files={"file": ("x.png", b"", "image/png")})
    assert response.status_code == 400
    assert response.json()["error"] == "unreadable_image"


def test_missing_file_field(api_client: Any) -> None:
    response = api_client.post("/api/images", files={"image": ("x.png", b"abc", "image/png")})
    assert response.status_code == 422
    assert "file" in response.json()["message"]


def test_wrong_content_type(api_client: Any) -> None:
    response = api_client.post(
        "/api/images", content=b"raw", headers={"content-type": "text/plain"}
    )
    assert response.status_code == 415
    assert response.json()["error"] == "unsupported_format"


def test_bad_json(api_client: Any) -> None:
    for body in (b"{", b'{"url": 3}', b'{"href": "http://x"}', b"[]"):
        response = api_client.post(
            "/api/images", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, body
        assert response.json()["error"] == "invalid_parameters"


def test_too_many_pixels(tmp_path: Any) -> None:
    from glitchzap.settings import load_settings

    settings = load_settings(None, data_dir=tmp_path, limits={"max_pixels": 100 * 100})
    with make_client(settings) as small:
        image = encode_image(np.zeros((200, 200, 3), np.uint8), "png")
        response = small.post("/api/images", files={"file": ("x.png", image, "image/png")})
    assert response.status_code == 413
    assert response.json()["error"] == "image_too_large"


def test_unknown_and_malformed_ids(api_client: Any) -> None:
    assert api_client.get(f"/api/images/{'0' * 40}").status_code == 404
    response = api_client.get("/api/images/not-an-id")
    assert response.status_code == 422


def test_private_url_refused(api_client: Any, net_guard: NetworkGuard) -> None:
    for url in ("http://127.0.0.1:1/x.png", "http://169.254.169.254/", "file:///etc/passwd"):
        response = api_client.post("/api/images", json={"url": url})
        assert response.status_code == 400, url
        assert response.json()["error"] == "url_refused"
    assert net_guard.connects == []


def test_url_from_allowlisted_loopback(
    tmp_path: Any, net_guard: NetworkGuard, httpserver: Any, api_chelsea_jpeg: bytes
) -> None:
    from glitchzap.settings import load_settings

    httpserver.expect_request("/cat").respond_with_data(api_chelsea_jpeg, content_type="text/html")
    settings = load_settings(None, data_dir=tmp_path, server={"url_allowlist": ["127.0.0.1/32"]})
    with make_client(settings) as local:
        response = local.post("/api/images", json={"url": httpserver.url_for("/cat")})
        assert (
            response.status_code == 200
        )  # the lying Content-Type does not matter: content is sniffed
        assert response.json()["image_id"] == bytes_digest(api_chelsea_jpeg)
        httpserver.expect_request("/page").respond_with_data(
            b"<html>hi</html>", content_type="image/png"
        )
        response = local.post("/api/images", json={"url": httpserver.url_for("/page")})
        assert response.status_code == 400
        assert response.json()["error"] == "unreadable_image"


def test_unresolvable_host(api_client: Any, net_guard: NetworkGuard) -> None:
    response = api_client.post("/api/images", json={"url": "http://no-such-host.test/x.png"})
    assert response.status_code == 400
    assert response.json()["error"] == "url_fetch_failed"
