"""The `glitchzap` command line: a thin adapter that turns arguments into core calls.

Each topic lives in its own module with a `register(app)` function; `COMMAND_MODULES` is the
one list of them. Errors a user can cause (`GlitchzapError`) print one line and exit 2.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from typing import Annotated

import typer

from glitchzap.errors import GlitchzapError

COMMAND_MODULES = [
    "glitchzap.cli.glitch",
    "glitchzap.cli.config",
    "glitchzap.cli.serve",
    "glitchzap.cli.meme",
    "glitchzap.cli.background",
    "glitchzap.cli.batch",
    "glitchzap.cli.templates",
]

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
    """Load the settings once for whichever command runs."""
    from glitchzap.cache import reset_caches
    from glitchzap.settings import configure
    from glitchzap.templates import reset_library

    configure(config)
    reset_caches()
    reset_library()


def _register_all() -> None:
    for name in COMMAND_MODULES:
        importlib.import_module(name).register(app)


def fail(message: str) -> typer.Exit:
    """Print one readable line to stderr; the caller raises the returned Exit(2)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


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
