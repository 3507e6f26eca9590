"""Property-based run over the OpenAPI schema: no input may produce a 5xx.

Bounded (a few examples per operation) so it fits the normal test run. DNS and sockets for
URL input go through the loopback-only guard, and templates come from the memegen sample when
it is present, so the memegen routes are exercised too.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings

from api_fixtures import NetworkGuard
from glitchzap.runtime import current
from glitchzap.settings import load_settings

pytest_plugins = ["api_fixtures"]

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402


def test_no_server_errors(
    tmp_path: Any, net_guard: NetworkGuard, memegen_library_copy: Any
) -> None:
    from glitchzap.api.main import create_app

    templates = {"dir": memegen_library_copy}  # the API may change its templates
    models_dir = current().settings.models_dir  # the real models (conftest), so no 503 for them
    app_settings = load_settings(
        None, data_dir=tmp_path, templates=templates, models={"dir": models_dir}
    )
    app = create_app(app_settings)
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 14
    if not (models_dir / "u2netp.onnx").is_file():  # 503 "model not installed" is right then
        operations = [op for op in operations if "remove-background" not in op.label]
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(max_examples=15, deadline=None, suppress_health_check=list(HealthCheck))
        def check(case: Any) -> None:
            response = case.call()
            case.validate_response(response, checks=(not_a_server_error,))

        check()
    assert net_guard.refused == []  # nothing ever left loopback
