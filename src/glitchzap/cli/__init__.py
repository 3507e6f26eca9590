"""The `glitchzap` command line: a thin adapter that turns arguments into core calls.

Each topic lives in its own module with a `register(app)` function; `_register_all` imports
and registers each one explicitly. The root command builds the process's runtime once from
`--config`. Errors a user can cause (`GlitchzapError`) print one line and exit 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from glitchzap.errors import GlitchzapError

app = typer.Typer(
    name="glitchzap",
    help="Image studio: background removal, glitch effects and meme text.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
def _root(
    config: Annotated[
        Path | None,
        typer.Option("--config", help="YAML config file (else $GLITCHZAP_CONFIG, ./config.yaml)"),
    ] = None,
) -> None:
    """Build the runtime (settings, caches, models) once for whichever command runs."""
    from glitchzap.runtime import configure

    configure(config)


_registered: set[int] = set()  # ids of the apps whose commands are registered


def _register_all() -> None:
    """Add every topic's commands to `app` (once, however often called)."""
    if id(app) in _registered:
        return
    from glitchzap.cli import background, batch, config, glitch, meme, serve, templates

    for topic in (glitch, config, serve, meme, background, batch, templates):
        topic.register(app)
    _registered.add(id(app))


def main() -> None:
    _register_all()
    try:
        app()
    except GlitchzapError as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        sys.exit(130)
