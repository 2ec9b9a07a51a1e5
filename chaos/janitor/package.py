"""The janitor's deployment package: this project's restore code and the SDK it needs, zipped
reproducibly.

Only what the handler imports is vendored (`JANITOR_MODULES`: the journal, the restore of
every fault kind, the janitor itself; and ``gameday_chaos.config``, the extension's
stdlib-only configuration). A test proves that this list is exactly what
``chaos.janitor.handler`` imports where pydantic and PyYAML are absent.

So is the AWS SDK it calls (`SDK_PACKAGES`: boto3, botocore, s3transfer, as installed
here): the runtime's bundled botocore may predate S3 conditional writes (``IfNoneMatch``,
2024-08), which every journal write needs; the build refuses a botocore without it. Of
botocore's service models, only the services the janitor calls (`JANITOR_SERVICES`) and
botocore's own data files are kept (the full set is ~30 MB). The package's Python files
come first on the runtime's path (the task root), so the vendored SDK is the one imported;
its small dependencies (jmespath, python-dateutil, urllib3) are the runtime's.

Same sources give the same bytes, as for the extension layer
(chaos.faults.lambda_extension.layer): entries
sorted, timestamps fixed at 1980-01-01 00:00, Unix mode 0644, stored uncompressed (the
bytes do not depend on the zlib version), no ``__pycache__``. Lambda reports the package's
CodeSha256 (base64 of its SHA-256): `gameday janitor deploy` updates the function only
when it differs, so a new botocore here means a new package there.
"""

from __future__ import annotations

import gzip
import importlib.util
import io
import json
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from chaos.faults.lambda_extension.layer import (
    FILE_MODE,
    FIXED_DATE_TIME,
    UNIX_SYSTEM,
    lambda_code_sha256,
)
from chaos.faults.lambda_extension.layer import package_dir as extension_package_dir

_REGULAR_FILE = 0o100000

#: Every module the handler imports at runtime (packages by their ``__init__``).
JANITOR_MODULES = (
    "chaos",
    "chaos.aws",
    "chaos.aws.capacity",
    "chaos.aws.clients",
    "chaos.aws.credentials",
    "chaos.aws.lambda_functions",
    "chaos.aws.partition",
    "chaos.aws.rate_limit",
    "chaos.aws.retry",
    "chaos.aws.subnets",
    "chaos.aws.workloads",
    "chaos.az",
    "chaos.az.mapping",
    "chaos.clock",
    "chaos.durations",
    "chaos.errors",
    "chaos.faults",
    "chaos.faults.az_loss",
    "chaos.faults.az_loss.kind",
    "chaos.faults.base",
    "chaos.faults.lambda_extension",
    "chaos.faults.lambda_extension.kind",
    "chaos.faults.lambda_extension.layer_versions",
    "chaos.faults.lambda_extension.targets",
    "chaos.faults.locks",
    "chaos.files",
    "chaos.host",
    "chaos.janitor",
    "chaos.janitor.handler",
    "chaos.janitor.timer",
    "chaos.janitor.timer_change",
    "chaos.journal",
    "chaos.journal.integrity",
    "chaos.journal.model",
    "chaos.journal.s3",
    "chaos.outcome",
    "chaos.policy",
    "chaos.run",
    "chaos.run.apply",
    "chaos.run.restore",
    "chaos.run.restorers",
    "chaos.run.stop",
    "gameday_chaos",
    "gameday_chaos.config",
)


#: The SDK packages vendored whole (but for botocore's service models and documentation).
SDK_PACKAGES = ("boto3", "botocore", "s3transfer")
#: The AWS services whose botocore models the janitor needs: the journal (s3), its
#: schedules (scheduler), its account (sts), and the restore of every fault kind. A test
#: records the clients a janitor creates while restoring every kind.
JANITOR_SERVICES = ("autoscaling", "ec2", "ecs", "elbv2", "lambda", "s3", "scheduler", "sqs",
                    "sts")
#: Documentation only: never loaded by a client.
_SDK_SKIPPED_SUFFIXES = (".pyc", ".rst", "examples-1.json")


class SdkTooOld(RuntimeError):
    """The installed botocore cannot send S3 conditional writes."""


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


def sdk_files() -> Iterator[tuple[str, Path]]:
    """``(path in zip, file)`` of the vendored SDK packages, as installed here."""
    for package in SDK_PACKAGES:
        spec = importlib.util.find_spec(package)
        if spec is None or spec.origin is None:
            raise FileNotFoundError(f"janitor package: {package} is not installed")
        root = Path(spec.origin).resolve().parent
        for path in sorted(root.rglob("*")):
            relative = path.relative_to(root)
            if not path.is_file() or "__pycache__" in relative.parts \
                    or path.name.endswith(_SDK_SKIPPED_SUFFIXES):
                continue
            if package == "botocore" and not botocore_data_needed(relative):
                continue
            yield (Path(package) / relative).as_posix(), path


def botocore_data_needed(relative: Path) -> bool:
    """botocore's code, its own data files, and the models of `JANITOR_SERVICES` only."""
    parts = relative.parts
    if parts[0] != "data" or len(parts) == 2:  # code, or data/endpoints.json & co.
        return True
    return parts[1] in JANITOR_SERVICES


def check_conditional_writes(files: list[tuple[str, Path]]) -> None:
    """The vendored S3 model must know PutObject's IfNoneMatch (raises SdkTooOld)."""
    models = [path for name, path in files
              if name.startswith("botocore/data/s3/") and name.endswith("service-2.json.gz")]
    for model in models:
        shapes = json.loads(gzip.decompress(model.read_bytes()))["shapes"]
        if "IfNoneMatch" in shapes.get("PutObjectRequest", {}).get("members", {}):
            return
    raise SdkTooOld("the installed botocore has no S3 IfNoneMatch (conditional writes): "
                    "upgrade boto3/botocore before `gameday janitor deploy`")


def build_janitor_package() -> JanitorPackage:
    """The zip's bytes; identical for identical sources (and identical installed SDK)."""
    sdk = list(sdk_files())
    check_conditional_writes(sdk)
    entries = sorted([source_of(module) for module in JANITOR_MODULES] + sdk)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for arcname, source in entries:
            info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE_TIME)
            info.create_system = UNIX_SYSTEM
            info.external_attr = (_REGULAR_FILE | FILE_MODE) << 16
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, source.read_bytes())
    return JanitorPackage(buffer.getvalue(), tuple(name for name, _ in entries))
