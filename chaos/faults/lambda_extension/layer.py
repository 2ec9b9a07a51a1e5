"""Build the fault-injection extension's Lambda layer zips, one per architecture, reproducibly.

The layer's files come from the installed ``gameday_chaos`` package (``extension/`` in the
repository), so the build works the same from a checkout or an installed wheel; no Go is
needed (the binaries are committed; ``gameday extension verify`` proves they are built from
this source, see :mod:`chaos.faults.lambda_extension.toolchain`). Zip root (= ``/opt`` in Lambda)::

    extensions/gameday-chaos     the static Go binary for the zip's architecture, 0755
                                 (Lambda starts every file in /opt/extensions)
    gameday-chaos-wrapper        exec wrapper, 0755 (AWS_LAMBDA_EXEC_WRAPPER)

Same sources give the same bytes: entries sorted, timestamps fixed at 1980-01-01 00:00,
Unix create_system, every file 0755, entries stored uncompressed (so the bytes do not
depend on the zlib version of the machine: CI and laptops publish the same CodeSha256).
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import os
import zipfile
from pathlib import Path

PACKAGE = "gameday_chaos"
#: Lambda's architecture names (a function's ``Architectures``), one layer zip each.
ARCHITECTURES = ("x86_64", "arm64")
DEFAULT_ARCHITECTURE = "x86_64"
BINARY_NAME = "gameday-chaos"
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
UNIX_SYSTEM = 3
EXECUTABLE_MODE = 0o755
FILE_MODE = 0o644
_REGULAR_FILE = 0o100000


class LayerBuildError(RuntimeError):
    """The extension's layer files are missing or incomplete."""


def package_dir() -> Path:
    """Directory of the installed ``gameday_chaos`` package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LayerBuildError(f"the {PACKAGE} package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def layer_zip_name(architecture: str = DEFAULT_ARCHITECTURE) -> str:
    return f"gameday-chaos-layer-{architecture}.zip"


def binary_path(architecture: str) -> Path:
    """The packaged binary of ``architecture`` (what the layer's extension is)."""
    _check_architecture(architecture)
    return package_dir() / "layer" / architecture / "extensions" / BINARY_NAME


def _check_architecture(architecture: str) -> None:
    if architecture not in ARCHITECTURES:
        raise LayerBuildError(
            f"unknown architecture {architecture!r} (known: {', '.join(ARCHITECTURES)})"
        )


def layer_entries(architecture: str = DEFAULT_ARCHITECTURE) -> list[tuple[str, Path]]:
    """``(path in zip, source file)`` for every entry, sorted by path in zip."""
    _check_architecture(architecture)
    root = package_dir() / "layer"
    entries: list[tuple[str, Path]] = []
    for tree in (root / "common", root / architecture):
        for dirpath, dirnames, filenames in os.walk(tree):
            dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
            for name in sorted(filenames):
                source = Path(dirpath) / name
                entries.append((source.relative_to(tree).as_posix(), source))
    entries.sort(key=lambda entry: entry[0])
    missing = sorted(
        {f"extensions/{BINARY_NAME}", "gameday-chaos-wrapper"} - {name for name, _ in entries}
    )
    if missing:
        raise LayerBuildError(
            f"layer files for {architecture} incomplete under {root}: missing {', '.join(missing)}"
        )
    return entries


def build_layer_zip(architecture: str = DEFAULT_ARCHITECTURE) -> bytes:
    """The layer zip of ``architecture``; identical bytes for identical files."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for arcname, source in layer_entries(architecture):
            info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE_TIME)
            info.create_system = UNIX_SYSTEM
            info.external_attr = (_REGULAR_FILE | EXECUTABLE_MODE) << 16
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, source.read_bytes())
    return buffer.getvalue()


def write_layer_zip(out_dir: Path, architecture: str = DEFAULT_ARCHITECTURE) -> Path:
    """Write ``out_dir/gameday-chaos-layer-<arch>.zip`` (atomically) and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / layer_zip_name(architecture)
    partial = out_dir / f".{target.name}.{os.getpid()}.tmp"
    partial.write_bytes(build_layer_zip(architecture))
    os.replace(partial, target)
    return target


def write_layer_zips(out_dir: Path) -> dict[str, Path]:
    """One zip per architecture directly in ``out_dir``."""
    return {architecture: write_layer_zip(out_dir, architecture) for architecture in ARCHITECTURES}


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def lambda_code_sha256(data: bytes) -> str:
    """Base64 of the SHA-256 digest: what Lambda reports as a layer version's CodeSha256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")


def code_sha256(architecture: str = DEFAULT_ARCHITECTURE) -> str:
    """The CodeSha256 Lambda reports for this build's layer of ``architecture``."""
    return lambda_code_sha256(build_layer_zip(architecture))
