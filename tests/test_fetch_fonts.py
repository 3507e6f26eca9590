"""scripts/fetch_fonts.py: every memegen font pinned, tarballs checked, subsets picked in order.

No network here: the fetch itself runs in `make fonts`, and tests/test_meme_fonts.py checks its
files.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import tarfile
from pathlib import Path
from types import ModuleType

import pytest

from glitchzap.meme.fonts import MEMEGEN_FONTS, memegen_font

SCRIPT = Path(__file__).parents[1] / "scripts" / "fetch_fonts.py"


@pytest.fixture(scope="module")
def fetch() -> ModuleType:
    spec = importlib.util.spec_from_file_location("fetch_fonts", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_package_is_pinned(fetch: ModuleType) -> None:
    assert set(fetch.INTEGRITY) == {f.package for f in MEMEGEN_FONTS}
    assert all(pin.startswith("sha512-") for pin in fetch.INTEGRITY.values())


def test_a_tarball_that_does_not_match_its_pin_is_refused(
    fetch: ModuleType, tmp_path: Path
) -> None:
    tarball = tmp_path / "x.tgz"
    tarball.write_bytes(b"some bytes")
    good = "sha512-" + base64.b64encode(hashlib.sha512(b"some bytes").digest()).decode()
    fetch.check_integrity(tarball, good)
    with pytest.raises(fetch.FetchError, match="checksum mismatch"):
        fetch.check_integrity(tarball, "sha512-" + base64.b64encode(b"0" * 64).decode())


def test_subsets_of_the_one_weight_in_merge_order(fetch: ModuleType, tmp_path: Path) -> None:
    names = [
        "noto-serif-jp-10-700-normal.woff",
        "noto-serif-jp-2-700-normal.woff",
        "noto-serif-jp-japanese-700-normal.woff",  # the numbered slices cover it
        "noto-serif-jp-cyrillic-700-normal.woff",
        "noto-serif-jp-latin-700-normal.woff",
        "noto-serif-jp-latin-400-normal.woff",  # another weight
        "noto-serif-jp-latin-700-italic.woff",
        "noto-serif-jp-latin-700-normal.woff2",
    ]
    tarball = tmp_path / "jp.tgz"
    with tarfile.open(tarball, "w:gz") as archive:
        for name in names:
            info = tarfile.TarInfo(f"package/files/{name}")
            info.size = 4
            archive.addfile(info, io.BytesIO(b"woff"))
    font = memegen_font("jp")
    assert font is not None
    picked = fetch.extract_subsets(tarball, font, tmp_path / "out")
    assert [p.name for p in picked] == [
        "noto-serif-jp-latin-700-normal.woff",
        "noto-serif-jp-cyrillic-700-normal.woff",
        "noto-serif-jp-2-700-normal.woff",
        "noto-serif-jp-10-700-normal.woff",
    ]
