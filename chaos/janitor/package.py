"""The janitor's deployment package: this project's restore code and the SDK it needs, zipped
reproducibly.

Only what the handler imports is vendored (`janitor_modules`, followed import by import from
the handler: the journal, the registry and every fault kind's restore, the janitor itself;
and ``gameday_chaos.config``, the extension's stdlib-only configuration), and nothing of it
may import beyond the standard library and `LIGHT_IMPORTS` (the boundary, explained there).
A test proves that this is exactly what ``chaos.janitor.handler`` imports where pydantic and
PyYAML are absent.

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

import ast
import gzip
import importlib.util
import io
import json
import sys
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from chaos.faults.lambda_extension.layer import (
    FILE_MODE,
    FIXED_DATE_TIME,
    UNIX_SYSTEM,
    lambda_code_sha256,
)
from chaos.faults.lambda_extension.layer import package_dir as extension_package_dir

_REGULAR_FILE = 0o100000

#: Where the janitor starts: its Lambda handler's module.
JANITOR_ENTRY = "chaos.janitor.handler"
#: Our packages: followed import by import from `JANITOR_ENTRY`, and shipped.
OWN_PACKAGES = ("chaos", "gameday_chaos")
#: The boundary of the janitor's code: what it may import besides the standard library and
#: our packages. It runs in the Lambda Python runtime with this zip only (the SDK vendored
#: here, botocore's small dependencies from the runtime), long after the run that armed it,
#: to restore what a dead run left: a pydantic or PyYAML import anywhere on that path would
#: fail in the account exactly when the restore is needed. So a kind's `restore.py` (and
#: `kind.py`, which the registry imports) reads its journal entry with the stdlib and
#: boto3; its spec (pydantic) is imported only where an experiment is read.
LIGHT_IMPORTS = ("boto3", "botocore")


class HeavyImport(RuntimeError):
    """A module the janitor would run imports a package the janitor cannot ship."""


def imported_names(tree: ast.Module, module: str, is_package: bool) -> list[str]:
    """The modules `module` imports when it loads: its statements outside functions and
    classes, but for those under ``if TYPE_CHECKING:`` (for types only). Function-local
    imports run only when called: the kind hooks that load a spec or the result's evidence,
    which the janitor never calls."""
    names: list[str] = []
    for node in _loading_statements(tree.body):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = module.split(".")[
                    : len(module.split(".")) - node.level + (1 if is_package else 0)
                ]
                base = ".".join([*package, base] if base else package)
            names.append(base)
            names.extend(f"{base}.{alias.name}" for alias in node.names)
    return names


def _loading_statements(body: list[ast.stmt]) -> Iterator[ast.stmt]:
    for node in body:
        if isinstance(node, ast.If):
            test = node.test
            if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
                isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
            ):
                yield from _loading_statements(node.orelse)
                continue
            yield from _loading_statements(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            yield from _loading_statements(
                node.body
                + node.orelse
                + node.finalbody
                + [statement for handler in node.handlers for statement in handler.body]
            )
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node


@cache
def janitor_modules() -> tuple[str, ...]:
    """Every module of ours the handler loads (packages by their ``__init__``), sorted;
    raises HeavyImport when one of them imports beyond the standard library and
    `LIGHT_IMPORTS`."""
    found: set[str] = set()
    pending = [JANITOR_ENTRY]
    while pending:
        module = pending.pop()
        if module in found:
            continue
        found.add(module)
        parts = module.split(".")
        pending.extend(".".join(parts[:depth]) for depth in range(1, len(parts)))
        _, source = source_of(module)
        tree = ast.parse(source.read_text(encoding="utf-8"))
        for name in imported_names(tree, module, source.name == "__init__.py"):
            top = name.split(".")[0]
            if top in OWN_PACKAGES:
                if _is_module(name):
                    pending.append(name)
            elif top not in sys.stdlib_module_names and top not in LIGHT_IMPORTS:
                raise HeavyImport(
                    f"{module} imports {name}: the janitor runs where there is "
                    f"no {top} (chaos.janitor.package.LIGHT_IMPORTS)"
                )
    return tuple(sorted(found))


def _is_module(name: str) -> bool:
    try:
        source_of(name)
    except FileNotFoundError:
        return False
    return True


#: The SDK packages vendored whole (but for botocore's service models and documentation).
SDK_PACKAGES = ("boto3", "botocore", "s3transfer")
#: The AWS services whose botocore models the janitor needs: the journal (s3), its
#: schedules (scheduler), its account (sts), and the restore of every fault kind. A test
#: records the clients a janitor creates while restoring every kind.
JANITOR_SERVICES = ("autoscaling", "ec2", "ecs", "elbv2", "lambda", "s3", "scheduler", "sqs", "sts")
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
    """``(path in zip, source file)`` of a module of ours (`janitor_modules`)."""
    top, _, rest = module.partition(".")
    root = Path(__file__).resolve().parents[1] if top == "chaos" else extension_package_dir()
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
            if (
                not path.is_file()
                or "__pycache__" in relative.parts
                or path.name.endswith(_SDK_SKIPPED_SUFFIXES)
            ):
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
    models = [
        path
        for name, path in files
        if name.startswith("botocore/data/s3/") and name.endswith("service-2.json.gz")
    ]
    for model in models:
        shapes = json.loads(gzip.decompress(model.read_bytes()))["shapes"]
        if "IfNoneMatch" in shapes.get("PutObjectRequest", {}).get("members", {}):
            return
    raise SdkTooOld(
        "the installed botocore has no S3 IfNoneMatch (conditional writes): "
        "upgrade boto3/botocore before `gameday janitor deploy`"
    )


def build_janitor_package() -> JanitorPackage:
    """The zip's bytes; identical for identical sources (and identical installed SDK)."""
    sdk = list(sdk_files())
    check_conditional_writes(sdk)
    entries = sorted([source_of(module) for module in janitor_modules()] + sdk)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_STORED) as archive:
        for arcname, source in entries:
            info = zipfile.ZipInfo(arcname, date_time=FIXED_DATE_TIME)
            info.create_system = UNIX_SYSTEM
            info.external_attr = (_REGULAR_FILE | FILE_MODE) << 16
            info.compress_type = zipfile.ZIP_STORED
            archive.writestr(info, source.read_bytes())
    return JanitorPackage(buffer.getvalue(), tuple(name for name, _ in entries))
