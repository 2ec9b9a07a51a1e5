"""The janitor's package: reproducible, with the SDK it needs, complete without pydantic."""

from __future__ import annotations

import ast
import gzip
import io
import json
import subprocess
import sys
import zipfile
from pathlib import Path

import boto3
import pytest

from chaos.faults import FAULT_KINDS
from chaos.faults.lambda_extension.layer import FIXED_DATE_TIME
from chaos.janitor import package
from chaos.janitor.package import (
    JANITOR_SERVICES,
    HeavyImport,
    SdkTooOld,
    build_janitor_package,
    check_conditional_writes,
    janitor_modules,
)

REPO = Path(__file__).resolve().parents[2]
#: Run first in the child: every import of these fails, as in the Lambda Python runtime.
BLOCK_IMPORTS = """
import importlib.abc, sys
class NotInTheRuntime(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("pydantic", "pydantic_core", "yaml"):
            raise ImportError(f"{name} is not in the Lambda Python runtime")
        return None
sys.meta_path.insert(0, NotInTheRuntime())
"""
REPORT_MODULES = """
import json, sys
import chaos.janitor.handler
names = sorted(name for name in sys.modules if name.split(".")[0] in ("chaos", "gameday_chaos"))
print(json.dumps({"modules": names, "chaos": sys.modules["chaos"].__file__,
                  "botocore": sys.modules["botocore"].__file__}))
"""
#: What the Lambda Python runtime provides besides boto3 and botocore, which the package
#: brings: botocore's dependencies.
RUNTIME_DEPENDENCIES = ("jmespath", "dateutil", "urllib3", "six.py")


def run_python(
    code: str, *flags: str, env: dict[str, str] | None = None, cwd: Path = REPO
) -> dict[str, object]:
    completed = subprocess.run(
        [sys.executable, *flags, "-c", BLOCK_IMPORTS + code],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
        cwd=cwd,
    )
    assert completed.returncode == 0, completed.stderr
    return dict(json.loads(completed.stdout.strip().splitlines()[-1]))


def test_the_handler_imports_without_pydantic_and_yaml_and_needs_exactly_the_packaged_modules() -> (
    None
):
    report = run_python(REPORT_MODULES)
    assert report["modules"] == list(janitor_modules())


def test_every_kinds_restore_is_shipped_and_imports_only_the_light_set() -> None:
    # The boundary (chaos.janitor.package.LIGHT_IMPORTS): the janitor restores a dead run's
    # faults in the Lambda runtime from its zip alone, where pydantic and PyYAML are absent;
    # a kind's restore.py that imported them would fail exactly when it is needed.
    shipped = janitor_modules()
    for kind in FAULT_KINDS.values():
        restore_module = kind.__module__.rsplit(".", 1)[0] + ".restore"
        assert restore_module in shipped, kind.type_name
        source = Path(package.source_of(restore_module)[1]).read_text(encoding="utf-8")
        tops = {
            name.split(".")[0]
            for name in package.imported_names(ast.parse(source), restore_module, is_package=False)
        }
        assert tops <= set(sys.stdlib_module_names) | {
            *package.LIGHT_IMPORTS,
            *package.OWN_PACKAGES,
        }, restore_module


def test_a_module_that_imports_pydantic_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(package, "JANITOR_ENTRY", "chaos.faults.lambda_extension.spec")
    with pytest.raises(HeavyImport, match="imports pydantic"):
        janitor_modules.__wrapped__()


def test_the_package_alone_with_the_runtime_dependencies_is_enough(tmp_path: Path) -> None:
    with zipfile.ZipFile(io.BytesIO(build_janitor_package().zip_bytes)) as archive:
        archive.extractall(tmp_path / "task")
    site_packages = Path(boto3.__file__).resolve().parents[1]
    runtime = tmp_path / "runtime"  # no boto3, no botocore: the package's are the ones used
    runtime.mkdir()
    for name in RUNTIME_DEPENDENCIES:
        (runtime / name).symlink_to(site_packages / name)
    # -S: no site, so neither the editable install of this checkout nor any .pth file;
    # the task root first, then the runtime's packages.
    env = {"PYTHONPATH": f"{tmp_path / 'task'}:{runtime}", "PATH": "/usr/bin:/bin"}
    report = run_python(REPORT_MODULES, "-S", env=env, cwd=tmp_path)
    assert str(report["chaos"]).startswith(str(tmp_path / "task"))
    assert str(report["botocore"]).startswith(str(tmp_path / "task"))
    assert report["modules"] == list(janitor_modules())


def test_the_package_is_reproducible_and_vendors_the_sdk_it_needs() -> None:
    first, second = build_janitor_package(), build_janitor_package()
    assert first.zip_bytes == second.zip_bytes
    assert first.code_sha256 == second.code_sha256
    with zipfile.ZipFile(io.BytesIO(first.zip_bytes)) as archive:
        infos = archive.infolist()
    names = [info.filename for info in infos]
    assert names == sorted(names)
    assert all(info.date_time == FIXED_DATE_TIME for info in infos)
    assert {(info.external_attr >> 16) & 0o777 for info in infos} == {0o644}
    assert {name.split("/")[0] for name in names} == {
        "chaos",
        "gameday_chaos",
        "boto3",
        "botocore",
        "s3transfer",
    }
    assert "chaos/janitor/handler.py" in names and "gameday_chaos/config.py" in names
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)
    assert not any(
        name.startswith(("chaos/experiment", "chaos/sandbox", "chaos/load")) for name in names
    )
    models = {
        name.split("/")[2]
        for name in names
        if name.startswith("botocore/data/") and name.count("/") > 2
    }
    assert models == set(JANITOR_SERVICES)
    assert "botocore/data/endpoints.json" in names and "botocore/cacert.pem" in names
    assert len(first.zip_bytes) < 50 * 1024 * 1024, "Lambda's direct upload limit (zipped)"


def test_a_botocore_without_conditional_writes_is_refused(tmp_path: Path) -> None:
    model = tmp_path / "service-2.json.gz"
    model.write_bytes(
        gzip.compress(b'{"shapes": {"PutObjectRequest": {"members": {"Bucket": {}, "Key": {}}}}}')
    )
    with pytest.raises(SdkTooOld, match="IfNoneMatch"):
        check_conditional_writes([("botocore/data/s3/2006-03-01/service-2.json.gz", model)])
