"""`glitchzap serve`: the HTTP API under uvicorn."""

from __future__ import annotations

import os

import typer

from glitchzap.runtime import current


def serve(
    ctx: typer.Context,
    host: str | None = typer.Option(None, "--host", help="Address to bind (server.host)"),
    port: int | None = typer.Option(None, "--port", min=1, max=65535, help="Port (server.port)"),
    workers: int | None = typer.Option(
        None, "--workers", min=1, help="Worker processes (server.workers)"
    ),
) -> None:
    """Start the HTTP API (OpenAPI docs at /docs)."""
    from glitchzap.api.server import build_server_config, replicas_problem, run_server

    config = ctx.find_root().params.get("config")
    if config:  # worker processes load the settings again, from the same file
        os.environ["GLITCHZAP_CONFIG"] = str(config)
    if workers:  # worker processes read it (server.inline_previews follows it)
        os.environ["GLITCHZAP_SERVER__WORKERS"] = str(workers)
    settings = current().settings
    problem = replicas_problem(settings, workers or settings.server.workers)
    if problem:
        raise typer.BadParameter(problem, param_hint="--workers")
    run_server(build_server_config(settings.server, host=host, port=port, workers=workers))


def register(app: typer.Typer) -> None:
    app.command("serve")(serve)
