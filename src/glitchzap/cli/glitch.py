"""`glitchzap glitch` and `glitchzap effects`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from glitchzap.errors import InvalidParameters

Quality = typer.Option("full", "--quality", "-q", help="fast|balanced|high|full (full = export)")


def _effects_from_flags(
    noise: float | None,
    noise_mono: bool,
    blur: float | None,
    shake: float | None,
    shake_copies: int | None,
    motion: float | None,
    motion_angle: float | None,
) -> dict[str, Any]:
    effects: dict[str, Any] = {}
    if noise is not None:
        effects["noise"] = {"amount": noise, "monochrome": noise_mono}
    if blur is not None:
        effects["blur"] = {"radius": blur}
    if shake is not None:
        effects["shake"] = {"offset": shake, **({"copies": shake_copies} if shake_copies else {})}
    if motion is not None:
        effects["motion"] = {"length": motion, "angle": motion_angle or 0.0}
    elif motion_angle is not None:
        raise InvalidParameters("--motion-angle needs --motion LENGTH")
    return effects


def glitch(
    input: Annotated[Path, typer.Argument(help="Image to process")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write (format from suffix)")
    ],
    noise: Annotated[float | None, typer.Option(help="Noise amount 0-1")] = None,
    noise_mono: Annotated[bool, typer.Option("--noise-mono", help="Monochrome grain")] = False,
    blur: Annotated[float | None, typer.Option(help="Blur radius, px")] = None,
    shake: Annotated[float | None, typer.Option(help="Shake offset, px")] = None,
    shake_copies: Annotated[int | None, typer.Option(help="Shake copies (1-16)")] = None,
    motion: Annotated[float | None, typer.Option(help="Motion blur length, px")] = None,
    motion_angle: Annotated[float | None, typer.Option(help="Motion blur angle, degrees")] = None,
    recipe: Annotated[
        Path | None, typer.Option(help="Recipe file (JSON/YAML); flags override it")
    ] = None,
    target: Annotated[str | None, typer.Option(help="all|foreground|background")] = None,
    quality: str = Quality,
    seed: Annotated[int | None, typer.Option(help="Random seed (same seed, same output)")] = None,
) -> None:
    """Apply glitch effects (noise, blur, shake, motion, in that order) to an image."""
    from glitchzap.io import format_for_path, load_image, save_image
    from glitchzap.recipes import load_recipe, parse_recipe
    from glitchzap.render import render
    from glitchzap.settings import get_settings

    settings = get_settings()
    base = load_recipe(recipe).model_dump() if recipe else {}
    flags = _effects_from_flags(noise, noise_mono, blur, shake, shake_copies, motion, motion_angle)
    base["effects"] = {**base.get("effects", {}), **flags}
    if target is not None:
        base["target"] = target
    if seed is not None:
        base["seed"] = seed
    plan = parse_recipe(base)
    image = load_image(input, limits=settings.limits)
    mask = None
    if plan.needs_mask:
        from glitchzap.background import foreground_mask

        mask = foreground_mask(image, model=plan.background.model)
    out = render(
        image, plan, quality=quality, mask=mask, sizes=settings.image_processing.preview_sizes
    )
    fmt = format_for_path(output)
    save_image(out, output, fmt=fmt, quality=plan.output.quality)
    typer.echo(f"{output} ({out.shape[1]}x{out.shape[0]})")


def effects(as_json: Annotated[bool, typer.Option("--json", help="JSON schema")] = False) -> None:
    """List the effects with their parameters, ranges and defaults, in engine order."""
    from glitchzap.effects import effects_schema

    schema = effects_schema()
    if as_json:
        typer.echo(json.dumps(schema, indent=2))
        return
    for name, info in schema.items():
        typer.echo(f"{name}: {info['summary']}")
        for param, spec in info["schema"]["properties"].items():
            low = spec.get("minimum", spec.get("exclusiveMinimum", ""))
            high = spec.get("maximum", spec.get("exclusiveMaximum", ""))
            span = f" [{low}..{high}]" if low != "" or high != "" else ""
            typer.echo(
                f"  {param:<11} {spec.get('type', ''):<8} default {spec.get('default')!s:<6}"
                f"{span}  {spec.get('description', '')}"
            )


def register(app: typer.Typer) -> None:
    app.command("glitch")(glitch)
    app.command("effects")(effects)
