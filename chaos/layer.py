"""Build the fault-injection extension's Lambda layer zip, reproducibly.

The sources come from the installed ``gameday_chaos`` package (``extension/`` in
the repository), so the build works the same from a checkout or an installed
wheel. Zip root (= ``/opt`` in Lambda)::

    extensions/gameday-chaos     launcher, 0755 (Lambda starts every file in /opt/extensions)
    gameday-chaos-wrapper        exec wrapper, 0755 (AWS_LAMBDA_EXEC_WRAPPER)
    gameday_chaos/*.py           the extension's stdlib-only sources, 0644

Same sources give the same bytes: entries sorted, timestamps fixed at
1980-01-01 00:00, Unix create_system and modes fixed (every file shipped from the
package's ``layer/`` directory is executable, sources are not), entries stored
uncompressed (so the bytes do not depend on the zlib version), no ``__pycache__``.
"""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import io
import os
import zipfile
from pathlib import Path

LAYER_ZIP_NAME = "gameday-chaos-layer.zip"
PACKAGE = "gameday_chaos"
FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
UNIX_SYSTEM = 3
EXECUTABLE_MODE = 0o755
FILE_MODE = 0o644
_REGULAR_FILE = 0o100000


class LayerBuildError(RuntimeError):
    """The extension's sources are missing or incomplete."""


def package_dir() -> Path:
    """Directory of the installed ``gameday_chaos`` package."""
    spec = importlib.util.find_spec(PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise LayerBuildError(f"the {PACKAGE} package is not installed")
    return Path(next(iter(spec.submodule_search_locations)))


def layer_entries() -> list[tuple[str, Path, int]]:
    """``(path in zip, source file, mode)`` for every entry, sorted by path in zip."""
    root = package_dir()
    entries: list[tuple[str, Path, int]] = []
    for source in sorted(root.glob("*.py")):
        entries.append((f"{PACKAGE}/{source.name}", source, FILE_MODE))
    layer_root = root / "layer"
    for dirpath, dirnames, filenames in os.walk(layer_root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__")
        for name in sorted(filenames):
            source = Path(dirpath) / name
            arcname = source.relative_to(layer_root).as_posix()
            entries.append((arcname, source, EXECUTABLE_MODE))
    entries.sort(key=lambda entry: entry[0])
    names = {name for name, _, _ in entries}
    required = {"extensions/gameday-chaos", "gameday-chaos-wrapper", f"{PACKAGE}/extension.py"}
    missing = sorted(required - names)
    if missing:
        raise LayerBuildError(
            f"layer sources incomplete under {root}: missing {', '.join(missing)}"
        )
    return entries


def build_layer_zip() -> bytes:
    """The layer zip's bytes; identical for identical sources."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for arcname, source, mode in layer_entries():
            info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE_TIME)
            info.create_system = UNIX_SYSTEM
            info.external_attr = (_REGULAR_FILE | mode) << 16
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, source.read_bytes())
    return buffer.getvalue()


def write_layer_zip(out_dir: Path) -> Path:
    """Build the zip into ``out_dir/gameday-chaos-layer.zip`` (atomically) and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / LAYER_ZIP_NAME
    partial = out_dir / f".{LAYER_ZIP_NAME}.{os.getpid()}.tmp"
    partial.write_bytes(build_layer_zip())
    os.replace(partial, target)
    return target


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def lambda_code_sha256(data: bytes) -> str:
    """Base64 of the SHA-256 digest: what Lambda reports as a layer version's CodeSha256."""
    return base64.b64encode(hashlib.sha256(data).digest()).decode("ascii")
