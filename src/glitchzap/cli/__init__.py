"""The `glitchzap` command line: a thin adapter that turns arguments into core calls.

Each topic lives in its own module with a `register(app)` function; `COMMAND_MODULES` is the
one list of them. Errors a user can cause (`GlitchzapError`) print one line and exit 2.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
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
    """Add every topic's commands to `app` (once per module and app, however often called)."""
    done: set[str] = app.__dict__.setdefault("_glitchzap_registered", set())
    for name in COMMAND_MODULES:
        if name not in done:
            importlib.import_module(name).register(app)
            done.add(name)


def fail(message: str) -> typer.Exit:
    """Print one readable line to stderr; the caller raises the returned Exit(2)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def output_paths(
    inputs: list[Path], output: Path | None, out_dir: Path | None, suffix: str | None = None
) -> list[Path]:
    """Where each input's result goes: `output` for one input, else `out_dir/<name>`
    (with `suffix` when given, e.g. ".png" for cut-outs)."""
    from glitchzap.errors import InvalidParameters

    if (output is None) == (out_dir is None):
        raise InvalidParameters("give exactly one of -o/--output (one input) or --out-dir")
    if output is not None:
        if len(inputs) != 1:
            raise InvalidParameters("-o/--output takes one input; use --out-dir for several")
        return [output]
    assert out_dir is not None
    out_dir.mkdir(parents=True, exist_ok=True)
    return [out_dir / (f"{path.stem}{suffix}" if suffix else path.name) for path in inputs]


def run_each(
    pairs: list[tuple[Path, Path]],
    work: Callable[[Path, Path], str],
    *,
    fatal: tuple[type[GlitchzapError], ...] = (),
) -> None:
    """`work(source, target)` for every pair, echoing what it returns. A failing input prints
    `error: <source>: <reason>` and the rest go on; exit 2 at the end if any failed. Errors
    in `fatal` (a missing model, say) stop everything at once."""
    failed = 0
    for source, target in pairs:
        try:
            typer.echo(work(source, target))
        except fatal:
            raise
        except GlitchzapError as exc:
            failed += 1
            typer.echo(f"error: {source}: {exc}", err=True)
    if failed:
        raise fail(f"{failed} of {len(pairs)} inputs failed")


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
