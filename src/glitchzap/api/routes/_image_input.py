"""Reading "an image plus parameters" the same way on every route that takes one.

JSON bodies name the image by `image_id` (from POST /api/images) or `url`; multipart bodies
carry it as field `file`, with the other parameters as a JSON object in field `params`.
"""

from __future__ import annotations

import json
from typing import Any, TypeVar

from fastapi import Request
from pydantic import ValidationError
from starlette.datastructures import UploadFile

from glitchzap.api.deps import ApiState
from glitchzap.api.schemas import ImageSourceRequest
from glitchzap.api.store import StoredImage
from glitchzap.errors import InvalidParameters, UnsupportedFormat, describe_validation_error

R = TypeVar("R", bound=ImageSourceRequest)
# json.loads fails with RecursionError on deeply nested input ("[[[[..."), not ValueError.
JSON_ERRORS = (ValueError, UnicodeDecodeError, RecursionError)


def openapi_body(model: type[ImageSourceRequest]) -> dict[str, Any]:
    """The OpenAPI requestBody for a route read with `read_image_request`."""
    return {
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": model.model_json_schema()},
                "multipart/form-data": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "file": {"type": "string", "format": "binary"},
                            "params": {"type": "string", "description": "JSON object"},
                        },
                        "required": ["file"],
                    }
                },
            },
        }
    }


async def read_image_request(
    request: Request, state: ApiState, model: type[R]
) -> tuple[StoredImage, R]:
    """The stored image and the validated parameters of a JSON or multipart request."""
    from glitchzap.api.routes.images import store_upload, store_url

    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        data, raw_params = await _read_form(request)
        params = _validate(model, raw_params)
        if params.image_id or params.url:
            raise InvalidParameters("Send the image as `file` or by image_id/url, not both")
        stored = await store_upload(state, data)
        return stored, params
    if content_type.startswith("application/json"):
        try:
            raw = json.loads(await request.body())
        except JSON_ERRORS as exc:
            raise InvalidParameters(f"The body is not valid JSON: {exc}") from exc
        params = _validate(model, raw)
        if (params.image_id is None) == (params.url is None):
            raise InvalidParameters("Give exactly one of image_id or url (or upload a file)")
        if params.image_id:
            return state.store.info(params.image_id), params
        return await store_url(state, params.url or ""), params
    raise UnsupportedFormat("Send JSON (image_id or url) or multipart/form-data with `file`")


async def _read_form(request: Request) -> tuple[bytes, Any]:
    form = await request.form(max_files=1, max_fields=10)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidParameters("The multipart body needs a file field named `file`")
        raw_params = form.get("params") or "{}"
        if not isinstance(raw_params, str):
            raise InvalidParameters("Field `params` must be a JSON object, not a file")
        try:
            params = json.loads(raw_params)
        except JSON_ERRORS as exc:
            raise InvalidParameters(f"Field `params` is not valid JSON: {exc}") from exc
        return await upload.read(), params
    finally:
        await form.close()


def _validate(model: type[R], raw: Any) -> R:
    if not isinstance(raw, dict):
        raise InvalidParameters("The parameters must be a JSON object")
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        problems = describe_validation_error(exc, root="body")
        raise InvalidParameters(f"Invalid parameters: {problems}") from exc
