"""`npm pack` of one package into a folder: how the isnet-imgly model and memegen's fonts
reach the machine (the registry is one the machines can reach; no install scripts run)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path


class NpmPackError(Exception):
    """npm is missing, timed out or wrote no tarball; the message says which."""


def npm_pack(package: str, workdir: Path, *, timeout: float) -> Path:
    """The tarball of `package` (e.g. "@fontsource/anton@5.3.0"), downloaded into `workdir`
    with its own npm cache there (nothing left in ~/.npm once `workdir` is removed)."""
    npm = shutil.which("npm")
    if npm is None:
        raise NpmPackError(f"npm is not installed; {package} comes from the npm registry")
    command = [npm, "pack", package, "--silent", "--ignore-scripts"]
    command += ["--cache", str(workdir / "npm-cache")]
    try:
        result = subprocess.run(
            command, cwd=workdir, capture_output=True, text=True, check=False, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise NpmPackError(f"npm pack {package} took over {timeout:g} s") from exc
    tarballs = list(workdir.glob("*.tgz"))
    if result.returncode != 0 or not tarballs:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        reason = lines[-1] if lines else "no tarball written"
        raise NpmPackError(f"npm pack {package} failed: {reason}")
    return tarballs[0]
