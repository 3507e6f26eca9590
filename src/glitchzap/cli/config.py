"""`glitchzap config show` and `glitchzap doctor`."""

from __future__ import annotations

import json
import platform
from importlib import metadata

import typer
import yaml

from glitchzap.settings import Settings, find_config_file

config_app = typer.Typer(help="Inspect the effective configuration.", no_args_is_help=True)


@config_app.command("show")
def show(as_json: bool = typer.Option(False, "--json", help="JSON instead of YAML")) -> None:
    """Print the effective configuration (file + environment + defaults)."""
    from glitchzap.runtime import current

    data = current().settings.model_dump(mode="json")
    typer.echo(json.dumps(data, indent=2) if as_json else yaml.safe_dump(data, sort_keys=False))


# Checks that later features add (models, fonts, templates) append to this list.
DOCTOR_CHECKS: list[tuple[str, str]] = [
    ("numpy", "numpy"),
    ("pillow", "pillow"),
    ("opencv", "opencv-python-headless"),
    ("onnxruntime", "onnxruntime"),
    ("rembg", "rembg"),
    ("rapidocr", "rapidocr"),
    ("fastapi", "fastapi"),
    ("uvicorn", "uvicorn"),
    ("redis", "redis"),
    ("ray", "ray"),
    ("tokenizers", "tokenizers"),
    ("fonttools", "fonttools"),
    ("emoji", "emoji"),
]


def doctor() -> None:
    """Versions, data directory, cache and configuration: what to check when something is off."""
    from glitchzap.runtime import current

    settings = current().settings
    typer.echo(f"glitchzap {metadata.version('glitchzap')} on Python {platform.python_version()}")
    for label, dist in DOCTOR_CHECKS:
        try:
            version = metadata.version(dist)
        except metadata.PackageNotFoundError:
            version = "not installed"
        typer.echo(f"  {label:<12} {version}")
    config_file = find_config_file()
    typer.echo(f"config file    {config_file or '(none: defaults + environment)'}")
    typer.echo(f"data dir       {settings.data_dir}")
    typer.echo(f"cache          {settings.cache.backend} at {settings.cache_dir}")
    typer.echo(f"models dir     {settings.models_dir}")
    _report_model(settings)
    _report_fonts(settings)


def _report_fonts(settings: Settings) -> None:
    from glitchzap.meme.fonts import MEMEGEN_FONTS, memegen_font_path

    fetched = sum(memegen_font_path(f, settings.fonts_dir) is not None for f in MEMEGEN_FONTS)
    fix = "" if fetched == len(MEMEGEN_FONTS) else " (run `make fonts`; see `glitchzap fonts`)"
    typer.echo(
        f"fonts dir      {settings.fonts_dir}: {fetched}/{len(MEMEGEN_FONTS)} memegen fonts{fix}"
    )


def _report_model(settings: Settings) -> None:
    from glitchzap.background.files import describe_model_file
    from glitchzap.background.models import get_spec
    from glitchzap.background.quantize import is_current

    name = settings.models.default
    info = describe_model_file(name, settings.models_dir)
    state = "ok" if info.checksum_ok else ("CORRUPT" if info.present else "missing")
    fix = "" if info.checksum_ok else f" (run `glitchzap models fetch {name}`)"
    spec = get_spec(name)
    int8 = (
        "none"
        if spec.int8_keep_fp32 is None
        else ("ready" if is_current(spec, settings.models_dir) else "derived on first use")
    )
    typer.echo(
        f"bg model       {name}: {state}, device {settings.models.device}, "
        f"precision {settings.models.precision} (int8 variant: {int8}){fix}"
    )


def register(app: typer.Typer) -> None:
    app.add_typer(config_app, name="config")
    app.command("doctor")(doctor)
