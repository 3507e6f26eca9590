"""`glitchzap templates …`: import, add, list, show, remove, match, search, starter."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from glitchzap.errors import GlitchzapError

if TYPE_CHECKING:
    from glitchzap.templates import TemplateLibrary

templates_app = typer.Typer(help="The meme template library.", no_args_is_help=True)


def _library(*, starter: bool = True) -> TemplateLibrary:
    """The runtime's library; `starter=False` for commands that must not seed an empty one."""
    from glitchzap.runtime import current

    return current().template_library(starter=starter)


@templates_app.command("import-memegen")
def import_memegen(
    directory: Annotated[Path, typer.Argument(help="memegen templates folder (<id>/config.yml)")],
    as_json: Annotated[bool, typer.Option("--json", help="The report as JSON")] = False,
) -> None:
    """Import memegen-format templates; running it again updates, never duplicates. Exits 2
    when a template folder could not be imported (memegen's `_error`, `_test` are skipped)."""
    start = time.perf_counter()
    report = _library(starter=False).import_memegen(directory)
    elapsed = time.perf_counter() - start
    if as_json:
        typer.echo(json.dumps({**report.to_dict(), "elapsed_s": round(elapsed, 3)}))
    else:
        typer.echo(f"{len(report.added)} added, {len(report.updated)} updated, "
                   f"{len(report.unchanged)} unchanged in {elapsed:.1f} s")  # fmt: skip
        for line in report.skipped:
            typer.echo(f"skipped: {line}", err=True)
        for line in report.conflicts:
            typer.echo(f"conflict: {line}", err=True)
        for line in report.errors:
            typer.echo(f"error: {line}", err=True)
    if report.failed:  # skipped non-template folders (memegen's `_error`, `_test`) are fine
        raise typer.Exit(2)


@templates_app.command("add")
def add(
    image: Annotated[Path, typer.Argument(help="The template picture")],
    name: Annotated[str, typer.Option("--name", help="Display name")],
    template_id: Annotated[
        str | None, typer.Option("--id", help="Id (default: from the name)")
    ] = None,
    keywords: Annotated[
        list[str] | None, typer.Option("--keywords", "-k", help="A keyword; repeat")
    ] = None,
    example: Annotated[
        list[str] | None, typer.Option("--example", help="An example caption; repeat")
    ] = None,
    clean: Annotated[bool, typer.Option("--clean", help="Erase detected text first (OCR)")] = False,
) -> None:
    """Add one picture as a template (top and bottom text boxes)."""
    from glitchzap.io import load_image
    from glitchzap.runtime import current

    library = _library(starter=False)
    source: Path | object = image
    if clean:
        from glitchzap.meme.compose import erase_text

        settings = current().settings
        source = erase_text(load_image(image, limits=settings.limits), mode="always",
                            runtime=current()).image  # fmt: skip
    words = [w.strip() for item in keywords or [] for w in item.split(",") if w.strip()]
    template = library.add(source, name=name, template_id=template_id, keywords=words,  # type: ignore[arg-type]
                           example=example or [])  # fmt: skip
    typer.echo(f"added {template.id} ({template.width}x{template.height})")


@templates_app.command("list")
def list_templates(
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False,
) -> None:
    """Every template: id, origin and name."""
    for template in _library().list_templates():
        if as_json:
            typer.echo(json.dumps(template.to_dict()))
        else:
            typer.echo(f"{template.id:<28} {template.origin:<8} {template.name}")


@templates_app.command("show")
def show(template_id: Annotated[str, typer.Argument(help="Template id")]) -> None:
    """One template's details as JSON."""
    typer.echo(json.dumps(_library().get(template_id).to_dict(), indent=2))


@templates_app.command("remove")
def remove(template_id: Annotated[str, typer.Argument(help="Template id")]) -> None:
    """Delete a template and its files."""
    _library().remove(template_id)
    typer.echo(f"removed {template_id}")


@templates_app.command("match")
def match(
    inputs: Annotated[list[Path], typer.Argument(help="Images to identify", show_default=False)],
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per input")] = False,
    top_k: Annotated[int | None, typer.Option("--top-k", help="Candidates per input")] = None,
) -> None:
    """Which known template each image was made from (scores 0-1; >= templates.match_threshold
    is a match). An animation is matched by its first frame (one frame is enough)."""
    from glitchzap.io import load_image
    from glitchzap.runtime import current

    settings = current().settings
    k = top_k or settings.templates.match_top_k
    library = _library()
    failed = 0
    for source in inputs:
        start = time.perf_counter()
        try:
            found = library.match(load_image(source, limits=settings.limits), k)
        except GlitchzapError as exc:
            failed += 1
            typer.echo(f"error: {source}: {exc}", err=True)
            continue
        elapsed = round((time.perf_counter() - start) * 1000, 1)
        if as_json:
            typer.echo(json.dumps({"input": str(source), "matches": [f.to_dict() for f in found],
                                   "elapsed_ms": elapsed}))  # fmt: skip
            continue
        best = found[0] if found and found[0].matched else None
        typer.echo(f"{source}: {best.id if best else '(no known template)'} ({elapsed:.0f} ms)")
        for item in found:
            typer.echo(f"  {item.score:.3f}  {item.id}{'  (mirrored)' if item.mirrored else ''}")
    if failed:
        raise typer.Exit(2)


@templates_app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="Words from a name, keyword or example caption")],
    limit: Annotated[int, typer.Option("--limit", "-n", help="Results")] = 10,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines")] = False,
) -> None:
    """Templates ranked by name, keywords and example captions (BM25), blended with CLIP's
    text-to-picture similarity when templates.clip_model_path is set."""
    for template, relevance in _library().search(query, limit):
        if as_json:
            typer.echo(json.dumps({"id": template.id, "name": template.name,
                                   "relevance": round(relevance, 4)}))  # fmt: skip
        else:
            typer.echo(f"{relevance:.3f}  {template.id:<28} {template.name}")


@templates_app.command("starter")
def starter() -> None:
    """Add the built-in starter set (scikit-image sample photos, ids `starter-*`)."""
    from glitchzap.templates.starter import add_starter_set

    report = add_starter_set(_library(starter=False))
    typer.echo(f"starter set: {len(report.added)} added, {len(report.unchanged)} already there")


@templates_app.command("reindex")
def reindex() -> None:
    """Recompute every template's matching features (after an upgrade), and its CLIP
    embedding when templates.clip_model_path is set."""
    typer.echo(f"reindexed {_library(starter=False).reindex()} template(s)")


def register(app: typer.Typer) -> None:
    app.add_typer(templates_app, name="templates")
