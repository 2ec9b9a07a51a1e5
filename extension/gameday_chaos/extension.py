"""The external extension process: Extensions API client plus the Runtime API proxy.

Start-up (Lambda's init phase, before the runtime starts):

1. decide whether to act: the config key is set and the disable key is not
   (exactly the condition under which the exec wrapper redirects the runtime);
2. parse the config - invalid: one log line and a pass-through proxy;
3. check that the real Runtime API accepts connections, bind the proxy port -
   on failure exit non-zero (and report ``/extension/init/error`` when possible), so
   init fails loudly instead of invocations hanging;
4. register for INVOKE and SHUTDOWN, start the proxy, then loop on ``/event/next``
   until SHUTDOWN and exit 0.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Mapping

from .config import (
    CONFIG_ENV_KEY,
    DISABLE_ENV_KEY,
    EXTENSION_NAME,
    ConfigError,
    is_disabled,
    parse_config,
    proxy_port,
)
from .engine import FaultEngine, Telemetry
from .proxy import ProtocolError, RuntimeProxy, Upstream

# typing is only needed by type checkers: not importing it keeps the cold start short
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

EXTENSIONS_PREFIX = "/2020-01-01/extension"


def log(message: str) -> None:
    try:
        sys.stderr.write(f"[{EXTENSION_NAME}] {message}\n")
        sys.stderr.flush()
    except (OSError, ValueError):
        pass


class ExtensionsApiError(Exception):
    pass


class ExtensionsClient:
    """Minimal Extensions API client on one keep-alive connection (no http.client import)."""

    def __init__(self, api: str) -> None:
        host, _, port = api.rpartition(":")
        if not host or not port.isdigit():
            raise ExtensionsApiError(f"AWS_LAMBDA_RUNTIME_API is not host:port: {api!r}")
        self._conn = Upstream(host.strip("[]"), int(port), connect_timeout=5.0)
        self.identifier = ""
        self._next_request: bytes | None = None

    def _call(self, method: str, path: str, headers: dict[str, str], body: bytes = b"") -> Any:
        lines = [f"{method} {EXTENSIONS_PREFIX}{path} HTTP/1.1", "Host: runtime-api"]
        lines.extend(f"{k}: {v}" for k, v in headers.items())
        if method == "POST":
            lines.append("Content-Type: application/json")
            lines.append(f"Content-Length: {len(body)}")
        request = ("\r\n".join(lines) + "\r\n\r\n").encode() + body
        response = self._conn.exchange(request)
        if not 200 <= response.status < 300:
            raise ExtensionsApiError(
                f"{method} {path} answered {response.status}: {response.body[:300]!r}"
            )
        return response

    def register(self, name: str, events: list[str]) -> dict[str, Any]:
        body = json.dumps({"events": events}).encode()
        response = self._call("POST", "/register", {"Lambda-Extension-Name": name}, body)
        identifier = response.headers.get(b"lambda-extension-identifier", b"").decode("latin-1")
        if not identifier:
            raise ExtensionsApiError("register answered without Lambda-Extension-Identifier")
        self.identifier = identifier
        try:
            info = json.loads(response.body or b"{}")
        except ValueError:
            info = {}
        return info if isinstance(info, dict) else {}

    def next_event(self) -> dict[str, Any]:
        """The next event; INVOKE events are not decoded (nothing here needs their fields)."""
        if self._next_request is None:
            self._next_request = (
                f"GET {EXTENSIONS_PREFIX}/event/next HTTP/1.1\r\nHost: runtime-api\r\n"
                f"Lambda-Extension-Identifier: {self.identifier}\r\n\r\n"
            ).encode()
        response = self._conn.exchange(self._next_request)
        if response.status != 200:
            raise ExtensionsApiError(
                f"GET /event/next answered {response.status}: {response.body[:300]!r}"
            )
        body = response.body
        if b"SHUTDOWN" not in body:
            return {"eventType": "INVOKE"}
        try:
            event = json.loads(body)
        except ValueError:
            raise ExtensionsApiError("event/next answered a body that is not JSON") from None
        if not isinstance(event, dict):
            raise ExtensionsApiError("event/next answered a body that is not an object")
        return event

    def report_error(self, kind: str, error_type: str, message: str) -> None:
        body = json.dumps({"errorMessage": message, "errorType": error_type, "stackTrace": []})
        headers = {
            "Lambda-Extension-Identifier": self.identifier,
            "Lambda-Extension-Function-Error-Type": error_type,
        }
        self._call("POST", f"/{kind}/error", headers, body.encode())


def _describe(config: Any) -> str:
    faults = json.dumps(config.faults(), separators=(",", ":"), sort_keys=True)
    expires = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(config.expires_at))
    return f"run {config.run_id}, faults {faults}, expires {expires}"


def main(environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    api = env.get("AWS_LAMBDA_RUNTIME_API", "")
    if not api:
        log("FATAL: AWS_LAMBDA_RUNTIME_API is not set (not running in a Lambda environment)")
        return 1
    function_name = env.get("AWS_LAMBDA_FUNCTION_NAME", "unknown")
    raw_config = env.get(CONFIG_ENV_KEY, "")
    proxy: RuntimeProxy | None = None
    init_error: str | None = None

    if is_disabled(env):
        log(f"{DISABLE_ENV_KEY} is set: disabled, the runtime talks to Lambda directly")
    elif not raw_config:
        log(f"{CONFIG_ENV_KEY} is not set: idle, the runtime talks to Lambda directly")
    else:
        engine: FaultEngine | None = None
        summary = "pass-through"
        try:
            config = parse_config(raw_config)
            engine = FaultEngine(config)
            summary = _describe(config)
            if not config.active(time.time()):
                summary += " (already expired: injecting nothing)"
        except ConfigError as exc:
            log(f"invalid {CONFIG_ENV_KEY}, passing every invocation through unchanged: {exc}")
        telemetry = Telemetry(function_name)
        if engine is not None and config.active(time.time()):
            telemetry.emit_init(config.run_id)
        try:
            port = proxy_port(env)
            proxy = RuntimeProxy(api, port, engine, telemetry, log)
        except (ConfigError, ValueError) as exc:
            init_error = str(exc)
        if proxy is not None:
            try:
                proxy.check_upstream()
            except OSError as exc:
                log(f"FATAL: cannot reach the Lambda Runtime API at {api}: {exc}")
                return 1
            try:
                proxy.bind()
            except OSError as exc:
                init_error = f"cannot listen on 127.0.0.1:{proxy.port}: {exc}"

    client = ExtensionsClient(api)
    events = ["INVOKE", "SHUTDOWN"] if proxy is not None and init_error is None else ["SHUTDOWN"]
    try:
        client.register(EXTENSION_NAME, events)
    except (OSError, ProtocolError, ExtensionsApiError) as exc:
        log(f"FATAL: cannot register with the Lambda Extensions API at {api}: {exc}")
        return 1
    if init_error is not None:
        log(f"FATAL: {init_error}")
        with contextlib.suppress(OSError, ProtocolError, ExtensionsApiError):
            client.report_error("init", "Extension.GamedayChaosInitError", init_error)
        return 1
    if proxy is not None:
        proxy.start()
        python = "{}.{}".format(*sys.version_info[:2])
        log(f"runtime API proxy on 127.0.0.1:{proxy.port} -> {api} (python {python}); {summary}")

    while True:
        try:
            event = client.next_event()
        except (OSError, ProtocolError, ExtensionsApiError) as exc:
            log(f"FATAL: lost the Lambda Extensions API: {exc}")
            if proxy is not None:
                proxy.close()
            return 1
        if event.get("eventType") == "SHUTDOWN":
            if proxy is not None:
                proxy.close()
            log(f"shutdown ({event.get('shutdownReason', 'unknown')})")
            return 0
