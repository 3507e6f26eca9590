"""Hostile ids on every route that takes one: a 4xx, never a 5xx or a traceback, and never a
lookup with a malformed id (ids are checked at the door, before a store or a file name).

Paths go to the app as uvicorn hands them over (percent-decoded once, `..` kept), not through
an HTTP client, which would drop dot segments before sending. memegen-compatible routes answer
memegen's 404; glitchzap's own `/api/...` routes answer 422 `invalid_parameters`.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote

import pytest
from starlette.convertors import PathConvertor

from api_fixtures import make_client
from glitchzap.api.schemas import IMAGE_ID_PATTERN
from glitchzap.api.store import ImageStore
from glitchzap.settings import Settings
from glitchzap.templates.store import ID_PATTERN, Store

pytest_plugins = ["api_fixtures"]

# As they appear in the request line (percent-encoded where a client would encode).
HOSTILE_IDS = {
    "300 chars": "a" * 300,
    "5000 chars": "a" * 5000,
    "unicode": "caf%C3%A9-%E2%98%95",
    "NUL": "%00",
    "NUL suffix": "ants%00",
    "newline suffix": "ants%0A",
    "dot-dot": "..",
    "encoded dot-dot slash": "%2e%2e%2f",
    "encoded traversal": "..%2F..%2Fetc%2Fpasswd",
    "backslash": "..%5C..%5Cwindows",
    "encoded slash": "a%2Fb",
    "upper case": "ANTS",
    "space": "an%20ts",
}
# Every route with a path parameter we know of, by path format: what a malformed id that
# reaches it answers. The walk below must find these (and checks any others it finds).
EXPECTED = {
    "/templates/{template_id}": (404, "not_found"),
    "/images/{path}": (404, None),  # memegen answers an image: the error picture
    "/api/templates/{template_id}": (422, "invalid_parameters"),
    "/api/images/{image_id}": (422, "invalid_parameters"),
    "/static/{name}": (404, "not_found"),
}
WELL_FORMED = re.compile(f"{ID_PATTERN.pattern}|{IMAGE_ID_PATTERN}")


def path_routes(app: Any) -> dict[str, dict[str, Any]]:
    """Path format -> its parameters' convertors, for every route of `app` that has any."""
    found: dict[str, dict[str, Any]] = {}
    pending = list(app.routes)
    while pending:
        route = pending.pop()
        nested = getattr(route, "effective_route_contexts", None)  # an included router
        if nested is not None:
            pending.extend(nested())
        elif getattr(route, "param_convertors", None):
            found[route.path_format] = dict(route.param_convertors)
    return found


def request_paths(path_format: str, convertors: dict[str, Any], hostile: str) -> list[str]:
    """Raw paths that put `hostile` in every parameter (with an image extension for paths)."""
    paths = [path_format]
    for name, convertor in convertors.items():
        # A memegen image path is <template>[/<lines>].<ext>: the template is its first segment.
        values = (
            [f"{hostile}.png", f"{hostile}/x.png"]
            if isinstance(convertor, PathConvertor)
            else [hostile]
        )
        paths = [p.replace(f"{{{name}}}", v) for p in paths for v in values]
    return paths


async def asgi_get(app: Any, raw_path: str) -> tuple[int, dict[str, str], bytes]:
    """(status, headers, body) of GET `raw_path`, with the scope uvicorn would build."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode("ascii"),
        "root_path": "",
        "query_string": b"",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
        "state": {},
    }
    sent: list[dict[str, Any]] = []
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if requested:
            return {"type": "http.disconnect"}
        requested = True
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = next(m for m in sent if m["type"] == "http.response.start")
    headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return start["status"], headers, body


@pytest.fixture
def lookups(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every id the template store or the image store is asked about."""
    seen: list[str] = []
    for cls, names in ((Store, ("get", "folder", "exists")), (ImageStore, ("info", "get"))):
        for name in names:
            original = getattr(cls, name)

            def spy(self: Any, item_id: str, *args: Any, _original: Any = original) -> Any:
                seen.append(item_id)
                return _original(self, item_id, *args)

            monkeypatch.setattr(cls, name, spy)
    return seen


@pytest.fixture
def client(api_settings: Settings) -> Iterator[Any]:
    with make_client(api_settings) as test_client:
        yield test_client


def get(client: Any, raw_path: str) -> tuple[int, dict[str, str], bytes]:
    """GET through the app on the client's event loop."""
    return client.portal.call(asgi_get, client.app, raw_path)


def test_walk_finds_every_route_with_a_path_parameter(client: Any) -> None:
    found = path_routes(client.app)
    assert set(EXPECTED) <= set(found), sorted(found)


@pytest.mark.parametrize("label", list(HOSTILE_IDS))
def test_hostile_ids_on_every_route_are_4xx_without_traceback(
    client: Any, lookups: list[str], caplog: pytest.LogCaptureFixture, label: str
) -> None:
    hostile = HOSTILE_IDS[label]
    reaches_route = "/" not in unquote(hostile)  # an encoded slash may route elsewhere
    caplog.set_level(logging.ERROR)
    for path_format, convertors in path_routes(client.app).items():
        for raw_path in request_paths(path_format, convertors, hostile):
            status, headers, body = get(client, raw_path)
            shown = f"{raw_path[:80]} -> {status} {body[:200]!r}"
            if status in (307, 308):  # Starlette's trailing-slash redirect: its target too
                status, headers, body = get(client, headers["location"].split("testserver", 1)[1])
            assert 400 <= status < 500, shown
            error = json.loads(body)["error"] if body.startswith(b"{") else None
            if reaches_route and path_format in EXPECTED:
                expected = EXPECTED[path_format]
                if path_format == "/images/{path}" and status == 404:  # no route: not_found
                    expected = (404, error) if error in (None, "not_found") else expected
                assert (status, error) == expected, shown
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    malformed = [item_id[:80] for item_id in lookups if not WELL_FORMED.fullmatch(item_id)]
    assert not malformed, f"malformed ids reached a store: {malformed}"


@pytest.mark.parametrize("label", list(HOSTILE_IDS))
def test_hostile_ids_in_json_bodies_are_422(
    client: Any, lookups: list[str], caplog: pytest.LogCaptureFixture, label: str
) -> None:
    """Every POST body field that names an image or a template checks it before any lookup."""
    hostile = unquote(HOSTILE_IDS[label])
    caplog.set_level(logging.ERROR)
    bodies = 0
    for path, fields in id_fields(client.app.openapi()).items():
        for field in fields:
            body = {"image_id": "0" * 40, field: hostile}  # well-formed, unknown image
            response = client.post(path, json=body)
            assert (response.status_code, response.json()["error"]) == (
                422,
                "invalid_parameters",
            ), f"{path} {field}: {response.text[:200]}"
            bodies += 1
    assert bodies >= 7  # image_id on 6 routes, template on /api/meme
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR or r.exc_info]
    assert not [i for i in lookups if not WELL_FORMED.fullmatch(i)]


def id_fields(spec: dict[str, Any]) -> dict[str, list[str]]:
    """POST path -> the id fields (`image_id`, `template`) of its JSON body schema."""
    found: dict[str, list[str]] = {}
    for path, operations in spec["paths"].items():
        content = operations.get("post", {}).get("requestBody", {}).get("content", {})
        schema = content.get("application/json", {}).get("schema", {})
        if "$ref" in schema:
            schema = spec["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
        fields = [f for f in ("image_id", "template") if f in schema.get("properties", {})]
        if fields:
            found[path] = fields
    return found


def test_well_formed_unknown_ids_still_reach_the_lookup(client: Any, lookups: list[str]) -> None:
    assert get(client, "/templates/no-such-template")[0] == 404
    assert get(client, "/images/no-such-template/x.png")[0] == 404
    assert get(client, "/api/templates/no-such-template")[0] == 404
    assert get(client, f"/api/images/{'0' * 40}")[0] == 404
    assert lookups.count("no-such-template") == 3 and "0" * 40 in lookups
