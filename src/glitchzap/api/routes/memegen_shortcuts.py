"""memegen's legacy short URLs at the root (app/views/shortcuts.py): `/<template>.<ext>`,
`/<template>` and `/<template>/<text>[.<ext>]` redirect (302) under `/images/`.

They are not routes: a GET that no route matched asks `legacy_redirect` before answering 404,
so nothing of the studio (`/`, `/static/*`), `/api/*`, `/docs` or `/metrics`, and no 405 of a
POST-only route, is ever shadowed; and only ids of real templates redirect.
"""

from __future__ import annotations

import hmac
import re

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from glitchzap.api.deps import ApiState
from glitchzap.api.memegen import example_path
from glitchzap.api.routes.memegen import BLANK_FILENAME, TEXT_FILEPATH, find_template

LEGACY_ID = re.compile(r"(?!templates$)[a-z-]+")  # memegen's `(?!templates)[a-z-]+`


def legacy_redirect(request: Request) -> Response | None:
    """The 302 to the `/images/...` URL a legacy short URL of a real template means, else
    None (the request stays a 404)."""
    state: ApiState = request.app.state.api
    path = request.url.path.removeprefix("/")
    if request.method != "GET" or not path or not _authorised(request, state):
        return None
    template_id, slash, rest = path.partition("/")
    extension = ""
    if not slash and BLANK_FILENAME.fullmatch(path):
        template_id, extension = path.rsplit(".", 1)
    template = find_template(state, template_id)
    if template is None or (slash and not LEGACY_ID.fullmatch(template_id)):
        return None
    if extension:
        return RedirectResponse(example_path(template, extension), status_code=302)
    if not TEXT_FILEPATH.fullmatch(rest):
        rest = rest.strip("/")
    target = f"/images/{template.id}/{rest}" if rest else f"/images/{template.id}"
    return RedirectResponse(target, status_code=302)


def _authorised(request: Request, state: ApiState) -> bool:
    """With `server.api_key` set, only a request carrying it is redirected (else: 404)."""
    expected = state.settings.server.api_key
    if not expected:
        return True
    given = request.headers.get("x-api-key", "")
    return hmac.compare_digest(given.encode(), expected.encode())
