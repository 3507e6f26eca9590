"""Exception types raised by the glitchzap core.

Every error a user can cause derives from `GlitchzapError`. Each class carries a short
machine-readable `code` (the API's `{"error": code}`) and the HTTP status the API answers
with, so the adapters map errors in one place instead of guessing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pydantic import ValidationError


class GlitchzapError(Exception):
    """Base class: a problem the user can fix, described in `str(error)`."""

    code = "error"
    http_status = 400


class ConfigError(GlitchzapError):
    code = "invalid_config"


class InvalidParameters(GlitchzapError):
    code = "invalid_parameters"
    http_status = 422


class UnknownEffect(InvalidParameters):
    code = "unknown_effect"


class UnreadableImage(GlitchzapError):
    code = "unreadable_image"


class UnsupportedFormat(GlitchzapError):
    code = "unsupported_format"
    http_status = 415


class ImageTooLarge(GlitchzapError):
    code = "image_too_large"
    http_status = 413


class ModelNotAvailable(GlitchzapError):
    """A model file is missing, corrupt or cannot run; the message names the fix."""

    code = "model_not_available"
    http_status = 503


class NotFound(GlitchzapError):
    code = "not_found"
    http_status = 404


class UrlRefused(GlitchzapError):
    """A URL the server will not fetch: wrong scheme, or a host that resolves somewhere private."""

    code = "url_refused"


class UrlFetchFailed(GlitchzapError):
    """The remote server could not be reached or did not answer with an image in time."""

    code = "url_fetch_failed"


class Unauthorized(GlitchzapError):
    code = "unauthorized"
    http_status = 401


class ServerBusy(GlitchzapError):
    """Every worker is busy and the queue is full; the client should retry shortly."""

    code = "busy"
    http_status = 503
    retry_after_seconds = 1


class OperationTimeout(GlitchzapError):
    code = "timeout"
    http_status = 504


def describe_validation_error(
    exc: ValidationError, *, root: str = "(root)", prefix: str = "", name_unknown_keys: bool = False
) -> str:
    """`key: what is wrong` for each problem pydantic found, joined by "; "."""
    parts = []
    for err in exc.errors():
        key = ".".join(str(part) for part in err["loc"]) or root
        unknown = name_unknown_keys and err["type"] == "extra_forbidden"
        parts.append(f"{prefix}{key}: {'unknown key' if unknown else err['msg']}")
    return "; ".join(parts)
