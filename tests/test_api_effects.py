"""GET /api/effects mirrors the effects registry."""

from __future__ import annotations

from typing import Any

from glitchzap.effects import EFFECTS

pytest_plugins = ["api_fixtures"]


def test_every_registered_effect_with_its_schema(api_client: Any) -> None:
    body = api_client.get("/api/effects").json()
    assert list(body) == list(EFFECTS)
    for name, effect in EFFECTS.items():
        assert body[name]["schema"] == effect.params.model_json_schema()
        assert body[name]["primary"] in body[name]["schema"]["properties"]
        assert body[name]["summary"]
