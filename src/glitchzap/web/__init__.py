"""The web studio: a static page (HTML, CSS, ES modules; no build step) served beside the API.

`mount_studio(app)` serves `index.html` at `/` and the other files of this folder at
`/static/<name>`. Every file is read once at mount time. The page links each module with a
`?v=<content digest>` query (through an import map, so `import "./api.js"` inside a module is
versioned too): a versioned URL is cached for a year as immutable, an unversioned one is
revalidated with its ETag, and `/` itself is never cached, so a new release shows at once.
Nothing is loaded from outside the server; the Content-Security-Policy says so to the browser.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import Response

from glitchzap.errors import NotFound

STATIC_DIR = Path(__file__).parent
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".html": "text/html; charset=utf-8",
}
IMMUTABLE = "public, max-age=31536000, immutable"
REVALIDATE = "no-cache"  # may be stored, but checked (ETag) before each use
IMPORT_MAP_MARKER = "<!-- import-map -->"


@dataclass(frozen=True)
class StaticFile:
    body: bytes
    content_type: str
    version: str  # first hex digits of the content's sha256

    @property
    def etag(self) -> str:
        return f'"{self.version}"'


def load_static_files(directory: Path = STATIC_DIR) -> dict[str, StaticFile]:
    """Every servable file of `directory` (no sub-folders) by name."""
    files = {}
    for path in sorted(directory.iterdir()):
        content_type = CONTENT_TYPES.get(path.suffix)
        if content_type is None or not path.is_file() or path.name == "index.html":
            continue
        body = path.read_bytes()
        files[path.name] = StaticFile(body, content_type, hashlib.sha256(body).hexdigest()[:16])
    return files


def build_index(template: str, files: dict[str, StaticFile]) -> tuple[bytes, str]:
    """The page with versioned links and its import map; also the CSP it needs."""
    imports = {
        f"/static/{name}": f"/static/{name}?v={f.version}"
        for name, f in files.items()
        if name.endswith(".js")
    }
    script = json.dumps({"imports": imports}, indent=1)
    html = template
    for name, f in files.items():  # links first: the import map's keys stay unversioned
        html = html.replace(f'"/static/{name}"', f'"/static/{name}?v={f.version}"')
    html = html.replace(IMPORT_MAP_MARKER, f'<script type="importmap">{script}</script>')
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    csp = (
        "default-src 'self'; img-src 'self' blob: data:; "
        f"script-src 'self' 'sha256-{digest}'; style-src 'self'; connect-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
    )
    return html.encode(), csp


def mount_studio(app: FastAPI, directory: Path = STATIC_DIR) -> None:
    """Serve the studio page at `/` and its files at `/static/{name}` on `app`."""
    files = load_static_files(directory)
    index, csp = build_index((directory / "index.html").read_text(encoding="utf-8"), files)
    index_headers = {
        "Cache-Control": REVALIDATE,
        "Content-Security-Policy": csp,
        "X-Content-Type-Options": "nosniff",
        "Referrer-Policy": "no-referrer",
    }

    @app.get("/", include_in_schema=False)
    def studio_index() -> Response:
        return Response(index, media_type="text/html; charset=utf-8", headers=index_headers)

    @app.get("/static/{name}", include_in_schema=False)
    def studio_file(name: str, request: Request) -> Response:
        found = files.get(name)  # only names listed at mount time: no path ever joined
        if found is None:
            raise NotFound(f"No studio file named {name!r}")
        versioned = request.query_params.get("v") == found.version
        headers = {
            "Cache-Control": IMMUTABLE if versioned else REVALIDATE,
            "ETag": found.etag,
            "X-Content-Type-Options": "nosniff",
        }
        if request.headers.get("if-none-match") == found.etag:
            return Response(status_code=304, headers=headers)
        return Response(found.body, media_type=found.content_type, headers=headers)
