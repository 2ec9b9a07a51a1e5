"""The runtime client each Lambda runtime of the sandbox runs: ``awslambdaric`` for Python,
npm's ``aws-lambda-ric`` for Node.js (built on first need and cached, see
:mod:`chaos.sandbox.functions.local.node_ric`).

The Node.js client is resolved once per sandbox: the first Node.js environment (or
``gameday sandbox up``) waits for it, later ones reuse it; when it cannot be built (no
Node.js, no compiler) every Node.js invocation fails its init with that one reason, as a
function whose runtime cannot start does, and Python functions are not affected.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chaos.sandbox.functions.local import (
    HarnessError,
    NodeRuntimeClient,
    NodeRuntimeUnavailable,
    install_node_ric,
)
from chaos.sandbox.functions.local.node_ric import installed_dir

log = logging.getLogger(__name__)

PYTHON_PREFIX = "python3"
NODE_PREFIX = "nodejs"


class RuntimeUnavailable(HarnessError):
    """The sandbox cannot run this function's runtime (the one-line reason is the message)."""


@dataclass(frozen=True)
class NodeClientState:
    state: str  # "not needed yet" | "building" | "ready" | "unavailable"
    reason: str = ""
    cache_dir: str = ""
    node_version: str = ""
    build_s: float | None = None


class RuntimeClients:
    """Resolves a function's runtime command; the Node.js client is installed at most once."""

    def __init__(self, install: Callable[[], NodeRuntimeClient] = install_node_ric) -> None:
        self._install = install
        self._lock = threading.Lock()  # one resolution at a time; others wait for it
        self._node: NodeRuntimeClient | None = None
        self._node_error: str | None = None
        self._building_since: float | None = None
        self._build_s: float | None = None
        self._node_version = ""

    def command(self, runtime: str, handler: str) -> list[str] | None:
        """The runtime command of a function (None: the harness's default, awslambdaric);
        raises :class:`RuntimeUnavailable` with the reason this runtime cannot run here."""
        if runtime.startswith(PYTHON_PREFIX) or runtime == "":
            return None
        if runtime.startswith(NODE_PREFIX):
            return self.node_client().command(handler)
        raise RuntimeUnavailable(
            f"runtime {runtime} is not run by the sandbox (it runs {PYTHON_PREFIX}.x and "
            f"{NODE_PREFIX}*.x functions)"
        )

    def node_client(self) -> NodeRuntimeClient:
        """The Node.js runtime interface client, installed (built) on the first call."""
        with self._lock:
            if self._node is not None:
                return self._node
            if self._node_error is not None:
                raise RuntimeUnavailable(self._node_error)
            self._building_since = time.monotonic()
            try:
                self._node = self._install()
            except NodeRuntimeUnavailable as error:
                self._node_error = f"Node.js functions cannot run: {error}"
                log.warning("%s", self._node_error)
                raise RuntimeUnavailable(self._node_error) from None
            finally:
                self._build_s = time.monotonic() - self._building_since
                self._building_since = None
            self._node_version = _node_version(self._node.node)
            log.info(
                "Node.js runtime interface client %s ready in %.1f s: %s",
                self._node.version,
                self._build_s,
                self._node.package_dir,
            )
            return self._node

    def node_state(self) -> NodeClientState:
        if self._node is not None:
            return NodeClientState(
                "ready",
                cache_dir=str(self._node.package_dir.parents[1]),
                node_version=self._node_version,
                build_s=self._build_s,
            )
        if self._node_error is not None:
            return NodeClientState("unavailable", reason=self._node_error, build_s=self._build_s)
        if self._building_since is not None:
            return NodeClientState("building", cache_dir=_cache_dir_or_empty())
        return NodeClientState("not needed yet", cache_dir=_cache_dir_or_empty())

    def status(self) -> dict[str, Any]:
        return {"nodejs": self.node_state().__dict__}


def _cache_dir_or_empty() -> str:
    try:
        return str(installed_dir()) if shutil.which("node") else ""
    except HarnessError:
        return ""


def _node_version(node: str) -> str:
    try:
        done = subprocess.run(
            [node, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except OSError:
        return ""
    return done.stdout.strip()
