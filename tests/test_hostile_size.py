"""Size attacks: headers that lie, decompression bombs, chunk floods and absurd output sizes.

Memory for the bomb cases is measured in a subprocess (peak RSS from getrusage), never with
tracemalloc, which does not see allocations made inside Pillow's and zlib's C code.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import textwrap
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image
from skimage import data as skdata

from api_fixtures import make_client, upload
from glitchzap.io import encode_image
from glitchzap.runtime import configure, restart
from imagebytes import png_chunk, png_with

pytest_plugins = ["api_fixtures"]


def zero_png(width: int, height: int) -> bytes:
    """A complete, valid all-black PNG: width x height x 3 bytes of pixels in a few hundred KB."""
    row = b"\x00" * (width * 3 + 1)
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()
    return png_with(width, height, idat=body)


def jpeg_claiming(width: int, height: int) -> bytes:
    data = bytearray(encode_image(np.ascontiguousarray(skdata.chelsea()), "jpeg"))
    sof = data.find(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def post_file(client: Any, data: bytes) -> tuple[int, str | None]:
    response = client.post("/api/images", files={"file": ("x", data, "image/png")})
    body = response.json()
    return response.status_code, body.get("error")


@pytest.mark.parametrize(
    "data",
    [
        png_with(100_000, 100_000),
        png_with(2**31 - 1, 2**31 - 1),
        png_with(1, 2**31 - 1),
        png_with(2**31, 16),  # past PNG's own limit
        jpeg_claiming(65_000, 65_000),
        jpeg_claiming(65_535, 1_000),
    ],
    ids=["png-10gp", "png-max-int", "png-1-wide", "png-2**31", "jpeg-4gp", "jpeg-65mp"],
)
def test_headers_claiming_huge_sizes_are_413(api_client: Any, data: bytes) -> None:
    assert post_file(api_client, data) == (413, "image_too_large")


def test_text_chunk_flood_is_accepted_and_dropped(api_client: Any) -> None:
    flood = b"".join(png_chunk(b"tEXt", b"k%d\x00v" % i) for i in range(20_000))
    data = zero_png(32, 32)
    data = data[:33] + flood + data[33:]  # after IHDR
    stored = upload(api_client, data)
    out = api_client.post("/api/render", json={"image_id": stored["image_id"], "quality": "full"})
    assert out.status_code == 200
    assert len(out.content) < 1000 and not Image.open(io.BytesIO(out.content)).info


@pytest.mark.parametrize("kind", [b"zTXt", b"iTXt", b"iCCP"])
def test_compressed_chunk_bomb_is_400(api_client: Any, kind: bytes) -> None:
    bomb = zlib.compress(b"a" * 50_000_000, 9)  # 50 MB of text in 49 KB
    header = b"k\x00\x01\x00\x00\x00" if kind == b"iTXt" else b"k\x00\x00"
    data = png_with(8, 8, extra=png_chunk(kind, header + bomb))
    assert post_file(api_client, data) == (400, "unreadable_image")


def test_progressive_jpeg_within_budget(tmp_path: Path) -> None:
    image = np.ascontiguousarray(skdata.coffee())  # 400 x 600
    big = np.tile(image, (4, 4, 1))  # 1600 x 2400: 3.8 MP
    buffer = io.BytesIO()
    Image.fromarray(big).save(buffer, "JPEG", progressive=True, quality=80)
    path = tmp_path / "progressive.jpg"
    path.write_bytes(buffer.getvalue())
    # Peak RSS growth of the upload, in a subprocess (the probe the bomb test uses). Budget:
    # 8 decoded frames (88 MiB); measured ~4.8 (53 MiB, the same as a baseline JPEG), so
    # progressive decoding adds no whole-image buffers beyond that. More than one frame must
    # show, or the probe would be blind.
    frame = big.nbytes  # 11 MiB of RGB
    stored = _upload_in_subprocess(path, tmp_path / "data", 50_000_000)
    assert stored["status"] == 200, stored
    assert (stored["body"]["width"], stored["body"]["height"]) == (2400, 1600)
    assert frame < stored["growth"] < 8 * frame, stored


# --- the 64 MP bomb, measured in a subprocess -------------------------------------------------

BOMB_SIDE = 8192  # 8192 x 8192 = 67 MP: 201 MB of RGB once decoded

UPLOAD_AND_MEASURE = textwrap.dedent(
    """
    import json, sys

    def peak_rss():
        # VmHWM is this process's own peak; ru_maxrss would start at the parent's (it
        # survives fork+exec), hiding any growth when pytest itself is bigger.
        with open("/proc/self/status") as status:
            line = next(l for l in status if l.startswith("VmHWM:"))
        return int(line.split()[1]) * 1024
    from fastapi.testclient import TestClient
    from glitchzap.api.main import create_app
    from glitchzap.runtime import configure

    data = open(sys.argv[1], "rb").read()
    settings = configure(None, data_dir=sys.argv[2], cache={"backend": "memory"},
                         limits={"max_pixels": int(sys.argv[3])}).settings
    with TestClient(create_app(settings)) as client:
        client.get("/api/health")
        # Warm every import and first-use allocation on the decode path (a fresh checkout
        # compiles and caches on first use), so the probe below sees only the bomb.
        import io as _io
        from PIL import Image
        small = _io.BytesIO()
        Image.new("RGB", (64, 64)).save(small, "PNG")
        client.post("/api/images", files={"file": ("warm.png", small.getvalue(), "image/png")})
        before = peak_rss()
        response = client.post("/api/images", files={"file": ("bomb.png", data, "image/png")})
        peak = peak_rss()
    print(json.dumps({"status": response.status_code, "body": response.json(),
                      "growth": peak - before}))
    """
)


@pytest.fixture(scope="module")
def bomb_file(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("bomb") / "64mp.png"
    path.write_bytes(zero_png(BOMB_SIDE, BOMB_SIDE))
    yield path


def _upload_in_subprocess(path: Path, data_dir: Path, max_pixels: int) -> dict[str, Any]:
    result = subprocess.run(
        [sys.executable, "-c", UPLOAD_AND_MEASURE, str(path), str(data_dir), str(max_pixels)],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OPENBLAS_NUM_THREADS": "1"},
    )
    assert result.returncode == 0, result.stderr[-2000:]
    answer: dict[str, Any] = json.loads(result.stdout.strip().splitlines()[-1])
    return answer


def test_64_megapixel_bomb_is_refused_without_allocating(bomb_file: Path, tmp_path: Path) -> None:
    assert bomb_file.stat().st_size < 300_000  # a 200 MB image in a few hundred KB
    refused = _upload_in_subprocess(bomb_file, tmp_path / "a", 50_000_000)
    assert (refused["status"], refused["body"]["error"]) == (413, "image_too_large")
    assert refused["growth"] < 40 * 2**20, refused
    # Control: with the cap raised past 67 MP the same file is decoded, and the same probe sees
    # the 201 MB frame, so the small growth above is a real measurement, not a blind spot.
    accepted = _upload_in_subprocess(bomb_file, tmp_path / "b", 100_000_000)
    assert accepted["status"] == 200, accepted
    assert accepted["growth"] > 150 * 2**20, accepted


# --- absurd output sizes (memegen URLs take width/height) -------------------------------------


@pytest.fixture
def wide_template_client(tmp_path: Path) -> Iterator[Any]:
    """An app whose only template is a 451 x 300 photo (wider than tall)."""
    template = tmp_path / "templates" / "wide"
    template.mkdir(parents=True)
    (template / "config.yml").write_text("name: Wide\ntext: []\n")
    (template / "default.jpg").write_bytes(
        encode_image(np.ascontiguousarray(skdata.chelsea()), "jpeg")
    )
    from glitchzap.templates import TemplateLibrary

    TemplateLibrary(tmp_path / "library").import_memegen(tmp_path / "templates")
    settings = configure(None, data_dir=tmp_path, templates={"dir": tmp_path / "library"}).settings
    restart()
    with make_client(settings) as client:
        yield client
    restart()


@pytest.mark.parametrize(
    ("query", "status"),
    [
        # memegen app/views/helpers.py render_image: a size that is not an integer, or is
        # 1-9 px, is 422 (answered with an image); 0 is "the template's own size".
        ("width=0", 200),
        ("width=-5", 422),
        ("width=9", 422),
        ("width=1e9", 422),
        ("width=NaN", 422),
        # Huge sizes are not refused: memegen shrinks the output to MAXIMUM_PIXELS
        # (1920 x 1080), the renderer's job (app/utils/images.py). (Was: 422 JSON.)
        ("width=100000", 200),
        ("height=99999999999999999999", 200),
        ("width=10000&height=10000", 200),
    ],
)
def test_absurd_output_sizes(wide_template_client: Any, query: str, status: int) -> None:
    from glitchzap.meme.memegen_render import MAXIMUM_PIXELS

    response = wide_template_client.get(f"/images/wide/hello/world.png?{query}")
    assert (response.status_code, response.headers["content-type"]) == (status, "image/png")
    width, height = Image.open(io.BytesIO(response.content)).size
    assert width * height <= MAXIMUM_PIXELS


def test_output_size_within_limits_is_served(wide_template_client: Any) -> None:
    response = wide_template_client.get("/images/wide/hello/world.jpg?height=600")
    assert response.status_code == 200
    assert Image.open(io.BytesIO(response.content)).size == (902, 600)
