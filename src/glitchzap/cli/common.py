"""Helpers every CLI topic shares: one-line errors, output paths, the per-input loop."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import typer

from glitchzap.errors import GlitchzapError, InvalidParameters

if TYPE_CHECKING:
    from glitchzap.animation import Animation


def fail(message: str) -> typer.Exit:
    """Print one readable line to stderr; the caller raises the returned Exit(2)."""
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def output_paths(
    inputs: list[Path], output: Path | None, out_dir: Path | None, suffix: str | None = None
) -> list[Path]:
    """Where each input's result goes: `output` for one input, else `out_dir/<name>`
    (with `suffix` when given, e.g. ".png" for cut-outs)."""
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


def check_container(output: Path, fmt: str, why: str | None) -> None:
    """Refuse, before any rendering, an animated result (`why` says what makes it one) for
    a file that cannot hold one."""
    if why is not None and fmt == "jpeg":
        raise InvalidParameters(
            f"{output.name}: JPEG cannot hold an animation ({why}); "
            "write to .gif, .webp or .png (APNG)"
        )


def describe(animation: Animation) -> str:
    """'WxH' for a still, 'WxH, N frames, T ms' for an animation."""
    height, width = animation.shape[:2]
    if not animation.animated:
        return f"{width}x{height}"
    return f"{width}x{height}, {len(animation)} frames, {animation.total_ms} ms"
