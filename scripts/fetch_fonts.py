"""Fetch memegen's fonts into glitchzap's fonts dir (`make fonts`; idempotent).

Each font in `glitchzap.meme.fonts.MEMEGEN_FONTS` comes from a pinned npm @fontsource package:
`npm pack` (never `npm install`, no scripts, its own throwaway npm cache) downloads the tarball,
whose sha512 must match the pin below (npm's `dist.integrity`). The `.woff` subsets of the one
weight needed (latin, latin-ext, cyrillic, greek, vietnamese, hebrew, the numbered CJK slices:
whichever the package has) are converted to TrueType and merged with fontTools into ONE file
per font, written atomically. A font whose file is already there is skipped; a package that
fails is reported and the others are still fetched (exit code 1 at the end). All packages are
OFL-1.1 (SIL Open Font License); nothing is committed or shipped with glitchzap.

    python scripts/fetch_fonts.py [--dir DIR] [--force]
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import os
import re
import shutil
import sys
import tarfile
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from glitchzap.meme.fonts import MEMEGEN_FONTS, MemegenFont
from glitchzap.npm import NpmPackError, npm_pack
from glitchzap.settings import load_settings

# npm's dist.integrity of each pinned tarball (`npm view <package> dist.integrity`).
INTEGRITY = {
    "@fontsource/titillium-web@5.3.0": "sha512-+nO3ACtHoBgBgq5rzKYImyJqcbRR5cG7D5O73Iu9qMEVlpQ4KVpdDs+XJexZ6Tgcek4xSlkCI82Xd3yLNF++6w==",  # noqa: E501
    "@fontsource/noto-sans@5.3.0": "sha512-fBCog2PY7DiVVTEEqtI/Qdinx/knobHYfoGpjFXdfBX5RoJaBp1Prw2G75p0OIsdlMZg3cLo0c+YbIUYOxnQJw==",  # noqa: E501
    "@fontsource/kalam@5.3.0": "sha512-FDkVoDfPDCSN/eO81FOYtUI67eMgpVBJmjBtAqSL0PmEhJyeFY2biC+CR+yEttksgXR9+swpFdYmQTyjwBq80Q==",  # noqa: E501
    "@fontsource/anton@5.3.0": "sha512-OR1D5n124n2XRs66SbX7IjcOSptljEJE8FcDNnlni2y1/M6KpTx7cU2PIWzTSsBj4WFkHPw24On8qw3qkQZuTw==",  # noqa: E501
    "@fontsource/open-sans@5.3.0": "sha512-V1bdMlGNyZrJwzrdusshMOw2YR0aqYDL7kOo9dkxUEKl8dFv66A9HLckOOXl572sG/7ohhDQrCrTFGSn9LZcSw==",  # noqa: E501
    "@fontsource/noto-serif-jp@5.3.0": "sha512-7dRFleN7F+uuJdcMW/fJmnl6KLZSn9dHCjAVTaWjTcT4hg5V4ECbi2qgIamI6rS/+yTt16KDLU+9aJi74r6ZxQ==",  # noqa: E501
    "@fontsource/noto-sans-hebrew@5.3.0": "sha512-7owtzuw9D+ipt0g8mcBGOm7MS/mv/REKsjSwEUe749UUsrnG54TSmusNn7oxv2GxbUORAzADLQ8ggdtt7oKkpg==",  # noqa: E501
}  # fmt: skip
# Subsets merged, in this order (the first to map a character wins). Numbered subsets are the
# CJK slices (noto-serif-jp 0..119, which together cover its "japanese" subset and more).
# Scripts memegen's fonts are not for (devanagari, math, symbols) are left out.
SUBSETS = (
    "latin",
    "latin-ext",
    "cyrillic",
    "cyrillic-ext",
    "greek",
    "greek-ext",
    "vietnamese",
    "hebrew",
)
NPM_TIMEOUT_SECONDS = 600  # noto-serif-jp's tarball is 94 MB


class FetchError(Exception):
    """A package that could not be fetched, verified or merged (the message says why)."""


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dir", type=Path, help="fonts dir (default: fonts.dir setting)")
    parser.add_argument("--force", action="store_true", help="fetch even when present")
    args = parser.parse_args(argv)
    fonts_dir: Path = args.dir or load_settings().fonts_dir
    fonts_dir.mkdir(parents=True, exist_ok=True)
    if shutil.which("npm") is None and not all(_present(fonts_dir, f) for f in MEMEGEN_FONTS):
        print("fonts: npm is not installed (e.g. `apt-get install npm`)", file=sys.stderr)
        return 1
    failed = 0
    for package, fonts in _by_package(MEMEGEN_FONTS).items():
        missing = [f for f in fonts if args.force or not _present(fonts_dir, f)]
        if not missing:
            continue
        started = time.perf_counter()
        try:
            fetch_package(package, missing, fonts_dir)
        except FetchError as exc:
            failed += 1
            print(f"fonts: {package}: {exc}", file=sys.stderr)
            continue
        names = ", ".join(f.filename for f in missing)
        print(f"fonts: {names} <- {package} ({time.perf_counter() - started:.1f} s)")
    if failed:
        print(f"fonts: {failed} package(s) failed; captions use system fonts for those")
        return 1
    print(f"fonts: all {len(MEMEGEN_FONTS)} memegen fonts in {fonts_dir}")
    return 0


def _present(fonts_dir: Path, font: MemegenFont) -> bool:
    return (fonts_dir / font.filename).is_file()


def _by_package(fonts: Sequence[MemegenFont]) -> dict[str, list[MemegenFont]]:
    grouped: dict[str, list[MemegenFont]] = {}
    for font in fonts:
        grouped.setdefault(font.package, []).append(font)
    return grouped


def fetch_package(package: str, fonts: Sequence[MemegenFont], fonts_dir: Path) -> None:
    """Pack `package`, check its sha512 and build each of `fonts` into `fonts_dir`."""
    with tempfile.TemporaryDirectory(prefix="glitchzap-fonts-") as tmp:
        workdir = Path(tmp)
        try:
            tarball = npm_pack(package, workdir, timeout=NPM_TIMEOUT_SECONDS)
        except NpmPackError as exc:
            raise FetchError(str(exc)) from exc
        check_integrity(tarball, INTEGRITY[package])
        for font in fonts:
            subsets = extract_subsets(tarball, font, workdir / font.id)
            merge_to_ttf(subsets, fonts_dir / font.filename)


def check_integrity(tarball: Path, integrity: str) -> None:
    """Raise FetchError unless the tarball's sha512 is npm's pinned `integrity`."""
    algorithm, _, expected = integrity.partition("-")
    digest = hashlib.new(algorithm)
    with open(tarball, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    actual = base64.b64encode(digest.digest()).decode()
    if actual != expected:
        raise FetchError(f"{tarball.name} checksum mismatch: {algorithm}-{actual}")


def _subset_rank(subset: str) -> tuple[int, int] | None:
    """Merge order of a subset name: named subsets first, then numbered; None = skip."""
    if subset in SUBSETS:
        return (0, SUBSETS.index(subset))
    if subset.isdigit():
        return (1, int(subset))
    return None


def extract_subsets(tarball: Path, font: MemegenFont, workdir: Path) -> list[Path]:
    """The font's .woff subsets of its weight, extracted into `workdir` in merge order."""
    slug = font.package.removeprefix("@fontsource/").rsplit("@", 1)[0]
    pattern = re.compile(rf"package/files/{re.escape(slug)}-(.+)-{font.weight}-normal\.woff")
    workdir.mkdir(parents=True, exist_ok=True)
    ranked: list[tuple[tuple[int, int], Path]] = []
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            for member in archive.getmembers():
                match = pattern.fullmatch(member.name)
                rank = _subset_rank(match[1]) if match else None
                reader = archive.extractfile(member) if rank is not None else None
                if rank is None or reader is None:
                    continue
                target = workdir / Path(member.name).name
                with reader, open(target, "wb") as handle:
                    shutil.copyfileobj(reader, handle)
                ranked.append((rank, target))
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise FetchError(f"cannot read {tarball.name}: {exc}") from exc
    if not ranked:
        raise FetchError(f"{tarball.name} has no {slug} {font.weight} subsets")
    return [path for _, path in sorted(ranked)]


def merge_to_ttf(subsets: Sequence[Path], target: Path) -> None:
    """Convert the .woff `subsets` to TrueType and merge them into `target` (atomically)."""
    from fontTools.merge import Merger
    from fontTools.ttLib import TTFont, TTLibError

    partial = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        plain = []
        for woff in subsets:
            font = TTFont(woff)
            font.flavor = None  # WOFF -> plain sfnt
            font.save(woff.with_suffix(".ttf"))
            plain.append(str(woff.with_suffix(".ttf")))
        Merger().merge(plain).save(partial)
        os.replace(partial, target)
    except (TTLibError, OSError, AssertionError, KeyError, ValueError, NotImplementedError) as exc:
        partial.unlink(missing_ok=True)
        raise FetchError(f"cannot merge {len(subsets)} subsets into {target.name}: {exc}") from exc


if __name__ == "__main__":
    sys.exit(main())
