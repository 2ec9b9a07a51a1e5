"""The janitor's deployment package: this project's restore code, zipped reproducibly.

Only what the handler imports is vendored (`JANITOR_MODULES`: the journal, the restore of
every fault kind, the janitor itself; and ``gameday_chaos.config``, the extension's
stdlib-only configuration), never boto3: the Lambda Python runtime has it. A test proves
that this list is exactly what ``chaos.janitor.handler`` imports where pydantic and PyYAML
are absent.

Same sources give the same bytes, as for the extension layer (chaos.layer): entries
sorted, timestamps fixed at 1980-01-01 00:00, Unix mode 0644, stored uncompressed (the
bytes do not depend on the zlib version), no ``__pycache__``. Lambda reports the package's
CodeSha256 (base64 of its SHA-256): `gameday janitor deploy` updates the function only
when it differs.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass
from pathlib import Path

from chaos.layer import FILE_MODE, FIXED_DATE_TIME, UNIX_SYSTEM, lambda_code_sha256
from chaos.layer import package_dir as extension_package_dir

_REGULAR_FILE = 0o100000

#: Every module the handler imports at runtime (packages by their ``__init__``).
JANITOR_MODULES = (
    "chaos",
    "chaos.apply",
    "chaos.aws",
    "chaos.aws.az",
    "chaos.aws.capacity",
    "chaos.aws.clients",
    "chaos.aws.credentials",
    "chaos.aws.lambda_functions",
    "chaos.aws.layers",
    "chaos.aws.partition",
    "chaos.aws.rate_limit",
    "chaos.aws.retry",
    "chaos.aws.subnets",
    "chaos.aws.workloads",
    "chaos.clock",
    "chaos.durations",
    "chaos.errors",
    "chaos.faults",
    "chaos.faults.az_loss",
    "chaos.faults.base",
    "chaos.faults.janitor_schedule",
    "chaos.faults.lambda_extension",
    "chaos.faults.lambda_targets",
    "chaos.faults.locks",
    "chaos.files",
    "chaos.host",
    "chaos.janitor",
    "chaos.janitor.handler",
    "chaos.janitor.schedule",
    "chaos.journal",
    "chaos.journal.model",
    "chaos.journal.s3",
    "chaos.policy",
    "chaos.rollback",
    "chaos.stop",
    "gameday_chaos",
    "gameday_chaos.config",
)


@dataclass(frozen=True)
class JanitorPackage:
    zip_bytes: bytes
    files: tuple[str, ...]

    @property
    def code_sha256(self) -> str:
        """What Lambda reports as the function's CodeSha256."""
        return lambda_code_sha256(self.zip_bytes)


def source_of(module: str) -> tuple[str, Path]:
    """``(path in zip, source file)`` of a module of `JANITOR_MODULES`."""
    top, _, rest = module.partition(".")
    root = (Path(__file__).resolve().parents[1] if top == "chaos"
            else extension_package_dir())
    relative = Path(*rest.split(".")) if rest else Path()
    candidate = root / relative
    source = candidate / "__init__.py" if candidate.is_dir() else candidate.with_suffix(".py")
    if not source.is_file():
        raise FileNotFoundError(f"janitor package: no source for {module} ({source})")
    return (Path(top) / source.relative_to(root)).as_posix(), source


def build_janitor_package() -> JanitorPackage:
    """The zip's bytes; identical for identical sources."""
    entries = sorted(source_of(module) for module in JANITOR_MODULES)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for arcname, source in entries:
            info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE_TIME)
            info.create_system = UNIX_SYSTEM
            info.external_attr = (_REGULAR_FILE | FILE_MODE) << 16
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, source.read_bytes())
    return JanitorPackage(buffer.getvalue(), tuple(name for name, _ in entries))
