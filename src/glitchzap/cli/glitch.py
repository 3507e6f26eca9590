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


def parse_ease(text: str) -> tuple[str, dict[str, Any]]:
    """`effect.param=FROM:TO[:curve]` as ("effect.param", {from, to, curve}). Names are
    spelled as in the flags or the recipe (`pixel-sort` or `pixel_sort`); `effect=FROM:TO`
    eases the effect's primary parameter, the one `--effect` sets."""
    from glitchzap.effects import EFFECTS

    name, _, span = text.partition("=")
    parts = span.split(":")
    try:
        if not name.strip() or len(parts) not in (2, 3):
            raise ValueError
        spec: dict[str, Any] = {"from": float(parts[0]), "to": float(parts[1])}
    except ValueError:
        raise InvalidParameters(
            f"--ease takes effect.param=FROM:TO[:curve], e.g. wave.amplitude=0:40:ease-in-out; "
            f"got {text!r}"
        ) from None
    if len(parts) == 3:
        spec["curve"] = parts[2]
    effect, _, param = name.strip().replace("-", "_").partition(".")
    if not param and effect in EFFECTS:
        param = EFFECTS[effect].primary
    return (f"{effect}.{param}" if param else effect), spec


def animation_block(
    base: dict[str, Any] | None, options: dict[str, Any], ease: list[str]
) -> dict[str, Any] | None:
    """The recipe's `animation` block (`base`, from a recipe file) with `options` (its
    fields) and the `--ease` texts over it; None when there is none of them."""
    if base is None and not options and not ease:
        return None
    block = {**(base or {}), **options}
    block["ease"] = {**(block.get("ease") or {}), **dict(parse_ease(text) for text in ease)}
    return block


def glitch(
    input: Annotated[Path, typer.Argument(help="Image or animation (GIF, WebP, APNG) to process")],
    output: Annotated[
        Path,
        typer.Option(
            "--output",
            "-o",
            help="Where to write (format from suffix; an animation: .gif .webp .png)",
        ),
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
    frames: Annotated[
        int | None, typer.Option(help="Make a still into a loop of this many frames")
    ] = None,
    fps: Annotated[float | None, typer.Option(help="Frames per second of that loop")] = None,
    duration_ms: Annotated[
        int | None, typer.Option("--duration-ms", help="Each frame's duration, ms (beats --fps)")
    ] = None,
    loop: Annotated[int | None, typer.Option(help="Repeats of that loop: 0 = forever")] = None,
    ease: Annotated[
        list[str] | None,
        typer.Option(
            help="Move a parameter over the frames: effect.param=FROM:TO[:curve] "
            "(linear, ease-in, ease-out, ease-in-out, there-and-back); repeatable"
        ),
    ] = None,
    seed_mode: Annotated[
        str | None,
        typer.Option("--seed-mode", help="per-frame (each frame glitches anew) | fixed"),
    ] = None,
    **flags: Any,
) -> None:
    """Apply a recipe and/or effects (in engine order) to an image or every frame of an
    animation: the same render as the API and batch. Animation options make a still into a
    loop. Effect flags: see `glitchzap effects`."""
    from glitchzap.cli.common import check_container, describe
    from glitchzap.io import format_for_path, load_animation, save_animation
    from glitchzap.recipes import load_recipe, parse_recipe
    from glitchzap.rendering import render_animation
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
    timing = {"frames": frames, "fps": fps, "duration_ms": duration_ms, "loop": loop}
    given: dict[str, Any] = {key: value for key, value in timing.items() if value is not None}
    if fps is not None and duration_ms is None:
        given["duration_ms"] = None  # --fps beats a recipe file's duration_ms
    if seed_mode is not None:
        given["seed"] = seed_mode
    block = animation_block(base.get("animation"), given, ease or [])
    if block is not None:
        base["animation"] = block
    plan = parse_recipe(base)
    fmt = format_for_path(output)
    if plan.animation is not None and plan.animation.frames > 1:
        check_container(output, fmt, "the animation options make a loop")
    source = load_animation(input, limits=runtime.settings.limits)
    if source.animated:
        check_container(output, fmt, f"{input.name} has {len(source)} frames")
    if source.animated and given.keys() & timing.keys():
        typer.echo(
            f"note: {input.name} is animated: it keeps its own {len(source)} frames, timing "
            "and loop (--frames, --fps, --duration-ms and --loop shape a still)",
            err=True,
        )
    out = render_animation(source, plan, runtime=runtime, quality=quality)
    save_animation(out, output, fmt=fmt, quality=plan.output.quality)
    typer.echo(f"{output} ({describe(out)})")


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
