"""The real Node.js runtime interface client (npm ``aws-lambda-ric``), built once and cached.

Its native addon builds from the C/C++ sources the package bundles (curl and
aws-lambda-cpp): ``cmake``, ``make``, ``g++`` and autotools (Debian: ``cmake make g++
autoconf automake libtool``), about half a minute to two minutes. The build is cached per
client version, Node.js major version and machine under :func:`cache_root`
(``$GAMEDAY_CACHE_DIR``, else ``$XDG_CACHE_HOME/gameday``, else ``~/.cache/gameday``), so
it happens on first need only; concurrent callers wait for one build (a file lock).

A Node.js handler then runs as Lambda's Node.js runtime runs it::

    client = install_node_ric()
    ExecutionEnvironment(code_dir, "index.handler",
                         runtime_command=client.command("index.handler"))
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import platform
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from chaos.sandbox.functions.local.environment import HarnessError

#: aws-lambda-ric 3.x runs on Node.js 18 to 20 (4.x needs Node.js 22).
NODE_RIC_VERSION = "3.3.0"
CACHE_ENV_KEY = "GAMEDAY_CACHE_DIR"
BUILD_TOOLS = {
    "cmake": "cmake",
    "make": "make",
    "g++": "g++",
    "autoreconf": "autoconf",
    "automake": "automake",
    "libtoolize": "libtool",
}
INSTALL_TIMEOUT_S = 900
_ADDON = Path("dist") / "rapid-client.node"
_ENTRY = Path("bin") / "index.mjs"


class NodeRuntimeUnavailable(HarnessError):
    """The Node.js runtime interface client cannot be installed on this machine."""


@dataclass(frozen=True)
class NodeRuntimeClient:
    node: str  # the node executable
    package_dir: Path  # .../node_modules/aws-lambda-ric
    version: str

    @property
    def entry(self) -> Path:
        return self.package_dir / _ENTRY

    def command(self, handler: str) -> list[str]:
        """The runtime command of a Node.js function with ``handler`` (e.g. index.handler)."""
        return [self.node, str(self.entry), handler]


def cache_root() -> Path:
    """Where gameday caches what it builds (overridable with $GAMEDAY_CACHE_DIR)."""
    explicit = os.environ.get(CACHE_ENV_KEY)
    if explicit:
        return Path(explicit)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "gameday"


def _node_major(node: str) -> int:
    done = subprocess.run(
        [node, "--version"], capture_output=True, text=True, timeout=30, check=False
    )
    version = done.stdout.strip().lstrip("v")
    try:
        return int(version.split(".")[0])
    except ValueError:
        raise NodeRuntimeUnavailable(
            f"cannot read the Node.js version of {node}: {done.stdout!r} {done.stderr!r}"
        ) from None


def _require_tools() -> tuple[str, str]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        raise NodeRuntimeUnavailable(
            "Node.js is not installed (node and npm are needed to run Node.js functions; "
            "Debian: apt-get install nodejs npm)"
        )
    missing = sorted(
        {package for tool, package in BUILD_TOOLS.items() if shutil.which(tool) is None}
    )
    if missing:
        raise NodeRuntimeUnavailable(
            "the Node.js runtime interface client's native addon needs build tools that are "
            f"missing (Debian: apt-get install {' '.join(missing)})"
        )
    return node, npm


def installed_dir(version: str = NODE_RIC_VERSION, node_major: int | None = None) -> Path:
    major = node_major if node_major is not None else _node_major(shutil.which("node") or "node")
    name = f"aws-lambda-ric-{version}-node{major}-{platform.machine()}"
    return cache_root() / "node-ric" / name


@contextlib.contextmanager
def _build_lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _npm(npm: str, arguments: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [npm, *arguments],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=INSTALL_TIMEOUT_S,
        check=False,
        env={**os.environ, "npm_config_update_notifier": "false"},
    )


def cached_node_ric(version: str = NODE_RIC_VERSION) -> Path | None:
    """The cached client's directory when it is built already (None: first need builds it,
    or this machine has no Node.js)."""
    if shutil.which("node") is None:
        return None
    try:
        target = installed_dir(version)
    except NodeRuntimeUnavailable:
        return None
    package = target / "node_modules" / "aws-lambda-ric"
    return target if (package / _ADDON).is_file() and (package / _ENTRY).is_file() else None


def install_node_ric(version: str = NODE_RIC_VERSION) -> NodeRuntimeClient:
    """The cached client of ``version``, built first when it is not there yet."""
    node, npm = _require_tools()
    major = _node_major(node)
    target = installed_dir(version, major)
    package = target / "node_modules" / "aws-lambda-ric"
    if (package / _ADDON).is_file() and (package / _ENTRY).is_file():
        return NodeRuntimeClient(node, package, version)
    with _build_lock(target.parent / f".{target.name}.lock"):
        if not (package / _ADDON).is_file():
            _build(npm, version, target)
    return NodeRuntimeClient(node, package, version)


def _build(npm: str, version: str, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        manifest = {
            "name": "gameday-node-ric",
            "version": "1.0.0",
            "private": True,
            "dependencies": {"aws-lambda-ric": version},
        }
        (work / "package.json").write_text(json.dumps(manifest, indent=2))
        # npm 11 runs a dependency's install scripts only once approved (older npm has no
        # such command and runs them anyway)
        _npm(npm, ["install-scripts", "approve", "aws-lambda-ric"], work)
        done = _npm(npm, ["install", "--no-audit", "--no-fund", "--foreground-scripts"], work)
        addon = work / "node_modules" / "aws-lambda-ric" / _ADDON
        if done.returncode == 0 and not addon.is_file():
            _npm(npm, ["install-scripts", "approve", "aws-lambda-ric"], work)
            done = _npm(npm, ["rebuild", "aws-lambda-ric", "--foreground-scripts"], work)
        if done.returncode != 0 or not addon.is_file():
            tail = (done.stdout + done.stderr).strip()[-1500:]
            raise NodeRuntimeUnavailable(
                f"npm could not build aws-lambda-ric {version} (exit {done.returncode}): {tail}"
            )
        if target.exists():
            shutil.rmtree(target)
        os.replace(work, target)
        target.chmod(0o755)  # mkdtemp made it private
    finally:
        if work.exists():
            shutil.rmtree(work, ignore_errors=True)
