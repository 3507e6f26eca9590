"""ASGI middleware: request body cap (413 while streaming) and the request timeout (504).

Written as plain ASGI so the body is counted as it arrives, whether or not the client sent a
Content-Length, and nothing above the cap is ever buffered.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class BodyTooLarge(Exception):
    """Raised from `receive` once the body passes the cap; turned into a 413 here."""


def _error_body(code: str, message: str) -> bytes:
    return json.dumps({"error": code, "message": message}).encode()


class LimitsMiddleware:
    def __init__(self, app: ASGIApp, max_body_bytes: int, timeout_seconds: float) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes
        self.timeout_seconds = timeout_seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = _content_length(scope)
        if declared is not None and declared > self.max_body_bytes:
            await self._send_error(send, 413, "request_too_large", self._too_large_message())
            return
        state = {"received": 0, "too_large": False, "started": False}

        async def counting_receive() -> Message:
            message = await receive()
            if message["type"] == "http.request":
                state["received"] += len(message.get("body", b""))
                if state["received"] > self.max_body_bytes:
                    state["too_large"] = True
                    raise BodyTooLarge
            return message

        async def guarded_send(message: Message) -> None:
            if state["too_large"]:
                return  # whatever the app answers to the broken body, we answer 413 below
            if message["type"] == "http.response.start":
                state["started"] = True
            await send(message)

        try:
            # asyncio.timeout, not wait_for: no second Task per request.
            async with asyncio.timeout(self.timeout_seconds):
                await self.app(scope, counting_receive, guarded_send)
        except BodyTooLarge:
            pass
        except TimeoutError:
            if not state["started"]:
                await self._send_error(
                    send, 504, "timeout", f"The request took over {self.timeout_seconds:g} s"
                )
            return
        if state["too_large"] and not state["started"]:
            await self._send_error(send, 413, "request_too_large", self._too_large_message())

    def _too_large_message(self) -> str:
        limit = self.max_body_bytes / 1024**2  # MB as the settings count them (50 * 1024**2)
        return f"The file is too large: this server takes up to {limit:.1f} MB"

    async def _send_error(self, send: Send, status: int, code: str, message: str) -> None:
        body = _error_body(code, message)
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


class TimingMiddleware:
    """Records every HTTP request as operation `http <METHOD> <route>` (errors by status)."""

    def __init__(self, app: ASGIApp, record: Callable[[str, float, str | None], None]) -> None:
        self.app = app
        self.record = record

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500  # if the app raises before answering

        async def capture(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, capture)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            error = f"http_{status}" if status >= 400 else None
            self.record(f"http {scope['method']} {route}", time.perf_counter() - start, error)
