"""A local Lambda execution environment: extensions, the real runtime client, one invoke at a time.

Lifecycle, as in Lambda:

* **init** - layers are extracted into a private "opt" directory, every
  executable in ``<opt>/extensions/`` is started and must register; then the
  runtime (``python -m awslambdaric <handler>`` by default) starts, through
  ``AWS_LAMBDA_EXEC_WRAPPER`` when set (``/opt/...`` is rewritten to the private
  opt directory). Init is over when the runtime and every extension wait in
  their ``next`` calls.
* **invoke** - INVOKE goes to subscribed extensions and the event to the runtime;
  the result comes back when the runtime posts it, or the invocation times out
  at its deadline (the environment is then reset, like Lambda does, and the next
  invoke initializes a fresh one).
* **shutdown** - SIGTERM to the runtime, SHUTDOWN to extensions, SIGKILL for
  anything still alive after the shutdown budget.

Ports on 127.0.0.1 are shared by all environments of a host (Lambda gives each
environment its own network namespace): an extension listening on a fixed port
needs a distinct port per environment (see :func:`chaos.host.free_port`).
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import zipfile
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from chaos.host import extract_zip
from chaos.sandbox.functions.local.api import ApiServer, Invocation, LambdaApi, new_trace_id

EXEC_WRAPPER_ENV_KEY = "AWS_LAMBDA_EXEC_WRAPPER"
DISK_DIR_ENV_KEY = "GAMEDAY_CHAOS_DISK_DIR"  # where the fault extension's disk mode writes
MAX_LOG_LINES = 200_000
RUNTIME_SIGTERM_GRACE_S = 0.3


class HarnessError(RuntimeError):
    """The local environment could not do what was asked."""


class InitError(HarnessError):
    """Init failed (an extension or the runtime crashed, reported an init error, or hung)."""

    def __init__(self, error_type: str, message: str, payload: bytes = b"") -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type
        self.message = message
        self.payload = payload


@dataclass(frozen=True)
class LogLine:
    source: str  # "runtime" or "extension:<file name>"
    text: str
    time: float


@dataclass(frozen=True)
class InitReport:
    init_ms: float  # first process started -> runtime and every extension ready
    extensions_ms: dict[str, float]  # per extension file: started -> first /event/next
    runtime_ms: float  # runtime started -> its first /invocation/next


@dataclass(frozen=True)
class InvokeResult:
    request_id: str
    status: int  # as Lambda's Invoke StatusCode (200 also for function errors)
    payload: bytes
    function_error: str | None  # the error type the runtime reported; None on success
    duration_ms: float
    timed_out: bool = False
    streamed: bool = False
    chunks: int = 0
    content_type: str | None = None

    def json(self) -> Any:
        return json.loads(self.payload)

    @property
    def error_type(self) -> str | None:
        """``errorType`` of the error payload (None on success or when absent)."""
        if self.function_error is None:
            return None
        try:
            document = json.loads(self.payload)
        except ValueError:
            return None
        value = document.get("errorType") if isinstance(document, dict) else None
        return value if isinstance(value, str) else None


@dataclass(frozen=True)
class ProcessExit:
    name: str
    exit_code: int | None  # None: was still running and got killed
    clean: bool  # exited by itself with status 0 within the shutdown budget


@dataclass(frozen=True)
class ShutdownReport:
    reason: str
    extensions: dict[str, ProcessExit] = field(default_factory=dict)
    runtime: ProcessExit | None = None


def extract_layer(source: Path, opt_dir: Path) -> None:
    """Merge a layer (zip file or directory) into ``opt_dir``, keeping Unix modes."""
    if source.is_dir():
        shutil.copytree(
            source, opt_dir, dirs_exist_ok=True, ignore=shutil.ignore_patterns("__pycache__")
        )
        return
    with zipfile.ZipFile(source) as archive:
        escaping = extract_zip(archive, opt_dir)
    if escaping:
        raise HarnessError(f"layer {source} has an entry outside its root: {escaping[0]}")


class _Proc:
    def __init__(self, name: str, popen: subprocess.Popen[bytes], started: float) -> None:
        self.name = name
        self.popen = popen
        self.started = started
        self.exit_code: int | None = None
        self.threads: list[threading.Thread] = []


class ExecutionEnvironment:
    """One Lambda execution environment on this host (see the module doc)."""

    def __init__(
        self,
        code_dir: str | Path,
        handler: str,
        *,
        env: Mapping[str, str] | None = None,
        timeout_s: float = 3.0,
        layers: Sequence[str | Path] = (),
        function_name: str = "function",
        memory_mb: int = 128,
        region: str = "us-east-1",
        account_id: str = "123456789012",
        version: str = "$LATEST",
        runtime_command: Sequence[str] | None = None,
        runtime: str = "",
        python: str = sys.executable,
        init_timeout_s: float = 10.0,
        shutdown_timeout_s: float = 2.0,
        log_sink: Callable[[LogLine], None] | None = None,
        max_log_lines: int = MAX_LOG_LINES,
    ) -> None:
        self.code_dir = Path(code_dir).resolve()
        self.handler = handler
        self.user_env = dict(env or {})
        self.timeout_s = timeout_s
        self.layers = [Path(layer) for layer in layers]
        self.function_name = function_name
        self.memory_mb = memory_mb
        self.region = region
        self.account_id = account_id
        self.runtime_command = list(runtime_command) if runtime_command else None
        self.runtime = runtime  # Lambda's runtime identifier, e.g. nodejs20.x ("": Python)
        self.python = python
        self.init_timeout_s = init_timeout_s
        self.shutdown_timeout_s = shutdown_timeout_s
        self.log_sink = log_sink
        self.version = version
        self.function_arn = f"arn:aws:lambda:{region}:{account_id}:function:{function_name}"

        self._lock = threading.RLock()  # one init / invoke / shutdown at a time
        self._tmp: Path | None = None
        self._opt: Path | None = None
        self._api: LambdaApi | None = None
        self._server: ApiServer | None = None
        self._extensions: list[_Proc] = []
        self._runtime: _Proc | None = None
        self._logs: deque[LogLine] = deque(maxlen=max_log_lines)
        self._logs_lock = threading.Lock()
        self.init_reports: list[InitReport] = []
        self.shutdown_reports: list[ShutdownReport] = []

    # -- public API ---------------------------------------------------------------

    @property
    def started(self) -> bool:
        return self._api is not None

    @property
    def opt_dir(self) -> Path | None:
        return self._opt

    def __enter__(self) -> ExecutionEnvironment:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def process_ids(self) -> dict[str, int]:
        """Process ids of the running runtime and extensions ("runtime", "extension:<file>")."""
        with self._lock:
            procs = [*self._extensions, *([self._runtime] if self._runtime else [])]
            return {proc.name: proc.popen.pid for proc in procs if proc.exit_code is None}

    def logs(self, source: str | None = None) -> list[LogLine]:
        """Captured stdout/stderr lines; ``source`` filters by prefix ("runtime", "extension")."""
        with self._logs_lock:
            lines = list(self._logs)
        return [line for line in lines if source is None or line.source.startswith(source)]

    def start(self) -> InitReport:
        """Run the init phase (no-op when already initialized); raises :class:`InitError`."""
        with self._lock:
            if self._api is not None:
                return self.init_reports[-1]
            try:
                report = self._init()
            except BaseException:
                self._teardown("failure", graceful=False)
                raise
            self.init_reports.append(report)
            return report

    def invoke(
        self,
        payload: bytes = b"{}",
        timeout_s: float | None = None,
        *,
        client_context: str | None = None,
    ) -> InvokeResult:
        """Invoke once (serially, like Lambda); ``timeout_s`` overrides the function timeout."""
        with self._lock:
            if self._api is None:
                self.start()
            api = self._api
            assert api is not None
            timeout = self.timeout_s if timeout_s is None else timeout_s
            started = time.monotonic()
            deadline = started + timeout
            request_id = str(uuid.uuid4())
            invocation = Invocation(
                request_id=request_id,
                payload=payload,
                deadline_ms=int((time.time() + timeout) * 1000),
                function_arn=self.function_arn,
                trace_id=new_trace_id(),
                client_context=client_context,
            )
            with api.cond:
                # the previous invoke ends when every INVOKE subscriber is back in /event/next
                while not api.extensions_idle() and not self._crashed():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    api.cond.wait(remaining)
            api.submit(invocation)
            with api.cond:
                while not invocation.done and not self._crashed():
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    api.cond.wait(remaining)
                done = invocation.done
            duration_ms = (time.monotonic() - started) * 1000.0
            if done:
                return InvokeResult(
                    request_id=request_id,
                    status=200,
                    payload=invocation.body,
                    function_error=invocation.error_type if invocation.outcome == "error" else None,
                    duration_ms=duration_ms,
                    streamed=invocation.streamed,
                    chunks=invocation.chunks,
                    content_type=invocation.content_type,
                )
            crashed = self._crashed()
            if crashed is not None:
                error_type = "Runtime.ExitError"
                message = f"RequestId: {request_id} Error: {crashed} exited unexpectedly"
                self._teardown("failure", graceful=False)
                timed_out = False
            else:
                error_type = "Sandbox.Timedout"
                message = (
                    f"RequestId: {request_id} Error: Task timed out after {timeout:.2f} seconds"
                )
                self._teardown("timeout", graceful=False)
                timed_out = True
            body = json.dumps({"errorType": error_type, "errorMessage": message}).encode()
            return InvokeResult(
                request_id=request_id,
                status=200,
                payload=body,
                function_error=error_type,
                duration_ms=duration_ms,
                timed_out=timed_out,
            )

    def shutdown(self, reason: str = "spindown") -> ShutdownReport | None:
        """End this environment (SHUTDOWN to extensions); the next invoke re-initializes."""
        with self._lock:
            if self._api is None:
                return None
            return self._teardown(reason, graceful=True)

    def close(self) -> None:
        """Shut down and remove the private opt directory."""
        with self._lock:
            self.shutdown()
            if self._tmp is not None:
                shutil.rmtree(self._tmp, ignore_errors=True)
                self._tmp = None
                self._opt = None

    # -- init -----------------------------------------------------------------------

    def _prepare_opt(self) -> Path:
        if self._opt is None:
            self._tmp = Path(tempfile.mkdtemp(prefix="lambda-local-"))
            self._opt = self._tmp / "opt"
            self._opt.mkdir()
            for layer in self.layers:
                extract_layer(layer, self._opt)
        return self._opt

    def _base_env(self, opt: Path, api_address: str) -> dict[str, str]:
        version = f"{sys.version_info.major}.{sys.version_info.minor}"
        python_dir = str(Path(self.python).parent)
        env = dict(self.user_env)
        wrapper = env.get(EXEC_WRAPPER_ENV_KEY)
        if wrapper and wrapper.startswith("/opt/"):
            env[EXEC_WRAPPER_ENV_KEY] = str(opt / wrapper[len("/opt/") :])
        env.update(
            {
                "PATH": os.pathsep.join([python_dir, os.environ.get("PATH", "/usr/bin:/bin")]),
                "LANG": "en_US.UTF-8",
                "TZ": ":UTC",
                "LAMBDA_TASK_ROOT": str(self.code_dir),
                "LAMBDA_RUNTIME_DIR": python_dir,
                "_HANDLER": self.handler,
                "AWS_LAMBDA_RUNTIME_API": api_address,
                "AWS_LAMBDA_FUNCTION_NAME": self.function_name,
                "AWS_LAMBDA_FUNCTION_VERSION": self.version,
                "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(self.memory_mb),
                "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{self.function_name}",
                "AWS_LAMBDA_LOG_STREAM_NAME": f"local/[{self.version}]{uuid.uuid4().hex}",
                "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
                "AWS_REGION": self.region,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_EXECUTION_ENV": f"AWS_Lambda_python{version}",
                "PYTHONPATH": os.pathsep.join(
                    [
                        str(self.code_dir),
                        str(opt / "python"),
                        str(opt / "python" / "lib" / f"python{version}" / "site-packages"),
                    ]
                ),
            }
        )
        if self.runtime.startswith("nodejs"):
            env.update(_node_env(self.runtime, opt, self.user_env))
        # Each environment has its own /tmp in Lambda: runtimes honour TMPDIR, and the fault
        # extension's disk mode fills this directory rather than the host's /tmp.
        assert self._tmp is not None
        private_tmp = self._tmp / "tmp"
        private_tmp.mkdir(exist_ok=True)
        for key in ("TMPDIR", DISK_DIR_ENV_KEY):
            env.setdefault(key, str(private_tmp))
        return env

    def _spawn(self, name: str, argv: list[str], env: dict[str, str]) -> _Proc:
        popen = subprocess.Popen(
            argv,
            env=env,
            cwd=str(self.code_dir),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        proc = _Proc(name, popen, time.monotonic())
        assert popen.stdout is not None and popen.stderr is not None
        for stream in (popen.stdout, popen.stderr):
            thread = threading.Thread(
                target=self._pump, args=(name, stream), name=f"lambda-local-log-{name}", daemon=True
            )
            thread.start()
            proc.threads.append(thread)
        watcher = threading.Thread(
            target=self._watch, args=(proc,), name=f"lambda-local-wait-{name}", daemon=True
        )
        watcher.start()
        proc.threads.append(watcher)
        return proc

    def _pump(self, source: str, stream: IO[bytes]) -> None:
        for raw in iter(stream.readline, b""):
            line = LogLine(source, raw.decode("utf-8", "replace").rstrip("\n"), time.time())
            with self._logs_lock:
                self._logs.append(line)
            if self.log_sink is not None:
                self.log_sink(line)
        stream.close()

    def _watch(self, proc: _Proc) -> None:
        code = proc.popen.wait()
        api = self._api
        proc.exit_code = code
        if api is not None:
            with api.cond:
                api.cond.notify_all()

    def _crashed(self) -> str | None:
        """Name of a process of this environment that has exited, if any."""
        for proc in [*self._extensions, *([self._runtime] if self._runtime else [])]:
            if proc.exit_code is not None:
                return proc.name
        return None

    def _wait(self, api: LambdaApi, ready: Callable[[], bool], deadline: float) -> bool:
        with api.cond:
            while not ready():
                if self._crashed() is not None or api.init_error is not None:
                    return False
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                api.cond.wait(min(remaining, 0.5))
        return True

    def _init_failure(self, api: LambdaApi, phase: str) -> InitError:
        if api.init_error is not None:
            error_type, payload = api.init_error
            return InitError(
                error_type, f"the runtime reported an init error: {payload[:500]!r}", payload
            )
        for ext in api.extensions.values():
            for kind, error_type, body in ext.errors:
                return InitError(
                    error_type, f"extension {ext.name} reported {kind} error: {body[:500]!r}", body
                )
        crashed = self._crashed()
        if crashed is not None:
            tail = " | ".join(line.text for line in self.logs(crashed)[-5:])
            return InitError(
                "Extension.Crash" if crashed.startswith("extension:") else "Runtime.ExitError",
                f"{crashed} exited during init ({phase}): {tail}",
            )
        return InitError(
            "Sandbox.Timedout",
            f"init did not complete within {self.init_timeout_s:.1f} s ({phase})",
        )

    def _init(self) -> InitReport:
        opt = self._prepare_opt()
        api = LambdaApi(
            function_name=self.function_name,
            function_version="$LATEST",
            handler=self.handler,
            function_arn=self.function_arn,
        )
        server = ApiServer(api)
        self._api, self._server = api, server
        self._extensions, self._runtime = [], None
        server.start()
        env = self._base_env(opt, server.address)
        began = time.monotonic()
        deadline = began + self.init_timeout_s

        ext_dir = opt / "extensions"
        if ext_dir.is_dir():
            for path in sorted(ext_dir.iterdir()):
                if path.is_file() and os.access(path, os.X_OK):
                    self._extensions.append(self._spawn(f"extension:{path.name}", [str(path)], env))
        count = len(self._extensions)
        if not self._wait(api, lambda: len(api.extensions) >= count, deadline):
            raise self._init_failure(api, "extension registration")

        command = self.runtime_command or [self.python, "-m", "awslambdaric", self.handler]
        wrapper = env.get(EXEC_WRAPPER_ENV_KEY)
        if wrapper:
            if not os.access(wrapper, os.X_OK):
                raise InitError(
                    "Runtime.InvalidWrapper", f"exec wrapper {wrapper} is not executable"
                )
            command = [wrapper, *command]
        with api.cond:
            api.registration_open = False
        self._runtime = self._spawn("runtime", command, env)

        def ready() -> bool:
            return api.runtime_ready_at is not None and all(
                ext.first_next_at is not None for ext in api.extensions.values()
            )

        if not self._wait(api, ready, deadline):
            raise self._init_failure(api, "runtime init")
        runtime_ready = api.runtime_ready_at or time.monotonic()
        extensions_ms: dict[str, float] = {}
        by_name = {ext.name: ext for ext in api.extensions.values()}
        for proc in self._extensions:
            file_name = proc.name.split(":", 1)[1]
            state = by_name.get(file_name)
            if state is not None and state.first_next_at is not None:
                extensions_ms[file_name] = (state.first_next_at - proc.started) * 1000.0
        ends = [runtime_ready, *(e.first_next_at or 0.0 for e in api.extensions.values())]
        return InitReport(
            init_ms=(max(ends) - began) * 1000.0,
            extensions_ms=extensions_ms,
            runtime_ms=(runtime_ready - self._runtime.started) * 1000.0,
        )

    # -- shutdown -------------------------------------------------------------------

    def _teardown(self, reason: str, *, graceful: bool) -> ShutdownReport:
        api, server = self._api, self._server
        runtime, extensions = self._runtime, list(self._extensions)
        budget_end = time.monotonic() + self.shutdown_timeout_s
        runtime_exit: ProcessExit | None = None
        if runtime is not None:
            if graceful and extensions:
                _signal(runtime, signal.SIGTERM)
                _wait_exit(runtime, min(RUNTIME_SIGTERM_GRACE_S, self.shutdown_timeout_s))
            code = runtime.popen.poll()
            if code is None:
                _signal(runtime, signal.SIGKILL)
            runtime_exit = ProcessExit("runtime", code, code == 0)
        if api is not None:
            api.send_shutdown(reason, int((time.time() + self.shutdown_timeout_s) * 1000))
        exits: dict[str, ProcessExit] = {}
        for proc in extensions:
            code = _wait_exit(proc, max(0.0, budget_end - time.monotonic()))
            if code is None:
                _signal(proc, signal.SIGKILL)
            exits[proc.name.split(":", 1)[1]] = ProcessExit(proc.name, code, code == 0)
        for proc in [*extensions, *([runtime] if runtime else [])]:
            _signal(proc, signal.SIGKILL)  # leftovers of the process group
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.popen.wait(timeout=5)
            for thread in proc.threads:
                thread.join(timeout=2)
        if server is not None:
            server.stop()
        self._api = self._server = None
        self._runtime, self._extensions = None, []
        report = ShutdownReport(reason=reason, extensions=exits, runtime=runtime_exit)
        self.shutdown_reports.append(report)
        return report


def _node_env(runtime: str, opt: Path, user_env: Mapping[str, str]) -> dict[str, str]:
    """What Lambda's Node.js runtimes set: AWS_EXECUTION_ENV, and NODE_PATH over the layers'
    ``nodejs/node<major>/node_modules`` and ``nodejs/node_modules`` unless the function sets
    its own ("Layer paths for each Lambda runtime",
    https://docs.aws.amazon.com/lambda/latest/dg/packaging-layers.html#packaging-layers-paths;
    "Defined runtime environment variables",
    https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html)."""
    env = {"AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}"}
    if "NODE_PATH" not in user_env:
        major = runtime.removeprefix("nodejs").split(".")[0]
        env["NODE_PATH"] = os.pathsep.join(
            [
                str(opt / "nodejs" / f"node{major}" / "node_modules"),
                str(opt / "nodejs" / "node_modules"),
            ]
        )
    return env


def _signal(proc: _Proc, sig: signal.Signals) -> None:
    """Signal the process group we created for ``proc`` (only our own processes).

    Only while the group leader has not been reaped, so the group id cannot have been reused.
    """
    if proc.popen.returncode is not None:
        return
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.popen.pid, sig)


def _wait_exit(proc: _Proc, timeout: float) -> int | None:
    try:
        return proc.popen.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return None
