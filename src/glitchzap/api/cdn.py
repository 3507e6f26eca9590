"""Content-addressed URLs, ETags and cache headers: what lets a CDN sit in front of the API.

Every image a render, meme, erase-text, cut-out or memegen route answers is named by its
result-cache key: a digest over the source image's digest, the canonical JSON of the request's
parameters (recipe, captions, options), the quality and the output format (and the code
version), from `glitchzap.cache.keys.make_key`. The hex part of that key is the image's strong
`ETag` and its address, `GET /api/renders/<key>.<ext>`, which never changes what it answers:
it is served `Cache-Control: public, max-age=<server.immutable_max_age_seconds>, immutable`.
"""

from __future__ import annotations

import re

from fastapi.responses import Response

from glitchzap.settings import ServerSettings

KEY_LENGTH = 40  # hex digits of make_key's 20-byte blake2b digest
KEY_PATTERN = rf"^[0-9a-f]{{{KEY_LENGTH}}}$"
# URL extension -> output format; a format's URL uses the first extension naming it.
EXTENSIONS = {"png": "png", "jpg": "jpeg", "jpeg": "jpeg", "webp": "webp", "gif": "gif"}
EXTENSION_PATTERN = rf"^({'|'.join(EXTENSIONS)})$"
# The steps whose results are served by key, and the cache each keeps its bytes in. A key's
# digest covers its step, so one key names one result whichever step made it.
CONTENT_STEPS = (
    ("render", "renders"),
    ("meme", "renders"),
    ("erase-text", "renders"),
    ("remove-background", "renders"),
    ("memegen", "memes"),
)


def content_key(cache_key: str) -> str:
    """The public key of a result-cache key `step:hex` (its hex digest)."""
    key = cache_key.rpartition(":")[2]
    if re.fullmatch(KEY_PATTERN, key) is None:
        raise ValueError(f"{cache_key!r} is not a content cache key")
    return key


def extension(fmt: str) -> str:
    """The URL extension of an output format (jpeg -> jpg)."""
    return next(ext for ext, named in EXTENSIONS.items() if named == fmt)


def content_url(server: ServerSettings, key: str, fmt: str) -> str:
    """Where `key`'s image can be fetched: a path, or an absolute URL under
    `server.public_base_url` when one is set (a CDN in front of the API)."""
    path = f"/api/renders/{key}.{extension(fmt)}"
    base = server.public_base_url
    return f"{base.rstrip('/')}{path}" if base else path


def etag(key: str) -> str:
    return f'"{key}"'


def matches(if_none_match: str | None, key: str) -> bool:
    """Whether an `If-None-Match` header names `key`'s ETag (or is `*`). The comparison is
    weak, as RFC 9110 asks for If-None-Match: `W/"key"` matches too."""
    if not if_none_match:
        return False
    for tag in if_none_match.split(","):
        tag = tag.strip()
        if tag == "*" or tag.removeprefix("W/") == etag(key):
            return True
    return False


def sniff_format(data: bytes) -> str | None:
    """The container of encoded image bytes, from their magic numbers."""
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def not_modified(headers: dict[str, str]) -> Response:
    """304 with no body, carrying the validators and cache headers a 200 would have."""
    return Response(status_code=304, headers=headers)
