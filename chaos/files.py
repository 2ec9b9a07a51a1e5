"""Files written so that a crash leaves the old or the new version, never half of one."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

__all__ = ["PRIVATE", "PUBLIC", "write_atomically"]

#: Journals and state that may hold original environment values: the owner only.
PRIVATE = 0o600
#: Reports: meant to be read and shared.
PUBLIC = 0o644


def write_atomically(path: Path, text: str, *, mode: int = PRIVATE) -> None:
    """Replace `path` with `text` (temp file, fsync, rename, fsync of the folder)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
