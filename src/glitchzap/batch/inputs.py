"""Which files a batch processes and where each result goes.

Inputs are image files, folders (searched recursively for image extensions; hidden files and
folders skipped, symlinked folders not followed) and text files listing paths (`.txt`/`.lst`,
one per line, `#` comments). Outputs mirror the input tree under the output folder, with the
suffix of each output's format (see `batch.formats`). No input path, however crafted (`..`,
absolute, a symlink inside the output folder), can place an output outside the output folder.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path, PurePath

from glitchzap.errors import InvalidParameters

IMAGE_EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".gif", ".bmp", ".tif", ".tiff"})
LIST_EXTENSIONS = frozenset({".txt", ".lst"})
SUFFIXES = {"png": ".png", "apng": ".png", "jpeg": ".jpg", "webp": ".webp", "gif": ".gif"}


@dataclass(frozen=True)
class BatchItem:
    """One input file and the output it mirrors to (`output` is None when refused)."""

    source: Path
    output: Path | None
    problem: str | None = None  # why no output could be assigned


def _is_hidden(name: str) -> bool:
    return name.startswith(".")


def _walk_images(folder: Path, skip: Path | None) -> Iterator[Path]:
    """Image files under `folder` in a stable order, skipping hidden entries and `skip`."""
    for root, dirs, files in os.walk(folder):  # followlinks=False: no cycles, no escapes
        root_path = Path(root)
        dirs[:] = sorted(
            d for d in dirs if not _is_hidden(d) and (skip is None or root_path / d != skip)
        )
        for name in sorted(files):
            if not _is_hidden(name) and Path(name).suffix.lower() in IMAGE_EXTENSIONS:
                yield root_path / name


def _read_list(path: Path) -> list[Path]:
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidParameters(f"Cannot read the list of inputs {path}: {exc}") from exc
    entries = (line.strip() for line in lines)
    return [path.parent / entry for entry in entries if entry and not entry.startswith("#")]


def _relative_inside(path: Path, base: Path) -> PurePath | None:
    """`path` relative to `base` when it lies inside it lexically (no `..`), else None."""
    try:
        rel = Path(os.path.normpath(path.absolute())).relative_to(os.path.normpath(base.absolute()))
    except ValueError:
        return None
    return rel if rel.parts and ".." not in rel.parts else None


def _sources(inputs: Sequence[str | Path], out_dir: Path) -> Iterator[tuple[Path, PurePath]]:
    """(source, path relative to the output folder before the suffix) for every input."""
    for raw in inputs:
        path = Path(raw)
        if path.is_dir():
            for file in _walk_images(path, skip=out_dir):
                rel = _relative_inside(file, path)
                yield file, rel if rel is not None else PurePath(file.name)
        elif path.suffix.lower() in LIST_EXTENSIONS and path.is_file():
            yield from _sources_of_list(path, out_dir)
        elif path.exists() or path.suffix.lower() in IMAGE_EXTENSIONS:
            yield path, PurePath(path.name)  # a missing image is reported as that file failing
        else:
            raise InvalidParameters(f"No such input: {path}")


def _sources_of_list(path: Path, out_dir: Path) -> Iterator[tuple[Path, PurePath]]:
    for entry in _read_list(path):
        rel = _relative_inside(entry, path.parent)
        if entry.is_dir():
            for file in _walk_images(entry, skip=out_dir):
                inner = _relative_inside(file, entry) or PurePath(file.name)
                yield file, (rel / inner) if rel is not None else PurePath(entry.name) / inner
        else:
            yield entry, rel if rel is not None else PurePath(entry.name)


def output_path(out_dir: Path, rel: PurePath, fmt: str) -> Path:
    """`out_dir/rel` with the format's suffix; InvalidParameters if it would leave `out_dir`."""
    if rel.is_absolute() or ".." in rel.parts or not rel.parts:
        raise InvalidParameters(f"Refusing output path {rel}: it is not inside the output folder")
    target = out_dir / rel.with_suffix(SUFFIXES[fmt])
    # Resolve symlinks already present (an `out/sub -> /etc` link must not be followed).
    root = out_dir.resolve()
    if not target.resolve().is_relative_to(root) or target.resolve() == root:
        raise InvalidParameters(f"Refusing output path {target}: it resolves outside {out_dir}")
    return target


def plan_batch(
    inputs: Sequence[str | Path], out_dir: Path, fmt: str | Callable[[Path], str]
) -> list[BatchItem]:
    """Every input file with its output path; duplicates and unsafe paths carry a problem.
    `fmt` is the outputs' format, or gives each input's (an animation's may differ)."""
    if not inputs:
        raise InvalidParameters("No inputs given: pass image files, folders or a list file")
    out_dir = Path(out_dir)
    claimed: dict[Path, Path] = {}
    items = []
    for source, rel in _sources(inputs, out_dir):
        try:
            target = output_path(out_dir, rel, fmt if isinstance(fmt, str) else fmt(source))
        except InvalidParameters as exc:
            items.append(BatchItem(source, None, str(exc)))
            continue
        key = Path(os.path.normcase(target.absolute()))
        if key in claimed:
            problem = f"same output {target} as {claimed[key]}"
            items.append(BatchItem(source, None, problem))
            continue
        claimed[key] = source
        items.append(BatchItem(source, target))
    return items


def temp_files_for(outputs: Iterable[Path]) -> Iterator[Path]:
    """Half-written temporary files (`.NAME.*.tmp`, see io.save_image) left by a killed run."""
    by_folder: dict[Path, set[str]] = {}
    for output in outputs:
        by_folder.setdefault(output.parent, set()).add(output.name)
    for folder, names in by_folder.items():
        if not folder.is_dir():
            continue
        for entry in folder.glob(".*.tmp"):
            stem = entry.name[1:].rsplit(".", 2)[0]
            if stem in names:
                yield entry
