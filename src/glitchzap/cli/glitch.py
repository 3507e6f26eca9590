"""`glitchzap glitch` and `glitchzap effects`."""

from __future__ import annotations

import inspect
import json
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

import typer

from glitchzap.errors import InvalidParameters

Quality = typer.Option("full", "--quality", "-q", help="fast|balanced|high|full (full = export)")


@dataclass(frozen=True)
class EffectFlag:
    """One CLI option generated from an effect parameter: `--blur` or `--motion-angle`."""

    effect: str
    param: str
    flag: str
    primary: bool

    @property
    def dest(self) -> str:
        return f"{self.effect}__{self.param}"


def effect_flags() -> list[EffectFlag]:
    """The options for every effect parameter, in engine order: the primary parameter is
    `--<effect>`, the others `--<effect>-<param>` (so a new effect gets its flags for free)."""
    from glitchzap.effects import EFFECTS

    flags = []
    for name, effect in EFFECTS.items():
        option = name.replace("_", "-")  # pixel_sort -> --pixel-sort
        for param in effect.params.model_fields:
            primary = param == effect.primary
            flag = f"--{option}" if primary else f"--{option}-{param.replace('_', '-')}"
            flags.append(EffectFlag(name, param, flag, primary))
    return flags


def _option(flag: EffectFlag) -> inspect.Parameter:
    from glitchzap.effects import EFFECTS

    params = EFFECTS[flag.effect].params
    field = params.model_fields[flag.param]
    kind: Any = field.annotation if field.annotation in (bool, int, float, str) else str
    spec = params.model_json_schema()["properties"][flag.param]
    low = spec.get("minimum", spec.get("exclusiveMinimum"))
    high = spec.get("maximum", spec.get("exclusiveMaximum"))
    span = f" [{low}..{high}]" if low is not None or high is not None else ""
    names = [flag.flag, *FLAG_ALIASES.get(flag.flag, ())]
    option = typer.Option(*names, help=f"{field.description or flag.param}{span}")
    return inspect.Parameter(
        flag.dest,
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[kind | None, option],
    )


FLAG_ALIASES = {"--noise-monochrome": ("--noise-mono",)}  # the shorter spelling of round one


def effects_from_flags(values: dict[str, Any]) -> dict[str, Any]:
    """{effect: {param: value}} for the effect flags that were given."""
    effects: dict[str, dict[str, Any]] = {}
    primaries = {f.effect for f in effect_flags() if f.primary and values.get(f.dest) is not None}
    for flag in effect_flags():
        value = values.get(flag.dest)
        if value is None:
            continue
        if flag.effect not in primaries:
            primary = next(f for f in effect_flags() if f.effect == flag.effect and f.primary)
            raise InvalidParameters(f"{flag.flag} needs {primary.flag} {primary.param.upper()}")
        effects.setdefault(flag.effect, {})[flag.param] = value
    return effects


def glitch(
    input: Annotated[Path, typer.Argument(help="Image to process")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="Where to write (format from suffix)")
    ],
    recipe: Annotated[
        Path | None, typer.Option(help="Recipe file (JSON/YAML); flags override it")
    ] = None,
    preset: Annotated[
        str | None, typer.Option(help="Start from a named look (see `glitchzap presets`)")
    ] = None,
    target: Annotated[str | None, typer.Option(help="all|foreground|background")] = None,
    quality: str = Quality,
    seed: Annotated[int | None, typer.Option(help="Random seed (same seed, same output)")] = None,
    **flags: Any,
) -> None:
    """Apply a recipe and/or effects (in engine order) to an image: the same render as the
    API and batch. Effect flags: see `glitchzap effects`."""
    from glitchzap.io import format_for_path, load_image, save_image
    from glitchzap.recipes import load_recipe, parse_recipe
    from glitchzap.rendering import render_recipe
    from glitchzap.runtime import current

    runtime = current()
    base = load_recipe(recipe).model_dump() if recipe else {}
    if preset is not None:  # the preset, then the recipe file, then the flags
        base["preset"] = preset
    base["effects"] = {**base.get("effects", {}), **effects_from_flags(flags)}
    if target is not None:
        base["target"] = target
    if seed is not None:
        base["seed"] = seed
    plan = parse_recipe(base)
    image = load_image(input, limits=runtime.settings.limits)
    out = render_recipe(image, plan, runtime=runtime, quality=quality)
    save_image(out, output, fmt=format_for_path(output), quality=plan.output.quality)
    typer.echo(f"{output} ({out.shape[1]}x{out.shape[0]})")


def _with_effect_flags(command: Any) -> Any:
    """`command` with one keyword parameter per effect flag in its signature (for typer)."""
    if "__signature__" in vars(command):  # registered on an earlier app already
        return command
    hints = typing.get_type_hints(command, include_extras=True)
    signature = inspect.signature(command)
    fixed = [
        p.replace(annotation=hints[p.name])
        for p in signature.parameters.values()
        if p.kind is not p.VAR_KEYWORD
    ]
    generated = [_option(flag) for flag in effect_flags()]
    command.__signature__ = signature.replace(parameters=[*fixed, *generated])
    command.__annotations__ = {p.name: p.annotation for p in [*fixed, *generated]}
    return command


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


def presets(
    as_json: Annotated[bool, typer.Option("--json", help="Every preset's recipe")] = False,
) -> None:
    """List the named looks `--preset`, recipes (`preset: NAME`) and the API accept."""
    from glitchzap.presets import PRESETS, load_preset

    if as_json:
        typer.echo(json.dumps({name: load_preset(name) for name in PRESETS}, indent=2))
        return
    for name in PRESETS:
        effects = ", ".join(load_preset(name).get("effects") or {})
        typer.echo(f"{name:<12} {effects}")


def register(app: typer.Typer) -> None:
    app.command("glitch")(_with_effect_flags(glitch))
    app.command("effects")(effects)
    app.command("presets")(presets)
