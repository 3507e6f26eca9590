"""The FastAPI app: routers, the one exception handler and the middleware, nothing else."""

from __future__ import annotations

import gc
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import metadata
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from glitchzap.api.deps import JSON_BODY_MODELS, ApiState, require_api_key
from glitchzap.api.middleware import LimitsMiddleware, TimingMiddleware
from glitchzap.api.monitoring import Monitor
from glitchzap.api.routes import (
    effects,
    erase_text,
    fonts,
    health,
    images,
    meme,
    memegen,
    memegen_api,
    memegen_shortcuts,
    ocr,
    performance,
    remove_background,
    render,
    renders,
    templates,
)
from glitchzap.api.server import return_freed_memory
from glitchzap.errors import GlitchzapError
from glitchzap.runtime import Runtime, current, use
from glitchzap.settings import Settings

log = logging.getLogger(__name__)

MULTIPART_OVERHEAD_BYTES = 1024 * 1024  # boundaries and headers around an upload at the limit
HTTP_ERROR_CODES = {
    401: "unauthorized",
    404: "not_found",
    405: "method_not_allowed",
    413: "request_too_large",
    415: "unsupported_format",
}


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API app for `settings` (default: the process's runtime's settings).

    Given other settings, a runtime is built from them and becomes the process's (the server
    process runs one app), so caches and model sessions follow those settings.
    """
    return_freed_memory()  # in each worker process
    runtime = current()
    if settings is not None and settings is not runtime.settings:
        runtime = use(Runtime(settings))
    settings = runtime.settings
    monitor = runtime.monitor
    state = ApiState.build(runtime)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # What start-up made (modules, routes, models, settings) lives as long as the process:
        # frozen, the collector's full passes skip it. They took 30-57 ms each under load
        # (a latency spike for every request in flight), a few ms frozen (see the README).
        gc.collect()
        gc.freeze()
        yield
        gc.unfreeze()  # collectable again (an app stopped inside a longer-lived process)
        state.pool.shutdown()
        state.fetch_pool.shutdown()
        runtime.flush_caches()
        monitor.log.close()

    app = FastAPI(
        title="glitchzap",
        version=metadata.version("glitchzap"),
        lifespan=lifespan,
        description="Glitch effects, background removal and meme text over HTTP.",
    )
    app.state.api = state
    protected = [Depends(require_api_key)]
    app.include_router(health.router)
    topics = (
        images,
        render,
        renders,
        remove_background,
        ocr,
        erase_text,
        meme,
        effects,
        fonts,
        performance,
        memegen_api,  # before memegen: GET /images/{path} would take /images/custom
        memegen,
        templates,
    )
    for module in topics:
        app.include_router(module.router, dependencies=protected)
    app.include_router(memegen_api.auth_router)  # answers memegen's own 401
    _add_exception_handlers(app)
    _add_middleware(app, settings, monitor)
    _document_json_bodies(app)
    from glitchzap.web import mount_studio  # the studio page at / and /static/*

    mount_studio(app)
    return app


def _document_json_bodies(app: FastAPI) -> None:
    """Add the models routes read with `deps.json_body` to the OpenAPI components, where
    FastAPI puts the models of body parameters (their routes refer to them by name)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        schema = generate()  # FastAPI's, built once and kept
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for name, model in JSON_BODY_MODELS.items():
            if name in components:  # added by an earlier call (the schema is kept)
                continue
            body = model.model_json_schema(ref_template="#/components/schemas/{model}")
            for inner, definition in body.pop("$defs", {}).items():
                components.setdefault(inner, definition)
            components.setdefault(name, body)
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def _add_middleware(app: FastAPI, settings: Settings, monitor: Monitor) -> None:
    server = settings.server
    max_body = server.max_body_bytes or settings.limits.max_bytes + MULTIPART_OVERHEAD_BYTES

    app.add_middleware(
        LimitsMiddleware, max_body_bytes=max_body, timeout_seconds=server.request_timeout_seconds
    )
    app.add_middleware(TimingMiddleware, record=monitor.record)  # outside the limits: sees 413s
    if server.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=server.cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Content-Type", "X-API-Key", "If-None-Match"],
            # Readable by the page: where the result lives, its tag, and whether it was cached.
            expose_headers=["ETag", "Content-Location", "X-Cache"],
        )


def _error(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse({"error": code, "message": message}, status_code=status, headers=headers)


def _add_exception_handlers(app: FastAPI) -> None:
    @app.exception_handler(GlitchzapError)
    async def glitchzap_error(_request: Request, exc: GlitchzapError) -> JSONResponse:
        retry = getattr(exc, "retry_after_seconds", None)
        headers = {"Retry-After": str(retry)} if retry else None
        return _error(exc.http_status, exc.code, str(exc), headers)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        return _error(422, "invalid_parameters", problems or "Invalid request")

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        if exc.status_code == 404:  # memegen's legacy `/<template>...` short URLs redirect
            redirect = memegen_shortcuts.legacy_redirect(request)
            if redirect is not None:
                return redirect
        code = HTTP_ERROR_CODES.get(exc.status_code, "bad_request")
        return _error(exc.status_code, code, str(exc.detail), getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def unexpected_error(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error on %s %s", request.method, request.url.path)
        return _error(500, "internal_error", "Internal server error; the details are in the log")
