"""The `glitchzap` command line: a thin adapter that turns arguments into core calls.

Each topic lives in its own module with a `register(app)` function; `_register_all` imports
and registers each one explicitly. The root command builds the process's runtime once from
`--config`. Errors a user can cause (`GlitchzapError`) print one line and exit 2.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
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
