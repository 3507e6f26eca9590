"""`glitchzap ocr`, `glitchzap erase-text`, `glitchzap meme` and `glitchzap fonts`."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from glitchzap.errors import GlitchzapError, InvalidParameters

if TYPE_CHECKING:
    from glitchzap.meme.compose import AnimationOcrResult
    from glitchzap.meme.ocr import OcrResult

# Kept in sync with glitchzap.meme.inpaint.INPAINT_METHODS by tests/test_cli_meme.py; listed here so
# that `--help` does not import OpenCV.
METHOD_CHOICES = ("ns", "telea", "pyramid", "harmonic", "spline", "edges", "auto")


def _check_method(method: str | None) -> None:
    if method is not None and method not in METHOD_CHOICES:
        raise InvalidParameters(
            f"Unknown --method {method!r}: use one of {', '.join(METHOD_CHOICES)}"
        )


def ocr(
    inputs: Annotated[list[Path], typer.Argument(help="Input images", show_default=False)],
    as_json: Annotated[
        bool, typer.Option("--json", help="One JSON object per line per input")
    ] = False,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Always run the OCR engine")] = False,
) -> None:
    """Find the text in each image: box corners, text and confidence. An animation is read
    on a few sampled frames; each region says which of them it was read on."""
    from glitchzap.io import load_animation
    from glitchzap.meme.compose import read_animation_text, read_image_text
    from glitchzap.runtime import current

    settings = current().settings
    failed = 0
    for source in inputs:
        try:
            animation = load_animation(source, limits=settings.limits)
            if animation.animated:
                found = read_animation_text(animation, runtime=current(), use_cache=not no_cache)
                report = _animation_text_report(source, found, as_json)
            else:
                frame = animation.frames[0]
                result = read_image_text(frame, runtime=current(), use_cache=not no_cache)
                report = _text_report(source, result, as_json)
        except GlitchzapError as exc:
            failed += 1
            typer.echo(f"error: {source}: {exc}", err=True)
            continue
        typer.echo(report)
    if failed:
        raise typer.Exit(2)


def _text_report(source: Path, result: OcrResult, as_json: bool) -> str:
    """One JSON line, or a summary line and one line per region."""
    if as_json:
        return json.dumps(
            {
                "input": str(source),
                "regions": [r.to_dict() for r in result.regions],
                "elapsed_ms": result.elapsed_ms,
                "cached": result.cached,
            }
        )
    cached = " (cached)" if result.cached else ""
    lines = [f"{source}: {len(result.regions)} region(s) in {result.elapsed_ms:.0f} ms{cached}"]
    lines += [f"  {region.score:.2f}  {region.text}" for region in result.regions]
    return "\n".join(lines)


def _animation_text_report(source: Path, result: AnimationOcrResult, as_json: bool) -> str:
    """As `_text_report`, with the frame count, the frames read and each region's frames."""
    if as_json:
        regions = [
            {**region.to_dict(), "frames": list(frames)}
            for region, frames in zip(result.regions, result.frames, strict=True)
        ]
        return json.dumps(
            {
                "input": str(source),
                "regions": regions,
                "elapsed_ms": result.elapsed_ms,
                "cached": result.cached,
                "frame_count": result.frame_count,
                "sampled_frames": list(result.sampled),
            }
        )
    sampled = ", ".join(str(i) for i in result.sampled)
    cached = " (cached)" if result.cached else ""
    lines = [
        f"{source}: {len(result.regions)} region(s) on {result.frame_count} frames "
        f"(read {sampled}) in {result.elapsed_ms:.0f} ms{cached}"
    ]
    for region, frames in zip(result.regions, result.frames, strict=True):
        read_on = ", ".join(str(i) for i in frames)
        lines.append(f"  {region.score:.2f}  {region.text}  (frames {read_on})")
    return "\n".join(lines)


def erase_text(
    inputs: Annotated[list[Path], typer.Argument(help="Input images", show_default=False)],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Output file (one input)")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out-dir", help="Folder for the outputs")
    ] = None,
    method: Annotated[
        str | None,
        typer.Option(
            "--method",
            help=f"Inpainting: {', '.join(METHOD_CHOICES)} (default: ocr.inpaint_method)",
        ),
    ] = None,
    always: Annotated[
        bool, typer.Option("--always", help="Erase even low-confidence text")
    ] = False,
) -> None:
    """Remove the text from each image (skipped when none is found); an animated input is
    erased frame by frame, where each frame shows the text."""
    from glitchzap.cli.common import output_paths, run_each
    from glitchzap.io import load_animation, save_animation, save_image
    from glitchzap.meme.compose import EraseMode, erase_animation_text
    from glitchzap.meme.compose import erase_text as erase
    from glitchzap.runtime import current

    _check_method(method)
    targets = output_paths(inputs, output, out_dir)
    settings = current().settings
    mode: EraseMode = "always" if always else "auto"

    def clean(source: Path, target: Path) -> str:
        animation = load_animation(source, limits=settings.limits)
        if animation.animated:
            _check_animated_output(source, target)
            frames, regions, count = erase_animation_text(
                animation, mode=mode, method=method, runtime=current()
            )
            save_animation(frames, target)
            erased = f"{len(regions)} region(s) erased on {count} of {len(frames)} frames"
            return f"{source} -> {target} ({erased})"
        result = erase(animation.frames[0], mode=mode, method=method, runtime=current())
        save_image(result.image, target)
        return f"{source} -> {target} ({len(result.regions_erased)} region(s) erased)"

    run_each(list(zip(inputs, targets, strict=True)), clean)


def _check_animated_output(source: Path, target: Path) -> None:
    """InvalidParameters (exit 2, one line) when an animated `source` would be written as JPEG."""
    from glitchzap.io import format_for_path

    if format_for_path(target) == "jpeg":
        raise InvalidParameters(
            f"{source} is animated and JPEG cannot hold an animation: "
            "write .gif, .webp or .png (APNG)"
        )


def meme(
    source: Annotated[Path, typer.Argument(help="Input image", show_default=False)],
    output: Annotated[Path, typer.Option("-o", "--output", help="Output file")],
    text: Annotated[
        list[str] | None,
        typer.Option("--text", "-t", help="A caption; repeat for each box (top first)"),
    ] = None,
    erase: Annotated[str, typer.Option("--erase", help="auto, always or never")] = "auto",
    font: Annotated[
        str | None, typer.Option("--font", help="Font name or file (see `glitchzap fonts`)")
    ] = None,
    layout: Annotated[
        str, typer.Option("--layout", help="default, top, bottom or center")
    ] = "default",
    method: Annotated[str | None, typer.Option("--method", help="Inpainting method")] = None,
    auto_template: Annotated[
        bool,
        typer.Option("--auto-template", help="Render on the clean template when IN matches one"),
    ] = False,
    template: Annotated[
        str | None, typer.Option("--template", help="Render on this template id")
    ] = None,
) -> None:
    """Erase the image's text if it has some, then write the captions meme-style.

    An animated input (GIF, WebP, APNG) gives an animated meme, its container from OUTPUT's
    suffix (.gif, .webp, .png); so does a still input on an animated --template written as
    .gif or .webp."""
    from glitchzap.io import load_animation, save_animation, save_image
    from glitchzap.meme.compose import (
        ANIMATED_MEME_FORMATS,
        ERASE_MODES,
        make_meme_animation_result,
    )
    from glitchzap.runtime import current

    if erase not in ERASE_MODES:
        raise InvalidParameters(f"Unknown --erase {erase!r}: use auto, always or never")
    _check_method(method)
    settings = current().settings
    start = time.perf_counter()
    animation = load_animation(source, limits=settings.limits)
    if animation.animated:
        _check_animated_output(source, output)
    result = make_meme_animation_result(
        animation,
        text or [],
        erase=erase,  # type: ignore[arg-type]
        layout=layout,
        font=font,
        method=method,
        template="auto" if auto_template else template,
        animate_template=output.suffix.lower().lstrip(".") in ANIMATED_MEME_FORMATS,
        runtime=current(),
    )
    if result.animation.animated:
        save_animation(result.animation, output)
    else:
        save_image(result.animation.frames[0], output)
    elapsed = (time.perf_counter() - start) * 1000
    on = f"on template {result.template_id}, " if result.template_id else ""
    frames = len(result.animation)
    moving = f"{frames} frames, " if frames > 1 else ""
    typer.echo(
        f"{source} -> {output} ({moving}{on}{len(result.regions_erased)} region(s) erased, "
        f"{elapsed:.0f} ms)"
    )


def fonts(
    as_json: Annotated[bool, typer.Option("--json", help="JSON list instead of a table")] = False,
) -> None:
    """List memegen's fonts (fetched by `make fonts` or not), the colour emoji font and the
    other fonts that resolve; `*` marks the default."""
    from glitchzap.meme.emoji import find_emoji_font
    from glitchzap.meme.fonts import MEMEGEN_FONTS, list_fonts, resolve_font
    from glitchzap.runtime import current

    settings = current().settings
    fonts_dir = settings.fonts_dir
    default = resolve_font(settings.fonts.default, settings.fonts.paths, fonts_dir=fonts_dir)
    emoji = find_emoji_font()
    rows: list[dict[str, object]] = [
        {
            "name": f.id,
            "alias": f.alias or None,
            "family": f.family,
            "package": f.package,
            "path": str(fonts_dir / f.filename),
            "present": (fonts_dir / f.filename).is_file(),
            "origin": "memegen",
            "default": default.origin == "memegen" and default.name == f.id,
        }
        for f in MEMEGEN_FONTS
    ]
    rows.append(
        {
            "name": "emoji",
            "family": "Noto Color Emoji",
            "package": "fonts-noto-color-emoji (Debian)",
            "path": str(emoji) if emoji else None,
            "present": emoji is not None,
            "origin": "emoji",
            "default": False,
        }
    )
    rows += [
        {
            "name": s.name,
            "path": str(s.path) if s.path else None,
            "present": True,
            "origin": s.origin,
            "default": s == default,
        }
        for s in list_fonts(settings.fonts.paths, fonts_dir=None)
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for row in rows:
        typer.echo(_font_line(row))


def _font_line(row: dict[str, object]) -> str:
    mark = "*" if row["default"] else " "
    state = "present" if row["present"] else "missing (make fonts)"
    if row["origin"] == "emoji":
        state = "present" if row["present"] else "missing (apt-get install fonts-noto-color-emoji)"
    if row["origin"] in ("memegen", "emoji"):
        return (
            f"{mark} {row['name']:<18} {row.get('alias') or '':<6} {row['family']:<24} "
            f"{row['package']:<36} {row['path'] or '-'}  {state}"
        )
    return f"{mark} {row['name']:<24} {row['origin']:<8} {row['path'] or '(built into Pillow)'}"


def register(app: typer.Typer) -> None:
    app.command("ocr")(ocr)
    app.command("erase-text")(erase_text)
    app.command("meme")(meme)
    app.command("fonts")(fonts)
